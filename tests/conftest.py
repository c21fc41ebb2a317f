"""Shared test helpers: one way to run the CLI (in-process or as a real process), one shared speech cache, and the
fault tests' ways to run voice-guide with faults injected, with their fixtures."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
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


@pytest.fixture(autouse=True)
def _signal_mask_unchanged():
    """A test that leaves signals blocked in this process (opening.start holds the stop signals until cli lets
    them in) would pass the block on to every later test's subprocesses, which then ignore SIGTERM: fail it."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert after == before, f"the test left signals blocked: {sorted(after - before)}"


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


# --- running voice-guide with faults injected (tests/data/faults/sitecustomize.py) -----------------------------

SHORT = DATA / "routines" / "short.yaml"  # 1:18, eleven lines of speech
FAULTS = DATA / "faults"
LONG_ROUTINE = """\
title: One long hold
steps:
  - say: Press gently.
    hold: 2h
"""


def process_env(cache: Path, speech_timeout: float | None = None, **faults: str) -> dict[str, str]:
    """The environment of one run: its own cache, the fault injector on the path, `faults` as VG_FAULT_*."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(FAULTS)}
    if speech_timeout is not None:
        env["VOICE_GUIDE_SPEECH_TIMEOUT"] = str(speech_timeout)  # seconds per utterance, so a hang takes seconds
    env.update({f"VG_FAULT_{name.upper()}": str(value) for name, value in faults.items()})
    return env


def voice_guide(*args: object, cache: Path, timeout: float = 120, prefix: tuple[str, ...] = (), **faults) -> Result:
    """Run `python -m voice_guide ARGS` to the end; `prefix` wraps the command (e.g. in unshare)."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "voice_guide", *map(str, args)],
        capture_output=True, text=True, env=process_env(cache, **faults), timeout=timeout, cwd=ROOT,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def cache_files(cache: Path) -> dict[str, str]:
    """Every file under voice-guide's cache folder (speech clips, mixed clips, records, temporary files), by
    path inside it, with the hash of its bytes."""
    root = cache / "voice-guide"
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextmanager
def tmpfs(mount_point: Path, options: str):
    """A tmpfs mounted at `mount_point` for the block (skips the test where mounting is not allowed)."""
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def _espeak_libraries() -> list[Path]:
    """The real files of libespeak-ng that the dynamic loader could find."""
    found = set()
    for folder in ("/usr/lib", "/usr/local/lib", "/lib"):
        for path in Path(folder).glob("**/libespeak*.so*"):
            if path.is_file():
                found.add(path.resolve())
    return sorted(found)


# --- for the fault tests: shared, clean starting points ------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The short routine exported once from a cold private cache: (the cache, its files, the WAV's bytes)."""
    cache = tmp_path_factory.mktemp("clean-cache")
    out = tmp_path_factory.mktemp("clean-export") / "short.wav"
    result = voice_guide("export", SHORT, "-o", out, "-q", cache=cache)
    assert result.status == 0, result.stderr
    return cache, cache_files(cache), out.read_bytes()


@pytest.fixture
def warm_cache(clean, tmp_path) -> Path:
    """A private copy of the clean cache, for a test to damage or to check is left alone."""
    cache = tmp_path / "warm-cache"
    shutil.copytree(clean[0], cache)
    return cache


@pytest.fixture
def out_dir(tmp_path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def long_routine(tmp_path_factory):
    """A two-hour hold (MP3 takes long enough to encode to be interrupted), and a cache warm for it."""
    folder = tmp_path_factory.mktemp("long")
    routine = folder / "long.yaml"
    routine.write_text(LONG_ROUTINE)
    cache = folder / "cache"
    result = voice_guide("check", routine, cache=cache)
    assert result.status == 0, result.stderr
    return routine, cache


@pytest.fixture(scope="module")
def without_espeak():
    """How to run voice-guide on a system without libespeak-ng: (command prefix, fault variables).

    Preferably a private mount namespace with /dev/null mounted over the library, so dlopen fails for real
    ("file too short"), exactly as for a user who never installed it; where unshare is not permitted, the
    fault injector makes ctypes refuse to load it.
    """
    libraries = _espeak_libraries()
    mounts = " && ".join(f"mount --bind /dev/null {lib}" for lib in libraries)
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", f"{mounts} && exec espeak-ng --version"],
        capture_output=True, text=True,
    ) if libraries and shutil.which("unshare") else None
    if probe is not None and "error while loading shared libraries" in probe.stderr:
        script = f'{mounts} && exec "$@"'
        return ("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"), {}
    return (), {"no_espeak": "1"}


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: room for a small file, not for three seconds of WAV."""
    with tmpfs(tmp_path / "tiny", "size=64k") as mount_point:
        yield mount_point
