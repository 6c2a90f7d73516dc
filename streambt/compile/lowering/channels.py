"""Ibis lowering of price channels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

if TYPE_CHECKING:
    from . import IbisLowering


def visit_DonchianChannel(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    high, low = a["high"], a["low"]
    return {
        "upper": lw.full(high, w, n, high.max().over(w)),
        "lower": lw.full(low, w, n, low.min().over(w)),
    }
