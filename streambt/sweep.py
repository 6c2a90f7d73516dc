"""Parameter sweeps: one graph with symbolic parameters, expanded into one strategy per cell.

A sweep cell is one assignment of the swept parameters. Expanding the graph
for every cell builds concrete nodes; equal nodes collapse to one (their ids
are equal), so an indicator shared by many cells -- ``sma(close, 10)`` in every
cell whose ``fast`` is 10 -- is computed once. Each cell's strategy gets its own
name, ``sma_cross[fast=10,slow=50]``, and so its own key in every result table.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import GraphError, InvalidParameterError, did_you_mean
from .graph import ColumnKey, Graph, Node
from .graph.params import SweepParam
from .ops.base import OpKind


def swept_names(graph: Graph) -> dict[str, SweepParam]:
    """The symbolic parameters used anywhere in ``graph``, by name."""
    found: dict[str, SweepParam] = {}
    for node in graph.nodes():
        for _, value in node.params:
            for p in _params_in(value):
                found.setdefault(p.name, p)
    return found


def _params_in(value: Any) -> Iterable[SweepParam]:
    if isinstance(value, SweepParam):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _params_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _params_in(v)


def _substitute(value: Any, cell: Mapping[str, Any]) -> Any:
    if isinstance(value, SweepParam):
        return cell[value.name]
    if isinstance(value, Mapping):
        return {k: _substitute(v, cell) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_substitute(v, cell) for v in value)
    return value


@dataclass(frozen=True)
class Cell:
    """One assignment of the swept parameters."""

    values: tuple[tuple[str, Any], ...]

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.values)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


def cells(grid: Mapping[str, Iterable[Any]], declared: Mapping[str, SweepParam]) -> list[Cell]:
    """Every cell of ``grid`` (the cartesian product), in a deterministic order."""
    if not grid:
        missing = [n for n, p in declared.items() if p.default is None]
        if missing:
            raise GraphError(
                f"the graph sweeps {', '.join(sorted(missing))} but no values were given: "
                f"call cb.sweep({{{missing[0]!r}: [...]}}) or give sb.param({missing[0]!r}, default=...)"
            )
        return [Cell(tuple(sorted((n, p.default) for n, p in declared.items())))]
    unknown = sorted(set(grid) - set(declared))
    if unknown:
        raise InvalidParameterError(
            f"sweep: no node uses parameter {unknown[0]!r}.{did_you_mean(unknown[0], declared)} "
            f"Swept parameters: {', '.join(sorted(declared)) or 'none (use sb.param(name) in a node)'}"
        )
    values: dict[str, list[Any]] = {}
    for name in sorted(declared):
        if name in grid:
            seq = list(grid[name])
            if not seq:
                raise InvalidParameterError(f"sweep: {name!r} has no values; pass at least one")
            values[name] = seq
        elif declared[name].default is not None:
            values[name] = [declared[name].default]
        else:
            raise InvalidParameterError(
                f"sweep: {name!r} is used by the graph but has no values; add it to the sweep"
            )
    size = math.prod(len(v) for v in values.values())
    if size > 100_000:
        raise InvalidParameterError(
            f"sweep: {size:,} cells is too many for one run; split the grid"
        )
    return [
        Cell(tuple(zip(values, combo, strict=True)))
        for combo in itertools.product(*values.values())
    ]


def expand(graph: Graph, grid_cells: list[Cell]) -> tuple[Graph, dict[str, Cell]]:
    """The concrete graph of every cell, and which cell each strategy name belongs to."""
    out = Graph()
    owners: dict[str, Cell] = {}
    for cell in grid_cells:
        mapping: dict[str, str] = {}
        assignment = cell.as_dict()
        for node in graph.nodes():
            inputs = {role: ColumnKey(mapping[k.node_id], k.output) for role, k in node.inputs}
            raw = {k: _substitute(v, assignment) for k, v in node.params}
            changed = raw != dict(node.params) or any(inputs[r] != k for r, k in node.inputs)
            if not changed:
                mapping[node.id] = out.add(node).id
                continue
            where = f"{node.describe()} [{cell.label}]"
            params = node.op.validate(raw, where)
            if node.kind is OpKind.SIMULATION:
                params = node.op.in_cell(params, cell.label)
            labels = {role: _label(out, key) for role, key in inputs.items()}
            concrete = out.add(Node.build(node.op, inputs, params, labels, node.call))
            mapping[node.id] = concrete.id
            if node.kind is OpKind.SIMULATION:
                owners.update((name, cell) for name in node.op.strategy_names(params))
    return out, owners


def _label(graph: Graph, key: ColumnKey) -> str:
    node = graph.node(key.node_id)
    if node.kind is OpKind.SOURCE:
        return key.output
    base = node.short_label()
    return f"{base}_{key.output}" if len(node.op.outputs) > 1 else base
