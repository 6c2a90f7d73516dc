"""Event-style strategies over the same broker kernel (streambt/sim/strategy.py).

The key check: an event strategy that implements the pulse rule (SMA cross,
long/short, stop-loss and take-profit) produces exactly the pulse kernel's rows,
orders, status history, fills and trades on real data (GOOG), whole and chunked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from streambt.errors import InvalidParameterError, StreambtError
from streambt.sim import sizers
from streambt.sim.portfolio import PortfolioKernel
from streambt.sim.strategy import Context, EventStrategyRunner, Strategy

from . import assert_same_events, bars, run, scripted, table

SL, TP = 0.03, 0.06


def goog_columns() -> dict[str, np.ndarray]:
    from backtesting.test import GOOG

    close = GOOG["Close"].to_numpy(np.float64)
    fast = pd.Series(close).rolling(10).mean().to_numpy()
    slow = pd.Series(close).rolling(30).mean().to_numpy()
    up = np.r_[False, (fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])]
    down = np.r_[False, (fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])]
    signal = np.where(up, 1.0, np.where(down, -1.0, np.nan))
    n = len(close)
    return {
        "ts": GOOG.index.values.astype("datetime64[us]").astype(np.int64),
        "symbol": np.zeros(n, np.int64),
        "open": GOOG["Open"].to_numpy(np.float64),
        "high": GOOG["High"].to_numpy(np.float64),
        "low": GOOG["Low"].to_numpy(np.float64),
        "close": close,
        "volume": GOOG["Volume"].to_numpy(np.float64),
        "signal_0": signal,
        "fast": fast,
        "slow": slow,
    }


class SmaCross(Strategy):
    """The pulse rule written as callbacks: the strict cross of two SMA columns."""

    def __init__(self, long_only: bool) -> None:
        self.long_only = long_only
        self.prev: tuple[float, float] | None = None

    def on_bar(self, ctx: Context, bar: Any) -> None:
        f, s = bar.fast, bar.slow
        prev, self.prev = self.prev, (f, s)
        if prev is None:
            return
        up = prev[0] < prev[1] and f > s
        down = prev[0] > prev[1] and f < s
        pos = ctx.position()
        if up:
            if pos < 0:
                ctx.close()
            if pos <= 0:
                ctx.buy(stop_loss=SL, take_profit=TP)
        elif down:
            if pos > 0:
                ctx.close()
            if pos >= 0 and not self.long_only:
                ctx.sell(stop_loss=SL, take_profit=TP)


def make(style: str, long_only: bool) -> PortfolioKernel:
    spec = {
        "name": "sma",
        "style": style,
        "sizer": sizers.all_in(),
        "long_only": long_only,
        "stop_loss": SL,
        "take_profit": TP,
    }
    return PortfolioKernel(
        symbols=["GOOG"],
        strategies=[spec],
        portfolio={"cash": 10_000.0},
        broker={"fees": {"model": "percent", "rate": 0.001}},
    )


@pytest.mark.parametrize("long_only", [True, False])
def test_event_sma_cross_equals_the_pulse_one_on_goog(long_only: bool) -> None:
    cols = goog_columns()
    pulse_rows, pulse_ev, pulse_state = run(make("pulse", long_only), cols)
    runner = EventStrategyRunner(make("event", long_only), {"sma": SmaCross(long_only)})
    event_cols = {k: v for k, v in cols.items() if k != "signal_0"}
    n = len(cols["ts"])
    for cuts in ((), (1, 500, 501, 1700)):
        rows, ev, state = run(runner, event_cols, cuts)
        runner = EventStrategyRunner(make("event", long_only), {"sma": SmaCross(long_only)})
        for name, values in pulse_rows.items():
            np.testing.assert_array_equal(values, rows[name], err_msg=name)
        assert_same_events(pulse_ev, ev)
        for key, value in pulse_state.items():
            np.testing.assert_array_equal(value, state[key], err_msg=key)
    trades = pulse_ev["trades"]
    assert len(trades["pnl"]) > 25 and n == 2148
    reasons = set(trades["exit_reason"].tolist())
    # stop-loss and take-profit exits occur; with shorts, reversals close at a signal too
    assert {2, 3} | (set() if long_only else {1}) <= reasons


def test_the_runner_without_event_strategies_is_the_kernel() -> None:
    cols = goog_columns()
    kernel = make("pulse", False)
    a = run(kernel, cols)
    b = run(EventStrategyRunner(kernel, {}), cols, (100, 1000))
    for name in kernel.row_columns():
        np.testing.assert_array_equal(a[0][name], b[0][name])
    assert_same_events(a[1], b[1])


def test_callbacks_see_orders_fills_and_trades_in_order() -> None:
    # buy 10 with a 5% stop and 10% target at bar 1; entry @ 100 at bar 2; the target 110
    # fills at bar 3 and cancels the stop
    plan = {1: [lambda c: c.buy(size=10, stop_loss=0.05, take_profit=0.10)]}
    runner, script = scripted(plan)
    b = bars([(1, 100, 100, 100, 100), (2, 100, 104, 96, 103), (3, 103, 111, 102, 108)])
    run(runner, b)
    assert script.log == [
        ("order", (1, "NEW", "NONE")),
        ("order", (1, "ACCEPTED", "NONE")),
        # bar 2: the entry fills; its legs are created
        ("order", (1, "FILLED", "NONE")),
        ("order", (2, "NEW", "NONE")),
        ("order", (2, "ACCEPTED", "NONE")),
        ("order", (3, "NEW", "NONE")),
        ("order", (3, "ACCEPTED", "NONE")),
        ("fill", (1, 10.0, 100.0)),
        # bar 3: the target fills, the stop is cancelled, the trade closes
        ("order", (3, "FILLED", "NONE")),
        ("order", (2, "CANCELLED", "OCO")),
        ("fill", (3, 10.0, 110.0)),
        ("trade", (1, 100.0)),
    ]


class Probe(Strategy):
    """Checks what the context shows and uses every intent once."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.started = self.stopped = False

    def on_start(self, ctx: Context) -> None:
        self.started = True
        with pytest.raises(StreambtError, match="only from a bar's callbacks"):
            ctx.buy(size=1)

    def on_bar(self, ctx: Context, bar: Any) -> None:
        if bar.ts == 1:
            assert bar.rsi == 42.0 and bar["rsi"] == 42.0
            self.limit = ctx.buy(size=5, type="limit", limit=90)
            ctx.target_percent(0.5)  # 0.5 x 10000 / 100 = 50 units
        elif bar.ts == 2:
            assert ctx.position() == 50 and ctx.positions() == {"X": 50.0}
            assert [o.order_id for o in ctx.open_orders()] == [self.limit]
            assert ctx.open_orders()[0].type == "LIMIT"
            assert ctx.cancel(self.limit) and not ctx.cancel(self.limit)
            assert ctx.price() == 100.0 and ctx.cash == 5000.0 and ctx.equity == 10_000.0
            ctx.target_percent(-0.2)  # to -20 units: sell 70
        elif bar.ts == 3:
            assert ctx.position() == -20
            self.seen.append(ctx.close())

    def on_stop(self, ctx: Context) -> None:
        self.stopped = True


