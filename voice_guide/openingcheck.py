"""What `play`'s opening checks before its chime when openingmemo knows nothing: the routine loaded and within
length, the settings file read, and the chime's samples at the level the whole routine gives it (see opening).

It imports PyYAML, the compiler with its phrases and num2words: opening imports it only when the memo has no
answer, so a repeated start sounds its chime without any of them.
"""

from __future__ import annotations

from pathlib import Path

from . import chime, compiler, loader, openingmemo, user_settings
from .routine import DEFAULT_ENGINE, DEFAULT_RATE, Routine, Voice
from .user_settings import UserSettings


def checked(options: dict, where: Path) -> tuple[Routine, UserSettings, bytes, list[Path], bytes | None] | None:
    """The routine, the settings, the chime's PCM, the files read (loader.inputs) and the routine file's bytes as
    loaded (None: not a regular file, so not one to keep) of a `play` the memo knows nothing about, checked as
    cli checks them; None when this is not one to start here. Raises what cli would report."""
    settings = user_settings.load(where)
    if settings.listen:
        return None
    # Read once: the bytes loaded are the bytes the memo keeps the hash of (the file may change meanwhile).
    text = openingmemo.contents(loader.resolve(options.get("routine")), limit=loader.MAX_BYTES + 1)
    routine = loader.load_argument(options.get("routine"), text=text)
    asked = Voice(voice=options.get("--voice"), rate=options.get("--rate"), volume=options.get("--volume"),
                  engine=options.get("--engine"))
    chime_asked = False if "--no-chime" in options else None
    voice = routine.voice.overridden(asked)
    has_chime = routine.chime if chime_asked is None else chime_asked
    if (voice.engine or DEFAULT_ENGINE) != DEFAULT_ENGINE or not has_chime:
        return None
    compiler.check_length(routine, voice=voice, chime=chime_asked)
    voice = voice.filled_in(DEFAULT_ENGINE, DEFAULT_RATE)  # as the synthesizer fills it in (its `requested`)
    targets = compiler.routine_targets(routine, voice, chime=chime_asked)
    pcm = chime.pcm16(targets.chime_lufs, voice.volume)  # as Mixer.pcm makes a chime event's (not the mixer:
    # its disk cache imports hashlib with OpenSSL and json, which nothing before the chime needs)
    return routine, settings, pcm, loader.inputs(routine), text
