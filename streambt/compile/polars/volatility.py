"""Polars lowering of volatility measures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from . import PolarsLowering


def visit_StandardDeviation(
    lw: PolarsLowering, a: Mapping[str, pl.Expr], p: Mapping[str, Any]
) -> dict[str, pl.Expr]:
    n = int(p["window"])
    std = a["x"].rolling_std(window_size=n, min_samples=n, ddof=0) * float(p["nbdev"])
    return {"value": lw.per_key(std)}
