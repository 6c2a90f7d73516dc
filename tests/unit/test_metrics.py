"""Metrics: a hand-checked table, an independent loop reference, edge cases.

The engine is DuckDB through ibis; the reference below is written with plain
Python loops over pandas rows, sharing no code with ``streambt.metrics``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from streambt.errors import DataError, InvalidParameterError
from streambt.metrics import METRIC_COLUMNS, METRIC_SCHEMA, compute_metrics, metrics_expr

UTC = dt.UTC
EQUITY_SCHEMA = pa.schema(
    [
        ("strategy", pa.string()),
        ("symbol", pa.string()),
        ("ts", pa.timestamp("us")),
        ("cash", pa.float64()),
        ("position", pa.float64()),
        ("equity", pa.float64()),
    ]
)
TRADE_SCHEMA = pa.schema(
    [
        ("strategy", pa.string()),
        ("symbol", pa.string()),
        ("side", pa.int8()),
        ("size", pa.float64()),
        ("entry_ts", pa.timestamp("us")),
        ("entry_price", pa.float64()),
        ("exit_ts", pa.timestamp("us")),
        ("exit_price", pa.float64()),
        ("pnl", pa.float64()),
        ("commission", pa.float64()),
        ("bars_held", pa.int64()),
    ]
)


@pytest.fixture(scope="module")
def con() -> Any:
    return ibis.duckdb.connect()


def equity_table(
    rows: Sequence[tuple[str, str, dt.datetime, float, float]], tz: str | None = None
) -> pa.Table:
    """Rows of (strategy, symbol, ts, position, equity); cash is unused."""
    schema = EQUITY_SCHEMA.set(2, pa.field("ts", pa.timestamp("us", tz=tz)))
    strategy, symbol, ts, position, equity = (list(c) for c in zip(*rows, strict=True))
    cash = [e - p for p, e in zip(position, equity, strict=True)]
    return pa.table([strategy, symbol, ts, cash, position, equity], schema=schema)


def trade_table(rows: Sequence[tuple[str, str, float]]) -> pa.Table:
    """Rows of (strategy, symbol, pnl); the other columns are filler."""
    t0 = dt.datetime(2024, 1, 1)
    cols: dict[str, list[Any]] = {name: [] for name in TRADE_SCHEMA.names}
    for strategy, symbol, pnl in rows:
        values = (strategy, symbol, 1, 1.0, t0, 100.0, t0, 100.0 + pnl, pnl, 0.0, 1)
        for name, v in zip(TRADE_SCHEMA.names, values, strict=True):
            cols[name].append(v)
    return pa.table(cols, schema=TRADE_SCHEMA)


def one_row(table: pa.Table, strategy: str = "s", symbol: str = "X") -> dict[str, Any]:
    rows = [r for r in table.to_pylist() if r["strategy"] == strategy and r["symbol"] == symbol]
    assert len(rows) == 1
    return rows[0]


def daily(first: dt.datetime, n: int) -> list[dt.datetime]:
    return [first + dt.timedelta(days=i) for i in range(n)]


# --------------------------------------------------------------------------
# Hand-checked table
# --------------------------------------------------------------------------
# initial_cash = 1000; 10 daily bars 2024-01-27 (Sat) .. 2024-02-05 (Mon).
# Equity is built from chosen returns, so every r_t is a round number:
#
#  i  date        r_t     equity          peak          drawdown   position
#  0  Jan27 Sat   0       1000            1000          0            0
#  1  Jan28 Sun  +0.05    1050            1050          0           10
#  2  Jan29 Mon  +0.01    1060.5          1060.5        0           10
#  3  Jan30 Tue  -0.04    1018.08         1060.5       -0.04        10
#  4  Jan31 Wed  -0.025   992.628         1060.5       -0.064        0
#  5  Feb01 Thu   0       992.628         1060.5       -0.064        0
#  6  Feb02 Fri  +0.05    1042.2594       1060.5       -0.0172      10
#  7  Feb03 Sat  +0.02    1063.104588     1063.104588   0           10
#  8  Feb04 Sun  -0.03    1031.21145036   1063.104588  -0.03        -5
#  9  Feb05 Mon  +0.04    1072.4599083744 1072.45...    0           10
#
# (drawdown at bar 4 = 0.96 * 0.975 - 1 = -0.064; bar 6 = 0.936 * 1.05 - 1.)
# start = Jan27, end = Feb05: 9 days; years = 9 / 365.25;
# periods_per_year = (10 - 1) / years = 365.25.
# final_equity = 1072.4599083744; total_return = 0.0724599083744.
# cagr = 1.0724599083744 ** (365.25 / 9) - 1 = 16.098772261992035 (40 digits
#   with decimal: exp(ln(1.0724599083744) * 365.25 / 9) - 1).
# sum r = 0.075, mean r = 0.0075; sum r^2 = 0.010225;
#   sum (r - mean)^2 = 0.010225 - 10 * 0.0075^2 = 0.0096625;
#   stddev_samp = sqrt(0.0096625 / 9) = 0.032766005418895833...
# annual_volatility = 0.0327660054188958 * sqrt(365.25) = 0.626207999256903
# sharpe = 0.0075 / 0.0327660054188958 * sqrt(365.25) = 4.374544884847705
# downside: min(r, 0)^2 = 0.0016 + 0.000625 + 0.0009 = 0.003125; / 10 =
#   0.0003125; sqrt = 0.017677669529663688
# sortino = 0.0075 / 0.017677669529663688 * sqrt(365.25) = 8.108329051043748
# max_drawdown = -0.064; calmar = 16.098772261992035 / 0.064 = 251.54331659362555
# drawdown runs: bars 3..6 (4 bars, peak bar 2 = Jan29, recovery bar 7 =
#   Feb03: 5 days) and bar 8 (1 bar, Feb03 -> Feb05: 2 days) -> 4 bars, 5.0 days.
# exposure: position != 0 on bars 1, 2, 3, 6, 7, 8, 9 -> 7 / 10 = 0.7.
# months: Jan ends at bar 4, 992.628 < 1000 (down); Feb ends at bar 9,
#   1072.46 > 992.628 (up) -> 1 / 2 = 0.5.
# ISO weeks: Jan22-week ends at bar 1, 1050 > 1000 (up); Jan29-week ends at
#   bar 8 (Sun), 1031.21 < 1050 (down); Feb05-week is bar 9, 1072.46 >
#   1031.21 (up) -> 2 / 3.
# trades: pnl +50, -20, +30 -> trades 3, win_rate 2/3, avg_win 40,
#   avg_loss -20, expectancy 60 / 3 = 20, profit_factor 80 / 20 = 4.
HAND_RETURNS = (0.0, 0.05, 0.01, -0.04, -0.025, 0.0, 0.05, 0.02, -0.03, 0.04)
HAND_POSITIONS = (0.0, 10.0, 10.0, 10.0, 0.0, 0.0, 10.0, 10.0, -5.0, 10.0)
HAND_EQUITY = (
    1000.0,
    1050.0,
    1060.5,
    1018.08,
    992.628,
    992.628,
    1042.2594,
    1063.104588,
    1031.21145036,
    1072.4599083744,
)
HAND_EXPECTED: dict[str, Any] = {
    "strategy": "s",
    "symbol": "X",
    "start": dt.datetime(2024, 1, 27),
    "end": dt.datetime(2024, 2, 5),
    "bars": 10,
    "initial_cash": 1000.0,
    "final_equity": 1072.4599083744,
    "total_return": 0.0724599083744,
    "cagr": 16.098772261992035,
    "annual_volatility": 0.626207999256903,
    "sharpe": 4.374544884847705,
    "sortino": 8.108329051043748,
    "max_drawdown": -0.064,
    "max_drawdown_duration_bars": 4,
    "max_drawdown_duration_days": 5.0,
    "calmar": 251.54331659362555,
    "trades": 3,
    "win_rate": 2.0 / 3.0,
    "avg_win": 40.0,
    "avg_loss": -20.0,
    "expectancy": 20.0,
    "profit_factor": 4.0,
    "exposure": 0.7,
    "pct_months_profitable": 0.5,
    "pct_weeks_profitable": 2.0 / 3.0,
    "periods_per_year": 365.25,
}


def hand_tables() -> tuple[pa.Table, pa.Table]:
    ts = daily(dt.datetime(2024, 1, 27), 10)
    rows = [("s", "X", t, p, e) for t, p, e in zip(ts, HAND_POSITIONS, HAND_EQUITY, strict=True)]
    trades = trade_table([("s", "X", 50.0), ("s", "X", -20.0), ("s", "X", 30.0)])
    return equity_table(rows), trades


def assert_row(got: dict[str, Any], expected: dict[str, Any], rtol: float) -> None:
    assert list(got) == list(METRIC_COLUMNS)
    for name, want in expected.items():
        have = got[name]
        if want is None or isinstance(want, str | int | dt.datetime):
            assert have == want, f"{name}: got {have!r}, expected {want!r}"
        else:
            assert have is not None, f"{name}: got null, expected {want!r}"
            assert math.isclose(have, want, rel_tol=rtol, abs_tol=0.0), (
                f"{name}: got {have!r}, expected {want!r}"
            )


def test_hand_equity_matches_its_returns() -> None:
    # The literal equity column is the product of the chosen returns.
    eq = 1000.0
    for r, e in zip(HAND_RETURNS, HAND_EQUITY, strict=True):
        eq *= 1.0 + r
        assert math.isclose(eq, e, rel_tol=1e-14)


def test_hand_checked_table(con: Any) -> None:
    equity, trades = hand_tables()
    out = compute_metrics(con, equity, trades, initial_cash=1000.0)
    assert out.num_rows == 1
    assert_row(one_row(out), HAND_EXPECTED, rtol=1e-12)


def test_hand_checked_table_with_given_periods_per_year(con: Any) -> None:
    # sqrt(252) instead of sqrt(365.25) in the three annualised ratios.
    equity, trades = hand_tables()
    out = compute_metrics(con, equity, trades, initial_cash=1000.0, periods_per_year=252.0)
    expected = {
        **HAND_EXPECTED,
        "annual_volatility": 0.5201442107723588,
        "sharpe": 3.6336076819802554,
        "sortino": 6.734983296193095,
        "periods_per_year": 252.0,
    }
    assert_row(one_row(out), expected, rtol=1e-12)


def test_output_schema(con: Any) -> None:
    equity, trades = hand_tables()
    out = compute_metrics(con, equity, trades, initial_cash=1000.0)
    for name, typ in METRIC_SCHEMA.items():
        if typ == "timestamp":
            assert pa.types.is_timestamp(out.schema.field(name).type)
        else:
            assert (
                str(out.schema.field(name).type)
                == {
                    "string": "string",
                    "int64": "int64",
                    "float64": "double",
                }[typ]
            ), name


# --------------------------------------------------------------------------
# Independent reference (plain loops) on generated data
# --------------------------------------------------------------------------
def reference_metrics(
    equity: pd.DataFrame, trades: pd.DataFrame, cash: float, ppy: float | None
) -> pd.DataFrame:
    """Every metric with Python loops, straight from docs/metrics.md."""
    out = []
    for (strategy, symbol), g in equity.groupby(["strategy", "symbol"], sort=True):
        g = g.sort_values("ts")
        ts = [t.to_pydatetime() for t in g["ts"]]
        eq = [float(x) for x in g["equity"]]
        pos = [float(x) for x in g["position"]]
        n = len(eq)

        rets, prev = [], cash
        for e in eq:
            rets.append(e / prev - 1.0)
            prev = e
        days = (ts[-1] - ts[0]).total_seconds() / 86400.0
        years = days / 365.25
        p = ppy if ppy is not None else ((n - 1) / years if years > 0 else None)
        mean = sum(rets) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in rets) / (n - 1)) if n > 1 else None
        down = math.sqrt(sum(min(x, 0.0) ** 2 for x in rets) / n)
        final = eq[-1]
        cagr = (final / cash) ** (1.0 / years) - 1.0 if years > 0 else None

        # drawdown and its runs
        peak, mdd = cash, 0.0
        runs: list[tuple[int, float]] = []
        run_len, run_start = 0, None
        for i, e in enumerate(eq):
            peak = max(peak, e)
            mdd = min(mdd, e / peak - 1.0)
            if e < peak:
                if run_len == 0:
                    run_start = ts[i - 1] if i > 0 else ts[0]
                run_len += 1
            elif run_len:
                runs.append((run_len, (ts[i] - run_start).total_seconds() / 86400.0))
                run_len = 0
        if run_len:
            runs.append((run_len, (ts[-1] - run_start).total_seconds() / 86400.0))
        dd_bars = max((b for b, _ in runs), default=0)
        dd_days = max((d for b, d in runs if b == dd_bars), default=0.0)

        def share_up(keys: list[Any], eq: list[float] = eq) -> float:
            last: dict[Any, float] = {}
            for k, e in zip(keys, eq, strict=True):
                last[k] = e  # bars are in time order, so the last one wins
            ups, before = 0, cash
            for k in sorted(last):
                ups += last[k] > before
                before = last[k]
            return ups / len(last)

        months = [(t.year, t.month) for t in ts]
        weeks = [t.isocalendar()[:2] for t in ts]

        pnl = [
            float(x)
            for x in trades.loc[(trades.strategy == strategy) & (trades.symbol == symbol), "pnl"]
        ]
        wins = [x for x in pnl if x > 0]
        losses = [x for x in pnl if x < 0]
        nt = len(pnl)
        out.append(
            {
                "strategy": strategy,
                "symbol": symbol,
                "start": ts[0],
                "end": ts[-1],
                "bars": n,
                "initial_cash": cash,
                "final_equity": final,
                "total_return": final / cash - 1.0,
                "cagr": cagr,
                "annual_volatility": std * math.sqrt(p) if std is not None and p else None,
                "sharpe": mean / std * math.sqrt(p) if std and p else None,
                "sortino": mean / down * math.sqrt(p) if down and p else None,
                "max_drawdown": mdd,
                "max_drawdown_duration_bars": dd_bars,
                "max_drawdown_duration_days": dd_days,
                "calmar": cagr / abs(mdd) if cagr is not None and mdd else None,
                "trades": nt,
                "win_rate": len(wins) / nt if nt else None,
                "avg_win": sum(wins) / len(wins) if wins else None,
                "avg_loss": sum(losses) / len(losses) if losses else None,
                "expectancy": sum(pnl) / nt if nt else None,
                "profit_factor": sum(wins) / abs(sum(losses)) if losses else None,
                "exposure": sum(1 for x in pos if x != 0) / n,
                "pct_months_profitable": share_up(months),
                "pct_weeks_profitable": share_up(weeks),
                "periods_per_year": p,
            }
        )
    return pd.DataFrame(out)


def generated_data(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2 strategies x 2 symbols, 600 business days, regimes in and out of the market."""
    rng = np.random.default_rng(seed)
    # 23:30 UTC: a session time zone other than UTC would move bars across
    # day, week and month boundaries.
    ts = pd.bdate_range("2021-01-01", periods=600, tz="UTC").as_unit("us") + pd.Timedelta(
        "23h30min"
    )
    frames = []
    for strategy in ("breakout", "meanrev"):
        for symbol in ("AAA", "BBB"):
            in_market = np.repeat(rng.random(60) < 0.6, 10)
            position = np.where(in_market, rng.choice([-3.0, 5.0, 10.0], 600), 0.0)
            rets = np.where(in_market, rng.normal(0.0004, 0.015, 600), 0.0)
            equity = 100_000.0 * np.cumprod(1.0 + rets)
            frames.append(
                pd.DataFrame(
                    {
                        "strategy": strategy,
                        "symbol": symbol,
                        "ts": ts,
                        "cash": equity - position * 100.0,
                        "position": position,
                        "equity": equity,
                    }
                )
            )
    equity = pd.concat(frames, ignore_index=True)
    keys = [("breakout", "AAA"), ("breakout", "BBB"), ("meanrev", "AAA"), ("meanrev", "BBB")]
    picks = rng.integers(0, 4, 40)
    pnl = np.round(rng.normal(50.0, 400.0, 40), 2)
    pnl[[3, 17]] = 0.0  # neither a win nor a loss
    trades = pd.DataFrame(
        {
            "strategy": [keys[i][0] for i in picks],
            "symbol": [keys[i][1] for i in picks],
            "side": rng.choice(np.array([-1, 1], dtype=np.int8), 40),
            "size": 1.0,
            "entry_ts": ts[rng.integers(0, 590, 40)],
            "entry_price": 100.0,
            "exit_ts": ts[rng.integers(0, 590, 40)],
            "exit_price": 100.0,
            "pnl": pnl,
            "commission": 1.0,
            "bars_held": rng.integers(1, 30, 40),
        }
    )
    # Shuffle so nothing relies on input order.
    return equity.sample(frac=1.0, random_state=1), trades


