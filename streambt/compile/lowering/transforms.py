"""Ibis lowering of row transforms within a key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

if TYPE_CHECKING:
    from . import IbisLowering


def visit_Lag(
    lw: IbisLowering, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
) -> dict[str, ir.Value]:
    return {"value": a["x"].lag(int(p["periods"])).over(lw.ordered(t))}
