"""The bundled pipeline's pieces without a JVM: packing, chunk parsing, CSV blocks, buckets,
and its operator driven by hand (Flink's state and timers stood in by plain objects)."""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import streambt as sb
from streambt.backends.flink import bundled as bd
from streambt.backends.flink import job as fj
from streambt.backends.flink import operators as fo
from streambt.backends.flink.bundles import (
    SEP,
    pack,
    pack_states,
    parse_chunk,
    unpack,
    unpack_states,
)
from streambt.backends.local import kernel_runs
from streambt.io.feeds import TS_TYPE

from ...parity.test_parity import assert_tables_equal


def test_pack_round_trips_numeric_arrays_aligned_and_writable() -> None:
    arrays = {
        "ts": np.array([1, 2, 3], dtype=np.int64),
        "flag": np.array([True, False, True]),  # 3 bytes: the next array must stay aligned
        "close": np.array([1.5, np.nan, -2.0]),
        "scalar": np.asarray(4.0),  # a 0-d state value
        "ring": np.arange(6, dtype=np.float32).reshape(2, 3),
        "empty": np.array([], dtype=np.float64),
    }
    back = unpack(pack(arrays))
    assert list(back) == list(arrays)
    for name, want in arrays.items():
        got = back[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)
        assert got.flags.writeable and got.ctypes.data % 8 == 0, name
    back["close"][0] = 9.0  # a kernel updating its ring buffer in place
    assert back["close"][0] == 9.0 and arrays["close"][0] == 1.5


def test_object_arrays_fall_back_to_pickle_and_garbage_is_refused() -> None:
    arrays = {"symbol": np.array(["A", "B"], dtype=object), "x": np.arange(2)}
    back = unpack(pack(arrays))
    assert back["symbol"].tolist() == ["A", "B"]
    with pytest.raises(ValueError, match="not a streambt bundle"):
        unpack(b"Zgarbage")


def test_kernel_states_and_state_boxes_round_trip() -> None:
    states = {"node/a": {"buf": np.arange(3.0), "pos": np.array([1])}, "n2": {"v": np.zeros(1)}}
    back = unpack_states(pack_states(states))
    assert set(back) == set(states)  # a node id may hold "/": fields split at the last one
    np.testing.assert_array_equal(back["node/a"]["buf"], states["node/a"]["buf"])
    box = bd.StateBox({"BTC/USD": states, "ETH": {"n2": {"v": np.ones(2)}}})
    again = pickle.loads(pickle.dumps(box))
    assert set(again.symbols) == {"BTC/USD", "ETH"}
    np.testing.assert_array_equal(again.symbols["BTC/USD"]["node/a"]["pos"], [1])


LINES = [
    "symbol,ts,open,high,low,close,volume",  # header: skipped
    "AAA,1577836800000000,10,11,9,10.5,100",
    "",
    "BBB,1577836800000000,20,21,19,20.5,200",
    "AAA,1577836860000000,10,9,11,10.5,100",  # high < low
    "AAA,1577836920000001,10,11,9,10.5,100",  # finer than a millisecond
    "AAA,1577836980000000,-1,11,9,10.5,100",  # non-positive price
    "AAA,1577837040000000,10,11,9,10.5,-5",  # negative volume
    "AAA,1577837100000000,10,11,9,nan,5",  # not finite
    "AAA,2020-01-01T00:06:00+01:00,10,11,9,10.5,5",  # ISO with an offset
    "AAA,notatime,10,11,9,10.5,5",
    "AAA,1577837220000000,10,11,9",  # too few fields
]


#: numeric lines of the right width only: Arrow's CSV reader takes them, the checks judge
NUMERIC = [
    ln for ln in LINES[1:] if ln and ln.count(",") == 6 and "T00" not in ln and "notatime" not in ln
] + ['"AAA",1577837400000000,10,11,9,10.5,5', "AAA,1577837460000000,10,11,9,10.5,5"]


