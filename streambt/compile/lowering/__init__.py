"""Ibis lowering of windowed and elementwise ops: one ``visit_<Op>`` per op.

The visits live in one module per op family (``averages``, ``volatility``,
...); :class:`IbisLowering` finds them by name, so supporting an op is adding
its ``visit_<Op>`` function to its family's module.

Every window is partitioned by the key (``symbol``) and ordered by event time
(``ts``). Warm-up rows are null exactly where TA-Lib's output is NaN: a
window of ``n`` is valid once it holds ``n`` non-null values, which (inputs
being null only during their own warm-up) is TA-Lib's rule of starting at the
first valid input.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from ...graph import Graph, Node
from ...ops.base import Op
from .common import NULL, Visit

#: the family modules holding ``visit_<Op>`` functions
FAMILIES = (
    "averages",
    "channels",
    "factors",
    "momentum",
    "oscillators",
    "signals",
    "transforms",
    "volatility",
    "volume",
)


def _collect() -> dict[str, Visit]:
    visits: dict[str, Visit] = {}
    for family in FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        for name, fn in vars(module).items():
            if name.startswith("visit_") and callable(fn):
                visits[name.removeprefix("visit_")] = fn
    return visits


class IbisLowering:
    """Turns nodes into Ibis columns over a bars table keyed by ``key`` and ordered by ``order``."""

    def __init__(self, key: str = "symbol", order: str = "ts") -> None:
        self.key = key
        self.order = order
        self.visits = _collect()

    def supports(self, op: type[Op]) -> bool:
        return op.op_name() in self.visits

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
        return self.visits[node.op.op_name()](self, table, args, node.param_dict)

    def full(self, x: ir.Column, w: Any, n: int, value: ir.Value) -> ir.Value:
        """``value`` where the window ``w`` holds ``n`` non-null ``x``, else null (TA-Lib's warm-up)."""
        return ibis.ifelse(x.count().over(w) >= n, value, NULL)
