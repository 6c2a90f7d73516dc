"""One place to run an indicator through every form streambt has and compare.

Forms: ``relational`` (DuckDB batch, the Ibis lowering where the op has one), ``polars``
(its native lowering where it has one),
``kernels`` (DuckDB batch, every node a kernel), ``stream`` (the embedded
stream mode in micro-batches of 97 rows) and ``rowwise`` (micro-batches of one
row, for short inputs). Each form goes through ``Cerebro.run``, so the tests
exercise the public path, not just the kernel class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

import streambt as sb
from tests.helpers import goog_frame

FORMS: dict[str, dict[str, Any]] = {
    "relational": {"mode": "batch"},
    "kernels": {"mode": "batch", "placement": "kernels"},
    "stream": {"mode": "stream", "micro_batch": 97},
    "polars": {"mode": "batch", "backend": "polars"},
}
ROWWISE = {"mode": "stream", "micro_batch": 1}


def gapped_bars(n: int = 3000, seed: int = 9) -> pd.DataFrame:
    """Random-walk OHLCV with price gaps (jumps of +-10 % every ~50 bars) and flat stretches."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.01, n)
    ret[rng.random(n) < 0.02] += rng.choice(
        [-0.1, 0.1], size=int((rng.random(n) < 0.02).sum()) or 1
    )[0]
    close = 50 * np.exp(np.cumsum(ret))
    close[1000:1020] = close[999]  # a flat stretch: zero ranges, zero variance
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    open_[1000:1020] = close[999]
    hi = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    lo = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    hi[1000:1020] = lo[1000:1020] = close[999]
    vol = rng.integers(100, 10_000, n).astype(float)
    ts = pd.date_range("2015-01-01", periods=n, freq="1D", tz="UTC")
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": hi, "low": lo, "close": close, "volume": vol}
    )


DATASETS = {"goog": goog_frame, "gaps": gapped_bars}


def run_forms(
    op: Any,
    df: pd.DataFrame,
    inputs: Sequence[str] | str = ("close",),
    params: Mapping[str, Any] | None = None,
    forms: Mapping[str, Mapping[str, Any]] = FORMS,
) -> dict[str, dict[str, np.ndarray]]:
    """``{form: {output: values}}`` for ``op`` on ``df``.

    ``inputs`` names bar fields ("close", or two for a two-input op) or is
    ``"data"`` for ops that read several fields from the data ref.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for form, options in forms.items():
        cb = sb.Cerebro()
        data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
        args = [data] if inputs == "data" else [data[f] for f in inputs]
        ref = cb.add_indicator(op, *args, **(params or {}))
        opts = dict(options)
        res = cb.run(mode=opts.pop("mode"), **opts)
        outputs = ref.node.op.outputs
        out[form] = (
            {"value": res.values(ref)}
            if len(outputs) == 1
            else {o: res.values(ref[o]) for o in outputs}
        )
    return out


def assert_same(got: np.ndarray, want: np.ndarray, what: str, rtol: float = 1e-9) -> None:
    """Same null mask and values within ``rtol`` (TA-Lib's NaN is streambt's null)."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    gn, wn = np.isnan(got), np.isnan(want)
    if not np.array_equal(gn, wn):
        first = int(np.flatnonzero(gn != wn)[0])
        raise AssertionError(
            f"{what}: null masks differ first at row {first}: got {got[first]}, want {want[first]}"
        )
    np.testing.assert_allclose(got[~gn], want[~wn], rtol=rtol, atol=0, err_msg=what)
