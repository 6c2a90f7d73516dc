"""The Polars engine: native lowering, its plan, and its options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

import streambt as sb


def test_polars_plan_names_its_lowering(bars: pd.DataFrame) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(bars, symbol="X"))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    ema = cb.add_indicator(sb.ind.ema, data["close"], window=10)
    plan = cb.plan("polars")
    assert plan.placement(sma.id) == "relational" and plan.placement(ema.id) == "scan"
    text = plan.explain()
    assert "one lazy Polars query" in text and "Polars rolling" in text


@pytest.mark.parametrize("placement", ["relational", "kernels"])
def test_polars_values_equal_talib(bars: pd.DataFrame, placement: str) -> None:
    close = bars["close"].to_numpy(float)
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(bars, symbol="X"))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=20)
    sd = cb.add_indicator(sb.ind.stddev, data["close"], window=20, nbdev=2)
    sma_of_rsi = cb.add_indicator(
        sb.ind.sma, cb.add_indicator(sb.ind.rsi, data["close"], window=14), window=5
    )
    res = cb.run("polars", placement=placement)
    for ref, want in (
        (sma, talib.SMA(close, 20)),
        (sd, talib.STDDEV(close, 20, 2)),
        (sma_of_rsi, talib.SMA(talib.RSI(close, 14), 5)),
    ):
        got = res.values(ref)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_polars_rejects_unknown_options() -> None:
    cb = sb.Cerebro()
    cb.add_data(sb.feeds.synthetic("X", bars=10))
    with pytest.raises(sb.BackendError, match="backend 'polars' has no option 'threads'"):
        cb.run("polars", threads=2)
    with pytest.raises(sb.BackendError, match="placement must be one of relational, kernels"):
        cb.run("polars", placement="gpu")