def assert_frames_close(got: pd.DataFrame, want: pd.DataFrame, rtol: float) -> None:
    assert list(got.columns) == list(METRIC_COLUMNS)
    assert len(got) == len(want)
    for name in METRIC_COLUMNS:
        for i, (g, w) in enumerate(zip(got[name], want[name], strict=True)):
            if w is None or (isinstance(w, float) and math.isnan(w)):
                assert g is None or pd.isna(g), f"{name}[{i}]: got {g!r}, expected null"
            elif isinstance(w, float):
                assert math.isclose(g, w, rel_tol=rtol, abs_tol=0.0), (
                    f"{name}[{i}]: got {g!r}, expected {w!r}"
                )
            else:
                assert g == w, f"{name}[{i}]: got {g!r}, expected {w!r}"


@pytest.mark.parametrize("ppy", [None, 252.0])
def test_matches_loop_reference(con: Any, ppy: float | None) -> None:
    equity, trades = generated_data()
    cash = 100_000.0
    got = compute_metrics(
        con,
        pa.Table.from_pandas(equity, preserve_index=False),
        pa.Table.from_pandas(trades, preserve_index=False),
        cash,
        ppy,
    ).to_pylist()
    want = reference_metrics(equity, trades, cash, ppy)
    assert [(r["strategy"], r["symbol"]) for r in got] == list(
        zip(want.strategy, want.symbol, strict=True)
    )
    # The data exercise what they should.
    assert all(0 < r["pct_months_profitable"] < 1 for r in got)
    assert all(r["max_drawdown_duration_bars"] > 10 for r in got)
    assert sum(r["trades"] for r in got) == 40
    assert 240 < got[0]["periods_per_year"] < 265 or ppy is not None
    frame = pd.DataFrame(got, columns=list(METRIC_COLUMNS))
    want = want.astype(object).where(want.notna(), None)
    want["start"] = [t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in want["start"]]
    want["end"] = [t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in want["end"]]
    assert_frames_close(frame, want, rtol=1e-9)


