"""Where a Flink run's bars come from.

- default (``source=None``): the cerebro's feeds, loaded and validated as on
  every engine, written to one CSV file in time order and read by Flink's
  bounded ``FileSource``;
- :func:`files`: CSV files already on disk, read once in name order (bounded);
- :func:`directory`: a folder Flink keeps watching; each new CSV file's bars
  join the stream (unbounded: start it with :func:`streambt.backends.flink.start`);
- :func:`replay`: the cerebro's feeds played as a live feed at a chosen speed
  (paper trading on history), every bar stamped with the wall-clock time it
  entered the job so bar-to-order latency can be measured.

CSV lines are ``symbol,ts,open,high,low,close,volume`` (a header line is
skipped); ``ts`` is ISO 8601 (UTC unless it has an offset) or integer
microseconds since the epoch. Lines that do not parse or fail the bar checks
go to the ``rejected`` sink; bars behind the watermark go to the ``late`` sink.
Neither is ever dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import BackendError, InvalidParameterError


@dataclass(frozen=True)
class Source:
    """A source of bar lines for a Flink job."""

    #: read the cerebro's feeds (and write them to the job's input file)
    from_feeds: bool = True
    #: files or folder to read, when not from the feeds
    path: str | None = None
    #: watch ``path`` for new files every this many ms (None: read once)
    monitor_ms: int | None = None
    #: replay: event time runs this many times faster than the wall clock
    speed: float | None = None
    #: replay: this many bars per second
    rate: float | None = None

    @property
    def bounded(self) -> bool:
        return self.monitor_ms is None

    @property
    def paced(self) -> bool:
        return self.speed is not None or self.rate is not None

    def describe(self) -> str:
        if self.paced:
            pace = f"speed x{self.speed:g}" if self.speed else f"{self.rate:g} bars/s"
            what = "the cerebro's feeds" if self.from_feeds else self.path
            return f"replay of {what} at {pace}"
        if self.from_feeds:
            return "the cerebro's feeds, as a bounded file source"
        if self.monitor_ms is not None:
            return f"directory {self.path} watched every {self.monitor_ms} ms"
        return f"files {self.path} (bounded)"


def files(path: str | Path) -> Source:
    """Bars from CSV files on disk (a file, or a folder's files in name order), read once.

    Examples
    --------
    >>> res = cb.run(backend="flink", mode="stream", source=flink.files("bars/"))  # doctest: +SKIP
    """
    p = Path(path)
    if not p.exists():
        raise InvalidParameterError(f"flink files({str(path)!r}): no such file or folder")
    found = [f for f in (p.rglob("*") if p.is_dir() else [p]) if f.is_file()]
    if not any(f.stat().st_size for f in found if not f.name.startswith((".", "_"))):
        raise InvalidParameterError(
            f"flink files({str(path)!r}): empty: no bars to read; pass a CSV file (or a folder "
            "of them) of symbol,ts,open,high,low,close,volume lines, or use flink.directory() "
            "to wait for files"
        )
    return Source(from_feeds=False, path=str(p.resolve()))


def directory(path: str | Path, monitor: str | int = "1s") -> Source:
    """A folder watched for new CSV files of bars (an unbounded stream).

    Examples
    --------
    >>> job = flink.start(cb, source=flink.directory("incoming/", monitor="500ms"), out="live/")  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_dir():
        raise InvalidParameterError(f"flink directory({str(path)!r}): not a folder")
    return Source(from_feeds=False, path=str(p.resolve()), monitor_ms=millis(monitor, "monitor"))


def replay(
    speed: float | None = None, rate: float | None = None, path: str | Path | None = None
) -> Source:
    """History played as a live stream: ``speed`` times real time, or ``rate`` bars per second.

    The bars are the cerebro's feeds (validated, in time order), or the CSV
    file(s) at ``path`` as they are, in file order (bars out of order beyond
    ``watermark_delay`` then show up in the ``late`` sink).

    Examples
    --------
    >>> cb.run(backend="flink", mode="stream", source=flink.replay(rate=5_000), latency=True)  # doctest: +SKIP
    """
    if (speed is None) == (rate is None):
        raise InvalidParameterError(
            "flink replay(): pass one of speed= (x real time) or rate= (bars/s)"
        )
    for name, value in (("speed", speed), ("rate", rate)):
        if value is not None and not (isinstance(value, int | float) and value > 0):
            raise InvalidParameterError(
                f"flink replay({name}={value!r}): must be a positive number"
            )
    where = None if path is None else files(path).path
    return Source(
        from_feeds=where is None,
        path=where,
        speed=None if speed is None else float(speed),
        rate=None if rate is None else float(rate),
    )


def millis(value: Any, what: str) -> int:
    """A duration ("500ms", "2s", 250) in milliseconds."""
    if isinstance(value, bool):
        raise InvalidParameterError(f"{what}={value!r}: pass milliseconds or a duration like '2s'")
    if isinstance(value, int | float):
        if value < 0:
            raise InvalidParameterError(f"{what}={value!r}: must be >= 0")
        return int(value)
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(
            f"{what}={value!r}: pass milliseconds or a duration like '2s'"
        ) from exc
    if delta < pd.Timedelta(0):
        raise InvalidParameterError(f"{what}={value!r}: must be >= 0")
    return int(delta / pd.Timedelta(milliseconds=1))


def coerce(source: Source | str | None) -> Source:
    if source is None:
        return Source()
    if isinstance(source, Source):
        return source
    raise BackendError(
        f"flink source={source!r}: pass flink.files(path), flink.directory(path) or flink.replay(speed=...)"
    )
