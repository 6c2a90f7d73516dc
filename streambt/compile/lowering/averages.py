"""Ibis lowering of moving averages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

if TYPE_CHECKING:
    from . import IbisLowering


def visit_SimpleMovingAverage(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    return {"value": lw.full(a["x"], w, n, a["x"].mean().over(w))}
