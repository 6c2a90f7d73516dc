"""Bars in bundles: the values the bundled pipeline's operators pass and keep.

The bundled pipeline (:class:`~.bundled.BundledPipeline`) moves bars as bundles,
not rows: a source record is a *chunk* of CSV lines joined by :data:`SEP`,
parsed at once into numpy columns, and the kernel states of a bucket of
symbols are kept as arrays packed into bytes. Per-row Python work is then
numpy work, and the per-record cost of a PyFlink Python operator is paid once
per chunk.

- :func:`pack` / :func:`unpack`: named numpy arrays <-> bytes (raw buffers and a
  cached header), for kernel state in Flink state;
  about 10x faster than pickling a dict of small arrays, and unpacked arrays
  are writable (kernels update their ring buffers in place);
- :func:`parse_chunk`: CSV lines -> column arrays, with every bad line's reason
  (the rules of :func:`.operators.parse_bar`, vectorized, the same verdicts);
- :func:`float_cells` / :class:`IsoCache`: columns -> CSV cells, in bulk.
"""

from __future__ import annotations

import math
import pickle
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: separates the CSV lines of one chunk record (ASCII record separator: never in a bar line)
SEP = "\x1e"
BAR_FIELDS = ("open", "high", "low", "close", "volume")
_ARRAYS, _PICKLED = b"A", b"P"
_HEADS: dict[tuple[Any, ...], bytes] = {}
_SPECS: dict[bytes, tuple[Any, ...]] = {}
_ALIGN = 8


