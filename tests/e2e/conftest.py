"""Fixtures: a real `irsa serve` on a free loopback port with a fresh data dir,
and the aws CLI / boto3 configured only by the files it writes."""

import os
import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def irsa_bin() -> str:
    path = os.environ.get("IRSA_BIN") or str(ROOT / "target" / "debug" / "irsa")
    if not Path(path).exists():
        raise RuntimeError(f"{path} not found: run `cargo build -p irsa` (scripts/test does)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Irsa:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.proc = None
        self.listen = None
        self.env = None

    def start(self, listen: str | None = None):
        self.listen = listen or f"127.0.0.1:{free_port()}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir / "server.log"
        self.proc = subprocess.Popen(
            [irsa_bin(), "serve", "--data-dir", str(self.data_dir), "--listen", self.listen],
            stdout=subprocess.PIPE,
            stderr=open(self.log, "a"),
            text=True,
            env={**os.environ, "IRSA_LOG": "debug"},
        )
        exports = [self.proc.stdout.readline().strip() for _ in range(2)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        for line in exports:
            assert line.startswith("export "), line
            key, value = line[len("export "):].split("=", 1)
            env[key] = value
        self.env = env
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                host, port = self.listen.rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("irsa serve did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def aws(self, *args, profile=None, check=True):
        cmd = ["aws", *args] + ([] if "--output" in args else ["--output", "json"])
        if profile:
            cmd += ["--profile", profile]
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        if check:
            assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stderr}\nserver log:\n{self.log.read_text()[-3000:]}"
        return out

    def session(self, profile="default"):
        # boto3 reads the same files the CLI does, through the same variables,
        # which the `irsa` fixture sets for the test's duration.
        return boto3.session.Session(profile_name=profile)


@pytest.fixture
def irsa(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    server = Irsa(tmp_path / "data").start()
    for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(key, server.env[key])
    yield server
    server.stop()


@pytest.fixture
def iam(irsa):
    return irsa.session().client("iam")
