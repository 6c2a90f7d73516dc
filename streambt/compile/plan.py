"""Graph -> plan: ordered stages, each node placed by the backend's support table.

A node goes to a Relational stage (one fused Ibis expression) when the backend
can lower it in this mode, otherwise to a Scan stage (per-key kernels).
Relational and Scan stages alternate as dependencies require; simulations run
last, then metrics. Every placement keeps its reason for ``explain``.

With several timeframes, each frame (the base bars, and each resampled
timeframe) gets its own stages; higher timeframes run first, coarsest first,
because lower ones read them through ``AsOf`` (Align stages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..graph import Graph, Node
from ..graph.frames import BASE, frame_of
from ..io.timeframes import Timeframe
from ..ops.base import OpKind

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..cache import FactorCache

SOURCE, RELATIONAL, SCAN, SIMULATE, METRICS = "source", "relational", "scan", "simulate", "metrics"
RESAMPLE, ALIGN = "resample", "align"


@dataclass
class Stage:
    """One step of a plan: its kind, its nodes in dependency order, and why each is here."""

    kind: str
    nodes: list[Node] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    key: str = "symbol"
    #: the table this stage reads and extends (graph.frames)
    frame: str = BASE

    def add(self, node: Node, reason: str) -> None:
        self.nodes.append(node)
        self.reasons[node.id] = reason


@dataclass
class Plan:
    """What a backend runs for a graph in one mode."""

    backend: str
    mode: str
    stages: list[Stage]
    #: nodes whose columns come from the factor cache instead of being computed
    cached: list[Node] = field(default_factory=list)
    cache: FactorCache | None = None
    relational_form: str = "one fused Ibis expression"
    #: frame id -> its timeframe, for the frames other than the base
    frame_names: dict[str, str] = field(default_factory=dict)

    def stages_of(self, kind: str) -> list[Stage]:
        return [s for s in self.stages if s.kind == kind]

    def placement(self, node_id: str) -> str:
        """The kind of stage ``node_id`` runs in."""
        for s in self.stages:
            if node_id in s.reasons:
                return s.kind
        raise KeyError(node_id)

    def explain(self) -> str:
        lines = [f"Plan for backend={self.backend!r}, mode={self.mode!r}"]
        titles = {
            SOURCE: "source: read feeds, validate, order by (symbol, ts)",
            RESAMPLE: "resample: higher-timeframe bars per symbol (first/max/min/last/sum)",
            ALIGN: "align: higher-timeframe columns as of each row's close (no look-ahead)",
            RELATIONAL: f"relational: {self.relational_form}",
            SCAN: "scan: incremental kernels, one key (symbol) at a time",
            SIMULATE: (
                "simulate: one portfolio broker kernel, rows of all symbols in (ts, symbol) order"
                if any(n.op.short == "portfolio" for s in self.stages_of(SIMULATE) for n in s.nodes)
                else "simulate: broker kernel per (strategy, symbol)"
            ),
            METRICS: "metrics: Ibis aggregations over equity and trades",
        }
        for i, stage in enumerate(self.stages, 1):
            where = (
                ""
                if stage.frame == BASE
                else f" [frame {self.frame_names.get(stage.frame, stage.frame)}]"
            )
            lines.append(f"  {i}. {titles[stage.kind]}{where}")
            for node in stage.nodes:
                lines.append(f"       {node.label:<44} {stage.reasons[node.id]}")
        return "\n".join(lines)


def build_plan(graph: Graph, backend: Backend, mode: str, cache: FactorCache | None = None) -> Plan:
    """Place every node of ``graph`` for ``backend`` in ``mode``; cached nodes join the source."""
    cached_ids = cache.available(graph.nodes()) if cache is not None else set()
    cached: list[Node] = []
    frames: dict[str, str] = {}
    level: dict[str, int] = {}
    placed: dict[str, dict[int, Stage]] = {}
    source = Stage(SOURCE)
    roots: dict[str, Stage] = {}
    aligns: dict[str, Stage] = {}
    sims = Stage(SIMULATE)
    for node in graph.nodes():
        frame = frames[node.id] = frame_of(graph, node)
        if node.kind is OpKind.SOURCE:
            level[node.id] = 0
            if frame == BASE:
                source.add(node, f"{node.param_dict['feed'].get('kind', 'feed')} feed")
            else:
                roots[frame] = Stage(RESAMPLE, frame=frame)
                roots[frame].add(node, f"{node.param_dict['timeframe']} bars from the base bars")
            continue
        if node.kind is OpKind.SIMULATION:
            sims.add(node, "simulation: always a kernel (the portfolio evolves bar by bar)")
            continue
        if node.kind is OpKind.ALIGN:
            level[node.id] = 0
            aligns.setdefault(frame, Stage(ALIGN, frame=frame)).add(
                node,
                f"the {node.param_dict['source']} column as of each {node.param_dict['target']} close",
            )
            continue
        if node.id in cached_ids and frame == BASE:
            level[node.id] = 0
            cached.append(node)
            source.add(node, "cached: loaded from the factor cache, not recomputed")
            continue
        deps = max((level[k.node_id] for _, k in node.inputs), default=0)
        support = backend.support(node.op, mode)
        if support.ok:
            # Relational stages sit at odd levels; a relational input at the same
            # level is fine (the fused expression layers it), a scan input is not.
            lvl = deps if deps % 2 == 1 else deps + 1
            kind = RELATIONAL
        else:
            lvl = max(deps, 2)
            lvl = lvl if lvl % 2 == 0 else lvl + 1
            kind = SCAN
        level[node.id] = lvl
        placed.setdefault(frame, {}).setdefault(lvl, Stage(kind, frame=frame)).add(
            node, support.reason
        )

    def coarseness(frame: str) -> int:
        return Timeframe.from_key(graph.node(frame).param_dict["timeframe"]).micros

    stages = [source]
    for frame in sorted(roots, key=coarseness, reverse=True):
        stages.append(roots[frame])
        stages += [aligns[frame]] if frame in aligns else []
        stages += [placed[frame][k] for k in sorted(placed.get(frame, {}))]
    stages += [aligns[BASE]] if BASE in aligns else []
    stages += [placed[BASE][k] for k in sorted(placed.get(BASE, {}))]
    if sims.nodes:
        stages += [sims, Stage(METRICS)]
    names = {f: graph.node(f).param_dict["timeframe"] for f in roots}
    return Plan(backend.name, mode, stages, cached, cache, backend.relational_form, names)
