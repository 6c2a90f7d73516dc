"""Volatility indicators (TRANGE, ATR, NATR, BBANDS) equal to TA-Lib in every form.

Every case runs through ``Cerebro.run`` in each form (relational where the op
has an Ibis lowering, kernels, stream) on the real and the gapped bars, and
is compared with TA-Lib (rtol 1e-9, same nulls); the kernels alone give
TA-Lib's exact values. Then: chunk-invariance, compiled == interpreted, an
indicator of an indicator (leading nulls), row-by-row streaming, placement,
public names and parameter errors.

TA-Lib chooses its ATR/NATR machine code by CPU when it loads (an FMA build
and a plain one); the kernels mirror the FMA build, so the exact-value test
of those two needs a CPU with FMA and TA-Lib C 0.8.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.volatility  # registers the kernels
from streambt.backends import get_backend
from streambt.kernels.base import Kernel
from streambt.kernels.volatility import (
    AverageTrueRangeKernel,
    BollingerBandsKernel,
    NormalizedAverageTrueRangeKernel,
    TrueRangeKernel,
)
from streambt.ops.volatility import (
    AverageTrueRange,
    BollingerBands,
    NormalizedAverageTrueRange,
    TrueRange,
)
from tests.indicators.harness import (
    FORMS,
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    assert_same,
    bars,
    dataset_fixture,
    gapped_bars,
    run_forms,
    run_graph,
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
Outputs = dict[str, np.ndarray]


def _hlc(fn: Callable[..., np.ndarray], *args: Any) -> Callable[[Bars], Outputs]:
    return lambda b: {"value": fn(b["high"], b["low"], b["close"], *args)}


def _bbands(window: int, nbdev: float) -> Callable[[Bars], Outputs]:
    def ref(b: Bars) -> Outputs:
        up, mid, lo = talib.BBANDS(b["close"], window, nbdev, nbdev, talib.MA_Type.SMA)
        return {"upper": up, "middle": mid, "lower": lo}

    return ref


# (case id, op, run_forms inputs, params, TA-Lib on the bars, needs the FMA build)
CASES: list[tuple[str, Any, Any, dict[str, Any], Callable[[Bars], Outputs], bool]] = [
    ("trange", TrueRange, "data", {}, _hlc(talib.TRANGE), False),
    ("atr", AverageTrueRange, "data", {}, _hlc(talib.ATR, 14), True),
    ("atr1", AverageTrueRange, "data", {"window": 1}, _hlc(talib.ATR, 1), True),
    ("atr2", AverageTrueRange, "data", {"window": 2}, _hlc(talib.ATR, 2), True),
    ("atr50", AverageTrueRange, "data", {"window": 50}, _hlc(talib.ATR, 50), True),
    ("natr", NormalizedAverageTrueRange, "data", {}, _hlc(talib.NATR, 14), True),
    # TA-Lib's NATR(1) is the true range, not normalized
    ("natr1", NormalizedAverageTrueRange, "data", {"window": 1}, _hlc(talib.NATR, 1), True),
    ("natr5", NormalizedAverageTrueRange, "data", {"window": 5}, _hlc(talib.NATR, 5), True),
    ("bbands", BollingerBands, ("close",), {}, _bbands(20, 2.0), False),
    (
        "bbands5_1p5",
        BollingerBands,
        ("close",),
        {"window": 5, "nbdev": 1.5},
        _bbands(5, 1.5),
        False,
    ),
    ("bbands2_1", BollingerBands, ("close",), {"window": 2, "nbdev": 1.0}, _bbands(2, 1.0), False),
    (
        "bbands30_0",
        BollingerBands,
        ("close",),
        {"window": 30, "nbdev": 0.0},
        _bbands(30, 0.0),
        False,
    ),
    # a window longer than the data: null throughout
    ("atr_long", AverageTrueRange, "data", {"window": 5000}, _hlc(talib.ATR, 5000), True),
    ("bbands_long", BollingerBands, ("close",), {"window": 5000}, _bbands(5000, 2.0), False),
]


dataset = dataset_fixture()


@pytest.mark.parametrize(
    ("op", "inputs", "params", "ref"), [pytest.param(*c[1:5], id=c[0]) for c in CASES]
)
def test_equals_talib_in_every_form(
    dataset: tuple[str, pd.DataFrame],
    op: Any,
    inputs: Any,
    params: dict[str, Any],
    ref: Callable[[Bars], Outputs],
) -> None:
    name, df = dataset
    assert_forms_match(op, df, inputs, params, ref(bars(df)), f"{op.short}{params} on {name}")


@pytest.mark.parametrize(
    ("op", "params", "ref"),
    [
        pytest.param(c[1], c[3], c[4], id=c[0], marks=exact_needs_fma if c[5] else exact_needs_08)
        for c in CASES
    ],
)
def test_kernel_gives_talibs_exact_values(
    dataset: tuple[str, pd.DataFrame],
    op: Any,
    params: dict[str, Any],
    ref: Callable[[Bars], Outputs],
) -> None:
    _, df = dataset
    b = bars(df)
    kernel = op_kernel(op, params)
    assert_bits(step_once(kernel, kernel_cols(kernel, b)), ref(b))


def test_bbands_are_talibs_sma_and_stddev() -> None:
    # what the installed TA-Lib computes (not the C source's inline sum of squares)
    x = gapped_bars()["close"].to_numpy()
    up, mid, lo = talib.BBANDS(x, 20, 2.0, 2.0, talib.MA_Type.SMA)
    d = talib.STDDEV(x, 20, 1.0) * 2.0
    assert np.array_equal(mid, talib.SMA(x, 20), equal_nan=True)
    assert np.array_equal(up, mid + d, equal_nan=True)
    assert np.array_equal(lo, mid - d, equal_nan=True)


def test_flat_stretch() -> None:
    df = gapped_bars()
    got = run_forms(TrueRange, df, "data", {})
    bb = run_forms(BollingerBands, df, ("close",), {"window": 10})
    for form in FORMS:
        # the harness's bars 1000..1019 are one price: no range, no width
        assert (got[form]["value"][1001:1020] == 0.0).all(), form
        upper, lower = bb[form]["upper"][1010:1020], bb[form]["lower"][1010:1020]
        np.testing.assert_allclose(upper, lower, rtol=1e-12, err_msg=form)


# -- an indicator of an indicator: leading nulls ----------------------------------------
def test_bbands_of_rsi() -> None:
    df = gapped_bars(1500)
    rsi = talib.RSI(df["close"].to_numpy(), 14)
    up, mid, lo = talib.BBANDS(rsi, 10, 2.0, 2.0, talib.MA_Type.SMA)
    want = {"upper": up, "middle": mid, "lower": lo}

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        r = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
        bands = cb.add_indicator(BollingerBands, r, window=10)
        return {"rsi": r, **{o: bands[o] for o in BollingerBands.outputs}}

    for form, got in run_graph(build, df).items():
        assert_same(got["rsi"], rsi, f"rsi, {form}")
        for output in BollingerBands.outputs:
            assert_same(got[output], want[output], f"bbands of rsi {output}, {form}")


def test_row_by_row_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:200].reset_index(drop=True)
    b = bars(df)
    for cid, op, inputs, params, ref, _ in CASES:
        if cid.endswith("_long"):
            continue
        assert_forms_match(op, df, inputs, params, ref(b), f"{cid} row by row", forms=ROWWISE_ONLY)


# -- the kernels: chunk-invariance and compiled == interpreted --------------------------
KERNEL_CASES: list[tuple[str, type[Kernel], dict[str, Any]]] = [
    ("trange", TrueRangeKernel, {}),
    ("atr1", AverageTrueRangeKernel, {"window": 1}),
    ("atr14", AverageTrueRangeKernel, {"window": 14}),
    ("natr1", NormalizedAverageTrueRangeKernel, {"window": 1}),
    ("natr14", NormalizedAverageTrueRangeKernel, {"window": 14}),
    ("bbands2", BollingerBandsKernel, {"window": 2, "nbdev": 2.0}),
    ("bbands20", BollingerBandsKernel, {"window": 20, "nbdev": 1.5}),
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
    ("op", "relational"),
    [
        (TrueRange, True),
        (BollingerBands, True),
        (AverageTrueRange, False),
        (NormalizedAverageTrueRange, False),
    ],
)
def test_placement_on_duckdb(op: Any, relational: bool) -> None:
    assert get_backend("duckdb").support(op, "batch").ok is relational


def test_public_names() -> None:
    assert sb.ind.trange is TrueRange
    assert sb.ind.atr is AverageTrueRange
    assert sb.ind.natr is NormalizedAverageTrueRange
    assert sb.ind.bbands is BollingerBands


def test_outputs_by_name() -> None:
    df = gapped_bars().iloc[:100]
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    bb = cb.add_indicator(BollingerBands, data["close"], window=5)
    res = cb.run()
    up, mid, lo = (res.values(bb[o]) for o in ("upper", "middle", "lower"))
    assert (up[4:] >= mid[4:]).all() and (mid[4:] >= lo[4:]).all()
    with pytest.raises(sb.StreambtError, match="upper, middle, lower"):
        bb["width"]


BAD_PARAMS = [
    (AverageTrueRange, "data", {"window": 0}, "window >= 1"),
    (AverageTrueRange, "data", {"window": -3}, "window >= 1"),
    (AverageTrueRange, "data", {"window": 2.5}, "window >= 1"),
    (AverageTrueRange, "data", {"window": True}, "window >= 1"),
    (AverageTrueRange, "data", {"window": 14, "nbdev": 2}, "atr takes window"),
    (NormalizedAverageTrueRange, "data", {"window": 0}, "window >= 1"),
    (TrueRange, "data", {"window": 14}, "trange takes no parameters"),
    (BollingerBands, "close", {"window": 1}, "window >= 2"),
    (BollingerBands, "close", {"window": -20}, "window >= 2"),
    (BollingerBands, "close", {"window": "20"}, "window >= 2"),
    (BollingerBands, "close", {"window": 20, "nbdev": float("nan")}, "nbdev=2.0"),
    (BollingerBands, "close", {"window": 20, "nbdev": "2"}, "nbdev=2.0"),
    (BollingerBands, "close", {"window": 20, "matype": 1}, "bbands takes nbdev, window"),
]


@pytest.mark.parametrize(("op", "arg", "params", "fix"), BAD_PARAMS)
def test_bad_parameters(op: Any, arg: str, params: dict[str, Any], fix: str) -> None:
    assert_rejects_params(op, arg, params, list(params)[-1], fix)


@pytest.mark.parametrize(
    ("op", "arg", "fix"),
    [
        (AverageTrueRange, "close", "pass the data ref"),
        (TrueRange, "close", "pass the data ref"),
        (BollingerBands, "data", "pass one field"),
    ],
)
def test_wrong_input_kind(op: Any, arg: str, fix: str) -> None:
    assert_rejects_input(op, arg, fix)


def test_wrong_input_kind_indicator_for_data() -> None:
    assert_rejects_input(AverageTrueRange, "sma", "pass the data ref")


@pytest.mark.parametrize(
    ("cls", "params", "name", "minimum"),
    [
        (AverageTrueRangeKernel, {"window": 0}, "window", 1),
        (NormalizedAverageTrueRangeKernel, {"window": -1}, "window", 1),
        (BollingerBandsKernel, {"window": 1}, "window", 2),
    ],
)
def test_kernel_rejects_bad_window(
    cls: type[Kernel], params: dict[str, Any], name: str, minimum: int
) -> None:
    with pytest.raises(sb.InvalidParameterError, match=rf"{name} must be an integer >= {minimum}"):
        cls(**params)
