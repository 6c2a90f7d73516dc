"""Indicator kernels: equal to TA-Lib, chunk-invariant, same compiled and interpreted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streambt.errors import DataError, InvalidParameterError
from streambt.kernels import KERNELS
from streambt.kernels.signals import CrossKernel
from streambt.kernels.transforms import LagKernel

from ._kernel_helpers import (
    KERNEL_CASES,
    dump_outputs,
    feed,
    goog_close,
    make_cols,
    make_kernel,
    random_bounds,
    random_walk,
    with_nans,
)

talib = pytest.importorskip("talib")

# The kernels mirror the arithmetic of the TA-Lib C library 0.8 (fma in EMA,
# the re-anchored variance, RSI's reciprocal); older C builds differ in the
# last bits, or more for STDDEV, so bit-equality is only asserted against 0.8.
TALIB_C_VERSION = talib.__ta_version__.decode().split()[0]
needs_talib_08 = pytest.mark.skipif(
    not TALIB_C_VERSION.startswith("0.8."),
    reason=f"kernels mirror TA-Lib C 0.8 bit for bit; this is TA-Lib C {TALIB_C_VERSION}",
)
BIG = 10_000  # a window longer than every series below: all NaN


def _var_stddev(x: np.ndarray, window: int) -> np.ndarray:
    # talib.STDDEV rejects window=1; VAR accepts it and STDDEV is sqrt(VAR)
    return np.sqrt(talib.VAR(x, window))


# (case id, op, params, TA-Lib reference)
TALIB_CASES: list[tuple[str, str, dict[str, Any], Callable[[np.ndarray], np.ndarray]]] = [
    ("sma10", "SimpleMovingAverage", {"window": 10}, lambda x: talib.SMA(x, 10)),
    ("sma1", "SimpleMovingAverage", {"window": 1}, lambda x: talib.SMA(x, 1)),
    ("sma2", "SimpleMovingAverage", {"window": 2}, lambda x: talib.SMA(x, 2)),
    ("sma_big", "SimpleMovingAverage", {"window": BIG}, lambda x: talib.SMA(x, BIG)),
    ("ema10", "ExponentialMovingAverage", {"window": 10}, lambda x: talib.EMA(x, 10)),
    ("ema1", "ExponentialMovingAverage", {"window": 1}, lambda x: talib.EMA(x, 1)),
    ("ema2", "ExponentialMovingAverage", {"window": 2}, lambda x: talib.EMA(x, 2)),
    ("ema_big", "ExponentialMovingAverage", {"window": BIG}, lambda x: talib.EMA(x, BIG)),
    ("rsi14", "RelativeStrengthIndex", {"window": 14}, lambda x: talib.RSI(x, 14)),
    ("rsi2", "RelativeStrengthIndex", {"window": 2}, lambda x: talib.RSI(x, 2)),
    ("rsi_big", "RelativeStrengthIndex", {"window": BIG}, lambda x: talib.RSI(x, BIG)),
    ("stddev20", "StandardDeviation", {"window": 20}, lambda x: talib.STDDEV(x, 20)),
    (
        "stddev5x2",
        "StandardDeviation",
        {"window": 5, "nbdev": 2.0},
        lambda x: talib.STDDEV(x, 5, 2.0),
    ),
    ("stddev2", "StandardDeviation", {"window": 2}, lambda x: talib.STDDEV(x, 2)),
    ("stddev1", "StandardDeviation", {"window": 1}, lambda x: _var_stddev(x, 1)),
    ("stddev_big", "StandardDeviation", {"window": BIG}, lambda x: talib.STDDEV(x, BIG)),
]


def _goog() -> np.ndarray:
    pytest.importorskip("backtesting")
    return goog_close()


DATASETS: dict[str, Callable[[], np.ndarray]] = {
    "goog": _goog,
    "random_walk": lambda: random_walk(5000, seed=7),
    # an indicator of an indicator: RSI's 14 leading NaNs
    "leading_nan": lambda: talib.RSI(_goog(), 14),
    # NaNs after the start: TA-Lib's own propagation rules apply
    "inside_nan": lambda: with_nans(random_walk(5000, seed=3), leading=0, inside=(900, 901, 2500)),
}

talib_params = pytest.mark.parametrize(
    ("op", "params", "reference"),
    [pytest.param(op, p, ref, id=cid) for cid, op, p, ref in TALIB_CASES],
)
dataset_params = pytest.mark.parametrize("dataset", list(DATASETS))


def _run_whole(op: str, params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    kernel = make_kernel(op, params)
    return feed(kernel, make_cols(kernel, x))["value"]


@talib_params
@dataset_params
def test_equals_talib(
    op: str, params: dict[str, Any], reference: Callable[[np.ndarray], np.ndarray], dataset: str
) -> None:
    x = DATASETS[dataset]()
    got, want = _run_whole(op, params, x), reference(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg="NaN masks differ")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0.0)


@needs_talib_08
@talib_params
@dataset_params
def test_bit_equal_to_talib_08(
    op: str, params: dict[str, Any], reference: Callable[[np.ndarray], np.ndarray], dataset: str
) -> None:
    x = DATASETS[dataset]()
    np.testing.assert_array_equal(_run_whole(op, params, x), reference(x))


@pytest.mark.parametrize(
    ("op", "params", "n_warmup"),
    [
        ("SimpleMovingAverage", {"window": 10}, 9),
        ("ExponentialMovingAverage", {"window": 10}, 9),
        ("RelativeStrengthIndex", {"window": 14}, 14),
        ("StandardDeviation", {"window": 20}, 19),
        ("Lag", {"periods": 3}, 3),
    ],
)
def test_warmup_rows(op: str, params: dict[str, Any], n_warmup: int) -> None:
    out = _run_whole(op, params, random_walk(200))
    assert np.isnan(out[:n_warmup]).all()
    assert not np.isnan(out[n_warmup:]).any()


@pytest.mark.parametrize(
    ("op", "params", "after_nan"),
    [
        ("SimpleMovingAverage", {"window": 10}, "nan"),  # the running sum stays NaN
        ("ExponentialMovingAverage", {"window": 10}, "nan"),  # so does the recursion
        ("RelativeStrengthIndex", {"window": 14}, "zero"),  # loss is NaN: gain + loss > 0 fails
        ("StandardDeviation", {"window": 20}, "recovers"),  # re-anchored within 32 * window rows
    ],
)
def test_nan_after_start_follows_talib(op: str, params: dict[str, Any], after_nan: str) -> None:
    at = 1000
    out = _run_whole(op, params, with_nans(random_walk(3000), leading=0, inside=(at,)))
    assert not np.isnan(out[at - 1])
    if after_nan == "nan":
        assert np.isnan(out[at:]).all()
    elif after_nan == "zero":
        assert (out[at:] == 0.0).all()
    else:
        back = at + params["window"] + 32 * params["window"]
        assert np.isnan(out[at]) and not np.isnan(out[back:]).any()


case_params = pytest.mark.parametrize(
    ("op", "params"), [pytest.param(op, p, id=cid) for cid, op, p in KERNEL_CASES]
)


@case_params
def test_chunk_invariance(op: str, params: dict[str, Any]) -> None:
    x = with_nans(random_walk(1500, seed=5), inside=(400, 401))
    kernel = make_kernel(op, params)
    cols = make_cols(kernel, x)
    whole = feed(kernel, cols)["value"]
    assert np.array_equal(feed(kernel, cols, range(1, len(x)))["value"], whole, equal_nan=True)
    rng = np.random.default_rng(2024)
    for max_chunk in (2, 7, 50, 300, 1000):
        bounds = random_bounds(len(x), rng, max_chunk)
        assert np.array_equal(feed(kernel, cols, bounds)["value"], whole, equal_nan=True), bounds


@case_params
def test_state_roundtrip_between_chunks(op: str, params: dict[str, Any]) -> None:
    x = with_nans(random_walk(600, seed=9), inside=(300,))
    kernel = make_kernel(op, params)
    cols = make_cols(kernel, x)
    bounds = random_bounds(len(x), np.random.default_rng(1), 60)
    chunked = feed(kernel, cols, bounds, roundtrip=True)["value"]
    assert np.array_equal(chunked, feed(kernel, cols)["value"], equal_nan=True)


def test_compiled_equals_interpreted(tmp_path: Path) -> None:
    helpers = Path(__file__).with_name("_kernel_helpers.py")
    env = {**os.environ, "STREAMBT_DISABLE_JIT": "1"}
    subprocess.run(
        [sys.executable, str(helpers), str(tmp_path / "py")], env=env, check=True, timeout=120
    )
    assert (tmp_path / "py" / "jit_disabled.txt").read_text() == "True"
    dump_outputs(tmp_path / "jit")
    for case_id, _, _ in KERNEL_CASES:
        jitted = np.load(tmp_path / "jit" / f"{case_id}.npy")
        interpreted = np.load(tmp_path / "py" / f"{case_id}.npy")
        assert np.array_equal(jitted, interpreted, equal_nan=True), case_id


# -- hypothesis: generated series and chunk boundaries ---------------------------------

any_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
price_like = st.one_of(
    st.just(np.nan),
    st.sampled_from([0.0, 1.0, 2.0, 100.0]),
    st.floats(-1e6, 1e6, allow_nan=False),
)


@st.composite
def series_and_bounds(draw: st.DrawFn, elements: st.SearchStrategy[float]) -> tuple:
    values = draw(st.lists(elements, max_size=120))
    bounds = draw(st.lists(st.integers(0, len(values)), max_size=12))
    return np.array(values, dtype=np.float64), bounds


WINDOWED = [
    ("SimpleMovingAverage", "window", 1),
    ("ExponentialMovingAverage", "window", 1),
    ("RelativeStrengthIndex", "window", 2),
    ("StandardDeviation", "window", 1),
    ("Lag", "periods", 1),
]


@pytest.mark.parametrize(("op", "param", "lowest"), WINDOWED)
@settings(deadline=None, max_examples=60)
@given(data=series_and_bounds(any_floats), size=st.integers(0, 8))
def test_chunk_invariance_generated(
    op: str, param: str, lowest: int, data: tuple, size: int
) -> None:
    x, bounds = data
    kernel = make_kernel(op, {param: lowest + size})
    whole = feed(kernel, {"x": x})["value"]
    assert np.array_equal(feed(kernel, {"x": x}, bounds)["value"], whole, equal_nan=True)
    assert np.array_equal(feed(kernel, {"x": x}, range(len(x)))["value"], whole, equal_nan=True)


@settings(deadline=None, max_examples=100)
@given(
    pairs=st.lists(st.tuples(price_like, price_like), max_size=120),
    bounds=st.lists(st.integers(0, 120), max_size=12),
)
def test_cross_chunk_invariance_generated(pairs: list, bounds: list[int]) -> None:
    cols = {
        "a": np.array([p[0] for p in pairs], dtype=np.float64),
        "b": np.array([p[1] for p in pairs], dtype=np.float64),
    }
    whole = feed(CrossKernel(), cols)["value"]
    assert np.array_equal(feed(CrossKernel(), cols, bounds)["value"], whole, equal_nan=True)


GENERATED_REFERENCES = [
    ("SimpleMovingAverage", 1, talib.SMA),
    ("ExponentialMovingAverage", 1, talib.EMA),
    ("RelativeStrengthIndex", 2, talib.RSI),
    ("StandardDeviation", 2, talib.STDDEV),
]


@needs_talib_08
@pytest.mark.parametrize(("op", "lowest", "reference"), GENERATED_REFERENCES)
@settings(deadline=None, max_examples=60)
@given(data=series_and_bounds(price_like), size=st.integers(0, 8))
def test_bit_equal_to_talib_generated(
    op: str, lowest: int, reference: Callable[..., np.ndarray], data: tuple, size: int
) -> None:
    x, bounds = data
    window = lowest + size
    kernel = make_kernel(op, {"window": window})
    np.testing.assert_array_equal(feed(kernel, {"x": x}, bounds)["value"], reference(x, window))


# -- hand-checked tables -----------------------------------------------------------------

NAN = np.nan
# row:        0    1    2  3  4  5  6  7  8  9 10   11 12 13
CROSS_A = [NAN, 1.0, 2, 3, 2, 2, 3, 1, 1, 2, 0, NAN, 2, 0]
CROSS_B = [1.0, NAN, 1, 2, 2, 3, 2, 1, 2, 1, 1, 1.0, 1, 1]
CROSS_EXPECTED = [
    NAN,  # first row of the key
    NAN,  # b is NaN
    NAN,  # b was NaN on the previous row
    0.0,  # above, still above
    0.0,  # above -> tie
    0.0,  # tie -> below: the tie killed the cross
    1.0,  # below -> above: up-cross
    0.0,  # above -> tie
    0.0,  # tie -> below
    1.0,  # below -> above: up-cross
    -1.0,  # above -> below: down-cross
    NAN,  # a is NaN
    NAN,  # a was NaN on the previous row
    -1.0,  # above -> below
]


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 5])
def test_cross_hand_checked(chunk: int | None) -> None:
    cols = {"a": np.array(CROSS_A, dtype=float), "b": np.array(CROSS_B, dtype=float)}
    bounds = range(0, len(CROSS_A), chunk) if chunk else ()
    got = feed(CrossKernel(), cols, bounds)["value"]
    np.testing.assert_array_equal(got, np.array(CROSS_EXPECTED))


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        (1, [NAN, NAN, 1.0, 2.0, NAN]),
        (2, [NAN, NAN, NAN, 1.0, 2.0]),
        (9, [NAN] * 5),
    ],
)
def test_lag_hand_checked(periods: int, expected: list[float]) -> None:
    x = np.array([NAN, 1.0, 2.0, NAN, 4.0])
    got = feed(LagKernel(periods=periods), {"x": x}, [2])["value"]
    np.testing.assert_array_equal(got, np.array(expected))


def test_kernels_registered_under_op_names() -> None:
    names = {
        "SimpleMovingAverage",
        "ExponentialMovingAverage",
        "RelativeStrengthIndex",
        "StandardDeviation",
        "Lag",
        "Cross",
    }
    assert names <= set(KERNELS)


@pytest.mark.parametrize(
    ("op", "params"),
    [
        ("SimpleMovingAverage", {"window": 0}),
        ("ExponentialMovingAverage", {"window": 2.5}),
        ("RelativeStrengthIndex", {"window": 1}),
        ("StandardDeviation", {"window": True}),
        ("Lag", {"periods": -1}),
    ],
)
def test_bad_parameters_raise(op: str, params: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterError, match="must be an integer >="):
        make_kernel(op, params)


def test_cross_rejects_columns_of_different_lengths() -> None:
    kernel = CrossKernel()
    with pytest.raises(DataError, match="one value per row"):
        kernel.step(kernel.init(), {"a": np.zeros(3), "b": np.zeros(2)})
