"""``streambt data validate`` and ``streambt data ingest``, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import streambt as sb
from streambt.cli import main
from streambt.io.ingest import content_fingerprint, read_manifest

from .conftest import hourly_bars


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    hourly_bars(days=3).to_csv(path, index=False)
    return path


@pytest.fixture
def bad_csv(tmp_path: Path) -> Path:
    df = hourly_bars(days=3)
    df = pd.concat([df.iloc[:10], df.iloc[9:]], ignore_index=True)  # one duplicate
    df.loc[20, "close"] = np.nan
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    return path


def test_validate_clean_file_exits_0(csv_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", str(csv_path), "--interval", "1h"]) == 0
    out = capsys.readouterr().out
    assert "every check passed" in out and "duplicates" in out


def test_validate_bad_file_exits_1_and_policies_apply(
    bad_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_json = tmp_path / "report.json"
    assert main(["data", "validate", str(bad_csv), "--json", str(report_json)]) == 1
    out = capsys.readouterr().out
    assert "duplicates" in out and "error" in out and "row 10" in out
    saved = json.loads(report_json.read_text())
    counts = {c["check"]: c["count"] for c in saved["checks"]}
    assert counts["duplicates"] == 1 and counts["nulls"] == 1 and saved["failed"]
    code = main(
        [
            "data",
            "validate",
            str(bad_csv),
            "--policy",
            "duplicates=repair",
            "--policy",
            "nulls=repair",
        ]
    )
    assert code == 0
    assert main(["data", "validate", str(bad_csv), "--policy", "dupes=drop"]) == 2
    assert 'Did you mean "duplicates"' in capsys.readouterr().err


def test_ingest_writes_partitions_and_manifest_and_reads_back(
    csv_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "dataset"
    assert main(["data", "ingest", str(csv_path), str(dest), "--partition", "symbol,day"]) == 0
    parts = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.parquet"))
    assert parts[0] == "symbol=AAA/date=2024-01-01/part-0.parquet" and len(parts) == 9
    manifest = read_manifest(dest)
    assert manifest["symbols"] == ["AAA", "BBB", "CCC"] and manifest["rows"] == 3 * 72
    assert manifest["start"] == "2024-01-01T00:00:00+00:00"
    assert manifest["end"] == "2024-01-03T23:00:00+00:00"
    assert manifest["partitions"][0] == {
        "symbol": "AAA",
        "date": "2024-01-01",
        "path": "symbol=AAA/date=2024-01-01",
        "rows": 24,
    }
    assert [f["name"] for f in manifest["schema"]][:2] == ["symbol", "ts"]
    assert manifest["validation"]["clean"]
    original = sb.feeds.from_csv(csv_path).load()
    back = sb.feeds.from_parquet(dest).load()
    assert back.equals(original)
    assert manifest["fingerprint"] == content_fingerprint(back)
    # the dataset validates clean, and a second ingest refuses to overwrite without --overwrite
    assert main(["data", "validate", str(dest)]) == 0
    assert main(["data", "ingest", str(csv_path), str(dest)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["data", "ingest", str(csv_path), str(dest), "--overwrite"]) == 0
    assert sorted(p.name for p in dest.iterdir())[:2] == ["date=2024-01-01", "date=2024-01-02"]
    assert sb.feeds.from_parquet(dest).load().equals(original)


def test_ingest_applies_the_policy_and_records_the_report(bad_csv: Path, tmp_path: Path) -> None:
    dest = tmp_path / "fixed"
    assert main(["data", "ingest", str(bad_csv), str(dest)]) == 2  # the error policy stops it
    assert not dest.exists() or not any(dest.iterdir())
    with pytest.warns(sb.feeds.DataWarning, match="duplicates: 1"):
        code = main(
            [
                "data",
                "ingest",
                str(bad_csv),
                str(dest),
                "--policy",
                "duplicates=repair",
                "--policy",
                "nulls=drop",
                "--partition",
                "day",
            ]
        )
    assert code == 0
    manifest = read_manifest(dest)
    checks = {c["check"]: c for c in manifest["validation"]["checks"]}
    assert checks["duplicates"]["action"] == "repaired" and checks["nulls"]["action"] == "dropped"
    assert manifest["rows"] == 3 * 72 - 1
    with pytest.warns(sb.feeds.DataWarning, match="gaps: 1"):  # where the dropped bar was
        assert sb.feeds.from_parquet(dest).load().num_rows == 3 * 72 - 1


def test_console_script_runs_data_validate(csv_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "streambt.cli", "data", "validate", str(csv_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "every check passed" in out.stdout


def test_run_and_explain_still_parse() -> None:
    from streambt.cli import build_parser

    args = build_parser().parse_args(["run", "x.toml", "--backend", "polars"])
    assert args.manifest == "x.toml" and args.backend == "polars"
    args = build_parser().parse_args(["data", "ingest", "a.csv", "out", "--partition", "symbol"])
    assert args.partition == "symbol"
