"""The Python functions a streambt Flink job runs: parse, pace, late check, kernel host, sink lines.

Everything here is pickled by PyFlink and runs in its Python workers; a class
holds plain data only (column names, nodes) and builds its kernels in
``open``.

The kernel host (:class:`KernelHostFunction`) is the Scan and Simulate stage:
a ``KeyedProcessFunction`` keyed by ``symbol`` (the key column is a parameter,
so a portfolio-keyed simulation can later key by ``portfolio``). It buffers
each key's rows in ``ValueState`` until the watermark passes them, then steps
the kernels over the buffered rows in event-time order, one call per
watermark advance: rows out of order within the watermark delay are sorted,
rows behind it are never dropped silently (they go to the ``late`` output).
Each kernel's state lives in its own ``ValueState`` named by the node's
durable id, as :func:`streambt.kernels.dumps_state` bytes, so checkpoints hold
it and a restart resumes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import cloudpickle
import numpy as np
from pyflink.common import Row, Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import (
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import ValueStateDescriptor

from ...graph import Graph, Node
from ...ops.base import OpKind
from ...sim.events import EVENT_COLUMNS, NO_TS, TS_COLUMNS
from ..event_tables import NAMED_CODES
from . import _boot

if TYPE_CHECKING:
    from ...kernels import SimulationKernel

cloudpickle.register_pickle_by_value(_boot)

EPOCH = datetime(1970, 1, 1)
US = timedelta(microseconds=1)
#: Long.MAX_VALUE: the final watermark of a bounded input; a timer here fires at its end
END_OF_INPUT = 2**63 - 1
#: the column that carries the wall-clock microsecond a bar entered the job (latency)
EMITTED = "_emitted_us"

LATE = OutputTag("late", Types.STRING())
REJECTED = OutputTag("rejected", Types.STRING())
EVENT_TAGS = {name: OutputTag(name, Types.STRING()) for name in ("equity", *EVENT_COLUMNS)}
LATENCY = OutputTag("latency", Types.STRING())

#: the bar columns a source emits, in order (then any cached columns, then EMITTED)
BAR_FIELDS = ("open", "high", "low", "close", "volume")


class Shipped:
    """Pickles as ``_boot.load(payload)``: the worker repairs ``print`` for numba before the
    payload imports streambt (see :mod:`._boot`)."""

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return _boot.load, (cloudpickle.dumps((type(self), self.__dict__)),)


# -- values ---------------------------------------------------------------
def to_us(ts: datetime) -> int:
    """A naive UTC datetime (Flink TIMESTAMP(3)) -> microseconds since the epoch."""
    return (ts - EPOCH) // US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def iso(us: int) -> str:
    """Microseconds -> ISO 8601 UTC with a Z, the form the CSV sinks write and Arrow reads."""
    return from_us(us).isoformat(timespec="microseconds") + "Z"


def cell(value: Any) -> str:
    """One CSV field: empty for null/NaN, shortest round-trip repr for floats."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, datetime):
        return iso(to_us(value))
    return str(value)


def quote(text: str) -> str:
    """A CSV field: as is, or quoted when it holds a comma, a quote or a line break (a sweep
    cell's strategy is named like ``sweep[fast=5,slow=20]``)."""
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def kind_of(name: str) -> str:
    """The Flink type family of a frame column."""
    if name == "symbol":
        return "string"
    if name == "ts":
        return "timestamp"
    if name == EMITTED:
        return "long"
    return "double"


def type_info(columns: Sequence[str]) -> Any:
    """Row type of a frame's DataStream."""
    kinds = {
        "string": Types.STRING(),
        "timestamp": Types.SQL_TIMESTAMP(),
        "long": Types.LONG(),
        "double": Types.DOUBLE(),
    }
    return Types.ROW_NAMED(list(columns), [kinds[kind_of(c)] for c in columns])