# --------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------
def test_no_trades_gives_zero_and_null_ratios(con: Any) -> None:
    equity, _ = hand_tables()
    out = one_row(compute_metrics(con, equity, trade_table([]), initial_cash=1000.0))
    assert out["trades"] == 0
    for name in ("win_rate", "avg_win", "avg_loss", "expectancy", "profit_factor"):
        assert out[name] is None, name
    assert out["sharpe"] == pytest.approx(HAND_EXPECTED["sharpe"], rel=1e-12)


def test_key_without_trades_keeps_its_row(con: Any) -> None:
    ts = daily(dt.datetime(2024, 3, 1), 3)
    rows = [("s", sym, t, 0.0, 1000.0 + i) for sym in ("X", "Y") for i, t in enumerate(ts)]
    # A trade of a key with no equity rows has no row to land in.
    trades = trade_table([("s", "X", 5.0), ("other", "Z", 1.0)])
    out = compute_metrics(con, equity_table(rows), trades, initial_cash=1000.0)
    assert [(r["strategy"], r["symbol"], r["trades"]) for r in out.to_pylist()] == [
        ("s", "X", 1),
        ("s", "Y", 0),
    ]
    assert one_row(out, symbol="Y")["win_rate"] is None


def test_monotone_equity_has_no_drawdown(con: Any) -> None:
    ts = daily(dt.datetime(2024, 1, 1), 6)
    equity = [1000.0, 1000.0, 1010.0, 1030.0, 1030.0, 1100.0]
    rows = [("s", "X", t, 1.0, e) for t, e in zip(ts, equity, strict=True)]
    out = one_row(compute_metrics(con, equity_table(rows), trade_table([]), 1000.0))
    assert out["max_drawdown"] == 0.0
    assert out["max_drawdown_duration_bars"] == 0
    assert out["max_drawdown_duration_days"] == 0.0
    assert out["calmar"] is None  # no drawdown to divide by
    assert out["sortino"] is None  # no negative return
    assert out["sharpe"] > 0
    assert out["pct_months_profitable"] == 1.0
    assert out["exposure"] == 1.0


