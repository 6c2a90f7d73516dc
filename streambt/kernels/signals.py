"""Signal kernels: crossings of two series (``a`` crosses above / below ``b``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.errors import DataError
from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Kernel, State, scalar

__all__ = ["CrossKernel"]


@jit
def _cross_run(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray,
    prev_a: np.ndarray,
    prev_b: np.ndarray,
) -> None:
    pa = prev_a[0]
    pb = prev_b[0]
    for i in range(a.shape[0]):
        ca = a[i]
        cb = b[i]
        if np.isnan(pa) or np.isnan(pb) or np.isnan(ca) or np.isnan(cb):
            out[i] = np.nan
        elif pa < pb and ca > cb:
            out[i] = 1.0
        elif pa > pb and ca < cb:
            out[i] = -1.0
        else:
            out[i] = 0.0
        pa = ca
        pb = cb
    prev_a[0] = pa
    prev_b[0] = pb


class CrossKernel(Kernel):
    """+1.0 where ``a`` crosses above ``b``, -1.0 where it crosses below, else 0.0.

    A cross at row ``i`` needs a strict order on both rows: ``a < b`` at
    ``i - 1`` and ``a > b`` at ``i`` (or the reverse), so touching (a tie on
    either row) is no cross. The value is NaN on the first row of the key and
    wherever ``a`` or ``b`` is NaN on row ``i`` or ``i - 1`` (e.g. the warm-up
    of an indicator input).

    Examples
    --------
    >>> k = CrossKernel()
    >>> k.step(k.init(), {"a": np.array([1.0, 3.0, 1.0]), "b": np.full(3, 2.0)})[1]["value"]
    array([nan,  1., -1.])
    """

    inputs = ("a", "b")
    outputs = ("value",)

    def __init__(self) -> None:
        super().__init__()

    def init(self) -> State:
        return {"prev_a": scalar(np.nan), "prev_b": scalar(np.nan)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        a = np.ascontiguousarray(cols["a"], dtype=np.float64)
        b = np.ascontiguousarray(cols["b"], dtype=np.float64)
        if a.shape != b.shape:
            raise DataError(
                f"Cross: inputs a and b must have one value per row, got {a.shape[0]} and "
                f"{b.shape[0]} values; pass both columns of the same batch of rows."
            )
        out = np.empty_like(a)
        _cross_run(a, b, out, state["prev_a"], state["prev_b"])
        return state, {"value": out}
