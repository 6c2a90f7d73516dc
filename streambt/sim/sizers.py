"""Sizers: how many units an entry gets, decided at its fill with the fill price.

``fixed(units)``, ``percent_equity(p)``, ``all_in()``, ``risk(risk_fraction)``
(units = risk_fraction x equity / stop distance, the stop distance being
``fill price x stop_loss``) and ``volatility_target(target)`` (units = target x
equity / ATR, the ATR read from the strategy's ``atr_<k>`` input at the
decision bar). v1's allocations (``sb.alloc.all_in/fixed/target_percent``) are
accepted as they are and give v1's numbers. Every sizer is capped by what the
strategy can afford (its buying power, ``docs/broker.md``) and rounds DOWN to
whole lots.

Examples
--------
>>> risk(0.01).to_params()
{'sizer': 'risk', 'amount': 0.01}
>>> sizer_code({"allocation": "target_percent", "amount": 0.5, "long_only": True})
(2, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streambt.errors import InvalidParameterError, did_you_mean
from streambt.kernels._jit import jit
from streambt.sim.events import RejectReason
from streambt.sim.fees import fill_cost, sizing_terms
from streambt.sim.instruments import round_lot

# v1's allocation codes first, with the same numbers
SZ_ALL_IN, SZ_FIXED, SZ_TARGET_PERCENT, SZ_PERCENT_EQUITY, SZ_RISK, SZ_VOL_TARGET = range(6)
SIZERS: dict[str, int] = {
    "all_in": SZ_ALL_IN,
    "fixed": SZ_FIXED,
    "target_percent": SZ_TARGET_PERCENT,
    "percent_equity": SZ_PERCENT_EQUITY,
    "risk": SZ_RISK,
    "volatility_target": SZ_VOL_TARGET,
}
_INSUFFICIENT_CASH = int(RejectReason.INSUFFICIENT_CASH)
_ZERO_SIZE = int(RejectReason.ZERO_SIZE)


def _positive(call: str, name: str, value: Any, upper: float = math.inf) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0 < value <= upper:
        bound = f"in (0, {upper:g}]" if math.isfinite(upper) else "a finite number > 0"
        raise InvalidParameterError(
            f"{call}({name}={value!r}): {name} must be {bound}, got {value!r}"
        )
    return float(value)


@dataclass(frozen=True)
class Sizer:
    """A validated sizer: its name and its one amount (see the module docstring)."""

    sizer: str
    amount: float = 1.0

    def __post_init__(self) -> None:
        if self.sizer not in SIZERS:
            raise InvalidParameterError(
                f"sizer {self.sizer!r}: must be one of {sorted(SIZERS)}."
                f"{did_you_mean(str(self.sizer), SIZERS)}"
            )
        if self.sizer == "fixed" and (
            not isinstance(self.amount, int | float) or self.amount != math.floor(self.amount)
        ):
            _positive("fixed", "units", self.amount)
            raise InvalidParameterError(
                f"fixed(units={self.amount!r}): units must be a whole number, got {self.amount!r}"
            )
        upper = {"target_percent": 1.0, "risk": 1.0}.get(self.sizer, math.inf)
        _positive(self.sizer, "amount", self.amount, upper)

    def to_params(self) -> dict[str, Any]:
        return {"sizer": self.sizer, "amount": float(self.amount)}


def fixed(units: float) -> Sizer:
    """``units`` per entry, or what the cash affords if less.

    Examples
    --------
    >>> fixed(10).amount
    10
    """
    return Sizer("fixed", units)


def percent_equity(p: float) -> Sizer:
    """``p`` of the strategy's equity (above 1 only helps with margin).

    Examples
    --------
    >>> percent_equity(0.25).to_params()
    {'sizer': 'percent_equity', 'amount': 0.25}
    """
    return Sizer("percent_equity", p)


def all_in() -> Sizer:
    """Everything the buying power affords.

    Examples
    --------
    >>> all_in().sizer
    'all_in'
    """
    return Sizer("all_in", 1.0)


def risk(risk_fraction: float) -> Sizer:
    """Lose ``risk_fraction`` of equity if the stop-loss fills: needs ``stop_loss``.

    Examples
    --------
    >>> risk(0.02).amount
    0.02
    """
    return Sizer("risk", risk_fraction)


def volatility_target(target: float) -> Sizer:
    """``target x equity / ATR`` units; the strategy needs an ``atr_<k>`` input column.

    Examples
    --------
    >>> volatility_target(0.01).sizer
    'volatility_target'
    """
    return Sizer("volatility_target", target)


def sizer_code(params: Mapping[str, Any]) -> tuple[int, float]:
    """(code, amount) of a sizer dict or of a v1 allocation dict (``{"allocation": ...}``)."""
    if "allocation" in params:
        name, amount = params["allocation"], params.get("amount", 1.0)
    else:
        name, amount = params.get("sizer"), params.get("amount", 1.0)
    s = Sizer(str(name), amount)
    return SIZERS[s.sizer], float(s.amount)


@jit
def affordable(
    budget: float,
    price: float,
    lot: float,
    fp: np.ndarray,
    tiers: np.ndarray,
    liq: int,
    traded: float,
) -> float:
    """The most whole lots whose ``value + fee`` is <= ``budget``.

    The estimate ``budget / (price * (1 + rate))`` is v1's; when its floor costs
    more than the budget (a rounding ulp, a minimum or fixed fee), a binary
    search over lots finds the largest that fits.
    """
    if not budget > 0.0:
        return 0.0
    per_unit, const = sizing_terms(fp, tiers, price, liq, traded)
    units = round_lot((budget - const) / per_unit, lot)
    if units > 0.0 and fill_cost(fp, tiers, units, price, liq, traded) > budget:
        lo, hi = 0.0, units / lot - 1.0  # in lots: cost(lo) <= budget < cost(hi + 1)
        while lo < hi:
            mid = np.floor((lo + hi + 1.0) / 2.0)
            if fill_cost(fp, tiers, mid * lot, price, liq, traded) <= budget:
                lo = mid
            else:
                hi = mid - 1.0
        units = lo * lot
    return units


@jit
def entry_units(
    kind: int,
    amount: float,
    strength: float,
    atr: float,
    stop_loss: float,
    equity: float,
    power: float,
    price: float,
    lot: float,
    fp: np.ndarray,
    tiers: np.ndarray,
    liq: int,
    traded: float,
) -> tuple[float, int]:
    """(units, reason if 0) of an entry at ``price`` for a strategy with ``equity``.

    ``power`` is the buying power (``docs/broker.md``): what the entry may cost
    at most. For v1's setup (flat, one symbol) equity = power = cash, which
    makes ``all_in``/``fixed``/``target_percent`` v1's formulas.
    """
    if not power > 0.0:
        return 0.0, _INSUFFICIENT_CASH
    cap = affordable(power, price, lot, fp, tiers, liq, traded)
    if kind == SZ_FIXED:
        units = round_lot(amount, lot)
        if units > 0.0 and fill_cost(fp, tiers, units, price, liq, traded) <= power:
            return units, 0
        return cap, _INSUFFICIENT_CASH
    if kind == SZ_ALL_IN:
        return cap, _INSUFFICIENT_CASH
    per_unit, const = sizing_terms(fp, tiers, price, liq, traded)
    if kind == SZ_TARGET_PERCENT:
        # a strength above 1 cannot lever up (v1)
        want = round_lot((min(amount * strength, 1.0) * equity - const) / per_unit, lot)
        return min(want, cap), _INSUFFICIENT_CASH
    if kind == SZ_PERCENT_EQUITY:
        want = round_lot((amount * equity - const) / per_unit, lot)
        return min(want, cap), _INSUFFICIENT_CASH
    if kind == SZ_RISK:
        dist = price * stop_loss
        want = round_lot(amount * equity / dist, lot) if dist > 0.0 else 0.0
    else:
        want = round_lot(amount * equity / atr, lot) if atr > 0.0 and atr < np.inf else 0.0
    if want == 0.0:
        return 0.0, _ZERO_SIZE
    return min(want, cap), _INSUFFICIENT_CASH
