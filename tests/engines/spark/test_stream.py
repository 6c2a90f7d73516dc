"""Spark Structured Streaming: restart from a checkpoint, a watched folder, a replay at a speed,
and a run with a warm factor cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

import streambt as sb
from tests.parity.cases import CASES
from tests.parity.test_parity import assert_tables_equal

EVENTS = ("orders", "fills", "trades", "equity")
ALL_TABLES = ("factors", "orders", "fills", "trades", "equity", "positions", "metrics")


def _case(frame: pd.DataFrame, case: str = "ema_cross_long_short") -> sb.Cerebro:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    CASES[case](cb, frame)
    return cb


def test_a_query_stopped_mid_stream_goes_on_from_its_checkpoint(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    cb = _case(two_symbols)
    want = cb.run()
    opts = {"backend": "spark", "mode": "stream", "micro_batch": 200, "sink": tmp_path}
    first = cb.run(max_batches=2, **opts)  # stopped after two of six micro-batches
    assert 0 < first.factors.num_rows < want.factors.num_rows
    written = sorted(p.name for p in (tmp_path / "tables" / "table=equity").iterdir())
    assert written[:2] == ["batch=0", "batch=1"]
    got = cb.run(**opts)  # the same checkpoint: batches 2.. only, state restored
    for name in ("factors", *EVENTS, "metrics"):
        assert_tables_equal(getattr(got, name), getattr(want, name), f"restart/{name}")
    # Nothing written twice: every order id once per (strategy, symbol) in the sink itself.
    sink = pq.read_table(tmp_path / "tables" / "table=orders")
    ids = sink.filter(pc.is_valid(sink.column("orders__order_id")))
    cols = ("orders__strategy", "orders__symbol", "orders__order_id")
    keys = list(zip(*(ids.column(c).to_pylist() for c in cols), strict=True))
    assert len(keys) == len(set(keys))


def test_a_watched_folder_of_csv_files(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    by_time = two_symbols.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    step = -(-len(by_time) // 4)
    for i in range(4):  # four time slices, one file each
        by_time.iloc[i * step : (i + 1) * step].to_csv(folder / f"bars-{i:03d}.csv", index=False)
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    refs = CASES["sma_cross_long"](cb, two_symbols)
    want = cb.run()
    # The same graph on a CSV feed over the folder: stream mode watches the folder.
    cb3 = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb3.add_data(sb.feeds.from_csv(folder))
    fast = cb3.add_indicator(sb.ind.sma, data["close"], window=10)
    slow = cb3.add_indicator(sb.ind.sma, data["close"], window=30)
    pulse = cb3.add_indicator(sb.sig.cross, fast, slow)
    cb3.add_strat(pulse, sb.alloc.all_in(long_only=True), name="sma_cross")
    got = cb3.run(backend="spark", mode="stream")
    for name in EVENTS:
        assert_tables_equal(getattr(got, name), getattr(want, name), f"folder/{name}")
    for ref, mine in ((refs["fast"], fast), (refs["slow"], slow)):
        for symbol in ("AAA", "BBB"):
            np.testing.assert_allclose(
                got.values(mine, symbol), want.values(ref, symbol), rtol=1e-9
            )


def test_a_replay_at_a_chosen_speed(spark: object, two_symbols: pd.DataFrame) -> None:
    cb = _case(two_symbols, "two_strategies_fixed")
    want = cb.run()
    got = cb.run(backend="spark", mode="stream", micro_batch=300, speed=4.0)
    for name in ("factors", *EVENTS, "metrics"):
        assert_tables_equal(getattr(got, name), getattr(want, name), f"speed/{name}")


def test_stream_mode_with_a_warm_factor_cache_computes_the_indicators(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    frame = two_symbols[two_symbols["symbol"] == "BBB"].iloc[:200]
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(frame))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    slow = cb.add_indicator(sb.ind.ema, data["close"], window=20)
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(), name="s")
    want = cb.run()
    cache = tmp_path / "cache"
    cb.run(cache=cache)  # DuckDB fills the cache
    files = sorted(p.name for p in cache.rglob("*.parquet"))
    assert len(files) == 3
    got = cb.run(backend="spark", mode="stream", micro_batch=200, cache=cache)
    assert got.plan is not None and not got.plan.cached  # computed in the stream's operator
    assert got.plan.placement(fast.node.id) == "scan"
    for name in ALL_TABLES:
        assert_tables_equal(getattr(got, name), getattr(want, name), f"stream+cache/{name}")
    assert sorted(p.name for p in cache.rglob("*.parquet")) == files
    assert not list(cache.rglob("*.bad"))
