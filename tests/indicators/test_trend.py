"""Trend indicators (ADX, +DI, -DI, SAR) equal to TA-Lib in every form.

Every case runs through ``Cerebro.run`` in each form (all four are recursive:
kernels, also in the relational form) on the real and the gapped bars and is
compared with TA-Lib (rtol 1e-9, same nulls); the kernels alone give TA-Lib's
exact values. Then: chunk-invariance, compiled == interpreted, row-by-row
streaming, placement, public names and parameter errors.

TA-Lib chooses its SAR machine code by CPU when it loads (an FMA build and a
plain one); the kernel mirrors the FMA build, so SAR's exact-value test needs
a CPU with FMA and TA-Lib C 0.8.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.trend  # registers the kernels
from streambt.backends import get_backend
from streambt.kernels.base import Kernel
from streambt.kernels.trend import (
    AverageDirectionalIndexKernel,
    MinusDirectionalIndicatorKernel,
    ParabolicSARKernel,
    PlusDirectionalIndicatorKernel,
)
from streambt.ops.trend import (
    AverageDirectionalIndex,
    MinusDirectionalIndicator,
    ParabolicSAR,
    PlusDirectionalIndicator,
)
from tests.indicators.harness import (
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    bars,
    dataset_fixture,
    gapped_bars,
)
from tests.indicators.kernel_checks import (
    assert_bits,
    assert_chunk_invariant,
    assert_compiled_equals_interpreted,
    exact_needs_08,
    exact_needs_fma,
    kernel_cols,
    nan_bars,
    op_kernel,
    outputs_by_case,
    step_once,
)

talib = pytest.importorskip("talib")

Bars = Mapping[str, np.ndarray]


def _hlc(fn: Callable[..., np.ndarray], n: int) -> Callable[[Bars], np.ndarray]:
    return lambda b: fn(b["high"], b["low"], b["close"], n)


def _sar(acceleration: float, maximum: float) -> Callable[[Bars], np.ndarray]:
    return lambda b: talib.SAR(b["high"], b["low"], acceleration, maximum)


# (case id, op, params, TA-Lib on the bars, needs the FMA build)
CASES: list[tuple[str, Any, dict[str, Any], Callable[[Bars], np.ndarray], bool]] = [
    ("adx", AverageDirectionalIndex, {}, _hlc(talib.ADX, 14), False),
    ("adx2", AverageDirectionalIndex, {"window": 2}, _hlc(talib.ADX, 2), False),
    ("adx40", AverageDirectionalIndex, {"window": 40}, _hlc(talib.ADX, 40), False),
    ("plus_di", PlusDirectionalIndicator, {}, _hlc(talib.PLUS_DI, 14), False),
    # TA-Lib's one-bar DI is a ratio, not a percentage
    ("plus_di1", PlusDirectionalIndicator, {"window": 1}, _hlc(talib.PLUS_DI, 1), False),
    ("plus_di5", PlusDirectionalIndicator, {"window": 5}, _hlc(talib.PLUS_DI, 5), False),
    ("minus_di", MinusDirectionalIndicator, {}, _hlc(talib.MINUS_DI, 14), False),
    ("minus_di1", MinusDirectionalIndicator, {"window": 1}, _hlc(talib.MINUS_DI, 1), False),
    ("minus_di5", MinusDirectionalIndicator, {"window": 5}, _hlc(talib.MINUS_DI, 5), False),
    ("sar", ParabolicSAR, {}, _sar(0.02, 0.2), True),
    ("sar_fast", ParabolicSAR, {"acceleration": 0.05, "maximum": 0.5}, _sar(0.05, 0.5), True),
    # TA-Lib caps an acceleration above the maximum at the maximum
    ("sar_capped", ParabolicSAR, {"acceleration": 0.3, "maximum": 0.2}, _sar(0.3, 0.2), True),
    ("sar_zero", ParabolicSAR, {"acceleration": 0.0, "maximum": 0.2}, _sar(0.0, 0.2), True),
    # a window longer than the data: null throughout
    ("adx_long", AverageDirectionalIndex, {"window": 5000}, _hlc(talib.ADX, 5000), False),
    ("plus_di_long", PlusDirectionalIndicator, {"window": 5000}, _hlc(talib.PLUS_DI, 5000), False),
]


dataset = dataset_fixture()


@pytest.mark.parametrize(("op", "params", "ref"), [pytest.param(*c[1:4], id=c[0]) for c in CASES])
def test_equals_talib_in_every_form(
    dataset: tuple[str, pd.DataFrame],
    op: Any,
    params: dict[str, Any],
    ref: Callable[[Bars], np.ndarray],
) -> None:
    name, df = dataset
    assert_forms_match(op, df, "data", params, ref(bars(df)), f"{op.short}{params} on {name}")


@pytest.mark.parametrize(
    ("op", "params", "ref"),
    [
        pytest.param(*c[1:4], id=c[0], marks=exact_needs_fma if c[4] else exact_needs_08)
        for c in CASES
    ],
)
def test_kernel_gives_talibs_exact_values(
    dataset: tuple[str, pd.DataFrame],
    op: Any,
    params: dict[str, Any],
    ref: Callable[[Bars], np.ndarray],
) -> None:
    _, df = dataset
    b = bars(df)
    kernel = op_kernel(op, params)
    assert_bits(step_once(kernel, kernel_cols(kernel, b)), ref(b))


def test_sar_starts_short_on_a_falling_second_bar() -> None:
    high = np.array([10.0, 9.5, 9.0, 8.0, 9.5, 11.0])
    low = np.array([9.0, 8.0, 7.5, 7.0, 8.5, 10.0])
    want = talib.SAR(high, low, 0.02, 0.2)
    kernel = ParabolicSARKernel()
    got = step_once(kernel, {"high": high, "low": low})["value"]
    np.testing.assert_array_equal(got, want)
    # short from the first high, then a reversal to long at the earlier extreme low
    assert got[1] == 10.0 and got[-1] == 7.0


def test_row_by_row_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:200].reset_index(drop=True)
    b = bars(df)
    for cid, op, params, ref, _ in CASES:
        if cid.endswith("_long"):
            continue
        assert_forms_match(op, df, "data", params, ref(b), f"{cid} row by row", forms=ROWWISE_ONLY)


# -- the kernels: chunk-invariance and compiled == interpreted --------------------------
KERNEL_CASES: list[tuple[str, type[Kernel], dict[str, Any]]] = [
    ("adx2", AverageDirectionalIndexKernel, {"window": 2}),
    ("adx14", AverageDirectionalIndexKernel, {"window": 14}),
    ("plus_di1", PlusDirectionalIndicatorKernel, {"window": 1}),
    ("plus_di14", PlusDirectionalIndicatorKernel, {"window": 14}),
    ("minus_di1", MinusDirectionalIndicatorKernel, {"window": 1}),
    ("minus_di14", MinusDirectionalIndicatorKernel, {"window": 14}),
    ("sar", ParabolicSARKernel, {"acceleration": 0.02, "maximum": 0.2}),
    ("sar_fast", ParabolicSARKernel, {"acceleration": 0.1, "maximum": 0.4}),
]


def _series_cols(kernel: Kernel) -> dict[str, np.ndarray]:
    """Leading NaNs, a NaN inside and a flat stretch."""
    return kernel_cols(kernel, nan_bars())


def kernel_outputs() -> dict[str, np.ndarray]:
    """Every kernel case fed whole; run with and without the JIT."""
    kernels = ((cid, cls(**params)) for cid, cls, params in KERNEL_CASES)
    return outputs_by_case(kernels, _series_cols)


@pytest.mark.parametrize(("cls", "params"), [pytest.param(*c[1:], id=c[0]) for c in KERNEL_CASES])
def test_kernel_chunk_invariance(cls: type[Kernel], params: dict[str, Any]) -> None:
    kernel = cls(**params)
    assert_chunk_invariant(kernel, _series_cols(kernel), seed=11)


def test_kernels_compiled_equal_interpreted(tmp_path: Path) -> None:
    assert_compiled_equals_interpreted(kernel_outputs, tmp_path)


# -- placement, public names, errors ----------------------------------------------------
@pytest.mark.parametrize(
    "op",
    [AverageDirectionalIndex, PlusDirectionalIndicator, MinusDirectionalIndicator, ParabolicSAR],
)
def test_recursive_ops_run_as_kernels(op: Any) -> None:
    support = get_backend("duckdb").support(op, "batch")
    assert not support.ok and "kernel" in support.reason


def test_public_names() -> None:
    assert sb.ind.adx is AverageDirectionalIndex
    assert sb.ind.plus_di is PlusDirectionalIndicator
    assert sb.ind.minus_di is MinusDirectionalIndicator
    assert sb.ind.sar is ParabolicSAR


BAD_PARAMS = [
    (AverageDirectionalIndex, {"window": 1}, "window >= 2"),
    (AverageDirectionalIndex, {"window": 0}, "window >= 2"),
    (AverageDirectionalIndex, {"window": "14"}, "window >= 2"),
    (PlusDirectionalIndicator, {"window": 0}, "window >= 1"),
    (PlusDirectionalIndicator, {"window": -14}, "window >= 1"),
    (MinusDirectionalIndicator, {"window": 1.5}, "window >= 1"),
    (ParabolicSAR, {"acceleration": -0.02}, "acceleration=0.02"),
    (ParabolicSAR, {"maximum": -1}, "maximum=0.2"),
    (ParabolicSAR, {"maximum": float("inf")}, "maximum=0.2"),
    (ParabolicSAR, {"window": 14}, "sar takes acceleration, maximum"),
]


@pytest.mark.parametrize(("op", "params", "fix"), BAD_PARAMS)
def test_bad_parameters(op: Any, params: dict[str, Any], fix: str) -> None:
    assert_rejects_params(op, "data", params, list(params)[-1], fix)


@pytest.mark.parametrize("op", [AverageDirectionalIndex, PlusDirectionalIndicator, ParabolicSAR])
def test_a_field_where_data_is_expected(op: Any) -> None:
    assert_rejects_input(op, "close", "pass the data ref")


@pytest.mark.parametrize("op", [AverageDirectionalIndex, ParabolicSAR])
def test_an_indicator_where_data_is_expected(op: Any) -> None:
    assert_rejects_input(op, "sma", "pass the data ref")


@pytest.mark.parametrize(
    ("cls", "minimum"),
    [
        (AverageDirectionalIndexKernel, 2),
        (PlusDirectionalIndicatorKernel, 1),
        (MinusDirectionalIndicatorKernel, 1),
    ],
)
def test_kernel_rejects_bad_window(cls: type[Kernel], minimum: int) -> None:
    with pytest.raises(sb.InvalidParameterError, match=rf"window must be an integer >= {minimum}"):
        cls(window=minimum - 1)