@pytest.mark.parametrize(
    "lines",
    [
        LINES,  # a header, a blank line, ISO times: line by line
        [ln for ln in LINES if "T00:06" not in ln],
        NUMERIC,  # the Arrow path
        [*NUMERIC, "AAA,+1577837520000000,10,11,9,10.5,5"],  # "+": line by line again
    ],
)
def test_parse_chunk_gives_the_per_line_verdicts(lines: list[str]) -> None:
    cols, kept, rejected = parse_chunk(lines, 0, fo.parse_bar)
    want_rows, want_rejected = [], []
    for line in lines:
        got = fo.parse_bar(line, 0, 0)
        if isinstance(got, str):
            want_rejected.append(f"{got}|{line}")
        elif got is not None:
            want_rows.append(got)
    assert rejected == want_rejected
    assert cols["symbol"].tolist() == [r[0] for r in want_rows]
    assert cols["ts"].tolist() == [fo.to_us(r[1]) for r in want_rows]
    assert cols["close"].tolist() == [r[5] for r in want_rows]
    assert [lines[i] for i in kept] == [ln for ln in lines if fo.parse_bar(ln, 0, 0) in want_rows]


def test_the_arrow_path_is_taken_for_plain_numeric_chunks() -> None:
    from streambt.backends.flink.bundles import _arrow_parse

    assert _arrow_parse(NUMERIC, 0) is not None
    assert _arrow_parse(LINES, 0) is None  # header and blank lines


def test_parse_chunk_reads_cache_columns_with_empty_cells_as_nan() -> None:
    cols, _, rejected = parse_chunk(["AAA,1000,1,2,1,1.5,3,,7.25"], 2, fo.parse_bar)
    assert not rejected
    assert np.isnan(cols["x0"][0]) and cols["x1"][0] == 7.25


def test_csv_blocks_read_back_through_the_sink_reader(tmp_path: Any) -> None:
    ts = np.array([1577836800000000, 1577836860000000], dtype=np.int64)
    block = bd.csv_block(
        [
            ("symbol", pa.array(["A", "A"])),
            ("ts", pa.array(ts, TS_TYPE)),
            ("x", pa.array([0.1 + 0.2, np.nan])),
        ]
    )
    schema = pa.schema([("symbol", pa.string()), ("ts", TS_TYPE), ("x", pa.float64())])
    path = tmp_path / "sink"
    path.mkdir()
    (path / "part-0.csv").write_text(block + "\n")
    table = fo_read(path, schema)
    assert table.column("x").to_pylist() == [0.1 + 0.2, None]  # exact, and NaN reads as null
    assert table.column("ts").cast(pa.int64()).to_pylist() == ts.tolist()


def fo_read(path: Any, schema: pa.Schema) -> pa.Table:
    from streambt.backends.flink.sinks import read_sink

    return read_sink(path, schema)


def test_buckets_are_stable_and_spread() -> None:
    symbols = [f"S{k:03d}" for k in range(100)]
    buckets = [bd.bucket_of(s) for s in symbols]
    assert buckets == [bd.bucket_of(s) for s in symbols]  # no salted hash()
    assert bd.bucket_of("AAA") == 7  # fixed forever: restored state is found by bucket
    assert len(set(buckets)) == bd.BUCKETS


def test_chunks_and_their_sizes(tmp_path: Any) -> None:
    assert fj.chunk_size(None, 20) == fj.CHUNK_LINES
    assert fj.chunk_size(200, 20) == 2  # a replay chunk every 10 ms (or bundle_ms if less)
    assert fj.chunk_size(20_000, 50) == 200
    assert fj.chunk_size(20_000, 5) == 100
    assert fj.chunk_size(1, 20) == 1
    assert fj.chunk_size(1e9, 50) == fj.MAX_CHUNK_LINES
    lines = [f"A,{i * 1000},1,1,1,1,1" for i in range(10)]
    fj.write_chunks(lines, 4, tmp_path / "c.txt")
    records = (
        (tmp_path / "c.txt").read_text().split("\n")[:-1]
    )  # not splitlines(): it splits at \x1e
    assert [r.count(SEP) + 1 for r in records] == [4, 4, 2]
    with pytest.raises(sb.errors.BackendError, match="holds"):
        fj.write_chunks(["A,1\x1e2"], 4, tmp_path / "bad.txt")


