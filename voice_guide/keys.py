"""The keyboard, when a terminal is attached: single key presses as commands, the terminal restored on exit."""

from __future__ import annotations

import atexit
import os
import select
import threading
from typing import Any, TextIO

from .commands import BACK, NEXT, PAUSE, QUIT

KEYS = {" ": PAUSE, "p": PAUSE, "n": NEXT, "b": BACK, "q": QUIT}

# What the live view shows, longest first: it takes the longest that fits the terminal.
HELP_FORMS = (
    "space pause · n next · b back · q quit · Ctrl+C stop now",
    "space pause · n next · b back · q quit",
    "space · n · b · q quit",
    "q quit",
)


def command_for(key: str) -> str | None:
    """The command a key press means, or None.

    >>> command_for("N"), command_for(" "), command_for("x")
    ('next', 'pause', None)
    """
    return KEYS.get(key.lower())


class KeyReader:
    """Reads keys from a terminal without Enter or echo, putting commands on `commands` (a queue.Queue).

    Ctrl+C still raises KeyboardInterrupt (only line editing and echo are turned off); the terminal's
    settings are put back on exit, also when the program is stopped by an exception.

    >>> import queue, sys
    >>> with KeyReader(sys.stdin, queue.Queue()):  # doctest: +SKIP
    ...     pass
    """

    def __init__(self, stream: TextIO, commands: Any):
        self._stream = stream
        self._commands = commands
        self._fd: int | None = None
        self._saved: list | None = None
        self._stop_read, self._stop_write = -1, -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "KeyReader":
        try:
            import termios
            import tty

            fd = self._stream.fileno()
            if _in_background(fd):
                return self  # `voice-guide play &`: changing the terminal would stop the job (SIGTTOU)
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd, termios.TCSANOW)
        except (ImportError, OSError, ValueError, AttributeError):
            self._saved = None  # not a real terminal (or not POSIX): hands-free
            return self
        self._fd = fd
        atexit.register(self._restore)
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._read, name="voice-guide-keys", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            os.write(self._stop_write, b"x")
            self._thread.join(timeout=1.0)
            os.close(self._stop_read)
            os.close(self._stop_write)
            self._thread = None
        self._restore()
        atexit.unregister(self._restore)

    def _restore(self) -> None:
        if self._fd is None or self._saved is None:
            return
        import termios

        try:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        except (OSError, termios.error):
            pass  # the terminal went away: nothing left to restore
        self._saved = None

    def _read(self) -> None:
        assert self._fd is not None
        while True:
            ready, _, _ = select.select([self._fd, self._stop_read], [], [])
            if self._stop_read in ready:
                return
            try:
                data = os.read(self._fd, 64)
            except OSError:
                return
            if not data:
                return  # end of input: hands-free from here on
            for key in data.decode("utf-8", "replace"):
                command = command_for(key)
                if command is not None:
                    self._commands.put(command)


def _in_background(fd: int) -> bool:
    """Whether we run in the background of the terminal `fd` controls."""
    try:
        return os.tcgetpgrp(fd) != os.getpgrp()
    except OSError:
        return False  # not our controlling terminal: no job control to fear
