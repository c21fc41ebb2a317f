"""Voices: what the engine offers, and which one a routine's `voice:` setting means (pure, no engine here)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

from .phrases import tag_named

_CLOSE_MATCHES = 3


@dataclass(frozen=True)
class VoiceInfo:
    """One voice an engine offers: `id` selects it; `languages` are tags such as 'en-us'; `engine` names the
    engine that offers it (see engine.ENGINE_NAMES)."""

    id: str
    name: str
    languages: tuple[str, ...]
    gender: str | None
    engine: str = ""

    def answers_to(self) -> tuple[str, ...]:
        """Every lower-case string a user may write to mean this voice."""
        return (self.id.lower(), self.name.lower(), *(_tag(lang) for lang in self.languages))


@dataclass(frozen=True)
class VoiceList:
    """What the engine offers: its voices, the id of the one it uses by default, and voice variants (espeak-ng's
    `klatt`, `f3`: a voice written `VOICE+VARIANT` is that voice with that variant's sound)."""

    voices: tuple[VoiceInfo, ...]
    default_id: str
    variants: tuple[VoiceInfo, ...] = ()

    @property
    def default(self) -> VoiceInfo | None:
        return _default_voice(self.voices, self.default_id) if self.voices else None


@dataclass(frozen=True)
class Resolution:
    """The voice a request resolved to, and what the user should be told about it."""

    voice: VoiceInfo
    warnings: tuple[str, ...] = ()
    found: bool = True  # False: nothing matched and `voice` is the default


def resolve_voice(
    requested: str | None, voices: Sequence[VoiceInfo], default_id: str, variants: Sequence[VoiceInfo] = ()
) -> Resolution:
    """The voice `requested` means: an id, a name or a language tag, case-insensitively; else the default.

    A language tag picks the engine default when it speaks that language, else the voice with the
    plainest matching tag ('en' -> 'en-gb' before 'en-gb-scotland'). A tag with unknown subtags falls
    back to its shorter form ('en-au' -> 'en'), with a warning. `VOICE+VARIANT` is that voice with one of
    `variants` ('en-us+klatt').

    >>> us = VoiceInfo("gmw/en-us", "English (America)", ("en-us",), "male")
    >>> resolve_voice("EN-US", [us], "gmw/en-us").voice.name
    'English (America)'
    >>> klatt = VoiceInfo("klatt", "klatt", ("variant",), None)
    >>> resolve_voice("en-us+klatt", [us], "gmw/en-us", [klatt]).voice.id
    'gmw/en-us+klatt'
    """
    if not voices:
        raise ValueError("the speech engine offers no voices")
    if requested is not None and "+" in requested.strip().lstrip("+"):
        return _with_variant(requested, voices, default_id, variants)
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
    named = tag_named(wanted)  # a language by its own name: 'Deutsch', 'Español'
    found = _by_language(named, voices, default) if named else None
    if found is not None:
        return Resolution(found)
    if any(wanted.lstrip("+") == v.id.lower() for v in variants):
        note = (f"{requested!r} is a voice variant, not a voice; add it to a voice, like "
                f"'en-us+{wanted.lstrip('+')}'; using {default.name!r}.")
        return Resolution(default, (note,), found=False)
    return Resolution(default, (_not_found(requested, wanted, voices, default),), found=False)


def _with_variant(
    requested: str, voices: Sequence[VoiceInfo], default_id: str, variants: Sequence[VoiceInfo]
) -> Resolution:
    """`VOICE+VARIANT`: the voice resolved as usual, with the variant added to its id and name."""
    base_request, variant_request = requested.strip().rsplit("+", 1)
    base = resolve_voice(base_request, voices, default_id)
    wanted = variant_request.strip().lower()
    found = [v for v in variants if wanted in (v.id.lower(), v.name.lower())]
    if not found:
        close = difflib.get_close_matches(wanted, [v.id.lower() for v in variants], n=_CLOSE_MATCHES, cutoff=0.6)
        hint = f" Close matches: {', '.join(repr(c) for c in close)}." if close else ""
        note = (f"voice variant {variant_request.strip()!r} not found; using {base.voice.name!r} without it.{hint} "
                "Run `voice-guide voices` to list the variants.")
        return Resolution(base.voice, base.warnings + (note,))
    variant = found[0]
    voice = VoiceInfo(f"{base.voice.id}+{variant.id}", f"{base.voice.name}+{variant.id}", base.voice.languages,
                      variant.gender or base.voice.gender)
    return Resolution(voice, base.warnings)


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


def _language_name(voice: VoiceInfo) -> str:
    """The language a voice's name starts with: 'English (America)' -> 'english'."""
    return voice.name.replace("_", " ").split("(")[0].strip().lower()


def _not_found(requested: str, wanted: str, voices: Sequence[VoiceInfo], default: VoiceInfo) -> str:
    return f"voice {requested!r} not found; using {default.name!r}." + close_matches(wanted, voices, default)


def close_matches(wanted: str, voices: Sequence[VoiceInfo], default: VoiceInfo | None = None) -> str:
    """' Close matches: ...' naming voices spelt like `wanted`, else where to see them all.

    >>> close_matches("en-uss", [VoiceInfo("gmw/en-us", "English (America)", ("en-us",), "male")])
    " Close matches: 'English (America)'."
    """
    # Language names and tags first ('englsh' is English, not Welsh or Bengali), then any spelling of a voice.
    languages: dict[str, list[VoiceInfo]] = {}
    for voice in voices:
        for spelling in (_language_name(voice), *(_tag(lang) for lang in voice.languages)):
            languages.setdefault(spelling, []).append(voice)
    close = difflib.get_close_matches(wanted, list(languages), n=1, cutoff=0.7)
    if close:
        speakers = sorted(languages[close[0]], key=lambda v: (v != default, min(map(len, v.languages), default=0)))
        candidates = [v.name for v in speakers]
    else:
        spellings = {s: v for v in voices for s in v.answers_to()}
        candidates = [spellings[s].name for s in
                      difflib.get_close_matches(wanted, list(spellings), n=_CLOSE_MATCHES * 3, cutoff=0.6)]
    names: list[str] = []
    for name in candidates:
        if name not in names:
            names.append(name)
    if names:
        return " Close matches: " + ", ".join(repr(n) for n in names[:_CLOSE_MATCHES]) + "."
    return " Run `voice-guide voices` to list them."
