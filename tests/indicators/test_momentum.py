"""MACD, ROC and MOM against TA-Lib.

Each runs in every form (relational where it has an Ibis lowering, i.e. ROC
and MOM; kernels; stream) on real and on gapped bars and equals TA-Lib, every
output of MACD included. Then the kernels themselves: TA-Lib's exact bits on
awkward series, chunk-invariance, compiled == interpreted; indicators of
indicators (leading nulls, zeros, sign changes); placement and the parameter
errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.momentum
from streambt.backends import get_backend
from streambt.kernels import KERNELS
from streambt.ops.momentum import Momentum, MovingAverageConvergenceDivergence, RateOfChange
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

MACD, ROC, MOM = MovingAverageConvergenceDivergence, RateOfChange, Momentum
Reference = Callable[[np.ndarray], dict[str, np.ndarray]]


def _macd(fast: int, slow: int, signal: int) -> Reference:
    def reference(x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(MACD.outputs, talib.MACD(x, fast, slow, signal), strict=True))

    return reference


def _one(fn: Callable[..., np.ndarray], window: int) -> Reference:
    return lambda x: {"value": fn(x, window)}


# (case id, op, params, TA-Lib reference)
CASES: list[tuple[str, Any, dict[str, Any], Reference]] = [
    ("macd", MACD, {}, _macd(12, 26, 9)),  # the defaults are TA-Lib's
    ("macd_5_35_5", MACD, {"fast": 5, "slow": 35, "signal": 5}, _macd(5, 35, 5)),
    ("macd_2_3_1", MACD, {"fast": 2, "slow": 3, "signal": 1}, _macd(2, 3, 1)),  # the minimums
    ("macd_26_12_9", MACD, {"fast": 26, "slow": 12, "signal": 9}, _macd(26, 12, 9)),  # swapped
    ("macd_9_9_3", MACD, {"fast": 9, "slow": 9, "signal": 3}, _macd(9, 9, 3)),  # a zero line
    ("roc1", ROC, {"window": 1}, _one(talib.ROC, 1)),
    ("roc10", ROC, {"window": 10}, _one(talib.ROC, 10)),
    ("roc_long", ROC, {"window": 5000}, _one(talib.ROC, 5000)),  # longer than the data
    ("mom1", MOM, {"window": 1}, _one(talib.MOM, 1)),
    ("mom10", MOM, {"window": 10}, _one(talib.MOM, 10)),
    ("mom_long", MOM, {"window": 5000}, _one(talib.MOM, 5000)),
]
case_params = pytest.mark.parametrize(
    ("op", "params", "reference"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
# through Cerebro (the kernel tests below take every case)
FORM_CASES = ["macd", "macd_26_12_9", "roc1", "roc10", "roc_long", "mom10", "mom_long"]
form_case_params = pytest.mark.parametrize(
    ("op", "params", "reference"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES if c[0] in FORM_CASES],
)


dataset = dataset_fixture()


# -- every form, every output equals TA-Lib ------------------------------------------------
@form_case_params
def test_equals_talib_in_every_form(
    dataset: tuple[str, pd.DataFrame], op: Any, params: dict[str, Any], reference: Reference
) -> None:
    name, df = dataset
    want = reference(df["close"].to_numpy())
    # ROC and MOM are one TA-Lib operation in SQL too; MACD is a kernel
    inexact = ("relational",) if op is MACD else ()
    what = f"{op.short}{params} on {name}"
    assert_forms_match(op, df, ("close",), params, want, what, exact=True, inexact_forms=inexact)


def test_rowwise_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:250]
    close = df["close"].to_numpy()
    for op, params, reference in [
        (MACD, {"fast": 5, "slow": 12, "signal": 4}, _macd(5, 12, 4)),
        (ROC, {"window": 3}, _one(talib.ROC, 3)),
        (MOM, {"window": 3}, _one(talib.MOM, 3)),
    ]:
        want = reference(close)
        assert_forms_match(
            op, df, ("close",), params, want, op.short, exact=True, forms=ROWWISE_ONLY
        )


def test_macd_of_an_indicator() -> None:
    # RSI's 14 leading nulls, which TA-Lib's wrapper skips
    df = gapped_bars(1500)
    want = _macd(12, 26, 9)(talib.RSI(df["close"].to_numpy(), 14))

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        macd = cb.add_indicator(MACD, cb.add_indicator(sb.ind.rsi, data["close"], window=14))
        return {o: macd[o] for o in MACD.outputs}

    for form, got in run_graph(build, df).items():
        for output in MACD.outputs:
            assert_same(got[output], want[output], f"macd of rsi [{output}], {form}")


def test_roc_and_mom_of_an_indicator() -> None:
    # MOM(1) of the gapped bars is 0 on their flat stretch and changes sign: ROC of it
    # meets zero denominators (TA-Lib's 0.0) in every form; both on top of a MACD line
    # that starts after 25 nulls
    df = gapped_bars()
    close = df["close"].to_numpy()
    mom = talib.MOM(close, 1)
    line = talib.MACD(close)[0]
    want = {
        "roc_of_mom": talib.ROC(mom, 1),
        "mom_of_roc": talib.MOM(talib.ROC(close, 2), 3),
        "roc_of_macd": talib.ROC(line, 5),
        "mom_of_macd": talib.MOM(line, 5),
    }
    assert (mom[1000:1020] == 0.0).all() and np.isin(want["roc_of_mom"][1001:1021], 0.0).any()

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        m = cb.add_indicator(MOM, data["close"], window=1)
        macd = cb.add_indicator(MACD, data["close"])
        return {
            "roc_of_mom": cb.add_indicator(ROC, m, window=1),
            "mom_of_roc": cb.add_indicator(
                MOM, cb.add_indicator(ROC, data["close"], window=2), window=3
            ),
            "roc_of_macd": cb.add_indicator(ROC, macd["macd"], window=5),
            "mom_of_macd": cb.add_indicator(MOM, macd["macd"], window=5),
        }

    for form, got in run_graph(build, df).items():
        for name, values in got.items():
            assert np.array_equal(values, want[name], equal_nan=True), (form, name)


# -- the kernels: TA-Lib's bits on awkward series ----------------------------------------
SERIES = awkward_series()  # "spiky" has zero denominators for ROC


@case_params
@pytest.mark.parametrize("series", list(SERIES))
def test_kernel_bits_equal_talib(
    op: Any, params: dict[str, Any], reference: Reference, series: str
) -> None:
    x = SERIES[series]
    assert_bits(step_once(op_kernel(op, params), {"x": x}), reference(x))


@case_params
def test_kernel_chunk_invariance(op: Any, params: dict[str, Any], reference: Reference) -> None:
    x = with_nans(SERIES["spiky"][:1500], leading=5, inside=(700,))
    assert_chunk_invariant(op_kernel(op, params), {"x": x}, seed=23)


def kernel_outputs() -> dict[str, np.ndarray]:
    """Every case's kernel on one awkward series; run with and without the JIT and compared."""
    x = with_nans(SERIES["spiky"][:1300], leading=3, inside=(600,))
    kernels = ((cid, op_kernel(op, params)) for cid, op, params, _ in CASES)
    return outputs_by_case(kernels, lambda _: {"x": x}, (100, 101, 700))


