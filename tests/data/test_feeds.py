"""Feeds: partitioned Parquet read lazily (columns, range, symbols pushed down), warm-up,
time ranges, polars and Arrow inputs, and fingerprints that follow the selection."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import streambt as sb
from streambt.io.ingest import ingest

from .conftest import hourly_bars

START = pd.Timestamp("2024-01-03", tz="UTC")
END = pd.Timestamp("2024-01-04 12:00", tz="UTC")


def _frame(table: pa.Table) -> pd.DataFrame:
    df = table.select(["symbol", "ts", "open", "high", "low", "close", "volume"]).to_pandas()
    return _us(df)


def _us(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(ts=df.ts.dt.tz_convert("UTC").astype("datetime64[us, UTC]"))


def _expected(df: pd.DataFrame, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.DataFrame:
    out = df
    if lo is not None:
        out = out[out.ts >= lo]
    if hi is not None:
        out = out[out.ts < hi]
    return _us(out.sort_values(["symbol", "ts"]).reset_index(drop=True))


def _write_junk_partitions(df: pd.DataFrame, root: Path, hive: bool) -> None:
    """One file per symbol and UTC day, with a column ``junk`` whose type differs between
    files: reading it would fail, so a successful load proves it was not read."""
    df = df.assign(day=df.ts.dt.strftime("%Y-%m-%d"))
    for i, ((sym, day), part) in enumerate(df.groupby(["symbol", "day"], sort=True)):
        folder = root / (f"symbol={sym}/date={day}" if hive else f"{sym}/{day}")
        folder.mkdir(parents=True)
        table = pa.Table.from_pandas(
            part.drop(columns=["symbol", "day"]), preserve_index=False
        ).append_column("junk", pa.array([i] * len(part) if i % 2 == 0 else ["x"] * len(part)))
        pq.write_table(table, folder / "part-0.parquet")


@pytest.fixture
def hive_dir(hourly: pd.DataFrame, tmp_path: Path) -> Path:
    _write_junk_partitions(hourly, tmp_path / "hive", hive=True)
    return tmp_path / "hive"


@pytest.fixture
def plain_dir(hourly: pd.DataFrame, tmp_path: Path) -> Path:
    _write_junk_partitions(hourly, tmp_path / "plain", hive=False)
    return tmp_path / "plain"


@pytest.mark.parametrize("layout", ["hive", "plain"])
def test_partitioned_dataset_reads_only_bar_columns(
    layout: str, hive_dir: Path, plain_dir: Path, hourly: pd.DataFrame
) -> None:
    root = hive_dir if layout == "hive" else plain_dir
    with pytest.raises(pa.ArrowInvalid, match="Failed to parse"):
        feed = sb.feeds.from_parquet(root)
        feed.dataset().to_table()  # every column: the junk column cannot be read
    table = sb.feeds.from_parquet(root).load()
    assert table.column_names == ["symbol", "ts", "open", "high", "low", "close", "volume"]
    pd.testing.assert_frame_equal(_frame(table), _expected(hourly, None, None))


def test_plan_pushes_columns_range_and_symbols_down(hive_dir: Path) -> None:
    feed = sb.feeds.from_parquet(hive_dir, symbols=["BBB"], start=START, end=END)
    columns, where = feed.plan(feed.dataset(), START, END)
    assert columns == ["symbol", "ts", "open", "high", "low", "close", "volume"]
    text = str(where)
    assert "(ts >= 2024-01-03 00:00:00" in text and "(ts < 2024-01-04 12:00:00" in text
    assert "(date >= 2024-01-03)" in text and "(date <= 2024-01-04)" in text
    assert 'is_in(symbol, {value_set=string:[\n  "BBB"\n]' in text


def test_time_range_prunes_partitions(hive_dir: Path, hourly: pd.DataFrame) -> None:
    # A corrupt file in a day after the range: pruning never opens it.
    bad = hive_dir / "symbol=AAA/date=2024-01-09"
    bad.mkdir()
    (bad / "part-0.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(sb.DataError, match=r"cannot read|Could not open|magic"):
        sb.feeds.from_parquet(hive_dir).load()
    table = sb.feeds.from_parquet(hive_dir, start=START, end=END).load()
    pd.testing.assert_frame_equal(_frame(table), _expected(hourly, START, END))
    assert table.column("ts")[0].as_py() == START and table.column("ts")[-1].as_py() < END


def test_symbols_prune_partitions(hive_dir: Path, hourly: pd.DataFrame) -> None:
    bad = hive_dir / "symbol=ZZZ/date=2024-01-01"
    bad.mkdir(parents=True)
    (bad / "part-0.parquet").write_bytes(b"junk")
    table = sb.feeds.from_parquet(hive_dir, symbols=["AAA", "CCC"]).load()
    assert set(table.column("symbol").to_pylist()) == {"AAA", "CCC"}
    assert table.num_rows == 2 * 24 * 5


def test_plain_folders_with_explicit_names_and_errors(plain_dir: Path, tmp_path: Path) -> None:
    feed = sb.feeds.from_parquet(plain_dir, partitioning=["symbol", "date"], start=START)
    assert feed.load().num_rows == 3 * 24 * 3
    with pytest.raises(sb.DataError, match="names 1 folder level"):
        sb.feeds.from_parquet(plain_dir, partitioning=["symbol"]).load()
    deep = tmp_path / "deep" / "x" / "y"
    deep.mkdir(parents=True)
    pq.write_table(pa.table({"ts": [1]}), deep / "a.parquet")
    with pytest.raises(sb.DataError, match="cannot tell what the folders"):
        sb.feeds.from_parquet(tmp_path / "deep").load()


@pytest.mark.parametrize("warmup", [30, 1, 200])
def test_int_warmup_loads_that_many_earlier_bars_per_symbol(hive_dir: Path, warmup: int) -> None:
    feed = sb.feeds.from_parquet(hive_dir, start=START, end=END, warmup=warmup)
    assert feed.start == START and feed.end == END
    df = _frame(feed.load())
    before = df[df.ts < START].groupby("symbol").size()
    assert before.to_dict() == {s: min(warmup, 48) for s in ("AAA", "BBB", "CCC")}
    # the warm-up ends right before the start and is contiguous
    last_warm = df[df.ts < START].groupby("symbol").ts.max()
    assert (last_warm == START - pd.Timedelta("1h")).all()
    assert (df[df.ts >= START].groupby("symbol").size() == 36).all()


def test_duration_warmup_and_the_same_on_every_feed(hive_dir: Path, hourly: pd.DataFrame) -> None:
    window = {"start": START, "end": END, "warmup": "5h"}
    feeds = {
        "parquet": sb.feeds.from_parquet(hive_dir, **window),
        "pandas": sb.feeds.from_pandas(hourly, **window),
        "arrow": sb.feeds.from_arrow(pa.Table.from_pandas(hourly, preserve_index=False), **window),
        "polars": sb.feeds.from_polars(pl.from_pandas(hourly), **window),
        "polars-lazy": sb.feeds.from_polars(pl.from_pandas(hourly).lazy(), **window),
    }
    expected = _expected(hourly, START - pd.Timedelta("5h"), END)
    for name, feed in feeds.items():
        df = _frame(feed.load())
        pd.testing.assert_frame_equal(df, expected, obj=name)
    # an int warm-up without pushdown (in memory) gives the same as with it
    a = _frame(sb.feeds.from_pandas(hourly, start=START, warmup=7).load())
    b = _frame(sb.feeds.from_parquet(hive_dir, start=START, warmup=7).load())
    pd.testing.assert_frame_equal(a, b)


def test_warmup_for_symbols_with_sparse_history(tmp_path: Path) -> None:
    # CCC trades only every 6 hours before the start: its 10 warm-up bars reach further back.
    df = hourly_bars(days=6)
    sparse = (df.symbol == "CCC") & (df.ts < START) & (df.ts.dt.hour % 6 != 0)
    df = df[~sparse]
    ingest_src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), ingest_src)
    quiet = {"gaps": "ignore"}
    ingest(ingest_src, tmp_path / "ds", "symbol,day", policy=quiet)
    feed = sb.feeds.from_parquet(tmp_path / "ds", start=START, warmup=10, policy=quiet)
    out = _frame(feed.load())
    warm = out[out.ts < START]
    assert warm.groupby("symbol").size().to_dict() == {"AAA": 10, "BBB": 10, "CCC": 8}
    assert warm[warm.symbol == "CCC"].ts.min() == pd.Timestamp("2024-01-01", tz="UTC")


def test_window_api_and_range_validation(hourly: pd.DataFrame) -> None:
    feed = sb.feeds.from_pandas(hourly)
    narrowed = feed.window("2024-01-02", "2024-01-03")
    assert feed.start is None and narrowed.start == pd.Timestamp("2024-01-02", tz="UTC")
    assert narrowed.load().num_rows == 3 * 24
    with pytest.raises(sb.InvalidParameterError, match="not after start"):
        feed.window("2024-01-03", "2024-01-02")
    with pytest.raises(sb.InvalidParameterError, match="needs start"):
        feed.window(warmup=10)
    with pytest.raises(sb.InvalidParameterError, match="not a duration"):
        feed.window("2024-01-02", warmup="soon")
    with pytest.raises(sb.DataError, match="no bars in"):
        feed.window("2030-01-01").load()


def test_fingerprint_follows_range_symbols_and_files(hive_dir: Path) -> None:
    base = sb.feeds.from_parquet(hive_dir)
    same = sb.feeds.from_parquet(hive_dir)
    before = base.fingerprint()
    assert before == same.fingerprint()
    prints = {
        base.fingerprint(),
        base.window(START).fingerprint(),
        base.window(START, END).fingerprint(),
        base.window(START, END, warmup=5).fingerprint(),
        sb.feeds.from_parquet(hive_dir, symbols=["AAA"]).fingerprint(),
        base.with_policy({"gaps": "error"}).fingerprint(),
    }
    assert len(prints) == 6
    target = next(iter(hive_dir.rglob("*.parquet")))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert sb.feeds.from_parquet(hive_dir).fingerprint() != before
    # the default selection keeps the description (and so node ids) as before
    assert base.describe() == {"kind": "parquet", "path": "hive", "symbol": None}


def test_single_parquet_file_and_cerebro_run(hourly: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "one.parquet"
    pq.write_table(pa.Table.from_pandas(hourly[hourly.symbol == "AAA"], preserve_index=False), path)
    feed = sb.feeds.from_parquet(path, start=START, warmup=10)
    cb = sb.Cerebro()
    data = cb.add_data(feed)
    cb.add_indicator(sb.ind.sma, data["close"], window=10)
    res = cb.run()
    assert res.factors.num_rows == 10 + (len(hourly) // 3 - 48)


def test_polars_lazy_frame_with_naive_times(hourly: pd.DataFrame) -> None:
    lf = pl.from_pandas(hourly.assign(ts=hourly.ts.dt.tz_localize(None))).lazy()
    feed = sb.feeds.from_polars(lf, start=START, end=END, policy={"timezone": "ignore"})
    pd.testing.assert_frame_equal(_frame(feed.load()), _expected(hourly, START, END))
    assert feed.validate()["timezone"].action == "ignored"
    with pytest.raises(sb.DataError, match="polars DataFrame or LazyFrame"):
        sb.feeds.from_polars(hourly)


def test_dataset_scan_reads_fewer_rows_with_a_range(hive_dir: Path) -> None:
    feed = sb.feeds.from_parquet(hive_dir, start=START, end=END)
    dataset = feed.dataset()
    _, where = feed.plan(dataset, START, END)
    fragments = list(dataset.get_fragments(filter=where))
    assert len(fragments) == 3 * 2  # two days of three symbols, of fifteen files
    assert isinstance(dataset, ds.FileSystemDataset)
