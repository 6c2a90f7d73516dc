"""Trend indicators: directional movement (+DI, -DI, ADX) and the parabolic SAR."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least, non_negative_number

_HLC = ("high", "low", "close")


def _period(minimum: int) -> Param:
    return Param(
        "window",
        int_at_least(minimum),
        default=14,
        fix=f"pass window >= {minimum} (TA-Lib's minimum), e.g. window=14",
        integer=True,
    )


class _DirectionalMovement(Op):
    """What +DI, -DI and ADX share: Wilder's smoothing of the bars' directional moves."""

    kind = OpKind.RECURSIVE
    inputs = ()
    data_fields = _HLC
    params = (_period(1),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class PlusDirectionalIndicator(_DirectionalMovement):
    """Wilder's +DI in percent (TA-Lib ``PLUS_DI``); the first ``window`` bars are null.

    As in TA-Lib, ``window=1`` gives the one-bar ratio ``+DM / TR`` (not in
    percent).

    Examples
    --------
    >>> pdi = cb.add_indicator(sb.ind.plus_di, data, window=14)  # doctest: +SKIP
    """

    short = "plus_di"


class MinusDirectionalIndicator(_DirectionalMovement):
    """Wilder's -DI in percent (TA-Lib ``MINUS_DI``); the first ``window`` bars are null.

    As in TA-Lib, ``window=1`` gives the one-bar ratio ``-DM / TR``.

    Examples
    --------
    >>> mdi = cb.add_indicator(sb.ind.minus_di, data, window=14)  # doctest: +SKIP
    """

    short = "minus_di"


class AverageDirectionalIndex(_DirectionalMovement):
    """Wilder's ADX (TA-Lib ``ADX``); the first ``2 * window - 1`` bars are null.

    Examples
    --------
    >>> adx = cb.add_indicator(sb.ind.adx, data, window=14)  # doctest: +SKIP
    """

    short = "adx"
    params = (_period(2),)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return 2 * int(params["window"])


class ParabolicSAR(Op):
    """Wilder's parabolic stop-and-reverse (TA-Lib ``SAR``); the first bar is null.

    The acceleration factor starts at ``acceleration``, grows by it at each
    new extreme up to ``maximum`` and resets on a reversal (an
    ``acceleration`` above ``maximum`` is capped at it, as TA-Lib does).

    Examples
    --------
    >>> sar = cb.add_indicator(sb.ind.sar, data, acceleration=0.02, maximum=0.2)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "sar"
    inputs = ()
    data_fields = ("high", "low")
    params = (
        Param(
            "acceleration",
            non_negative_number,
            default=0.02,
            fix="pass a step >= 0 such as acceleration=0.02",
        ),
        Param(
            "maximum", non_negative_number, default=0.2, fix="pass a cap >= 0 such as maximum=0.2"
        ),
    )
    label_params = ("acceleration", "maximum")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return 2
