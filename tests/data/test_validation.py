"""Each validation check on a CSV file with exactly one fault, under each policy.

The table below is the specification: for every (check, policy) the report's
count and action, the rows that come out, and what those rows hold.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import streambt as sb
from streambt.io.policy import CHECKS
from streambt.io.validation import check_bars

N = 10
ROW = 4


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return sb.feeds.synthetic_bars(N, seed=5)


def _set(**values: Callable[[pd.Series], float] | float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        row = out.loc[ROW].copy()
        for k, v in values.items():
            out.loc[ROW, k] = v(row) if callable(v) else v
        return out

    return mutate


def _duplicate(df: pd.DataFrame) -> pd.DataFrame:
    # a corrected copy of row 4 right after it: same time, other volume
    copy = df.iloc[[ROW]].assign(volume=df.volume[ROW] + 1)
    return pd.concat([df.iloc[: ROW + 1], copy, df.iloc[ROW + 1 :]], ignore_index=True)


def _swap(df: pd.DataFrame) -> pd.DataFrame:
    return df.iloc[[*range(ROW), ROW + 1, ROW, *range(ROW + 2, N)]].reset_index(drop=True)


def _naive(df: pd.DataFrame) -> pd.DataFrame:
    # with a time of day, so the CSV reader sees timestamps (a bare date names a day, not an instant)
    return df.assign(ts=df.ts.dt.strftime("%Y-%m-%d %H:%M:%S"))


def _value(df: pd.DataFrame, field: str, ts: pd.Timestamp) -> float:
    return float(df.loc[df.ts == ts, field].iloc[0])


# (check, fault, what the others must tolerate for the case to have one fault)
FAULTS: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], dict[str, str], str]] = {
    "nulls": (_set(close=np.nan), {}, r"row 4 .* close = nan"),
    "non_positive": (_set(open=-1.0), {}, r"row 4 .* open = -1.0; prices must be positive"),
    "negative_volume": (_set(volume=-5.0), {}, r"row 4 .* volume -5.0"),
    # high < low implies high < max(open, close) or low > min(open, close)
    "high_low": (
        _set(high=lambda r: r.low, low=lambda r: r.high),
        {"high_open_close": "warn", "low_open_close": "warn"},
        r"row 4 .*high < low",
    ),
    "high_open_close": (
        _set(high=lambda r: min(r.open, r.close)),
        {},
        r"row 4 .*high below open or close",
    ),
    "low_open_close": (
        _set(low=lambda r: max(r.open, r.close)),
        {},
        r"row 4 .*low above open or close",
    ),
    "duplicates": (_duplicate, {}, r"row 5 .*repeats the timestamp of row 4"),
    "unsorted": (_swap, {}, r"row 5 .*earlier than row 4"),
    "gaps": (lambda d: d.drop(index=ROW).reset_index(drop=True), {}, r"comes 2 days.* after"),
    "timezone": (_naive, {}, r"naive timestamps"),
}


def _expect(check: str, policy: str, clean: pd.DataFrame, out: pd.DataFrame) -> tuple[int, int]:
    """(count, rows out) for a check and policy, after checking the resulting rows' values."""
    t4, t3 = clean.ts[ROW], clean.ts[ROW - 1]
    removed = len(out) == N - 1 and t4 not in set(out.ts)
    if check == "nulls":
        if policy == "drop":
            assert removed
        elif policy == "repair":  # close from the previous close; high/low widened to cover it
            assert _value(out, "close", t4) == clean.close[ROW - 1]
            assert _value(out, "high", t4) >= max(_value(out, "open", t4), clean.close[ROW - 1])
            assert _value(out, "low", t4) <= min(_value(out, "open", t4), clean.close[ROW - 1])
        else:
            assert np.isnan(_value(out, "close", t4))
        return 1, N - (policy == "drop")
    if check == "non_positive":
        expect = {"repair": clean.close[ROW - 1], "warn": -1.0}
        if policy == "drop":
            assert removed
        else:
            assert _value(out, "open", t4) == expect[policy]
        return 1, N - (policy == "drop")
    if check == "negative_volume":
        assert removed if policy == "drop" else _value(out, "volume", t4) == -5.0
        return 1, N - (policy == "drop")
    if check in ("high_low", "high_open_close", "low_open_close"):
        o, c = clean.open[ROW], clean.close[ROW]
        if policy == "drop":
            assert removed
        elif policy == "repair":
            h, lo = _value(out, "high", t4), _value(out, "low", t4)
            if check == "high_low":  # swapped back
                assert (h, lo) == (clean.high[ROW], clean.low[ROW])
            elif check == "high_open_close":
                assert h == max(o, c)
            else:
                assert lo == min(o, c)
        return 1, N - (policy == "drop")
    if check == "duplicates":
        rows = {"drop": N - 1, "repair": N, "warn": N + 1}[policy]
        if policy == "repair":  # the last copy is kept
            assert _value(out, "volume", t4) == clean.volume[ROW] + 1
        if policy == "drop":
            assert removed
        return 1, rows
    if check == "unsorted":
        if policy == "drop":  # the late bar (row 5, the original row 4) is dropped
            assert removed
        else:
            assert list(out.ts) == list(clean.ts)
        return 1, N - (policy == "drop")
    if check == "gaps":
        assert t4 not in set(out.ts) and t3 in set(out.ts)
        return 1, N - 1
    if check == "timezone":
        assert list(out.ts) == list(clean.ts)  # naive read as UTC
        return N, N
    raise AssertionError(check)


