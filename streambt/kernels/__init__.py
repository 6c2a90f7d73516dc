"""Incremental kernels: the streaming form of every op (DESIGN.md section 2)."""

from . import averages, momentum, signals, transforms, volatility  # noqa: F401  (register kernels)
from .base import KERNELS, Kernel, SimulationKernel, State, dumps_state, loads_state

__all__ = ["KERNELS", "Kernel", "SimulationKernel", "State", "dumps_state", "loads_state"]
