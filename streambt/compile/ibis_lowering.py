"""Ibis lowering of windowed and elementwise ops: one ``visit_<Op>`` per op.

Every window is partitioned by the key (``symbol``) and ordered by event time
(``ts``). Warm-up rows are null exactly where TA-Lib's output is NaN: a
window of ``n`` is valid once it holds ``n`` non-null values, which (inputs
being null only during their own warm-up) is TA-Lib's rule of starting at the
first valid input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from ..graph import Graph, Node
from ..ops.base import Op

Visit = Callable[[ir.Table, Mapping[str, ir.Column], Mapping[str, Any]], dict[str, ir.Value]]

NULL = ibis.null("float64")


class IbisLowering:
    """Turns nodes into Ibis columns over a bars table keyed by ``key`` and ordered by ``order``."""

    def __init__(self, key: str = "symbol", order: str = "ts") -> None:
        self.key = key
        self.order = order

    def supports(self, op: type[Op]) -> bool:
        return hasattr(self, f"visit_{op.op_name()}")

    # -- windows ---------------------------------------------------------
    def rows(self, t: ir.Table, n: int) -> Any:
        """The last ``n`` rows of the key, up to and including the current one."""
        return ibis.window(
            group_by=t[self.key], order_by=t[self.order], preceding=n - 1, following=0
        )

    def ordered(self, t: ir.Table) -> Any:
        return ibis.window(group_by=t[self.key], order_by=t[self.order])

    # -- stage -----------------------------------------------------------
    def lower_stage(self, table: ir.Table, nodes: list[Node], graph: Graph) -> ir.Table:
        """Add the columns of ``nodes`` to ``table``, one ``mutate`` per dependency layer."""
        depth: dict[str, int] = {}
        in_stage = {n.id for n in nodes}
        for node in nodes:
            deps = [depth[k.node_id] + 1 for _, k in node.inputs if k.node_id in in_stage]
            depth[node.id] = max(deps, default=0)
        for layer in range(max(depth.values(), default=-1) + 1):
            exprs: dict[str, ir.Value] = {}
            for node in (n for n in nodes if depth[n.id] == layer):
                args = {
                    role: table[graph.node(k.node_id).column(k.output)] for role, k in node.inputs
                }
                outs = self.lower(table, node, args)
                exprs.update(
                    {node.column(name): expr.cast("float64") for name, expr in outs.items()}
                )
            table = table.mutate(**exprs)
        return table

    def lower(
        self, table: ir.Table, node: Node, args: Mapping[str, ir.Column]
    ) -> dict[str, ir.Value]:
        visit: Visit = getattr(self, f"visit_{node.op.op_name()}")
        return visit(table, args, node.param_dict)

    # -- ops -------------------------------------------------------------
    def _full(self, x: ir.Column, w: Any, n: int, value: ir.Value) -> ir.Value:
        return ibis.ifelse(x.count().over(w) >= n, value, NULL)

    def visit_SimpleMovingAverage(
        self, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
    ) -> dict[str, ir.Value]:
        n = int(p["window"])
        w = self.rows(t, n)
        return {"value": self._full(a["x"], w, n, a["x"].mean().over(w))}

    def visit_StandardDeviation(
        self, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
    ) -> dict[str, ir.Value]:
        n = int(p["window"])
        w = self.rows(t, n)
        std = a["x"].std(how="pop").over(w) * float(p["nbdev"])
        return {"value": self._full(a["x"], w, n, std)}

    def visit_Lag(
        self, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
    ) -> dict[str, ir.Value]:
        return {"value": a["x"].lag(int(p["periods"])).over(self.ordered(t))}

    def visit_Cross(
        self, t: ir.Table, a: Mapping[str, ir.Column], p: Mapping[str, Any]
    ) -> dict[str, ir.Value]:
        w = self.ordered(t)
        x, y = a["a"], a["b"]
        px, py = x.lag().over(w), y.lag().over(w)
        up = (px < py) & (x > y)
        down = (px > py) & (x < y)
        value = ibis.cases((up, 1.0), (down, -1.0), else_=0.0)
        missing = x.isnull() | y.isnull() | px.isnull() | py.isnull()
        return {"value": ibis.ifelse(missing, NULL, value)}