CASES = [
    (c.name, p) for c in CHECKS for p in (*c.allowed, *(("drop",) if c.name == "gaps" else ()))
]


@pytest.mark.parametrize(("check", "policy"), CASES, ids=[f"{c}-{p}" for c, p in CASES])
def test_check_under_policy(check: str, policy: str, clean: pd.DataFrame, tmp_path: Path) -> None:
    fault, others, message = FAULTS[check]
    path = tmp_path / "bars.csv"
    fault(clean).to_csv(path, index=False)
    if policy not in next(c for c in CHECKS if c.name == check).allowed:
        with pytest.raises(sb.InvalidParameterError, match=rf"the {check} check accepts"):
            sb.feeds.from_csv(path, symbol="X", policy={check: policy})
        return
    feed = sb.feeds.from_csv(path, symbol="X", policy={**others, check: policy})
    report = feed.validate()
    result = report[check]
    # the gap a dropped row leaves is reported too; nothing else is
    consequent = {"gaps"} if (policy == "drop" and check != "gaps") else set()
    for other in report.checks:
        if other.check not in {check, *others, *consequent}:
            assert other.count == 0, (other.check, other.rows)

    if policy == "error":
        assert result.action == "error" and report.failed
        with pytest.raises(sb.DataError, match=message):
            feed.load()
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = feed.load()
    out = table.to_pandas()
    count, rows = _expect(check, policy, clean, out)
    assert (result.count, report.rows_out, table.num_rows) == (count, rows, rows)
    action = {"drop": "dropped", "repair": "repaired", "warn": "warned", "ignore": "ignored"}
    assert result.action == action[policy]
    assert not report.failed
    assert result.rows and result.rows[0]["symbol"] == "X"
    data_warnings = [w for w in caught if issubclass(w.category, sb.feeds.DataWarning)]
    if policy == "ignore":
        assert not data_warnings  # ignore is the one silent policy, for checks that change no row
    else:
        assert data_warnings and f"{check}: {count}" in str(data_warnings[0].message)


def test_clean_bars_take_the_fast_path_with_no_report(clean: pd.DataFrame) -> None:
    table = sb.feeds.from_pandas(clean, symbol="X").load()
    out, report = check_bars(table, "t", sb.feeds.Policy())
    assert report is None and out is table
    full = sb.feeds.from_pandas(clean, symbol="X").validate()
    assert full.clean and not full.failed and full.rows_out == N


def test_the_first_row_cannot_be_filled_and_is_dropped(clean: pd.DataFrame) -> None:
    bad = clean.copy()
    bad.loc[0, "close"] = np.nan
    report = sb.feeds.from_pandas(bad, symbol="X", policy={"nulls": "repair"}).validate()
    assert (report["nulls"].action, report["nulls"].dropped, report.rows_out) == (
        "repaired",
        1,
        N - 1,
    )


def test_missing_high_low_volume_are_rebuilt_from_open_close(clean: pd.DataFrame) -> None:
    bad = clean.copy()
    bad.loc[ROW, ["high", "low", "volume"]] = np.nan
    with pytest.warns(sb.feeds.DataWarning, match="nulls: 1 .repaired"):
        out = sb.feeds.from_pandas(bad, symbol="X", policy={"nulls": "repair"}).load().to_pandas()
    o, c = clean.open[ROW], clean.close[ROW]
    assert (out.high[ROW], out.low[ROW], out.volume[ROW]) == (max(o, c), min(o, c), 0.0)


