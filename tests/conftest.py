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


def _expect(result: Result, status: int | None, args) -> Result:
    """Fail the test on an exit status it did not ask for (`status=None` takes any)."""
    if status is not None and result.status != status:
        pytest.fail(
            f"voice-guide {' '.join(map(str, args))} exited {result.status}, expected {status}\n"
            f"stderr:\n{result.stderr}", pytrace=False,
        )
    return result


@pytest.fixture
def cli(cache_root):
    """Run voice-guide in-process: cli("check", "arch") -> Result; fails unless it exits `status` (default 0).

    `env` replaces the whole environment (its stdout and stderr are what the Result reports, when StringIO)."""

    def run(*args: str, status: int | None = 0, env: Environment | None = None) -> Result:
        if env is None:
            env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                              cache_dir=cache_root / "voice-guide")
        code = main([str(a) for a in args], env)
        text = [s.getvalue() if isinstance(s, io.StringIO) else "" for s in (env.stdout, env.stderr)]
        return _expect(Result(code, *text), status, args)

    return run


@pytest.fixture
def run_process(cache_root):
    """Run voice-guide as a real process (`python -m voice_guide`), with the shared cache; fails unless it exits
    `status` (default 0)."""

    def run(*args: str, env: dict | None = None, timeout: float = 300, python_flags: tuple = (),
            status: int | None = 0) -> Result:
        full_env = {**os.environ, "XDG_CACHE_HOME": str(cache_root), **(env or {})}
        done = subprocess.run(
            [sys.executable, *python_flags, "-m", "voice_guide", *map(str, args)],
            capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT,
        )
        return _expect(Result(done.returncode, done.stdout, done.stderr), status, args)

    return run
