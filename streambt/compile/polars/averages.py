"""Polars lowering of moving averages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from . import PolarsLowering


def visit_SimpleMovingAverage(
    lw: PolarsLowering, a: Mapping[str, pl.Expr], p: Mapping[str, Any]
) -> dict[str, pl.Expr]:
    n = int(p["window"])
    return {"value": lw.per_key(a["x"].rolling_mean(window_size=n, min_samples=n))}
