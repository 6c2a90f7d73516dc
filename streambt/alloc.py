"""Allocations: how a signal and the portfolio state become a position size."""

from .sim.allocation import all_in, fixed, target_percent

__all__ = ["all_in", "fixed", "target_percent"]
