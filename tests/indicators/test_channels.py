"""Donchian channel: equal to TA-Lib's MAX(high) / MIN(low) in every form, chunk-invariant."""

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
import streambt.kernels.channels  # registers the kernel
from streambt.backends import get_backend
from streambt.kernels.channels import DonchianChannelKernel
from streambt.ops.channels import DonchianChannel
from tests.indicators.harness import DATASETS, ROWWISE, assert_same, gapped_bars, run_forms
from tests.unit._kernel_helpers import feed, random_bounds

talib = pytest.importorskip("talib")

WINDOWS = [2, 5, 20, 55, 100, 5000]  # 5000: longer than the data, null throughout


@pytest.fixture(scope="module", params=list(DATASETS))
def dataset(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
    return request.param, DATASETS[request.param]()


def _want(df: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    high, low = df["high"].to_numpy(np.float64), df["low"].to_numpy(np.float64)
    return {"upper": talib.MAX(high, n), "lower": talib.MIN(low, n)}


@pytest.mark.parametrize("n", WINDOWS)
def test_equals_talib_in_every_form(dataset: tuple[str, pd.DataFrame], n: int) -> None:
    name, df = dataset
    want = _want(df, n)
    for form, outs in run_forms(DonchianChannel, df, "data", {"window": n}).items():
        assert set(outs) == {"upper", "lower"}
        for output, values in outs.items():
            assert_same(values, want[output], f"donchian({n}).{output} on {name}, {form}")
            # a max and a min are exact: the same bits in every form
            assert np.array_equal(values, want[output], equal_nan=True), (form, output)


def test_row_by_row_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:200].reset_index(drop=True)
    got = run_forms(DonchianChannel, df, "data", {"window": 20}, forms={"rowwise": ROWWISE})
    want = _want(df, 20)
    for output in ("upper", "lower"):
        assert_same(got["rowwise"][output], want[output], f"donchian row by row, {output}")


def test_monotone_runs_and_ties() -> None:
    # the deque's worst and tie cases: falling highs / rising lows (every value a
    # candidate), long ties, then a jump
    high = np.r_[np.linspace(100.0, 50.0, 300), np.full(50, 50.0), np.linspace(50.0, 120.0, 100)]
    low = np.r_[np.linspace(40.0, 90.0, 300), np.full(50, 90.0), np.linspace(90.0, 10.0, 100)]
    for n in (2, 7, 64):
        kernel = DonchianChannelKernel(window=n)
        out = kernel.step(kernel.init(), {"high": high, "low": low})[1]
        assert np.array_equal(out["upper"], talib.MAX(high, n), equal_nan=True)
        assert np.array_equal(out["lower"], talib.MIN(low, n), equal_nan=True)


def test_nan_inside_the_window_gives_null_until_it_leaves() -> None:
    # bars are validated (no NaN), but the kernel follows the SQL rule anyway
    high = np.arange(1.0, 21.0)
    low = high - 1.0
    high[10] = np.nan
    kernel = DonchianChannelKernel(window=3)
    out = kernel.step(kernel.init(), {"high": high, "low": low})[1]
    # each side follows its own column, as the SQL form's per-column null counts do
    assert np.isnan(out["upper"][10:13]).all() and not np.isnan(out["lower"][2:]).any()
    assert out["upper"][13] == 14.0 and out["lower"][12] == 10.0


# -- kernel: chunk-invariance and compiled == interpreted ------------------------------
KERNEL_CASES = [("donchian2", 2), ("donchian20", 20), ("donchian100", 100)]


def _cols() -> dict[str, np.ndarray]:
    df = gapped_bars(1500, seed=5)
    return {"high": df["high"].to_numpy(), "low": df["low"].to_numpy()}


def kernel_outputs() -> dict[str, np.ndarray]:
    out = {}
    for cid, n in KERNEL_CASES:
        res = feed(DonchianChannelKernel(window=n), _cols())
        out[f"{cid}_upper"], out[f"{cid}_lower"] = res["upper"], res["lower"]
    return out


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


@pytest.mark.parametrize("n", [n for _, n in KERNEL_CASES])
def test_kernel_chunk_invariance(n: int) -> None:
    kernel = DonchianChannelKernel(window=n)
    cols = _cols()
    size = len(cols["high"])
    whole = feed(kernel, cols)
    runs = [feed(kernel, cols, range(1, size))]
    rng = np.random.default_rng(3)
    runs += [feed(kernel, cols, random_bounds(size, rng, m), roundtrip=True) for m in (3, 40, 400)]
    for run in runs:
        for output in ("upper", "lower"):
            assert np.array_equal(_bits(run[output]), _bits(whole[output])), output


def test_kernel_compiled_equals_interpreted(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "STREAMBT_DISABLE_JIT": "1"}
    code = (
        "import sys, numpy as np; from tests.indicators import test_channels as m; "
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


# -- placement, public name, errors ---------------------------------------------------
def test_lowered_on_duckdb() -> None:
    # fails if "channels" is missing from compile/lowering FAMILIES
    assert get_backend("duckdb").support(DonchianChannel, "batch").ok


def test_public_name() -> None:
    assert sb.ind.donchian is DonchianChannel


def _data() -> tuple[sb.Cerebro, sb.Ref]:
    cb = sb.Cerebro()
    return cb, cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))


@pytest.mark.parametrize(
    "params",
    [{"window": 0}, {"window": -3}, {"window": 1}, {"window": 2.5}, {"window": "20"}, {}],
)
def test_bad_window(params: dict[str, Any]) -> None:
    cb, data = _data()
    with pytest.raises(sb.InvalidParameterError, match=r"^donchian\(.*window.*pass window >= 2"):
        cb.add_indicator(DonchianChannel, data, **params)


def test_column_instead_of_data() -> None:
    cb, data = _data()
    with pytest.raises(sb.InvalidInputError, match=r"^donchian\(.*pass the data ref"):
        cb.add_indicator(DonchianChannel, data["close"], window=20)


def test_indicator_instead_of_data() -> None:
    cb, data = _data()
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    with pytest.raises(sb.InvalidInputError, match=r"^donchian\(.*pass the data ref"):
        cb.add_indicator(DonchianChannel, sma, window=20)


@pytest.mark.parametrize("window", [0, 1, -2])
def test_kernel_rejects_bad_window(window: int) -> None:
    with pytest.raises(sb.InvalidParameterError, match="window must be an integer >= 2"):
        DonchianChannelKernel(window=window)
