"""Polars lowering of signals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from . import PolarsLowering


def visit_Cross(
    lw: PolarsLowering, a: Mapping[str, pl.Expr], p: Mapping[str, Any]
) -> dict[str, pl.Expr]:
    x, y = a["a"], a["b"]
    px, py = lw.per_key(x.shift(1)), lw.per_key(y.shift(1))
    up = (px < py) & (x > y)
    down = (px > py) & (x < y)
    value = pl.when(up).then(1.0).when(down).then(-1.0).otherwise(0.0)
    missing = x.is_null() | y.is_null() | px.is_null() | py.is_null()
    return {"value": pl.when(missing).then(None).otherwise(value)}
