"""What the in-process engines (DuckDB, Polars) share: everything but the Relational stage.

A local engine loads the bars as Arrow, runs Relational stages with its own
lowering, hosts Scan and Simulate stages with :class:`KernelRunner`, and in
``mode="stream"`` feeds every node as a kernel micro-batch by micro-batch in
event-time order (the local reference for streaming semantics). Metrics are
Ibis aggregations over the result tables, run on an in-process DuckDB.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..compile.plan import ALIGN, METRICS, RELATIONAL, RESAMPLE, SCAN, SIMULATE, SOURCE, Plan, Stage
from ..errors import BackendError
from ..graph.frames import BASE, frame_of
from ..io.resample import asof_values, resample_bars
from ..io.schema import float_array
from ..io.timeframes import Timeframe
from ..metrics import bar_frame, metrics_from_bars
from ..metrics.keys import MetricKeys
from ..ops.base import Op, OpKind
from .base import Backend, Support, plan_bars
from .kernel_host import KernelRunner, SimOutput, as_float, key_slices, time_ordered_chunks
from .stream_frames import FramedStream

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

    hosts_portfolio = True
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

        bars, universes = plan_bars(cerebro, plan)
        if plan.mode == "stream":
            factors, frames, sim = self._run_stream(cerebro, plan, bars, universes)
        else:
            factors, frames, sim = self._run_batch(cerebro, plan, bars, universes)
        tables = sim.lazy_tables()
        return Result(
            factors=cerebro.canonical_factors(factors),
            frames={
                name: cerebro.canonical_factors(frames[f], f)
                for f, name in plan.frame_names.items()
            },
            orders=tables.later("orders"),
            fills=tables.later("fills"),
            trades=tables.later("trades"),
            equity=tables.later("equity"),
            metrics=partial(local_metrics, plan, tables, cerebro, MetricKeys.of(cerebro.graph)),
            plan=plan,
            positions=tables.later("positions"),
            order_events=tables.later("order_events"),
        )

    def _run_batch(
        self, cerebro: Cerebro, plan: Plan, bars: pa.Table, universes: dict[str, frozenset[str]]
    ) -> tuple[pa.Table, dict[str, pa.Table], SimOutput]:
        graph = cerebro.graph
        tables: dict[str, pa.Table] = {BASE: bars}
        pending: dict[str, Any] = {}  # relational work per frame, not yet executed
        sim = SimOutput()

        def table(frame: str) -> pa.Table:
            if frame in pending:
                tables[frame] = self.collect(pending.pop(frame))
            return tables[frame]

        for group in kernel_runs(plan):
            stage = group[0]
            frame = stage.frame
            if stage.kind == RESAMPLE:
                tables[frame] = self.resample(table(BASE), stage.nodes[0])
            elif stage.kind == ALIGN:
                for node in stage.nodes:
                    source = frame_of(graph, graph.node(dict(node.inputs)["x"].node_id))
                    tables[frame] = self.align(table(source), table(frame), node, graph)
            elif stage.kind == RELATIONAL:
                lazy = pending.pop(frame) if frame in pending else self.frame(tables[frame])
                pending[frame] = self.lower_stage(lazy, stage.nodes, graph)
            else:
                # Adjacent kernel stages share one runner: one pass, columns converted once.
                runner = KernelRunner(graph, [n for s in group for n in s.nodes], universes)
                tables[frame] = runner.feed(table(frame))
                if any(s.kind == SIMULATE for s in group):
                    sim = runner.finish()
        frames = {f: table(f) for f in plan.frame_names}
        return table(BASE), frames, sim

    def resample(self, bars: pa.Table, root: Node) -> pa.Table:
        """The closed higher-timeframe bars of ``root`` (a Resample node) from the base bars."""
        p = root.param_dict
        return resample_bars(
            bars, Timeframe.from_key(p["timeframe"]), Timeframe.from_key(p["base"])
        )

    def align(self, source: pa.Table, target: pa.Table, node: Node, graph: Graph) -> pa.Table:
        """``target`` with the AsOf ``node``'s column: the source value as of each target row's close."""
        return align_frames(source, target, node, graph)

    def _run_stream(
        self, cerebro: Cerebro, plan: Plan, bars: pa.Table, universes: dict[str, frozenset[str]]
    ) -> tuple[pa.Table, dict[str, pa.Table], SimOutput]:
        host = FramedStream(cerebro.graph, plan, universes)
        chunks = [host.feed(chunk) for chunk in time_ordered_chunks(bars, self.micro_batch)]
        factors = pa.concat_tables(chunks).sort_by([("symbol", "ascending"), ("ts", "ascending")])
        return factors, host.frame_tables(), host.finish()


def local_metrics(
    plan: Plan, tables: Mapping[str, pa.Table], cerebro: Cerebro, keys: MetricKeys | None = None
) -> pa.Table:
    """Metrics as Ibis aggregations over the result tables, on an in-process DuckDB."""
    if not plan.stages_of(METRICS):
        return pa.table({})
    keys = keys if keys is not None else MetricKeys()
    con = ibis.duckdb.connect()
    parts = []
    all_trades = keys.trades(tables["trades"])
    for start, names in keys.groups(tables["equity"], cerebro.cash):
        equity, trades = tables["equity"], all_trades
        if names is not None:
            equity = equity.filter(pc.is_in(equity.column("strategy"), pa.array(names)))
            trades = trades.filter(pc.is_in(trades.column("strategy"), pa.array(names)))
        # The per-bar frame feeds every metric family: materialize it once.
        bars = con.create_table(
            "streambt_metric_bars",
            bar_frame(ibis.memtable(equity), start),
            temp=True,
            overwrite=True,
        )
        expr = metrics_from_bars(bars, ibis.memtable(trades), start, cerebro.periods_per_year)
        parts.append(con.to_pyarrow(expr.order_by(["strategy", "symbol"])))
    result = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return result.sort_by([("strategy", "ascending"), ("symbol", "ascending")])


def kernel_runs(plan: Plan) -> list[list[Stage]]:
    """The plan's executable stages, adjacent Scan/Simulate stages grouped together."""
    groups: list[list[Stage]] = []
    for stage in plan.stages:
        if stage.kind in (SOURCE, METRICS):
            continue
        kernel = stage.kind in (SCAN, SIMULATE)
        previous = groups[-1][0] if groups else None
        if (
            kernel
            and previous
            and previous.kind in (SCAN, SIMULATE)
            and previous.frame == stage.frame
        ):
            groups[-1].append(stage)
        else:
            groups.append([stage])
    return groups


def decision_times(table: pa.Table, tf: Timeframe) -> np.ndarray:
    """When each row's bar closes: its own ``closes_at`` for resampled bars, else ts + interval."""
    if "closes_at" in table.column_names:
        return table.column("closes_at").cast(pa.int64()).to_numpy()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    return tf.bucket_ends(tf.bucket_starts(ts)) if tf.daily else ts + tf.micros


def align_frames(source: pa.Table, target: pa.Table, node: Node, graph: Graph) -> pa.Table:
    """Append the AsOf ``node``'s column to ``target`` (exact, per symbol)."""
    x = dict(node.inputs)["x"]
    values = as_float(source.column(graph.node(x.node_id).column(x.output)))
    closes = source.column("closes_at").cast(pa.int64()).to_numpy()
    decide = decision_times(target, Timeframe.from_key(node.param_dict["target"]))
    out = np.full(target.num_rows, np.nan)
    src = {sym: (s, e) for sym, s, e in key_slices(source.column("symbol"))}
    for sym, s, e in key_slices(target.column("symbol")):
        if sym in src:
            a, b = src[sym]
            out[s:e] = asof_values(decide[s:e], closes[a:b], values[a:b])
    return target.append_column(node.column("value"), float_array(out))
