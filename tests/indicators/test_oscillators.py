"""Oscillators (CCI, WILLR, STOCH, STOCHRSI, AROON, MFI) equal to TA-Lib in every form.

Every case runs through ``Cerebro.run`` in each form (relational where the op
has an Ibis lowering, kernels, stream) on the real and the gapped bars, and
is compared with TA-Lib (rtol 1e-9, same nulls); the kernels alone give
TA-Lib's exact values. MFI also runs on bars with a stretch of zero volume
(and its kernel with missing volumes, which feeds reject). Then: the
installed TA-Lib's relative flat-window tolerance, chunk-invariance,
compiled == interpreted, an indicator of an indicator, row-by-row streaming,
placement, public names and parameter errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.oscillators  # registers the kernels
from streambt.backends import get_backend
from streambt.kernels.base import Kernel
from streambt.kernels.oscillators import (
    AroonKernel,
    CommodityChannelIndexKernel,
    MoneyFlowIndexKernel,
    StochasticKernel,
    StochasticRSIKernel,
    WilliamsRKernel,
)
from streambt.ops.oscillators import (
    Aroon,
    CommodityChannelIndex,
    MoneyFlowIndex,
    Stochastic,
    StochasticRSI,
    WilliamsR,
)
from tests.indicators.harness import (
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    assert_same,
    bars,
    dataset_fixture,
    gapped_bars,
    run_graph,
)
from tests.indicators.kernel_checks import (
    assert_bits,
    assert_chunk_invariant,
    assert_compiled_equals_interpreted,
    exact_needs_08,
    kernel_cols,
    nan_bars,
    op_kernel,
    outputs_by_case,
    step_once,
)

talib = pytest.importorskip("talib")

Bars = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]
SMA = talib.MA_Type.SMA


def _cci(n: int) -> Callable[[Bars], Outputs]:
    return lambda b: {"value": talib.CCI(b["high"], b["low"], b["close"], n)}


def _willr(n: int) -> Callable[[Bars], Outputs]:
    return lambda b: {"value": talib.WILLR(b["high"], b["low"], b["close"], n)}


def _stoch(fk: int, sk: int, sd: int) -> Callable[[Bars], Outputs]:
    def ref(b: Bars) -> Outputs:
        k, d = talib.STOCH(b["high"], b["low"], b["close"], fk, sk, SMA, sd, SMA)
        return {"k": k, "d": d}

    return ref


def _stochrsi(n: int, fk: int, fd: int) -> Callable[[Bars], Outputs]:
    def ref(b: Bars) -> Outputs:
        k, d = talib.STOCHRSI(b["close"], n, fk, fd, SMA)
        return {"k": k, "d": d}

    return ref


def _aroon(n: int) -> Callable[[Bars], Outputs]:
    def ref(b: Bars) -> Outputs:
        down, up = talib.AROON(b["high"], b["low"], n)
        return {"up": up, "down": down}

    return ref


def _mfi(n: int) -> Callable[[Bars], Outputs]:
    return lambda b: {"value": talib.MFI(b["high"], b["low"], b["close"], b["volume"], n)}


# (case id, op, run_forms inputs, params, TA-Lib on the bars)
CASES: list[tuple[str, Any, Any, dict[str, Any], Callable[[Bars], Outputs]]] = [
    ("cci", CommodityChannelIndex, "data", {}, _cci(14)),
    ("cci2", CommodityChannelIndex, "data", {"window": 2}, _cci(2)),
    ("cci40", CommodityChannelIndex, "data", {"window": 40}, _cci(40)),
    ("willr", WilliamsR, "data", {}, _willr(14)),
    ("willr2", WilliamsR, "data", {"window": 2}, _willr(2)),
    ("willr40", WilliamsR, "data", {"window": 40}, _willr(40)),
    ("stoch", Stochastic, "data", {}, _stoch(5, 3, 3)),
    ("stoch14", Stochastic, "data", {"fastk": 14, "slowk": 3, "slowd": 3}, _stoch(14, 3, 3)),
    ("stoch1_1_1", Stochastic, "data", {"fastk": 1, "slowk": 1, "slowd": 1}, _stoch(1, 1, 1)),
    ("stoch3_1_2", Stochastic, "data", {"fastk": 3, "slowk": 1, "slowd": 2}, _stoch(3, 1, 2)),
    ("stoch21_5_4", Stochastic, "data", {"fastk": 21, "slowk": 5, "slowd": 4}, _stoch(21, 5, 4)),
    ("stochrsi", StochasticRSI, ("close",), {}, _stochrsi(14, 5, 3)),
    (
        "stochrsi14_14_3",
        StochasticRSI,
        ("close",),
        {"window": 14, "fastk": 14, "fastd": 3},
        _stochrsi(14, 14, 3),
    ),
    (
        "stochrsi2_1_1",
        StochasticRSI,
        ("close",),
        {"window": 2, "fastk": 1, "fastd": 1},
        _stochrsi(2, 1, 1),
    ),
    ("aroon", Aroon, "data", {}, _aroon(14)),
    ("aroon2", Aroon, "data", {"window": 2}, _aroon(2)),
    ("aroon25", Aroon, "data", {"window": 25}, _aroon(25)),
    ("mfi", MoneyFlowIndex, "data", {}, _mfi(14)),
    ("mfi2", MoneyFlowIndex, "data", {"window": 2}, _mfi(2)),
    ("mfi60", MoneyFlowIndex, "data", {"window": 60}, _mfi(60)),
    # a window longer than the data: null throughout
    ("cci_long", CommodityChannelIndex, "data", {"window": 5000}, _cci(5000)),
    ("willr_long", WilliamsR, "data", {"window": 5000}, _willr(5000)),
    ("aroon_long", Aroon, "data", {"window": 5000}, _aroon(5000)),
    ("mfi_long", MoneyFlowIndex, "data", {"window": 5000}, _mfi(5000)),
]

MISSING_LATE = 2800
ZERO_VOLUME = slice(500, 560)


def quiet_bars(missing: bool = False) -> pd.DataFrame:
    """Gapped bars with zero volume for 60 bars; ``missing``: also NaN volumes (kernels only:
    feeds reject them), the first three and one late in the series."""
    df = gapped_bars()
    df.loc[ZERO_VOLUME.start : ZERO_VOLUME.stop - 1, "volume"] = 0.0
    if missing:
        df.loc[:2, "volume"] = np.nan
        df.loc[MISSING_LATE, "volume"] = np.nan
    return df


dataset = dataset_fixture()


@pytest.mark.parametrize(
    ("op", "inputs", "params", "ref"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
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


@pytest.mark.parametrize("window", [2, 14, 60])
def test_mfi_on_zero_volume(window: int) -> None:
    df = quiet_bars()
    want = _mfi(window)(bars(df))["value"]
    # a full window without volume is 0, and the sums restart from exactly 0
    assert (want[ZERO_VOLUME.start + window : ZERO_VOLUME.stop] == 0.0).all()
    assert_forms_match(MoneyFlowIndex, df, "data", {"window": window}, want, "mfi on quiet")


@exact_needs_08
@pytest.mark.parametrize(
    ("op", "params", "ref"), [pytest.param(*c[1:2], *c[3:], id=c[0]) for c in CASES]
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


@exact_needs_08
def test_near_flat_window_counts_as_flat() -> None:
    # The installed TA-Lib treats |hh - ll| <= 1e-14 * (|hh| + |ll|) as a flat
    # window (value 0), as it does CCI's numerator and mean deviation against
    # 1e-14 * |mean|; a 1-ulp range would otherwise give -50 or 50, not 0.
    p = 100.0
    q = np.nextafter(p, 200.0)
    high = np.array([q, q, q, q, q])
    low = np.array([p, p, p, p, p])
    close = np.array([p, q, p, q, p])
    b = {"high": high, "low": low, "close": close}
    assert (talib.WILLR(high, low, close, 2)[1:] == 0.0).all()
    assert (talib.STOCHF(high, low, close, 2, 1, SMA)[0][1:] == 0.0).all()
    assert (talib.CCI(high, low, close, 2)[1:] == 0.0).all()
    for kernel in (
        WilliamsRKernel(window=2),
        StochasticKernel(fastk=2, slowk=1, slowd=1),
        CommodityChannelIndexKernel(window=2),
    ):
        out = step_once(kernel, b)
        assert (out[kernel.outputs[0]][1:] == 0.0).all(), type(kernel).__name__


@exact_needs_08
@pytest.mark.parametrize("window", [2, 14, 60])
def test_mfi_kernel_with_missing_volumes(window: int) -> None:
    b = bars(quiet_bars(missing=True))
    want = _mfi(window)(b)["value"]
    # TA-Lib starts after the missing first volumes; the late one leaves NaN sums for good
    assert np.isnan(want[: 3 + window]).all() and not np.isnan(want[3 + window])
    assert np.isnan(want[MISSING_LATE:]).all()
    kernel = MoneyFlowIndexKernel(window=window)
    assert_bits(step_once(kernel, kernel_cols(kernel, b)), want)


def test_aroon_ties_go_to_the_latest_bar() -> None:
    high = np.array([5.0, 5.0, 5.0, 4.0, 5.0, 3.0])
    low = np.array([1.0, 2.0, 1.0, 2.0, 3.0, 3.0])
    down, up = talib.AROON(high, low, 2)
    kernel = AroonKernel(window=2)
    got = step_once(kernel, {"high": high, "low": low})
    np.testing.assert_array_equal(got["up"], up)
    np.testing.assert_array_equal(got["down"], down)
    np.testing.assert_array_equal(up[2:], [100.0, 50.0, 100.0, 50.0])


# -- an indicator of an indicator: leading nulls ----------------------------------------
def test_stochrsi_of_ema() -> None:
    # the upstream is a kernel in every form, so it is TA-Lib's to the bit: a
    # stochastic reads near-flat windows, where an upstream that is only within
    # rtol (an SQL mean) moves a 0 to 1e-13
    df = gapped_bars(1500)
    ema = talib.EMA(df["close"].to_numpy(), 10)
    k, d = talib.STOCHRSI(ema, 14, 5, 3, SMA)

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        avg = cb.add_indicator(sb.ind.ema, data["close"], window=10)
        srsi = cb.add_indicator(StochasticRSI, avg)
        return {"ema": avg, "k": srsi["k"], "d": srsi["d"]}

    for form, got in run_graph(build, df).items():
        assert_same(got["ema"], ema, f"ema, {form}")
        assert_same(got["k"], k, f"stochrsi k of ema, {form}")
        assert_same(got["d"], d, f"stochrsi d of ema, {form}")


def test_row_by_row_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:200].reset_index(drop=True)
    b = bars(df)
    for cid, op, inputs, params, ref in CASES:
        if cid.endswith("_long"):
            continue
        assert_forms_match(op, df, inputs, params, ref(b), f"{cid} row by row", forms=ROWWISE_ONLY)


# -- the kernels: chunk-invariance and compiled == interpreted --------------------------
KERNEL_CASES: list[tuple[str, type[Kernel], dict[str, Any]]] = [
    ("cci2", CommodityChannelIndexKernel, {"window": 2}),
    ("cci14", CommodityChannelIndexKernel, {"window": 14}),
    ("willr14", WilliamsRKernel, {"window": 14}),
    ("willr40", WilliamsRKernel, {"window": 40}),
    ("stoch5_3_3", StochasticKernel, {"fastk": 5, "slowk": 3, "slowd": 3}),
    ("stoch3_1_2", StochasticKernel, {"fastk": 3, "slowk": 1, "slowd": 2}),
    ("stochrsi14_5_3", StochasticRSIKernel, {"window": 14, "fastk": 5, "fastd": 3}),
    ("stochrsi2_1_1", StochasticRSIKernel, {"window": 2, "fastk": 1, "fastd": 1}),
    ("aroon2", AroonKernel, {"window": 2}),
    ("aroon14", AroonKernel, {"window": 14}),
    ("mfi2", MoneyFlowIndexKernel, {"window": 2}),
    ("mfi14", MoneyFlowIndexKernel, {"window": 14}),
]


def _series_cols(kernel: Kernel) -> dict[str, np.ndarray]:
    """Leading NaNs, NaNs inside, a flat stretch and zero volume."""
    b = nan_bars()
    b["volume"][300:340] = 0.0
    b["volume"][1200] = np.nan
    return kernel_cols(kernel, b)


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
        (WilliamsR, True),
        (CommodityChannelIndex, False),
        (Stochastic, False),
        (StochasticRSI, False),
        (Aroon, False),
        (MoneyFlowIndex, False),
    ],
)
def test_placement_on_duckdb(op: Any, relational: bool) -> None:
    assert get_backend("duckdb").support(op, "batch").ok is relational


def test_public_names() -> None:
    assert sb.ind.cci is CommodityChannelIndex
    assert sb.ind.willr is WilliamsR
    assert sb.ind.stoch is Stochastic
    assert sb.ind.stochrsi is StochasticRSI
    assert sb.ind.aroon is Aroon
    assert sb.ind.mfi is MoneyFlowIndex


def test_outputs_by_name() -> None:
    df = gapped_bars().iloc[:100]
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    st = cb.add_indicator(Stochastic, data)
    ar = cb.add_indicator(Aroon, data, window=5)
    res = cb.run()
    b = bars(df)
    assert_same(res.values(st["d"]), _stoch(5, 3, 3)(b)["d"], "stoch d")
    assert_same(res.values(ar["up"]), _aroon(5)(b)["up"], "aroon up")
    with pytest.raises(sb.InvalidInputError, match="its outputs are k, d"):
        st["slowk"]


BAD_PARAMS = [
    (CommodityChannelIndex, "data", {"window": 1}, "window >= 2"),
    (CommodityChannelIndex, "data", {"window": 0}, "window >= 2"),
    (WilliamsR, "data", {"window": -14}, "window >= 2"),
    (WilliamsR, "data", {"window": "14"}, "window >= 2"),
    (Stochastic, "data", {"fastk": 0}, "fastk >= 1"),
    (Stochastic, "data", {"slowk": -1}, "slowk >= 1"),
    (Stochastic, "data", {"slowd": 2.5}, "slowd >= 1"),
    (Stochastic, "data", {"window": 5}, "stoch takes fastk, slowd, slowk"),
    (StochasticRSI, "close", {"window": 1}, "window >= 2"),
    (StochasticRSI, "close", {"fastk": 0}, "fastk >= 1"),
    (StochasticRSI, "close", {"fastd": True}, "fastd >= 1"),
    (Aroon, "data", {"window": 1}, "window >= 2"),
    (MoneyFlowIndex, "data", {"window": 0}, "window >= 2"),
]


@pytest.mark.parametrize(("op", "arg", "params", "fix"), BAD_PARAMS)
def test_bad_parameters(op: Any, arg: str, params: dict[str, Any], fix: str) -> None:
    assert_rejects_params(op, arg, params, list(params)[-1], fix)


@pytest.mark.parametrize(
    ("op", "arg", "fix"),
    [
        (WilliamsR, "close", "pass the data ref"),
        (StochasticRSI, "data", "pass one field"),
    ],
)
def test_wrong_input_kind(op: Any, arg: str, fix: str) -> None:
    assert_rejects_input(op, arg, fix)


@pytest.mark.parametrize("op", [CommodityChannelIndex, Stochastic, Aroon, MoneyFlowIndex])
def test_indicator_where_data_is_expected(op: Any) -> None:
    assert_rejects_input(op, "sma", "pass the data ref")


@pytest.mark.parametrize(
    ("cls", "params", "name", "minimum"),
    [
        (CommodityChannelIndexKernel, {"window": 1}, "window", 2),
        (WilliamsRKernel, {"window": 0}, "window", 2),
        (StochasticKernel, {"fastk": 0}, "fastk", 1),
        (StochasticRSIKernel, {"window": 14, "fastd": 0}, "fastd", 1),
        (AroonKernel, {"window": 1}, "window", 2),
        (MoneyFlowIndexKernel, {"window": -2}, "window", 2),
    ],
)
def test_kernel_rejects_bad_parameters(
    cls: type[Kernel], params: dict[str, Any], name: str, minimum: int
) -> None:
    with pytest.raises(sb.InvalidParameterError, match=rf"{name} must be an integer >= {minimum}"):
        cls(**params)