def test_single_bar(con: Any) -> None:
    rows = [("s", "X", dt.datetime(2024, 5, 31, 12), 2.0, 990.0)]
    out = one_row(compute_metrics(con, equity_table(rows), trade_table([]), 1000.0))
    assert out["bars"] == 1
    assert out["start"] == out["end"] == dt.datetime(2024, 5, 31, 12)
    assert out["total_return"] == pytest.approx(-0.01, rel=1e-12)
    # zero years: no CAGR, no inferred periods_per_year, nothing annualised
    for name in ("cagr", "calmar", "periods_per_year", "annual_volatility", "sharpe", "sortino"):
        assert out[name] is None, name
    assert out["max_drawdown"] == pytest.approx(-0.01, rel=1e-12)
    assert out["max_drawdown_duration_bars"] == 1
    assert out["max_drawdown_duration_days"] == 0.0
    assert out["pct_months_profitable"] == 0.0
    assert out["pct_weeks_profitable"] == 0.0

    given = one_row(compute_metrics(con, equity_table(rows), trade_table([]), 1000.0, 252.0))
    assert given["annual_volatility"] is None  # stddev_samp of one value
    assert given["sharpe"] is None
    # mean / sqrt(mean(min(r, 0)^2)) = -0.01 / 0.01 = -1
    assert given["sortino"] == pytest.approx(-math.sqrt(252.0), rel=1e-12)


