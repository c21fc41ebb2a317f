"""Loudness: clips levelled on their own add up to a file at -16 LUFS with true peaks under -1 dBFS,
measured by an independent meter (ffmpeg's EBU R128 filter)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_guide.audiofile import write_all
from voice_guide.chime import chime_samples
from voice_guide.loudness import (
    CHIME_BELOW_VOICE_LU,
    FILE_ALLOWANCE_LU,
    LIMITER_CEILING_DB,
    integrated_loudness,
    level_chime,
    level_speech,
    limiter_gain,
    true_peak,
)

from .probes import ebur128, espeak_clip, needs_espeak, needs_ffmpeg

RATE = 22050
LINES = (
    "Arch self-massage. About five minutes.",
    "Sit with your foot resting on your opposite thigh.",
    "Press along the inside of your arch with both thumbs, from heel toward ankle.",
    "Two minutes left.",
    "Halfway.",
    "Go.",
    "If you feel any sharp pain, stop right away.",
)


def db(linear: float) -> float:
    return 20 * np.log10(linear)


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    return {text: espeak_clip(text) for text in LINES}


@needs_espeak
@pytest.mark.parametrize("text", LINES)
def test_each_spoken_line_is_brought_to_the_target_with_peaks_under_the_ceiling(clips, text):
    levelled = level_speech(clips[text], RATE)
    loudness = integrated_loudness(levelled, RATE)
    clip_target = -16.0 + FILE_ALLOWANCE_LU
    if " " in text:
        assert loudness == pytest.approx(clip_target, abs=0.1)
    else:  # a one-word clip is so peaky that it stays a little under rather than being squashed by the limiter
        assert clip_target - 2.5 <= loudness <= clip_target + 0.1
    assert db(true_peak(levelled)) <= LIMITER_CEILING_DB + 0.01
    assert len(levelled) == len(clips[text]) and levelled.dtype == np.float32


@needs_espeak
def test_a_different_target_is_honoured(clips):
    levelled = level_speech(clips[LINES[1]], RATE, target_lufs=-20.0)
    assert integrated_loudness(levelled, RATE) == pytest.approx(-20.0 + FILE_ALLOWANCE_LU, abs=0.1)


def test_a_clip_shorter_than_a_gating_block_is_still_measured_and_levelled():
    t = np.arange(int(0.15 * RATE)) / RATE
    blip = (0.01 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    levelled = level_speech(blip, RATE)
    assert integrated_loudness(levelled, RATE) == pytest.approx(-16.0 + FILE_ALLOWANCE_LU, abs=0.1)


def test_silence_and_empty_clips_come_back_unchanged():
    assert level_speech(np.zeros(1000, dtype=np.float32), RATE).tolist() == [0.0] * 1000
    assert len(level_speech(np.zeros(0, dtype=np.float32), RATE)) == 0


def test_the_same_clip_is_levelled_to_the_same_samples_every_time():
    t = np.arange(RATE) / RATE
    clip = (0.2 * np.sin(2 * np.pi * 220 * t) ** 3).astype(np.float32)
    assert level_speech(clip, RATE).tobytes() == level_speech(clip.copy(), RATE).tobytes()


@needs_espeak
def test_the_chime_sits_below_the_voice():
    chime = level_chime(chime_samples(), RATE)
    speech = level_speech(espeak_clip(LINES[1]), RATE)
    assert integrated_loudness(chime, RATE) == pytest.approx(
        integrated_loudness(speech, RATE) - CHIME_BELOW_VOICE_LU, abs=0.2
    )
    assert db(true_peak(chime)) < -1.0


def test_true_peak_sees_peaks_between_samples():
    t = np.arange(RATE) / RATE
    wave = 0.5 * np.sin(2 * np.pi * RATE / 4 * t + np.pi / 4)
    assert np.max(np.abs(wave)) == pytest.approx(0.354, abs=0.001)
    assert true_peak(wave) == pytest.approx(0.5, abs=0.02)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    loudness=st.floats(0.05, 4.0),
    spikes=st.integers(0, 20),
)
def test_the_limiter_keeps_any_signal_under_its_ceiling_without_steps(seed, loudness, spikes):
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, loudness / 4, 4000)
    signal[rng.integers(0, 4000, spikes)] *= 8
    ceiling = 10 ** (LIMITER_CEILING_DB / 20)
    gain = limiter_gain(signal, ceiling, RATE)
    assert np.all(gain <= 1.0) and np.all(gain > 0)
    assert true_peak(signal * gain) <= ceiling * 1.05  # the smoothing moves peaks by a few percent at most
    assert np.max(np.abs(np.diff(gain))) < 0.02  # gain glides over milliseconds: no clicks


def routine_like(clips: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A routine's shape: a chime before each step, lines, pauses and a long quiet hold with short cues."""
    chime = level_chime(chime_samples(), RATE)
    quiet = np.zeros(RATE, dtype=np.float32)
    blocks: list[np.ndarray] = []
    for round_ in range(3):
        for text in LINES:
            if text.endswith("thumbs, from heel toward ankle."):
                blocks += [chime, quiet[: RATE // 4]]
            blocks += [level_speech(clips[text], RATE), quiet, quiet[: (round_ + 1) * 3000]]
        blocks += [quiet] * 20  # a hold
    return blocks


@pytest.mark.slow
@needs_espeak
@needs_ffmpeg
@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_a_whole_routine_measures_minus_16_lufs_and_peaks_under_minus_1_dbfs_in_ffmpeg(clips, tmp_path, fmt):
    target = tmp_path / f"routine.{fmt}"
    write_all(target, routine_like(clips), sample_rate=RATE)
    measured = ebur128(target)
    assert measured.integrated == pytest.approx(-16.0, abs=0.6), f"{fmt}: {measured}"
    assert measured.true_peak <= -1.0, f"{fmt}: {measured}"


@pytest.mark.slow
@needs_espeak
def test_pyloudnorm_on_the_whole_routine_agrees(clips):
    import pyloudnorm

    whole = np.concatenate(routine_like(clips)).astype(np.float64)
    assert pyloudnorm.Meter(RATE).integrated_loudness(whole) == pytest.approx(-16.0, abs=0.5)


# The meter, true peak and limiter are numpy only (importing scipy costs 1.5-2 s before the first word);
# these check them against the libraries they replace, imported here only.


def reference_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(3 * RATE) / RATE
    return {
        "white noise": 0.1 * rng.standard_normal(3 * RATE),
        "low sine": 0.3 * np.sin(2 * np.pi * 60 * t),
        "high sine": 0.05 * np.sin(2 * np.pi * 6000 * t),
        "noise fading in": rng.standard_normal(3 * RATE) * np.linspace(0, 1, 3 * RATE) ** 6,
        "a burst in silence": np.concatenate([np.zeros(RATE), 0.2 * rng.standard_normal(RATE // 3), np.zeros(RATE)]),
    }


@pytest.mark.parametrize("name", list(reference_signals()))
def test_the_numpy_meter_agrees_with_pyloudnorm_on_noise_and_sines(name):
    import pyloudnorm

    signal = reference_signals()[name]
    expected = pyloudnorm.Meter(RATE).integrated_loudness(signal.copy())
    assert integrated_loudness(signal, RATE) == pytest.approx(expected, abs=0.05), name


@needs_espeak
@pytest.mark.parametrize("text", LINES)
def test_the_numpy_meter_agrees_with_pyloudnorm_on_speech(clips, text):
    import pyloudnorm

    clip = clips[text].astype(np.float64)
    need = int(1.2 * RATE)  # pyloudnorm needs a whole block; integrated_loudness repeats short clips to this
    reference = np.tile(clip, need // len(clip) + 1) if len(clip) < need else clip
    expected = pyloudnorm.Meter(RATE).integrated_loudness(reference.copy())
    assert integrated_loudness(clip, RATE) == pytest.approx(expected, abs=0.05), text


def test_the_meter_calls_silence_and_nothing_minus_infinity():
    assert integrated_loudness(np.zeros(RATE), RATE) == float("-inf")
    assert integrated_loudness(np.zeros(0), RATE) == float("-inf")


@pytest.mark.parametrize("name", list(reference_signals()))
def test_true_peak_agrees_with_scipys_polyphase_resampling(name):
    from scipy.signal import resample_poly

    signal = reference_signals()[name]
    expected = np.max(np.abs(resample_poly(signal, 4, 1)))
    assert db(true_peak(signal)) == pytest.approx(db(expected), abs=0.1), name


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 3000), reach=st.integers(0, 200))
def test_moving_minimum_and_average_equal_scipy_ndimage_on_random_data(seed, length, reach):
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    from voice_guide.loudness import moving_average, moving_minimum

    values = np.random.default_rng(seed).random(length)
    width = 2 * reach + 1
    assert np.array_equal(moving_minimum(values, reach), minimum_filter1d(values, width, mode="nearest"))
    np.testing.assert_allclose(
        moving_average(values, reach), uniform_filter1d(values, width, mode="nearest"), rtol=0, atol=1e-12
    )


def test_levelling_a_clip_never_imports_scipy():
    import subprocess
    import sys

    script = (
        "import sys, numpy as np, voice_guide.loudness as l\n"
        "l.level_speech(np.random.default_rng(0).standard_normal(44100).astype('float32') * 0.1, 22050)\n"
        "l.level_chime(np.random.default_rng(1).standard_normal(4410).astype('float32') * 0.1, 22050)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pyloudnorm')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
