"""Checks on bars as they are loaded: bad data never passes silently.

:func:`check_bars` runs the checks of :data:`~streambt.io.policy.CHECKS` in
order and applies each one's policy. A check whose policy is ``"error"``
raises :class:`~streambt.errors.DataError` naming the feed, the first
offending row (its position in the input and its timestamp), the value, and
how to fix it.

Clean bars take a fast path: two numba passes (values, then time order and
gaps) and no report. Only when a pass fails, or a report is asked for, are
the per-check masks and the :class:`~streambt.io.report.ValidationReport`
computed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from ..kernels._jit import jit
from .policy import Policy
from .report import SHOWN_ROWS, CheckResult, ValidationReport

PRICE_FIELDS = ("open", "high", "low", "close")
BAR_FIELDS = (*PRICE_FIELDS, "volume")
_STRICT = Policy(timezone="ignore", gaps="ignore")
_INT64_MIN = np.iinfo(np.int64).min


def validate_bars(table: pa.Table, feed: str, single_symbol: bool = False) -> bool:
    """Raise :class:`DataError` on the first bad row of normalized bars (every policy ``error``).

    Returns whether the rows are already ordered by (symbol, ts).
    ``single_symbol`` says the caller knows every row has the same symbol.
    """
    out, _ = check_bars(table, feed, _STRICT, single_symbol=single_symbol)
    return out is table


def check_bars(
    table: pa.Table,
    feed: str,
    policy: Policy,
    *,
    interval_us: int | None = None,
    tz_note: str | None = None,
    single_symbol: bool = False,
    raise_errors: bool = True,
    want_report: bool = False,
) -> tuple[pa.Table, ValidationReport | None]:
    """Check normalized bars and apply ``policy``; return them ordered by (symbol, ts), and the report.

    ``interval_us`` is the bar interval for the gaps check (None: the median
    step of each symbol); ``tz_note`` what the raw time column was when it
    was not UTC (``"naive"`` or a zone name). With ``raise_errors=False`` an
    ``error`` policy is recorded in the report instead of raised, and the rows
    stay as they are. The report is None when every check passed and
    ``want_report`` is False.
    """
    from .feeds import sort_bars

    if table.num_rows == 0:
        if not raise_errors:
            return table, ValidationReport.empty(feed, policy, 0)
        raise DataError(f"{feed}: the feed has no rows; pass a file or frame with at least one bar")
    ts_col = table.column("ts")
    if ts_col.null_count == 0 and _all_bars_valid(*(_floats(table.column(f)) for f in BAR_FIELDS)):
        ts = ts_col.cast(pa.int64()).to_numpy()
        codes, symbols = _codes(table, single_symbol)
        verdict = _time_order(codes, ts, len(symbols))
        if verdict:
            ordered_in_input = verdict == 1 and symbols == sorted(symbols)
            gaps = 0
            if policy.gaps != "ignore" or want_report:
                gaps = _gap_count(codes, ts, len(symbols), interval_us or 0)
            if gaps == 0 and tz_note is None and not want_report:
                return (table if ordered_in_input else sort_bars(table)), None
            # Clean values and order: only the timezone and gaps can have something to say.
            if ordered_in_input:
                out, positions = table, np.arange(table.num_rows)
            else:
                idx = pc.sort_indices(table, [("symbol", "ascending"), ("ts", "ascending")])
                out, positions = table.take(idx), idx.to_numpy()
            report = ValidationReport.empty(feed, policy, table.num_rows)
            if tz_note is not None:
                _timezone(report, tz_note, out, raise_errors)
            if gaps:
                _gaps(report, out, positions, interval_us, raise_errors)
            return out, report
    return _inspect(table, feed, policy, interval_us, tz_note, raise_errors)


# -- the fast path -------------------------------------------------------------
def _floats(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def _codes(table: pa.Table, single_symbol: bool) -> tuple[np.ndarray, list[str]]:
    if single_symbol:
        return np.zeros(table.num_rows, dtype=np.int64), [""]
    encoded = pc.dictionary_encode(table.column("symbol")).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


@jit
def _all_bars_valid(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray
) -> bool:
    """One pass over the bars; False if any value check would reject a bar.

    Blocks of bars are checked without a branch per bar (which lets the loop
    run on vector instructions); the verdict is looked at once per block.
    """
    n = o.shape[0]
    for start in range(0, n, 1024):
        ok = True
        for i in range(start, min(start + 1024, n)):
            oi, hi, li, ci, vi = o[i], h[i], lo[i], c[i], v[i]
            # The comparisons are written so that NaN fails them.
            ok &= (oi > 0.0) & (hi > 0.0) & (li > 0.0) & (ci > 0.0) & (vi >= 0.0)
            ok &= (hi < np.inf) & (li < np.inf) & (oi < np.inf) & (ci < np.inf) & (vi < np.inf)
            ok &= (hi >= li) & (hi >= oi) & (hi >= ci) & (li <= oi) & (li <= ci)
        if not ok:
            return False
    return True


@jit
def _time_order(codes: np.ndarray, ts: np.ndarray, n_codes: int) -> int:
    """0 if some symbol's timestamps do not strictly increase in input order;
    1 if they do and each symbol's rows are one contiguous block; 2 otherwise."""
    if n_codes == 1:
        return 1 if (ts.shape[0] == 0 or ts[0] > _INT64_MIN) and _increasing(ts) else 0
    last = np.full(n_codes, np.iinfo(np.int64).min, dtype=np.int64)
    contiguous = True
    for i in range(ts.shape[0]):
        k = codes[i]
        if ts[i] <= last[k]:
            return 0
        if i > 0 and k < codes[i - 1]:
            contiguous = False
        last[k] = ts[i]
    return 1 if contiguous else 2


