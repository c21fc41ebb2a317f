"""voice-guide: reads a timed routine aloud with offline text-to-speech, live or into an audio file.

    >>> import voice_guide
    >>> routine = voice_guide.load("arch")              # doctest: +SKIP
    >>> voice_guide.export(routine, "arch.mp3")         # doctest: +SKIP

The API functions live in `voice_guide.api`; they are imported on first use so that `voice-guide --help`
and `voice-guide check` stay quick.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load", "compile", "check", "export", "play", "__version__"]


def __getattr__(name: str):
    if name in {"load", "compile", "check", "export", "play"}:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'voice_guide' has no attribute {name!r}")
