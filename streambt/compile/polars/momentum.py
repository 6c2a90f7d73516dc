"""Polars lowering of momentum measures that are a lag away."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from . import PolarsLowering


def visit_Momentum(
    lw: PolarsLowering, a: Mapping[str, pl.Expr], p: Mapping[str, Any]
) -> dict[str, pl.Expr]:
    x = a["x"]
    return {"value": x - lw.per_key(x.shift(int(p["window"])))}


def visit_RateOfChange(
    lw: PolarsLowering, a: Mapping[str, pl.Expr], p: Mapping[str, Any]
) -> dict[str, pl.Expr]:
    x = a["x"]
    prev = lw.per_key(x.shift(int(p["window"])))
    # TA-Lib: ((x / prev) - 1) * 100, and 0 where prev is 0
    return {"value": pl.when(prev == 0).then(0.0).otherwise((x / prev - 1.0) * 100.0)}
