"""One speech worker subprocess seen from the main process: start it, ask it things with a deadline, kill it.

The worker speaks line-based JSON on its stdin/stdout pipes (see _speech_worker). A reader thread
turns its replies into a queue, so waiting with a timeout works the same on every platform.

subprocess and tempfile are imported when a worker is started: a run whose speech is all in the cache (a warm
export or play) starts none and loads neither.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import subprocess

_STDERR_TAIL = 400  # characters of the worker's stderr quoted in an error


# The worker's start: its folder in place of the current directory at the front of the path (as running the file as a
# script would put it), then the module imported by name, so Python uses its cached bytecode (a script is compiled on
# every start: 28 M instructions, a tenth of the worker's start-up). Its arguments follow its path.
_START_WORKER = """
import os, sys
folder = os.path.dirname(os.path.abspath(sys.argv.pop(1)))
if sys.path[:1] == [""]:
    del sys.path[0]
sys.path.insert(0, folder)
import _speech_worker
sys.exit(_speech_worker.main())
"""


def default_command() -> tuple[str, ...]:
    """How to start a worker: this Python, running the worker module from its own folder (not the package).

    >>> default_command()[-1].endswith("_speech_worker.py")
    True
    """
    return (sys.executable, "-c", _START_WORKER, str(Path(__file__).with_name("_speech_worker.py")))


_LIVE_GROUPS: set[int] = set()  # process groups of the workers running now (each worker leads its own)


def kill_all_workers() -> None:
    """Kill every worker still running, with whatever it started: the last thing done before a forced exit."""
    for group in list(_LIVE_GROUPS):
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass


_EARLY: dict[tuple[str, ...], tuple[int, "WorkerProcess"]] = {}  # command -> (the starting process, its worker)


def start_early(command: Sequence[str], options: Sequence[str] = ()) -> None:
    """Start a worker for `command` (with `options`) now, before the caller imports the rest of the program (a cold
    export will want one: its Python and pyttsx3 then start on another core meanwhile); `take_early(command)` hands
    it over. One nobody takes is killed at exit. One that cannot even be started is left to the caller's own try."""
    try:
        worker = WorkerProcess((*command, *options), timeout=0.0, greet=False)
    except Exception:  # noqa: BLE001 - the worker started later reports what goes wrong
        return
    _EARLY[tuple(command)] = (os.getpid(), worker)
    atexit.register(_kill_early)


def take_early(command: Sequence[str]) -> "WorkerProcess | None":
    """The worker `start_early` started for this command in this very process (not in a parent forked from), once."""
    early = _EARLY.pop(tuple(command), None)
    return early[1] if early is not None and early[0] == os.getpid() else None


def started_early(command: Sequence[str]) -> bool:
    """Whether a worker `start_early` started for this command in this very process is still there to be taken."""
    early = _EARLY.get(tuple(command))
    return early is not None and early[0] == os.getpid()


def _kill_early() -> None:
    for pid, worker in list(_EARLY.values()):
        if pid == os.getpid():
            worker.kill()
    _EARLY.clear()


