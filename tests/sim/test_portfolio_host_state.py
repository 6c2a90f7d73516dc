"""A portfolio host kept by an engine between micro-batches (Spark's stateful operator).

After each micro-batch the engine takes what was written (``drain``), notes
what the end of the data would add (``pending_tables``) and stores the host
(``dumps``); the next micro-batch restores it into a fresh host (``loads``).
Whole, row by row and in random chunks, that gives the tables of one feed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import streambt as sb
from streambt.backends.kernel_host import as_float
from streambt.backends.portfolio_host import PortfolioHost
from streambt.ops.base import OpKind
from tests.parity.test_parity import assert_tables_equal

EVENTS = ("orders", "order_events", "fills", "trades")


class Counting(sb.Strategy):
    """Trades on every fifth bar it sees: its own counter decides, so it must survive."""

    def on_start(self, ctx):
        self.seen = 0

    def on_bar(self, ctx, bar):
        self.seen += 1
        if self.seen % 5:
            return
        if ctx.position() == 0 and not ctx.open_orders():
            ctx.buy(size=4, stop_loss=0.02, take_profit=0.03)


@pytest.fixture(scope="module")
def run() -> tuple[sb.Cerebro, pa.Table]:
    a = sb.feeds.synthetic_bars(240, seed=7).assign(symbol="AAA")
    b = sb.feeds.synthetic_bars(200, seed=8, start="2020-01-20", price=30.0).assign(symbol="BBB")
    cb = sb.Cerebro(cash=20_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(pd.concat([a, b], ignore_index=True)))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=15)
    cb.add_strategy(Counting, data, name="counting")
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, slow), sb.sizers.percent_equity(0.4),
                 name="cross", trailing_stop=0.03)  # fmt: skip
    return cb, cb.run().factors


def _host(cb: sb.Cerebro) -> PortfolioHost:
    with cb._concrete():
        node = next(iter(cb.graph.of_kind(OpKind.SIMULATION)))
        _, universes = cb.load_bars()
        return PortfolioHost(node, cb.graph, universes)


def _feed(host: PortfolioHost, chunk: pa.Table) -> None:
    host.feed(chunk, lambda name: as_float(chunk.column(name)))


def _chunks(factors: pa.Table, cuts: list[int]) -> list[pa.Table]:
    """``factors`` in (ts, symbol) order, cut at ``cuts``, each piece by (symbol, ts)."""
    by_time = factors.sort_by([("ts", "ascending"), ("symbol", "ascending")])
    bounds = [0, *cuts, by_time.num_rows]
    return [
        by_time.slice(a, b - a).sort_by([("symbol", "ascending"), ("ts", "ascending")])
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]


def _whole(cb: sb.Cerebro, factors: pa.Table) -> dict[str, pa.Table]:
    host = _host(cb)
    _feed(host, factors)
    host.finish()
    return host.drain()


def _kept_between_batches(cb: sb.Cerebro, chunks: list[pa.Table]) -> dict[str, pa.Table]:
    blob: bytes | None = None
    written: dict[str, list[pa.Table]] = {}
    pending: dict[str, pa.Table] = {}
    for chunk in chunks:
        host = _host(cb)  # a fresh process's host, restored from the stored bytes
        if blob is not None:
            host.loads(blob)
        _feed(host, chunk)
        for name, table in host.drain().items():
            written.setdefault(name, []).append(table)
        pending = host.pending_tables()
        blob = host.dumps()
    for name, table in pending.items():
        written[name].append(table)
    return {name: pa.concat_tables(parts) for name, parts in written.items()}


@pytest.mark.parametrize("how", ["whole", "row by row", "random chunks"])
def test_drain_pending_and_restore_give_the_one_feed_tables(
    run: tuple[sb.Cerebro, pa.Table], how: str
) -> None:
    cb, factors = run
    n = factors.num_rows
    cuts = {
        "whole": [],
        "row by row": list(range(1, n)),
        "random chunks": sorted(np.random.default_rng(5).choice(np.arange(1, n), 25, False)),
    }[how]
    want = _whole(cb, factors)
    got = _kept_between_batches(cb, _chunks(factors, [int(c) for c in cuts]))
    order = [("strategy", "ascending"), ("symbol", "ascending"), ("ts", "ascending")]
    for name in ("equity", "positions"):
        assert_tables_equal(got[name].sort_by(order), want[name].sort_by(order), f"{how}/{name}")
    for name in EVENTS:
        assert_tables_equal(got[name], want[name], f"{how}/{name}")
    assert want["trades"].num_rows > 5
    assert "counting" in want["trades"].column("strategy").to_pylist()


def test_pending_tables_leave_the_host_as_it_was(run: tuple[sb.Cerebro, pa.Table]) -> None:
    cb, factors = run
    host = _host(cb)
    first, _rest = _chunks(factors, [factors.num_rows // 2])
    _feed(host, first)
    before = host.dumps()
    host.pending_tables()
    assert host.dumps() == before
