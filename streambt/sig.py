"""Signals: series whose sign is a direction and size a strength."""

from .ops.signals import Cross as cross

__all__ = ["cross"]
