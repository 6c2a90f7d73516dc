"""The embedded default engine: Ibis on DuckDB for Relational stages, kernels over Arrow for Scans.

``mode="batch"`` runs each Relational stage as one fused Ibis expression and
each Scan stage as one pass of the kernels per symbol. ``mode="stream"`` runs
every node as a kernel, fed micro-batch by micro-batch in event-time order: it
is the local reference for streaming semantics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from ..compile.lowering import IbisLowering
from ..compile.plan import METRICS, RELATIONAL, SCAN, SIMULATE, SOURCE, Plan, Stage
from ..errors import BackendError
from ..metrics import bar_frame, metrics_from_bars
from ..ops.base import Op, OpKind
from .base import Backend, Support
from .kernel_host import KernelRunner, SimOutput, time_ordered_chunks

if TYPE_CHECKING:
    from ..cerebro import Cerebro
    from ..result import Result

KERNEL_ONLY = Support(False, "stream mode: every node is a kernel, fed micro-batch by micro-batch")
KERNELS_PLACEMENT = Support(
    False, "placement='kernels': every node is a kernel, one pass over the in-memory bars"
)
PLACEMENTS = ("relational", "kernels")


class DuckDBBackend(Backend):
    """Ibis + DuckDB, in process. The reference every other engine is compared with."""

    name = "duckdb"
    SUPPORT: ClassVar[dict[tuple[str, OpKind], Support]] = {
        ("batch", OpKind.ELEMENTWISE): Support(True, "elementwise: an Ibis column expression"),
        ("batch", OpKind.WINDOWED): Support(
            True, "windowed: an Ibis window over (symbol ORDER BY ts ROWS n-1 PRECEDING)"
        ),
        ("batch", OpKind.RECURSIVE): Support(
            False, "recursive: state' = f(state, row) has no SQL window form; incremental kernel"
        ),
        ("stream", OpKind.ELEMENTWISE): KERNEL_ONLY,
        ("stream", OpKind.WINDOWED): KERNEL_ONLY,
        ("stream", OpKind.RECURSIVE): KERNEL_ONLY,
    }

    def __init__(self, placement: str = "relational", micro_batch: int = 1_000) -> None:
        if placement not in PLACEMENTS:
            raise BackendError(
                f"duckdb backend: placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}"
            )
        if isinstance(micro_batch, bool) or not isinstance(micro_batch, int) or micro_batch < 1:
            raise BackendError(
                f"duckdb backend: micro_batch must be a positive integer, got {micro_batch!r}"
            )
        self.placement = placement
        self.micro_batch = micro_batch
        self.lowering = IbisLowering()

    def support(self, op: type[Op], mode: str) -> Support:
        if mode == "batch" and self.placement == "kernels":
            return KERNELS_PLACEMENT
        found = self.SUPPORT.get(
            (mode, op.kind), Support(False, f"{op.kind.value}: runs as a kernel")
        )
        if found.ok and not self.lowering.supports(op):
            return Support(
                False,
                f"{op.kind.value}: no Ibis lowering for {op.op_name()} yet; incremental kernel",
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
            metrics=lambda: self._metrics(plan, tables, cerebro),
            plan=plan,
        )

    def _run_batch(
        self,
        cerebro: Cerebro,
        plan: Plan,
        bars: pa.Table,
        universes: dict[str, frozenset[str]],
    ) -> tuple[pa.Table, SimOutput]:
        graph = cerebro.graph
        con: Any = None
        expr: ir.Table | None = None  # pending relational work, not yet executed
        table = bars
        sim = SimOutput()
        for group in _kernel_runs(plan):
            if group[0].kind == RELATIONAL:
                if expr is None:
                    expr = ibis.memtable(table)
                expr = self.lowering.lower_stage(expr, group[0].nodes, graph)
                continue
            if expr is not None:
                con = con or ibis.duckdb.connect()
                table, expr = con.to_pyarrow(expr.order_by(["symbol", "ts"])), None
            # Adjacent kernel stages share one runner: one pass, columns converted once.
            runner = KernelRunner(graph, [n for stage in group for n in stage.nodes], universes)
            table = runner.feed(table)
            if any(stage.kind == SIMULATE for stage in group):
                sim = runner.finish()
        if expr is not None:
            con = con or ibis.duckdb.connect()
            table = con.to_pyarrow(expr.order_by(["symbol", "ts"]))
        return table, sim

    def _run_stream(
        self,
        cerebro: Cerebro,
        plan: Plan,
        bars: pa.Table,
        universes: dict[str, frozenset[str]],
    ) -> tuple[pa.Table, SimOutput]:
        nodes = [n for s in plan.stages if s.kind in (SCAN, SIMULATE, RELATIONAL) for n in s.nodes]
        runner = KernelRunner(cerebro.graph, nodes, universes)
        chunks = [runner.feed(chunk) for chunk in time_ordered_chunks(bars, self.micro_batch)]
        factors = pa.concat_tables(chunks).sort_by([("symbol", "ascending"), ("ts", "ascending")])
        return factors, runner.finish()

    def _metrics(self, plan: Plan, tables: dict[str, pa.Table], cerebro: Cerebro) -> pa.Table:
        if not plan.stages_of(METRICS):
            return pa.table({})
        con = ibis.duckdb.connect()
        # The per-bar frame feeds every metric family: materialize it once.
        bars = con.create_table(
            "streambt_metric_bars",
            bar_frame(ibis.memtable(tables["equity"]), cerebro.cash),
            temp=True,
        )
        expr = metrics_from_bars(
            bars, ibis.memtable(tables["trades"]), cerebro.cash, cerebro.periods_per_year
        )
        return con.to_pyarrow(expr.order_by(["strategy", "symbol"]))


def _kernel_runs(plan: Plan) -> list[list[Stage]]:
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
