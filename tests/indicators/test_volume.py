"""Volume indicators: OBV, AD, ADOSC equal to TA-Lib; rolling VWAP equal to a loop oracle.

Datasets: the harness's real and gapped bars, and ``quiet`` bars: gapped
bars with zero volume on the first bar and on a stretch of 60 bars (a VWAP
window of zeros is null). Feeds reject missing volumes, so the NaN rules
(TA-Lib starts at the first row where every input is a number, and a NaN
after that stays in its running totals) are checked on the kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.volume  # registers the kernels
from streambt.backends import get_backend
from streambt.kernels.base import Kernel
from streambt.kernels.volume import (
    AccumulationDistributionKernel,
    ChaikinOscillatorKernel,
    OnBalanceVolumeKernel,
    VolumeWeightedAveragePriceKernel,
)
from streambt.ops.volume import (
    AccumulationDistribution,
    ChaikinOscillator,
    OnBalanceVolume,
    VolumeWeightedAveragePrice,
)
from tests.indicators.harness import (
    DATASETS,
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    assert_same,
    bars,
    dataset_fixture,
    gapped_bars,
    run_forms,
)
from tests.indicators.kernel_checks import (
    assert_chunk_invariant,
    assert_compiled_equals_interpreted,
    op_kernel,
    outputs_by_case,
    step_once,
)
from tests.unit._kernel_helpers import feed

talib = pytest.importorskip("talib")

ZERO_VOLUME = slice(500, 560)
MISSING = [0, 1, 2, 2800]  # NaN volumes for the kernel-level checks


def quiet_bars() -> pd.DataFrame:
    df = gapped_bars()
    df.loc[0, "volume"] = 0.0
    df.loc[ZERO_VOLUME.start : ZERO_VOLUME.stop - 1, "volume"] = 0.0
    return df


VOLUME_DATASETS: dict[str, Callable[[], pd.DataFrame]] = {**DATASETS, "quiet": quiet_bars}


def vwap_ref(b: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The definition: sum(tp * v) / sum(v) over the last n bars, each sum exactly rounded."""
    pv = (b["high"] + b["low"] + b["close"]) / 3.0 * b["volume"]
    v = b["volume"]
    out = np.full(v.shape, np.nan)
    for t in range(n - 1, len(v)):
        w_pv, w_v = pv[t - n + 1 : t + 1], v[t - n + 1 : t + 1]
        if np.isnan(w_pv).any():
            continue
        den = math.fsum(w_v)
        if den != 0.0:
            out[t] = math.fsum(w_pv) / den
    return out


def _talib_adosc(fast: int, slow: int) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    return lambda b: talib.ADOSC(b["high"], b["low"], b["close"], b["volume"], fast, slow)


# (case id, op, params, oracle(bars), TA-Lib's, so bit-equal)
CASES: list[
    tuple[str, Any, dict[str, Any], Callable[[Mapping[str, np.ndarray]], np.ndarray], bool]
] = [
    ("obv", OnBalanceVolume, {}, lambda b: talib.OBV(b["close"], b["volume"]), True),
    (
        "ad",
        AccumulationDistribution,
        {},
        lambda b: talib.AD(b["high"], b["low"], b["close"], b["volume"]),
        True,
    ),
    ("adosc", ChaikinOscillator, {}, _talib_adosc(3, 10), True),
    ("adosc2_2", ChaikinOscillator, {"fast": 2, "slow": 2}, _talib_adosc(2, 2), True),
    ("adosc10_3", ChaikinOscillator, {"fast": 10, "slow": 3}, _talib_adosc(10, 3), True),
    ("adosc5_30", ChaikinOscillator, {"fast": 5, "slow": 30}, _talib_adosc(5, 30), True),
    ("adosc_long", ChaikinOscillator, {"fast": 3, "slow": 5000}, _talib_adosc(3, 5000), True),
    *(
        (
            f"vwap{n}",
            VolumeWeightedAveragePrice,
            {"window": n},
            lambda b, n=n: vwap_ref(b, n),
            False,
        )
        for n in (1, 14, 20, 100, 5000)
    ),
]


dataset = dataset_fixture(VOLUME_DATASETS)


