"""Polars lowering of row transforms within a key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from . import PolarsLowering


def visit_Lag(
    lw: PolarsLowering, a: Mapping[str, pl.Expr], p: Mapping[str, Any]
) -> dict[str, pl.Expr]:
    return {"value": lw.per_key(a["x"].shift(int(p["periods"])))}
