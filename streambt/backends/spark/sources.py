"""Feeds as Spark DataFrames of :data:`~streambt.io.schema.BAR_SCHEMA`.

In-memory feeds (pandas, Arrow, polars, synthetic, database tables) are
loaded, validated and ordered on the driver as every engine does, and handed
to Spark as Arrow: their rows live on the driver anyway. File feeds (CSV,
Parquet) are read by Spark itself, so no bar passes through the driver: the
columns are mapped onto the bar schema as :func:`streambt.io.schema.normalize`
does, the time range and warm-up are applied, and the default checks of
:mod:`streambt.io.validation` run as one Spark aggregation with the same
messages (the first offending row by its position in the input, which Spark
knows for Parquet from ``_metadata.row_index`` and for CSV from the line
number). A file feed with a non-default policy for a row check (``drop``,
``repair``, ``warn``) is loaded on the driver instead: those repairs depend on
the rows' order and are streambt's own code.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ...errors import DataError
from ...io.feeds import BAR_SCHEMA, CsvFeed, Feed, sort_bars
from ...io.parquet import ParquetFeed
from ...io.policy import Policy
from ...io.report import DataWarning, ValidationReport
from ...io.schema import DEFAULT_SYMBOL, TS_ALIASES
from ...io.validation import BAR_FIELDS, PRICE_FIELDS

if TYPE_CHECKING:
    from ...cerebro import Cerebro

POS = "_pos"
#: checks whose non-default policies change rows (and then run on the driver)
_ROW_CHECKS = tuple(c for c in Policy.__dataclass_fields__ if c not in ("timezone", "gaps"))
#: strings pyarrow's CSV reader reads as null
_CSV_NULLS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)  # fmt: skip


def load_bars(spark: SparkSession, cerebro: Cerebro) -> tuple[DataFrame, dict[str, frozenset[str]]]:
    """Every feed of ``cerebro`` as one DataFrame, and each data node's symbols."""
    frames: list[DataFrame] = []
    universes: dict[str, frozenset[str]] = {}
    seen: dict[str, str] = {}
    feeds: dict[str, Feed] = cerebro._feeds
    for node_id in sorted(feeds):
        feed = feeds[node_id]
        frame, symbols = feed_frame(spark, feed)
        for s in symbols:
            if s in seen:
                raise DataError(
                    f"symbol {s!r} comes from two feeds ({seen[s]} and {feed.name}); give each feed its own symbols"
                )
            seen[s] = feed.name
        universes[node_id] = frozenset(symbols)
        frames.append(frame)
    bars = frames[0]
    for other in frames[1:]:
        bars = bars.select(*BAR_SCHEMA.names).unionByName(other.select(*BAR_SCHEMA.names))
    if cerebro._until is not None:
        until = pd.Timestamp(cerebro._until, unit="us", tz="UTC").to_pydatetime()
        bars = bars.filter(F.col("ts") <= F.lit(until))
    return bars, universes


def feed_frame(spark: SparkSession, feed: Feed) -> tuple[DataFrame, list[str]]:
    """One feed as a DataFrame of bars, and its symbols."""
    if isinstance(feed, ParquetFeed | CsvFeed) and reads_in_spark(feed):
        return FileBars(spark, feed).load()
    table = feed.load()
    symbols = sorted(set(table.column("symbol").to_pylist()))
    return spark.createDataFrame(sort_bars(table)), symbols


def reads_in_spark(feed: Feed) -> bool:
    """Spark validates a file feed itself when every row check keeps its default (error)."""
    if isinstance(feed, CsvFeed) and not feed.path.is_file():
        return False
    return all(getattr(feed.policy, c) == "error" for c in _ROW_CHECKS)


