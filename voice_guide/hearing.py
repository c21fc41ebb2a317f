"""Listening, seen from the player: the listening process started, told what the player plays, its commands
put on the same queue as the keys'.

The process (`_listen_worker`) owns the microphone and the recogniser; only phrases, times and scores come
back. When it cannot start (no microphone, pocketsphinx missing) or fails later, the player hears about it once
(`problem`) and plays on: the keys still work and the reminders are still said.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from . import listening
from .microphone import NO_MICROPHONE
from .commands import BACK, NEXT, PAUSE_ONLY, QUIT, REPEAT, RESUME, TIME_LEFT

# The scheduler's command for each spoken one.
SCHEDULER_COMMAND = {
    listening.PAUSE: PAUSE_ONLY,
    listening.RESUME: RESUME,
    listening.NEXT: NEXT,
    listening.BACK: BACK,
    listening.REPEAT: REPEAT,
    listening.QUIT: QUIT,
    listening.TIME_LEFT: TIME_LEFT,
}
START_TIMEOUT = 20.0  # seconds for the process to load pocketsphinx and open the microphone


class Hearing:
    """The listening process while the player runs.

    `on_heard(message)` is called (on a reader thread) for each command taken, before it is queued; `on_problem`
    once with a one-line reason when listening stops or cannot start.

    >>> import queue
    >>> with Hearing(queue.Queue(), on_problem=print) as hearing:   # doctest: +SKIP
    ...     hearing.sound(time.perf_counter(), time.perf_counter() + 2.0)
    """

    def __init__(self, commands: Any, *, sensitivity: float = listening.DEFAULT_SENSITIVITY,
                 on_heard: Callable[[dict], None] | None = None, on_problem: Callable[[str], None] | None = None,
                 levels: bool = False):
        self._commands = commands
        self._sensitivity = sensitivity
        self._on_heard = on_heard or (lambda message: None)
        self._on_problem = on_problem or (lambda reason: None)
        self._levels = levels
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.working = False
        self.last: dict | None = None  # the last command taken

    def __enter__(self) -> "Hearing":
        argv = [sys.executable, "-m", "voice_guide._listen_worker", f"{self._sensitivity:g}"]
        if self._levels:
            argv.append("--levels")
        try:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, start_new_session=os.name == "posix",
            )
        except OSError as error:
            self._problem(NO_MICROPHONE)
            return self
        self._reader = threading.Thread(target=self._read, name="voice-guide-hearing", daemon=True)
        self._reader.start()
        return self

    def sound(self, start: float, end: float) -> None:
        """The player handed a sound to the device, heard from `start` to `end` (perf_counter seconds)."""
        self._send({"sound": [start, end]})

    def cut(self, when: float) -> None:
        """Every sound of the player stopped at `when`."""
        self._send({"cut": when})

    def _send(self, message: dict) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        with self._lock:
            try:
                process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the process is gone: its reader reports why

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "ok" in message:
                if message["ok"]:
                    self.working = True
                else:
                    self._problem(NO_MICROPHONE)
                self.ready.set()
            elif "heard" in message:
                self.last = message
                self._on_heard(message)
                self._commands.put(SCHEDULER_COMMAND[message["command"]])
            elif "level" in message:
                self._on_heard(message)
            elif "error" in message:
                self._problem("the microphone stopped working; keys still work")
        if not self.ready.is_set():
            self._problem(NO_MICROPHONE)
        self.working = False
        self.ready.set()

    def _problem(self, reason: str) -> None:
        self.working = False
        self._on_problem(reason)

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is None:
            return
        with self._lock:
            try:
                if process.stdin is not None:
                    process.stdin.close()
            except OSError:
                pass
        try:
            process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:  # blocked reading the microphone: it has nothing left to say
            _kill(process)
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        if process.stdout is not None:
            process.stdout.close()
        self._process = None


def _kill(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, 9)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        pass


class ReportingSink:
    """A sink that tells `hearing` about every sound it plays, so nothing heard during it is taken."""

    def __init__(self, sink: Any, hearing: Hearing, sample_rate: int, clock: Callable[[], float] = time.perf_counter):
        self._sink = sink
        self._hearing = hearing
        self._rate = sample_rate
        self._clock = clock

    def play(self, pcm: bytes) -> None:
        start = self._clock()  # told first: the gate is shut before the first sample sounds
        self._hearing.sound(start, start + len(pcm) / 2 / self._rate)
        self._sink.play(pcm)

    def stop_all(self) -> None:
        self._sink.stop_all()
        self._hearing.cut(self._clock())

    def wait_done(self) -> None:
        self._sink.wait_done()

    def last_heard(self) -> str | None:
        """For the live view: the last phrase taken ("" before the first), None when listening has stopped."""
        if not self._hearing.working:
            return None
        return self._hearing.last["heard"] if self._hearing.last else ""
