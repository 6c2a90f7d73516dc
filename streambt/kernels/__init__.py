"""Incremental kernels: the streaming form of every op (DESIGN.md section 2)."""

# Importing the families registers their kernels in KERNELS.
from . import (
    averages,
    channels,
    factors,
    momentum,
    oscillators,
    signals,
    statistics,
    transforms,
    trend,
    volatility,
    volume,
)
from .base import KERNELS, Kernel, SimulationKernel, State, dumps_state, loads_state

__all__ = [
    "KERNELS",
    "Kernel",
    "SimulationKernel",
    "State",
    "averages",
    "channels",
    "dumps_state",
    "factors",
    "loads_state",
    "momentum",
    "oscillators",
    "signals",
    "statistics",
    "transforms",
    "trend",
    "volatility",
    "volume",
]
