"""Plan placement follows the backend's support table, with a reason for every node."""

from __future__ import annotations

import streambt as sb
from streambt.compile.plan import RELATIONAL, SCAN, SIMULATE


def _graph() -> tuple[sb.Cerebro, dict[str, sb.Ref]]:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=80))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    ema = cb.add_indicator(sb.ind.ema, data["close"], window=20)
    sma_of_ema = cb.add_indicator(sb.ind.sma, ema, window=5)
    pulse = cb.add_indicator(sb.sig.cross, sma, ema)
    strat = cb.add_strat(pulse, sb.alloc.all_in(), name="s")
    return cb, {"sma": sma, "ema": ema, "sma_of_ema": sma_of_ema, "pulse": pulse, "strat": strat}


def test_duckdb_batch_places_windowed_relational_and_recursive_in_scans() -> None:
    cb, r = _graph()
    plan = cb.plan("duckdb", "batch")
    assert plan.placement(r["sma"].id) == RELATIONAL
    assert plan.placement(r["ema"].id) == SCAN
    # Both consume a scan output, so they run in a relational stage after it.
    assert plan.placement(r["sma_of_ema"].id) == RELATIONAL
    assert plan.placement(r["pulse"].id) == RELATIONAL
    assert plan.placement(r["strat"].id) == SIMULATE
    kinds = [s.kind for s in plan.stages]
    assert kinds == ["source", "relational", "scan", "relational", "simulate", "metrics"]
    text = plan.explain()
    assert "recursive" in text and "Ibis window" in text


def test_duckdb_stream_runs_every_node_as_a_kernel() -> None:
    cb, r = _graph()
    plan = cb.plan("duckdb", "stream")
    for name in ("sma", "ema", "sma_of_ema", "pulse"):
        assert plan.placement(r[name].id) == SCAN
    assert "micro-batch" in plan.explain()


def test_explain_prints_graph_and_plan() -> None:
    cb, r = _graph()
    text = cb.explain(show=False)
    assert text.startswith("Graph: 6 nodes")
    assert r["pulse"].column in text and "Plan for backend='duckdb'" in text