# -- the operator by hand ------------------------------------------------------------------
def _checkpointed(value: Any) -> Any:
    """What a checkpoint does to a state value: encoded with PyFlink's pickler, decoded on
    restore."""
    return pickle.loads(pickle.dumps(value))


class _State:
    def __init__(self) -> None:
        self.stored: Any = None

    def value(self) -> Any:
        return self.stored

    def update(self, value: Any) -> None:
        self.stored = _checkpointed(value)


class _MapState:
    def __init__(self) -> None:
        self.store: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        return self.store.get(key)

    def put(self, key: Any, value: Any) -> None:
        self.store[key] = _checkpointed(value)


class _Timers:
    def __init__(self) -> None:
        self.event: set[int] = set()
        self.processing: set[int] = set()

    def register_event_time_timer(self, t: int) -> None:
        self.event.add(t)

    def register_processing_time_timer(self, t: int) -> None:
        self.processing.add(t)


class _Ctx:
    def __init__(self) -> None:
        self.timers = _Timers()

    def timer_service(self) -> _Timers:
        return self.timers


class _Counter:
    def inc(self, n: int = 1) -> None:
        pass


class _Runtime:
    def get_metrics_group(self) -> Any:
        class _Group:
            def counter(self, name: str) -> _Counter:
                return _Counter()

        return _Group()

    def get_state(self, descriptor: Any) -> _State:
        return _State()

    def get_map_state(self, descriptor: Any) -> _MapState:
        return _MapState()


def _drive(cb: sb.Cerebro, records: list[str], delay_ms: int = 0) -> dict[str, list[str]]:
    """The bundled operator over ``records``, then the end of input; the sinks' lines."""
    from streambt.backends.flink import FlinkBackend

    plan = cb._plan(FlinkBackend(placement="kernels"), "stream")
    nodes = [n for g in kernel_runs(plan) for s in g for n in s.nodes]
    wiring = fo.KernelWiring.of(cb.graph, nodes, ["symbol", "ts", *fo.BAR_FIELDS], {})
    ctx = _Ctx()
    op = bd.BundledPipeline(wiring, delay_ms, release_ms=0, latency=True)
    op.open(_Runtime())
    sinks: dict[str, list[str]] = {}

    def collect(items: Iterator[Any]) -> None:
        for item in items:
            if isinstance(item, tuple):
                tag, text = item
                sinks.setdefault(tag.tag_id, []).extend(text.split("\n"))
            else:
                sinks.setdefault("factors", []).extend(item.split("\n"))

    for record in records:
        collect(op.process_element(record, ctx))
    assert fo.END_OF_INPUT in ctx.timers.event
    collect(op.on_timer(fo.END_OF_INPUT, ctx))
    return sinks


def _frame() -> pd.DataFrame:
    a = sb.feeds.synthetic_bars(120, seed=5).assign(symbol="AAA")
    b = sb.feeds.synthetic_bars(90, seed=6, start="2020-01-20").assign(symbol="BBB")
    return pd.concat([a, b], ignore_index=True)


def _cerebro(frame: pd.DataFrame) -> sb.Cerebro:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    d = cb.add_data(sb.feeds.from_pandas(frame))
    fast = cb.add_indicator(sb.ind.sma, d["close"], window=5)
    slow = cb.add_indicator(sb.ind.ema, d["close"], window=12)
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(), name="x")
    return cb


