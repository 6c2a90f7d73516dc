"""Native Polars lowering of windowed and elementwise ops: one ``visit_<Op>`` per op.

Ibis's Polars backend has no window functions (ENGINES.md), so the Polars
engine lowers ops to Polars expressions itself: ``rolling_*`` and
``shift`` evaluated ``over`` the symbol, on a frame ordered by (symbol, ts).
Warm-up rows are null exactly where TA-Lib's output is NaN (a rolling window
needs ``window`` non-null values). As for Ibis, the visits live in one module
per op family and are found by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from ...graph import Graph, Node
from ...ops.base import Op

#: ``visit_<Op>(lowering, inputs by role, params) -> {output: expression}``
PolarsVisit = Callable[
    ["PolarsLowering", Mapping[str, pl.Expr], Mapping[str, Any]], dict[str, pl.Expr]
]

#: the family modules holding ``visit_<Op>`` functions
FAMILIES = ("averages", "momentum", "volatility", "transforms", "signals")


def _collect() -> dict[str, PolarsVisit]:
    visits: dict[str, PolarsVisit] = {}
    for family in FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        for name, fn in vars(module).items():
            if name.startswith("visit_") and callable(fn):
                visits[name.removeprefix("visit_")] = fn
    return visits


class PolarsLowering:
    """Turns nodes into Polars expressions over a frame ordered by (``key``, ts)."""

    def __init__(self, key: str = "symbol") -> None:
        self.key = key
        self.visits = _collect()

    def supports(self, op: type[Op]) -> bool:
        return op.op_name() in self.visits

    def per_key(self, expr: pl.Expr) -> pl.Expr:
        """Evaluate ``expr`` within each symbol (rows are already in time order)."""
        return expr.over(self.key)

    def lower_stage(self, frame: pl.LazyFrame, nodes: list[Node], graph: Graph) -> pl.LazyFrame:
        """Add the columns of ``nodes``, one ``with_columns`` per dependency layer."""
        depth: dict[str, int] = {}
        in_stage = {n.id for n in nodes}
        for node in nodes:
            deps = [depth[k.node_id] + 1 for _, k in node.inputs if k.node_id in in_stage]
            depth[node.id] = max(deps, default=0)
        for layer in range(max(depth.values(), default=-1) + 1):
            exprs: list[pl.Expr] = []
            for node in (n for n in nodes if depth[n.id] == layer):
                args = {
                    role: pl.col(graph.node(k.node_id).column(k.output)) for role, k in node.inputs
                }
                outs = self.visits[node.op.op_name()](self, args, node.param_dict)
                exprs += [e.cast(pl.Float64).alias(node.column(o)) for o, e in outs.items()]
            frame = frame.with_columns(exprs)
        return frame
