"""Ibis lowering of volatility measures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from .common import NULL

if TYPE_CHECKING:
    from . import IbisLowering


def visit_StandardDeviation(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    std = a["x"].std(how="pop").over(w) * float(p["nbdev"])
    return {"value": lw.full(a["x"], w, n, std)}


def visit_TrueRange(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    high, low = a["high"], a["low"]
    prev = a["close"].lag(1).over(lw.ordered(t))
    # a max is exact, so GREATEST gives TA-Lib's value; it skips nulls, hence the check
    g = ibis.greatest(high - low, (prev - high).abs(), (prev - low).abs())
    return {"value": ibis.ifelse(prev.isnull(), NULL, g)}


def visit_BollingerBands(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    x = a["x"]
    middle = x.mean().over(w)
    d = x.std(how="pop").over(w) * float(p["nbdev"])
    return {
        "upper": lw.full(x, w, n, middle + d),
        "middle": lw.full(x, w, n, middle),
        "lower": lw.full(x, w, n, middle - d),
    }
