"""The bundled pipeline's operators: bars move as numpy bundles, not rows.

When every node of a streaming plan is a kernel (``placement="kernels"``, or a
graph with no windowed SQL), the job is::

    chunks of CSV lines -> Ingest (one constant key, parallelism 1)
                        -> BundleHost (keyed by a bucket of symbols) -> sinks

:class:`Ingest` parses a chunk at once (:func:`.bundles.parse_chunk`), sends bad
lines to ``rejected`` and bars behind the watermark to ``late`` (the rule of
:class:`.operators.ParseBars`: late when at or before ``max(earlier ts) - delay -
1 ms``), holds the others in ``ValueState`` until that watermark passes them,
and releases what is due at most every ``release_ms`` of wall time (a
processing-time timer flushes a quiet input). A release is one record per
bucket: the due bars of the bucket's symbols, ordered by (symbol, ts) and
packed (:func:`.bundles.pack`). A symbol's bucket is a CRC-32 of its name
modulo :data:`BUCKETS`, the same in every process and run, so a restored
checkpoint finds each symbol's state where it left it. A timer at the end of
the input (the final watermark of a bounded source, or of a drained job)
releases everything.

:class:`BundleHost` steps every kernel of each symbol over its bars, keeps each
symbol's kernel states as packed arrays (not pickles) in the bucket's
``ValueState``, and writes each sink's rows of the whole record as one
record (the file sinks write a record and a newline), factors and equity
formatted by Arrow's CSV writer. It is :class:`.operators.KernelHostFunction`
without the per-row costs: one state read and write, one kernel call per node
and symbol, and one record per table, per release instead of per bar.

Both keep everything they need in Flink state, so a restart from a checkpoint
resumes them exactly (``tests/engines/flink/test_exactly_once.py``).
"""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from ...graph import Node
from .bundles import (
    BAR_FIELDS,
    SEP,
    IsoCache,
    float_cells,
    pack,
    pack_states,
    parse_chunk,
    unpack,
    unpack_states,
)
from .operators import (
    EMITTED,
    END_OF_INPUT,
    EVENT_TAGS,
    LATE,
    LATENCY,
    REJECTED,
    Shipped,
    event_lines,
    parse_bar,
    quote,
)

if TYPE_CHECKING:
    from ...kernels import SimulationKernel

#: a watermark below every bar time
NO_TIME = -(2**62)
#: keys of the host: symbols are spread over this many buckets (fixed: restored state
#: is found by bucket, whatever the job's parallelism)
BUCKETS = 16
#: the state field of a symbol's blob that holds its next sequence number
SEQ = "_seq"
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="none")
_CSV_QUOTED = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def bucket_of(symbol: str) -> int:
    """The host key of ``symbol``: CRC-32 of its UTF-8 name modulo :data:`BUCKETS`."""
    return zlib.crc32(symbol.encode()) % BUCKETS


def bundle_type() -> Any:
    """Row type of a released bundle: the bucket, its symbols (comma-separated), the bars."""
    return Types.ROW_NAMED(
        ["bucket", "symbols", "bars"],
        [Types.INT(), Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())],
    )


def _take(columns: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in columns.items()}


def csv_block(columns: Sequence[tuple[str, pa.Array]], names: Iterable[str] = ()) -> str:
    """Rows as CSV text without a header or a final newline (NaN reads back as null).

    Strings are quoted when any of ``names`` (the distinct strings of the block)
    holds a comma, a quote or a line break, as a sweep cell's strategy name does.
    """
    batch = pa.RecordBatch.from_arrays([c for _, c in columns], names=[n for n, _ in columns])
    sink = pa.BufferOutputStream()
    quoted = any(quote(n) != n for n in names)
    pacsv.write_csv(batch, sink, write_options=_CSV_QUOTED if quoted else _CSV)
    return bytes(sink.getvalue()).decode().rstrip("\n")


