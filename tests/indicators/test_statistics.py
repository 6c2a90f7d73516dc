"""LINEARREG_SLOPE (the slope of the best-fit line over N bars) against TA-Lib.

It runs in every form (always as a kernel: see the op's docstring for why it
has no SQL form) on real and on gapped bars and gives TA-Lib's bits. Then the
kernel itself: TA-Lib's bits on awkward series, including the outlier that
makes TA-Lib rebuild its sums early, chunk-invariance, compiled ==
interpreted; a slope of an indicator; placement and the parameter errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
from streambt.backends import get_backend
from streambt.kernels.statistics import LinearRegressionSlopeKernel
from streambt.ops.statistics import LinearRegressionSlope
from tests.indicators.harness import (
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    dataset_fixture,
    gapped_bars,
    run_graph,
    small_graph,
)
from tests.indicators.kernel_checks import (
    assert_bits,
    assert_chunk_invariant,
    assert_compiled_equals_interpreted,
    awkward_series,
    outputs_by_case,
    step_once,
)
from tests.unit._kernel_helpers import with_nans

talib = pytest.importorskip("talib")

WINDOWS = (2, 3, 14, 30)


dataset = dataset_fixture()


@pytest.mark.parametrize("window", [*WINDOWS, 5000])
def test_equals_talib_in_every_form(dataset: tuple[str, pd.DataFrame], window: int) -> None:
    name, df = dataset
    want = talib.LINEARREG_SLOPE(df["close"].to_numpy(), window)
    # bit for bit: on the flat stretch of the gapped bars TA-Lib's slope is
    # rounding residue (~1e-11), which only the same arithmetic reproduces
    what = f"linearreg_slope({window}) on {name}"
    params = {"window": window}
    assert_forms_match(LinearRegressionSlope, df, ("close",), params, want, what, exact=True)


def test_rowwise_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:250]
    want = talib.LINEARREG_SLOPE(df["close"].to_numpy(), 5)
    what, params = "linearreg_slope(5) row by row", {"window": 5}
    op = LinearRegressionSlope
    assert_forms_match(op, df, ("close",), params, want, what, exact=True, forms=ROWWISE_ONLY)


def test_slope_of_an_indicator() -> None:
    # RSI's 14 leading nulls, which TA-Lib's wrapper skips
    df = gapped_bars(1500)
    want = talib.LINEARREG_SLOPE(talib.RSI(df["close"].to_numpy(), 14), 10)

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        rsi = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
        return {"value": cb.add_indicator(LinearRegressionSlope, rsi, window=10)}

    for form, got in run_graph(build, df).items():
        assert_bits(got, want, form)


# -- the kernel -----------------------------------------------------------------------------
# "inside_nan": NaN sums until the next rebuild, as in TA-Lib; "spiky": the 1000x print,
# leaving the window, outweighs it, so TA-Lib rebuilds early
SERIES = {**awkward_series(short=10), "line": np.arange(3000.0)}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("series", list(SERIES))
def test_kernel_bits_equal_talib(window: int, series: str) -> None:
    x = SERIES[series]
    got = step_once(LinearRegressionSlopeKernel(window=window), {"x": x})
    assert_bits(got, talib.LINEARREG_SLOPE(x, window))


def test_slopes_recover_after_a_bad_print() -> None:
    # TA-Lib rebuilds its sums as the 1000x print leaves the window, so the slopes
    # right after it are the plain least-squares ones again, and so are the kernel's
    x = SERIES["spiky"]
    want = talib.LINEARREG_SLOPE(x, 14)
    got = step_once(LinearRegressionSlopeKernel(window=14), {"x": x})["value"]
    assert np.array_equal(got, want, equal_nan=True)
    plain = np.full(x.shape, np.nan)
    for t in range(13, len(x)):
        y = x[t - 13 : t + 1]
        plain[t] = np.polyfit(np.arange(14.0), y, 1)[0]
    after = slice(814, 900)  # the print has left the window
    np.testing.assert_allclose(got[after], plain[after], rtol=1e-6, atol=1e-9)


def test_a_straight_line_has_its_slope() -> None:
    kernel = LinearRegressionSlopeKernel(window=5)
    got = step_once(kernel, {"x": 3.0 * np.arange(40.0) + 7.0})["value"]
    assert np.isnan(got[:4]).all()
    np.testing.assert_allclose(got[4:], 3.0, rtol=1e-12)


@pytest.mark.parametrize("window", WINDOWS)
def test_kernel_chunk_invariance(window: int) -> None:
    x = with_nans(SERIES["spiky"][:1500], leading=5, inside=(1000,))
    assert_chunk_invariant(LinearRegressionSlopeKernel(window=window), {"x": x}, seed=29)


def kernel_outputs() -> dict[str, np.ndarray]:
    """The kernel at every window on one awkward series; run with and without the JIT."""
    x = with_nans(SERIES["spiky"][:1300], leading=3, inside=(600,))
    kernels = ((str(w), LinearRegressionSlopeKernel(window=w)) for w in WINDOWS)
    return outputs_by_case(kernels, lambda _: {"x": x}, (100, 101, 700))


def test_kernel_compiled_equals_interpreted(tmp_path: Path) -> None:
    assert_compiled_equals_interpreted(kernel_outputs, tmp_path)


# -- placement, public name, errors -------------------------------------------------------------
def test_runs_as_a_kernel_on_duckdb() -> None:
    assert not get_backend("duckdb").support(LinearRegressionSlope, "batch").ok


def test_public_name() -> None:
    assert sb.ind.linearreg_slope is LinearRegressionSlope


@pytest.mark.parametrize(
    ("params", "fix"),
    [
        ({"window": 1}, "pass window >= 2"),  # TA-Lib's minimum: a line needs two points
        ({"window": 0}, "pass window >= 2"),
        ({"window": -14}, "pass window >= 2"),
        ({"window": 14.5}, "pass window >= 2"),
        ({}, "pass window >= 2"),
        ({"window": 14, "nbdev": 2}, "linearreg_slope takes window"),
    ],
)
def test_bad_parameters(params: dict[str, Any], fix: str) -> None:
    name = "nbdev" if "nbdev" in params else "window"
    assert_rejects_params(LinearRegressionSlope, "close", params, name, fix)


def test_wrong_input_kind() -> None:
    fix = r"pass one field, e.g. data\['close'\]"
    assert_rejects_input(LinearRegressionSlope, "data", fix, window=14)
    cb, data = small_graph()
    with pytest.raises(
        sb.InvalidInputError, match=r"^linearreg_slope\(.*takes 1 input\(s\) \(x\), got 2"
    ):
        cb.add_indicator(LinearRegressionSlope, data["close"], data["open"], window=14)
