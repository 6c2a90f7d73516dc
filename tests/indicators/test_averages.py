"""WMA, DEMA, TEMA, TRIMA and KAMA against TA-Lib.

Each average runs in every form (relational where it has an Ibis lowering,
i.e. WMA; kernels; stream) on real and on gapped bars and equals TA-Lib. Then
the kernels themselves: TA-Lib's exact bits on awkward series (leading NaNs,
NaNs inside, a 1000x print, zeros, flat runs), chunk-invariance,
compiled == interpreted; an average of an indicator; placement and the
parameter errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.averages
from streambt.backends import get_backend
from streambt.kernels import KERNELS
from streambt.ops.averages import (
    DoubleExponentialMovingAverage,
    KaufmanAdaptiveMovingAverage,
    TriangularMovingAverage,
    TripleExponentialMovingAverage,
    WeightedMovingAverage,
)
from streambt.ops.momentum import MovingAverageConvergenceDivergence
from tests.indicators.harness import DATASETS, FORMS, ROWWISE, assert_same, gapped_bars, run_forms
from tests.unit._kernel_helpers import feed, random_bounds

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


@pytest.fixture(scope="module", params=list(DATASETS))
def dataset(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
    return request.param, DATASETS[request.param]()


# -- every form equals TA-Lib ----------------------------------------------------------
@form_case_params
def test_equals_talib_in_every_form(
    dataset: tuple[str, pd.DataFrame], op: Any, params: dict[str, Any], reference: Reference
) -> None:
    name, df = dataset
    want = reference(df["close"].to_numpy())
    for form, outs in run_forms(op, df, ("close",), params).items():
        assert_same(outs["value"], want, f"{op.short}{params} on {name}, {form}")
        if op is not WMA or form != "relational":
            # a kernel: TA-Lib's bits (WMA's SQL form sums in another order)
            assert np.array_equal(outs["value"], want, equal_nan=True), form


def test_rowwise_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:250]
    close = df["close"].to_numpy()
    for op in (WMA, DEMA, TEMA, TRIMA, KAMA):
        got = run_forms(op, df, ("close",), {"window": 7}, forms={"rowwise": ROWWISE})
        want = getattr(talib, TALIB_NAME[op])(close, 7)
        assert np.array_equal(got["rowwise"]["value"], want, equal_nan=True), op.short


@pytest.mark.parametrize("op", [WMA, DEMA, TEMA, TRIMA, KAMA], ids=lambda op: op.short)
def test_average_of_an_indicator(op: Any) -> None:
    # RSI has 14 leading nulls, which TA-Lib's wrapper skips
    df = gapped_bars(1500)
    want = getattr(talib, TALIB_NAME[op])(talib.RSI(df["close"].to_numpy(), 14), 10)
    for form, options in FORMS.items():
        cb = sb.Cerebro()
        data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
        rsi = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
        ref = cb.add_indicator(op, rsi, window=10)
        opts = dict(options)
        res = cb.run(mode=opts.pop("mode"), **opts)
        assert_same(res.values(ref), want, f"{op.short} of rsi, {form}")


# -- the kernels: TA-Lib's bits on awkward series ----------------------------------------
def _awkward() -> dict[str, np.ndarray]:
    close = gapped_bars(3000, seed=4)["close"].to_numpy()
    inside = close.copy()
    inside[[700, 1500, 1501]] = np.nan
    spiky = close.copy()
    spiky[800] *= 1000.0  # a bad print: TA-Lib's running sums keep its residue
    spiky[1200:1210] = 0.0
    spiky[2000:2100] = -spiky[2000:2100]
    flat = close.copy()
    flat[500:560] = flat[499]  # longer than every window: KAMA's path resets to 0
    return {
        "close": close,
        "leading_nan": talib.RSI(close, 14),
        "inside_nan": inside,
        "spiky": spiky,
        "flat": flat,
        "short": close[:20],
        "empty": close[:0],
    }


SERIES = _awkward()


@case_params
@pytest.mark.parametrize("series", list(SERIES))
def test_kernel_bits_equal_talib(
    op: Any, params: dict[str, Any], reference: Reference, series: str
) -> None:
    x = SERIES[series]
    kernel = KERNELS[op.op_name()](**params)
    got = kernel.step(kernel.init(), {"x": x})[1]["value"]
    assert np.array_equal(got, reference(x), equal_nan=True)


@pytest.mark.parametrize(("op", "window"), [(WMA, 7), (TRIMA, 7), (TRIMA, 8)])
def test_running_sums_over_a_long_history(op: Any, window: int) -> None:
    # WMA's totals are rebuilt every 8 * window rows, TRIMA's never: both match TA-Lib
    # over a history much longer than either schedule
    rng = np.random.default_rng(5)
    x = 1000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 200_000)))
    x[50_000] *= 1000.0
    kernel = KERNELS[op.op_name()](window=window)
    got = kernel.step(kernel.init(), {"x": x})[1]["value"]
    assert np.array_equal(got, getattr(talib, TALIB_NAME[op])(x, window), equal_nan=True)


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


@case_params
def test_kernel_chunk_invariance(op: Any, params: dict[str, Any], reference: Reference) -> None:
    x = SERIES["inside_nan"][:1500].copy()
    x[:5] = np.nan
    kernel = KERNELS[op.op_name()](**params)
    cols = {"x": x}
    whole = feed(kernel, cols)["value"]
    assert np.array_equal(_bits(feed(kernel, cols, range(1, len(x)))["value"]), _bits(whole))
    rng = np.random.default_rng(17)
    for max_chunk in (3, 40, 400):
        bounds = random_bounds(len(x), rng, max_chunk)
        chunked = feed(kernel, cols, bounds, roundtrip=True)["value"]
        assert np.array_equal(_bits(chunked), _bits(whole)), bounds


def kernel_outputs() -> dict[str, np.ndarray]:
    """Every case's kernel on one awkward series; run with and without the JIT and compared."""
    x = SERIES["spiky"][:1200].copy()
    x[:3] = np.nan
    x[600] = np.nan
    out = {}
    for cid, op, params, _ in CASES:
        kernel = KERNELS[op.op_name()](**params)
        out[cid] = feed(kernel, {"x": x}, (100, 101, 700))["value"]
    return out