class FileBars:
    """A CSV or Parquet feed read, normalized, selected and validated by Spark."""

    def __init__(self, spark: SparkSession, feed: ParquetFeed | CsvFeed) -> None:
        self.spark = spark
        self.feed = feed
        self.name = feed.name

    def load(self) -> tuple[DataFrame, list[str]]:
        raw, ts_note = self.read()
        bars = self.normalize(raw, ts_note)
        bars = self.select_range(bars)
        symbols = self.validate(bars, ts_note)
        if isinstance(self.feed, ParquetFeed):
            # The input positions only name rows in the validation's messages: the bars the
            # run reads go without them (no row index, one column less to carry).
            plain, _ = self._read_parquet(self.feed, positions=False)
            bars = self.select_range(self.normalize(plain, ts_note))
        return self.trim(bars).select(*BAR_SCHEMA.names), symbols

    # -- reading ---------------------------------------------------------------
    def read(self) -> tuple[DataFrame, str | None]:
        """The raw columns with the input position ``_pos``; the time column's zone note."""
        if isinstance(self.feed, ParquetFeed):
            return self._read_parquet(self.feed)
        return self._read_csv(self.feed), None

    def _read_parquet(
        self, feed: ParquetFeed, positions: bool = True
    ) -> tuple[DataFrame, str | None]:
        """The files' rows with their partition values, and with ``_pos`` when ``positions``."""
        files = feed.files()
        schema = pq.read_schema(files[0])
        # Position = rows of the earlier files (footers only) + the row within the file.
        offsets, total = [], 0
        for f in files:
            offsets.append(total)
            total += pq.ParquetFile(f).metadata.num_rows
        root = feed.path if feed.path.is_dir() else feed.path.parent
        levels = [f.relative_to(root).parts[:-1] for f in files]
        part = feed._partitioning(levels[0]) if feed.path.is_dir() else None
        names = list(part.schema.names) if part is not None else []
        try:
            data = self.spark.read.parquet(*[str(f) for f in files])
        except Exception as exc:
            raise DataError(f"parquet feed {feed.path}: cannot read ({exc})") from exc
        # Each row's file, as Spark writes it in _metadata.file_path (found once per file,
        # from Spark's own list, instead of decoding the path of every row).
        spelled = _spark_paths(self.spark, data, files)
        if spelled is not None:
            key = F.col("_metadata.file_path")
        else:
            spelled = [str(f.resolve()) for f in files]
            key = F.expr("url_decode(regexp_replace(_metadata.file_path, '^file:/+', '/'))")
        rows = [
            (path, off, *(_level_value(lv) for lv in lvs))
            for path, off, lvs in zip(spelled, offsets, levels, strict=True)
        ]
        types = "".join(f", `{n}` string" for n in names)
        index = self.spark.createDataFrame(rows, f"_file string, _offset long{types}")
        # Partition folders are ours to name (hive or plain): Spark's own discovery is dropped.
        data = data.select(
            *[F.col(f"`{c}`") for c in data.columns if c not in names],
            key.alias("_file"),
            *([F.col("_metadata.row_index").alias("_row")] if positions else []),
        )
        data = data.join(F.broadcast(index), "_file")
        if positions:
            data = data.withColumn(POS, F.col("_offset") + F.col("_row")).drop("_row")
        data = data.drop("_file", "_offset")
        if feed.symbols:
            sym = next((c for c in data.columns if c.lower() == "symbol"), None)
            if sym is None:
                raise DataError(
                    f"parquet feed {feed.path}: symbols={feed.symbols} given but the data has "
                    "no symbol column or partition"
                )
            data = data.filter(F.col(sym).isin(feed.symbols))
        ts_name = _time_column(data.columns)
        note = None
        if ts_name is not None and ts_name in schema.names:
            t = schema.field(ts_name).type
            if pa.types.is_timestamp(t):
                note = "naive" if t.tz is None else (None if _utc(t.tz) else t.tz)
                if t.unit == "ns":
                    data = data.withColumn(ts_name, _from_nanos(F.col(ts_name)))
        return data, note

    def _read_csv(self, feed: CsvFeed) -> DataFrame:
        with open(feed.path, newline="") as fh:
            header = next(csv.reader(fh), None)
        if not header:
            raise DataError(f"csv feed {feed.path}: cannot parse (the file is empty)")
        schema = ", ".join(f"`c{i}` string" for i in range(len(header)))
        # Line numbers are the input positions: Spark's CSV reader does not know them.
        lines = (
            self.spark.sparkContext.textFile(str(feed.path))
            .filter(lambda line: line.strip() != "")
            .zipWithIndex()
        )
        frame = self.spark.createDataFrame(lines, "line string, idx long").filter("idx > 0")
        parsed = frame.select(
            (F.col("idx") - 1).alias(POS), F.from_csv("line", schema).alias("r")
        ).select(
            POS,
            *[
                _csv_null(F.col(f"r.c{i}")).alias(name)
                for i, name in enumerate(header)
            ],
        )  # fmt: skip
        return parsed

    # -- the bar schema -----------------------------------------------------------
    def normalize(self, raw: DataFrame, ts_note: str | None) -> DataFrame:
        """:func:`streambt.io.schema.normalize` in Spark: the same names, casts and errors."""
        feed, columns = self.name, [c for c in raw.columns if c != POS]
        by_lower: dict[str, str] = {}
        for c in columns:
            by_lower.setdefault(c.lower(), c)
        ts_name = _time_column(columns)
        if ts_name is None:
            raise DataError(
                f"{feed}: no time column; expected one of {', '.join(TS_ALIASES)} (or a DatetimeIndex), "
                f"got columns {columns}"
            )
        missing = [f for f in BAR_FIELDS if f not in by_lower]
        if missing:
            raise DataError(
                f"{feed}: missing column(s) {', '.join(missing)}; bars need open, high, low, close and volume "
                f"(got {columns}). Rename the columns or add volume=0 when there is none"
            )
        if "symbol" in by_lower:
            if self.feed.symbol is not None:
                raise DataError(
                    f"{feed}: the data has a symbol column and symbol={self.feed.symbol!r} was also given; pass one"
                )
            sym = F.col(f"`{by_lower['symbol']}`").cast("string")
        else:
            sym = F.lit(self.feed.symbol or DEFAULT_SYMBOL)
        types = dict(raw.dtypes)
        for f in BAR_FIELDS:
            t = types[by_lower[f]]
            if t not in (
                "string",
                "double",
                "float",
                "bigint",
                "int",
                "smallint",
                "tinyint",
            ) and not t.startswith("decimal"):
                raise DataError(f"{feed}: column {f!r} is not numeric ({t}); convert it to numbers")
        ts_col = F.col(f"`{ts_name}`")
        ts_type = types[ts_name]
        if ts_type == "string":
            ts = F.try_to_timestamp(ts_col)
        elif ts_type in ("timestamp", "timestamp_ntz", "date"):
            ts = ts_col.cast("timestamp")
        elif ts_type == "bigint":  # nanoseconds converted by the reader
            ts = ts_col
        else:
            raise DataError(
                f"{feed}: the time column has type {ts_type}; expected timestamps, dates or ISO 8601 strings"
            )
        out = raw.select(
            *([POS] if POS in raw.columns else []),
            sym.alias("symbol"),
            ts.alias("ts"),
            *[_number(F.col(f"`{by_lower[f]}`"), types[by_lower[f]]).alias(f) for f in BAR_FIELDS],
            *([ts_col.alias("_ts_text")] if ts_type == "string" else []),
            *[
                F.col(f"`{by_lower[f]}`").alias(f"_raw_{f}")
                for f in BAR_FIELDS
                if types[by_lower[f]] == "string"
            ],
        )
        self.ts_note = ts_note
        return out

    # -- selection ------------------------------------------------------------------
    def select_range(self, bars: DataFrame) -> DataFrame:
        """Rows of ``[start - warm-up, end)`` (an int warm-up is cut after validation)."""
        feed = self.feed
        lo = feed.start
        if feed.warmup is not None and feed.start is not None:
            lo = None if isinstance(feed.warmup, int) else feed.start - feed.warmup
        cond: Column | None = None
        if lo is not None:
            cond = F.col("ts") >= F.lit(lo.to_pydatetime())
        if feed.end is not None:
            upper = F.col("ts") < F.lit(feed.end.to_pydatetime())
            cond = upper if cond is None else cond & upper
        # Rows without a time stay: the nulls check reports them.
        return bars if cond is None else bars.filter(cond | F.col("ts").isNull())

    def trim(self, bars: DataFrame) -> DataFrame:
        """Keep the warm-up of symbols trading in ``[start, end)``: the last ``warmup`` bars (an
        int) or those within the duration, as :meth:`Feed._trim`."""
        feed = self.feed
        if feed.start is None:
            return bars
        start = F.lit(feed.start.to_pydatetime())
        warm = F.col("ts") < start
        by_symbol = Window.partitionBy("symbol")
        keep = F.max(F.when(~warm, 1).otherwise(0)).over(by_symbol) == 1
        if isinstance(feed.warmup, int):
            back = Window.partitionBy("symbol", warm).orderBy(F.col("ts").desc())
            keep = keep & (~warm | (F.row_number().over(back) <= feed.warmup))
        elif feed.warmup is None:
            keep = keep & ~warm
        return bars.withColumn("_keep", keep).filter("_keep").drop("_keep")

    # -- validation -------------------------------------------------------------------
    def validate(self, bars: DataFrame, ts_note: str | None) -> list[str]:
        """Run the checks as one aggregation; raise the first error as validation.py does."""
        got = self.checks(bars, exact_order=False)
        if got["n_unsorted"]:
            # Out of order somewhere: the exact check (each row against the latest time
            # before it in the input) names and counts the rows as validation.py does.
            got = self.checks(bars, exact_order=True)
        return self.report(got, ts_note)

    def checks(self, bars: DataFrame, exact_order: bool) -> dict[str, Any]:
        """Every check's count and first row, in one aggregation.

        Without ``exact_order`` the input order is checked against the time order alone:
        rows are in time order when, sorted by (ts, position), their positions increase.
        That needs no second sort, and tells only whether some row is out of order.
        """
        pos, ts = F.col(POS), F.col("ts")
        micros = F.unix_micros(ts)
        v = {f: F.col(f) for f in BAR_FIELDS}
        before = (
            Window.partitionBy("symbol").orderBy(POS).rowsBetween(Window.unboundedPreceding, -1)
        )
        # One order for the duplicates and the steps: a repeated timestamp follows its first
        # occurrence (ties by position), so the row before a duplicate is where it first came.
        by_time = Window.partitionBy("symbol").orderBy("ts", POS)
        order: dict[str, Column] = (
            {"_top": F.max(micros).over(before), "_holder": F.max_by(pos, micros).over(before)}
            if exact_order
            else {"_desc": F.lag(pos).over(by_time) > pos, "_holder": F.lit(None).cast("long")}
        )
        a = bars.withColumns(
            {
                "_dup": F.lag(micros).over(by_time) == micros,
                "_first": F.lag(pos).over(by_time),
                **order,
                "_step": micros - F.lag(micros).over(by_time),
                "_after": F.lag(micros).over(by_time),
            }
        )
        interval = _interval_us(self.feed)
        threshold = (
            F.lit(interval) if interval else F.median("_step").over(Window.partitionBy("symbol"))
        )
        a = a.withColumn("_thr", threshold.cast("long"))
        missing = {f: c.isNull() | F.isnan(c) | (F.abs(c) == float("inf")) for f, c in v.items()}
        nonpos = {f: v[f] <= 0 for f in PRICE_FIELDS}
        priced = F.lit(True)
        for f in PRICE_FIELDS:
            priced = priced & (v[f] > 0) & (F.abs(v[f]) != float("inf"))
        o, h, lo, c = (v[f] for f in PRICE_FIELDS)
        checks: dict[str, Column] = {
            "null_ts": ts.isNull(),
            "duplicates": ts.isNotNull() & F.coalesce(F.col("_dup"), F.lit(False)),
            "unsorted": micros < F.col("_top") if exact_order else F.col("_desc"),
            "nulls": _any(missing.values()),
            "non_positive": _any(nonpos.values()),
            "negative_volume": v["volume"] < 0,
            "high_low": priced & (h < lo),
            "high_open_close": priced & (h < F.greatest(o, c)),
            "low_open_close": priced & (lo > F.least(o, c)),
            "gaps": F.col("_step") > F.col("_thr"),
        }
        extra = [c for c in ("_ts_text", *(f"_raw_{f}" for f in BAR_FIELDS)) if c in bars.columns]
        unparsed = (
            {"_ts_text": F.col("_ts_text").isNotNull() & ts.isNull()} if "_ts_text" in extra else {}
        )
        for f in BAR_FIELDS:
            if f"_raw_{f}" in extra:
                unparsed[f"_raw_{f}"] = F.col(f"_raw_{f}").isNotNull() & v[f].isNull()
        row = F.struct(
            pos.alias("pos"), F.col("symbol"), micros.alias("ts"), *v.values(),
            F.col("_first").alias("first"), F.col("_holder").alias("holder"),
            F.col("_after").alias("after"), F.col("_step").alias("step"), F.col("_thr").alias("thr"),
            *[F.col(x) for x in extra],
        )  # fmt: skip
        aggs = [F.count(F.lit(1)).alias("rows"), F.collect_set("symbol").alias("symbols")]
        if self.feed.start is not None:
            aggs.append(
                F.count(F.when(ts >= F.lit(self.feed.start.to_pydatetime()), 1)).alias("inside")
            )
        if "_ts_text" in extra:
            aware = F.col("_ts_text").rlike(r"(Z|[+-]\d\d:?\d\d)$|^\d{4}-\d{2}-\d{2}$")
            aggs.append(F.count(F.when(F.col("_ts_text").isNotNull() & ~aware, 1)).alias("naive"))
        for name, cond in {**checks, **unparsed}.items():
            aggs += [
                F.count(F.when(cond, 1)).alias(f"n_{name}"),
                F.min(F.when(cond, row)).alias(f"first_{name}"),
            ]
        got: dict[str, Any] = a.agg(*aggs).collect()[0].asDict(recursive=True)
        return got

    def report(self, got: dict[str, Any], ts_note: str | None) -> list[str]:
        """Raise the first failing check's error as validation.py does; the symbols."""
        feed, policy = self.name, self.feed.policy
        interval = _interval_us(self.feed)
        if got["rows"] == 0:
            if self.feed.start is not None or self.feed.end is not None:
                raise DataError(f"{feed}: no bars in {self.feed._range_text()}; widen the range")
            raise DataError(
                f"{feed}: the feed has no rows; pass a file or frame with at least one bar"
            )
        if got.get("n__ts_text"):
            r = got["first__ts_text"]
            raise DataError(
                f"{feed}: cannot parse the time column as timestamps (row {r['pos']}: "
                f"{r['_ts_text']!r}); use ISO 8601"
            )
        for f in BAR_FIELDS:
            if got.get(f"n__raw_{f}"):
                raise DataError(
                    f"{feed}: column {f!r} is not numeric (string); convert it to numbers"
                )
        if got.get("naive"):
            ts_note = "naive" if got["naive"] == got["rows"] else "mixed UTC offsets"
        report = ValidationReport.empty(feed, policy, got["rows"])
        if ts_note is not None:
            _timezone(report, ts_note, policy)
        _raise_first(feed, got)
        if policy.gaps != "ignore" and got["n_gaps"]:
            _gaps(report, got, policy, interval)
        if self.feed.start is not None and not got["inside"]:
            raise DataError(f"{feed}: no bars in {self.feed._range_text()}; widen the range")
        if report.reported:
            warnings.warn(report.summary(), DataWarning, stacklevel=5)
        return sorted(got["symbols"])