@pytest.mark.parametrize(
    ("op", "params", "oracle", "bitwise"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_equals_oracle_in_every_form(
    dataset: tuple[str, pd.DataFrame],
    op: Any,
    params: dict[str, Any],
    oracle: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    bitwise: bool,
) -> None:
    name, df = dataset
    # bitwise: the kernels mirror TA-Lib 0.8's arithmetic
    what = f"{op.short}{params} on {name}"
    assert_forms_match(op, df, "data", params, oracle(bars(df)), what, exact=bitwise)


def test_zero_volume_windows_are_null() -> None:
    df = quiet_bars()
    assert talib.OBV(df["close"].to_numpy(), df["volume"].to_numpy())[0] == 0.0
    vwap = run_forms(VolumeWeightedAveragePrice, df, "data", {"window": 20})
    for form, outs in vwap.items():
        v = outs["value"]
        assert np.isnan(v[:19]).all() and not np.isnan(v[19]), form
        # every volume in the window is 0: null; one nonzero volume is enough for a value
        assert np.isnan(v[ZERO_VOLUME.start + 19 : ZERO_VOLUME.stop]).all(), form
        assert not np.isnan(v[ZERO_VOLUME.start + 18]), form
        assert not np.isnan(v[ZERO_VOLUME.stop]), form


def _with_missing_volume(df: pd.DataFrame) -> dict[str, np.ndarray]:
    b = bars(df)
    b["volume"][MISSING] = np.nan
    return b


@pytest.mark.parametrize(
    ("op", "params", "oracle", "bitwise"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_missing_volume_in_the_kernels(
    op: Any,
    params: dict[str, Any],
    oracle: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    bitwise: bool,
) -> None:
    b = _with_missing_volume(quiet_bars())
    kernel = op_kernel(op, params)
    got = feed(kernel, {r: b[r] for r in kernel.inputs})["value"]
    want = oracle(b)
    assert_same(got, want, f"{op.short}{params} with missing volumes")
    if bitwise:
        assert np.array_equal(got, want, equal_nan=True)


def test_missing_volume_rules() -> None:
    b = _with_missing_volume(quiet_bars())
    obv = feed(OnBalanceVolumeKernel(), {"close": b["close"], "volume": b["volume"]})["value"]
    # TA-Lib skips the leading missing volumes, then a missing volume is NaN for good
    assert np.isnan(obv[:3]).all() and obv[3] == b["volume"][3]
    assert np.isnan(obv[2800:]).all() and not np.isnan(obv[3:2800]).any()
    k = VolumeWeightedAveragePriceKernel(window=20)
    v = feed(k, {r: b[r] for r in k.inputs})["value"]
    # VWAP: null while the missing volume is inside the window, then values again
    assert np.isnan(v[: 3 + 19]).all() and not np.isnan(v[3 + 19])
    assert np.isnan(v[2800 : 2800 + 20]).all() and not np.isnan(v[2800 + 20])


def test_vwap_window_1_is_the_typical_price() -> None:
    df = gapped_bars()
    tp = ((df["high"] + df["low"] + df["close"]) / 3.0).to_numpy()
    got = step_once(VolumeWeightedAveragePriceKernel(window=1), bars(df))["value"]
    assert_same(got, tp, "vwap(1) vs typical price")


def test_vwap_forgets_a_volume_spike() -> None:
    # a running sum in one double keeps the spike's rounding (~0.1 here) after the spike
    # leaves: a relative error of 5e-6 on the windows that follow (measured)
    b = bars(gapped_bars())
    b["volume"][1500] = 1e15
    got = step_once(VolumeWeightedAveragePriceKernel(window=10), b)["value"]
    assert_same(got, vwap_ref(b, 10), "vwap after a volume spike", rtol=1e-13)


def test_row_by_row_stream_through_cerebro() -> None:
    df = quiet_bars().iloc[:250].reset_index(drop=True)
    b = bars(df)
    for op, params, want in [
        (OnBalanceVolume, {}, talib.OBV(b["close"], b["volume"])),
        (ChaikinOscillator, {}, talib.ADOSC(b["high"], b["low"], b["close"], b["volume"])),
        (VolumeWeightedAveragePrice, {"window": 20}, vwap_ref(b, 20)),
    ]:
        assert_forms_match(
            op, df, "data", params, want, f"{op.short} row by row", forms=ROWWISE_ONLY
        )


# -- kernels: chunk-invariance and compiled == interpreted ------------------------------
KERNEL_CASES: list[tuple[str, type[Kernel], dict[str, Any]]] = [
    ("obv", OnBalanceVolumeKernel, {}),
    ("ad", AccumulationDistributionKernel, {}),
    ("adosc", ChaikinOscillatorKernel, {"fast": 3, "slow": 10}),
    ("adosc10_3", ChaikinOscillatorKernel, {"fast": 10, "slow": 3}),
    ("vwap1", VolumeWeightedAveragePriceKernel, {"window": 1}),
    ("vwap20", VolumeWeightedAveragePriceKernel, {"window": 20}),
]


def _cols(kernel: Kernel) -> dict[str, np.ndarray]:
    b = _with_missing_volume(quiet_bars())
    b["volume"][1200] = np.nan  # one more, inside the series
    return {r: b[r][:2000] for r in kernel.inputs}


def kernel_outputs() -> dict[str, np.ndarray]:
    kernels = ((cid, cls(**params)) for cid, cls, params in KERNEL_CASES)
    return outputs_by_case(kernels, _cols)


@pytest.mark.parametrize(("cls", "params"), [pytest.param(*c[1:], id=c[0]) for c in KERNEL_CASES])
def test_kernel_chunk_invariance(cls: type[Kernel], params: dict[str, Any]) -> None:
    kernel = cls(**params)
    assert_chunk_invariant(kernel, _cols(kernel), seed=17)


def test_kernels_compiled_equal_interpreted(tmp_path: Path) -> None:
    assert_compiled_equals_interpreted(kernel_outputs, tmp_path)


# -- placement, public names, errors ---------------------------------------------------
@pytest.mark.parametrize(
    ("op", "relational"),
    [
        (OnBalanceVolume, False),
        (AccumulationDistribution, False),
        (ChaikinOscillator, False),
        (VolumeWeightedAveragePrice, True),
    ],
)
def test_placement_on_duckdb(op: Any, relational: bool) -> None:
    # VWAP's lowering is found only when "volume" is in compile/lowering FAMILIES
    assert get_backend("duckdb").support(op, "batch").ok is relational


def test_public_names() -> None:
    assert sb.ind.obv is OnBalanceVolume
    assert sb.ind.ad is AccumulationDistribution
    assert sb.ind.adosc is ChaikinOscillator
    assert sb.ind.vwap is VolumeWeightedAveragePrice


BAD_PARAMS = [
    (ChaikinOscillator, {"fast": 1}, "fast", "integer >= 2"),
    (ChaikinOscillator, {"fast": 0}, "fast", "integer >= 2"),
    (ChaikinOscillator, {"slow": -10}, "slow", "integer >= 2"),
    (ChaikinOscillator, {"slow": 2.5}, "slow", "integer >= 2"),
    (ChaikinOscillator, {"fastperiod": 3}, "fastperiod", "adosc takes fast, slow"),
    (VolumeWeightedAveragePrice, {"window": 0}, "window", "pass window >= 1"),
    (VolumeWeightedAveragePrice, {"window": -1}, "window", "pass window >= 1"),
    (VolumeWeightedAveragePrice, {"window": True}, "window", "pass window >= 1"),
    (VolumeWeightedAveragePrice, {}, "window", "pass window >= 1"),
    (OnBalanceVolume, {"window": 10}, "window", "obv takes no parameters"),
]


@pytest.mark.parametrize(("op", "params", "name", "fix"), BAD_PARAMS)
def test_bad_parameters(op: Any, params: dict[str, Any], name: str, fix: str) -> None:
    assert_rejects_params(op, "data", params, name, fix)


DATA_OPS = (
    OnBalanceVolume,
    AccumulationDistribution,
    ChaikinOscillator,
    VolumeWeightedAveragePrice,
)
WRONG_INPUT = [
    *(pytest.param(op, "close", id=f"{op.short}-column") for op in DATA_OPS),
    *(pytest.param(op, "sma", id=f"{op.short}-indicator") for op in DATA_OPS),
]


@pytest.mark.parametrize(("op", "arg"), WRONG_INPUT)
def test_wrong_input_kind(op: Any, arg: str) -> None:
    params = {"window": 10} if op is VolumeWeightedAveragePrice else {}
    assert_rejects_input(op, arg, "pass the data ref", **params)


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (ChaikinOscillatorKernel, {"fast": 1, "slow": 10}, "fast must be an integer >= 2"),
        (ChaikinOscillatorKernel, {"fast": 3, "slow": 0}, "slow must be an integer >= 2"),
        (VolumeWeightedAveragePriceKernel, {"window": 0}, "window must be an integer >= 1"),
    ],
)
def test_kernel_rejects_bad_parameters(
    cls: type[Kernel], params: dict[str, Any], message: str
) -> None:
    with pytest.raises(sb.InvalidParameterError, match=message):
        cls(**params)
