"""Flink: the same graph as a streaming job (and as a Flink batch job), equal to the DuckDB run.

``cb.run(backend="flink", mode="stream")`` builds one Flink job from the
plan (:mod:`.job`): windowed and elementwise nodes run as Flink SQL compiled by
the IbisLowering every engine shares (one window spec per projection, on the
event-time attribute, :mod:`.layering`); recursive nodes and simulations run
in a ``KeyedProcessFunction`` per symbol holding kernel state in
``ValueState`` (:mod:`.operators`); orders, fills, trades, equity and factors
go to CSV sinks (:mod:`.sinks`), and the :class:`~streambt.result.Result` is
read back from them when a bounded input ends. ``mode="batch"`` runs the same
job in Flink's batch execution mode.

Options (``cb.run(backend="flink", ..., option=value)``):

- ``parallelism``: of the keyed operators and SQL (1 or 2 on a laptop);
- ``source``: :func:`files`, :func:`directory` or :func:`replay`; default the
  cerebro's feeds as a bounded file source;
- ``out``: keep the sinks in this folder (default: a temporary one);
- ``watermark_delay``: how far out of order bars may arrive ("2s", ms);
- ``late``: ``"raise"`` (default) or ``"warn"`` when bars arrived behind
  the watermark (they are in ``out/late``, never dropped silently);
- ``checkpoint_interval`` (ms) and ``restart_attempts``: exactly-once runs;
- ``print_sinks``: tables to print too, e.g. ``("orders", "trades")``;
- ``latency``: write ``out/latency`` (wall-clock bar entry and order exit);
- ``bundle_ms``: longest a Python worker holds rows (default 20): lower is
  lower latency, higher is more throughput;
- ``release_ms``: the bundled pipeline releases bars this long after its
  previous release ended (default 50): fewer, bigger bundles per symbol,
  against latency;
- ``placement``: ``"relational"`` (windowed nodes as Flink SQL) or
  ``"kernels"`` (every node a kernel, bars in bundles: the fast path);
- ``sink_format``: ``"csv"``, or ``"parquet"`` to also write
  ``out/<table>.parquet`` when the run ends.

Examples
--------
>>> res = cb.run(backend="flink", mode="stream")                              # doctest: +SKIP
>>> res = cb.run(backend="flink", mode="stream", source=flink.replay(rate=2_000), latency=True,
...              out="runs/paper")                                            # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pyarrow as pa

from ...compile.lowering import IbisLowering
from ...compile.plan import SIMULATE, Plan
from ...errors import BackendError
from ...ops.base import Op, OpKind
from ..base import Backend, Support
from ..kernel_host import SimOutput
from ..local import local_metrics
from . import sinks
from .environment import check_java, get_env
from .job import Built, FlinkJob
from .live import FlinkRun, start
from .sources import Source, coerce, directory, files, millis, replay

if TYPE_CHECKING:
    from ...cerebro import Cerebro
    from ...result import Result

LATE_POLICIES = ("raise", "warn")
PLACEMENTS = ("relational", "kernels")
SINK_FORMATS = ("csv", "parquet")
KERNELS_PLACEMENT = Support(
    False,
    "placement='kernels': every node is a kernel in the keyed host; in stream mode bars move "
    "in per-symbol bundles",
)
_STDDEV = (
    "Flink SQL's STDDEV_POP over a sliding window subtracts running sums of x and x^2 "
    "(with retraction): 3.8e-9 relative off the reference on the parity data, beyond 1e-9; "
    "kernel in a KeyedProcessFunction"
)
#: ops Ibis lowers but whose Flink SQL form misses the reference by more than 1e-9 (measured)
INEXACT: dict[str, str] = {"StandardDeviation": _STDDEV, "BollingerBands": _STDDEV}
SINK_NAMES = ("factors", "equity", "orders", "fills", "trades", "late", "rejected", "latency")


class FlinkBackend(Backend):
    """PyFlink: Relational stages as Flink SQL, Scan/Simulate as keyed process functions."""

    name = "flink"
    relational_form = "Flink SQL from the Ibis lowering (one window spec per projection)"
    SUPPORT: ClassVar[dict[OpKind, Support]] = {
        OpKind.ELEMENTWISE: Support(True, "elementwise: a Flink SQL projection (via Ibis)"),
        OpKind.WINDOWED: Support(
            True, "windowed: a Flink SQL OVER window on the event-time attribute (via Ibis)"
        ),
        OpKind.RECURSIVE: Support(
            False, "recursive: kernel in a KeyedProcessFunction, state in ValueState"
        ),
    }

    def __init__(
        self,
        parallelism: int = 1,
        source: Source | None = None,
        out: str | Path | None = None,
        watermark_delay: str | int = 0,
        late: str = "raise",
        checkpoint_interval: int | None = None,
        restart_attempts: int = 0,
        print_sinks: Sequence[str] = (),
        latency: bool = False,
        bundle_ms: int = 20,
        release_ms: int = 50,
        placement: str = "relational",
        sink_format: str = "csv",
    ) -> None:
        if sink_format not in SINK_FORMATS:
            raise BackendError(
                f"flink backend: sink_format must be one of {', '.join(SINK_FORMATS)}, "
                f"got {sink_format!r}"
            )
        if sink_format == "parquet" and out is None:
            raise BackendError(
                "flink backend: sink_format='parquet' writes <out>/<table>.parquet when the run "
                "ends; pass out= (a folder)"
            )
        if placement not in PLACEMENTS:
            raise BackendError(
                f"flink backend: placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}"
            )
        if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
            raise BackendError(
                f"flink backend: parallelism must be a positive integer, got {parallelism!r}"
            )
        if late not in LATE_POLICIES:
            raise BackendError(
                f"flink backend: late must be one of {', '.join(LATE_POLICIES)}, got {late!r}"
            )
        if checkpoint_interval is not None and (
            isinstance(checkpoint_interval, bool)
            or not isinstance(checkpoint_interval, int)
            or checkpoint_interval < 10
        ):
            raise BackendError(
                f"flink backend: checkpoint_interval is in ms (>= 10), got {checkpoint_interval!r}"
            )
        if (
            isinstance(restart_attempts, bool)
            or not isinstance(restart_attempts, int)
            or restart_attempts < 0
        ):
            raise BackendError(
                f"flink backend: restart_attempts must be >= 0, got {restart_attempts!r}"
            )
        unknown = sorted(set(print_sinks) - set(SINK_NAMES))
        if unknown:
            raise BackendError(
                f"flink backend: no sink {unknown[0]!r} to print; sinks are {', '.join(SINK_NAMES)}"
            )
        self.parallelism = parallelism
        self.source = coerce(source)
        self.out = None if out is None else Path(out)
        self.watermark_delay_ms = millis(watermark_delay, "watermark_delay")
        self.late = late
        self.checkpoint_interval = checkpoint_interval
        self.restart_attempts = restart_attempts
        self.print_sinks = tuple(print_sinks)
        self.latency = bool(latency)
        if isinstance(bundle_ms, bool) or not isinstance(bundle_ms, int) or bundle_ms < 1:
            raise BackendError(
                f"flink backend: bundle_ms must be a positive integer, got {bundle_ms!r}"
            )
        self.bundle_ms = bundle_ms
        if isinstance(release_ms, bool) or not isinstance(release_ms, int) or release_ms < 0:
            raise BackendError(
                f"flink backend: release_ms must be an integer >= 0 (ms), got {release_ms!r}"
            )
        self.release_ms = release_ms
        self.placement = placement
        self.sink_format = sink_format
        self.lowering = IbisLowering()

    def support(self, op: type[Op], mode: str) -> Support:
        if self.placement == "kernels":
            return KERNELS_PLACEMENT
        found = self.SUPPORT.get(op.kind, Support(False, f"{op.kind.value}: runs as a kernel"))
        if found.ok and op.op_name() in INEXACT:
            return Support(False, f"{op.kind.value}: {INEXACT[op.op_name()]}")
        if found.ok and not self.lowering.supports(op):
            return Support(
                False,
                f"{op.kind.value}: no Ibis lowering for {op.op_name()}; kernel in a KeyedProcessFunction",
            )
        return found

    # -- running ----------------------------------------------------------------
    def job(self, cerebro: Cerebro, plan: Plan, checkpoint_ms: int | None = None) -> FlinkJob:
        """The job of ``plan`` on this process's environment (not yet executed)."""
        fenv = get_env(
            plan.mode, self.parallelism, checkpoint_ms, self.restart_attempts, self.bundle_ms
        )
        return FlinkJob(
            fenv,
            self.lowering,
            cerebro,
            plan,
            self.source,
            self.out,
            self.watermark_delay_ms,
            self.print_sinks,
            self.latency,
            self.bundle_ms,
            self.release_ms,
        )

    def run(self, cerebro: Cerebro, plan: Plan) -> Result:
        if not self.source.bounded:
            raise BackendError(
                f"flink backend: {self.source.describe()} never ends; start it with "
                "streambt.backends.flink.start(cb, source=..., out=...) and read job.result()"
            )
        job = self.job(cerebro, plan, self.checkpoint_interval)
        built = job.build()
        try:
            job.fenv.env.execute(f"streambt {plan.mode} {job.run_id}")
        except Exception as exc:
            job.cleanup(built)
            raise BackendError(f"flink job failed: {java_cause(exc)}") from exc
        for view in built.views:
            job.fenv.tenv.drop_temporary_view(view)
        built.views.clear()
        self.check_diagnostics(built, job.own_out)
        result = assemble(cerebro, plan, built)
        if self.sink_format == "parquet":
            sinks.write_parquet(built.out, result)
        job.cleanup(built)
        return result

    def check_diagnostics(self, built: Built, temporary: bool) -> None:
        """Late or rejected bars: raise (or warn) naming the folder that holds them."""
        problems = []
        for name, what in (("late", "arrived behind the watermark"), ("rejected", "were rejected")):
            n = sinks.count_lines(built.out / name)
            if n:
                problems.append(f"{n} bar(s) {what} (see {built.out / name})")
        if not problems:
            return
        hint = (
            "; none was processed. Sort the input by time or raise watermark_delay= to cover the "
            "disorder; fix or drop rejected lines"
        )
        message = "flink run: " + " and ".join(problems) + hint
        if self.late == "raise":
            raise BackendError(message + ("" if not temporary else " (folder kept for inspection)"))
        warnings.warn(message, stacklevel=3)