@jit
def _increasing(ts: np.ndarray) -> bool:
    """Whether ``ts`` strictly increases (blocks without a branch per value, as above)."""
    n = ts.shape[0]
    for start in range(1, n, 1024):
        ok = True
        for i in range(start, min(start + 1024, n)):
            ok &= ts[i] > ts[i - 1]
        if not ok:
            return False
    return True


@jit
def _steps_of_one(ts: np.ndarray, interval: int) -> tuple[int, int, int]:
    """For one symbol's increasing ``ts``: (steps equal to the first, steps larger, first step);
    the first step is ``interval`` when that is positive."""
    n = ts.shape[0]
    if n < 2:
        return 0, 0, interval
    first = interval if interval > 0 else ts[1] - ts[0]
    same = 0
    larger = 0
    for i in range(1, n):
        d = ts[i] - ts[i - 1]
        same += d == first
        larger += d > first
    return same, larger, first


@jit
def _gap_count(codes: np.ndarray, ts: np.ndarray, n_codes: int, interval: int) -> int:
    """Steps larger than the interval over time-ordered rows of each symbol, or -1 when
    the interval is inferred and some symbol's median step is not its first step.

    When more than half of a symbol's steps equal its first step, that step is
    the median; this avoids a sort for the regular data almost every feed has.
    One pass: with an inferred interval the steps are compared with the first.
    """
    if n_codes == 1:
        same_1, larger, _ = _steps_of_one(ts, interval)
        steps_1 = ts.shape[0] - 1
        if interval <= 0 and steps_1 > 0 and 2 * same_1 <= steps_1:
            return -1
        return larger
    last = np.zeros(n_codes, dtype=np.int64)
    seen = np.zeros(n_codes, dtype=np.bool_)
    first = np.full(n_codes, interval, dtype=np.int64)
    same = np.zeros(n_codes, dtype=np.int64)
    steps = np.zeros(n_codes, dtype=np.int64)
    count = 0
    for i in range(ts.shape[0]):
        k = codes[i]
        t = ts[i]
        if seen[k]:
            d = t - last[k]
            if steps[k] == 0 and interval <= 0:
                first[k] = d
            steps[k] += 1
            if d == first[k]:
                same[k] += 1
            elif d > first[k]:
                count += 1
        seen[k] = True
        last[k] = t
    if interval <= 0:
        for k in range(n_codes):
            if steps[k] > 0 and 2 * same[k] <= steps[k]:
                return -1
    return count


