"""Ibis lowering of oscillators.

Only Williams %R has an exact window form (a max, a min and TA-Lib's
arithmetic). The others run as kernels: CCI's mean deviation is around the
current row's mean (no single window aggregate); STOCH smooths a window
result again (a window over a window); Aroon needs the latest row of the
window's maximum, which portable SQL window functions cannot pick; MFI's
running sums and their periodic reset are not a plain windowed sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from . import IbisLowering

#: the installed TA-Lib's relative tolerance for a flat window
_FLAT = 1e-14


def visit_WilliamsR(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    n = int(p["window"])
    w = lw.rows(t, n)
    hh = a["high"].max().over(w)
    ll = a["low"].min().over(w)
    span = hh - ll
    flat = (hh.abs() + ll.abs()) * _FLAT >= span.abs()
    # never divide by zero, even in the unused branch: ANSI-mode engines may raise
    v = (hh - a["close"]) / span.nullif(0.0) * -100.0
    value = ibis.cases((flat, 0.0), (v > 0.0, 0.0), (v < -100.0, -100.0), else_=v)
    return {"value": lw.full(a["close"], w, n, value)}