def assemble(cerebro: Cerebro, plan: Plan, built: Built) -> Result:
    """The Result of a finished (or stopped) job, from its committed sink files."""
    from ...result import Result

    factors = sinks.read_factors(built.out, built.factor_columns)
    tables = sinks.read_simulation(built.out) if plan.stages_of(SIMULATE) else SimOutput().tables()
    return Result(
        factors=cerebro.canonical_factors(factors),
        orders=tables["orders"],
        fills=tables["fills"],
        trades=tables["trades"],
        equity=tables["equity"],
        metrics=lambda: local_metrics(plan, tables, cerebro) if tables else pa.table({}),
        plan=plan,
        frames={},
        positions=positions(cerebro, plan, tables["equity"], factors),
    )


def positions(cerebro: Cerebro, plan: Plan, equity: pa.Table, factors: pa.Table) -> pa.Table:
    """Units held per bar, as the local hosts give them: the equity rows' positions, priced
    at the close each strategy decided on (from the factors), valued position x price."""
    import numpy as np
    import pyarrow.compute as pc

    from ..event_tables import POSITION_SCHEMA

    if equity.num_rows == 0:
        return POSITION_SCHEMA.empty_table()
    graph = cerebro.graph
    closes = {}
    for node in (n for s in plan.stages_of(SIMULATE) for n in s.nodes):
        refs = dict(node.inputs)
        if "close" in refs:
            closes[node.param_dict["name"]] = graph.node(refs["close"].node_id).column(
                refs["close"].output
            )
    rows = equity.append_column("_row", pa.array(np.arange(equity.num_rows)))
    parts = []
    for column in sorted(set(closes.values())):
        names = pa.array([n for n, c in closes.items() if c == column], pa.string())
        mine = rows.filter(pc.is_in(rows.column("strategy"), value_set=names))
        prices = factors.select(["symbol", "ts", column]).rename_columns(["symbol", "ts", "price"])
        parts.append(mine.join(prices, keys=["symbol", "ts"], join_type="left outer"))
    joined = pa.concat_tables(parts).sort_by("_row")
    position, price = joined.column("position"), joined.column("price")
    computed = {
        "strategy": joined.column("strategy"),
        "symbol": joined.column("symbol"),
        "ts": joined.column("ts"),
        "position": position,
        "price": price,
        "value": pc.multiply(position, price),
    }
    return pa.table(
        {
            f.name: computed[f.name] if f.name in computed else pa.nulls(joined.num_rows, f.type)
            for f in POSITION_SCHEMA
        },
        schema=POSITION_SCHEMA,
    )


def java_cause(exc: BaseException) -> str:
    """The useful lines of a Py4J/Java error: the innermost causes and any Python error."""
    text = str(exc)
    causes = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by:")]
    python = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"\s*[A-Za-z_.]*(Error|Exception): ", line) and "java." not in line
    ]
    picked = (python[-1:] or []) + causes[-2:]
    return " | ".join(picked) if picked else text.strip().splitlines()[0][:500]


__all__ = [
    "FlinkBackend",
    "FlinkRun",
    "Source",
    "assemble",
    "check_java",
    "directory",
    "files",
    "replay",
    "start",
]
