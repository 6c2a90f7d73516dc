"""How a Simulate stage is keyed on Spark: by symbol, or by (block of strategies, symbol).

A parameter sweep makes one strategy per cell. Keyed by symbol alone, every
cell of a symbol runs in one Python worker; keyed by (cell, symbol), the cells
spread over the executors, but each group needs the symbol's bars, so the bars
are shipped once per group. :func:`block_count` picks how many blocks of
strategies a symbol's bars go to (``sweep_key``): one per strategy
(``"cell"``), one in all (``"symbol"``), or (``"auto"``) just enough for every
core to get two groups.

:func:`split` decides what runs where. A kernel node of the stage that only
the strategies of one block read (a cell's own signal) runs in that block's
groups, next to its strategies; a node read by strategies of several blocks
(an indicator that many cells share) runs once per symbol before them, and
its column travels to the blocks like a bar field. Nothing is computed twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...errors import BackendError, did_you_mean
from ...graph import Graph, Node
from ...ops.base import OpKind

SWEEP_KEYS = ("auto", "symbol", "cell")
#: groups per core the "auto" keying aims for (two: a slow group does not idle a core)
GROUPS_PER_CORE = 2


def check_sweep_key(value: object) -> str:
    if value not in SWEEP_KEYS:
        hint = did_you_mean(str(value), SWEEP_KEYS) if isinstance(value, str) else ""
        raise BackendError(
            f"spark backend: sweep_key must be one of {', '.join(SWEEP_KEYS)}, got {value!r}.{hint}"
        )
    return str(value)


def block_count(sweep_key: str, strategies: int, symbols: int, cores: int) -> int:
    """How many blocks the strategies of a Simulate stage are split into.

    >>> block_count("auto", strategies=100, symbols=1, cores=2)
    4
    >>> block_count("auto", strategies=100, symbols=100, cores=2)
    1
    >>> block_count("cell", strategies=100, symbols=100, cores=2)
    100
    """
    if strategies <= 1 or sweep_key == "symbol":
        return 1
    if sweep_key == "cell":
        return strategies
    wanted = math.ceil(GROUPS_PER_CORE * max(cores, 1) / max(symbols, 1))
    return max(1, min(strategies, wanted))


@dataclass(frozen=True)
class Block:
    """The strategies of one block and the kernel nodes only they read.

    ``nodes`` are in dependency order (kernels, then strategies); ``inputs`` are
    the columns the block reads from the frame (bar fields and shared
    indicators), ``outputs`` the columns its own kernels add.
    """

    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def strategies(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind is OpKind.SIMULATION)


@dataclass(frozen=True)
class Split:
    """A Simulate stage's nodes: ``shared`` kernels (once per symbol), then the blocks."""

    shared: tuple[Node, ...]
    blocks: tuple[Block, ...]


def split(graph: Graph, nodes: Sequence[Node], blocks: int) -> Split:
    """Deal the strategies among ``nodes`` into ``blocks`` runs of consecutive strategies
    (in name order) and place every kernel node: in the one block whose strategies read
    it, else shared.

    Strategies next to each other by name are neighbouring cells of a sweep (``fast=5``
    with every ``slow``), which share indicators; keeping them together keeps those
    indicators inside one block.
    """
    # By name: a sweep's cells named "x[fast=5,slow=20]", "x[fast=5,slow=40]", ... sit
    # next to the cells sharing their first parameter's indicators.
    sims = sorted(
        (n for n in nodes if n.kind is OpKind.SIMULATION),
        key=lambda n: (str(n.param_dict.get("name", "")), n.id),
    )
    kernels = [n for n in nodes if n.kind is not OpKind.SIMULATION]
    blocks = max(1, min(blocks, len(sims)))
    if blocks == 1:
        # One block: every kernel runs with the strategies (the frame passes once).
        return Split((), (_block(graph, [*kernels, *sims]),))
    size = math.ceil(len(sims) / blocks)
    groups = [sims[i : i + size] for i in range(0, len(sims), size)]
    block_of = {s.id: i for i, group in enumerate(groups) for s in group}
    readers = _strategies_reading(graph, nodes)
    own: list[list[Node]] = [[] for _ in groups]
    shared: list[Node] = []
    for node in kernels:
        owners = {block_of[s] for s in readers[node.id]}
        if len(owners) == 1:
            own[owners.pop()].append(node)
        else:
            shared.append(node)
    return Split(
        tuple(shared), tuple(_block(graph, [*o, *g]) for o, g in zip(own, groups, strict=True))
    )


def _block(graph: Graph, nodes: list[Node]) -> Block:
    own = {n.id for n in nodes}
    inputs: dict[str, None] = {}
    for node in nodes:
        for _, key in node.inputs:
            if key.node_id not in own:
                inputs[graph.node(key.node_id).column(key.output)] = None
    outputs = tuple(
        n.column(o) for n in nodes if n.kind is not OpKind.SIMULATION for o in n.op.outputs
    )
    return Block(tuple(nodes), tuple(inputs), outputs)


def _strategies_reading(graph: Graph, nodes: Iterable[Node]) -> dict[str, set[str]]:
    """For every node of the stage: the strategies of the stage that read it, directly or
    through other nodes of the stage."""
    stage = {n.id: n for n in nodes}
    readers: dict[str, set[str]] = {i: set() for i in stage}
    for sim in (n for n in stage.values() if n.kind is OpKind.SIMULATION):
        todo = [k.node_id for _, k in sim.inputs]
        seen: set[str] = set()
        while todo:
            node_id = todo.pop()
            if node_id in seen or node_id not in stage:
                continue
            seen.add(node_id)
            readers[node_id].add(sim.id)
            todo.extend(k.node_id for _, k in stage[node_id].inputs)
    return readers