def test_kernels_compiled_equal_interpreted(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "STREAMBT_DISABLE_JIT": "1"}
    code = (
        "import sys, numpy as np; from tests.indicators import test_averages as m; "
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
    for cid, jitted in kernel_outputs().items():
        assert np.array_equal(_bits(interpreted[cid]), _bits(jitted)), cid


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
        kernel = KERNELS[op.op_name()](**params)
        got = kernel.step(kernel.init(), {"x": x})[1]["value"]
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
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))
    with pytest.raises(sb.InvalidParameterError) as err:
        cb.add_indicator(op, data["close"], **params)
    msg = str(err.value)
    assert msg.startswith(f"{op.short}("), msg  # the node
    assert ("period" if "period" in params else "window") in msg and fix in msg, msg


@pytest.mark.parametrize("op", [WMA, DEMA, TEMA, TRIMA, KAMA], ids=lambda op: op.short)
def test_wrong_input_kind(op: Any) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))
    with pytest.raises(
        sb.InvalidInputError, match=rf"^{op.short}\(.*pass one field, e.g. data\['close'\]"
    ):
        cb.add_indicator(op, data, window=10)
    macd = cb.add_indicator(MovingAverageConvergenceDivergence, data["close"])
    with pytest.raises(sb.InvalidInputError, match=rf"^{op.short}\(.*pick one, e.g. ref\['macd'\]"):
        cb.add_indicator(op, macd, window=10)
    # one output of it is a column like any other
    cb.add_indicator(op, macd["signal"], window=10)
