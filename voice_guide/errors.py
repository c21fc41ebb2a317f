"""The exceptions voice-guide raises. The CLI maps them to exit codes; library code never prints."""

from __future__ import annotations

from collections import namedtuple


class VoiceGuideError(Exception):
    """Base of every error voice-guide raises on purpose."""

    exit_code = 1


class BadInputError(VoiceGuideError):
    """The user gave something we cannot use: a routine, an argument, an output path."""

    exit_code = 2


class Problem(namedtuple("Problem", ("line", "column", "message"))):
    """One thing wrong in a routine file, with its 1-based `line` and `column` (0 when unknown). A named tuple,
    immutable: the loader is imported before the first sound, and a named tuple's class is made in an eighth of a
    frozen dataclass's instructions."""

    __slots__ = ()

    def located(self, path: str) -> str:
        if self.line <= 0:
            return f"{path}: {self.message}"
        return f"{path}:{self.line}:{self.column}: {self.message}"


class RoutineError(BadInputError):
    """A routine file is malformed; holds every problem found, each with its position."""

    MAX_SHOWN = 20

    def __init__(self, path: str, problems: list[Problem] | tuple[Problem, ...]):
        self.path = path
        self.problems = tuple(sorted(problems, key=lambda p: (p.line, p.column)))
        shown = [p.located(path) for p in self.problems[: self.MAX_SHOWN]]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            shown.append(f"{path}: ... and {hidden} more problem{'s' if hidden > 1 else ''}")
        super().__init__("\n".join(shown))


class OutputError(BadInputError):
    """An output path cannot be used as asked (exists without --force, folder missing, unknown extension)."""


class OutputStreamError(VoiceGuideError, OSError):
    """Standard output cannot be written (a full disk, an I/O error); an OSError too, for code that only
    needs to know that the stream failed."""


class EngineError(VoiceGuideError):
    """The speech engine is missing, failed, or hung."""


class AudioDeviceError(VoiceGuideError):
    """No audio device, or it failed while playing."""


class NoAudioDeviceError(AudioDeviceError):
    """The sound device refused the very first sound: there is none (the CLI suggests exporting instead)."""
