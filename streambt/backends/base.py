"""What every backend declares and provides.

A backend states what it can lower as data (:meth:`Backend.support`), not as
scattered ifs, and runs a :class:`~streambt.compile.plan.Plan` to a
:class:`~streambt.result.Result`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import BackendError
from ..ops.base import Op

if TYPE_CHECKING:
    import pyarrow as pa

    from ..cerebro import Cerebro
    from ..compile.plan import Plan
    from ..result import Result

MODES = ("batch", "stream")


@dataclass(frozen=True)
class Support:
    """Whether a backend runs an op relationally in a mode, and why (or why not)."""

    ok: bool
    reason: str


class Backend(ABC):
    """One engine: reads feeds, runs Relational and Scan stages, returns results."""

    name: ClassVar[str]
    modes: ClassVar[tuple[str, ...]] = MODES
    #: how ``explain`` names this engine's Relational stages
    relational_form: ClassVar[str] = "one fused Ibis expression"
    #: whether the engine hosts the portfolio broker (one kernel keyed by portfolio, ADR 0005)
    hosts_portfolio: ClassVar[bool] = False

    @abstractmethod
    def support(self, op: type[Op], mode: str) -> Support:
        """Can ``op`` run in a Relational stage in ``mode``? With the reason either way."""

    @abstractmethod
    def run(self, cerebro: Cerebro, plan: Plan) -> Result:
        """Execute ``plan`` over the cerebro's feeds."""

    def check_mode(self, mode: str) -> None:
        if mode not in self.modes:
            raise BackendError(
                f"backend {self.name!r} has no mode {mode!r}; it supports {', '.join(self.modes)}"
            )


def plan_bars(cerebro: Cerebro, plan: Plan) -> tuple[pa.Table, dict[str, frozenset[str]]]:
    """Every feed's bars (with the factor-cache columns the plan reads) and each data node's
    symbols: what a run starts from on any engine."""
    bars, universes = cerebro.load_bars()
    if plan.cache is not None and plan.cached:
        bars = plan.cache.attach(bars, plan.cached)
    return bars, universes
