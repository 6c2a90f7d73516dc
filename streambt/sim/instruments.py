"""Instrument specs: lot size, tick size, notional and position limits, currency.

An :class:`Instrument` is a frozen, validated value; :meth:`Instrument.to_params`
gives the plain dict the portfolio kernel takes (``None`` = no limit), and
:func:`instrument_array` packs one row per symbol for the numba code. The
rounding rules (sizes DOWN to whole lots, prices to ticks "passively") are in
``docs/broker.md``; the jitted helpers here are the only place they are coded.

Examples
--------
>>> Instrument(lot_size=100, tick_size=0.01).to_params()["lot_size"]
100.0
>>> round_lot(250.0, 100.0), round_price(10.037, 0.01, 1, 2)
(200.0, 10.03)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streambt.errors import InvalidParameterError
from streambt.kernels._jit import jit

# columns of the per-symbol instrument array
IN_LOT, IN_TICK, IN_MIN_NOTIONAL, IN_MAX_NOTIONAL, IN_MAX_POSITION = range(5)
IN_N = 5

# price kinds for round_price
PRICE_LIMIT, PRICE_STOP = 2, 3

# Relative tolerance when a price or size is "already" a whole number of ticks
# or lots: 100.3 / 0.1 is 1002.9999999999999 in floats, and is 1003 ticks.
_SNAP = 1e-9


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(call: str, name: str, value: Any, *, allow_none: bool, positive: bool) -> None:
    if value is None and allow_none:
        return
    ok = _is_real(value) and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        want = "a finite number > 0" if positive else "a finite number >= 0"
        none = " or None (no limit)" if allow_none else ""
        raise InvalidParameterError(
            f"{call}({name}={value!r}): {name} must be {want}{none}, got {value!r}"
        )


@dataclass(frozen=True)
class Instrument:
    """What the broker knows about one symbol.

    Parameters
    ----------
    lot_size : float
        Sizes round DOWN to a multiple of it (1 = whole units, v1's rule).
    tick_size : float
        Limit and stop prices round to a multiple of it; 0 = no rounding.
    min_notional, max_notional : float or None
        Bounds on ``units * price`` of an order's fill; ``None`` = no bound.
    max_position : float or None
        Bound on the absolute position of one strategy in this symbol.
    currency : str
        Label only: orders and positions can be grouped by it downstream.

    Examples
    --------
    >>> Instrument(min_notional=10).to_params()["max_notional"] is None
    True
    """

    lot_size: float = 1.0
    tick_size: float = 0.0
    min_notional: float | None = None
    max_notional: float | None = None
    max_position: float | None = None
    currency: str = "USD"

    def __post_init__(self) -> None:
        _check("Instrument", "lot_size", self.lot_size, allow_none=False, positive=True)
        _check("Instrument", "tick_size", self.tick_size, allow_none=False, positive=False)
        _check("Instrument", "min_notional", self.min_notional, allow_none=True, positive=False)
        _check("Instrument", "max_notional", self.max_notional, allow_none=True, positive=True)
        _check("Instrument", "max_position", self.max_position, allow_none=True, positive=True)
        lo, hi = self.min_notional, self.max_notional
        if lo is not None and hi is not None and lo > hi:
            raise InvalidParameterError(
                f"Instrument(min_notional={lo!r}, max_notional={hi!r}): min_notional must be "
                "<= max_notional; swap them or drop one"
            )
        if not isinstance(self.currency, str) or not self.currency:
            raise InvalidParameterError(
                f"Instrument(currency={self.currency!r}): currency must be a non-empty string "
                "such as 'USD'"
            )

    def to_params(self) -> dict[str, Any]:
        """Plain data for the kernel's ``instruments`` parameter."""

        def f(x: float | None) -> float | None:
            return None if x is None else float(x)

        return {
            "lot_size": float(self.lot_size),
            "tick_size": float(self.tick_size),
            "min_notional": f(self.min_notional),
            "max_notional": f(self.max_notional),
            "max_position": f(self.max_position),
            "currency": self.currency,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Instrument:
        """Inverse of :meth:`to_params` (validates again)."""
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidParameterError(
                f"Instrument: unknown field(s) {sorted(unknown)}; the fields are "
                f"{sorted(cls.__dataclass_fields__)}"
            )
        return cls(**dict(params))


def instruments_for(symbols: Sequence[str], instruments: Any) -> list[Instrument]:
    """One :class:`Instrument` per symbol from a dict by symbol, a list, or None (defaults)."""
    if instruments is None:
        return [Instrument() for _ in symbols]
    if isinstance(instruments, Mapping):
        unknown = set(instruments) - set(symbols)
        if unknown:
            raise InvalidParameterError(
                f"Portfolio(instruments=...): unknown symbol(s) {sorted(unknown)}; the "
                f"symbols are {list(symbols)}"
            )
        items = [instruments.get(s) for s in symbols]
    else:
        items = list(instruments)
        if len(items) != len(symbols):
            raise InvalidParameterError(
                f"Portfolio: {len(items)} instruments for {len(symbols)} symbols; pass one "
                "per symbol (or a dict by symbol)"
            )
    out = []
    for it in items:
        if it is None:
            out.append(Instrument())
        elif isinstance(it, Instrument):
            out.append(it)
        else:
            out.append(Instrument.from_params(it))
    return out


def instrument_array(instruments: Sequence[Instrument]) -> np.ndarray:
    """One row per symbol (code order): lot, tick, min/max notional, max position (inf = none)."""
    out = np.empty((len(instruments), IN_N), dtype=np.float64)
    for s, ins in enumerate(instruments):
        out[s, IN_LOT] = ins.lot_size
        out[s, IN_TICK] = ins.tick_size
        out[s, IN_MIN_NOTIONAL] = ins.min_notional or 0.0
        out[s, IN_MAX_NOTIONAL] = np.inf if ins.max_notional is None else ins.max_notional
        out[s, IN_MAX_POSITION] = np.inf if ins.max_position is None else ins.max_position
    return out


@jit
def round_lot(units: float, lot: float) -> float:
    """``units`` rounded DOWN to a whole number of lots (a float within 1e-9 of a lot snaps to it)."""
    if not units > 0.0:
        return 0.0
    if lot == 1.0:
        # v1's whole units, bit for bit
        return np.floor(units)
    n = units / lot
    r = np.floor(n + 0.5)
    if abs(n - r) <= _SNAP * max(1.0, r):
        n = r
    return np.floor(n) * lot


@jit
def round_price(price: float, tick: float, side: int, kind: int) -> float:
    """Round a limit/stop price to the tick "passively": never executable where ``price`` is not.

    Buy limit and sell stop round down; sell limit and buy stop round up.
    ``tick <= 0`` leaves the price as it is.
    """
    if not tick > 0.0:
        return price
    n = price / tick
    r = np.floor(n + 0.5)
    if abs(n - r) <= _SNAP * max(1.0, abs(r)):
        return r * tick
    down = (side > 0) == (kind == PRICE_LIMIT)
    return (np.floor(n) if down else np.ceil(n)) * tick
