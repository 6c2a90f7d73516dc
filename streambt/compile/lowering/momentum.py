"""Ibis lowering of momentum measures that are a lag away: ROC and MOM.

Both are one arithmetic step on the value ``window`` rows back, the same
operations as TA-Lib's, so the SQL form gives TA-Lib's bits. RSI and MACD are
recursive and have none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from . import IbisLowering


def _back(lw: IbisLowering, t: ir.Table, x: ir.Column, p: Mapping[str, Any]) -> ir.Value:
    return x.lag(int(p["window"])).over(lw.ordered(t))


def visit_RateOfChange(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    x = a["x"]
    prev = _back(lw, t, x, p)
    # TA-Lib returns 0 where the old value is 0; a null old value fails the
    # test and keeps the row null (TA-Lib's NaN)
    return {"value": ibis.ifelse(prev == 0, 0.0, (x / prev - 1.0) * 100.0)}


def visit_Momentum(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    x = a["x"]
    return {"value": x - _back(lw, t, x, p)}
