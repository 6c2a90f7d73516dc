"""The CLI and the TOML manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import streambt as sb
from streambt.cli import main
from streambt.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sma_cross.toml"


def test_run_writes_the_folder_and_prints_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "sma_cross" in out and "Sharpe" in out
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert metrics[0]["strategy"] == "sma_cross" and metrics[0]["trades"] > 0
    assert (tmp_path / "demo" / "trades.csv").is_file()


def test_manifest_run_equals_the_python_api() -> None:
    m = load_manifest(EXAMPLE)
    via_manifest = m.cerebro.run()
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(
        sb.feeds.synthetic("DEMO", bars=2500, seed=42, start="2015-01-01", interval="1D")
    )
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow),
        sb.alloc.all_in(long_only=True),
        name="sma_cross",
    )
    direct = cb.run()
    assert via_manifest.trades.equals(direct.trades)
    assert m.refs["fast"].id == fast.id


def test_any_talib_function_and_multi_output_refs_in_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        "[[data]]\nid='p'\nkind='synthetic'\nbars=300\n"
        "[indicators]\n"
        "m = { op = 'talib', function = 'MACD', input = 'p.close', fastperiod = 5 }\n"
        "bb = { op = 'bbands', input = 'p.close', window = 20 }\n"
        "x = { op = 'cross', inputs = ['m.macd', 'm.macdsignal'] }\n"
        "[[strategies]]\nname='s'\nsignal='x'\n"
    )
    m = load_manifest(path)
    res = m.cerebro.run()
    import talib

    close = res.values("close")
    np.testing.assert_allclose(
        res.values(m.refs["m"]["macd"]), talib.MACD(close, fastperiod=5)[0], rtol=1e-9
    )
    assert res.values(m.refs["bb"]["upper"]).shape == close.shape
    path.write_text(
        "[[data]]\nid='p'\nkind='synthetic'\n[indicators]\nm = { op = 'talib', input = 'p.close' }\n"
    )
    with pytest.raises(sb.ManifestError, match="needs function = 'NAME'"):
        load_manifest(path)


def test_explain_and_stream_mode_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(EXAMPLE)]) == 0
    text = capsys.readouterr().out
    assert "relational: one fused Ibis expression" in text and "recursive" in text
    assert main(["run", str(EXAMPLE), "--mode", "stream", "--out", str(tmp_path / "s")]) == 0


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("streambt")
    done = subprocess.run(
        [str(exe), "explain", str(EXAMPLE), "--mode", "stream"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "micro-batch" in done.stdout


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[[data]]\nid='p'\nkind='excel'\n",
            r"\[data.0\] kind must be one of csv, parquet, synthetic",
        ),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[indicators]\nf={op='smaa', input='p.close', window=3}\n",
            r"unknown op 'smaa'. Did you mean \"sma\"\?",
        ),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[indicators]\nf={op='sma', input='q.close', window=3}\n",
            r"unknown reference 'q'",
        ),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[indicators]\nf={op='sma', input='p.close', window=0}\n",
            r"\[indicators.f\] sma\(close, window=0\).*window must be a positive integer",
        ),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[indicators]\na={op='sma', input='b', window=2}\nb={op='sma', input='a', window=2}\n",
            r"cycle",
        ),
        ("[data]\nid='p'\n", r"write \[\[data\]\] \(two brackets\)"),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[strategy]\n",
            r"unknown table. Did you mean \"strategies\"\?",
        ),
        ("[[data]]\nid='p'\nkind='csv'\npath='nope.csv'\n", r"does not exist"),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[[strategies]]\nsignal='p.close'\nallocation={kind='all_out'}\n",
            r"allocation kind must be one of all_in, fixed, target_percent",
        ),
        ("x = [", r"not valid TOML"),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[[strategies]]\nsignal='p.close'\nstop_los=0.1\n",
            r"unknown key 'stop_los'. Did you mean \"stop_loss\"\?",
        ),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[[strategies]]\nsignal='p.close'\nsizer={kind='riskk'}\n",
            r"sizer kind must be one of all_in, fixed, target_percent, percent_equity, risk",
        ),
        (
            "[[data]]\nid='p'\nkind='synthetic'\n[indicators]\nr={op='roc', input='p.close', window=3}\n"
            "[[strategies]]\nsignal='r'\nstop_loss=2.0\n",
            r"\[strategies.0\] .*stop_loss must be None or a fraction",
        ),
        (
            "[broker]\nfees={model='pct', rate=0.1}\n[[data]]\nid='p'\nkind='synthetic'\n",
            r"\[broker\] fees\(model='pct'\): the model must be one of",
        ),
        (
            "[portfolio]\nleverage=2\n[[data]]\nid='p'\nkind='synthetic'\n",
            r"\[portfolio\] bad setting: .*unexpected keyword argument 'leverage'",
        ),
    ],
)
def test_bad_manifests_name_the_table_and_the_fix(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(toml)
    with pytest.raises(sb.ManifestError, match=message):
        load_manifest(path)


def test_cli_reports_errors_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_portfolio_manifest_equals_the_python_api() -> None:
    m = load_manifest(ROOT / "examples" / "sma_brackets.toml")
    via_manifest = m.cerebro.run()
    cb = sb.Cerebro(cash=100_000)
    data = cb.add_data(
        sb.feeds.synthetic("DEMO", bars=2500, seed=42, start="2015-01-01", interval="1D")
    )
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    atr = cb.add_indicator(sb.ind.atr, data, window=14)
    up = cb.add_indicator(sb.sig.cross, fast, slow)
    down = cb.add_indicator(sb.sig.cross, slow, fast)
    cb.add_strat(up, sb.sizers.risk(0.01), name="trend", stop_loss=0.02, take_profit=0.04, weight=3)
    cb.add_strat(
        down,
        sb.sizers.volatility_target(0.01),
        name="reversal",
        atr=atr,
        long_only=False,
        trailing_stop=0.03,
        weight=1,
    )
    cb.broker(fees=sb.fees.percent(0.001), slippage=sb.slippage.bps(2))
    cb.portfolio(max_gross_exposure=1.5, instruments={"DEMO": sb.Instrument(tick_size=0.01)})
    direct = cb.run()
    assert via_manifest.trades.num_rows > 10
    assert via_manifest.trades.equals(direct.trades)
    assert via_manifest.equity.equals(direct.equity)
    assert {"trend", "reversal", "portfolio"} == set(
        via_manifest.metrics.column("strategy").to_pylist()
    )


def test_a_manifest_sweeps_a_stop_loss(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "sma_brackets.toml").read_text()
    text = text.replace("stop_loss = 0.02", 'stop_loss = "$sl"') + "\n[sweep]\nsl = [0.02, 0.05]\n"
    path = tmp_path / "swept.toml"
    path.write_text(text)
    res = load_manifest(path).cerebro.run()
    assert set(res.ranking("total_return").column("sl").to_pylist()) == {0.02, 0.05, None} - {None}
