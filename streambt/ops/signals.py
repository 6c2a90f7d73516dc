"""Signals: series in [-1, 1] whose sign is a direction and whose size is a strength."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind


class Cross(Op):
    """+1 when ``a`` crosses above ``b``, -1 when it crosses below, else 0.

    At bar i: +1 if ``a[i-1] < b[i-1]`` and ``a[i] > b[i]``; -1 if
    ``a[i-1] > b[i-1]`` and ``a[i] < b[i]``; 0 otherwise, so a tie on either
    bar kills the cross. Null while any of the four values is null.

    Examples
    --------
    >>> pulse = cb.add_indicator(sb.sig.cross, fast, slow)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "cross"
    inputs = ("a", "b")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return 2