def test_kernels_compiled_equal_interpreted(tmp_path: Path) -> None:
    assert_compiled_equals_interpreted(kernel_outputs, tmp_path)


def test_edge_values_on_a_small_series() -> None:
    x = np.array([0.0, 2.0, 3.0, -3.0, 1.5])
    roc = KERNELS["RateOfChange"](window=1)
    got = roc.step(roc.init(), {"x": x})[1]["value"]
    # 0 where the old value is 0 (TA-Lib's rule), then plain percent changes
    np.testing.assert_array_equal(got, [np.nan, 0.0, 50.0, -200.0, -150.0])
    mom = KERNELS["Momentum"](window=2)
    np.testing.assert_array_equal(
        mom.step(mom.init(), {"x": x})[1]["value"], [np.nan, np.nan, 3.0, -5.0, -1.5]
    )
    # MACD(2, 3, 1): the signal line of period 1 is the MACD line itself
    macd = KERNELS["MovingAverageConvergenceDivergence"](fast=2, slow=3, signal=1)
    out = macd.step(macd.init(), {"x": np.array([1.0, 2.0, 4.0, 8.0, 8.0])})[1]
    np.testing.assert_allclose(
        out["macd"], [np.nan, np.nan, 3 - 7 / 3, 19 / 3 - 31 / 6, 67 / 9 - 79 / 12]
    )
    np.testing.assert_array_equal(out["signal"], out["macd"])
    np.testing.assert_array_equal(out["hist"][2:], 0.0)


# -- placement, public names, errors ---------------------------------------------------------
@pytest.mark.parametrize(("op", "relational"), [(MACD, False), (ROC, True), (MOM, True)])
def test_placement_on_duckdb(op: Any, relational: bool) -> None:
    # fails if the lowering family "momentum" is not registered in compile/lowering FAMILIES
    assert get_backend("duckdb").support(op, "batch").ok is relational


def test_public_names() -> None:
    assert sb.ind.macd is MACD
    assert sb.ind.roc is ROC
    assert sb.ind.mom is MOM


BAD_PARAMS: list[tuple[Any, dict[str, Any], str, str]] = [
    (ROC, {"window": 0}, "window", "pass window >= 1"),
    (ROC, {"window": -1}, "window", "pass window >= 1"),
    (ROC, {}, "window", "pass window >= 1"),
    (MOM, {"window": 0}, "window", "pass window >= 1"),
    (MOM, {"window": 1.5}, "window", "pass window >= 1"),
    (MOM, {"window": "3"}, "window", "pass window >= 1"),
    (MACD, {"fast": 1}, "fast", "pass fast >= 2"),
    (MACD, {"fast": -12}, "fast", "pass fast >= 2"),
    (MACD, {"slow": 0}, "slow", "pass slow >= 2"),
    (MACD, {"slow": 26.5}, "slow", "pass slow >= 2"),
    (MACD, {"signal": 0}, "signal", "pass signal >= 1"),
    (MACD, {"signal": True}, "signal", "pass signal >= 1"),
    (MACD, {"window": 14}, "window", "macd takes fast, signal, slow"),
]


@pytest.mark.parametrize(
    ("op", "params", "name", "fix"),
    [pytest.param(*c, id=f"{c[0].short}-{c[1]}") for c in BAD_PARAMS],
)
def test_bad_parameters(op: Any, params: dict[str, Any], name: str, fix: str) -> None:
    assert_rejects_params(op, "close", params, name, fix)


@pytest.mark.parametrize("op", [MACD, ROC, MOM], ids=lambda op: op.short)
def test_wrong_input_kind(op: Any) -> None:
    cb, data = small_graph()
    params = {} if op is MACD else {"window": 3}
    assert_rejects_input(op, "data", r"pass one field, e.g. data\['close'\]", **params)
    macd = cb.add_indicator(MACD, data["close"])
    with pytest.raises(sb.InvalidInputError, match=rf"^{op.short}\(.*pick one, e.g. ref\['macd'\]"):
        cb.add_indicator(op, macd, **params)
    with pytest.raises(
        sb.InvalidInputError, match="has no output 'line'; its outputs are macd, signal, hist"
    ):
        macd["line"]
