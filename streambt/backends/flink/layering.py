"""Flink streaming's rules for OVER windows, as a pass over the IbisLowering's expressions.

Flink's streaming planner accepts an OVER aggregate only when every window
function of one SELECT shares one window (``TableException: Over Agg:
Unsupported use of OVER windows. All aggregates must be computed on the same
window``), the window is ordered by the event-time attribute ascending, and
the query has no trailing ORDER BY (ENGINES.md section 3). Ibis enforces none
of it, and :meth:`IbisLowering.lower_stage` layers by dependency depth only:
one visit may mix windows (WMA's lags with its row count; a SMA's mean with a
lag in the same layer).

:func:`lower_stage_layered` keeps the lowering's visits unchanged and rewrites
their output: every window function of a dependency layer is computed in a
helper column, one projection per window spec (navigation functions such as
LAG apart from aggregates, since Flink frames them differently), and the
layer's columns are then built from the helpers in a window-free projection.
The result runs on DuckDB as well, which the unit tests use as the oracle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis.expr.operations as ops
import ibis.expr.types as ir

if TYPE_CHECKING:
    from ...compile.lowering import IbisLowering
    from ...graph import Graph, Node

#: prefix of the helper columns (never a node column: those start with an op name)
HELPER = "__sbt_w"


def layer_depths(nodes: list[Node]) -> dict[str, int]:
    """Dependency depth of each node within the stage (0 = reads only the input table)."""
    depth: dict[str, int] = {}
    in_stage = {n.id for n in nodes}
    for node in nodes:
        deps = [depth[k.node_id] + 1 for _, k in node.inputs if k.node_id in in_stage]
        depth[node.id] = max(deps, default=0)
    return depth


def lower_stage_layered(
    lowering: IbisLowering, table: ir.Table, nodes: list[Node], graph: Graph
) -> ir.Table:
    """``table`` with the columns of ``nodes``, each projection holding at most one window spec.

    Examples
    --------
    >>> out = lower_stage_layered(IbisLowering(), t, stage.nodes, graph)  # doctest: +SKIP
    """
    depth = layer_depths(nodes)
    counter = [0]
    for layer in range(max(depth.values(), default=-1) + 1):
        exprs: dict[str, ir.Value] = {}
        for node in (n for n in nodes if depth[n.id] == layer):
            args = {role: table[graph.node(k.node_id).column(k.output)] for role, k in node.inputs}
            outs = lowering.lower(table, node, args)
            exprs.update({node.column(name): e.cast("float64") for name, e in outs.items()})
        table = one_spec_per_select(table, exprs, counter)
    return table


def spec_key(wf: ops.WindowFunction) -> tuple[Any, ...]:
    """What Flink calls "the same window": frame, partition, order, and the function's family."""
    navigation = isinstance(wf.func, ops.Analytic)
    return (navigation, wf.how, wf.start, wf.end, wf.group_by, wf.order_by)


def one_spec_per_select(
    table: ir.Table, exprs: dict[str, ir.Value], counter: list[int] | None = None
) -> ir.Table:
    """``table.mutate(**exprs)``, split so that each projection holds one window spec."""
    counter = counter if counter is not None else [0]
    found: dict[ops.WindowFunction, None] = {}
    for expr in exprs.values():
        for wf in expr.op().find(ops.WindowFunction, filter=ops.Value):
            found.setdefault(wf)
    if not found:
        return table.mutate(**exprs) if exprs else table
    groups: dict[tuple[Any, ...], list[ops.WindowFunction]] = {}
    for wf in found:
        groups.setdefault(spec_key(wf), []).append(wf)
    names: dict[ops.WindowFunction, str] = {}
    current = table
    for members in groups.values():
        helpers = {}
        for wf in members:
            names[wf] = f"{HELPER}{counter[0]}"
            counter[0] += 1
            helpers[names[wf]] = wf.to_expr()
        current = current.mutate(**helpers)
    swap = {wf: current[name].op() for wf, name in names.items()}
    final = {name: expr.op().replace(swap).to_expr() for name, expr in exprs.items()}
    keep = [c for c in current.columns if not c.startswith(HELPER) and c not in final]
    return current.select(*keep, **final)
