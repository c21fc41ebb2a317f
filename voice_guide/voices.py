"""Voices: what the engine offers, and which one a routine's `voice:` setting means (pure, no engine here)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

_CLOSE_MATCHES = 3


@dataclass(frozen=True)
class VoiceInfo:
    """One voice the engine offers: `id` selects it; `languages` are tags such as 'en-us'."""

    id: str
    name: str
    languages: tuple[str, ...]
    gender: str | None

    def answers_to(self) -> tuple[str, ...]:
        """Every lower-case string a user may write to mean this voice."""
        return (self.id.lower(), self.name.lower(), *(_tag(lang) for lang in self.languages))


@dataclass(frozen=True)
class Resolution:
    """The voice a request resolved to, and what the user should be told about it."""

    voice: VoiceInfo
    warnings: tuple[str, ...] = ()


def resolve_voice(requested: str | None, voices: Sequence[VoiceInfo], default_id: str) -> Resolution:
    """The voice `requested` means: an id, a name or a language tag, case-insensitively; else the default.

    A language tag picks the engine default when it speaks that language, else the voice with the
    plainest matching tag ('en' -> 'en-gb' before 'en-gb-scotland'). A tag with unknown subtags falls
    back to its shorter form ('en-au' -> 'en'), with a warning.

    >>> us = VoiceInfo("gmw/en-us", "English (America)", ("en-us",), "male")
    >>> resolve_voice("EN-US", [us], "gmw/en-us").voice.name
    'English (America)'
    """
    if not voices:
        raise ValueError("the speech engine offers no voices")
    default = _default_voice(voices, default_id)
    if requested is None or not requested.strip():
        return Resolution(default)
    wanted = requested.strip().lower()
    exact = [v for v in voices if wanted in (v.id.lower(), v.name.lower())]
    if exact:
        return Resolution(exact[0])
    tag = _tag(wanted)
    found = _by_language(tag, voices, default)
    if found is not None:
        return Resolution(found)
    shorter = tag
    while "-" in shorter:
        shorter = shorter.rsplit("-", 1)[0]
        found = _by_language(shorter, voices, default)
        if found is not None:
            note = f"voice {requested!r} not found; using {found.name!r} (language {shorter!r})."
            return Resolution(found, (note,))
    return Resolution(default, (_not_found(requested, wanted, voices, default),))


def _tag(language: str) -> str:
    """A language tag in one spelling: 'en_US' and 'en-us' are the same tag."""
    return language.strip().lower().replace("_", "-")


def _default_voice(voices: Sequence[VoiceInfo], default_id: str) -> VoiceInfo:
    for voice in voices:
        if voice.id.lower() == default_id.lower():
            return voice
    # An engine whose default is not in its own list: its first voice is the most honest choice.
    return voices[0]


def _by_language(tag: str, voices: Sequence[VoiceInfo], default: VoiceInfo) -> VoiceInfo | None:
    """The best voice speaking `tag` or one of its variants ('en' matches 'en-us'), or None."""
    exact = [v for v in voices if tag in (_tag(lang) for lang in v.languages)]
    variants = [v for v in voices if any(_tag(lang).startswith(tag + "-") for lang in v.languages)]
    for group in (exact, variants):
        if default in group:
            return default
        if group:
            # min() keeps list order among equals, so the choice is stable across runs.
            return min(group, key=lambda v: min(len(lang) for lang in v.languages))
    return None


def _not_found(requested: str, wanted: str, voices: Sequence[VoiceInfo], default: VoiceInfo) -> str:
    spellings = {s: v for v in voices for s in v.answers_to()}
    close = difflib.get_close_matches(wanted, list(spellings), n=_CLOSE_MATCHES * 3, cutoff=0.6)
    names: list[str] = []
    for spelling in close:
        name = spellings[spelling].name
        if name not in names:
            names.append(name)
    message = f"voice {requested!r} not found; using {default.name!r}."
    if names:
        return message + " Close matches: " + ", ".join(repr(n) for n in names[:_CLOSE_MATCHES]) + "."
    return message + " Run `voice-guide voices` to list them."
