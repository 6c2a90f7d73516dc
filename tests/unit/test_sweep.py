"""Parameter sweeps: one graph, one strategy per cell, shared indicators computed once."""

from __future__ import annotations

import pandas as pd
import pyarrow.compute as pc
import pytest

import streambt as sb


def _template(df: pd.DataFrame) -> sb.Cerebro:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("fast"))
    slow = cb.add_indicator(sb.ind.ema, data["close"], window=sb.param("slow", default=30))
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(long_only=False), name="x"
    )
    return cb


def _single(df: pd.DataFrame, fast: int, slow: int) -> sb.Result:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    f = cb.add_indicator(sb.ind.sma, data["close"], window=fast)
    s = cb.add_indicator(sb.ind.ema, data["close"], window=slow)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, f, s),
        sb.alloc.all_in(long_only=False),
        name=f"x[fast={fast},slow={slow}]",
    )
    return cb.run()


def test_every_cell_equals_its_own_run_and_ranking_orders_them(bars: pd.DataFrame) -> None:
    cb = _template(bars)
    cb.sweep({"fast": [5, 10, 15], "slow": [20, 40]})
    res = cb.run()
    assert sorted(res.cells) == sorted(
        f"x[fast={f},slow={s}]" for f in (5, 10, 15) for s in (20, 40)
    )
    for fast, slow in ((5, 20), (15, 40)):
        name = f"x[fast={fast},slow={slow}]"
        want = _single(bars, fast, slow).trades
        got = res.trades.filter(pc.equal(res.trades.column("strategy"), name))
        assert got.equals(want)
    ranking = res.ranking("sharpe").to_pandas()
    assert list(ranking.columns[:4]) == ["strategy", "symbol", "fast", "slow"]
    assert ranking["sharpe"].is_monotonic_decreasing and len(ranking) == 6
    assert (
        res.ranking("max_drawdown", descending=False)["max_drawdown"][0].as_py()
        == ranking["max_drawdown"].min()
    )


def test_shared_indicators_are_computed_once(bars: pd.DataFrame) -> None:
    cb = _template(bars)
    cb.sweep({"fast": [5, 10, 15], "slow": [20, 40]})
    plan = cb.plan()
    smas = [n for s in plan.stages for n in s.nodes if n.op.short == "sma"]
    emas = [n for s in plan.stages for n in s.nodes if n.op.short == "ema"]
    assert len(smas) == 3 and len(emas) == 2  # 3 fast + 2 slow, not 6 + 6
    text = cb.explain(show=False)
    assert "computed once, used by 2 nodes" in text


@pytest.mark.parametrize(
    ("engine", "options"),
    [("duckdb", {"placement": "kernels"}), ("duckdb", {"mode": "stream"}), ("polars", {})],
)
def test_sweeps_agree_across_engines(bars: pd.DataFrame, engine: str, options: dict) -> None:
    cb = _template(bars)
    cb.sweep({"fast": [5, 10], "slow": [20, 40]})
    want = cb.run()
    got = cb.run(engine, **options)
    assert got.trades.equals(want.trades) and got.equity.equals(want.equity)


def test_defaults_apply_without_a_sweep_and_missing_values_are_named(bars: pd.DataFrame) -> None:
    cb = _template(bars)
    with pytest.raises(
        sb.GraphError, match=r"sweeps fast but no values were given: call cb.sweep\(\{'fast'"
    ):
        cb.run()
    cb.sweep({"fast": [7]})
    assert list(cb.run().cells) == ["x[fast=7,slow=30]"]  # slow from its default


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"fsat": [5]}, r"no node uses parameter 'fsat'. Did you mean \"fast\"\?"),
        ({"fast": []}, r"'fast' has no values"),
        ({"fast": [0]}, None),
    ],
)
def test_bad_sweeps_are_named(bars: pd.DataFrame, grid: dict, message: str | None) -> None:
    cb = _template(bars)
    if message is not None:
        with pytest.raises(sb.InvalidParameterError, match=message):
            cb.sweep(grid)
        return
    cb.sweep(grid)  # a bad value is caught when the cell is built, naming the cell
    with pytest.raises(
        sb.InvalidParameterError,
        match=r"sma\(window=SweepParam.*\[fast=0,slow=30\]: window must be a positive integer, got 0",
    ):
        cb.run()


def test_a_manifest_sweep_runs_and_writes_the_ranking(tmp_path) -> None:
    from pathlib import Path

    from streambt.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "sma_sweep.toml"
    assert main(["run", str(example), "--out", str(tmp_path / "sweep")]) == 0
    ranking = pd.read_csv(tmp_path / "sweep" / "ranking.csv")
    assert len(ranking) == 12 and {"fast", "slow", "sharpe"} <= set(ranking.columns)
    assert ranking["sharpe"].is_monotonic_decreasing
