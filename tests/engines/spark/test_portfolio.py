"""The portfolio broker on Spark: keyed by portfolio in batch and in Structured Streaming.

The parity suite runs the portfolio cases (brackets, an event-style strategy,
a sweep of portfolios) on spark-batch and spark-stream; these tests cover
what it does not: a stream stopped and restarted with an event-style
strategy's own state in the checkpoint, a watched folder, strategy classes
the executors cannot import, ``collect=``, and bad input.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import streambt as sb
from streambt.backends.spark.strategies import pack_classes
from streambt.errors import DataError, StreambtError
from tests.parity.test_parity import assert_tables_equal

TABLES = ("factors", "orders", "order_events", "fills", "trades", "equity", "positions", "metrics")


class EveryThird(sb.Strategy):
    """Counts the bars it has seen per symbol (its own state) and trades on every third."""

    def on_start(self, ctx):
        self.seen = {}

    def on_bar(self, ctx, bar):
        n = self.seen[ctx.symbol] = self.seen.get(ctx.symbol, 0) + 1
        if n % 3:
            return
        if ctx.position() == 0 and not ctx.open_orders():
            ctx.buy(size=5, stop_loss=0.03)
        elif ctx.position() > 0 and bar.close > bar.sma:
            ctx.close()


def _counting(feed: sb.feeds.Feed) -> sb.Cerebro:
    """The event-style counter beside a pulse strategy with a take-profit, on ``feed``."""
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(feed)
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    cb.add_strategy(EveryThird, data, name="third", columns={"sma": sma})
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, sma, cb.add_indicator(sb.ind.ema, data["close"], window=30)),
        sb.sizers.percent_equity(0.3),
        name="cross",
        take_profit=0.05,
    )
    return cb


def test_a_portfolio_stream_stopped_mid_stream_goes_on_from_its_checkpoint(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    cb = _counting(sb.feeds.from_pandas(two_symbols))
    want = cb.run()
    opts = {"backend": "spark", "mode": "stream", "micro_batch": 150, "sink": tmp_path}
    first = cb.run(max_batches=3, **opts)  # stopped after three of eight micro-batches
    assert 0 < first.factors.num_rows < want.factors.num_rows
    got = cb.run(**opts)  # restored: the kernel's book and the strategy's counters
    for name in TABLES:
        assert_tables_equal(getattr(got, name), getattr(want, name), f"restart/{name}")
    # Nothing written twice: each order id once in the sink's orders.
    sink = pq.read_table(tmp_path / "tables" / "table=orders")
    ids = sink.filter(pc.is_valid(sink.column("orders__order_id"))).column("orders__order_id")
    assert len(ids) == len(pc.unique(ids)) == want.orders.num_rows - _pending(want)


def _pending(res: sb.Result) -> int:
    """Orders still working at the end: written by the end of the data, not by a batch."""
    status = res.orders.column("status").to_pylist()
    return sum(s in ("ACCEPTED", "PARTIALLY_FILLED") for s in status)


def test_a_portfolio_over_a_watched_folder(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    by_time = two_symbols.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    # BBB starts later: the first slice holds bars of both, as a live feed's first file would.
    first = by_time[by_time["ts"] < pd.Timestamp("2020-03-10", tz="UTC")]
    rest = by_time.iloc[len(first) :]
    first.to_csv(folder / "bars-000.csv", index=False)
    for i, part in enumerate((rest.iloc[:300], rest.iloc[300:])):
        part.to_csv(folder / f"bars-{i + 1:03d}.csv", index=False)
    want = _counting(sb.feeds.from_pandas(two_symbols)).run()
    got = _counting(sb.feeds.from_csv(folder)).run(backend="spark", mode="stream")
    for name in ("orders", "order_events", "fills", "trades", "equity", "metrics"):
        assert_tables_equal(getattr(got, name), getattr(want, name), f"folder/{name}")


def _aaa_folder(two_symbols: pd.DataFrame, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A watched folder whose first file holds AAA's first 100 bars; the folder and AAA's bars."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    aaa = two_symbols[two_symbols["symbol"] == "AAA"]
    aaa.iloc[:100].to_csv(folder / "bars-000.csv", index=False)
    return folder, aaa


def _stop_loss_over(folder: Path) -> sb.Cerebro:
    """A close/SMA cross with a stop-loss (the portfolio broker) over a watched folder."""
    cb = sb.Cerebro(cash=10_000)
    data = cb.add_data(sb.feeds.from_csv(folder))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    cb.add_strat(cb.add_indicator(sb.sig.cross, data["close"], sma), sb.sizers.all_in(),
                 stop_loss=0.02)  # fmt: skip
    return cb


def test_a_symbol_the_portfolio_was_not_built_for_is_an_error(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    folder, aaa = _aaa_folder(two_symbols, tmp_path)
    cb = _stop_loss_over(folder)
    opts = {"backend": "spark", "mode": "stream", "sink": tmp_path / "sink"}
    first = cb.run(**opts)  # the portfolio is built for AAA, the one symbol there
    # A later file brings BBB too; the restart keeps the portfolio of the checkpoint.
    bbb = two_symbols[two_symbols["symbol"] == "BBB"]
    after = bbb[bbb["ts"] > aaa["ts"].iloc[99]].iloc[:20]
    pd.concat([aaa.iloc[100:150], after]).to_csv(folder / "bars-001.csv", index=False)
    with pytest.raises(DataError, match=r"bars of \['BBB'\] arrived.*holds \['AAA'\]"):
        cb.run(**opts)
    assert first.equity.num_rows == 100 + 100  # the strategy's and the portfolio's curves


def test_a_bar_out_of_time_order_in_a_portfolio_stream_is_an_error(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    folder, aaa = _aaa_folder(two_symbols, tmp_path)
    aaa.iloc[90:120].to_csv(folder / "bars-001.csv", index=False)  # repeats ten bars
    cb = _stop_loss_over(folder)
    with pytest.raises(DataError, match=r"a bar of 'AAA' at .* arrived after its bar at"):
        cb.run(backend="spark", mode="stream", sink=tmp_path / "sink")


STRATEGY_MODULE = """
import streambt as sb