def test_null_timestamps_are_dropped_unless_error(clean: pd.DataFrame) -> None:
    bad = clean.copy()
    bad.loc[ROW, "ts"] = pd.NaT
    with pytest.raises(sb.DataError, match=r"row 4 has no timestamp"):
        sb.feeds.from_pandas(bad, symbol="X").load()
    report = sb.feeds.from_pandas(bad, symbol="X", policy={"nulls": "warn"}).validate()
    assert (report["nulls"].count, report["nulls"].dropped, report.rows_out) == (1, 1, N - 1)


def test_time_checks_are_per_symbol_in_a_long_interleaved_file(tmp_path: Path) -> None:
    a = sb.feeds.synthetic_bars(6, seed=1).assign(symbol="A")
    b = sb.feeds.synthetic_bars(6, seed=2).assign(symbol="B")
    long = pd.concat([a, b]).sort_values("ts", kind="stable").reset_index(drop=True)
    # B's rows are at odd positions; swap B's 3rd and 4th bars
    i, j = long.index[long.symbol == "B"][[2, 3]]
    long.iloc[[i, j]] = long.iloc[[j, i]].to_numpy()
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    report = sb.feeds.from_csv(path).validate()
    assert report["unsorted"].count == 1 and report["unsorted"].rows[0]["symbol"] == "B"
    assert report["duplicates"].count == 0
    with pytest.raises(sb.DataError, match=rf"row {j} \(symbol 'B'.*earlier than row {i}"):
        sb.feeds.from_csv(path).load()
    with pytest.warns(sb.feeds.DataWarning, match=r"unsorted: 1 \(repaired\)"):
        table = sb.feeds.from_csv(path, policy={"unsorted": "repair"}).load()
    assert table.num_rows == 12 and table.column("symbol").to_pylist() == ["A"] * 6 + ["B"] * 6


def test_gaps_use_the_given_interval(clean: pd.DataFrame) -> None:
    holed = clean.drop(index=ROW)
    assert sb.feeds.from_pandas(holed, symbol="X", interval="2D").validate()["gaps"].count == 0
    report = sb.feeds.from_pandas(clean, symbol="X", interval="12h").validate()
    assert report["gaps"].count == N - 1  # every daily step is a gap at 12h


def test_gap_inference_falls_back_to_the_exact_median() -> None:
    # steps 1,1,5,5,5 minutes: the first step is no majority, the median is 5 minutes
    minutes = np.cumsum([0, 1, 1, 5, 5, 5, 60])
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min")
    df = pd.DataFrame({"ts": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    report = sb.feeds.from_pandas(df, symbol="X").validate()
    assert report["gaps"].count == 1 and report["gaps"].rows[0]["step"].startswith("0 days 01:00")


def test_non_utc_zones_are_reported_and_converted(clean: pd.DataFrame) -> None:
    ny = clean.assign(ts=clean.ts.dt.tz_convert("America/New_York"))
    feed = sb.feeds.from_pandas(ny, symbol="X")
    report = feed.validate()
    assert report["timezone"].count == N and "America/New_York" in report["timezone"].detail
    with pytest.warns(sb.feeds.DataWarning, match="timezone"):
        table = feed.load()
    assert table.column("ts").type == pa.timestamp("us", tz="UTC")
    assert table.column("ts").to_pylist() == list(clean.ts)


def test_unknown_checks_and_policies_suggest_the_closest(clean: pd.DataFrame) -> None:
    with pytest.raises(sb.InvalidParameterError, match=r"unknown validation check 'gap'.*\"gaps\""):
        sb.feeds.from_pandas(clean, policy={"gap": "error"})
    with pytest.raises(sb.InvalidParameterError, match=r"gaps='eror'.*Did you mean \"error\""):
        sb.feeds.Policy(gaps="eror")
    with pytest.raises(sb.InvalidParameterError, match=r"negative_volume check accepts"):
        sb.feeds.Policy(negative_volume="repair")


def test_report_prints_as_a_table_and_serializes(clean: pd.DataFrame) -> None:
    report = sb.feeds.from_pandas(_set(close=np.nan)(clean), symbol="X").validate()
    text = str(report)
    assert "nulls" in text and "row 4" in text and "error" in text
    d = report.to_dict()
    assert d["failed"] and d["checks"][3]["check"] == "nulls" and d["checks"][3]["count"] == 1
    assert "nulls: 1 (error)" in report.summary()
