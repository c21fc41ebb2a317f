"""The Piper speech worker: a subprocess that loads one Piper voice model once and speaks line after line.

Run as a script (`python path/to/_piper_worker.py --model VOICE.onnx`), like _speech_worker, whose protocol
and clip format it shares (one JSON object per line; 16-bit mono WAV at SAMPLE_RATE, trimmed alike):
    hello                         -> {"ok": true, "engine": "piper"} or {"ok": false, "error": ...}
    {"op": "synth", "text", "length_scale", "noise_scale", "noise_w_scale", "sentence_gap", "key", "out"}
                                  -> {"ok": true, "frames": n}

onnxruntime runs on one thread per worker: the synthesizer starts a worker per core, and one thread per
model keeps the arithmetic in the same order in every process.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import sys
import time
from typing import Any

try:
    import _speech_worker as clip  # run as a script: its folder is on the path, the package is not imported
except ImportError:  # imported from the package (doctests)
    from . import _speech_worker as clip

INSTALL_HINT = "speech engine Piper is not installed: run `bash scripts/setup.sh --neural` " \
               "(or `pip install 'voice-guide[neural]'`)"
_ERROR_SHOWN = 200  # characters of onnxruntime's error quoted


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    replies = clip._private_stdout()
    try:
        voice = load(options.model)
    except ImportError as error:
        clip._send(replies, {"ok": False, "error": f"{INSTALL_HINT} ({type(error).__name__}: {error})"})
        return 1
    except Exception as error:  # noqa: BLE001 - a model that cannot load: say which and why, in one line
        clip._send(replies, {"ok": False, "error": load_failure_message(options.model, error)})
        return 1
    clip._send(replies, {"ok": True, "engine": "piper", "pid": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if options.stall_on and options.stall_on in request.get("text", ""):
            time.sleep(3600)  # test seam: behave like an engine that hangs
        try:
            reply = synthesize(voice, request)
        except Exception as error:  # noqa: BLE001 - reported to the parent, which raises EngineError
            reply = clip._failure(error)
        clip._send(replies, reply)
    return 0


def load(model: str) -> Any:
    """The voice, with onnxruntime on one thread (see the module docstring)."""
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    with open(model + ".json", encoding="utf-8") as settings:
        config = PiperConfig.from_dict(json.load(settings))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # Without graph optimisations the model loads in 0.2 s of CPU instead of 0.8 (this voice) and speaks as fast:
    # loading is on the way to the first word.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


def load_failure_message(model: str, error: BaseException) -> str:
    """One line saying which model failed to load, why, and what to do.

    >>> load_failure_message("/v/x.onnx", RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF\\nmore"))[:45]
    'Piper voice model /v/x.onnx cannot be loaded '
    """
    said = " ".join(str(error).split())[:_ERROR_SHOWN]
    return (f"Piper voice model {model} cannot be loaded ({type(error).__name__}: {said}); the file is damaged "
            "or not a Piper voice: reinstall the voice or choose another (`voice-guide voices`)")


def synthesize(voice: Any, request: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    from piper import SynthesisConfig

    settings = SynthesisConfig(length_scale=request["length_scale"], noise_scale=request["noise_scale"],
                               noise_w_scale=request["noise_w_scale"], normalize_audio=False)
    rate = voice.config.sample_rate
    gap = np.zeros(round(request["sentence_gap"] * rate), dtype=np.float32)
    pieces: list[Any] = []
    for chunk in voice.synthesize(request["text"], settings):
        if pieces:
            pieces.append(gap)
        pieces.append(chunk.audio_float_array)
    if not pieces:
        raise RuntimeError("the engine produced no audio")
    audio = np.concatenate(pieces)
    if rate != clip.SAMPLE_RATE:
        audio = clip.resample(audio, rate)
    audio = phase_rotated(audio, clip.SAMPLE_RATE)
    pcm = clip.trim(array.array("h", np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16).tobytes()))
    if not pcm:
        raise RuntimeError("the engine produced only silence")
    clip.write_wav(request["out"], pcm, request.get("key", "").encode("utf-8"))  # the entry holds its full key
    return {"ok": True, "frames": len(pcm)}


# Piper's peaks stand 17-23 dB above its loudness (espeak-ng's 15-19): not from a DC offset (-71 to -75 dB),
# low frequencies (nothing below 70 Hz; a high-pass at 60-150 Hz lowers no peak), clicks or inter-sample peaks
# (sample and true peaks agree within 0.1 dB), but from its voiced sounds: a stressed syllable, often the first
# of a line, 3-6 dB louder than the rest, and glottal pulses whose harmonics line up in phase. A phase rotator,
# as broadcast speech processors use, turns the harmonics' phases apart: four second-order all-pass sections,
# whose magnitude response is exactly flat (no change to the spectrum or the loudness), lower the peaks by
# 1.7 dB (median, up to 3.9; scripts/gain_reduction.py measures what that leaves the limiter). espeak-ng's
# waveform is not helped (its peaks rose by 1 dB), so only Piper's output goes through it.
ROTATOR_HZ = (100.0, 200.0, 400.0, 800.0)
ROTATOR_Q = 0.7
ROTATOR_TAIL = 4096  # samples kept after the line for the sections' ringing (gone below 1e-30 well before)


def phase_rotated(audio: Any, rate: int) -> Any:
    """`audio` through the phase rotator (float64, ROTATOR_TAIL samples longer; trimming removes the quiet).

    The cascade's response is evaluated on an FFT grid (numpy has no IIR filter), exact to rounding because
    the zero padding outlasts its impulse response.

    >>> import numpy as np
    >>> pulse = np.zeros(64); pulse[0] = 1.0  # every harmonic in phase
    >>> rotated = phase_rotated(pulse, 22050)
    >>> round(float(np.sum(rotated ** 2)), 6), round(float(np.max(np.abs(rotated))), 2)  # same energy, lower peak
    (1.0, 0.66)
    """
    import numpy as np

    x = np.asarray(audio, dtype=np.float64)
    size = 1 << int(len(x) + ROTATOR_TAIL - 1).bit_length()
    z = np.exp(-1j * np.pi * np.arange(size // 2 + 1) / (size // 2))  # e^{-jw} on the rfft grid
    response = np.ones_like(z)
    for hz in ROTATOR_HZ:
        w = 2 * np.pi * hz / rate
        alpha, cos = np.sin(w) / (2 * ROTATOR_Q), np.cos(w)
        b0, b1, b2 = 1 - alpha, -2 * cos, 1 + alpha  # an all-pass: the denominator is the numerator reversed
        response *= (b0 + b1 * z + b2 * z * z) / (b2 + b1 * z + b0 * z * z)
    return np.fft.irfft(np.fft.rfft(x, size) * response, size)[: len(x) + ROTATOR_TAIL]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the voice's .onnx file (its .onnx.json beside it)")
    parser.add_argument("--stall-on", metavar="TEXT", help="test seam: hang on requests whose text contains TEXT")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