class Dips(sb.Strategy):
    def on_bar(self, ctx, bar):
        if ctx.position() == 0 and not ctx.open_orders() and bar.close < 0.97 * bar.sma:
            ctx.buy(size=3, take_profit=0.03)
"""


def test_strategy_classes_travel_by_value_to_the_executors(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module only this process can import (the executors' workers do not have the folder).
    (tmp_path / "only_here_strategies.py").write_text(textwrap.dedent(STRATEGY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here_strategies  # type: ignore[import-not-found]

    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(two_symbols))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    cb.add_strategy(only_here_strategies.Dips, data, name="dips", columns={"sma": sma})
    want = cb.run()
    assert want.trades.num_rows > 0
    got = cb.run(backend="spark")
    for name in TABLES:
        assert_tables_equal(getattr(got, name), getattr(want, name), f"by value/{name}")
    # The shipped bytes load in a process that cannot import the module.
    blob = pack_classes(cb.graph)
    assert blob is not None
    load = "import sys; from pyspark import cloudpickle; print(sorted(cloudpickle.loads(sys.stdin.buffer.read())))"
    done = subprocess.run([sys.executable, "-c", load], input=blob, capture_output=True,
                          cwd=Path(__file__).resolve().parents[3], check=False, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"Dips" in done.stdout


def test_collect_brings_back_the_order_history_with_the_orders(
    spark: object, two_symbols: pd.DataFrame
) -> None:
    cb = _counting(sb.feeds.from_pandas(two_symbols))
    want = cb.run()
    got = cb.run(backend="spark", collect=("trades", "metrics"))
    assert_tables_equal(got.trades, want.trades, "collect/trades")
    assert_tables_equal(got.metrics, want.metrics, "collect/metrics")  # per starting cash
    with pytest.raises(StreambtError, match=r"did not bring back the orders table.*collect="):
        got.order_events  # noqa: B018
    with_orders = cb.run(backend="spark", collect=("orders",))
    assert_tables_equal(with_orders.orders, want.orders, "collect/orders")
    assert_tables_equal(with_orders.order_events, want.order_events, "collect/order_events")
