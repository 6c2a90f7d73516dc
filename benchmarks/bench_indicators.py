"""The indicator set on 1 symbol x 1,000,000 bars: streambt against TA-Lib on numpy arrays.

Usage::

    python benchmarks/bench_indicators.py [--bars 1000000] [--repeat 3] [--json PATH]

Three numbers per indicator, all warm (one untimed run first), best of ``--repeat``:

- ``talib``: the TA-Lib function called on numpy float64 arrays;
- ``kernel``: streambt's kernel ``step`` over the same arrays (the streaming form
  a Scan stage runs), and its ratio to TA-Lib;
and in total, ``cb.run()`` on DuckDB with every indicator of the set in one graph
(default relational placement, and ``placement="kernels"``), against the sum of the
TA-Lib calls.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_info, synthetic_bars, time_best_of, write_json  # noqa: E402


@dataclass(frozen=True)
class Spec:
    """One indicator: streambt short name, TA-Lib function, inputs, parameters for each side."""

    short: str
    talib: str
    fields: tuple[str, ...] | str  # bar fields for a column op, or "data" for a data-field op
    params: dict[str, Any] = field(default_factory=dict)
    talib_inputs: tuple[str, ...] = ("close",)
    talib_params: dict[str, Any] = field(default_factory=dict)


S = Spec
SET: list[Spec] = [
    S("sma", "SMA", ("close",), {"window": 30}, talib_params={"timeperiod": 30}),
    S("ema", "EMA", ("close",), {"window": 30}, talib_params={"timeperiod": 30}),
    S("wma", "WMA", ("close",), {"window": 30}, talib_params={"timeperiod": 30}),
    S("dema", "DEMA", ("close",), {"window": 30}, talib_params={"timeperiod": 30}),
    S("tema", "TEMA", ("close",), {"window": 30}, talib_params={"timeperiod": 30}),
    S("trima", "TRIMA", ("close",), {"window": 30}, talib_params={"timeperiod": 30}),
    S("kama", "KAMA", ("close",), {"window": 30}, talib_params={"timeperiod": 30}),
    S("rsi", "RSI", ("close",), {"window": 14}, talib_params={"timeperiod": 14}),
    S("roc", "ROC", ("close",), {"window": 10}, talib_params={"timeperiod": 10}),
    S("mom", "MOM", ("close",), {"window": 10}, talib_params={"timeperiod": 10}),
    S("stddev", "STDDEV", ("close",), {"window": 20}, talib_params={"timeperiod": 20}),
    S(
        "linearreg_slope",
        "LINEARREG_SLOPE",
        ("close",),
        {"window": 14},
        talib_params={"timeperiod": 14},
    ),
    S("macd", "MACD", ("close",), {"fast": 12, "slow": 26, "signal": 9}),
    S(
        "bbands",
        "BBANDS",
        ("close",),
        {"window": 20, "nbdev": 2.0},
        talib_params={"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0},
    ),
    S("atr", "ATR", "data", {"window": 14}, ("high", "low", "close"), {"timeperiod": 14}),
    S("natr", "NATR", "data", {"window": 14}, ("high", "low", "close"), {"timeperiod": 14}),
    S("trange", "TRANGE", "data", {}, ("high", "low", "close")),
    S("adx", "ADX", "data", {"window": 14}, ("high", "low", "close"), {"timeperiod": 14}),
    S("plus_di", "PLUS_DI", "data", {"window": 14}, ("high", "low", "close"), {"timeperiod": 14}),
    S("minus_di", "MINUS_DI", "data", {"window": 14}, ("high", "low", "close"), {"timeperiod": 14}),
    S("cci", "CCI", "data", {"window": 14}, ("high", "low", "close"), {"timeperiod": 14}),
    S("willr", "WILLR", "data", {"window": 14}, ("high", "low", "close"), {"timeperiod": 14}),
    S(
        "stoch",
        "STOCH",
        "data",
        {"fastk": 5, "slowk": 3, "slowd": 3},
        ("high", "low", "close"),
        {"fastk_period": 5, "slowk_period": 3, "slowd_period": 3},
    ),
    S(
        "stochrsi",
        "STOCHRSI",
        ("close",),
        {"window": 14, "fastk": 5, "fastd": 3},
        talib_params={"timeperiod": 14, "fastk_period": 5, "fastd_period": 3},
    ),
    S("aroon", "AROON", "data", {"window": 14}, ("high", "low"), {"timeperiod": 14}),
    S("mfi", "MFI", "data", {"window": 14}, ("high", "low", "close", "volume"), {"timeperiod": 14}),
    S("obv", "OBV", "data", {}, ("close", "volume")),
    S("ad", "AD", "data", {}, ("high", "low", "close", "volume")),
    S(
        "adosc",
        "ADOSC",
        "data",
        {"fast": 3, "slow": 10},
        ("high", "low", "close", "volume"),
        {"fastperiod": 3, "slowperiod": 10},
    ),
    S(
        "sar",
        "SAR",
        "data",
        {"acceleration": 0.02, "maximum": 0.2},
        ("high", "low"),
        {"acceleration": 0.02, "maximum": 0.2},
    ),
    S("donchian", "MAX", "data", {"window": 20}, ("high",), {"timeperiod": 20}),
]


def _op(short: str) -> Any:
    import streambt as sb

    return getattr(sb.ind, short, None)


def _kernel_inputs(op: Any, arrays: dict[str, np.ndarray], spec: Spec) -> dict[str, np.ndarray]:
    if spec.fields == "data":
        return {f: arrays[f] for f in op.data_fields}
    return dict(zip(op.inputs, (arrays[f] for f in spec.fields), strict=True))


def bench(df: pd.DataFrame, repeat: int) -> dict[str, Any]:
    import talib

    import streambt as sb
    from streambt.kernels import KERNELS

    arrays = {c: df[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")}
    rows: list[dict[str, Any]] = []
    for spec in SET:
        op = _op(spec.short)
        fn = getattr(talib, spec.talib)
        t_lib = time_best_of(
            lambda fn=fn, spec=spec: fn(
                *(arrays[f] for f in spec.talib_inputs), **spec.talib_params
            ),
            repeat=repeat,
        )
        row: dict[str, Any] = {"indicator": spec.short, "talib_s": t_lib.best}
        if op is None:
            row["missing"] = True
            rows.append(row)
            continue
        params = op.validate(spec.params, spec.short)
        kernel = KERNELS[op.op_name()](**params)
        inputs = _kernel_inputs(op, arrays, spec)
        t_k = time_best_of(
            lambda kernel=kernel, inputs=inputs: kernel.step(kernel.init(), inputs), repeat=repeat
        )
        row.update(kernel_s=t_k.best, kernel_ratio=t_k.best / t_lib.best)
        rows.append(row)

    present = [s for s in SET if _op(s.short) is not None]

    def run_all(**options: Any) -> Any:
        cb = sb.Cerebro()
        data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
        for spec in present:
            args = [data] if spec.fields == "data" else [data[f] for f in spec.fields]
            cb.add_indicator(_op(spec.short), *args, **spec.params)
        return cb.run(**options).factors.num_rows

    def load_only() -> Any:
        cb = sb.Cerebro()
        cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
        return cb.run().factors.num_rows

    talib_total = sum(r["talib_s"] for r in rows if not r.get("missing"))
    totals = {
        "talib_sum_s": talib_total,
        "load_only_s": time_best_of(load_only, repeat=repeat).best,
        "run_relational_s": time_best_of(run_all, repeat=repeat).best,
        "run_kernels_s": time_best_of(lambda: run_all(placement="kernels"), repeat=repeat).best,
        "kernels_sum_s": sum(r["kernel_s"] for r in rows if "kernel_s" in r),
    }
    return {"rows": rows, "totals": totals, "indicators_in_run": [s.short for s in present]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bars", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    df = synthetic_bars(args.bars, seed=42)
    report = {"bars": args.bars, "machine": machine_info(), **bench(df, args.repeat)}

    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    table = Table(
        title=f"indicators on 1 symbol x {args.bars:,} bars (best of {args.repeat}, warm)"
    )
    for col in ("indicator", "TA-Lib ms", "kernel ms", "kernel / TA-Lib"):
        table.add_column(col, justify="right" if col != "indicator" else "left")
    for r in report["rows"]:
        if r.get("missing"):
            table.add_row(r["indicator"], f"{r['talib_s'] * 1e3:.1f}", "not in streambt", "-")
        else:
            table.add_row(
                r["indicator"],
                f"{r['talib_s'] * 1e3:.1f}",
                f"{r['kernel_s'] * 1e3:.1f}",
                f"{r['kernel_ratio']:.2f}",
            )
    console.print(table)
    t = report["totals"]
    console.print(
        f"sum of TA-Lib calls {t['talib_sum_s']:.3f} s; sum of kernels {t['kernels_sum_s']:.3f} s "
        f"({t['kernels_sum_s'] / t['talib_sum_s']:.2f}x)"
    )
    console.print(
        f"cb.run() with all {len(report['indicators_in_run'])} indicators: relational {t['run_relational_s']:.3f} s "
        f"({t['run_relational_s'] / t['talib_sum_s']:.2f}x TA-Lib), kernels {t['run_kernels_s']:.3f} s "
        f"({t['run_kernels_s'] / t['talib_sum_s']:.2f}x); loading and validating the bars alone {t['load_only_s']:.3f} s"
    )
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
