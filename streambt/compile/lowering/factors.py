"""Ibis lowering of the user's factors (definitions in docs/factors.md).

Two factors have none and run as kernels:

- trendiness: its path length is a window sum over a lag, a window function
  inside a window function, which SQL cannot nest in one select;
- zscore: when the window's values differ only in their last bits (e.g. an
  RSI over flat prices), ``(x - mean) / std`` divides rounding noise by
  rounding noise, so a SQL window (another summation order) and the kernel
  give different numbers, not just different last bits. Measured on the
  test data: 0.88 against 1.12 for the same row. One implementation keeps
  every engine on the same bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from .common import NULL

if TYPE_CHECKING:
    from . import IbisLowering


def visit_PriceRange(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    high, low = a["high"], a["low"]
    value = high.max().over(w) - low.min().over(w)
    return {
        "value": ibis.ifelse((high.count().over(w) >= n) & (low.count().over(w) >= n), value, NULL)
    }


def _previous(lw: IbisLowering, t: ir.Table, x: ir.Column, p: Mapping[str, Any]) -> ir.Value:
    return x.lag(int(p["window"])).over(lw.ordered(t))


def visit_Returns(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    x = a["x"]
    prev = _previous(lw, t, x, p)
    return {"value": ibis.ifelse(prev == 0, NULL, x / prev - 1.0)}


def visit_LogReturns(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    x = a["x"]
    prev = _previous(lw, t, x, p)
    ratio = x / prev
    # the guard keeps ln away from 0 and negatives, where engines differ (NaN, -inf, error)
    return {"value": ibis.ifelse((prev != 0) & (ratio > 0), ratio.ln(), NULL)}
