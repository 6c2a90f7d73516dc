"""Ibis lowering of moving averages.

EMA, DEMA, TEMA and KAMA are recursive and have none. TRIMA has none either:
TA-Lib carries its weighted sum from row to row and never rebuilds it, so its
values drift from the exact average by up to ~1e-8 relative over a million
rows (measured), more than the 1e-9 the forms must agree to; the kernel
reproduces that drift bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def visit_WeightedMovingAverage(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    # sum(weight * lag), weights 1 (oldest) .. n: every term is positive for
    # positive prices, so nothing cancels and the value agrees with TA-Lib's
    # re-anchored running sums to ~1e-13. The usual window form,
    # sum(x * row_number) - (row_number - n) * sum(x), cancels ~log10(rows)
    # digits, and a row number inside a window sum is a nested window, which
    # SQL rejects. The price: one lag per row of the window.
    n = int(p["window"])
    x = a["x"]
    order = lw.ordered(t)
    terms = [(x if k == 0 else x.lag(k).over(order)) * float(n - k) for k in range(n - 1, -1, -1)]
    value = _balanced_sum(terms) / (float(n) * (n + 1) / 2.0)
    return {"value": lw.full(x, lw.rows(t, n), n, value)}


def _balanced_sum(terms: Sequence[ir.Value]) -> ir.Value:
    """``terms[0] + ... + terms[-1]`` as a tree of depth log2(len): a long chain
    of additions overflows the recursion of the SQL generators and parsers."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return _balanced_sum(terms[:half]) + _balanced_sum(terms[half:])