# -- sources --------------------------------------------------------------
def parse_bar(line: str, now_us: int, extra: int = 0) -> Row | str | None:
    """A CSV line ``symbol,ts,open,high,low,close,volume`` -> a Row, a rejection reason, or None (header).

    ``ts`` is ISO 8601 (UTC unless it carries an offset) or integer
    microseconds since the epoch; Flink's event time counts milliseconds, so a
    finer time is rejected rather than rounded. ``extra`` more float columns
    (factor-cache columns) may follow; empty means null.
    """
    fields = line.rstrip("\r\n").split(",")
    if not line.strip() or fields[0] == "symbol":
        return None
    if len(fields) != 7 + extra:
        return (
            f"expected {7 + extra} fields symbol,ts,open,high,low,close,volume, got {len(fields)}"
        )
    symbol, ts_text = fields[0], fields[1].strip()
    try:
        if ts_text.lstrip("-").isdigit():
            us = int(ts_text)
        else:
            ts = datetime.fromisoformat(ts_text)
            if ts.tzinfo is not None:
                ts = ts.astimezone(UTC).replace(tzinfo=None)
            us = to_us(ts)
        o, h, lo, c, v = (float(x) for x in fields[2:7])
        more = [float(x) if x else None for x in fields[7:]]
    except ValueError as exc:
        return f"cannot parse: {exc}"
    if us % 1000:
        return "timestamp finer than a millisecond (Flink's event time is in ms)"
    if not all(math.isfinite(x) and x > 0 for x in (o, h, lo, c)):
        return "prices must be finite and positive"
    if h < lo:
        return "high < low"
    if not (math.isfinite(v) and v >= 0):
        return "volume must be finite and >= 0"
    return Row(symbol, from_us(us), o, h, lo, c, v, *more, now_us)


