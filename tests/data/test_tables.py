"""Database tables as feeds through Ibis: a DuckDB file and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pytest

import streambt as sb

START = pd.Timestamp("2024-01-03", tz="UTC")
END = pd.Timestamp("2024-01-04 12:00", tz="UTC")


def _frame(table: Any) -> pd.DataFrame:
    df = table.select(["symbol", "ts", "open", "high", "low", "close", "volume"]).to_pandas()
    return df.assign(ts=df.ts.dt.tz_convert("UTC").astype("datetime64[us, UTC]"))


def _expected(
    df: pd.DataFrame, lo: Any = None, hi: Any = None, symbols: Any = None
) -> pd.DataFrame:
    out = df
    if lo is not None:
        out = out[out.ts >= lo]
    if hi is not None:
        out = out[out.ts < hi]
    if symbols:
        out = out[out.symbol.isin(symbols)]
    out = out.sort_values(["symbol", "ts"]).reset_index(drop=True)
    return out.assign(ts=out.ts.astype("datetime64[us, UTC]"))


def _with_note(df: pd.DataFrame) -> pd.DataFrame:
    # an extra text column the feed must not fetch
    return df.assign(note="x" * 50)


@pytest.fixture
def duckdb_file(hourly: pd.DataFrame, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "bars.db"
    con = ibis.duckdb.connect(str(path))
    con.create_table("bars", _with_note(hourly))
    con.disconnect()
    yield path


def _check_table_feed(source: Any, hourly: pd.DataFrame) -> None:
    whole = sb.feeds.from_table(source, "bars")
    pd.testing.assert_frame_equal(_frame(whole.load()), _expected(hourly))
    feed = sb.feeds.from_table(source, "bars", symbols=["AAA", "CCC"], start=START, end=END)
    pd.testing.assert_frame_equal(
        _frame(feed.load()), _expected(hourly, START, END, ["AAA", "CCC"])
    )
    warm = _frame(sb.feeds.from_table(source, "bars", start=START, end=END, warmup=30).load())
    assert warm[warm.ts < START].groupby("symbol").size().to_dict() == {
        "AAA": 30,
        "BBB": 30,
        "CCC": 30,
    }
    assert feed.validate().clean
    assert feed.fingerprint() != whole.fingerprint()
    assert (
        feed.fingerprint()
        == sb.feeds.from_table(
            source, "bars", symbols=["CCC", "AAA"], start=START, end=END
        ).fingerprint()
    )


def test_duckdb_table_through_a_connection_and_a_url(
    duckdb_file: Path, hourly: pd.DataFrame
) -> None:
    con = ibis.duckdb.connect(str(duckdb_file))
    try:
        _check_table_feed(con, hourly)
    finally:
        con.disconnect()
    _check_table_feed(f"duckdb:///{duckdb_file}", hourly)


def test_duckdb_pushes_columns_range_and_symbols_into_the_sql(duckdb_file: Path) -> None:
    feed = sb.feeds.from_table(f"duckdb:///{duckdb_file}", "bars", symbols=["AAA"])
    sql = feed.sql(START, END)
    assert "note" not in sql  # the extra column is not selected
    assert sql.count("WHERE") == 1 and "IN ('AAA')" in sql
    assert "2024, 1, 3" in sql and "2024, 1, 4, 12" in sql


def test_table_feed_errors(duckdb_file: Path) -> None:
    with pytest.raises(
        sb.DataError, match=r"unknown URL scheme 'duckdbb'.*Did you mean \"duckdb\""
    ):
        sb.feeds.from_table(f"duckdbb:///{duckdb_file}", "bars")
    with pytest.raises(sb.DataError, match=r"no table 'nope'"):
        sb.feeds.from_table(f"duckdb:///{duckdb_file}", "nope").load()
    with pytest.raises(sb.DataError, match="Ibis connection"):
        sb.feeds.from_table(42, "bars")


def test_postgres_table_on_a_real_server(postgres_url: str, hourly: pd.DataFrame) -> None:
    con = ibis.connect(postgres_url)
    try:
        con.create_table("bars", _with_note(hourly), overwrite=True)
        assert con.table("bars").ts.type().timezone is not None  # timestamptz
        _check_table_feed(con, hourly)
        _check_table_feed(postgres_url, hourly)
        sql = sb.feeds.from_table(con, "bars", symbols=["BBB"]).sql(START, END)
        assert "note" not in sql and "WHERE" in sql
    finally:
        con.drop_table("bars", force=True)
        con.disconnect()


def test_postgres_naive_timestamps_are_reported(postgres_url: str, hourly: pd.DataFrame) -> None:
    con = ibis.connect(postgres_url)
    try:
        naive = hourly.assign(ts=hourly.ts.dt.tz_localize(None))
        con.create_table("naive_bars", naive, overwrite=True)
        feed = sb.feeds.from_table(postgres_url, "naive_bars", start=START, end=END)
        report = feed.validate()
        assert report["timezone"].count == report.rows_in and report["timezone"].action == "warned"
        with pytest.warns(sb.feeds.DataWarning, match="timezone"):
            table = feed.load()
        pd.testing.assert_frame_equal(_frame(table), _expected(hourly, START, END))
    finally:
        con.drop_table("naive_bars", force=True)
        con.disconnect()
