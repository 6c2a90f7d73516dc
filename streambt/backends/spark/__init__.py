"""The Spark engine: batch backtests on a cluster and Structured Streaming, the same numbers as DuckDB.

``cb.run(backend="spark")`` runs Relational stages as one fused Ibis
expression on Spark SQL and Scan/Simulate stages as ``groupBy(symbol)
.applyInArrow`` over streambt's kernels (:mod:`.batch`), a sweep's strategies
keyed by (block of cells, symbol) so that they spread over the executors
(:mod:`.keying`);
``cb.run(backend="spark", mode="stream")`` runs every node inside one per-key
stateful operator of a Structured Streaming query reading a directory of
arriving files (:mod:`.stream`). One SparkSession per process is shared by
every run (:mod:`.session`). docs/spark.md is the user's guide.

Examples
--------
>>> res = cb.run(backend="spark")                                       # doctest: +SKIP
>>> res = cb.run(backend="spark", master="spark://10.0.0.5:7077")       # doctest: +SKIP
>>> res = cb.run(backend="spark", mode="stream", micro_batch=200)       # doctest: +SKIP
>>> res = cb.run(backend="spark", sweep_key="cell", collect=("trades", "metrics"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pyspark  # noqa: F401  (a missing pyspark names the extra to install)

from ...errors import BackendError
from ...ops.base import Op, OpKind
from ..base import Backend, Support
from .keying import check_sweep_key
from .partial import TABLES, check_collect
from .session import DEFAULT_MASTER, spark_session

if TYPE_CHECKING:
    from ...cerebro import Cerebro
    from ...compile.plan import Plan
    from ...result import Result

OPERATORS = ("pandas_with_state", "transform_with_state")
PLACEMENTS = ("relational", "kernels")
KERNELS_PLACEMENT = Support(
    False,
    "placement='kernels': every node is a kernel in the per-key applyInArrow pass",
)
STREAM_KERNEL = Support(
    False,
    "stream: Structured Streaming rejects OVER windows and lag "
    "([NON_TIME_WINDOW_NOT_SUPPORTED_IN_STREAMING]); every node runs in the per-symbol "
    "stateful operator",
)


class SparkBackend(Backend):
    """Spark: Ibis on Spark SQL and per-key kernels in batch; one stateful operator per key in stream.

    Parameters
    ----------
    master : Spark master URL: ``local[2]`` (default), ``local[*]`` or ``spark://HOST:PORT``
    conf : extra Spark settings, e.g. ``{"spark.executor.memory": "2g"}``
    source : stream mode: a directory of Parquet or CSV bar files to watch; by default the
        cerebro's feeds are replayed as files written in time order into a folder
    sink : stream mode: the folder of the Parquet sinks (orders, fills, trades, equity,
        factors); a temporary one by default
    checkpoint : stream mode: the query's checkpoint folder; a restart with the same
        ``checkpoint`` and ``sink`` continues where the last run stopped
    micro_batch : stream mode: bars per replayed file (one file per micro-batch)
    speed : stream mode: replayed files per second (None: as fast as the query reads them)
    max_batches : stream mode: stop the query after this many micro-batches (a later run with
        the same checkpoint goes on)
    operator : stream mode: ``"pandas_with_state"`` (applyInPandasWithState, the default)
        or ``"transform_with_state"`` (transformWithStateInPandas; needs ``protobuf``)
    timeout : stream mode: seconds to wait for the query before giving up
    placement : batch: ``"relational"`` (default: elementwise and windowed ops as Spark SQL)
        or ``"kernels"`` (every node a kernel in the per-key pass, as DuckDB's
        ``placement="kernels"``; no SQL window over the bars)
    sweep_key : batch: how the strategies (a sweep's cells) are keyed: ``"auto"`` (default:
        blocks of cells x symbols, enough for two groups per core), ``"cell"`` (one group per
        strategy and symbol) or ``"symbol"`` (every strategy of a symbol in one group)
    collect : batch: the result tables brought back to the driver, e.g.
        ``("trades", "metrics")``; ``None`` (default) brings back all of them. A table not
        collected raises on access; the per-bar equity rows are not made at all when neither
        ``equity`` nor ``metrics`` is collected
    """

    name = "spark"
    relational_form = "one fused Ibis expression (Spark SQL)"
    hosts_portfolio = True
    #: (mode, op kind) -> whether it is a relational (Spark SQL) node, and why
    SUPPORT: ClassVar[dict[tuple[str, OpKind], Support]] = {
        ("batch", OpKind.ELEMENTWISE): Support(True, "elementwise: a Spark SQL column expression"),
        ("batch", OpKind.WINDOWED): Support(
            True, "windowed: a Spark SQL window over (symbol ORDER BY ts ROWS n-1 PRECEDING)"
        ),
        ("batch", OpKind.RECURSIVE): Support(
            False,
            "recursive: state' = f(state, row) has no SQL window form; kernel in groupBy(symbol).applyInArrow",
        ),
        ("stream", OpKind.ELEMENTWISE): STREAM_KERNEL,
        ("stream", OpKind.WINDOWED): STREAM_KERNEL,
        ("stream", OpKind.RECURSIVE): STREAM_KERNEL,
    }
    #: how the stages that are not op nodes run, for the docs and ``explain``
    STAGES: ClassVar[dict[tuple[str, str], Support]] = {
        ("batch", "resample"): Support(
            True, "groupBy(symbol).applyInArrow over streambt.io.resample (calendar bucket bounds)"
        ),
        ("batch", "align"): Support(
            True, "cogroup by symbol, applyInArrow as-of (exact, no look-ahead)"
        ),
        ("batch", "cache"): Support(
            True, "cached columns read by Spark and joined on (symbol, ts)"
        ),
        ("batch", "metrics"): Support(True, "metrics_expr on ibis pyspark tables"),
        ("batch", "simulate"): Support(
            True,
            "groupBy(block of strategies, symbol).applyInArrow; kernels several blocks read run "
            "once per symbol before them (sweep_key='auto' | 'cell' | 'symbol')",
        ),
        ("stream", "resample"): Support(True, "higher-timeframe buckets in the per-symbol state"),
        ("stream", "align"): Support(True, "as-of values kept in the per-symbol state"),
        ("stream", "cache"): Support(
            False, "stream: every indicator is computed as the bars arrive; the cache is not read"
        ),
        ("stream", "metrics"): Support(True, "metrics_expr on the sinks read back by Spark"),
    }

    def __init__(
        self,
        master: str = DEFAULT_MASTER,
        conf: Mapping[str, Any] | None = None,
        source: str | os.PathLike[str] | None = None,
        sink: str | os.PathLike[str] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        micro_batch: int = 500,
        speed: float | None = None,
        max_batches: int | None = None,
        operator: str = "pandas_with_state",
        timeout: float = 600.0,
        placement: str = "relational",
        sweep_key: str = "auto",
        collect: str | Iterable[str] | None = None,
    ) -> None:
        if not isinstance(master, str) or not master:
            raise BackendError(
                f"spark backend: master must be a URL such as 'local[2]', got {master!r}"
            )
        if isinstance(micro_batch, bool) or not isinstance(micro_batch, int) or micro_batch < 1:
            raise BackendError(
                f"spark backend: micro_batch must be a positive integer, got {micro_batch!r}"
            )
        if speed is not None and not (isinstance(speed, int | float) and speed > 0):
            raise BackendError(
                f"spark backend: speed is files per second (> 0) or None, got {speed!r}"
            )
        if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
            raise BackendError(
                f"spark backend: max_batches must be a positive integer or None, got {max_batches!r}"
            )
        if operator not in OPERATORS:
            raise BackendError(
                f"spark backend: operator must be one of {', '.join(OPERATORS)}, got {operator!r}"
            )
        if placement not in PLACEMENTS:
            raise BackendError(
                f"spark backend: placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}"
            )
        self.placement = placement
        self.sweep_key = check_sweep_key(sweep_key)
        self.collect = check_collect(collect)
        self.master = master
        self.conf = dict(conf or {})
        self.source = source
        self.sink = sink
        self.checkpoint = checkpoint
        self.micro_batch = micro_batch
        self.speed = speed
        self.max_batches = max_batches
        self.operator = operator
        self.timeout = float(timeout)

    def support(self, op: type[Op], mode: str) -> Support:
        if mode == "batch" and self.placement == "kernels":
            return KERNELS_PLACEMENT
        found = self.SUPPORT.get(
            (mode, op.kind), Support(False, f"{op.kind.value}: runs as a kernel")
        )
        if found.ok and not _lowering().supports(op):
            return Support(
                False,
                f"{op.kind.value}: no Ibis lowering for {op.op_name()}; kernel in applyInArrow",
            )
        return found

    def session(self) -> Any:
        """The process's SparkSession for this backend's master and conf."""
        return spark_session(self.master, self.conf)

    def run(self, cerebro: Cerebro, plan: Plan) -> Result:
        self.check_run(plan)
        spark = self.session()
        if plan.mode == "stream":
            from .stream import SparkStream

            return SparkStream(spark, cerebro, plan, self).run()
        from .batch import SparkBatch

        return SparkBatch(spark, cerebro, plan, self).run()

    def check_run(self, plan: Plan) -> None:
        """Options that do not fit this run's mode or cache, named before Spark starts."""
        if plan.mode == "stream":
            if self.collect != frozenset(TABLES):
                raise BackendError(
                    "spark stream: collect= is for batch runs; a stream writes every table to "
                    "its sink (sink=) and reads them back: drop collect="
                )
            if self.sweep_key != "auto":
                raise BackendError(
                    "spark stream: sweep_key= is for batch runs; the stream's state is keyed by "
                    "symbol and holds every cell: drop sweep_key="
                )
        if plan.cache is not None and "factors" not in self.collect:
            raise BackendError(
                "spark backend: cache= stores the factors of the run, so collect= must include "
                "'factors' (or run without cache=)"
            )


_LOWERING: Any = None


def _lowering() -> Any:
    global _LOWERING
    if _LOWERING is None:
        from ...compile.lowering import IbisLowering

        _LOWERING = IbisLowering()
    return _LOWERING


__all__ = ["SparkBackend", "spark_session"]
