"""Where an export may write: never over a device, a FIFO, a socket, a link or the routine itself; never two
outputs to one file; `-o -` for standard output; every destination checked before any speech is made."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from voice_guide.cli import main
from voice_guide.env import Environment

from .conftest import DATA, ROOT, Result

SHORT = DATA / "routines" / "short.yaml"
TWO_STEPS = """\
title: Small
steps:
  - say: Sit down.
    pause: 1s
  - say: Stop if it hurts.
    pause: 1s
"""


@pytest.fixture
def cold(tmp_path):
    """Run voice-guide in-process with a cache of its own, to tell whether any speech was made."""
    cache = tmp_path / "cold-cache"

    def run(*args: object) -> Result:
        out, err = io.StringIO(), io.StringIO()
        status = main([str(a) for a in args], Environment(stdin=io.StringIO(), stdout=out, stderr=err,
                                                          cache_dir=cache))
        return Result(status, out.getvalue(), err.getvalue())

    run.cache = cache
    return run


@pytest.fixture
def small(tmp_path) -> Path:
    routine = tmp_path / "small.yaml"
    routine.write_text(TWO_STEPS)
    return routine


def assert_refused(result: Result, *phrases: str) -> None:
    assert result.status == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


# --- not regular files --------------------------------------------------------------------------------------


def special_file(folder: Path, kind: str, suffix: str) -> Path:
    """A FIFO, a socket, a symbolic link to a file of someone's, or (as root) a character device."""
    path = folder / f"{kind}{suffix}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "symlink":
        (folder / "theirs.txt").write_text("not yours to replace")
        path.symlink_to(folder / "theirs.txt")
    elif os.geteuid() == 0:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    else:
        pytest.skip("making a device node needs root")
    return path


@pytest.mark.parametrize("kind", ["fifo", "socket", "symlink", "device"])
def test_force_never_replaces_a_device_fifo_socket_or_link(cold, small, tmp_path, kind):
    for option, suffix in (("-o", ".wav"), ("--transcript", ".vtt")):
        target = special_file(tmp_path, kind, suffix)
        before = os.lstat(target)
        args = ["-o", tmp_path / "fine.wav", "--transcript", target] if option == "--transcript" else ["-o", target]
        result = cold("export", small, *args, "--format", "wav", "--force", "-q")
        assert_refused(result, f"{target} is ", "not a regular file: voice-guide never replaces one, even with --force")
        after = os.lstat(target)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
        if kind == "symlink":
            assert (tmp_path / "theirs.txt").read_text() == "not yours to replace"
            (tmp_path / "theirs.txt").unlink()
    assert not (tmp_path / "fine.wav").exists()
    assert not cold.cache.exists(), "speech was made before the destination was refused"


def test_the_routine_itself_is_never_an_output(cold, small):
    before = small.read_bytes()
    result = cold("export", small, "-o", small, "--format", "wav", "--force", "-q")
    assert_refused(result, f"-o {small} is the routine being read; choose another output name")
    os.link(small, small.with_name("hard-link.vtt"))  # the same file under another name
    result = cold("export", small, "-o", small.with_suffix(".wav"), "--transcript", small.with_name("hard-link.vtt"),
                  "--force", "-q")
    assert_refused(result, "hard-link.vtt is the routine being read")
    assert small.read_bytes() == before
    assert not cold.cache.exists()


# --- colliding destinations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, said",
    [
        (["-o", "same.vtt", "--format", "wav", "--transcript", "same.vtt"], "-o and --transcript both name"),
        (["-o", "sp/01 Sit down.mp3", "--split", "sp"], "-o and --split part '01 Sit down.mp3' both name"),
        (["-o", "sp/Small.m3u", "--format", "mp3", "--split", "sp"], "-o and --split playlist both name"),
        (["-o", "sp/../sp/00 Introduction.wav", "--format", "wav", "--split", "sp"],
         "-o and --split part '00 Introduction.wav' both name"),
    ],
    ids=["output-transcript", "output-split-part", "output-playlist", "output-split-part-another-way"],
)
def test_two_outputs_naming_one_file_are_refused_before_any_work(cold, small, tmp_path, args, said):
    (tmp_path / "sp").mkdir()
    rooted = [str(tmp_path / a) if not a.startswith("-") and a not in ("wav", "mp3") else a for a in args]
    result = cold("export", small, *rooted, "-q")
    assert_refused(result, said, "give each output its own name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml", "sp"]
    assert list((tmp_path / "sp").iterdir()) == []
    assert not cold.cache.exists(), "speech was made before the collision was found"


@pytest.mark.parametrize("make", ["a file", "a missing parent"])
def test_a_bad_split_folder_is_refused_before_any_work(cold, small, tmp_path, make):
    folder = tmp_path / "parts"
    if make == "a file":
        folder.write_text("a file")
        said = "is not a folder; --split needs a folder to write the parts into"
    else:
        folder = tmp_path / "missing" / "parts"
        said = "does not exist; create it or choose another --split folder"
    result = cold("export", small, "--split", folder, "-q")
    assert_refused(result, said)
    assert not cold.cache.exists()


def test_a_long_file_name_that_the_file_system_allows_is_accepted(cli, small, tmp_path):
    for length in (229, 255):
        target = tmp_path / ("n" * (length - 4) + ".wav")
        result = cli("export", small, "-o", target, "-q")
        assert result.status == 0, result.stderr
        assert target.stat().st_size > 1000
    assert sorted(len(p.name) for p in tmp_path.iterdir() if p.suffix == ".wav") == [229, 255]


# --- standard output ----------------------------------------------------------------------------------------


def test_dash_writes_the_whole_file_to_standard_output_identical_to_a_file(run_process, cache_root, small, tmp_path):
    reference = tmp_path / "small.flac"
    assert run_process("export", small, "-o", reference, "-q").status == 0
    done = subprocess.run(
        [sys.executable, "-m", "voice_guide", "export", small, "-o", "-", "--format", "flac", "-q"],
        capture_output=True, cwd=ROOT, env={**os.environ, "XDG_CACHE_HOME": str(cache_root)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == reference.read_bytes()
    assert done.stderr == b""


def test_dash_needs_a_format_and_refuses_a_terminal(cold, small):
    result = cold("export", small, "-o", "-", "-q")
    assert_refused(result, "writing to standard output needs --format (wav, flac, ogg or mp3)")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = io.StringIO()
    status = main(["export", str(small), "-o", "-", "--format", "wav"],
                  Environment(stdin=io.StringIO(), stdout=Terminal(), stderr=err, cache_dir=cold.cache))
    assert status == 2
    assert "which is a terminal; redirect it (-o - > routine.wav) or give a file name" in err.getvalue()
    assert not cold.cache.exists()


def test_a_failed_export_to_standard_output_writes_nothing_to_it(small, tmp_path):
    # The engine cannot start: nothing may reach standard output, not even a header.
    done = subprocess.run(
        [sys.executable, "-m", "voice_guide", "export", small, "-o", "-", "--format", "wav", "-q"],
        capture_output=True, cwd=ROOT,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(DATA / "faults"),
             "VG_FAULT_NO_ESPEAK": "1"},
    )
    assert done.returncode == 1, done.stderr
    assert b"speech engine espeak-ng is not installed" in done.stderr
    assert done.stdout == b""