# -- the detailed path ---------------------------------------------------------
class _Rows:
    """The bars being checked, as numpy arrays, and where each row came from."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        ts_col = table.column("ts")
        self.ts_null = pc.is_null(ts_col).to_numpy(zero_copy_only=False)
        self.ts = pc.fill_null(ts_col.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        self.codes, self.symbols = _codes(table, False)
        self.values = {f: _floats(table.column(f)).copy() for f in BAR_FIELDS}

    def where(self, i: int) -> str:
        return f"row {i} (symbol {self.symbols[self.codes[i]]!r}, ts {self.ts_text(i)})"

    def ts_text(self, i: int) -> str | None:
        return None if self.ts_null[i] else _iso(self.ts[i])

    def info(self, i: int, fields: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "row": int(i),
            "symbol": self.symbols[self.codes[i]],
            "ts": self.ts_text(i),
        }
        for f in fields:
            row[f] = float(self.values[f][i])
        row.update(extra)
        return row


def _iso(us: int) -> str:
    return pd.Timestamp(int(us), unit="us", tz="UTC").isoformat()


def _record(
    result: CheckResult,
    hits: np.ndarray,
    info: Callable[[int], dict[str, Any]],
    message: Callable[[int], str],
    raise_errors: bool,
) -> bool:
    """Fill ``result`` from the offending positions ``hits``; raise on ``error``.

    Returns whether the rows are to be changed (policy drop or repair).
    """
    hits = np.sort(np.asarray(hits, dtype=np.int64))
    result.count = int(hits.size)
    if not hits.size:
        return False
    result.rows = [info(int(i)) for i in hits[:SHOWN_ROWS]]
    policy = result.policy
    if policy == "error":
        result.action = "error"
        if raise_errors:
            more = (
                f" ({hits.size:,} rows in all; feed.validate() lists them)" if hits.size > 1 else ""
            )
            raise DataError(message(int(hits[0])) + more)
        return False
    result.action = {"drop": "dropped", "repair": "repaired", "warn": "warned"}.get(
        policy, "ignored"
    )
    return policy in ("drop", "repair")


def _policy_hint(check: str, options: str) -> str:
    return f", or load with policy={{'{check}': {options}}}"


def _inspect(
    table: pa.Table,
    feed: str,
    policy: Policy,
    interval_us: int | None,
    tz_note: str | None,
    raise_errors: bool,
) -> tuple[pa.Table, ValidationReport]:
    report = ValidationReport.empty(feed, policy, table.num_rows)
    r = _Rows(table)
    n = table.num_rows
    keep = np.ones(n, dtype=bool)
    if tz_note is not None:
        _timezone(report, tz_note, table, raise_errors)

    # A row without a time cannot be placed: it is reported under nulls and
    # dropped by any policy but error.
    nulls = report["nulls"]
    null_ts = np.flatnonzero(r.ts_null)
    if null_ts.size and nulls.policy == "error" and raise_errors:
        raise DataError(
            f"{feed}: row {int(null_ts[0])} has no timestamp (ts is null); drop or fill that row"
            + _policy_hint("nulls", "'drop'")
        )
    keep[null_ts] = False

    # -- time structure, in input order --
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((r.ts[kept], r.codes[kept]))]  # stable: input order within ties
    same = (r.codes[order[1:]] == r.codes[order[:-1]]) & (r.ts[order[1:]] == r.ts[order[:-1]])
    group_start = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(order.size), 0))
    dup_at = np.flatnonzero(np.r_[False, same])
    dup_rows = order[dup_at]
    first_of = dict(zip(dup_rows.tolist(), order[group_start[dup_at]].tolist(), strict=True))
    dups = report["duplicates"]
    if _record(
        dups,
        dup_rows,
        lambda i: r.info(i, first=first_of.get(i)),
        lambda i: (
            f"{feed}: {r.where(i)} repeats the timestamp of row {first_of[i]}; timestamps must be "
            "unique per symbol. Drop duplicates (e.g. df.drop_duplicates('ts', keep='last'))"
            + _policy_hint("duplicates", "'repair'")
            + " to keep the last"
        ),
        raise_errors,
    ):
        if dups.policy == "repair":
            # keep the last of each group: drop every row followed by one with the same key
            keep[order[:-1][same]] = False
            dups.dropped = int(dup_rows.size)
        else:
            members = np.r_[same, False] | np.r_[False, same]
            keep[order[members]] = False
            dups.dropped = int(members.sum())

    late = np.zeros(n, dtype=bool)
    holder = np.full(n, -1, dtype=np.int64)
    _late_rows(r.codes, r.ts, keep, len(r.symbols), late, holder)
    unsorted = report["unsorted"]
    if (
        _record(
            unsorted,
            np.flatnonzero(late),
            lambda i: r.info(i, after_row=int(holder[i])),
            lambda i: (
                f"{feed}: {r.where(i)} is earlier than row {int(holder[i])} of the same symbol; "
                "bars must be in time order. Sort them first (e.g. df.sort_values('ts'))"
                + _policy_hint("unsorted", "'repair'")
            ),
            raise_errors,
        )
        and unsorted.policy == "drop"
    ):
        keep &= ~late
        unsorted.dropped = int(late.sum())

    # -- values, each symbol in time order --
    rank = np.argsort(np.argsort(np.array(r.symbols, dtype=object)))
    kept = np.flatnonzero(keep)
    rows = kept[np.lexsort((r.ts[kept], rank[r.codes[kept]]))]
    v = {f: r.values[f][rows] for f in BAR_FIELDS}
    removed = np.zeros(rows.size, dtype=bool)

    def hits(mask: np.ndarray) -> np.ndarray:
        return rows[mask & ~removed]

    def first_field(mask_of: dict[str, np.ndarray], i: int) -> str:
        j = int(np.flatnonzero(rows == i)[0])
        return next(f for f, m in mask_of.items() if m[j])

    missing = {f: ~np.isfinite(v[f]) for f in BAR_FIELDS}
    any_missing = np.logical_or.reduce(list(missing.values()))
    value_rows = hits(any_missing)
    nulls_change = _record(
        nulls,
        np.r_[null_ts, value_rows],
        lambda i: r.info(i, BAR_FIELDS) if not r.ts_null[i] else r.info(i),
        lambda i: (
            f"{feed}: {r.where(i)} has {(f := first_field(missing, i))} = {float(r.values[f][i])!r} "
            "(NaN, null or infinite); drop the row or fill it (e.g. df.ffill()) before loading"
            + _policy_hint("nulls", "'repair'")
        ),
        raise_errors,
    )
    nulls.dropped = int(null_ts.size) if nulls.policy != "error" else 0
    if nulls_change and nulls.policy == "drop":
        nulls.dropped += int((any_missing & ~removed).sum())
        removed |= any_missing

    nonpos = {f: v[f] <= 0 for f in PRICE_FIELDS}
    any_nonpos = np.logical_or.reduce(list(nonpos.values()))
    non_positive = report["non_positive"]
    nonpos_change = _record(
        non_positive,
        hits(any_nonpos),
        lambda i: r.info(i, PRICE_FIELDS),
        lambda i: (
            f"{feed}: {r.where(i)} has {(f := first_field(nonpos, i))} = {float(r.values[f][i])!r}; "
            "prices must be positive. Fix or drop that row (negative prices usually mean a bad "
            "adjustment)" + _policy_hint("non_positive", "'drop'")
        ),
        raise_errors,
    )
    if nonpos_change and non_positive.policy == "drop":
        non_positive.dropped = int((any_nonpos & ~removed).sum())
        removed |= any_nonpos

    fill = {f: np.zeros(rows.size, dtype=bool) for f in BAR_FIELDS}
    if nulls_change and nulls.policy == "repair":
        for f in BAR_FIELDS:
            fill[f] |= missing[f] & ~removed
    if nonpos_change and non_positive.policy == "repair":
        for f in PRICE_FIELDS:
            fill[f] |= nonpos[f] & ~removed
    if any(m.any() for m in fill.values()):
        starts = np.r_[True, r.codes[rows[1:]] != r.codes[rows[:-1]]]
        before = removed.copy()
        _fill_missing(
            starts,
            v["open"],
            v["high"],
            v["low"],
            v["close"],
            v["volume"],
            fill["open"],
            fill["high"],
            fill["low"],
            fill["close"],
            fill["volume"],
            removed,
        )
        lost = removed & ~before
        if lost.any():
            owner = nulls if (nulls_change and nulls.policy == "repair") else non_positive
            owner.dropped += int(lost.sum())

    vol = v["volume"]
    neg_vol = report["negative_volume"]
    if (
        _record(
            neg_vol,
            hits(vol < 0),
            lambda i: r.info(i, ("volume",)),
            lambda i: (
                f"{feed}: {r.where(i)} has volume {float(r.values['volume'][i])!r}; volume must be >= 0"
                + _policy_hint("negative_volume", "'drop'")
            ),
            raise_errors,
        )
        and neg_vol.policy == "drop"
    ):
        neg_vol.dropped = int(((vol < 0) & ~removed).sum())
        removed |= vol < 0

    o, h, lo, c = (v[f] for f in PRICE_FIELDS)
    shape_checks: list[tuple[str, Callable[[], np.ndarray], str, Callable[[int], str]]] = [
        (
            "high_low",
            lambda: h < lo,
            "high < low",
            lambda i: f"high {float(r.values['high'][i])!r} < low {float(r.values['low'][i])!r}",
        ),
        (
            "high_open_close",
            lambda: h < np.maximum(o, c),
            "high below open or close",
            lambda i: (
                f"high {float(r.values['high'][i])!r} < max(open, close) "
                f"{float(max(r.values['open'][i], r.values['close'][i]))!r}"
            ),
        ),
        (
            "low_open_close",
            lambda: lo > np.minimum(o, c),
            "low above open or close",
            lambda i: (
                f"low {float(r.values['low'][i])!r} > min(open, close) "
                f"{float(min(r.values['open'][i], r.values['close'][i]))!r}"
            ),
        ),
    ]
    # A bar with a missing or non-positive price was reported above: its shape means nothing.
    priced = np.logical_and.reduce([(v[f] > 0) & (v[f] < np.inf) for f in PRICE_FIELDS])
    for name, mask_fn, what, detail in shape_checks:
        mask = mask_fn() & ~removed & priced
        result = report[name]

        def message(i: int, what: str = what, detail: Callable[[int], str] = detail) -> str:
            return f"{feed}: {r.where(i)}: {what} ({detail(i)}); correct or drop that bar"

        changed = _record(
            result,
            rows[mask],
            lambda i: r.info(i, PRICE_FIELDS),
            lambda i, name=name: message(i) + _policy_hint(name, "'repair'"),  # type: ignore[misc]
            raise_errors,
        )
        if not changed:
            continue
        if result.policy == "drop":
            result.dropped = int(mask.sum())
            removed |= mask
        elif name == "high_low":
            h[mask], lo[mask] = lo[mask], h[mask]
        elif name == "high_open_close":
            h[mask] = np.maximum(o, c)[mask]
        else:
            lo[mask] = np.minimum(o, c)[mask]

    final = rows[~removed]
    changed_values = any(
        report[c].action == "repaired"
        for c in ("nulls", "non_positive", "high_low", "high_open_close", "low_open_close")
    )
    out = table.take(pa.array(final))
    if changed_values:
        for f in BAR_FIELDS:
            idx = out.schema.get_field_index(f)
            out = out.set_column(idx, f, pa.array(v[f][~removed], pa.float64()))
    report.rows_out = out.num_rows
    if out.num_rows == 0 and raise_errors:
        raise DataError(
            f"{feed}: no rows left after the validation policies ({report.summary()}); "
            "check the data or use policy 'warn' to see what is wrong"
        )
    if out.num_rows:
        _gaps(report, out, final, interval_us, raise_errors)
    return out, report


@jit
def _late_rows(
    codes: np.ndarray,
    ts: np.ndarray,
    keep: np.ndarray,
    n_codes: int,
    late: np.ndarray,
    holder: np.ndarray,
) -> None:
    """Mark kept rows earlier than an earlier kept row of their symbol, and which row that is."""
    top = np.full(n_codes, np.iinfo(np.int64).min, dtype=np.int64)
    at = np.full(n_codes, -1, dtype=np.int64)
    for i in range(ts.shape[0]):
        if not keep[i]:
            continue
        k = codes[i]
        if at[k] >= 0 and ts[i] < top[k]:
            late[i] = True
            holder[i] = at[k]
        else:
            top[k] = ts[i]
            at[k] = i


@jit
def _fill_missing(
    starts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    fo: np.ndarray,
    fh: np.ndarray,
    fl: np.ndarray,
    fc: np.ndarray,
    fv: np.ndarray,
    removed: np.ndarray,
) -> None:
    """The nulls repair, over each symbol's bars in time order (see docs/data.md)."""
    last = np.nan
    for i in range(o.shape[0]):
        if starts[i]:
            last = np.nan
        if removed[i]:
            continue
        if fc[i] or fo[i]:
            if not (last > 0.0):
                removed[i] = True  # nothing earlier to fill from
                continue
            if fc[i]:
                c[i] = last
            if fo[i]:
                o[i] = last
        if fh[i] or fo[i] or fc[i]:
            # a filled open or close widens the bar's range to cover it
            h[i] = max(o[i], c[i]) if fh[i] else max(h[i], o[i], c[i])
        if fl[i] or fo[i] or fc[i]:
            lo[i] = min(o[i], c[i]) if fl[i] else min(lo[i], o[i], c[i])
        if fv[i]:
            v[i] = 0.0
        if c[i] > 0.0 and c[i] < np.inf:
            last = c[i]


