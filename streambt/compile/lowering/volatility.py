"""Ibis lowering of volatility measures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

if TYPE_CHECKING:
    from . import IbisLowering


def visit_StandardDeviation(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    std = a["x"].std(how="pop").over(w) * float(p["nbdev"])
    return {"value": lw.full(a["x"], w, n, std)}