def _reap(process: "subprocess.Popen[bytes]", timeout: float) -> None:
    """Wait up to `timeout` seconds for a killed process to be gone, looking every millisecond: it takes 5-10 ms,
    and Popen.wait looks ever further apart (0.5, 1, 2, 4, 8 ms...): a worker gone after 8 ms is seen gone at 15,
    at the end of every export."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)


class WorkerStalled(Exception):
    """The worker did not answer in time (it has been killed)."""


class WorkerDied(Exception):
    """The worker exited or closed its pipe without answering."""


class WorkerRefused(Exception):
    """The worker started but its engine cannot load; the message says what to install."""


class WorkerProcess:
    """A running worker; `engine` is the pyttsx3 driver it loaded (e.g. 'espeak')."""

    def __init__(self, command: Sequence[str], *, timeout: float, greet: bool = True):
        """Start the worker and (`greet`) wait for its first answer; without, `greeted` waits for it later."""
        import subprocess
        import tempfile

        self._stderr = tempfile.TemporaryFile()
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            # Its own process group, so a kill also takes the engine child it may have forked.
            start_new_session=os.name == "posix",
        )
        if os.name == "posix":
            _LIVE_GROUPS.add(self._process.pid)
        self._reader = threading.Thread(target=self._read, name="speech-worker-reader", daemon=True)
        try:
            self._reader.start()
        except RuntimeError:  # no memory for the thread: the worker must not be left running
            self._tail = ""
            self.kill()
            raise
        self._tail: str | None = None  # what the worker said on stderr, kept once its file is closed
        self.engine = ""
        if greet:
            self.greeted(timeout)

    def greeted(self, timeout: float) -> "WorkerProcess":
        """This worker once it has said that its engine loaded (waiting up to `timeout` seconds for that)."""
        hello = self.receive(timeout, "starting up")
        if not hello.get("ok"):
            self.kill()
            raise WorkerRefused(hello.get("error", "the speech worker could not start"))
        self.engine = hello["engine"]
        return self

    def ask(self, request: dict[str, Any], timeout: float, doing: str) -> dict[str, Any]:
        """Send one request and wait up to `timeout` seconds for its reply; `doing` names it in errors."""
        self.send(request)
        return self.receive(timeout, doing)

    def send(self, request: dict[str, Any]) -> None:
        """Send one request without waiting: the worker answers requests in the order sent, one reply each
        (`receive`), so one sent ahead is there for it the moment it has answered the one before."""
        try:
            assert self._process.stdin is not None
            self._process.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self._process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as error:
            self.kill()
            raise WorkerDied(self._why_it_died(f"could not be sent a request ({error})")) from None

    def close(self) -> None:
        """Let the worker finish (closing its stdin ends its loop); kill it if it lingers."""
        import subprocess

        try:
            if self._process.stdin is not None:
                self._process.stdin.close()
            self._process.wait(timeout=1.0)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        finally:
            self._release()

    def kill(self) -> None:
        """Stop the worker and anything it started, at once."""
        try:
            if os.name == "posix" and (self._process.poll() is None or self._process.pid in _LIVE_GROUPS):
                # Also the first time after the worker itself is gone: a child it forked for a line may still be
                # writing that line's clip, and its group outlives it (its number is not reused while one of it
                # lives). Once released, the group is not signalled again.
                os.killpg(self._process.pid, signal.SIGKILL)
            elif os.name != "posix" and self._process.poll() is None:
                self._process.kill()
        except (ProcessLookupError, PermissionError):
            pass
        _reap(self._process, 5.0)
        self._release()

    def _release(self) -> None:
        """Close our ends of the pipes and the stderr file (after keeping its text): nothing is left to the
        garbage collector, so `python -X dev` has no ResourceWarning to report."""
        if self._process.poll() is not None:
            _LIVE_GROUPS.discard(self._process.pid)
        if self._tail is None:
            self._tail = self._read_stderr()
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:
                pass  # the worker is gone and the pipe broken: nothing to flush
        if self._process.poll() is not None:
            self._reader.join(timeout=1.0)  # the pipe has reached its end: the reader is finishing
            if not self._reader.is_alive() and self._process.stdout is not None:
                self._process.stdout.close()
        self._stderr.close()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._replies.put(line.decode("utf-8"))
        self._replies.put(None)

    def receive(self, timeout: float, doing: str) -> dict[str, Any]:
        """The reply to the oldest request not answered yet, waiting up to `timeout` seconds for it."""
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerStalled(f"did not finish {doing} within {timeout:g} s") from None
        if line is None:
            self._process.wait()
            raise WorkerDied(self._why_it_died(f"stopped while {doing}"))
        return json.loads(line)

    def _why_it_died(self, what: str) -> str:
        code = self._process.poll()
        if code is not None:
            what += f" (exit status {code})"
        tail = self._stderr_tail()
        return f"{what}: {tail}" if tail else what

    def _stderr_tail(self) -> str:
        return self._tail if self._tail is not None else self._read_stderr()

    def _read_stderr(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return " / ".join(lines)[-_STDERR_TAIL:]