# -- timezone and gaps -----------------------------------------------------------
def _timezone(report: ValidationReport, tz_note: str, table: pa.Table, raise_errors: bool) -> None:
    result = report["timezone"]
    what = (
        "naive timestamps (no time zone), taken as UTC"
        if tz_note == "naive"
        else f"timestamps in {tz_note}, converted to UTC"
    )
    result.detail = what
    first = table.slice(0, 1).to_pylist()[0]
    _record(
        result,
        np.arange(table.num_rows),
        lambda i: {"row": i, "symbol": first["symbol"], "ts": first["ts"]},
        lambda i: (
            f"{report.feed}: the time column has {what}; store UTC timestamps "
            "(e.g. df['ts'] = df['ts'].dt.tz_localize('UTC'))" + _policy_hint("timezone", "'warn'")
        ),
        raise_errors,
    )


def _gaps(
    report: ValidationReport,
    table: pa.Table,
    positions: np.ndarray,
    interval_us: int | None,
    raise_errors: bool,
) -> None:
    """The gaps check over bars ordered by (symbol, ts); ``positions`` are their input rows."""
    result = report["gaps"]
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    sym = pc.dictionary_encode(table.column("symbol")).combine_chunks()
    codes = sym.indices.to_numpy(zero_copy_only=False)
    names = sym.dictionary.to_pylist()
    if ts.size < 2:
        return
    step = np.diff(ts)
    inside = codes[1:] == codes[:-1]
    thr = np.empty(step.size, dtype=np.int64)
    bounds = np.r_[0, np.flatnonzero(~inside) + 1, ts.size]
    for a, b in itertools.pairwise(bounds):
        # steps a..b-2 belong to the block of rows a..b-1
        if interval_us:
            thr[a : b - 1] = interval_us
        elif b - a > 1:
            thr[a : b - 1] = int(np.median(step[a : b - 1]))
    gap = inside & (step > thr)
    at = np.flatnonzero(gap)  # the bar after the gap is at + 1

    def info(j: int) -> dict[str, Any]:
        k = lookup[j]
        return {
            "row": int(positions[k + 1]),
            "symbol": names[codes[k + 1]],
            "ts": _iso(ts[k + 1]),
            "after": _iso(ts[k]),
            "step": str(pd.Timedelta(int(step[k]), unit="us")),
            "interval": str(pd.Timedelta(int(thr[k]), unit="us")),
        }

    lookup = {int(positions[k + 1]): int(k) for k in at}
    result.detail = (
        f"interval {pd.Timedelta(int(interval_us), unit='us')}"
        if interval_us
        else "interval: the median step of each symbol"
    )
    _record(
        result,
        positions[at + 1],
        info,
        lambda j: (
            f"{report.feed}: row {info(j)['row']} (symbol {info(j)['symbol']!r}, ts {info(j)['ts']}) "
            f"comes {info(j)['step']} after the previous bar of its symbol, more than the bar "
            f"interval {info(j)['interval']}; fill the gap or pass interval= the real bar interval"
            + _policy_hint("gaps", "'warn'")
        ),
        raise_errors,
    )