class ParseBars(Shipped, ProcessFunction):
    """CSV lines -> bar rows; bad lines go to the ``rejected`` output with the reason, and in
    streaming, bars behind the watermark to the ``late`` output.

    Flink's OVER windows drop a bar behind the watermark without a word
    (ENGINES.md section 3: 202 of 600 rows). A bar is late here when its time
    is at or before ``max(earlier ts) - delay - 1 ms``, the bound Flink's
    bounded-out-of-orderness watermark (assigned right after this operator,
    from the same bars) never exceeds: a bar that passes is never dropped
    downstream, and the decision is the same on every run. (The worker's own
    view of the watermark lags the JVM's by up to a bundle, so it cannot
    decide this.) Runs at parallelism 1, so lines keep their order; after a
    restart the maximum starts again from the first restored bar.
    """

    def __init__(self, extra: int = 0, delay_ms: int | None = None) -> None:
        self.extra = extra
        self.delay_ms = delay_ms

    def open(self, ctx: RuntimeContext) -> None:
        self.rejected = ctx.get_metrics_group().counter("rejected_bars")
        self.late = ctx.get_metrics_group().counter("late_bars")
        self.latest: int | None = None

    def process_element(self, value: str, ctx: Any) -> Iterator[Any]:
        got = parse_bar(value, time.time_ns() // 1000, self.extra)
        if isinstance(got, Row):
            if self.delay_ms is not None:
                ts_ms = to_us(got[1]) // 1000
                if self.latest is not None and ts_ms <= self.latest - self.delay_ms - 1:
                    self.late.inc()
                    yield LATE, ",".join(cell(v) for v in got[:7])
                    return
                if self.latest is None or ts_ms > self.latest:
                    self.latest = ts_ms
            yield got
        elif got is not None:
            self.rejected.inc()
            yield REJECTED, f"{got}|{value.rstrip()}"


class BarTime(Shipped, TimestampAssigner):
    """Event time of a bar row: its ``ts`` in milliseconds."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return int(to_us(value[1]) // 1000)


# -- the kernel host --------------------------------------------------------
class KeyState:
    """Per-key state of the host: Flink ``ValueState`` in streaming, worker memory in batch.

    PyFlink 2.3's batch mode moves the Java state backend on to the next key
    before the Python timers of the previous key have run, so state written in
    those timers lands on the wrong key (measured: a strategy of BBB received
    AAA's last state). A batch job restarts from scratch on failure, so it
    loses nothing by keeping its state in memory; streaming keeps it in
    checkpointed ``ValueState``.
    """

    def __init__(self, ctx: RuntimeContext, names: Sequence[str], batch: bool) -> None:
        self.batch = batch
        self.memory: dict[tuple[str, str], Any] = {}
        self.handles: dict[str, Any] = {}
        if not batch:
            for name in names:
                kind = (
                    Types.PRIMITIVE_ARRAY(Types.BYTE())
                    if name.startswith("kernel-")
                    else Types.PICKLED_BYTE_ARRAY()
                )
                self.handles[name] = ctx.get_state(ValueStateDescriptor(name, kind))

    def get(self, key: str, name: str) -> Any:
        if self.batch:
            return self.memory.get((key, name))
        return self.handles[name].value()

    def put(self, key: str, name: str, value: Any) -> None:
        if self.batch:
            self.memory[(key, name)] = value
        else:
            self.handles[name].update(value)

    def clear(self, key: str, name: str) -> None:
        if self.batch:
            self.memory.pop((key, name), None)
        else:
            self.handles[name].clear()


@dataclass(frozen=True)
class KernelWiring:
    """The kernels a Flink operator runs, and the columns they read and write.

    ``columns``: the input row's columns, in order; ``nodes``: indicator nodes
    (Scan), in dependency order; ``sims``: simulation nodes; ``inputs``: node id ->
    {role: input column}; ``outputs``: indicator id -> {output: column};
    ``universes``: data node id -> the symbols its feed provides (None: any).
    """

    columns: tuple[str, ...]
    nodes: tuple[Node, ...]
    sims: tuple[Node, ...]
    inputs: Mapping[str, Mapping[str, str]]
    outputs: Mapping[str, Mapping[str, str]]
    universes: Mapping[str, frozenset[str] | None]

    @classmethod
    def of(
        cls,
        graph: Graph,
        nodes: Sequence[Node],
        columns: Sequence[str],
        universes: Mapping[str, frozenset[str] | None],
    ) -> KernelWiring:
        """The wiring of the kernel ``nodes`` (indicators and simulations, in plan order)."""
        indicators = tuple(n for n in nodes if n.kind is not OpKind.SIMULATION)
        return cls(
            columns=tuple(columns),
            nodes=indicators,
            sims=tuple(n for n in nodes if n.kind is OpKind.SIMULATION),
            inputs={
                n.id: {role: graph.node(k.node_id).column(k.output) for role, k in n.inputs}
                for n in nodes
            },
            outputs={n.id: {o: n.column(o) for o in n.op.outputs} for n in indicators},
            universes=dict(universes),
        )

    @property
    def out_columns(self) -> list[str]:
        """The input columns, then every indicator's output columns."""
        return [*self.columns, *(c for n in self.nodes for c in self.outputs[n.id].values())]

    def kernels(self) -> dict[str, Any]:
        """A fresh kernel per node id (an operator makes them when it opens)."""
        from ..kernel_host import kernel_for

        return {n.id: kernel_for(n) for n in [*self.nodes, *self.sims]}


class KernelHostFunction(Shipped, KeyedProcessFunction):
    """Scan and Simulate stages for one key: kernels over the rows the watermark has passed.

    Parameters
    ----------
    wiring : the kernels and their columns (:class:`KernelWiring`)
    batch : Flink's batch execution mode (state in memory, see :class:`KeyState`)
    latency : also write a latency row per order and fill
    """

    def __init__(self, wiring: KernelWiring, batch: bool, latency: bool = False) -> None:
        self.wiring = wiring
        self.columns = list(wiring.columns)
        self.batch = batch
        self.latency = latency

    def open(self, ctx: RuntimeContext) -> None:
        self.kernels = self.wiring.kernels()
        names = ["pending", "progress", *(f"kernel-{i}" for i in self.kernels)]
        self.store = KeyState(ctx, names, self.batch)
        self.index = {c: i for i, c in enumerate(self.columns)}
        self.ts_at = self.index["ts"]
        self.late = ctx.get_metrics_group().counter("late_bars")

    def process_element(self, row: Row, ctx: Any) -> Iterator[Any]:
        key = ctx.get_current_key()
        ts_ms = to_us(row[self.ts_at]) // 1000
        progress = self.store.get(key, "progress")
        # On every row, not only the key's first: a checkpoint may hold the state of a first
        # row without the timer it registered, and the end-of-input flush would be lost
        # after a restart. Flink keeps one timer per key and time.
        ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        if progress is None:
            progress = (-(2**63), 0)
            self.store.put(key, "progress", progress)
        watermark = ctx.timer_service().current_watermark()
        if ts_ms <= max(progress[0], watermark):
            self.late.inc()
            yield LATE, ",".join(cell(v) for v in row[:7])
            return
        pending = self.store.get(key, "pending")
        if pending is None:
            pending = []
        pending.append(tuple(row))
        self.store.put(key, "pending", pending)
        if not self.batch:
            ctx.timer_service().register_event_time_timer(ts_ms)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        key = ctx.get_current_key()
        limit = max(timestamp, ctx.timer_service().current_watermark())
        pending = self.store.get(key, "pending") or []
        at = self.ts_at
        due = [r for r in pending if to_us(r[at]) // 1000 <= limit]
        if due:
            rest = [r for r in pending if to_us(r[at]) // 1000 > limit]
            if rest:
                self.store.put(key, "pending", rest)
            else:
                self.store.clear(key, "pending")
            yield from self._step(sorted(due, key=lambda r: r[at]), key)
        if timestamp == END_OF_INPUT:
            yield from self._finish(key)
            if self.batch:
                for name in [n for k, n in self.store.memory if k == key]:
                    self.store.clear(key, name)

    # -- running the kernels --------------------------------------------------
    def _kernel_state(self, key: str, node_id: str) -> Any:
        from ...kernels import loads_state

        blob = self.store.get(key, f"kernel-{node_id}")
        return self.kernels[node_id].init() if blob is None else loads_state(bytes(blob))

    def _save(self, key: str, node_id: str, state: Any) -> None:
        from ...kernels import dumps_state

        self.store.put(key, f"kernel-{node_id}", dumps_state(state))

    def _step(self, rows: list[tuple[Any, ...]], key: str) -> Iterator[Any]:
        at = self.ts_at
        kept: list[tuple[Any, ...]] = []
        for r in rows:
            if kept and r[at] == kept[-1][at]:
                yield REJECTED, f"duplicate timestamp|{','.join(cell(v) for v in r[:7])}"
            else:
                kept.append(r)
        rows = kept
        n = len(rows)
        ts = np.fromiter((to_us(r[at]) for r in rows), dtype=np.int64, count=n)
        _, seq = self.store.get(key, "progress")
        arrays: dict[str, np.ndarray] = {}

        def column(name: str) -> np.ndarray:
            if name not in arrays:
                i = self.index[name]
                arrays[name] = np.array(
                    [np.nan if r[i] is None else r[i] for r in rows], dtype=np.float64
                )
            return arrays[name]

        new: list[np.ndarray] = []
        for node in self.wiring.nodes:
            cols = {role: column(name) for role, name in self.wiring.inputs[node.id].items()}
            state, out = self.kernels[node.id].step(self._kernel_state(key, node.id), cols)
            self._save(key, node.id, state)
            for o, name in self.wiring.outputs[node.id].items():
                arrays[name] = np.asarray(out[o], dtype=np.float64)
                new.append(arrays[name])
        if self.wiring.sims:
            emitted = rows[-1][self.index[EMITTED]] if EMITTED in self.index else 0
            lines, seq = self._simulate(ts, column, key, emitted, seq)
            yield from lines
        self.store.put(key, "progress", (int(ts[-1] // 1000), seq))
        extra = [[None if math.isnan(v) else float(v) for v in a] for a in new]
        for j, r in enumerate(rows):
            yield Row(*r, *(col[j] for col in extra))

    def _simulate(
        self, ts: np.ndarray, column: Any, key: str, emitted: int, seq: int
    ) -> tuple[list[tuple[OutputTag, str]], int]:
        """(tag, line) of equity rows, events and latency rows; the next sequence number."""
        lines: list[tuple[OutputTag, str]] = []
        for node in self.wiring.sims:
            data_id = next(k.node_id for role, k in node.inputs if role in node.op.data_fields)
            universe = self.wiring.universes.get(data_id)
            if universe is not None and key not in universe:
                continue
            name = node.param_dict["name"]
            head = f"{quote(name)},{quote(key)}"
            start = node.param_dict.get("start")
            cols = {"ts": ts, **{r: column(c) for r, c in self.wiring.inputs[node.id].items()}}
            # Warm-up bars feed the indicators but decide nothing (as KernelRunner does).
            first = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
            if first:
                cols["signal"] = np.where(np.arange(ts.size) < first, np.nan, cols["signal"])
            kernel = cast("SimulationKernel", self.kernels[node.id])
            state, out, events = kernel.step_events(self._kernel_state(key, node.id), cols)
            self._save(key, node.id, state)
            for j in range(first, ts.size):
                lines.append(
                    (
                        EVENT_TAGS["equity"],
                        f"{head},{iso(int(ts[j]))},{cell(out['cash'][j])},"
                        f"{cell(out['position'][j])},{cell(out['equity'][j])},{seq}",
                    )
                )
                seq += 1
            for line in event_lines(name, key, events, seq):
                lines.append(line)
                seq += 1
            if self.latency:
                now = time.time_ns() // 1000
                for table, col in (("orders", "created_ts"), ("fills", "ts")):
                    for t in (events.get(table) or {}).get(col, []):
                        lines.append(
                            (
                                LATENCY,
                                f"{table},{head},{iso(int(t))},{iso(int(ts[-1]))},{emitted},{now}",
                            )
                        )
        return lines, seq

    def _finish(self, key: str) -> Iterator[Any]:
        progress = self.store.get(key, "progress")
        if progress is None:
            return
        done, seq = progress
        for node in self.wiring.sims:
            if self.store.get(key, f"kernel-{node.id}") is None:
                continue
            kernel = cast("SimulationKernel", self.kernels[node.id])
            events = kernel.finish(self._kernel_state(key, node.id))
            for line in event_lines(node.param_dict["name"], key, events, seq):
                yield line
                seq += 1
        self.store.put(key, "progress", (done, seq))


def event_lines(
    strategy: str, symbol: str, events: Mapping[str, Mapping[str, np.ndarray]], seq: int
) -> Iterator[tuple[OutputTag, str]]:
    """(tag, CSV line) per event row: the EVENT_SCHEMAS columns, then the sequence number."""
    for table, spec in EVENT_COLUMNS.items():
        cols = events.get(table)
        if not cols:
            continue
        n = len(next(iter(cols.values())))
        if n == 0:
            continue
        rendered = []
        for name in spec:
            values = np.asarray(cols[name]).tolist()
            if name in TS_COLUMNS:
                rendered.append(["" if v == NO_TS else iso(v) for v in values])
            elif name in NAMED_CODES:
                names = _code_names(name)
                rendered.append([names[v] for v in values])
            else:
                rendered.append([cell(v) for v in values])
        tag = EVENT_TAGS[table]
        head = f"{quote(strategy)},{quote(symbol)}"
        for row in zip(*rendered, strict=True):
            yield tag, f"{head},{','.join(row)},{seq}"
            seq += 1


_CODE_NAMES: dict[str, dict[int, str]] = {}


def _code_names(column: str) -> dict[int, str]:
    """Integer code -> name of a coded event column (status, side, ...)."""
    found = _CODE_NAMES.get(column)
    if found is None:
        found = _CODE_NAMES[column] = {int(m): m.name for m in NAMED_CODES[column]}
    return found


class FactorLine(Shipped, MapFunction):
    """A frame row -> its CSV line in the factors sink (``_emitted_us`` left out)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.keep = [i for i, c in enumerate(columns) if c != EMITTED]

    def map(self, row: Row) -> str:
        return ",".join(cell(row[i]) for i in self.keep)
