"""Spark batch beyond the parity cases: file feeds read by Spark, their validation, several
timeframes, the factor cache, the support table, and a missing Java."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import streambt as sb
from streambt.backends import get_backend
from streambt.errors import DataError
from tests.parity.test_parity import assert_tables_equal
from tests.unit.test_timeframes import _mtf

from .conftest import TIMES

TABLES = ("factors", "orders", "fills", "trades", "equity", "positions", "metrics")


def _graph(feed: sb.feeds.Feed) -> sb.Cerebro:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(feed)
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    slow = cb.add_indicator(sb.ind.ema, data["close"], window=30)
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(), name="x")
    return cb


def _same(got: sb.Result, want: sb.Result, what: str) -> None:
    for name in TABLES:
        assert_tables_equal(getattr(got, name), getattr(want, name), f"{what}/{name}")


def test_first_job_and_the_parity_frame(spark: object, two_symbols: pd.DataFrame) -> None:
    cb = _graph(sb.feeds.from_pandas(two_symbols))
    started = time.perf_counter()
    got = cb.run(backend="spark")
    TIMES.setdefault("first backtest job (s)", time.perf_counter() - started)
    started = time.perf_counter()
    cb.run(backend="spark")
    TIMES["same backtest again (s)"] = time.perf_counter() - started
    _same(got, cb.run(), "pandas")


def test_file_feeds_are_read_by_spark_with_the_same_numbers(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    by_time = two_symbols.sort_values(["ts", "symbol"], kind="stable")
    by_time.to_csv(tmp_path / "bars.csv", index=False)
    by_time.to_parquet(tmp_path / "bars.parquet")  # pandas writes nanoseconds
    hive = tmp_path / "hive 100% é"  # Spark spells such paths URL-encoded
    for sym, part in two_symbols.groupby("symbol"):
        (hive / f"symbol={sym}").mkdir(parents=True)
        part.drop(columns="symbol").to_parquet(hive / f"symbol={sym}" / "part-0.parquet")
    feeds = [
        sb.feeds.from_csv(tmp_path / "bars.csv"),
        sb.feeds.from_parquet(tmp_path / "bars.parquet"),
        sb.feeds.from_parquet(hive, start="2020-06-01", warmup=40),
        sb.feeds.from_parquet(
            hive, symbols=["BBB"], start="2020-05-01", end="2021-01-01", warmup="20D"
        ),
    ]
    for feed in feeds:
        cb = _graph(feed)
        _same(cb.run(backend="spark"), cb.run(), feed.name)


def _bad(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    df = frame.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    df["ts"] = df["ts"].astype(str)
    rows = df.index[df["symbol"] == "BBB"]
    i, j = rows[100], rows[101]
    if case == "duplicates":
        df = pd.concat([df.iloc[: j + 1], df.iloc[[i, i]], df.iloc[j + 1 :]], ignore_index=True)
    elif case == "unsorted":
        df.loc[[i, j]] = df.loc[[j, i]].to_numpy()
    elif case == "nulls":
        df.loc[[i, j], "close"] = np.nan
    elif case == "null_ts":
        df.loc[j, "ts"] = ""
    elif case == "non_positive":
        df.loc[j, "low"] = -1.0
    elif case == "negative_volume":
        df.loc[i, "volume"] = -5.0
    elif case == "high_low":
        df.loc[j, ["high", "low"]] = df.loc[j, ["low", "high"]].to_numpy()
    elif case == "high_open_close":
        df.loc[j, "high"] = df.loc[j, "close"] - 0.01
        df.loc[j, "low"] = min(df.loc[j, "low"], df.loc[j, "high"])
    return df


BAD = ["duplicates", "unsorted", "nulls", "null_ts", "non_positive", "negative_volume",
       "high_low", "high_open_close"]  # fmt: skip


def test_bad_rows_in_files_raise_the_messages_of_the_arrow_validation(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    for case in BAD:
        path = tmp_path / f"{case}.csv"
        _bad(two_symbols, case).to_csv(path, index=False)
        feed = sb.feeds.from_csv(path)
        with pytest.raises(DataError) as want:
            feed.load()
        with pytest.raises(DataError) as got:
            _graph(feed).run(backend="spark")
        assert str(got.value) == str(want.value), case
    # Parquet: positions run across the files of a dataset (footers give each file's offset).
    folder = tmp_path / "dataset"
    folder.mkdir()
    bad = _bad(two_symbols, "unsorted").assign(ts=lambda d: pd.to_datetime(d["ts"]))
    bad.iloc[:200].to_parquet(folder / "a.parquet")
    bad.iloc[200:].to_parquet(folder / "b.parquet")
    feed = sb.feeds.from_parquet(folder)
    with pytest.raises(DataError) as want:
        feed.load()
    with pytest.raises(DataError) as got:
        _graph(feed).run(backend="spark")
    assert str(got.value) == str(want.value)
    assert "row 263 " in str(got.value)  # 200 rows of a.parquet + row 63 of b.parquet


def test_several_timeframes_and_the_factor_cache(
    spark: object, two_symbols: pd.DataFrame, tmp_path: Path
) -> None:
    a = sb.feeds.synthetic_bars(1500, seed=1, interval="1min", start="2024-01-02 09:30")
    b = sb.feeds.synthetic_bars(1100, seed=2, interval="1min", start="2024-01-02 10:07", price=50)
    df = pd.concat([a.assign(symbol="AAA"), b.assign(symbol="BBB")], ignore_index=True)
    cb, _ = _mtf(df)
    want = cb.run()
    got = cb.run(backend="spark")
    _same(got, want, "timeframes")
    for name, table in want.frames.items():
        assert_tables_equal(got.frames[name], table, f"frame {name}")
    # The factor cache (one timeframe: storing a graph with several fails on every engine,
    # in FactorCache.store, which looks for higher-timeframe columns in the base factors).
    cb = _graph(sb.feeds.from_pandas(two_symbols))
    want = cb.run()
    cache = tmp_path / "cache"
    first = cb.run(backend="spark", cache=cache)
    second = cb.run(backend="spark", cache=cache)  # indicators read back, joined in Spark
    assert second.plan is not None and second.plan.cached
    _same(first, want, "cached run 1")
    _same(second, want, "cached run 2")


def test_the_support_table_says_where_each_node_runs(two_symbols: pd.DataFrame) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(two_symbols))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    ema = cb.add_indicator(sb.ind.ema, data["close"], window=5)
    cb.add_strat(cb.add_indicator(sb.sig.cross, sma, ema), sb.alloc.all_in(), name="s")
    batch = cb.plan("spark")
    assert batch.placement(sma.node.id) == "relational"
    assert batch.placement(ema.node.id) == "scan"
    assert "applyInArrow" in cb.explain("spark", show=False)
    stream = cb.plan("spark", "stream")
    assert stream.placement(sma.node.id) == "scan"
    assert "NON_TIME_WINDOW_NOT_SUPPORTED_IN_STREAMING" in cb.explain("spark", "stream", show=False)
    backend = get_backend("spark")
    assert backend.STAGES[("batch", "align")].ok


JOB = """
import streambt as sb
cb = sb.Cerebro()
cb.add_data(sb.feeds.synthetic("X", bars=50))
try:
    cb.run(backend="spark")
except sb.BackendError as exc:
    print(exc)
"""


def test_a_missing_or_old_java_is_a_clear_error(tmp_path: Path) -> None:
    old = tmp_path / "jdk8"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "java").write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_392\"' >&2\n")
    (old / "bin" / "java").chmod(0o755)
    for home, said in ((tmp_path / "no-such-jdk", "could not run"), (old, '"1.8.0_392"')):
        env = {**os.environ, "JAVA_HOME": str(home)}
        done = subprocess.run(
            [sys.executable, "-c", JOB], env=env, capture_output=True, text=True, timeout=300
        )
        assert "Spark needs Java 17" in done.stdout, done.stderr[-2000:]
        assert said in done.stdout and "install openjdk-17-jre" in done.stdout
