"""Builders shared by the broker/portfolio kernel tests (tests/sim/).

Bars are written as literal tuples ``(ts, open, high, low, close[, volume])``;
``Script`` is an event-style strategy that places given intents at given bars,
which lets a hand-checked table exercise one order type at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from streambt.kernels.base import dumps_state, loads_state
from streambt.sim.events import PORTFOLIO_EVENT_COLUMNS, concat_events
from streambt.sim.portfolio import PortfolioKernel
from streambt.sim.strategy import Context, EventStrategyRunner, Strategy

NAN = np.nan
DAY_US = 86_400_000_000


def bars(
    rows: Sequence[Sequence[float]], symbol: int = 0, **extra: Sequence[float]
) -> dict[str, np.ndarray]:
    """Columns from ``(ts, open, high, low, close[, volume])`` rows of one symbol."""
    a = np.array([list(r) + [1e9] * (6 - len(r)) for r in rows], dtype=np.float64).reshape(-1, 6)
    out = {
        "ts": a[:, 0].astype(np.int64),
        "symbol": np.full(len(a), symbol, np.int64),
        "open": a[:, 1],
        "high": a[:, 2],
        "low": a[:, 3],
        "close": a[:, 4],
        "volume": a[:, 5],
    }
    for name, values in extra.items():
        out[name] = np.asarray(values, dtype=np.float64)
    return out


def merge(*parts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows of several symbols in (ts, symbol) order; missing extra columns are NaN."""
    names = sorted({n for p in parts for n in p})
    cols = {}
    for name in names:
        chunks = []
        for p in parts:
            n = len(p["ts"])
            chunks.append(p[name] if name in p else np.full(n, np.nan))
        cols[name] = np.concatenate(chunks)
    order = np.lexsort((cols["symbol"], cols["ts"]))
    return {k: v[order] for k, v in cols.items()}


def kernel(
    strategies: Sequence[Mapping[str, Any]],
    cash: float = 10_000.0,
    symbols: Sequence[str] = ("X",),
    **kw: Any,
) -> PortfolioKernel:
    portfolio = {"cash": cash, **kw.pop("portfolio", {})}
    return PortfolioKernel(
        symbols=list(symbols), strategies=list(strategies), portfolio=portfolio, **kw
    )


class Script(Strategy):
    """Places intents at given bars: ``{ts or (ts, symbol): [callable(ctx), ...]}``.

    A plain ``ts`` key acts on the bar of every symbol at that ts.
    """

    def __init__(self, plan: Mapping[Any, Sequence[Callable[[Context], Any]]]) -> None:
        self.plan = plan
        self.log: list[tuple[str, Any]] = []

    def on_bar(self, ctx: Context, bar: Any) -> None:
        for act in (*self.plan.get(int(bar.ts), ()), *self.plan.get((int(bar.ts), bar.symbol), ())):
            act(ctx)

    def on_order(self, ctx: Context, order: Any) -> None:
        self.log.append(("order", (order.order_id, order.status, order.reason)))

    def on_fill(self, ctx: Context, fill: Any) -> None:
        self.log.append(("fill", (fill.order_id, fill.size, round(fill.price, 9))))

    def on_trade(self, ctx: Context, trade: Any) -> None:
        self.log.append(("trade", (trade.trade_id, round(trade.pnl, 9))))


def scripted(
    plan: Mapping[Any, Sequence[Callable[[Context], Any]]],
    cash: float = 10_000.0,
    symbols: Sequence[str] = ("X",),
    **kw: Any,
) -> tuple[EventStrategyRunner, Script]:
    """A runner with one event-style strategy ``"script"`` following ``plan``."""
    spec = {"name": "script", "style": "event", **kw.pop("strategy", {})}
    k = kernel([spec], cash=cash, symbols=symbols, **kw)
    script = Script(plan)
    return EventStrategyRunner(k, {"script": script}), script


def run(
    host: PortfolioKernel | EventStrategyRunner,
    cols: Mapping[str, np.ndarray],
    cuts: Sequence[int] = (),
    roundtrip: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, np.ndarray]]:
    """Feed ``cols`` in chunks split at ``cuts``; (rows, step events + finish events, final state)."""
    n = len(cols["ts"])
    state = host.init()
    names = (host.kernel if isinstance(host, EventStrategyRunner) else host).row_columns()
    rows, events = [], []
    for a, b in itertools.pairwise([0, *cuts, n]):
        if roundtrip:
            state = loads_state(dumps_state(state))
        state, r, e = host.step_events(state, {k: v[a:b] for k, v in cols.items()})
        rows.append(r)
        events.append(e)
    events.append(host.finish(state))
    out = {name: np.concatenate([r[name] for r in rows]) for name in names}
    return out, concat_events(events, PORTFOLIO_EVENT_COLUMNS), state


def table(events: Mapping[str, Any], name: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of one event table restricted to ``columns``, as tuples (floats to 1e-9, NaN -> None)."""
    t = events[name]
    n = len(t[columns[0]])
    out = []
    for i in range(n):
        row = []
        for c in columns:
            v = t[c][i].item()
            if isinstance(v, float):
                v = None if np.isnan(v) else round(v, 9)
            row.append(v)
        out.append(tuple(row))
    return out


def assert_same_events(a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    for name, cols in PORTFOLIO_EVENT_COLUMNS.items():
        for col, dtype in cols.items():
            assert a[name][col].dtype == dtype == b[name][col].dtype, (name, col)
            np.testing.assert_array_equal(a[name][col], b[name][col], err_msg=f"{name}.{col}")
