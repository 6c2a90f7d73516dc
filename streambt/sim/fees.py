"""Commission models: ``percent``, ``per_share``, ``fixed``, ``maker_taker``, ``tiers``.

Each model is a frozen, validated value; :meth:`to_params` gives plain data for
the kernel's ``broker["fees"]`` and :func:`fee_arrays` packs it for numba. The
fee of one fill is :func:`fee` (jitted); sizing uses :func:`fill_cost` so the
cash check and the cash update agree to the last bit. Rules: ``docs/broker.md``.

Examples
--------
>>> percent(0.001).to_params()
{'model': 'percent', 'rate': 0.001}
>>> p, t = fee_arrays(per_share(0.005, minimum=1.0).to_params())
>>> fee(p, t, 10_000.0, 100.0, 2, 0.0)  # max(1, 0.005 * 100)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streambt.errors import InvalidParameterError, did_you_mean
from streambt.kernels._jit import jit

FEE_PERCENT, FEE_PER_SHARE, FEE_FIXED, FEE_MAKER_TAKER, FEE_TIERS = 1, 2, 3, 4, 5
FEE_MODELS: dict[str, int] = {
    "percent": FEE_PERCENT,
    "per_share": FEE_PER_SHARE,
    "fixed": FEE_FIXED,
    "maker_taker": FEE_MAKER_TAKER,
    "tiers": FEE_TIERS,
}
# slots of the packed fee parameters
FP_KIND, FP_A, FP_B = range(3)
FP_N = 3
_MAKER = 1  # Liquidity.MAKER


def _real(call: str, name: str, value: Any, *, minimum: float | None = 0.0) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (minimum is not None and value < minimum):
        bound = "a finite number" + ("" if minimum is None else f" >= {minimum:g}")
        raise InvalidParameterError(f"{call}({name}={value!r}): {name} must be {bound}")
    return float(value)


@dataclass(frozen=True)
class Percent:
    """``fee = rate * units * price`` (v1's ``commission``)."""

    rate: float

    def __post_init__(self) -> None:
        _real("percent", "rate", self.rate)

    def to_params(self) -> dict[str, Any]:
        return {"model": "percent", "rate": float(self.rate)}


@dataclass(frozen=True)
class PerShare:
    """``fee = max(minimum, per_share * units)``."""

    per_share: float
    minimum: float = 0.0

    def __post_init__(self) -> None:
        _real("per_share", "per_share", self.per_share)
        _real("per_share", "minimum", self.minimum)

    def to_params(self) -> dict[str, Any]:
        return {
            "model": "per_share",
            "per_share": float(self.per_share),
            "minimum": float(self.minimum),
        }


@dataclass(frozen=True)
class Fixed:
    """``fee = amount`` per fill."""

    amount: float

    def __post_init__(self) -> None:
        _real("fixed", "amount", self.amount)

    def to_params(self) -> dict[str, Any]:
        return {"model": "fixed", "amount": float(self.amount)}


@dataclass(frozen=True)
class MakerTaker:
    """``fee = (maker if the fill adds liquidity else taker) * units * price``.

    A resting limit that fills is the maker; market and stop fills are takers
    (``docs/broker.md``). A negative ``maker`` is a rebate.
    """

    maker: float
    taker: float

    def __post_init__(self) -> None:
        maker = _real("maker_taker", "maker", self.maker, minimum=None)
        taker = _real("maker_taker", "taker", self.taker)
        if maker <= -1.0 or maker > taker:
            raise InvalidParameterError(
                f"maker_taker(maker={self.maker!r}, taker={self.taker!r}): maker must be in "
                "(-1, taker]; a rebate is a small negative fraction such as -0.0002"
            )

    def to_params(self) -> dict[str, Any]:
        return {"model": "maker_taker", "maker": float(self.maker), "taker": float(self.taker)}


@dataclass(frozen=True)
class Tiers:
    """A percent rate that falls as the traded value grows.

    ``levels`` is ``[(threshold, rate), ...]`` with thresholds ascending from 0:
    a fill pays the rate of the highest threshold <= the value the whole
    portfolio traded BEFORE this fill (no reset over the run).
    """

    levels: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        levels = tuple((float(a), float(b)) for a, b in self.levels)
        object.__setattr__(self, "levels", levels)
        if not levels or levels[0][0] != 0.0:
            raise InvalidParameterError(
                f"tiers({list(self.levels)!r}): the first threshold must be 0, e.g. "
                "tiers([(0, 0.001), (1e6, 0.0005)])"
            )
        for i, (threshold, rate) in enumerate(levels):
            _real("tiers", f"levels[{i}].rate", rate)
            _real("tiers", f"levels[{i}].threshold", threshold)
            if i and threshold <= levels[i - 1][0]:
                raise InvalidParameterError(
                    f"tiers({list(levels)!r}): thresholds must increase, got {threshold!r} "
                    f"after {levels[i - 1][0]!r}"
                )

    def to_params(self) -> dict[str, Any]:
        return {"model": "tiers", "levels": [list(x) for x in self.levels]}


FeeModel = Percent | PerShare | Fixed | MakerTaker | Tiers


def percent(rate: float) -> Percent:
    """A fraction of the traded value per fill.

    Examples
    --------
    >>> percent(0.001).rate
    0.001
    """
    return Percent(rate)


def per_share(per_share: float, minimum: float = 0.0) -> PerShare:
    """A price per unit with a minimum per fill.

    Examples
    --------
    >>> per_share(0.005, minimum=1.0).minimum
    1.0
    """
    return PerShare(per_share, minimum)


def fixed(amount: float) -> Fixed:
    """The same amount per fill.

    Examples
    --------
    >>> fixed(1.5).amount
    1.5
    """
    return Fixed(amount)


def maker_taker(maker: float, taker: float) -> MakerTaker:
    """Rates for fills that add (maker) or take (taker) liquidity.

    Examples
    --------
    >>> maker_taker(maker=0.0002, taker=0.0007).taker
    0.0007
    """
    return MakerTaker(maker, taker)


def tiers(levels: Sequence[tuple[float, float]]) -> Tiers:
    """Percent rates by cumulative traded value.

    Examples
    --------
    >>> tiers([(0, 0.001), (1e6, 0.0005)]).levels[1]
    (1000000.0, 0.0005)
    """
    return Tiers(tuple((a, b) for a, b in levels))


def from_params(params: Mapping[str, Any] | None) -> FeeModel | None:
    """The model described by ``params`` (``to_params`` output), validated; None = no fees."""
    if params is None:
        return None
    model = params.get("model")
    args = {k: v for k, v in params.items() if k != "model"}
    try:
        if model == "percent":
            return Percent(**args)
        if model == "per_share":
            return PerShare(**args)
        if model == "fixed":
            return Fixed(**args)
        if model == "maker_taker":
            return MakerTaker(**args)
        if model == "tiers":
            return Tiers(tuple((a, b) for a, b in args["levels"]))
    except TypeError as err:
        raise InvalidParameterError(f"fees {dict(params)!r}: {err}") from None
    raise InvalidParameterError(
        f"fees(model={model!r}): the model must be one of {sorted(FEE_MODELS)}."
        f"{did_you_mean(str(model), FEE_MODELS)}"
    )


def fee_arrays(params: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Pack a fee model for numba: ``(params[FP_N], tiers[T, 2])``; None -> percent(0)."""
    p = np.zeros(FP_N, dtype=np.float64)
    tier = np.zeros((1, 2), dtype=np.float64)
    m = from_params(params)
    if m is None:
        p[FP_KIND] = FEE_PERCENT
    elif isinstance(m, Percent):
        p[FP_KIND], p[FP_A] = FEE_PERCENT, m.rate
    elif isinstance(m, PerShare):
        p[FP_KIND], p[FP_A], p[FP_B] = FEE_PER_SHARE, m.per_share, m.minimum
    elif isinstance(m, Fixed):
        p[FP_KIND], p[FP_A] = FEE_FIXED, m.amount
    elif isinstance(m, MakerTaker):
        p[FP_KIND], p[FP_A], p[FP_B] = FEE_MAKER_TAKER, m.maker, m.taker
    else:
        p[FP_KIND] = FEE_TIERS
        tier = np.array(m.levels, dtype=np.float64).reshape(-1, 2)
    return p, tier


@jit
def tier_rate(tiers: np.ndarray, traded: float) -> float:
    """Rate of the highest threshold <= ``traded``."""
    rate = tiers[0, 1]
    for i in range(1, tiers.shape[0]):
        if tiers[i, 0] <= traded:
            rate = tiers[i, 1]
    return rate


@jit
def fee(
    fp: np.ndarray, tiers: np.ndarray, value: float, units: float, liquidity: int, traded: float
) -> float:
    """Commission of one fill of ``units`` worth ``value`` (= units * price)."""
    kind = int(fp[FP_KIND])
    if kind == FEE_PERCENT:
        return fp[FP_A] * value
    if kind == FEE_PER_SHARE:
        return max(fp[FP_B], fp[FP_A] * units)
    if kind == FEE_FIXED:
        return fp[FP_A]
    if kind == FEE_MAKER_TAKER:
        return (fp[FP_A] if liquidity == _MAKER else fp[FP_B]) * value
    return tier_rate(tiers, traded) * value


@jit
def fill_cost(
    fp: np.ndarray, tiers: np.ndarray, units: float, price: float, liquidity: int, traded: float
) -> float:
    """``value + fee``: what a buy takes off cash, by the very expression the fill uses."""
    value = units * price
    return value + fee(fp, tiers, value, units, liquidity, traded)


@jit
def sizing_terms(
    fp: np.ndarray, tiers: np.ndarray, price: float, liquidity: int, traded: float
) -> tuple[float, float]:
    """(cost per unit, fixed part) of the linear bound used to estimate affordable units.

    For ``percent`` the estimate ``budget / (price * (1 + rate))`` is v1's formula.
    """
    kind = int(fp[FP_KIND])
    if kind == FEE_PERCENT:
        return price * (1.0 + fp[FP_A]), 0.0
    if kind == FEE_PER_SHARE:
        return price + fp[FP_A], 0.0
    if kind == FEE_FIXED:
        return price, fp[FP_A]
    if kind == FEE_MAKER_TAKER:
        rate = fp[FP_A] if liquidity == _MAKER else fp[FP_B]
        return price * (1.0 + max(rate, 0.0)), 0.0
    return price * (1.0 + tier_rate(tiers, traded)), 0.0