def test_no_losses_has_null_profit_factor(con: Any) -> None:
    equity, _ = hand_tables()
    trades = trade_table([("s", "X", 10.0), ("s", "X", 0.0), ("s", "X", 20.0)])
    out = one_row(compute_metrics(con, equity, trades, 1000.0))
    assert out["trades"] == 3
    assert out["profit_factor"] is None
    assert out["avg_loss"] is None
    assert out["win_rate"] == pytest.approx(2.0 / 3.0, rel=1e-12)  # pnl == 0 is no win
    assert out["avg_win"] == 15.0
    assert out["expectancy"] == 10.0


def test_no_wins_has_zero_profit_factor(con: Any) -> None:
    equity, _ = hand_tables()
    trades = trade_table([("s", "X", -10.0), ("s", "X", -30.0)])
    out = one_row(compute_metrics(con, equity, trades, 1000.0))
    assert out["profit_factor"] == 0.0
    assert out["win_rate"] == 0.0
    assert out["avg_win"] is None
    assert out["avg_loss"] == -20.0


def test_drawdown_from_first_bar_never_recovered(con: Any) -> None:
    # Below initial_cash from the first bar to the end: the run is timed
    # from the first bar's ts (no bar holds the initial peak) to the last.
    ts = daily(dt.datetime(2024, 1, 1), 4)
    equity = [990.0, 995.0, 999.0, 998.0]
    rows = [("s", "X", t, 0.0, e) for t, e in zip(ts, equity, strict=True)]
    out = one_row(compute_metrics(con, equity_table(rows), trade_table([]), 1000.0))
    assert out["max_drawdown"] == pytest.approx(-0.01, rel=1e-12)
    assert out["max_drawdown_duration_bars"] == 4
    assert out["max_drawdown_duration_days"] == 3.0