# -- messages (those of streambt.io.validation) --------------------------------------
def _hint(check: str, options: str) -> str:
    return f", or load with policy={{'{check}': {options}}}"


def _iso(us: int) -> str:
    return pd.Timestamp(int(us), unit="us", tz="UTC").isoformat()


def _where(r: dict[str, Any]) -> str:
    return f"row {r['pos']} (symbol {r['symbol']!r}, ts {_iso(r['ts'])})"


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _raise_first(feed: str, got: dict[str, Any]) -> None:
    """The DataError of the first failing row check, in validation.py's order."""

    def more(name: str) -> str:
        n = got[f"n_{name}"]
        return f" ({n:,} rows in all; feed.validate() lists them)" if n > 1 else ""

    if got["n_null_ts"]:
        r = got["first_null_ts"]
        raise DataError(
            f"{feed}: row {r['pos']} has no timestamp (ts is null); drop or fill that row"
            + _hint("nulls", "'drop'")
        )
    if got["n_duplicates"]:
        r = got["first_duplicates"]
        raise DataError(
            f"{feed}: {_where(r)} repeats the timestamp of row {r['first']}; timestamps must be "
            "unique per symbol. Drop duplicates (e.g. df.drop_duplicates('ts', keep='last'))"
            + _hint("duplicates", "'repair'")
            + " to keep the last"
            + more("duplicates")
        )
    if got["n_unsorted"]:
        r = got["first_unsorted"]
        raise DataError(
            f"{feed}: {_where(r)} is earlier than row {r['holder']} of the same symbol; "
            "bars must be in time order. Sort them first (e.g. df.sort_values('ts'))"
            + _hint("unsorted", "'repair'")
            + more("unsorted")
        )
    if got["n_nulls"]:
        r = got["first_nulls"]
        f = next(f for f in BAR_FIELDS if not _finite(r[f]))
        raise DataError(
            f"{feed}: {_where(r)} has {f} = {_num(r[f])!r} (NaN, null or infinite); drop the row "
            "or fill it (e.g. df.ffill()) before loading"
            + _hint("nulls", "'repair'")
            + more("nulls")
        )
    if got["n_non_positive"]:
        r = got["first_non_positive"]
        f = next(f for f in PRICE_FIELDS if r[f] is not None and r[f] <= 0)
        raise DataError(
            f"{feed}: {_where(r)} has {f} = {float(r[f])!r}; prices must be positive. Fix or drop "
            "that row (negative prices usually mean a bad adjustment)"
            + _hint("non_positive", "'drop'")
            + more("non_positive")
        )
    if got["n_negative_volume"]:
        r = got["first_negative_volume"]
        raise DataError(
            f"{feed}: {_where(r)} has volume {float(r['volume'])!r}; volume must be >= 0"
            + _hint("negative_volume", "'drop'")
            + more("negative_volume")
        )
    shapes = {
        "high_low": (
            "high < low",
            lambda r: f"high {float(r['high'])!r} < low {float(r['low'])!r}",
        ),
        "high_open_close": (
            "high below open or close",
            lambda r: (
                f"high {float(r['high'])!r} < max(open, close) {float(max(r['open'], r['close']))!r}"
            ),
        ),
        "low_open_close": (
            "low above open or close",
            lambda r: (
                f"low {float(r['low'])!r} > min(open, close) {float(min(r['open'], r['close']))!r}"
            ),
        ),
    }
    for name, (what, detail) in shapes.items():
        if got[f"n_{name}"]:
            r = got[f"first_{name}"]
            raise DataError(
                f"{feed}: {_where(r)}: {what} ({detail(r)}); correct or drop that bar"
                + _hint(name, "'repair'")
                + more(name)
            )


