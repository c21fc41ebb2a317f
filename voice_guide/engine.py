"""The speech engine interface: what the speech stage asks of an engine, whichever it is.

Two engines implement it: espeak-ng through pyttsx3 (the default, `_espeak_engine`) and Piper, an offline
neural voice (`_piper_engine`, the `voice-guide[neural]` extra). An engine turns a voice request into a
`ResolvedVoice`, says how to start a worker process for that voice and what to ask the worker for one line.
Every worker answers with a 16-bit mono WAV at SAMPLE_RATE (see `_speech_worker`), so nothing after the
speech stage (timeline, cache, mixer, player, export) knows which engine spoke.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

from .routine import DEFAULT_ENGINE, DEFAULT_RATE, ENGINE_NAMES
from .voices import VoiceList

ESPEAK, PIPER = ENGINE_NAMES

# Runs one request on a worker of this engine: (request, what it is doing, for messages) -> the reply.
Ask = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass(frozen=True)
class ResolvedVoice:
    """The voice every clip of one synthesizer is made with.

    `engine` names the engine in cache keys and messages; `id` selects the voice again (shown as the
    voice used); `identity` is everything besides rate and text that decides the samples, so it goes into
    every cache key; `source` is where the voice lives (a model file), when the engine needs that;
    `language` is its language tag (like 'en-us'), when the engine knows it.
    """

    engine: str
    id: str
    name: str
    identity: str
    language: str | None = None
    source: str = ""
    warnings: tuple[str, ...] = ()


class Engine(ABC):
    """One speech engine, for one synthesizer (it may keep what it learns, such as model hashes)."""

    name: str  # one of ENGINE_NAMES
    max_workers: int = 4  # worker processes worth starting at most
    # A line costs its worker little next to levelling it: while the caller levels clips on every core (an
    # export), one worker fewer than the usable CPUs (see Synthesizer's `levelling`).
    leaves_a_cpu: bool = False
    default_rate: int = DEFAULT_RATE  # words per minute when neither the routine nor the command line says

    @abstractmethod
    def resolve(self, requested: str | None, ask: Ask) -> ResolvedVoice:
        """The voice `requested` means (None: the engine's default). Raises BadInputError for a voice that
        cannot be found when falling back would be wrong, EngineError when the engine is not installed."""

    @abstractmethod
    def command(self, voice: ResolvedVoice | None) -> tuple[str, ...]:
        """How to start a worker for `voice` (None: before any voice is resolved, for `ask`)."""

    @abstractmethod
    def request(self, voice: ResolvedVoice, rate: int, text: str) -> dict[str, Any]:
        """The worker request that says `text` at `rate` words per minute (the caller adds "out")."""

    @abstractmethod
    def voices(self, ask: Ask) -> VoiceList:
        """Every voice this engine offers here (each with `engine` set to this engine's name), its default
        and its variants."""
