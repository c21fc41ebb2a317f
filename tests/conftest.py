"""Shared test helpers: one way to run the CLI (in-process or as a real process), one shared speech cache."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from voice_guide.cli import main
from voice_guide.env import Environment

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Result:
    """What a voice-guide run gave: exit status and both streams."""

    status: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """One speech cache for the whole session: the real engine runs once per line, not once per test."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def cli(cache_root):
    """Run voice-guide in-process: cli("check", "arch") -> Result."""

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, cache_dir=cache_root / "voice-guide")
        status = main([str(a) for a in args], env)
        return Result(status, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def run_process(cache_root):
    """Run voice-guide as a real process (`python -m voice_guide`), with the shared cache."""

    def run(*args: str, env: dict | None = None, timeout: float = 300, python_flags: tuple = ()) -> Result:
        full_env = {**os.environ, "XDG_CACHE_HOME": str(cache_root), **(env or {})}
        done = subprocess.run(
            [sys.executable, *python_flags, "-m", "voice_guide", *map(str, args)],
            capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run
