"""WMA, DEMA, TEMA, TRIMA and KAMA against TA-Lib.

Each average runs in every form (relational where it has an Ibis lowering,
i.e. WMA; kernels; stream) on real and on gapped bars and equals TA-Lib. Then
the kernels themselves: TA-Lib's exact bits on awkward series (leading NaNs,
NaNs inside, a 1000x print, zeros, flat runs), chunk-invariance,
compiled == interpreted; an average of an indicator; placement and the
parameter errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.averages
from streambt.backends import get_backend
from streambt.ops.averages import (
    DoubleExponentialMovingAverage,
    KaufmanAdaptiveMovingAverage,
    TriangularMovingAverage,
    TripleExponentialMovingAverage,
    WeightedMovingAverage,
)
from streambt.ops.momentum import MovingAverageConvergenceDivergence
from tests.indicators.harness import (
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    assert_same,
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
    op_kernel,
    outputs_by_case,
    step_once,
)
from tests.unit._kernel_helpers import with_nans

talib = pytest.importorskip("talib")

Reference = Callable[[np.ndarray], np.ndarray]
WMA, DEMA, TEMA = (
    WeightedMovingAverage,
    DoubleExponentialMovingAverage,
    TripleExponentialMovingAverage,
)
TRIMA, KAMA = TriangularMovingAverage, KaufmanAdaptiveMovingAverage
TALIB_NAME = {WMA: "WMA", DEMA: "DEMA", TEMA: "TEMA", TRIMA: "TRIMA", KAMA: "KAMA"}


def _case(op: Any, window: int) -> tuple[str, Any, dict[str, Any], Reference]:
    fn = getattr(talib, TALIB_NAME[op])
    return f"{op.short}{window}", op, {"window": window}, lambda x: fn(x, window)


# window 1 (TA-Lib's copy), the smallest real windows, odd and even, TA-Lib's default 30
CASES = [
    *(_case(WMA, n) for n in (1, 2, 10, 30)),
    *(_case(DEMA, n) for n in (1, 2, 30)),
    *(_case(TEMA, n) for n in (1, 3, 30)),
    *(_case(TRIMA, n) for n in (1, 4, 5, 30)),
    *(_case(KAMA, n) for n in (1, 2, 10, 30)),
]
case_params = pytest.mark.parametrize(
    ("op", "params", "reference"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
# through Cerebro, two windows each (the kernel tests below take every case)
FORM_CASES = [
    "wma2",
    "wma30",
    "dema2",
    "dema30",
    "tema3",
    "tema30",
    "trima5",
    "trima30",
    "kama2",
    "kama30",
]
form_case_params = pytest.mark.parametrize(
    ("op", "params", "reference"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES if c[0] in FORM_CASES],
)


dataset = dataset_fixture()


# -- every form equals TA-Lib ----------------------------------------------------------
@form_case_params
def test_equals_talib_in_every_form(
    dataset: tuple[str, pd.DataFrame], op: Any, params: dict[str, Any], reference: Reference
) -> None:
    name, df = dataset
    want = reference(df["close"].to_numpy())
    # a kernel: TA-Lib's bits (WMA's SQL form sums in another order)
    inexact = ("relational",) if op is WMA else ()
    what = f"{op.short}{params} on {name}"
    assert_forms_match(op, df, ("close",), params, want, what, exact=True, inexact_forms=inexact)


def test_rowwise_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:250]
    close = df["close"].to_numpy()
    for op in (WMA, DEMA, TEMA, TRIMA, KAMA):
        want = getattr(talib, TALIB_NAME[op])(close, 7)
        assert_forms_match(
            op, df, ("close",), {"window": 7}, want, op.short, exact=True, forms=ROWWISE_ONLY
        )


@pytest.mark.parametrize("op", [WMA, DEMA, TEMA, TRIMA, KAMA], ids=lambda op: op.short)
def test_average_of_an_indicator(op: Any) -> None:
    # RSI has 14 leading nulls, which TA-Lib's wrapper skips
    df = gapped_bars(1500)
    want = getattr(talib, TALIB_NAME[op])(talib.RSI(df["close"].to_numpy(), 14), 10)

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        rsi = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
        return {"avg": cb.add_indicator(op, rsi, window=10)}

    for form, got in run_graph(build, df).items():
        assert_same(got["avg"], want, f"{op.short} of rsi, {form}")


# -- the kernels: TA-Lib's bits on awkward series ----------------------------------------
SERIES = awkward_series()
SERIES["flat"] = SERIES["close"].copy()
SERIES["flat"][500:560] = SERIES["close"][499]  # longer than every window: KAMA's path resets


@case_params
@pytest.mark.parametrize("series", list(SERIES))
def test_kernel_bits_equal_talib(
    op: Any, params: dict[str, Any], reference: Reference, series: str
) -> None:
    x = SERIES[series]
    assert_bits(step_once(op_kernel(op, params), {"x": x}), reference(x))


@pytest.mark.parametrize(("op", "window"), [(WMA, 7), (TRIMA, 7), (TRIMA, 8)])
def test_running_sums_over_a_long_history(op: Any, window: int) -> None:
    # WMA's totals are rebuilt every 8 * window rows, TRIMA's never: both match TA-Lib
    # over a history much longer than either schedule
    rng = np.random.default_rng(5)
    x = 1000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 200_000)))
    x[50_000] *= 1000.0
    got = step_once(op_kernel(op, {"window": window}), {"x": x})
    assert_bits(got, getattr(talib, TALIB_NAME[op])(x, window))


@case_params
def test_kernel_chunk_invariance(op: Any, params: dict[str, Any], reference: Reference) -> None:
    x = with_nans(SERIES["inside_nan"][:1500], leading=5)
    assert_chunk_invariant(op_kernel(op, params), {"x": x}, seed=17)


def kernel_outputs() -> dict[str, np.ndarray]:
    """Every case's kernel on one awkward series; run with and without the JIT and compared."""
    x = with_nans(SERIES["spiky"][:1200], leading=3, inside=(600,))
    kernels = ((cid, op_kernel(op, params)) for cid, op, params, _ in CASES)
    return outputs_by_case(kernels, lambda _: {"x": x}, (100, 101, 700))


