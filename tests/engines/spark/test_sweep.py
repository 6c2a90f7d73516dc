"""Parameter sweeps on Spark: cells keyed by (block of cells, symbol), the same tables and
ranking as DuckDB, shared indicators computed once, and results left in Spark on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pyspark.sql import functions as F

import streambt as sb
from streambt.backends import get_backend
from streambt.backends.spark import SparkBackend
from streambt.backends.spark.batch import SparkBatch
from streambt.backends.spark.keying import block_count, split
from streambt.backends.spark.sources import load_bars
from streambt.errors import BackendError, StreambtError
from tests.parity.test_parity import assert_tables_equal

TABLES = ("factors", "orders", "fills", "trades", "equity", "positions", "metrics")
GRID = {"fast": [5, 10, 15], "slow": [20, 40]}


def _sweep(frame: pd.DataFrame) -> sb.Cerebro:
    """fast x slow cells; the SMAs and EMAs are shared by cells, each cross is a cell's own."""
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(frame))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("fast"))
    slow = cb.add_indicator(sb.ind.ema, data["close"], window=sb.param("slow"))
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(long_only=False), name="x"
    )
    cb.sweep(GRID)
    return cb


def _same(got: sb.Result, want: sb.Result, what: str) -> None:
    for name in TABLES:
        assert_tables_equal(getattr(got, name), getattr(want, name), f"{what}/{name}")
    assert_tables_equal(got.ranking(), want.ranking(), f"{what}/ranking")
    assert got.cells == want.cells


def test_a_sweep_keyed_by_cell_equals_duckdb_table_by_table(
    spark: object, two_symbols: pd.DataFrame
) -> None:
    """Every node a kernel; one group per (cell, symbol): the SMAs and EMAs run once per symbol
    first, each cell's cross in its own group, and the factors are put together from both.
    (The default keying and placement run the parity suite's sweep case.)"""
    cb = _sweep(two_symbols)
    want = cb.run()
    assert want.trades.num_rows > 0 and len(want.cells) == 6
    _same(cb.run(backend="spark", placement="kernels", sweep_key="cell"), want, "cell")


def test_shared_indicators_are_placed_once_and_each_cell_keeps_its_own(
    two_symbols: pd.DataFrame,
) -> None:
    cb = _sweep(two_symbols)
    with cb._concrete():
        plan = cb.plan("spark", placement="kernels")
        graph = cb.graph
    (group,) = [s for s in plan.stages if s.kind == "scan"]
    sims = next(s for s in plan.stages if s.kind == "simulate").nodes
    nodes = [*group.nodes, *sims]
    readers = {
        n.id: {s.id for s in sims if n.id in {a.id for a in graph.ancestors(s.id)}}
        for n in group.nodes
    }
    for blocks in (2, 3, 6):
        stage = split(graph, nodes, blocks)
        placed = [n.id for n in stage.shared] + [n.id for b in stage.blocks for n in b.nodes]
        assert sorted(placed) == sorted(n.id for n in nodes)  # every node exactly once
        assert len(stage.blocks) == blocks
        block_of = {s.id: i for i, b in enumerate(stage.blocks) for s in b.strategies}
        for node in stage.shared:  # read by the strategies of several blocks
            assert len({block_of[s] for s in readers[node.id]}) > 1
        for i, block in enumerate(stage.blocks):
            assert len(block.strategies) == 6 // blocks
            for node in block.nodes:  # read by this block's strategies only
                assert {block_of[s] for s in readers.get(node.id, set())} <= {i}
            crosses = [n for n in block.nodes if n.op.short == "cross"]
            assert len(crosses) == len(block.strategies)  # each cell's own signal
            assert set(block.inputs) >= {"open", "high", "low", "close"}
            assert {c.column("value") for c in crosses} <= set(block.outputs)
        shared = {f"{n.op.short}_{n.param_dict['window']}" for n in stage.shared}
        if blocks == 3:  # the cells of one fast window together: each block owns its SMA
            assert shared == {"ema_20", "ema_40"}
        if blocks == 6:
            assert shared == {"sma_5", "sma_10", "sma_15", "ema_20", "ema_40"}
    whole = split(graph, nodes, 1)
    assert not whole.shared and len(whole.blocks[0].nodes) == len(nodes)
    assert block_count("auto", 6, 1, 2) == 4 and block_count("auto", 6, 100, 2) == 1
    assert block_count("symbol", 6, 1, 8) == 1 and block_count("cell", 6, 100, 2) == 6


def _record_partitions(spark: Any, cb: sb.Cerebro, **options: Any) -> int:
    """How many Spark partitions the simulation records of ``cb`` fill."""
    engine = get_backend("spark", **options)
    assert isinstance(engine, SparkBackend)
    with cb._concrete():
        plan = cb.plan("spark", **options)
        run = SparkBatch(spark, cb, plan, engine)
        try:
            bars, universes = load_bars(spark, cb)
            run.stages(bars, universes)
            assert run.records is not None
            parts = run.records.select(F.spark_partition_id().alias("p")).distinct().count()
        finally:
            run.release()
    return int(parts)


def test_the_cells_of_one_symbol_spread_over_partitions(
    spark: object, two_symbols: pd.DataFrame
) -> None:
    one = two_symbols[two_symbols["symbol"] == "AAA"]
    cb = _sweep(one)
    # By symbol, one symbol is one group: one task does every cell.
    assert _record_partitions(spark, cb, sweep_key="symbol") == 1
    # By block of cells (4 blocks on 2 cores), the cells run as several tasks.
    assert _record_partitions(spark, cb, placement="kernels") >= 2


def test_tables_left_in_spark_say_how_to_get_them(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    cb = _sweep(two_symbols)
    want = cb.run()
    got = cb.run(backend="spark", sweep_key="cell", collect=("trades", "metrics"))
    assert_tables_equal(got.trades, want.trades, "partial/trades")
    assert_tables_equal(got.metrics, want.metrics, "partial/metrics")
    assert_tables_equal(got.ranking("sortino"), want.ranking("sortino"), "partial/ranking")
    for name in ("equity", "factors", "orders", "fills"):
        with pytest.raises(
            StreambtError, match=rf"did not bring back the {name} table.*add '{name}' to collect="
        ):
            getattr(got, name)
    assert "collected metrics, trades" in repr(got)
    only = cb.run(backend="spark", placement="kernels", collect="trades")
    assert_tables_equal(only.trades, want.trades, "trades only")
    with pytest.raises(StreambtError, match="add 'metrics' to collect="):
        only.ranking()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"collect": ("trades", "equty")}, r"'equty' is not one. Did you mean \"equity\"\?"),
        ({"collect": ()}, r"collect is empty; name at least one of"),
        ({"collect": 3}, r"collect must name result tables"),
        ({"sweep_key": "cells"}, r"sweep_key must be one of auto, symbol, cell, got 'cells'"),
        ({"placement": "kernel"}, r"placement must be one of relational, kernels"),
    ]
    for options, message in bad:
        with pytest.raises(BackendError, match=message):
            cb.run(backend="spark", **options)
    with pytest.raises(BackendError, match=r"cache= stores the factors.*must include 'factors'"):
        cb.run(backend="spark", collect=("trades",), cache=tmp_path / "cache")
    for options, message in (
        ({"collect": ("trades",)}, r"collect= is for batch runs.*drop collect="),
        ({"sweep_key": "cell"}, r"sweep_key= is for batch runs.*drop sweep_key="),
    ):
        with pytest.raises(BackendError, match=message):
            cb.run(backend="spark", mode="stream", **options)
