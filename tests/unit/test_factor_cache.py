"""The factor cache: indicators computed once per (node, data), invalidated when either changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.averages as averages


def _cerebro(df: pd.DataFrame, window: int = 10) -> tuple[sb.Cerebro, sb.Ref, sb.Ref]:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=window)
    ema = cb.add_indicator(sb.ind.ema, data["close"], window=30)
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, ema), sb.alloc.all_in(), name="s")
    return cb, fast, ema


class _Counter:
    """Counts EMA kernel steps, to see whether a run recomputed it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = averages.ExponentialMovingAverageKernel.step

        def step(kernel, state, cols):  # type: ignore[no-untyped-def]
            self.calls += 1
            return original(kernel, state, cols)

        monkeypatch.setattr(averages.ExponentialMovingAverageKernel, "step", step)


def test_second_run_loads_instead_of_computing(
    tmp_path: Path, bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _Counter(monkeypatch)
    cb, _, _ = _cerebro(bars)
    first = cb.run(cache=tmp_path)
    assert counter.calls == 1
    cb2, _, _ = _cerebro(bars)
    plan = cb2.plan()
    second = cb2.run(cache=tmp_path)
    assert counter.calls == 1  # not recomputed
    assert "cached: loaded from the factor cache" in second.plan.explain()
    assert "cached" not in plan.explain()
    assert second.factors.equals(first.factors)
    assert second.trades.equals(first.trades)
    # stream mode reads the same cache
    third = _cerebro(bars)[0].run(mode="stream", micro_batch=50, cache=tmp_path)
    assert counter.calls == 1 and third.trades.equals(first.trades)


def test_changed_data_or_parameters_invalidate(
    tmp_path: Path, bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _Counter(monkeypatch)
    _cerebro(bars)[0].run(cache=tmp_path)
    changed = bars.copy()
    changed.loc[500, ["close", "high"]] = changed.loc[500, ["close", "high"]] * 1.01
    _cerebro(changed)[0].run(cache=tmp_path)
    assert counter.calls == 2  # new data: recomputed
    cb, fast, _ = _cerebro(bars, window=12)
    res = cb.run(cache=tmp_path)
    assert counter.calls == 2  # ema cached for the original data, the new sma computed
    assert "sma_12" in res.plan.explain() and res.values(fast)[11] == pytest.approx(
        bars.close[:12].mean()
    )


def test_a_corrupt_cache_file_is_set_aside_and_recomputed(
    tmp_path: Path, bars: pd.DataFrame
) -> None:
    cb, fast, _ = _cerebro(bars)
    want = cb.run(cache=tmp_path).values(fast)
    files = list(tmp_path.rglob(f"{fast.id}.parquet"))
    assert len(files) == 1
    files[0].write_bytes(b"not parquet")
    cb2, fast2, _ = _cerebro(bars)
    with pytest.warns(UserWarning, match="unreadable"):
        got = cb2.run(cache=tmp_path).values(fast2)
    np.testing.assert_array_equal(got, want)
    assert files[0].with_suffix(".bad").exists() and files[0].is_file()


def test_file_feeds_are_fingerprinted_by_size_and_mtime(tmp_path: Path, bars: pd.DataFrame) -> None:
    path = tmp_path / "bars.parquet"
    bars.to_parquet(path)
    key = sb.feeds.from_parquet(path, symbol="X").fingerprint()
    assert sb.feeds.from_parquet(path, symbol="X").fingerprint() == key
    bars.iloc[:-1].to_parquet(path)
    assert sb.feeds.from_parquet(path, symbol="X").fingerprint() != key


def test_explain_shows_shared_nodes_computed_once(bars: pd.DataFrame) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(bars, symbol="X"))
    for slow in (20, 30, 40):
        fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
        slow_ref = cb.add_indicator(sb.ind.sma, data["close"], window=slow)
        cb.add_strat(
            cb.add_indicator(sb.sig.cross, fast, slow_ref), sb.alloc.all_in(), name=f"s{slow}"
        )
    text = cb.explain(show=False)
    assert f"{fast.node.label}" in text and "computed once, used by 3 nodes" in text


def test_cache_with_several_timeframes_stores_only_base_columns(tmp_path: Path) -> None:
    df = sb.feeds.synthetic_bars(3000, seed=1, interval="1min", start="2024-01-02 09:30")

    def build() -> sb.Cerebro:
        cb = sb.Cerebro()
        data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"), timeframe="1min")
        hourly = cb.add_indicator(sb.ind.sma, cb.resample(data, "1h")["close"], window=3)
        cb.add_indicator(
            sb.sig.cross, cb.add_indicator(sb.ind.ema, data["close"], window=30), hourly
        )
        return cb

    first = build().run(cache=tmp_path)
    second = build().run(cache=tmp_path)
    assert second.factors.equals(first.factors)
    assert "cached: loaded from the factor cache" in second.plan.explain()
