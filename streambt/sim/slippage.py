"""Slippage models: ``bps(n)``, ``ticks(n)``, ``volume_share(impact)``.

Slippage always moves the fill price against the trader: up for a buy, down
for a sell. It applies to market and stop fills and to stop-limit/limit fills
only up to their limit (a limit never fills beyond its price). Formulas and
their tests: ``docs/broker.md``.

Examples
--------
>>> p = slippage_array(bps(10).to_params())
>>> slipped(p, 100.0, 1, 0.01, 50.0, 1000.0)  # 100 * (1 + 10 / 1e4)
100.1
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streambt.errors import InvalidParameterError, did_you_mean
from streambt.kernels._jit import jit

SLIP_NONE, SLIP_BPS, SLIP_TICKS, SLIP_VOLUME = 0, 1, 2, 3
SLIPPAGE_MODELS: dict[str, int] = {
    "bps": SLIP_BPS,
    "ticks": SLIP_TICKS,
    "volume_share": SLIP_VOLUME,
}
SP_KIND, SP_A = 0, 1
SP_N = 2


def _amount(call: str, name: str, value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise InvalidParameterError(
            f"{call}({name}={value!r}): {name} must be a finite number >= 0, got {value!r}"
        )
    return float(value)


@dataclass(frozen=True)
class Bps:
    """``price * (1 + side * n / 1e4)``."""

    n: float

    def __post_init__(self) -> None:
        _amount("bps", "n", self.n)

    def to_params(self) -> dict[str, Any]:
        return {"model": "bps", "n": float(self.n)}


@dataclass(frozen=True)
class Ticks:
    """``price + side * n * tick_size`` (the symbol's instrument tick; 0 tick = no slippage)."""

    n: float

    def __post_init__(self) -> None:
        _amount("ticks", "n", self.n)

    def to_params(self) -> dict[str, Any]:
        return {"model": "ticks", "n": float(self.n)}


@dataclass(frozen=True)
class VolumeShare:
    """``price * (1 + side * impact * min(units / volume, 1))``; volume <= 0 counts as share 1."""

    impact: float

    def __post_init__(self) -> None:
        _amount("volume_share", "impact", self.impact)

    def to_params(self) -> dict[str, Any]:
        return {"model": "volume_share", "impact": float(self.impact)}


SlippageModel = Bps | Ticks | VolumeShare


def bps(n: float) -> Bps:
    """``n`` basis points of the price against the trader.

    Examples
    --------
    >>> bps(5).n
    5
    """
    return Bps(n)


def ticks(n: float) -> Ticks:
    """``n`` ticks of the symbol's instrument against the trader.

    Examples
    --------
    >>> ticks(2).to_params()
    {'model': 'ticks', 'n': 2.0}
    """
    return Ticks(n)


def volume_share(impact: float) -> VolumeShare:
    """Market impact proportional to the fill's share of the bar's volume.

    Examples
    --------
    >>> volume_share(0.1).impact
    0.1
    """
    return VolumeShare(impact)


def from_params(params: Mapping[str, Any] | None) -> SlippageModel | None:
    """The model described by ``params``, validated; None = no slippage."""
    if params is None:
        return None
    model = params.get("model")
    args = {k: v for k, v in params.items() if k != "model"}
    try:
        if model == "bps":
            return Bps(**args)
        if model == "ticks":
            return Ticks(**args)
        if model == "volume_share":
            return VolumeShare(**args)
    except TypeError as err:
        raise InvalidParameterError(f"slippage {dict(params)!r}: {err}") from None
    raise InvalidParameterError(
        f"slippage(model={model!r}): the model must be one of {sorted(SLIPPAGE_MODELS)}."
        f"{did_you_mean(str(model), SLIPPAGE_MODELS)}"
    )


def slippage_array(params: Mapping[str, Any] | None) -> np.ndarray:
    """Pack a slippage model for numba: ``[kind, amount]``."""
    p = np.zeros(SP_N, dtype=np.float64)
    m = from_params(params)
    if isinstance(m, Bps):
        p[SP_KIND], p[SP_A] = SLIP_BPS, m.n
    elif isinstance(m, Ticks):
        p[SP_KIND], p[SP_A] = SLIP_TICKS, m.n
    elif isinstance(m, VolumeShare):
        p[SP_KIND], p[SP_A] = SLIP_VOLUME, m.impact
    return p


@jit
def slipped(
    sp: np.ndarray, price: float, side: int, tick: float, units: float, volume: float
) -> float:
    """``price`` moved against a trader on ``side`` (+1 buy, -1 sell)."""
    kind = int(sp[SP_KIND])
    if kind == SLIP_BPS:
        return price * (1.0 + side * sp[SP_A] / 1e4)
    if kind == SLIP_TICKS:
        return price + side * sp[SP_A] * tick
    if kind == SLIP_VOLUME:
        share = min(units / volume, 1.0) if volume > 0.0 else 1.0
        return price * (1.0 + side * sp[SP_A] * share)
    return price


@jit
def depends_on_size(sp: np.ndarray) -> bool:
    """True if the slipped price depends on the fill's size (volume impact)."""
    return int(sp[SP_KIND]) == SLIP_VOLUME
