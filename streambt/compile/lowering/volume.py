"""Ibis lowering of volume indicators.

OBV, AD and ADOSC are recursive (running totals and EMAs): a cumulative SQL
sum adds in another order, and a total that crosses zero has no relative
error bound, so they run as kernels. VWAP over a window is two window sums
of non-negative terms, which any order adds to within a few ulps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from .common import NULL

if TYPE_CHECKING:
    from . import IbisLowering


def visit_VolumeWeightedAveragePrice(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    volume = a["volume"]
    pv = (a["high"] + a["low"] + a["close"]) / 3.0 * volume
    den = volume.sum().over(w)
    # volumes are >= 0, so the sum is 0 exactly when every volume is 0, in any order
    ok = (pv.count().over(w) >= n) & (den != 0)
    return {"value": ibis.ifelse(ok, pv.sum().over(w) / den, NULL)}