def test_equal_length_runs_report_the_longest_in_days(con: Any) -> None:
    # Two 2-bar runs; the second spans a weekend gap in the bars.
    ts = [dt.datetime(2024, 1, d) for d in (1, 2, 3, 4, 5, 8, 9, 10)]
    equity = [1000.0, 990.0, 995.0, 1001.0, 980.0, 985.0, 1002.0, 1003.0]
    rows = [("s", "X", t, 0.0, e) for t, e in zip(ts, equity, strict=True)]
    out = one_row(compute_metrics(con, equity_table(rows), trade_table([]), 1000.0))
    # run 1: Jan1 (peak) -> Jan4 (recovery) = 3 days; run 2: Jan4 -> Jan9 = 5 days
    assert out["max_drawdown_duration_bars"] == 2
    assert out["max_drawdown_duration_days"] == 5.0


def test_timezone_aware_ts_uses_utc_calendar(con: Any) -> None:
    # 23:30 UTC on Jan 31 is February in UTC+1; it must count as January.
    ts = [dt.datetime(2024, 1, 31, 23, 30, tzinfo=UTC), dt.datetime(2024, 2, 1, 23, 30, tzinfo=UTC)]
    rows = [("s", "X", t, 0.0, e) for t, e in zip(ts, [1010.0, 1005.0], strict=True)]
    out = one_row(compute_metrics(con, equity_table(rows, tz="UTC"), trade_table([]), 1000.0))
    assert out["pct_months_profitable"] == 0.5  # Jan up, Feb down
    assert out["start"] == ts[0]