class StateBox:
    """The kernel states of a bucket's symbols, live between bundles.

    Kept in ``ValueState`` as this object: PyFlink holds state writes in its
    cache and encodes them when a bundle ends (or a checkpoint flushes it), so a
    box is pickled once per bundle, not once per symbol and release, and it
    pickles as packed arrays (:func:`.bundles.pack_states`), not as a pickle of
    many small arrays.
    """

    def __init__(self, symbols: dict[str, dict[str, Any]]) -> None:
        self.symbols = symbols

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        flat = {
            f"{sym}\0{node}": state
            for sym, states in self.symbols.items()
            for node, state in states.items()
        }
        return _unbox, (pack_states(flat),)


def _unbox(blob: bytes) -> StateBox:
    symbols: dict[str, dict[str, Any]] = {}
    for name, state in unpack_states(blob).items():
        sym, _, node = name.rpartition("\0")
        symbols.setdefault(sym, {})[node] = state
    return StateBox(symbols)


class Ingest(Shipped, KeyedProcessFunction):
    """Chunks of CSV lines -> bundles of the bars the watermark has passed, one per bucket.

    Parameters
    ----------
    extra : names of the float columns after the bar fields (factor-cache columns)
    delay_ms : the watermark delay (how far out of order bars may arrive)
    release_ms : shortest wall time between two releases (bigger bundles, more latency)
    """

    def __init__(self, extra: Sequence[str], delay_ms: int, release_ms: int) -> None:
        self.extra = list(extra)
        self.delay_ms = delay_ms
        self.release_ms = release_ms

    def open(self, ctx: RuntimeContext) -> None:
        self.state = ctx.get_state(ValueStateDescriptor("ingest", Types.PICKLED_BYTE_ARRAY()))
        self.rejected = ctx.get_metrics_group().counter("rejected_bars")
        self.late = ctx.get_metrics_group().counter("late_bars")
        self.iso = IsoCache()
        self.buckets: dict[str, int] = {}

    def _load(self) -> dict[str, Any]:
        st = self.state.value()
        if st is None:
            st = {"latest": None, "held": None, "released_ms": 0, "timer": None}
        return cast("dict[str, Any]", st)

    def process_element(self, value: str, ctx: Any) -> Iterator[Any]:
        now_us = time.time_ns() // 1000
        # On every record, not once: a checkpoint may hold the state of a first record
        # without the timer it registered (measured: the end-of-input release lost after a
        # restart). Flink keeps one timer per key and time, so this costs nothing more.
        ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        st = self._load()
        cols, _, rejected = parse_chunk(value.split(SEP), len(self.extra), parse_bar)
        if rejected:
            self.rejected.inc(len(rejected))
            yield REJECTED, "\n".join(rejected)
        if cols["ts"].size:
            for k, name in enumerate(self.extra):
                cols[name] = cols.pop(f"x{k}")
            ts_ms = cols["ts"] // 1000
            latest = NO_TIME if st["latest"] is None else st["latest"]
            before = np.maximum.accumulate(np.concatenate(([latest], ts_ms)))
            late = ts_ms <= before[:-1] - self.delay_ms - 1
            st["latest"] = int(before[-1])
            if late.any():
                self.late.inc(int(late.sum()))
                yield LATE, self._lines(_take(cols, np.flatnonzero(late)))
                cols = _take(cols, np.flatnonzero(~late))
            cols[EMITTED] = np.full(cols["ts"].size, now_us, dtype=np.int64)
            held = st["held"]
            st["held"] = (
                cols if held is None else {k: np.concatenate((held[k], cols[k])) for k in held}
            )
        now_ms = now_us // 1000
        if now_ms - st["released_ms"] >= self.release_ms:
            yield from self._release(st, self._watermark(st), now_ms)
        elif st["timer"] is None and st["held"] is not None:
            st["timer"] = st["released_ms"] + self.release_ms
            ctx.timer_service().register_processing_time_timer(st["timer"])
        self.state.update(st)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        st = self._load()
        now_ms = time.time_ns() // 1_000_000
        if timestamp == END_OF_INPUT:
            yield from self._release(st, END_OF_INPUT, now_ms)
        else:
            st["timer"] = None
            yield from self._release(st, self._watermark(st), now_ms)
        self.state.update(st)

    def _watermark(self, st: Mapping[str, Any]) -> int:
        """The event time (ms) every later bar must be after: max(ts) - delay - 1 ms."""
        return NO_TIME if st["latest"] is None else int(st["latest"]) - self.delay_ms - 1

    def _bucket(self, symbol: str) -> int:
        found = self.buckets.get(symbol)
        if found is None:
            found = self.buckets[symbol] = bucket_of(symbol)
        return found

    def _release(self, st: dict[str, Any], watermark: int, now_ms: int) -> Iterator[Row]:
        """The held bars at or before ``watermark``: per bucket, ordered by (symbol, ts)."""
        st["released_ms"] = now_ms
        held = st["held"]
        if held is None:
            return
        due = held["ts"] // 1000 <= watermark
        if not due.any():
            return
        if due.all():
            rows, st["held"] = held, None
        else:
            rows, st["held"] = _take(held, np.flatnonzero(due)), _take(held, np.flatnonzero(~due))
        symbols, codes = np.unique(rows["symbol"], return_inverse=True)
        buckets = np.array([self._bucket(s) for s in symbols.tolist()], dtype=np.int64)
        # stable: bars of one symbol at one time keep their arrival order (duplicates)
        order = np.lexsort((rows["ts"], codes, buckets[codes]))
        row_buckets = buckets[codes[order]]
        bounds = [0, *(np.flatnonzero(np.diff(row_buckets)) + 1).tolist(), order.size]
        names = [c for c in rows if c != "symbol"]
        for a, b in itertools.pairwise(bounds):
            part = order[a:b]
            present, local = np.unique(codes[part], return_inverse=True)
            bars = {"code": local.astype(np.int32), **{c: rows[c][part] for c in names}}
            listed = ",".join(symbols[present].tolist())
            yield Row(int(row_buckets[a]), listed, pack(bars))

    def _lines(self, cols: Mapping[str, np.ndarray]) -> str:
        cells = [list(cols["symbol"]), self.iso(cols["ts"])]
        cells += [float_cells(cols[f]) for f in BAR_FIELDS]
        return "\n".join(map(",".join, zip(*cells, strict=True)))


