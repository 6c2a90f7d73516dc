"""Donchian channel: equal to TA-Lib's MAX(high) / MIN(low) in every form, chunk-invariant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.channels  # registers the kernel
from streambt.backends import get_backend
from streambt.kernels.channels import DonchianChannelKernel
from streambt.ops.channels import DonchianChannel
from tests.indicators.harness import (
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    dataset_fixture,
    gapped_bars,
)
from tests.indicators.kernel_checks import (
    assert_bits,
    assert_chunk_invariant,
    assert_compiled_equals_interpreted,
    outputs_by_case,
    step_once,
)

talib = pytest.importorskip("talib")

WINDOWS = [2, 5, 20, 55, 100, 5000]  # 5000: longer than the data, null throughout


dataset = dataset_fixture()


def _want(df: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    high, low = df["high"].to_numpy(np.float64), df["low"].to_numpy(np.float64)
    return {"upper": talib.MAX(high, n), "lower": talib.MIN(low, n)}


@pytest.mark.parametrize("n", WINDOWS)
def test_equals_talib_in_every_form(dataset: tuple[str, pd.DataFrame], n: int) -> None:
    name, df = dataset
    # a max and a min are exact: the same bits in every form
    what = f"donchian({n}) on {name}"
    assert_forms_match(DonchianChannel, df, "data", {"window": n}, _want(df, n), what, exact=True)


def test_row_by_row_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:200].reset_index(drop=True)
    want = _want(df, 20)
    what = "donchian row by row"
    assert_forms_match(DonchianChannel, df, "data", {"window": 20}, want, what, forms=ROWWISE_ONLY)


def test_monotone_runs_and_ties() -> None:
    # the deque's worst and tie cases: falling highs / rising lows (every value a
    # candidate), long ties, then a jump
    high = np.r_[np.linspace(100.0, 50.0, 300), np.full(50, 50.0), np.linspace(50.0, 120.0, 100)]
    low = np.r_[np.linspace(40.0, 90.0, 300), np.full(50, 90.0), np.linspace(90.0, 10.0, 100)]
    for n in (2, 7, 64):
        out = step_once(DonchianChannelKernel(window=n), {"high": high, "low": low})
        assert_bits(out, {"upper": talib.MAX(high, n), "lower": talib.MIN(low, n)}, f"{n}")


def test_nan_inside_the_window_gives_null_until_it_leaves() -> None:
    # bars are validated (no NaN), but the kernel follows the SQL rule anyway
    high = np.arange(1.0, 21.0)
    low = high - 1.0
    high[10] = np.nan
    out = step_once(DonchianChannelKernel(window=3), {"high": high, "low": low})
    # each side follows its own column, as the SQL form's per-column null counts do
    assert np.isnan(out["upper"][10:13]).all() and not np.isnan(out["lower"][2:]).any()
    assert out["upper"][13] == 14.0 and out["lower"][12] == 10.0


# -- kernel: chunk-invariance and compiled == interpreted ------------------------------
KERNEL_CASES = [("donchian2", 2), ("donchian20", 20), ("donchian100", 100)]


def _cols() -> dict[str, np.ndarray]:
    df = gapped_bars(1500, seed=5)
    return {"high": df["high"].to_numpy(), "low": df["low"].to_numpy()}


def kernel_outputs() -> dict[str, np.ndarray]:
    kernels = ((cid, DonchianChannelKernel(window=n)) for cid, n in KERNEL_CASES)
    return outputs_by_case(kernels, lambda _: _cols())


@pytest.mark.parametrize("n", [n for _, n in KERNEL_CASES])
def test_kernel_chunk_invariance(n: int) -> None:
    assert_chunk_invariant(DonchianChannelKernel(window=n), _cols(), seed=3)


def test_kernel_compiled_equals_interpreted(tmp_path: Path) -> None:
    assert_compiled_equals_interpreted(kernel_outputs, tmp_path)


# -- placement, public name, errors ---------------------------------------------------
def test_lowered_on_duckdb() -> None:
    # fails if "channels" is missing from compile/lowering FAMILIES
    assert get_backend("duckdb").support(DonchianChannel, "batch").ok


def test_public_name() -> None:
    assert sb.ind.donchian is DonchianChannel


@pytest.mark.parametrize(
    "params",
    [{"window": 0}, {"window": -3}, {"window": 1}, {"window": 2.5}, {"window": "20"}, {}],
)
def test_bad_window(params: dict[str, Any]) -> None:
    assert_rejects_params(DonchianChannel, "data", params, "window", "pass window >= 2")


def test_column_instead_of_data() -> None:
    assert_rejects_input(DonchianChannel, "close", "pass the data ref", window=20)


def test_indicator_instead_of_data() -> None:
    assert_rejects_input(DonchianChannel, "sma", "pass the data ref", window=20)


@pytest.mark.parametrize("window", [0, 1, -2])
def test_kernel_rejects_bad_window(window: int) -> None:
    with pytest.raises(sb.InvalidParameterError, match="window must be an integer >= 2"):
        DonchianChannelKernel(window=window)
