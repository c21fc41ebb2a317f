"""The outside world as one object, so tests can replace any part of it without patching globals."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from .audio_sink import SimpleaudioSink, Sink
from .cachefiles import default_root
from .printable import printable
from .speech import DEFAULT_TIMEOUT

SPEECH_TIMEOUT_VARIABLE = "VOICE_GUIDE_SPEECH_TIMEOUT"  # seconds per utterance, for very slow machines (and tests)


def _default_speech_timeout() -> float:
    try:
        seconds = float(os.environ.get(SPEECH_TIMEOUT_VARIABLE, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return seconds if seconds > 0 else DEFAULT_TIMEOUT


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "voice-guide"


@dataclass
class Environment:
    """Streams, terminal state, folders, limits and the sound device the program uses; every attribute may be
    replaced by tests.

    >>> import io
    >>> env = Environment(stderr=io.StringIO(), cache_dir=Path("/tmp/c"))
    >>> env.warn("the voice 'x' was not found"); env.stderr.getvalue(), env.mixed_cache_dir.as_posix()
    ("voice-guide: warning: the voice 'x' was not found\\n", '/tmp/c/mixed')
    """

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    cache_dir: Path = field(default_factory=default_root)
    speech_timeout: float = field(default_factory=_default_speech_timeout)  # seconds per utterance
    open_sink: Callable[[], Sink] = SimpleaudioSink  # the sound device, opened when playing starts
    data_dir: Path = field(default_factory=_default_data_dir)  # the user's own files, such as Piper voices
    # False once this run's result depended on a passing state (its speech cache fell back to a temporary
    # folder): such a result is not kept for the next `check` (checkmemo).
    repeatable: bool = True

    @property
    def stdin_isatty(self) -> bool:
        return _isatty(self.stdin)

    @property
    def stdout_isatty(self) -> bool:
        return _isatty(self.stdout)

    @property
    def stderr_isatty(self) -> bool:
        return _isatty(self.stderr)

    @property
    def speech_cache_dir(self) -> Path:
        return self.cache_dir / "speech"

    @property
    def mixed_cache_dir(self) -> Path:
        return self.cache_dir / "mixed"

    @property
    def tags_cache_dir(self) -> Path:
        return self.cache_dir / "tags"

    def warn(self, message: str) -> None:
        """The one writer of warnings: `voice-guide: warning: ...` on stderr."""
        print(f"voice-guide: warning: {printable(message)}", file=self.stderr, flush=True)

    @property
    def voices_dir(self) -> Path:
        """Where the user's own Piper voices are looked for ($XDG_DATA_HOME/voice-guide/voices)."""
        return self.data_dir / "voices"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