# -- named arrays <-> bytes -------------------------------------------------------------------
def pack(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Named numeric arrays as bytes: a header naming (name, dtype, shape), then the buffers.

    Buffers are padded to 8 bytes so unpacked arrays are aligned. Anything that is
    not a plain numeric array (an object array) makes the whole value a pickle.
    """
    values = [np.asarray(a) for a in arrays.values()]
    if any(v.dtype.hasobject for v in values):
        return _PICKLED + pickle.dumps(dict(zip(arrays, values, strict=True)), protocol=5)
    spec = tuple((k, v.dtype.str, v.shape) for k, v in zip(arrays, values, strict=True))
    head = _HEADS.get(spec)
    if head is None:
        if len(_HEADS) > 1024:  # specs vary with the symbols a bucket holds: keep the cache small
            _HEADS.clear()
            _SPECS.clear()
        raw = pickle.dumps(spec, protocol=5)
        head = raw + b"\0" * (-(len(raw) + 5) % _ALIGN)
        _HEADS[spec] = head
        _SPECS[head] = spec
    parts = [_ARRAYS, struct.pack("<I", len(head)), head]
    for v in values:
        data = np.ascontiguousarray(v).tobytes()
        parts.append(data)
        if len(data) % _ALIGN:
            parts.append(b"\0" * (-len(data) % _ALIGN))
    return b"".join(parts)


def unpack(blob: bytes | bytearray) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack`; the arrays share one writable buffer."""
    if blob[:1] == _PICKLED:
        value: dict[str, np.ndarray] = pickle.loads(blob[1:])
        return value
    if blob[:1] != _ARRAYS:
        raise ValueError("not a streambt bundle (bad first byte)")
    (n,) = struct.unpack_from("<I", blob, 1)
    head = bytes(blob[5 : 5 + n])
    spec = _SPECS.get(head)
    if spec is None:
        spec = pickle.loads(head)  # trailing padding is ignored by pickle
        if len(_SPECS) <= 1024:
            _SPECS[head] = spec
    buf = bytearray(blob[5 + n :])
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name, dtype_str, shape in spec:
        dtype = np.dtype(dtype_str)
        count = math.prod(shape)
        out[name] = np.frombuffer(buf, dtype, count, offset).reshape(shape)
        size = count * dtype.itemsize
        offset += size + (-size % _ALIGN)
    return out


def pack_states(states: Mapping[str, Mapping[str, np.ndarray]]) -> bytes:
    """Kernel states by node id as one blob (``node_id/field`` names)."""
    return pack({f"{node}/{k}": v for node, state in states.items() for k, v in state.items()})


def unpack_states(blob: bytes | bytearray) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, value in unpack(blob).items():
        node, _, field = name.rpartition("/")
        out.setdefault(node, {})[field] = value
    return out


# -- parsing ----------------------------------------------------------------------------------
def parse_chunk(
    lines: Sequence[str], extra: int, parse_line: Any
) -> tuple[dict[str, Any], list[int], list[str]]:
    """CSV bar lines -> (columns, indices of the good lines, ``reason|line`` of the bad ones).

    Columns: ``symbol`` (object array), ``ts`` (int64 microseconds), the bar
    fields and ``extra`` more float columns ``x0..`` (NaN when empty). Header and
    blank lines are skipped. ``parse_line`` is the per-line parser (a Row or a
    reason): used for lines the vectorized path cannot judge, so both paths give
    the same verdicts.
    """
    fast = _arrow_parse(lines, extra)
    if fast is not None:
        return _judge(lines, list(range(len(lines))), extra, parse_line, *fast)
    width = 7 + extra
    rows: list[list[str]] = []
    index: list[int] = []
    rejected: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split(",")
        if fields[0] == "symbol":
            continue
        rows.append(fields)
        index.append(i)
    if not rows:
        return _empty(extra), [], rejected
    try:
        if any(len(r) != width for r in rows):
            raise ValueError("width")
        cols = list(zip(*rows, strict=True))
        stamps = [t.strip() for t in cols[1]]
        if all(t.lstrip("-").isdigit() for t in stamps):
            ts = np.array(stamps, dtype=np.int64)
        else:
            raise ValueError("iso times")
        values = np.array(cols[2:7], dtype=np.float64)
        more = [np.array([x or "nan" for x in c], dtype=np.float64) for c in cols[7:]]
    except (ValueError, OverflowError):
        return _slow(lines, index, extra, parse_line)
    return _judge(
        lines, index, extra, parse_line, np.array(cols[0], dtype=object), ts, values, more
    )


def _arrow_parse(
    lines: Sequence[str], extra: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """Arrow's CSV reader over a chunk of plain lines (integer times, no header or blank line);
    None when it cannot read them as such (the line-by-line path decides then)."""
    if len(lines) < 8 or any(not line or line.startswith("symbol,") for line in lines):
        return None
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    text = "\n".join(lines)
    if "+" in text:  # Arrow reads "+1000" as a time, the line parser does not: let it judge
        return None
    names = ["symbol", "ts", *BAR_FIELDS, *(f"x{k}" for k in range(extra))]
    types = {n: pa.float64() for n in names[2:]}
    types.update({"symbol": pa.string(), "ts": pa.int64()})
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode()),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(quote_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeError):
        return None
    if table.num_rows != len(lines):
        return None
    symbols = table.column("symbol").to_numpy(zero_copy_only=False)
    ts = table.column("ts").to_numpy()
    values = np.vstack([table.column(f).to_numpy() for f in BAR_FIELDS])
    more = [table.column(f"x{k}").to_numpy() for k in range(extra)]
    return symbols, ts, values, more


def _judge(
    lines: Sequence[str],
    index: list[int],
    extra: int,
    parse_line: Any,
    symbols: np.ndarray,
    ts: np.ndarray,
    values: np.ndarray,
    more: list[np.ndarray],
) -> tuple[dict[str, Any], list[int], list[str]]:
    """Parsed columns -> the bars that pass the checks, and ``reason|line`` of the others."""
    rejected: list[str] = []
    if ts.dtype != np.int64:  # a column of nulls reads as floats: the per-line verdict
        return _slow(lines, index, extra, parse_line)
    values = np.asarray(values, dtype=np.float64)
    o, h, lo, c, v = values
    with np.errstate(invalid="ignore"):
        prices = np.isfinite(values[:4]).all(axis=0) & (values[:4] > 0).all(axis=0)
        good = (ts % 1000 == 0) & prices & (h >= lo) & np.isfinite(v) & (v >= 0)
    if not good.all():
        bad = np.flatnonzero(~good)
        for j in bad:
            reason = parse_line(lines[index[j]], 0, extra)
            rejected.append(f"{reason}|{lines[index[j]].rstrip()}")
        keep = np.flatnonzero(good)
        index = [index[j] for j in keep]
        ts, o, h, lo, c, v = (a[keep] for a in (ts, o, h, lo, c, v))
        more = [m[keep] for m in more]
        symbols = symbols[keep]
    out: dict[str, Any] = {"symbol": symbols, "ts": ts}
    out.update(zip(BAR_FIELDS, (o, h, lo, c, v), strict=True))
    out.update({f"x{k}": m for k, m in enumerate(more)})
    return out, index, rejected


def _empty(extra: int) -> dict[str, Any]:
    out: dict[str, Any] = {"symbol": np.array([], dtype=object), "ts": np.array([], np.int64)}
    out.update({f: np.array([], np.float64) for f in BAR_FIELDS})
    out.update({f"x{k}": np.array([], np.float64) for k in range(extra)})
    return out


def _slow(
    lines: Sequence[str], index: list[int], extra: int, parse_line: Any
) -> tuple[dict[str, Any], list[int], list[str]]:
    """Line by line (ISO times, empty cache cells, malformed lines)."""
    good: list[Any] = []
    kept: list[int] = []
    rejected: list[str] = []
    for i in index:
        got = parse_line(lines[i], 0, extra)
        if got is None:
            continue
        if isinstance(got, str):
            rejected.append(f"{got}|{lines[i].rstrip()}")
        else:
            good.append(got)
            kept.append(i)
    if not good:
        return _empty(extra), [], rejected
    from .operators import to_us

    out: dict[str, Any] = {
        "symbol": np.array([g[0] for g in good], dtype=object),
        "ts": np.array([to_us(g[1]) for g in good], dtype=np.int64),
    }
    for k, name in enumerate(BAR_FIELDS):
        out[name] = np.array([g[2 + k] for g in good], dtype=np.float64)
    for k in range(extra):
        out[f"x{k}"] = np.array(
            [np.nan if g[7 + k] is None else g[7 + k] for g in good], dtype=np.float64
        )
    return out, kept, rejected


# -- formatting -------------------------------------------------------------------------------
def float_cells(values: np.ndarray) -> list[str]:
    """CSV cells of a float column: shortest round-trip repr, empty for NaN."""
    cells = list(map(repr, np.asarray(values, dtype=np.float64).tolist()))
    nan = np.flatnonzero(np.isnan(values))
    for j in nan.tolist():
        cells[j] = ""
    return cells


class IsoCache:
    """Microseconds -> ISO 8601 text with a Z; bars of many symbols share their times."""

    def __init__(self, size: int = 65_536) -> None:
        self.size = size
        self.cache: dict[int, str] = {}

    def __call__(self, values: np.ndarray) -> list[str]:
        from .operators import iso

        cache = self.cache
        if len(cache) > self.size:
            cache.clear()
        out = []
        for us in values.tolist():
            text = cache.get(us)
            if text is None:
                text = cache[us] = iso(us)
            out.append(text)
        return out

    def one(self, us: int) -> str:
        text = self.cache.get(us)
        if text is None:
            from .operators import iso

            text = self.cache[us] = iso(us)
        return text
