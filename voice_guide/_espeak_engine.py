"""The default engine: espeak-ng through pyttsx3 (the platform's pyttsx3 driver elsewhere), in `_speech_worker`.

Voices are listed by a worker (the engine knows them; pyttsx3 is never imported here); the choice is kept in
the cache per request and trusted only for the espeak-ng installation it was made with.
"""

from __future__ import annotations

import glob
import os
import sys
from typing import Any

from ._speech_cache import ClipCache
from ._speech_process import default_command
from .engine import ESPEAK, Ask, Engine, ResolvedVoice
from .voices import VoiceInfo, VoiceList, resolve_voice

# Changes when the rules for matching a request to a voice change, so choices made by older rules are not reused.
_RESOLUTION_RULES = "own-language-names-2"
# Where distributions put espeak-ng's data; its phoneme table is replaced by every install or upgrade.
DATA_GLOBS = ("/usr/lib/*/espeak-ng-data/phontab", "/usr/*/espeak-ng-data/phontab",
                      "/usr/local/*/espeak-ng-data/phontab", "/opt/homebrew/share/espeak-ng-data/phontab")


class EspeakEngine(Engine):
    """espeak-ng through pyttsx3; an unknown voice falls back to the engine's default, with a warning."""

    name = ESPEAK
    max_workers = 4  # espeak is fast; more processes mostly cost start-up time and memory
    leaves_a_cpu = True  # ~20 ms of CPU a line against ~17 ms levelling it, and 0.1 s to start a worker

    def __init__(self, cache: ClipCache):
        self._cache = cache

    def resolve(self, requested: str | None, ask: Ask) -> ResolvedVoice:
        key = [sys.platform, _RESOLUTION_RULES, requested]
        record = self._cache.load_record(key)
        installed = _engine_fingerprint()
        if record is not None and _record_is_current(record, installed):
            return ResolvedVoice(record["engine"], record["id"], record["name"], record["id"],
                                 language=record.get("language"), warnings=tuple(record["warnings"]))
        # No record, a damaged one, or one made before the engine's voices were installed or upgraded:
        # the voice it names may be gone, so ask the engine again.
        reply = ask({"op": "voices"}, "listing voices")
        listed = _voice_list(reply)
        found = resolve_voice(requested, listed.voices, listed.default_id, listed.variants)
        language = found.voice.languages[0] if found.voice.languages else None
        voice = ResolvedVoice(reply["engine"], found.voice.id, found.voice.name, found.voice.id,
                              language=language, warnings=found.warnings)
        self._cache.store_record(key, {"engine": voice.engine, "id": voice.id, "name": voice.name,
                                       "language": language, "warnings": list(voice.warnings),
                                       "installed": installed})
        return voice

    def command(self, voice: ResolvedVoice | None) -> tuple[str, ...]:
        return default_command()

    def request(self, voice: ResolvedVoice, rate: int, text: str) -> dict[str, Any]:
        return {"op": "synth", "text": text, "voice": voice.id, "voice_name": voice.name, "rate": rate}

    def voices(self, ask: Ask) -> VoiceList:
        return _voice_list(ask({"op": "voices"}, "listing voices"))


def _voice_list(reply: dict[str, Any]) -> VoiceList:
    def info(raw: dict[str, Any]) -> VoiceInfo:
        return VoiceInfo(raw["id"], raw["name"], tuple(raw.get("languages") or ()), raw.get("gender"), ESPEAK)

    return VoiceList(tuple(info(v) for v in reply["voices"]), str(reply.get("default") or ""),
                     tuple(info(v) for v in reply.get("variants") or ()))


def _engine_fingerprint() -> str:
    """Which installation of the engine's voices this is (paths, sizes and times of espeak-ng's data), so a
    cached voice choice is trusted only for the installation it was made with. Cheap: a few stat() calls."""
    found = []
    for pattern in DATA_GLOBS:
        for path in sorted(glob.glob(pattern)):
            try:
                status = os.stat(path)
            except OSError:
                continue
            found.append(f"{path}:{status.st_size}:{status.st_mtime_ns}")
    return "|".join(found) or sys.platform


def _record_is_current(record: dict[str, Any], installed: str) -> bool:
    return (
        record.get("installed") == installed
        and isinstance(record.get("engine"), str)
        and all(isinstance(record.get(key), str) and record[key] for key in ("id", "name"))
        and isinstance(record.get("language"), (str, type(None)))
        and isinstance(record.get("warnings"), list)
        and all(isinstance(w, str) for w in record["warnings"])
    )
