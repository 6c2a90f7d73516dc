"""Allocation declarations: how much a signal buys or sells.

An allocation is a frozen, validated value; :meth:`to_params` turns it into
the keywords of :class:`~streambt.sim.signal_strategy.SignalStrategyKernel`
(``allocation``, ``amount``, ``long_only``). Sizing itself happens in the
kernel, at the fill, with the fill price (see ``docs/simulator.md``).

Examples
--------
>>> target_percent(0.5).to_params()
{'allocation': 'target_percent', 'amount': 0.5, 'long_only': True}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streambt.errors import InvalidParameterError


def _is_real(value: Any) -> bool:
    # bool is an int subclass; fixed(True) is a mistake, not one unit
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_long_only(call: str, long_only: Any) -> None:
    if not isinstance(long_only, bool):
        raise InvalidParameterError(
            f"{call}(long_only={long_only!r}): long_only must be a bool, "
            f"got {type(long_only).__name__}; pass True or False"
        )


@dataclass(frozen=True)
class AllIn:
    """Buy (or short) as many whole units as the cash after any close affords.

    Examples
    --------
    >>> AllIn().to_params()
    {'allocation': 'all_in', 'amount': 1.0, 'long_only': True}
    """

    long_only: bool = True

    def __post_init__(self) -> None:
        _check_long_only("all_in", self.long_only)

    def to_params(self) -> dict[str, Any]:
        """The kernel keywords of this allocation."""
        return {"allocation": "all_in", "amount": 1.0, "long_only": self.long_only}


@dataclass(frozen=True)
class Fixed:
    """A fixed number of whole units per entry, fewer if cash does not cover them.

    Examples
    --------
    >>> Fixed(10).to_params()
    {'allocation': 'fixed', 'amount': 10.0, 'long_only': True}
    """

    size: float
    long_only: bool = True

    def __post_init__(self) -> None:
        size = self.size
        if not _is_real(size) or not math.isfinite(size) or size <= 0:
            raise InvalidParameterError(
                f"fixed(size={size!r}): size must be a positive number of units, "
                f"got {size!r}; pass a count such as 10"
            )
        # positions are whole units: a fractional size would be floored silently
        if size != math.floor(size):
            raise InvalidParameterError(
                f"fixed(size={size!r}): size must be a whole number of units, "
                f"got {size!r}; pass {max(math.floor(size), 1)} (positions are whole units)"
            )
        _check_long_only("fixed", self.long_only)

    def to_params(self) -> dict[str, Any]:
        """The kernel keywords of this allocation."""
        return {"allocation": "fixed", "amount": float(self.size), "long_only": self.long_only}


@dataclass(frozen=True)
class TargetPercent:
    """Enter with ``p * |signal|`` of equity (at most all of it), in whole units.

    Examples
    --------
    >>> TargetPercent(0.25, long_only=False).to_params()
    {'allocation': 'target_percent', 'amount': 0.25, 'long_only': False}
    """

    p: float
    long_only: bool = True

    def __post_init__(self) -> None:
        p = self.p
        if not _is_real(p) or not math.isfinite(p) or not 0 < p <= 1:
            raise InvalidParameterError(
                f"target_percent(p={p!r}): p must be in (0, 1], got {p!r}; "
                "pass a fraction of equity such as 0.5"
            )
        _check_long_only("target_percent", self.long_only)

    def to_params(self) -> dict[str, Any]:
        """The kernel keywords of this allocation."""
        return {
            "allocation": "target_percent",
            "amount": float(self.p),
            "long_only": self.long_only,
        }


Allocation = AllIn | Fixed | TargetPercent


def all_in(long_only: bool = True) -> AllIn:
    """Invest all cash on each entry (whole units, commission included).

    Examples
    --------
    >>> all_in(long_only=False).long_only
    False
    """
    return AllIn(long_only=long_only)


def fixed(size: float, long_only: bool = True) -> Fixed:
    """Enter with ``size`` whole units, capped to what cash affords.

    Examples
    --------
    >>> fixed(100).size
    100
    """
    return Fixed(size=size, long_only=long_only)


def target_percent(p: float, long_only: bool = True) -> TargetPercent:
    """Enter with the fraction ``p`` of equity, scaled by the signal's strength.

    Examples
    --------
    >>> target_percent(0.5).p
    0.5
    """
    return TargetPercent(p=p, long_only=long_only)
