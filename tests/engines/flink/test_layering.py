"""The Flink layering pass, without a JVM: same numbers as the lowering on DuckDB, Flink's SQL rules kept."""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa
import sqlglot
import sqlglot.expressions as exp

import streambt as sb
from streambt.backends.flink.layering import lower_stage_layered
from streambt.compile.lowering import IbisLowering
from streambt.compile.plan import RELATIONAL


def _graph(frame: pd.DataFrame) -> sb.Cerebro:
    cb = sb.Cerebro()
    d = cb.add_data(sb.feeds.from_pandas(frame))
    fast = cb.add_indicator(sb.ind.sma, d["close"], window=10)
    slow = cb.add_indicator(sb.ind.sma, d["close"], window=30)
    cb.add_indicator(sb.ind.wma, d["close"], window=5)  # lags and a row count in one visit
    cb.add_indicator(sb.ind.willr, d, window=14)
    cb.add_indicator(sb.ind.trange, d)
    cb.add_indicator(sb.ind.vwap, d, window=10)
    cb.add_indicator(sb.ind.roc, d["close"], window=3)
    cb.add_indicator(sb.ind.donchian, d, window=20)
    lag = cb.add_indicator(sb.ind.lag, fast, periods=2)
    cb.add_indicator(sb.sig.cross, lag, slow)
    return cb


def _window_specs(select: exp.Select) -> set[tuple[str, ...]]:
    specs = set()
    for projection in select.expressions:
        for w in projection.find_all(exp.Window):
            navigation = isinstance(w.this, exp.Lag | exp.Lead)
            parts = (w.args.get("partition_by") or [], w.args.get("order"), w.args.get("spec"))
            specs.add((str(navigation), *(str(p) for p in parts)))
    return specs


def test_layered_stage_equals_lowering_and_keeps_flink_rules(flink_frame: pd.DataFrame) -> None:
    cb = _graph(flink_frame)
    plan = cb.plan("flink", "stream")
    bars, _ = cb.load_bars()
    lowering = IbisLowering()
    table = ibis.memtable(bars)
    stages = plan.stages_of(RELATIONAL)
    assert stages
    plain, layered = table, table
    for stage in stages:
        plain = lowering.lower_stage(plain, stage.nodes, cb.graph)
        layered = lower_stage_layered(lowering, layered, stage.nodes, cb.graph)
    con = ibis.duckdb.connect()
    want: pa.Table = con.to_pyarrow(plain.order_by(["symbol", "ts"]))
    got: pa.Table = con.to_pyarrow(layered.order_by(["symbol", "ts"]))
    assert got.column_names == want.column_names  # no helper column left
    assert got.equals(want)

    sql = ibis.to_sql(layered, dialect="flink")
    tree = sqlglot.parse_one(sql, read="flink")
    assert tree.args.get("order") is None  # Flink streaming rejects a trailing ORDER BY
    selects = list(tree.find_all(exp.Select))
    with_windows = [s for s in selects if _window_specs(s)]
    assert len(with_windows) >= 3  # aggregates over two frames, and LAGs, in separate layers
    for select in with_windows:
        assert len(_window_specs(select)) == 1, select.sql("flink")
    # the un-layered lowering breaks the rule Flink enforces (the reason this pass exists)
    unlayered = sqlglot.parse_one(ibis.to_sql(plain, dialect="flink"), read="flink")
    assert any(len(_window_specs(s)) > 1 for s in unlayered.find_all(exp.Select))