def _finite(value: Any) -> bool:
    return value is not None and value == value and abs(value) != float("inf")


def _timezone(report: ValidationReport, note: str, policy: Policy) -> None:
    result = report["timezone"]
    what = (
        "naive timestamps (no time zone), taken as UTC"
        if note == "naive"
        else f"timestamps in {note}, converted to UTC"
    )
    result.detail, result.count = what, report.rows_in
    if policy.timezone == "error":
        raise DataError(
            f"{report.feed}: the time column has {what}; store UTC timestamps "
            "(e.g. df['ts'] = df['ts'].dt.tz_localize('UTC'))" + _hint("timezone", "'warn'")
        )
    result.action = "warned" if policy.timezone == "warn" else "ignored"


def _gaps(
    report: ValidationReport, got: dict[str, Any], policy: Policy, interval: int | None
) -> None:
    result = report["gaps"]
    r = got["first_gaps"]
    step = str(pd.Timedelta(int(r["step"]), unit="us"))
    thr = str(pd.Timedelta(int(r["thr"]), unit="us"))
    result.count = got["n_gaps"]
    result.detail = (
        f"interval {pd.Timedelta(int(interval), unit='us')}"
        if interval
        else "interval: the median step of each symbol"
    )
    result.rows = [
        {"row": r["pos"], "symbol": r["symbol"], "ts": _iso(r["ts"]), "after": _iso(r["after"]),
         "step": step, "interval": thr}
    ]  # fmt: skip
    if policy.gaps == "error":
        more = (
            f" ({result.count:,} rows in all; feed.validate() lists them)"
            if result.count > 1
            else ""
        )
        raise DataError(
            f"{report.feed}: row {r['pos']} (symbol {r['symbol']!r}, ts {_iso(r['ts'])}) "
            f"comes {step} after the previous bar of its symbol, more than the bar "
            f"interval {thr}; fill the gap or pass interval= the real bar interval"
            + _hint("gaps", "'warn'")
            + more
        )
    result.action = "warned"