class BundleHost(Shipped, KeyedProcessFunction):
    """Scan and Simulate stages for the symbols of one bucket, over bundles in time order.

    Parameters
    ----------
    columns : the bar columns of a bundle and of the factors sink, in order (``symbol``,
        ``ts``, the bar fields, factor-cache columns)
    nodes : indicator nodes, in dependency order
    sims : simulation nodes
    inputs, outputs : node id -> {role: column}, {output: column}
    universes : data node id -> the symbols its feed provides (None: any)
    latency : also write a latency row per order and fill
    """

    def __init__(
        self,
        columns: Sequence[str],
        nodes: Sequence[Node],
        sims: Sequence[Node],
        inputs: Mapping[str, Mapping[str, str]],
        outputs: Mapping[str, Mapping[str, str]],
        universes: Mapping[str, frozenset[str] | None],
        latency: bool = False,
    ) -> None:
        self.columns = [c for c in columns if c != EMITTED]
        self.nodes = list(nodes)
        self.sims = list(sims)
        self.inputs = {k: dict(v) for k, v in inputs.items()}
        self.outputs = {k: dict(v) for k, v in outputs.items()}
        self.universes = dict(universes)
        self.latency = latency

    def open(self, ctx: RuntimeContext) -> None:
        from ..kernel_host import kernel_for

        self.kernels = {n.id: kernel_for(n) for n in [*self.nodes, *self.sims]}
        self.state = ctx.get_state(ValueStateDescriptor("kernels", Types.PICKLED_BYTE_ARRAY()))
        self.iso = IsoCache()
        self.float_columns = [c for c in self.columns if c not in ("symbol", "ts")]
        self.float_columns += [c for n in self.nodes for c in self.outputs[n.id].values()]

    # -- state ------------------------------------------------------------------------------
    def _box(self) -> StateBox:
        box = self.state.value()
        return StateBox({}) if box is None else cast("StateBox", box)

    def _states(self, symbol: str, box: StateBox) -> dict[str, Any]:
        states = box.symbols.get(symbol)
        if states is None:
            states = {i: k.init() for i, k in self.kernels.items()}
            states[SEQ] = {"n": np.zeros(1, np.int64)}
            box.symbols[symbol] = states
        else:
            for i, k in self.kernels.items():  # a node added since the checkpoint starts fresh
                if i not in states:
                    states[i] = k.init()
        return states

    # -- bundles ----------------------------------------------------------------------------
    def process_element(self, record: Row, ctx: Any) -> Iterator[Any]:
        # every record (see Ingest.process_element): the end-of-input flush must survive restarts
        ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        symbols = str(record[1]).split(",")
        bars = unpack(bytes(record[2]))
        bounds = np.searchsorted(bars["code"], np.arange(len(symbols) + 1)).tolist()
        box = self._box()
        factors: list[dict[str, np.ndarray]] = []
        equity: list[tuple[str, str, np.ndarray, Mapping[str, np.ndarray], int]] = []
        blocks: dict[Any, list[str]] = {}
        for i, symbol in enumerate(symbols):
            own = {k: v[bounds[i] : bounds[i + 1]] for k, v in bars.items()}
            ts = own["ts"]
            dup = np.flatnonzero(ts[1:] == ts[:-1]) + 1
            if dup.size:
                lines = self._bar_lines(symbol, _take(own, dup))
                blocks.setdefault(REJECTED, []).extend(f"duplicate timestamp|{x}" for x in lines)
                keep = np.ones(ts.size, dtype=bool)
                keep[dup] = False
                own = _take(own, np.flatnonzero(keep))
                ts = own["ts"]
            states = self._states(symbol, box)
            arrays: dict[str, np.ndarray] = {
                c: np.asarray(own[c], dtype=np.float64) for c in self.columns[2:]
            }
            for node in self.nodes:
                cols = {role: arrays[name] for role, name in self.inputs[node.id].items()}
                state, out = self.kernels[node.id].step(states[node.id], cols)
                states[node.id] = state
                for o, name in self.outputs[node.id].items():
                    arrays[name] = np.asarray(out[o], dtype=np.float64)
            if self.sims:
                self._simulate(symbol, ts, arrays, states, own.get(EMITTED), equity, blocks)
            factors.append({"symbol": np.full(ts.size, i, np.int32), "ts": ts, **arrays})
        self.state.update(box)  # pickled once per bundle (PyFlink caches state writes)
        if equity:
            blocks.setdefault(EVENT_TAGS["equity"], []).append(self._equity(equity))
        for tag, lines in blocks.items():
            yield tag, "\n".join(lines)
        yield self._factors(symbols, factors)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        if timestamp != END_OF_INPUT or not self.sims:
            return
        box = self._box()
        blocks: dict[Any, list[str]] = {}
        for symbol in sorted(box.symbols):
            states = self._states(symbol, box)
            seq = int(states[SEQ]["n"][0])
            for node in self.sims:
                if not self._trades(node, symbol):
                    continue
                kernel = cast("SimulationKernel", self.kernels[node.id])
                events = kernel.finish(states[node.id])
                for tag, line in event_lines(node.param_dict["name"], symbol, events, seq):
                    blocks.setdefault(tag, []).append(line)
                    seq += 1
            states[SEQ] = {"n": np.array([seq], np.int64)}
        self.state.update(box)
        for tag, lines in blocks.items():
            yield tag, "\n".join(lines)

    def _trades(self, node: Node, symbol: str) -> bool:
        data_id = next(k.node_id for role, k in node.inputs if role in node.op.data_fields)
        universe = self.universes.get(data_id)
        return universe is None or symbol in universe

    def _simulate(
        self,
        symbol: str,
        ts: np.ndarray,
        arrays: Mapping[str, np.ndarray],
        states: dict[str, Any],
        emitted: np.ndarray | None,
        equity: list[tuple[str, str, np.ndarray, Mapping[str, np.ndarray], int]],
        blocks: dict[Any, list[str]],
    ) -> None:
        """Step the simulations of ``symbol``: equity rows to ``equity``, event lines to ``blocks``."""
        seq = int(states[SEQ]["n"][0])
        for node in self.sims:
            if not self._trades(node, symbol):
                continue
            name = node.param_dict["name"]
            start = node.param_dict.get("start")
            cols = {"ts": ts, **{r: arrays[c] for r, c in self.inputs[node.id].items()}}
            # Warm-up bars feed the indicators but decide nothing (as KernelRunner does).
            first = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
            if first:
                cols["signal"] = np.where(np.arange(ts.size) < first, np.nan, cols["signal"])
            kernel = cast("SimulationKernel", self.kernels[node.id])
            state, out, events = kernel.step_events(states[node.id], cols)
            states[node.id] = state
            if ts.size > first:
                equity.append(
                    (name, symbol, ts[first:], {k: v[first:] for k, v in out.items()}, seq)
                )
                seq += ts.size - first
            for tag, line in event_lines(name, symbol, events, seq):
                blocks.setdefault(tag, []).append(line)
                seq += 1
            if self.latency and emitted is not None:
                lines = self._latency(name, symbol, ts, emitted, events)
                if lines:
                    blocks.setdefault(LATENCY, []).extend(lines)
        states[SEQ] = {"n": np.array([seq], np.int64)}

    def _equity(
        self, parts: list[tuple[str, str, np.ndarray, Mapping[str, np.ndarray], int]]
    ) -> str:
        sizes = [p[2].size for p in parts]
        strategy = np.repeat(np.array([p[0] for p in parts], dtype=object), sizes)
        symbol = np.repeat(np.array([p[1] for p in parts], dtype=object), sizes)
        seq = np.concatenate([np.arange(p[4], p[4] + p[2].size, dtype=np.int64) for p in parts])
        columns = [
            ("strategy", pa.array(strategy, pa.string())),
            ("symbol", pa.array(symbol, pa.string())),
            ("ts", pa.array(self.iso(np.concatenate([p[2] for p in parts])), pa.string())),
        ]
        for field in ("cash", "position", "equity"):
            values = np.concatenate([np.asarray(p[3][field], dtype=np.float64) for p in parts])
            columns.append((field, pa.array(values)))
        columns.append(("seq", pa.array(seq)))
        return csv_block(columns, {*(p[0] for p in parts), *(p[1] for p in parts)})

    def _factors(self, symbols: list[str], parts: list[dict[str, np.ndarray]]) -> str:
        def joined(name: str) -> np.ndarray:
            return np.concatenate([p[name] for p in parts]) if len(parts) > 1 else parts[0][name]

        codes = joined("symbol")
        names = pa.array(symbols, pa.string())
        columns = [
            ("symbol", names.take(pa.array(codes))),
            # Arrow formats zoned timestamps slowly (a time-zone lookup each): ISO text, cached
            ("ts", pa.array(self.iso(joined("ts")), pa.string())),
        ]
        columns += [(c, pa.array(joined(c))) for c in self.float_columns]
        return csv_block(columns, symbols)

    def _latency(
        self,
        strategy: str,
        symbol: str,
        ts: np.ndarray,
        emitted: np.ndarray,
        events: Mapping[str, Mapping[str, np.ndarray]],
    ) -> list[str]:
        """One row per order and fill: the bar that made it, when that bar entered, and now."""
        now = time.time_ns() // 1000
        head = f"{quote(strategy)},{quote(symbol)}"
        lines: list[str] = []
        for table, col in (("orders", "created_ts"), ("fills", "ts")):
            found = (events.get(table) or {}).get(col)
            if found is None or len(found) == 0:
                continue
            stamps = np.asarray(found, dtype=np.int64)
            at = np.clip(np.searchsorted(ts, stamps, side="right") - 1, 0, ts.size - 1)
            for t, j in zip(stamps.tolist(), at.tolist(), strict=True):
                when, bar = self.iso.one(t), self.iso.one(int(ts[j]))
                lines.append(f"{table},{head},{when},{bar},{int(emitted[j])},{now}")
        return lines

    def _bar_lines(self, symbol: str, bars: Mapping[str, np.ndarray]) -> list[str]:
        cells = [[symbol] * bars["ts"].size, self.iso(bars["ts"])]
        cells += [float_cells(bars[f]) for f in BAR_FIELDS]
        return list(map(",".join, zip(*cells, strict=True)))
