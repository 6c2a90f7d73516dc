"""Bad input gets a clear error naming the row or value and the fix; nothing passes silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import streambt as sb


def _run(df: pd.DataFrame) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    cb.add_indicator(sb.ind.sma, data["close"], window=3)
    cb.run()


@pytest.fixture
def df() -> pd.DataFrame:
    return sb.feeds.synthetic_bars(40, seed=5)


def _bad(df: pd.DataFrame, row: int, **values: float) -> pd.DataFrame:
    out = df.copy()
    for k, v in values.items():
        out.loc[row, k] = v
    return out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["volume"]), r"missing column\(s\) volume"),
        (lambda d: d.drop(columns=["ts"]), r"no time column"),
        (lambda d: _bad(d, 7, close=np.nan), r"row 7 .* close = nan .*fill"),
        (lambda d: _bad(d, 9, open=-1.0), r"row 9 .* open = -1.0; prices must be positive"),
        (lambda d: _bad(d, 4, low=0.0), r"row 4 .* low = 0.0"),
        (lambda d: _bad(d, 11, high=1.0, low=2.0, open=1.5, close=1.5), r"row 11 .*high < low"),
        (
            lambda d: _bad(
                d, 12, high=(d.loc[12, "close"] + d.loc[12, "low"]) / 2, open=d.loc[12, "high"]
            ),
            r"row 12 .*high below open or close",
        ),
        (lambda d: _bad(d, 3, volume=-5.0), r"row 3 .*volume -5.0"),
        (
            lambda d: d.iloc[[0, 1, 3, 2, *range(4, len(d))]].reset_index(drop=True),
            r"row 3 .*earlier than row 2.*sort_values",
        ),
        (
            lambda d: pd.concat([d.iloc[:6], d.iloc[5:]]).reset_index(drop=True),
            r"row 6 .*repeats the timestamp of row 5.*drop_duplicates",
        ),
        (lambda d: d.assign(close="x"), r"column 'close' is not numeric"),
        (
            lambda d: d.assign(ts=d.ts + pd.Timedelta(1, "ns")),
            r"finer than a microsecond.*floor\('us'\)",
        ),
    ],
    ids=[
        "missing-volume",
        "missing-ts",
        "nan",
        "negative",
        "zero",
        "high<low",
        "high<close",
        "neg-volume",
        "unsorted",
        "duplicate",
        "non-numeric",
        "nanoseconds",
    ],
)
def test_bad_bars_are_rejected_with_row_and_fix(df: pd.DataFrame, mutate, message: str) -> None:
    with pytest.raises(sb.DataError, match=message):
        _run(mutate(df))


def test_unknown_backend_suggests_the_closest_name(df: pd.DataFrame) -> None:
    cb = sb.Cerebro()
    cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    with pytest.raises(
        sb.BackendError, match=r"Unknown backend 'duckdbb'. Did you mean \"duckdb\"\?"
    ):
        cb.run(backend="duckdbb")
    with pytest.raises(sb.BackendError, match=r"Unknown mode 'strem'. Did you mean \"stream\"\?"):
        cb.run(mode="strem")


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (0, r"sma\(close, window=0\).*window must be a positive integer, got 0; pass window >= 1"),
        (-3, r"window must be a positive integer, got -3"),
        (2.5, r"window must be a positive integer, got 2.5"),
        ("10", r"window must be a positive integer, got '10'"),
    ],
)
def test_bad_parameters_name_node_parameter_and_fix(window: object, message: str) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=10))
    with pytest.raises(sb.InvalidParameterError, match=message):
        cb.add_indicator(sb.ind.sma, data["close"], window=window)


def test_wrong_input_kinds_are_named() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=10))
    with pytest.raises(
        sb.InvalidInputError, match=r"whole data feed where a column was expected; pass one field"
    ):
        cb.add_indicator(sb.ind.sma, data, window=3)
    with pytest.raises(
        sb.InvalidInputError, match=r"input 'x' must be a column ref .* got float 3.0"
    ):
        cb.add_indicator(sb.ind.sma, 3.0, window=3)
    with pytest.raises(sb.InvalidInputError, match=r"cross takes 2 input\(s\) \(a, b\), got 1"):
        cb.add_indicator(sb.sig.cross, data["close"])
    with pytest.raises(sb.InvalidParameterError, match=r"unknown parameter 'windw'"):
        cb.add_indicator(sb.ind.sma, data["close"], windw=3)
    other = sb.Cerebro()
    with pytest.raises(sb.InvalidInputError, match="belongs to another Cerebro"):
        other.add_indicator(sb.ind.sma, data["close"], window=3)


def test_bad_cerebro_and_allocation_settings() -> None:
    with pytest.raises(sb.InvalidParameterError, match="commission is a fraction"):
        sb.Cerebro(commission=5)
    with pytest.raises(sb.InvalidParameterError, match="cash must be a positive number"):
        sb.Cerebro(cash=0)
    with pytest.raises(sb.InvalidParameterError, match=r"target_percent\(p=1.5\)"):
        sb.alloc.target_percent(1.5)


def test_strategy_names_must_be_unique() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=10))
    f = cb.add_indicator(sb.ind.sma, data["close"], window=2)
    s = cb.add_indicator(sb.ind.sma, data["close"], window=4)
    cb.add_strat(cb.add_indicator(sb.sig.cross, f, s), sb.alloc.all_in(), name="a")
    with pytest.raises(sb.GraphError, match="already named 'a'"):
        cb.add_strat(cb.add_indicator(sb.sig.cross, s, f), sb.alloc.all_in(), name="a")


def test_the_same_symbol_from_two_feeds_is_rejected(df: pd.DataFrame, tmp_path) -> None:
    path = tmp_path / "x.csv"
    df.to_csv(path, index=False)
    cb = sb.Cerebro()
    cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    cb.add_data(sb.feeds.from_csv(path, symbol="X"))
    with pytest.raises(sb.DataError, match="comes from two feeds"):
        cb.run()


def test_missing_file_is_named() -> None:
    with pytest.raises(sb.DataError, match="does not exist"):
        sb.feeds.from_csv("no/such/file.csv")


def test_a_field_where_the_data_ref_is_expected_is_rejected() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=10))
    op = sb.ind.talib("ATR")
    with pytest.raises(sb.InvalidInputError, match=r"pass the data ref, e.g. data"):
        cb.add_indicator(op, data["close"], timeperiod=3)
