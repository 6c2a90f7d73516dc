"""The public contract of issue 2: Cerebro -> run -> Result tables, values, to_dir."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import talib

import streambt as sb

from ..helpers import sma_cross

TRADE_COLUMNS = [
    "strategy",
    "symbol",
    "side",
    "size",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "pnl",
    "commission",
]


@pytest.fixture(scope="module")
def run(goog: pd.DataFrame) -> tuple[sb.Result, dict[str, sb.Ref]]:
    cb, refs = sma_cross(goog)
    return cb.run(), refs


def test_result_tables_are_arrow_with_the_contract_columns(
    run: tuple[sb.Result, dict[str, sb.Ref]],
) -> None:
    res, _ = run
    for name in ("trades", "orders", "fills", "equity", "factors", "metrics"):
        assert isinstance(getattr(res, name), pa.Table), name
    assert all(c in res.trades.column_names for c in TRADE_COLUMNS)
    assert res.trades.num_rows > 10
    assert set(res.trades.column("strategy").to_pylist()) == {"sma_cross"}
    assert res.equity.column_names[:6] == ["strategy", "symbol", "ts", "cash", "position", "equity"]
    assert res.equity.num_rows == res.factors.num_rows == 2148
    assert res.metrics.num_rows == 1


def test_values_equal_talib_with_the_same_warmup(
    run: tuple[sb.Result, dict[str, sb.Ref]], goog: pd.DataFrame
) -> None:
    res, refs = run
    close = goog["close"].to_numpy(float)
    for ref, window in ((refs["fast"], 10), (refs["slow"], 30)):
        got, want = res.values(ref), talib.SMA(close, window)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-9)
    np.testing.assert_array_equal(res.values(refs["data"]["close"]), close)


def test_pnl_is_net_of_both_commissions(run: tuple[sb.Result, dict[str, sb.Ref]]) -> None:
    t = run[0].trades.to_pandas()
    gross = t["side"] * (t["exit_price"] - t["entry_price"]) * t["size"]
    fees = 0.001 * t["size"] * (t["entry_price"] + t["exit_price"])
    np.testing.assert_allclose(t["commission"], fees, rtol=1e-12)
    np.testing.assert_allclose(t["pnl"], gross - fees, rtol=1e-9, atol=1e-9)


def test_equity_is_cash_plus_position_at_close(
    run: tuple[sb.Result, dict[str, sb.Ref]], goog: pd.DataFrame
) -> None:
    e = run[0].equity.to_pandas()
    np.testing.assert_allclose(
        e["equity"], e["cash"] + e["position"] * goog["close"].to_numpy(), rtol=1e-12
    )


def test_to_dir_writes_the_run_folder(run: tuple[sb.Result, dict[str, sb.Ref]], tmp_path) -> None:
    res, _ = run
    out = res.to_dir(tmp_path / "x")
    for name in ("trades.csv", "orders.csv", "equity.parquet", "factors.parquet", "metrics.json"):
        assert (out / name).is_file(), name
    assert len(pd.read_csv(out / "trades.csv")) == res.trades.num_rows
    assert pq.read_table(out / "factors.parquet").equals(res.factors)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics[0]["strategy"] == "sma_cross" and metrics[0]["trades"] == res.trades.num_rows


def test_values_needs_a_symbol_when_there_are_several() -> None:
    df = pd.concat(
        [
            sb.feeds.synthetic_bars(60, seed=1).assign(symbol="A"),
            sb.feeds.synthetic_bars(60, seed=2).assign(symbol="B"),
        ]
    )
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    res = cb.run()
    with pytest.raises(sb.StreambtError, match="pass symbol="):
        res.values(sma)
    np.testing.assert_allclose(
        res.values(sma, "B"), talib.SMA(df[df.symbol == "B"]["close"].to_numpy(float), 5), rtol=1e-9
    )
    with pytest.raises(sb.StreambtError, match="no symbol 'C'"):
        res.values(sma, "C")


def test_indicators_only_run_without_a_strategy(goog: pd.DataFrame) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(goog, symbol="GOOG"))
    rsi = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
    res = cb.run()
    assert res.trades.num_rows == 0 and res.metrics.num_rows == 0
    np.testing.assert_allclose(
        res.values(rsi), talib.RSI(goog["close"].to_numpy(float), 14), rtol=1e-9
    )


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_every_first_op_equals_talib_through_run(goog: pd.DataFrame, mode: str) -> None:
    close = goog["close"].to_numpy(float)
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(goog, symbol="GOOG"))
    refs = {
        "sma": (cb.add_indicator(sb.ind.sma, data["close"], window=20), talib.SMA(close, 20)),
        "ema": (cb.add_indicator(sb.ind.ema, data["close"], window=20), talib.EMA(close, 20)),
        "rsi": (cb.add_indicator(sb.ind.rsi, data["close"], window=14), talib.RSI(close, 14)),
        "stddev": (
            cb.add_indicator(sb.ind.stddev, data["close"], window=20, nbdev=2),
            talib.STDDEV(close, 20, 2),
        ),
        "sma_of_rsi": (None, talib.SMA(talib.RSI(close, 14), 9)),
    }
    refs["sma_of_rsi"] = (
        cb.add_indicator(sb.ind.sma, refs["rsi"][0], window=9),
        refs["sma_of_rsi"][1],
    )
    lag = cb.add_indicator(sb.ind.lag, data["close"], periods=2)
    res = cb.run(mode=mode)
    for name, (ref, want) in refs.items():
        got = res.values(ref)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=name)
    np.testing.assert_array_equal(res.values(lag)[2:], close[:-2])
    assert np.isnan(res.values(lag)[:2]).all()