def _table(lines: list[str], schema: pa.Schema) -> pa.Table:
    text = "\n".join(lines).encode()
    return pacsv.read_csv(
        io.BytesIO(text),
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(column_types=schema),
    )


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_operator_by_hand_equals_the_reference_whatever_the_chunking(chunk: int) -> None:
    frame = _frame()
    cb = _cerebro(frame)
    want = cb.run()
    bars, _ = cb.load_bars()
    lines = fj.bars_csv(bars).decode().splitlines()
    records = [SEP.join(lines[i : i + chunk]) for i in range(0, len(lines), chunk)]
    sinks = _drive(_cerebro(frame), records)
    from streambt.backends.flink.sinks import schema_of

    equity = _table(sinks["equity"], schema_of("equity")).sort_by(
        [("strategy", "ascending"), ("symbol", "ascending"), ("seq", "ascending")]
    )
    assert_tables_equal(equity.drop(["seq"]), want.equity, "equity")
    orders = _table(sinks["orders"], schema_of("orders"))
    assert orders.num_rows == want.orders.num_rows > 0
    assert len(sinks["factors"]) == len(frame)
    assert "rejected" not in sinks and "late" not in sinks


def test_late_duplicate_and_bad_bars_go_to_their_sinks() -> None:
    good = [f"AAA,{i * 60_000_000},10,11,9,10.5,100" for i in range(1, 6)]
    records = [
        SEP.join(good[:3]),
        "AAA,60000000,10,11,9,10.5,100",  # behind the watermark (bar 3 arrived): late
        SEP.join([good[3], good[3].replace("10.5", "10.6")]),  # one time twice: a duplicate
        "AAA,360000000,10,9,11,10.5,100",  # high < low: rejected
        good[4],
    ]
    cb = sb.Cerebro()
    d = cb.add_data(sb.feeds.synthetic("AAA", bars=10))
    cb.add_indicator(sb.ind.sma, d["close"], window=2)
    sinks = _drive(cb, records)
    assert sinks["late"] == ["AAA,1970-01-01T00:01:00.000000Z,10.0,11.0,9.0,10.5,100.0"]
    assert sorted(sinks["rejected"]) == [
        "duplicate timestamp|AAA,1970-01-01T00:04:00.000000Z,10.0,11.0,9.0,10.6,100.0",
        "high < low|AAA,360000000,10,9,11,10.5,100",
    ]
    assert len(sinks["factors"]) == 5


def test_names_with_commas_are_quoted_and_read_back(tmp_path: Any) -> None:
    """A sweep cell's strategy is named like sweep[fast=5,slow=20]: both pipelines quote it."""
    from streambt.backends.flink.sinks import read_simulation, schema_of, write_header

    name = "sweep[fast=5,slow=20]"
    assert fo.quote(name) == '"sweep[fast=5,slow=20]"' and fo.quote("AAA") == "AAA"
    assert fo.quote('a"b') == '"a""b"'
    ts = np.array([1577836800000000], dtype=np.int64)
    block = bd.csv_block(
        [
            ("strategy", pa.array([name])),
            ("symbol", pa.array(["AAA"])),
            ("ts", pa.array(["2020-01-01T00:00:00.000000Z"])),
            ("cash", pa.array([1.0])),
            ("position", pa.array([0.0])),
            ("equity", pa.array([1.0])),
            ("seq", pa.array([0])),
        ],
        [name, "AAA"],
    )
    # codes start at 1 (status NEW, side BUY, ...)
    events = {"orders": {c: np.ones(1, dtype=np.int64) for c in fo.EVENT_COLUMNS["orders"]}}
    events["orders"]["created_ts"] = ts
    lines = [line for _, line in fo.event_lines(name, "AAA", events, 1)]
    for table, text in (("equity", block), ("orders", "\n".join(lines))):
        write_header(tmp_path / table, schema_of(table))
        (tmp_path / table / "part-0.csv").write_text(text + "\n")
    tables = read_simulation(tmp_path)
    assert tables["equity"].column("strategy").to_pylist() == [name]
    assert tables["orders"].column("strategy").to_pylist() == [name]
