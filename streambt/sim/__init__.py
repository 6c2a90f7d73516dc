"""The simulator: portfolio step kernels, allocations and event schemas.

Importing this package registers :class:`SignalStrategyKernel` under the op
name ``SignalStrategy`` in :data:`streambt.kernels.base.KERNELS`.

Examples
--------
>>> from streambt.sim import target_percent
>>> target_percent(0.5, long_only=False).to_params()["allocation"]
'target_percent'
"""

from streambt.sim.allocation import (
    AllIn,
    Allocation,
    Fixed,
    TargetPercent,
    all_in,
    fixed,
    target_percent,
)
from streambt.sim.events import OrderStatus, RejectReason, Side, TradeSide
from streambt.sim.signal_strategy import SignalStrategyKernel

__all__ = [
    "AllIn",
    "Allocation",
    "Fixed",
    "OrderStatus",
    "RejectReason",
    "Side",
    "SignalStrategyKernel",
    "TargetPercent",
    "TradeSide",
    "all_in",
    "fixed",
    "target_percent",
]
