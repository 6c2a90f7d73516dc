"""Ibis lowering of signals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from .common import NULL

if TYPE_CHECKING:
    from . import IbisLowering


def visit_Cross(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    w = lw.ordered(t)
    x, y = a["a"], a["b"]
    px, py = x.lag().over(w), y.lag().over(w)
    up = (px < py) & (x > y)
    down = (px > py) & (x < y)
    value = ibis.cases((up, 1.0), (down, -1.0), else_=0.0)
    missing = x.isnull() | y.isnull() | px.isnull() | py.isnull()
    return {"value": ibis.ifelse(missing, NULL, value)}
