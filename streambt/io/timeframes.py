"""Bar intervals ("1min", "5min", "1h", "1d") and the buckets they cut time into.

A bar is labelled by its open time and is known at ``open + interval``: a
bucket's *end* is the moment its bar closes. Intraday buckets are aligned to
the UTC epoch (a 1h bar opens on the hour); daily buckets start at midnight in
a named time zone (the exchange's), so their length follows its DST changes.

Examples
--------
>>> tf = Timeframe.parse("15min")
>>> tf.micros, str(tf)
(900000000, '15min')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from ..errors import InvalidParameterError

_UNITS = {"s": 1_000_000, "min": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_ALIASES = {
    "sec": "s",
    "second": "s",
    "m": "min",
    "minute": "min",
    "hour": "h",
    "day": "d",
    "D": "d",
    "H": "h",
}
_PATTERN = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")


@dataclass(frozen=True)
class Timeframe:
    """A bar interval; ``tz`` matters only for daily buckets."""

    count: int
    unit: str
    tz: str = "UTC"

    @staticmethod
    def parse(text: str, tz: str = "UTC") -> Timeframe:
        """``"5min"``, ``"1h"``, ``"1d"``, ``"30s"`` (also ``"5m"``, ``"1D"``)."""
        m = _PATTERN.match(str(text))
        unit = _ALIASES.get(m.group(2), m.group(2)) if m else ""
        if not m or unit not in _UNITS or int(m.group(1)) < 1:
            raise InvalidParameterError(
                f"timeframe {text!r}: expected a count and a unit such as '1min', '5min', '1h' or '1d' "
                f"(units: {', '.join(_UNITS)})"
            )
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidParameterError(
                f"timeframe {text!r}: unknown time zone {tz!r}; pass an IANA name such as 'America/New_York'"
            ) from exc
        if unit == "d" and int(m.group(1)) != 1:
            raise InvalidParameterError(
                f"timeframe {text!r}: daily bars are '1d'; multi-day bars are not supported"
            )
        return Timeframe(int(m.group(1)), unit, tz if unit == "d" else "UTC")

    @staticmethod
    def from_key(key: str) -> Timeframe:
        """Inverse of :meth:`key`: ``"1h"`` or ``"1d@America/New_York"``."""
        text, _, tz = key.partition("@")
        return Timeframe.parse(text, tz or "UTC")

    @property
    def micros(self) -> int:
        """Nominal length in microseconds (a DST day is an hour longer or shorter)."""
        return self.count * _UNITS[self.unit]

    @property
    def daily(self) -> bool:
        return self.unit == "d"

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def key(self) -> str:
        """The canonical spelling used in node parameters."""
        return f"{self}@{self.tz}" if self.daily else str(self)

    def bucket_starts(self, ts_us: np.ndarray) -> np.ndarray:
        """The start (UTC microseconds) of the bucket of each timestamp."""
        if not self.daily:
            return (ts_us // self.micros) * self.micros
        local = pd.DatetimeIndex(ts_us.astype("datetime64[us]"), tz="UTC").tz_convert(self.tz)
        start = local.normalize().tz_convert("UTC")
        return np.asarray(start.asi8 // 1000 if start.unit == "ns" else start.asi8, dtype=np.int64)

    def bucket_ends(self, starts_us: np.ndarray) -> np.ndarray:
        """When each bucket's bar closes (UTC microseconds)."""
        if not self.daily:
            return starts_us + self.micros
        local = pd.DatetimeIndex(starts_us.astype("datetime64[us]"), tz="UTC").tz_convert(self.tz)
        end = (local + pd.DateOffset(days=1)).normalize().tz_convert("UTC")
        return np.asarray(end.asi8 // 1000 if end.unit == "ns" else end.asi8, dtype=np.int64)