def test_kernels_compiled_equal_interpreted(tmp_path: Path) -> None:
    assert_compiled_equals_interpreted(kernel_outputs, tmp_path)


def test_edge_values_on_a_small_series() -> None:
    x = np.array([1.0, 2.0, 3.0, 6.0, 6.0, 6.0])
    # KAMA(2) here: every efficiency ratio is 1 (the last one after the path reset
    # by two zero changes), so each step moves (2/3)**2 of the way to x
    kama = [np.nan, np.nan, 2.0 + 4 / 9]
    for v in x[3:]:
        kama.append(kama[-1] + 4 / 9 * (v - kama[-1]))
    cases: list[tuple[Any, dict[str, Any], list[float]]] = [
        (WMA, {"window": 3}, [np.nan, np.nan, 14 / 6, 26 / 6, 33 / 6, 6.0]),
        (TRIMA, {"window": 3}, [np.nan, np.nan, 2.0, 3.5, 5.25, 6.0]),
        (TRIMA, {"window": 2}, [np.nan, 1.5, 2.5, 4.5, 6.0, 6.0]),
        (DEMA, {"window": 2}, [np.nan, np.nan, 3.0, 52 / 9, 167 / 27, 166 / 27]),
        (KAMA, {"window": 2}, kama),
        (KAMA, {"window": 1}, list(x)),
    ]
    for op, params, want in cases:
        got = step_once(op_kernel(op, params), {"x": x})["value"]
        np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=f"{op.short}{params}")


# -- placement, public names, errors ---------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "relational"), [(WMA, True), (DEMA, False), (TEMA, False), (TRIMA, False), (KAMA, False)]
)
def test_placement_on_duckdb(op: Any, relational: bool) -> None:
    assert get_backend("duckdb").support(op, "batch").ok is relational


def test_public_names() -> None:
    assert sb.ind.wma is WMA
    assert sb.ind.dema is DEMA
    assert sb.ind.tema is TEMA
    assert sb.ind.trima is TRIMA
    assert sb.ind.kama is KAMA


@pytest.mark.parametrize("op", [WMA, DEMA, TEMA, TRIMA, KAMA], ids=lambda op: op.short)
@pytest.mark.parametrize(
    ("params", "fix"),
    [
        ({"window": 0}, "pass window >= 1"),
        ({"window": -3}, "pass window >= 1"),
        ({"window": 2.5}, "pass window >= 1"),
        ({"window": "10"}, "pass window >= 1"),
        ({"window": True}, "pass window >= 1"),
        ({}, "pass window >= 1"),
        ({"window": 10, "period": 10}, "takes window"),
    ],
)
def test_bad_parameters(op: Any, params: dict[str, Any], fix: str) -> None:
    name = "period" if "period" in params else "window"
    assert_rejects_params(op, "close", params, name, fix)


@pytest.mark.parametrize("op", [WMA, DEMA, TEMA, TRIMA, KAMA], ids=lambda op: op.short)
def test_wrong_input_kind(op: Any) -> None:
    assert_rejects_input(op, "data", r"pass one field, e.g. data\['close'\]", window=10)
    cb, data = small_graph()
    macd = cb.add_indicator(MovingAverageConvergenceDivergence, data["close"])
    with pytest.raises(sb.InvalidInputError, match=rf"^{op.short}\(.*pick one, e.g. ref\['macd'\]"):
        cb.add_indicator(op, macd, window=10)
    # one output of it is a column like any other
    cb.add_indicator(op, macd["signal"], window=10)
