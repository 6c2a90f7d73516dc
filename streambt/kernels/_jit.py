"""The numba switch for hot kernels.

Every kernel core is written once as plain Python over numpy arrays and
compiled with numba. Setting ``STREAMBT_DISABLE_JIT=1`` (or numba's own
``NUMBA_DISABLE_JIT=1``) runs the same source as plain Python, which is how
the tests check that the compiled and interpreted forms agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

JIT_DISABLED = os.environ.get("STREAMBT_DISABLE_JIT", "0") == "1" or (
    os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"
)


def jit(func: F) -> F:
    """Compile ``func`` with ``numba.njit(cache=True)`` unless JIT is disabled."""
    if JIT_DISABLED:
        return func
    import numba

    return cast(F, numba.njit(cache=True, nogil=True)(func))
