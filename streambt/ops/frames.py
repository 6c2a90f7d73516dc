"""Timeframes: resampled bars, and aligning a higher timeframe onto a lower one.

``Resample`` builds the bars of a higher timeframe from the base bars (open =
first, high = max, low = min, close = last, volume = sum, per symbol and
bucket). ``AsOf`` brings a column of a higher timeframe onto the rows of a
lower one without looking ahead: a destination row decided at its close
``t + interval`` sees the last source bar whose close ``T + interval'`` is at
or before that moment. A 1h bar labelled 10:00 is therefore first visible to
the 1min bar labelled 10:59 (closing at 11:00), never earlier.
"""

from __future__ import annotations

from typing import Any

from .base import Op, OpKind, Param
from .source import BAR_FIELDS


def _timeframe_key(value: Any) -> str | None:
    from ..io.timeframes import Timeframe

    if not isinstance(value, str):
        return "must be a timeframe string such as '5min', '1h' or '1d@America/New_York'"
    text, _, tz = value.partition("@")
    try:
        Timeframe.parse(text, tz or "UTC")
    except Exception as exc:  # the parser's own message says what is wrong
        return str(exc)
    return None


class Resample(Op):
    """Bars of a higher timeframe, built from the base bars; index by field like data.

    Examples
    --------
    >>> hourly = cb.resample(data, "1h")                 # doctest: +SKIP
    >>> daily = cb.resample(data, "1d", tz="America/New_York")  # doctest: +SKIP
    """

    kind = OpKind.SOURCE
    short = "resample"
    inputs = ()
    data_fields = BAR_FIELDS
    outputs = BAR_FIELDS
    params = (
        Param("timeframe", _timeframe_key, fix="pass e.g. '5min', '1h' or '1d'"),
        Param(
            "base",
            _timeframe_key,
            fix="declare the base bars' interval: cb.add_data(feed, timeframe='1min')",
        ),
    )
    label_params = ("timeframe",)


class AsOf(Op):
    """A higher-timeframe column on the rows of a lower timeframe, visible once its bar has closed."""

    kind = OpKind.ALIGN
    short = "asof"
    #: ``x``: the higher-timeframe column; ``anchor``: a column of the frame it is placed on
    inputs = ("x", "anchor")
    params = (
        Param("source", _timeframe_key, fix="internal: the source frame's timeframe"),
        Param("target", _timeframe_key, fix="internal: the target frame's timeframe"),
    )
    label_params = ("source",)
