"""LINEARREG_SLOPE (the slope of the best-fit line over N bars) against TA-Lib.

It runs in every form (always as a kernel: see the op's docstring for why it
has no SQL form) on real and on gapped bars and gives TA-Lib's bits. Then the
kernel itself: TA-Lib's bits on awkward series, including the outlier that
makes TA-Lib rebuild its sums early, chunk-invariance, compiled ==
interpreted; a slope of an indicator; placement and the parameter errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
from streambt.backends import get_backend
from streambt.kernels.statistics import LinearRegressionSlopeKernel
from streambt.ops.statistics import LinearRegressionSlope
from tests.indicators.harness import DATASETS, FORMS, ROWWISE, gapped_bars, run_forms
from tests.unit._kernel_helpers import feed, random_bounds

talib = pytest.importorskip("talib")

WINDOWS = (2, 3, 14, 30)


@pytest.fixture(scope="module", params=list(DATASETS))
def dataset(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
    return request.param, DATASETS[request.param]()


@pytest.mark.parametrize("window", [*WINDOWS, 5000])
def test_equals_talib_in_every_form(dataset: tuple[str, pd.DataFrame], window: int) -> None:
    name, df = dataset
    want = talib.LINEARREG_SLOPE(df["close"].to_numpy(), window)
    for form, outs in run_forms(LinearRegressionSlope, df, ("close",), {"window": window}).items():
        # bit for bit: on the flat stretch of the gapped bars TA-Lib's slope is
        # rounding residue (~1e-11), which only the same arithmetic reproduces
        assert np.array_equal(outs["value"], want, equal_nan=True), (name, form)


def test_rowwise_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:250]
    got = run_forms(
        LinearRegressionSlope, df, ("close",), {"window": 5}, forms={"rowwise": ROWWISE}
    )
    want = talib.LINEARREG_SLOPE(df["close"].to_numpy(), 5)
    assert np.array_equal(got["rowwise"]["value"], want, equal_nan=True)


def test_slope_of_an_indicator() -> None:
    # RSI's 14 leading nulls, which TA-Lib's wrapper skips
    df = gapped_bars(1500)
    want = talib.LINEARREG_SLOPE(talib.RSI(df["close"].to_numpy(), 14), 10)
    for form, options in FORMS.items():
        cb = sb.Cerebro()
        data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
        rsi = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
        slope = cb.add_indicator(LinearRegressionSlope, rsi, window=10)
        opts = dict(options)
        res = cb.run(mode=opts.pop("mode"), **opts)
        assert np.array_equal(res.values(slope), want, equal_nan=True), form


# -- the kernel -----------------------------------------------------------------------------
def _awkward() -> dict[str, np.ndarray]:
    close = gapped_bars(3000, seed=4)["close"].to_numpy()
    inside = close.copy()
    inside[[700, 1500, 1501]] = np.nan  # NaN sums until the next rebuild, as in TA-Lib
    spiky = close.copy()
    spiky[800] *= 1000.0  # leaving the window, it outweighs it: TA-Lib rebuilds early
    spiky[1200:1210] = 0.0
    spiky[2000:2100] = -spiky[2000:2100]
    return {
        "close": close,
        "leading_nan": talib.RSI(close, 14),
        "inside_nan": inside,
        "spiky": spiky,
        "line": np.arange(3000.0),
        "short": close[:10],
        "empty": close[:0],
    }


SERIES = _awkward()


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("series", list(SERIES))
def test_kernel_bits_equal_talib(window: int, series: str) -> None:
    x = SERIES[series]
    kernel = LinearRegressionSlopeKernel(window=window)
    got = kernel.step(kernel.init(), {"x": x})[1]["value"]
    assert np.array_equal(got, talib.LINEARREG_SLOPE(x, window), equal_nan=True)


def test_slopes_recover_after_a_bad_print() -> None:
    # TA-Lib rebuilds its sums as the 1000x print leaves the window, so the slopes
    # right after it are the plain least-squares ones again, and so are the kernel's
    x = SERIES["spiky"]
    want = talib.LINEARREG_SLOPE(x, 14)
    kernel = LinearRegressionSlopeKernel(window=14)
    got = kernel.step(kernel.init(), {"x": x})[1]["value"]
    assert np.array_equal(got, want, equal_nan=True)
    plain = np.full(x.shape, np.nan)
    for t in range(13, len(x)):
        y = x[t - 13 : t + 1]
        plain[t] = np.polyfit(np.arange(14.0), y, 1)[0]
    after = slice(814, 900)  # the print has left the window
    np.testing.assert_allclose(got[after], plain[after], rtol=1e-6, atol=1e-9)


def test_a_straight_line_has_its_slope() -> None:
    kernel = LinearRegressionSlopeKernel(window=5)
    got = kernel.step(kernel.init(), {"x": 3.0 * np.arange(40.0) + 7.0})[1]["value"]
    assert np.isnan(got[:4]).all()
    np.testing.assert_allclose(got[4:], 3.0, rtol=1e-12)


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


@pytest.mark.parametrize("window", WINDOWS)
def test_kernel_chunk_invariance(window: int) -> None:
    x = SERIES["spiky"][:1500].copy()
    x[:5] = np.nan
    x[1000] = np.nan
    kernel = LinearRegressionSlopeKernel(window=window)
    cols = {"x": x}
    whole = feed(kernel, cols)["value"]
    assert np.array_equal(_bits(feed(kernel, cols, range(1, len(x)))["value"]), _bits(whole))
    rng = np.random.default_rng(29)
    for max_chunk in (3, 40, 400):
        bounds = random_bounds(len(x), rng, max_chunk)
        chunked = feed(kernel, cols, bounds, roundtrip=True)["value"]
        assert np.array_equal(_bits(chunked), _bits(whole)), bounds


def kernel_outputs() -> dict[str, np.ndarray]:
    """The kernel at every window on one awkward series; run with and without the JIT."""
    x = SERIES["spiky"][:1300].copy()
    x[:3] = np.nan
    x[600] = np.nan
    return {
        str(w): feed(LinearRegressionSlopeKernel(window=w), {"x": x}, (100, 101, 700))["value"]
        for w in WINDOWS
    }


def test_kernel_compiled_equals_interpreted(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "STREAMBT_DISABLE_JIT": "1"}
    code = (
        "import sys, numpy as np; from tests.indicators import test_statistics as m; "
        "np.savez(sys.argv[1], **m.kernel_outputs())"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "py.npz")],
        cwd=root,
        env=env,
        check=True,
        timeout=300,
    )
    interpreted = np.load(tmp_path / "py.npz")
    for key, jitted in kernel_outputs().items():
        assert np.array_equal(_bits(interpreted[key]), _bits(jitted)), key


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
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))
    with pytest.raises(sb.InvalidParameterError) as err:
        cb.add_indicator(LinearRegressionSlope, data["close"], **params)
    msg = str(err.value)
    assert msg.startswith("linearreg_slope("), msg
    assert ("nbdev" if "nbdev" in params else "window") in msg and fix in msg, msg


def test_wrong_input_kind() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))
    with pytest.raises(
        sb.InvalidInputError, match=r"^linearreg_slope\(.*pass one field, e.g. data\['close'\]"
    ):
        cb.add_indicator(LinearRegressionSlope, data, window=14)
    with pytest.raises(
        sb.InvalidInputError, match=r"^linearreg_slope\(.*takes 1 input\(s\) \(x\), got 2"
    ):
        cb.add_indicator(LinearRegressionSlope, data["close"], data["open"], window=14)
