"""The checks every indicator kernel goes through, for the test modules' tables of cases.

- TA-Lib's exact bits: :func:`step_once` and :func:`assert_bits` (the kernel
  alone, from a fresh state, on awkward inputs: :func:`awkward_series`,
  :func:`nan_bars`);
- chunk-invariance: :func:`assert_chunk_invariant` (whole, row by row and in
  random chunks with the state through ``dumps_state``/``loads_state``, as
  backtrader's ``runonce``/``next`` parity, with random chunking);
- compiled == interpreted: :func:`assert_compiled_equals_interpreted` runs a
  module's ``kernel_outputs()`` again in a subprocess with
  ``STREAMBT_DISABLE_JIT=1`` and compares the bits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streambt.kernels import KERNELS, Kernel
from tests.indicators.harness import bars, gapped_bars
from tests.unit._kernel_helpers import feed, random_bounds, with_nans

try:
    import talib
except ImportError:  # the modules that need it skip themselves
    talib = None  # type: ignore[assignment]

Columns = Mapping[str, np.ndarray]
#: one output array, or ``{output: array}``
Expected = Mapping[str, np.ndarray] | np.ndarray

TALIB_08 = talib is not None and talib.__ta_version__.decode().startswith("0.8.")


def _cpu_has_fma() -> bool:
    try:
        return " fma " in Path("/proc/cpuinfo").read_text() + " "
    except OSError:
        return False


exact_needs_08 = pytest.mark.skipif(not TALIB_08, reason="the kernels mirror TA-Lib C 0.8")
# TA-Lib picks its machine code by CPU when it loads: an FMA build and a plain one
exact_needs_fma = pytest.mark.skipif(
    not (TALIB_08 and _cpu_has_fma()),
    reason="the kernel mirrors TA-Lib 0.8's FMA build, which TA-Lib loads only on a CPU with FMA",
)


def bits(x: np.ndarray) -> np.ndarray:
    """The float64 values as int64 words: equal bits, not just equal numbers (0.0 != -0.0)."""
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


def op_kernel(op: Any, params: Mapping[str, Any]) -> Kernel:
    """The registered kernel of ``op``, with ``params`` validated (defaults filled) as a node's."""
    return KERNELS[op.op_name()](**op.validate(params, op.short))


def kernel_cols(kernel: Kernel, b: Columns) -> dict[str, np.ndarray]:
    """The kernel's input columns from bars ``b``: the close for a one-series kernel."""
    return {"x": b["close"]} if kernel.inputs == ("x",) else {f: b[f] for f in kernel.inputs}


def step_once(kernel: Kernel, cols: Columns) -> dict[str, np.ndarray]:
    """The kernel's outputs over all of ``cols`` in one step from a fresh state."""
    return dict(kernel.step(kernel.init(), cols)[1])


def assert_bits(got: Columns, want: Expected, what: str = "") -> None:
    """Every output in ``want`` equals ``got``'s: the same values and the same NaNs."""
    for output, values in (want if isinstance(want, Mapping) else {"value": want}).items():
        assert np.array_equal(got[output], values, equal_nan=True), f"{what}[{output}]"


def awkward_series(short: int = 20) -> dict[str, np.ndarray]:
    """Closes of the gapped bars as they are, after an RSI's 14 leading NaNs, with NaNs inside,
    with a 1000x print, zeros and a sign flip, ``short`` rows of them, and none."""
    close = gapped_bars(3000, seed=4)["close"].to_numpy()
    inside = close.copy()
    inside[[700, 1500, 1501]] = np.nan
    spiky = close.copy()
    spiky[800] *= 1000.0  # a bad print: running sums keep its residue
    spiky[1200:1210] = 0.0  # zero denominators
    spiky[2000:2100] = -spiky[2000:2100]
    return {
        "close": close,
        "leading_nan": talib.RSI(close, 14),
        "inside_nan": inside,
        "spiky": spiky,
        "short": close[:short],
        "empty": close[:0],
    }


def nan_bars(
    n: int = 1500, seed: int = 4, leading: int = 5, inside: Sequence[int] = (700,)
) -> dict[str, np.ndarray]:
    """Every field of ``n`` gapped bars (a flat stretch from row 1000) with ``leading`` NaNs
    in front and NaNs at the ``inside`` rows."""
    return {f: with_nans(v, leading, inside) for f, v in bars(gapped_bars(n, seed=seed)).items()}


def assert_chunk_invariant(
    kernel: Kernel, cols: Columns, seed: int, max_chunks: Sequence[int] = (3, 40, 400)
) -> None:
    """Fed row by row, or in random chunks of at most each of ``max_chunks`` rows with the
    state through dumps_state/loads_state between them, the kernel gives the bits it gives
    fed whole."""
    n = len(next(iter(cols.values())))
    whole = feed(kernel, cols)
    runs = {"row by row": feed(kernel, cols, range(1, n))}
    rng = np.random.default_rng(seed)
    for most in max_chunks:
        bounds = random_bounds(n, rng, most)
        runs[f"chunks of <= {most} at {bounds}"] = feed(kernel, cols, bounds, roundtrip=True)
    for how, got in runs.items():
        for output in kernel.outputs:
            assert np.array_equal(bits(got[output]), bits(whole[output])), f"{output}, {how}"


def outputs_by_case(
    kernels: Iterable[tuple[str, Kernel]],
    cols: Callable[[Kernel], Columns],
    bounds: Sequence[int] = (),
) -> dict[str, np.ndarray]:
    """``{"<case id>.<output>": values}`` of each kernel fed ``cols(kernel)`` in chunks split
    at ``bounds``: what a module's ``kernel_outputs()`` returns."""
    out = {}
    for cid, kernel in kernels:
        for output, values in feed(kernel, cols(kernel), bounds).items():
            out[f"{cid}.{output}"] = values
    return out


def assert_compiled_equals_interpreted(
    kernel_outputs: Callable[[], Mapping[str, np.ndarray]], tmp_path: Path
) -> None:
    """``kernel_outputs()`` run here (compiled) and in a Python without the JIT: the same bits.

    ``kernel_outputs`` is a module-level function of a test module: the subprocess imports
    it by its module and name, with ``STREAMBT_DISABLE_JIT=1`` set before streambt loads.
    """
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "STREAMBT_DISABLE_JIT": "1"}
    code = (
        "import importlib, sys, numpy as np; "
        "f = getattr(importlib.import_module(sys.argv[2]), sys.argv[3]); "
        "np.savez(sys.argv[1], **f())"
    )
    path = tmp_path / "py.npz"
    where = [kernel_outputs.__module__, kernel_outputs.__qualname__]
    subprocess.run(
        [sys.executable, "-c", code, str(path), *where],
        cwd=root,
        env=env,
        check=True,
        timeout=300,
    )
    interpreted = np.load(path)
    jitted = kernel_outputs()
    assert sorted(interpreted.files) == sorted(jitted)
    for key, values in jitted.items():
        assert np.array_equal(bits(interpreted[key]), bits(values)), key
