"""What the in-process engines (DuckDB, Polars) share: everything but the Relational stage.

A local engine loads the bars as Arrow, runs Relational stages with its own
lowering, hosts Scan and Simulate stages with :class:`KernelRunner`, and in
``mode="stream"`` feeds every node as a kernel micro-batch by micro-batch in
event-time order (the local reference for streaming semantics). Metrics are
Ibis aggregations over the result tables, run on an in-process DuckDB.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import pyarrow as pa

from ..compile.plan import METRICS, RELATIONAL, SCAN, SIMULATE, SOURCE, Plan, Stage
from ..errors import BackendError
from ..metrics import bar_frame, metrics_from_bars
from ..ops.base import Op, OpKind
from .base import Backend, Support
from .kernel_host import KernelRunner, SimOutput, time_ordered_chunks

if TYPE_CHECKING:
    from ..cerebro import Cerebro
    from ..graph import Graph, Node
    from ..result import Result

KERNEL_ONLY = Support(False, "stream mode: every node is a kernel, fed micro-batch by micro-batch")
KERNELS_PLACEMENT = Support(
    False, "placement='kernels': every node is a kernel, one pass over the in-memory bars"
)
PLACEMENTS = ("relational", "kernels")


class LocalBackend(Backend):
    """An in-process engine; subclasses provide the Relational stage."""

    #: (mode, kind) -> support, when the engine has a lowering for the op
    SUPPORT: ClassVar[dict[tuple[str, OpKind], Support]]

    def __init__(self, placement: str = "relational", micro_batch: int = 1_000) -> None:
        if placement not in PLACEMENTS:
            raise BackendError(
                f"{self.name} backend: placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}"
            )
        if isinstance(micro_batch, bool) or not isinstance(micro_batch, int) or micro_batch < 1:
            raise BackendError(
                f"{self.name} backend: micro_batch must be a positive integer, got {micro_batch!r}"
            )
        self.placement = placement
        self.micro_batch = micro_batch

    # -- what an engine provides -------------------------------------------
    @abstractmethod
    def lowers(self, op: type[Op]) -> bool:
        """Whether this engine has a relational form of ``op``."""

    @abstractmethod
    def frame(self, bars: pa.Table) -> Any:
        """The engine's lazy frame over Arrow bars."""

    @abstractmethod
    def lower_stage(self, frame: Any, nodes: list[Node], graph: Graph) -> Any:
        """``frame`` with the columns of ``nodes`` added (lazily)."""

    @abstractmethod
    def collect(self, frame: Any) -> pa.Table:
        """Execute ``frame``; Arrow ordered by (symbol, ts)."""

    # -- shared --------------------------------------------------------------
    def support(self, op: type[Op], mode: str) -> Support:
        if mode == "batch" and self.placement == "kernels":
            return KERNELS_PLACEMENT
        if mode == "stream":
            return KERNEL_ONLY
        found = self.SUPPORT.get(
            (mode, op.kind), Support(False, f"{op.kind.value}: runs as a kernel")
        )
        if found.ok and not self.lowers(op):
            return Support(
                False,
                f"{op.kind.value}: no {self.name} lowering for {op.op_name()}; incremental kernel",
            )
        return found

    def run(self, cerebro: Cerebro, plan: Plan) -> Result:
        from ..result import Result

        bars, universes = cerebro.load_bars()
        if plan.cache is not None and plan.cached:
            bars = plan.cache.attach(bars, plan.cached)
        if plan.mode == "stream":
            factors, sim = self._run_stream(cerebro, plan, bars, universes)
        else:
            factors, sim = self._run_batch(cerebro, plan, bars, universes)
        tables = sim.tables()
        return Result(
            factors=cerebro.canonical_factors(factors),
            orders=tables["orders"],
            fills=tables["fills"],
            trades=tables["trades"],
            equity=tables["equity"],
            metrics=lambda: local_metrics(plan, tables, cerebro),
            plan=plan,
        )

    def _run_batch(
        self, cerebro: Cerebro, plan: Plan, bars: pa.Table, universes: dict[str, frozenset[str]]
    ) -> tuple[pa.Table, SimOutput]:
        graph = cerebro.graph
        frame: Any = None  # pending relational work, not yet executed
        table = bars
        sim = SimOutput()
        for group in kernel_runs(plan):
            if group[0].kind == RELATIONAL:
                frame = self.lower_stage(
                    self.frame(table) if frame is None else frame, group[0].nodes, graph
                )
                continue
            if frame is not None:
                table, frame = self.collect(frame), None
            # Adjacent kernel stages share one runner: one pass, columns converted once.
            runner = KernelRunner(graph, [n for stage in group for n in stage.nodes], universes)
            table = runner.feed(table)
            if any(stage.kind == SIMULATE for stage in group):
                sim = runner.finish()
        if frame is not None:
            table = self.collect(frame)
        return table, sim

    def _run_stream(
        self, cerebro: Cerebro, plan: Plan, bars: pa.Table, universes: dict[str, frozenset[str]]
    ) -> tuple[pa.Table, SimOutput]:
        nodes = [n for s in plan.stages if s.kind in (SCAN, SIMULATE, RELATIONAL) for n in s.nodes]
        runner = KernelRunner(cerebro.graph, nodes, universes)
        chunks = [runner.feed(chunk) for chunk in time_ordered_chunks(bars, self.micro_batch)]
        factors = pa.concat_tables(chunks).sort_by([("symbol", "ascending"), ("ts", "ascending")])
        return factors, runner.finish()


def local_metrics(plan: Plan, tables: dict[str, pa.Table], cerebro: Cerebro) -> pa.Table:
    """Metrics as Ibis aggregations over the result tables, on an in-process DuckDB."""
    if not plan.stages_of(METRICS):
        return pa.table({})
    con = ibis.duckdb.connect()
    # The per-bar frame feeds every metric family: materialize it once.
    bars = con.create_table(
        "streambt_metric_bars", bar_frame(ibis.memtable(tables["equity"]), cerebro.cash), temp=True
    )
    expr = metrics_from_bars(
        bars, ibis.memtable(tables["trades"]), cerebro.cash, cerebro.periods_per_year
    )
    result: pa.Table = con.to_pyarrow(expr.order_by(["strategy", "symbol"]))
    return result


def kernel_runs(plan: Plan) -> list[list[Stage]]:
    """The plan's executable stages, adjacent Scan/Simulate stages grouped together."""
    groups: list[list[Stage]] = []
    for stage in plan.stages:
        if stage.kind in (SOURCE, METRICS):
            continue
        kernel = stage.kind in (SCAN, SIMULATE)
        if kernel and groups and groups[-1][0].kind in (SCAN, SIMULATE):
            groups[-1].append(stage)
        else:
            groups.append([stage])
    return groups