# -- helpers --------------------------------------------------------------------------
def _time_column(columns: list[str]) -> str | None:
    by_lower: dict[str, str] = {}
    for c in columns:
        by_lower.setdefault(c.lower(), c)
    return next((by_lower[a] for a in TS_ALIASES if a in by_lower), None)


def _spark_paths(spark: SparkSession, data: DataFrame, files: list[Path]) -> list[str] | None:
    """How Spark spells each of ``files`` in ``_metadata.file_path``: its list of input files,
    in the form one row of the first file shows; None when that cannot be told (then every
    row's path is decoded instead)."""
    from urllib.parse import unquote

    wanted = {str(f.resolve()): i for i, f in enumerate(files)}
    listed: list[str | None] = [None] * len(files)
    for spelled in data.inputFiles():
        plain = unquote(re.sub(r"^file:/+", "/", spelled))
        if plain in wanted:
            listed[wanted[plain]] = spelled
    found = [p for p in listed if p is not None]
    if len(found) != len(files):
        return None
    probe = spark.read.parquet(str(files[0])).select("_metadata.file_path").limit(1).collect()
    if not probe:
        return None
    for form in (lambda p: p, lambda p: re.sub(r"^file:///", "file:/", p)):
        if form(found[0]) == probe[0][0]:
            return [form(p) for p in found]
    return None


def _level_value(level: str) -> str:
    return level.split("=", 1)[1] if "=" in level else level


def _utc(tz: str) -> bool:
    return tz in {
        "UTC",
        "utc",
        "Etc/UTC",
        "Etc/Universal",
        "Universal",
        "Zulu",
        "Z",
        "+00:00",
        "GMT",
    }


def _from_nanos(col: Column) -> Column:
    """int64 nanoseconds (what Spark reads for pandas' timestamps) -> microsecond timestamps.
    A value finer than a microsecond becomes null, and the time check names its row."""
    return F.when(col % 1000 == 0, F.timestamp_micros(F.floor(col / 1000).cast("long")))


def _csv_null(col: Column) -> Column:
    return F.when(col.isin(*_CSV_NULLS), F.lit(None).cast("string")).otherwise(col)


def _number(col: Column, spark_type: str) -> Column:
    return col.try_cast("double") if spark_type == "string" else col.cast("double")


def _interval_us(feed: Feed) -> int | None:
    return int(feed.interval.value // 1000) if feed.interval is not None else None


def _any(conds: Any) -> Column:
    out: Column | None = None
    for c in conds:
        out = c if out is None else out | c
    assert out is not None
    return out
