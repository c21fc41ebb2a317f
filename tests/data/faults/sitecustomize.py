"""Fault injection for tests/test_faults.py, loaded by Python at start-up when this folder is on PYTHONPATH.

voice-guide has no switch to make its speech engine crash or hang on cue, so the fault tests start the real
`python -m voice_guide` with this folder on PYTHONPATH; every process it starts (the speech workers too)
inherits the environment and so loads this file. It does nothing unless a VG_FAULT_* variable is set:

VG_FAULT_MODE=crash|die|hang, VG_FAULT_AT=N, VG_FAULT_TIMES=K, VG_FAULT_COUNTER=FILE
    Synthesis requests are counted across every worker process (one byte appended to FILE per request).
    Requests N .. N+K-1 fail: `crash` makes the forked engine process die of SIGSEGV, as a crash inside
    libespeak-ng would; `die` kills the worker process itself (SIGKILL, as the OOM killer would); `hang`
    makes the worker stop answering, as an engine stuck in a loop would.
VG_FAULT_OP=voices
    Count (and fail) the requests listing the voices instead of the synthesis requests.
VG_FAULT_TEXT=TEXT
    Count (and fail) only the synthesis requests whose text contains TEXT, whatever order lines are made in.
VG_FAULT_NO_ESPEAK=1
    ctypes cannot load any library named like espeak: what pyttsx3's espeak driver sees when libespeak-ng
    is not installed (used only where a private mount namespace cannot hide the real library).
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _in_speech_worker() -> bool:
    """Run as its file, or (_speech_process.default_command) as `python -c START path/to/_speech_worker.py ...`."""
    script = sys.argv[1] if sys.argv[:1] == ["-c"] and len(sys.argv) > 1 else (sys.argv or [""])[0]
    return script.endswith("_speech_worker.py")


def _count_request() -> int:
    """This request's number (1-based) across all processes: O_APPEND makes each byte its own."""
    fd = os.open(os.environ["VG_FAULT_COUNTER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"x")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


class _FaultyStdin:
    """The worker's request stream; arms a crash or hangs when a faulty request arrives."""

    def __init__(self, stream, mode: str, first: int, times: int):
        self._stream, self._mode, self._first, self._last = stream, mode, first, first + times - 1

    def __iter__(self):
        for line in self._stream:
            if f'"{_OP}"' in line and _TEXT in line and self._first <= _count_request() <= self._last:
                if self._mode == "hang":
                    time.sleep(3600)
                if self._mode == "die":
                    os.kill(os.getpid(), signal.SIGKILL)  # the worker itself is gone, as if the OOM killer took it
                _armed[0] = True
            yield line


_armed = [False]
_OP = os.environ.get("VG_FAULT_OP", "synth")
_TEXT = os.environ.get("VG_FAULT_TEXT", "")


def _install_worker_faults() -> None:
    first, times = int(os.environ["VG_FAULT_AT"]), int(os.environ.get("VG_FAULT_TIMES", "1"))
    sys.stdin = _FaultyStdin(sys.stdin, os.environ["VG_FAULT_MODE"], first, times)
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid == 0 and _armed[0]:
            os.kill(os.getpid(), signal.SIGSEGV)  # the engine process dies the way a C crash kills it
        _armed[0] = False
        return pid

    os.fork = fork


def _install_no_espeak() -> None:
    import ctypes

    real_load = ctypes.CDLL.__init__

    def load(self, name, *args, **kwargs):
        if name and "espeak" in str(name).lower():
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        real_load(self, name, *args, **kwargs)

    ctypes.CDLL.__init__ = load


if os.environ.get("VG_FAULT_NO_ESPEAK"):
    _install_no_espeak()
if _in_speech_worker() and os.environ.get("VG_FAULT_MODE"):
    _install_worker_faults()