def test_unbound_expression_runs_on_named_tables(con: Any) -> None:
    equity, trades = hand_tables()
    eq_t = ibis.table(ibis.schema(equity.schema), name="metrics_equity")
    tr_t = ibis.table(ibis.schema(trades.schema), name="metrics_trades")
    expr = metrics_expr(eq_t, tr_t, 1000.0)
    con.create_table("metrics_equity", equity, temp=True, overwrite=True)
    con.create_table("metrics_trades", trades, temp=True, overwrite=True)
    out = con.to_pyarrow(expr)
    assert_row(out.to_pylist()[0], HAND_EXPECTED, rtol=1e-12)


def test_compiles_for_pyspark() -> None:
    pytest.importorskip("pyspark")
    _ = ibis.pyspark  # registers ibis.options.pyspark, needed by to_sql
    equity, trades = hand_tables()
    expr = metrics_expr(
        ibis.table(ibis.schema(equity.schema), name="equity"),
        ibis.table(ibis.schema(trades.schema), name="trades"),
        1000.0,
    )
    sql = ibis.to_sql(expr, dialect="pyspark")
    assert "DATEDIFF(MICROSECOND" in sql
    assert "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW" in sql


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------
def test_missing_column_names_the_fix() -> None:
    equity, trades = hand_tables()
    with pytest.raises(DataError, match="equity table has no column 'position'"):
        metrics_expr(ibis.memtable(equity.drop_columns(["position"])), ibis.memtable(trades), 1.0)


def test_wrong_column_type() -> None:
    equity, trades = hand_tables()
    bad = trades.set_column(trades.schema.get_field_index("pnl"), "pnl", pa.array(["1"] * 3))
    with pytest.raises(DataError, match=r"trades.pnl must be numeric, got string"):
        metrics_expr(ibis.memtable(equity), ibis.memtable(bad), 1.0)


@pytest.mark.parametrize("cash", [0.0, -5.0, math.nan, math.inf, "1000", True])
def test_bad_initial_cash(cash: Any) -> None:
    equity, trades = hand_tables()
    with pytest.raises(InvalidParameterError, match="initial_cash must be a positive number"):
        metrics_expr(ibis.memtable(equity), ibis.memtable(trades), cash)


def test_bad_periods_per_year() -> None:
    equity, trades = hand_tables()
    with pytest.raises(InvalidParameterError, match="periods_per_year"):
        metrics_expr(ibis.memtable(equity), ibis.memtable(trades), 1000.0, 0.0)


def test_duplicate_bar_is_rejected(con: Any) -> None:
    equity, trades = hand_tables()
    doubled = pa.concat_tables([equity, equity.slice(3, 1)])
    with pytest.raises(DataError, match=r"1 duplicate \(strategy, symbol, ts\) key"):
        compute_metrics(con, doubled, trades, 1000.0)


def test_null_equity_is_rejected(con: Any) -> None:
    equity, trades = hand_tables()
    i = equity.schema.get_field_index("equity")
    bad = equity.set_column(i, "equity", pa.array([None, *HAND_EQUITY[1:]], pa.float64()))
    with pytest.raises(DataError, match=r"equity.equity has 1 null value"):
        compute_metrics(con, bad, trades, 1000.0)
