"""docker-compose.yml, checked without a Docker engine: services, images built from this repo's
Dockerfile, ports, volumes, and that every file it mounts or copies exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
ENGINES = ("jobmanager", "taskmanager", "spark-master", "spark-worker")
JOBS = ("flink-job", "spark-job")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _ports(service: dict[str, Any]) -> set[str]:
    return {str(p).split(":")[-1] for p in service.get("ports", [])}


def test_services_and_their_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {*ENGINES, "kafka", "postgres", *JOBS}
    for name in (*ENGINES, *JOBS):
        build = services[name]["build"]
        assert build["context"] == "."
        dockerfile = REPO / build["dockerfile"]
        assert dockerfile.is_file() and dockerfile.parent == REPO / "backends"
        assert services[name]["image"] == services["jobmanager"]["image"]  # one job image
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_the_job_image_installs_this_repository() -> None:
    text = (REPO / "backends" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert "openjdk-17-jre-headless" in text
    assert re.search(r'pip install .*-c constraints\.txt "\.\[[^]]*flink[^]]*spark[^]]*\]"', text)
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _ = line.split()
        for src in sources:
            assert (REPO / src).exists(), f"Dockerfile copies {src}, which is not in the repository"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored  # the build context stays small
    # the engines' homes are inside the packages of the image's own Python
    version = re.search(r"^FROM python:(\d+\.\d+)", text, re.M)
    assert version is not None
    for home in ("FLINK_HOME", "SPARK_HOME"):
        found = re.search(rf"{home}=(\S+)", text)
        assert found is not None, home
        assert found.group(1).startswith(f"/usr/local/lib/python{version.group(1)}/site-packages/")


def test_commands_ports_and_dependencies(compose: dict[str, Any]) -> None:
    s = compose["services"]
    assert "jobmanager.sh" in " ".join(s["jobmanager"]["command"])
    assert "taskmanager.sh" in " ".join(s["taskmanager"]["command"])
    assert "deploy.master.Master" in " ".join(s["spark-master"]["command"])
    assert "spark://spark-master:7077" in s["spark-worker"]["command"]
    assert "8081" in _ports(s["jobmanager"])
    assert {"7077", "8080"} <= _ports(s["spark-master"])
    assert "9092" in _ports(s["kafka"])
    assert "5432" in _ports(s["postgres"])
    published = [p for svc in s.values() for p in svc.get("ports", [])]
    assert len(published) == len({str(p).split(":")[0] for p in published})  # no host port twice
    for name, service in s.items():
        for dep in service.get("depends_on", []):  # a list, or a mapping of conditions
            assert dep in s, f"{name} depends on unknown service {dep}"
    flink_job = " ".join(s["flink-job"]["command"])
    assert "--engine flink --jobmanager jobmanager:8081" in flink_job
    assert (REPO / flink_job.split()[2]).is_file()  # the manifest it runs
    assert "--out /data/runs/" in flink_job  # on the volume the task managers share
    spark_job = " ".join(s["spark-job"]["command"])
    assert "--engine spark --master spark://spark-master:7077" in spark_job
    assert "--out /data/runs/" in spark_job
    # the client-mode driver must not bind to loopback (streambt's default on one machine)
    assert "SPARK_LOCAL_IP=$$(hostname -i)" in spark_job


def test_volumes_and_the_flink_config(compose: dict[str, Any]) -> None:
    s = compose["services"]
    declared = set(compose["volumes"])
    for name, service in s.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    # the cluster, its task managers and the job clients share the run folders
    for name in (
        "jobmanager",
        "taskmanager",
        "flink-job",
        "spark-master",
        "spark-worker",
        "spark-job",
    ):
        assert any(v.startswith("runs:/data/runs") for v in s[name]["volumes"]), name
    config = yaml.safe_load((REPO / "backends" / "flink" / "config.yaml").read_text())
    assert config["jobmanager.rpc.address"] == "jobmanager" == s["jobmanager"]["hostname"]
    assert config["taskmanager.host"] == "taskmanager" == s["taskmanager"]["hostname"]
    assert config["rest.port"] == 8081
    assert str(config["execution.checkpointing.dir"]).startswith("file:///data/flink")
    assert any(v.startswith("flink-state:/data/flink") for v in s["taskmanager"]["volumes"])