def test_context_reads_and_intents() -> None:
    kernel = PortfolioKernel(
        symbols=["X"],
        strategies=[{"name": "p", "style": "event", "long_only": False}],
        portfolio={"cash": 10_000.0},
    )
    probe = Probe()
    runner = EventStrategyRunner(kernel, {"p": probe})
    flat = [(t, 100, 100, 100, 100) for t in (1, 2, 3, 4)]
    rows, ev, _ = run(runner, bars(flat, rsi=[42.0, 42.0, 42.0, 42.0]))
    assert probe.started and probe.stopped
    assert sorted(
        table(ev, "orders", ("order_id", "side", "size", "filled", "status", "reason"))
    ) == [
        (1, 1, 5.0, 0.0, 4, 11),  # USER_CANCEL
        (2, 1, 50.0, 50.0, 3, 0),
        (3, -1, 70.0, 70.0, 3, 0),
        (4, 1, 20.0, 20.0, 3, 0),
    ]
    assert rows["position_0"].tolist() == [0, 50, -20, 0]


def test_intent_validation() -> None:
    def bad(**kw: Any) -> Any:
        return lambda c: c.buy(**kw)

    for kw, message in [
        ({"type": "limt", "limit": 1.0}, 'Did you mean "limit"?'),
        ({"type": "limit"}, "a limit order needs a limit price > 0"),
        ({"type": "market", "stop": 3.0}, "a market order takes no stop"),
        ({"size": -1}, "size must be > 0 or None"),
        ({"stop_loss": 2.0}, "stop_loss=2.0): a fraction in (0, 1)"),
        ({"tif": "IOC"}, "tif must be 'GTC' or 'DAY'"),
    ]:
        runner, _ = scripted({1: [bad(**kw)]})
        with pytest.raises(InvalidParameterError) as err:
            run(runner, bars([(1, 1, 1, 1, 1)]))
        assert message in str(err.value)


def test_runner_needs_one_object_per_event_strategy() -> None:
    kernel = PortfolioKernel(
        symbols=["X"], strategies=[{"name": "e", "style": "event"}], portfolio={"cash": 1.0}
    )
    with pytest.raises(InvalidParameterError, match=r"for each event-style strategy \['e'\]"):
        EventStrategyRunner(kernel, {})


def test_pulse_and_event_strategies_in_one_portfolio_trade_alike() -> None:
    # the same rule twice with half the cash each: one pulse, one event-style strategy. Their
    # orders interleave (ids differ) but their trades, cash and equity are the same.
    def spec(name: str, style: str) -> dict[str, Any]:
        return {"name": name, "style": style, "sizer": sizers.all_in(), "long_only": False,
                "stop_loss": SL, "take_profit": TP}  # fmt: skip

    kernel = PortfolioKernel(
        symbols=["GOOG"],
        strategies=[spec("pulse", "pulse"), spec("event", "event")],
        portfolio={"cash": 20_000.0},
        broker={"fees": {"model": "percent", "rate": 0.001}},
    )
    runner = EventStrategyRunner(kernel, {"event": SmaCross(long_only=False)})
    rows, ev, _ = run(runner, goog_columns())
    t = ev["trades"]
    mine, theirs = t["strategy"] == 0, t["strategy"] == 1
    assert mine.sum() == theirs.sum() > 25
    for col in ("side", "size", "entry_ts", "entry_price", "exit_ts", "exit_price", "pnl",
                "commission", "exit_reason"):  # fmt: skip
        np.testing.assert_array_equal(t[col][mine], t[col][theirs], err_msg=col)
    for name in ("position", "cash", "equity"):
        np.testing.assert_array_equal(rows[f"{name}_0"], rows[f"{name}_1"], err_msg=name)
