"""Compile: graph -> plan, and the Ibis lowering of windowed/elementwise ops."""

from .plan import Plan, Stage, build_plan

__all__ = ["Plan", "Stage", "build_plan"]
