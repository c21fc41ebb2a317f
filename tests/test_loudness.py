"""Loudness: clips levelled on their own add up to a file at -19 LUFS with true peaks under -1 dBTP,
measured by an independent meter (ffmpeg's EBU R128 filter); the limiter leaves nearly every sample alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_guide.audiofile import write_all
from voice_guide import chime as chimes
from voice_guide.chime import chime_samples
from voice_guide.loudness import (
    FADE_IN_SECONDS,
    file_loudness,
    LIMITER_CEILING_DB,
    MAX_LIMITED_SHARE,
    integrated_loudness,
    level_speech,
    levelled,
    limiter_gain,
    loudness_in_file,
    part_gain_db,
    regained,
    true_peak,
)
from voice_guide.mixer import scaled, to_pcm16
from voice_guide.targets import CHIME_BELOW_VOICE_LU, CHIME_BLOCK_SECONDS, TRANSPARENT_DB, block_seconds, clip_targets

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
    made = level_speech(clips[text], RATE)
    assert loudness_in_file(made, RATE) == pytest.approx(-19.0, abs=0.06)
    assert db(true_peak(made)) <= LIMITER_CEILING_DB + 0.01
    assert len(made) == len(clips[text]) and made.dtype == np.float32


@needs_espeak
def test_at_the_default_target_the_limiter_takes_more_than_3_db_off_at_most_1_percent_of_the_samples(clips):
    # Even with the voice raised to make up for a chime before every short line (1 LU).
    target = clip_targets(-19.0, speech_seconds=10.0, chime_seconds=3.0).speech_lufs
    limited = [levelled(clips[text], RATE, target)[1] for text in LINES]
    everything = np.concatenate(limited)
    assert np.mean(everything < -3.0) <= 0.01
    assert np.all(everything <= 0.0) and np.min(everything) > -9.0


@needs_espeak
@pytest.mark.parametrize("text", ["Press.", "Rest.", "Go."])
def test_a_one_word_cue_raised_for_the_chimes_is_not_squashed_to_reach_its_target(text):
    # One vowel carries both the loudness and the peak: limited, it gets no louder, and pushing it further
    # (as a longer line is pushed) would squash it. It stays under the target instead, by little.
    raw = espeak_clip(text)
    target = clip_targets(-19.0, speech_seconds=10.0, chime_seconds=3.0).speech_lufs  # the voice 0.9 LU up
    made, limited = levelled(raw, RATE, target)
    assert np.mean(limited < -TRANSPARENT_DB) <= MAX_LIMITED_SHARE
    assert target - 1.5 < loudness_in_file(made, RATE) <= target + 0.05
    assert db(true_peak(made)) <= LIMITER_CEILING_DB + 0.01


@needs_espeak
def test_a_louder_file_target_is_bought_with_deeper_limiting_of_one_word_cues():
    raw = espeak_clip("Press.")
    loud = clip_targets(-17.0, speech_seconds=10.0, chime_seconds=3.0)
    assert loud.limit_db > clip_targets(-19.0).limit_db == TRANSPARENT_DB
    transparent = loudness_in_file(levelled(raw, RATE, loud.speech_lufs)[0], RATE)
    made, limited = levelled(raw, RATE, loud.speech_lufs, loud.limit_db)
    assert loudness_in_file(made, RATE) > transparent + 0.5
    assert np.mean(limited < -loud.limit_db) <= MAX_LIMITED_SHARE


@needs_espeak
def test_a_different_target_is_honoured(clips):
    made = level_speech(clips[LINES[1]], RATE, target_lufs=-23.0)
    assert loudness_in_file(made, RATE) == pytest.approx(-23.0, abs=0.06)


@needs_espeak
@pytest.mark.parametrize("text", LINES)
def test_every_clip_fades_in_from_silence_over_a_few_milliseconds(clips, text):
    made = level_speech(clips[text], RATE)
    fade = int(round(FADE_IN_SECONDS * RATE))
    assert made[0] == 0.0
    ramp = np.abs(made[:fade]) / np.maximum(np.abs(clips[text][:fade]), 1e-9)
    assert np.all(np.diff(ramp[np.abs(clips[text][:fade]) > 1e-4]) >= -1e-3)  # rising: a gain from 0 up


def test_the_voice_is_raised_by_the_share_the_quieter_chimes_take_of_the_file():
    assert clip_targets(-19.0).speech_lufs == -19.0
    none, some, many = (clip_targets(-19.0, speech_seconds=60.0, chime_seconds=c) for c in (0.0, 6.0, 60.0))
    assert none.speech_lufs < some.speech_lufs < many.speech_lufs < -19.0 + 3.0
    assert some.chime_lufs == pytest.approx(some.speech_lufs - CHIME_BELOW_VOICE_LU)
    # The mean of the blocks' energies: 60 s at the voice's level and 60 s 8 LU under it make -19 LUFS.
    mean = 10 * np.log10((10 ** (many.speech_lufs / 10) + 10 ** (many.chime_lufs / 10)) / 2)
    assert mean == pytest.approx(-19.0, abs=0.01)


def test_a_clip_shorter_than_a_gating_block_is_still_measured_and_levelled():
    t = np.arange(int(0.15 * RATE)) / RATE
    blip = (0.01 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    made = level_speech(blip, RATE)
    assert loudness_in_file(made, RATE) == pytest.approx(-19.0, abs=0.06)


def test_silence_and_empty_clips_come_back_unchanged():
    assert level_speech(np.zeros(1000, dtype=np.float32), RATE).tolist() == [0.0] * 1000
    assert len(level_speech(np.zeros(0, dtype=np.float32), RATE)) == 0


def test_the_same_clip_is_levelled_to_the_same_samples_every_time():
    t = np.arange(RATE) / RATE
    clip = (0.2 * np.sin(2 * np.pi * 220 * t) ** 3).astype(np.float32)
    assert level_speech(clip, RATE).tobytes() == level_speech(clip.copy(), RATE).tobytes()


@needs_espeak
def test_the_chime_sits_below_the_voice():
    targets = clip_targets(-19.0, speech_seconds=30.0, chime_seconds=5 * CHIME_BLOCK_SECONDS)
    chime = chime_samples(targets.chime_lufs)
    speech = level_speech(espeak_clip(LINES[1]), RATE, targets.speech_lufs)
    assert loudness_in_file(chime, RATE) == pytest.approx(loudness_in_file(speech, RATE) - CHIME_BELOW_VOICE_LU, abs=0.1)
    assert db(true_peak(chime)) < -1.0


def test_the_chimes_loudness_is_what_its_level_is_computed_from():
    assert loudness_in_file(np.array(chimes.raw_chime()), RATE) == pytest.approx(chimes.RAW_LOUDNESS_IN_FILE, abs=1e-4)
    for target in (-27.0, -19.0):
        assert loudness_in_file(chime_samples(target), RATE) == pytest.approx(target, abs=1e-3)
    # Quieter than -29 LUFS, BS.1770's absolute gate (-70 LUFS) drops the blocks of its faint tail.
    assert loudness_in_file(chime_samples(-38.0), RATE) == pytest.approx(-38.0, abs=0.06)
    loudest = clip_targets(-17.0, speech_seconds=1.0, chime_seconds=100.0)  # the most a routine can ask for
    assert loudest.speech_lufs == -14.0
    assert db(true_peak(chime_samples(loudest.chime_lufs))) < LIMITER_CEILING_DB - 3  # far from the ceiling


@pytest.mark.parametrize("volume", [1.0, 0.8, 0.33])
@pytest.mark.parametrize("target", [-27.0, -25.97, -38.0])
def test_the_chime_made_without_numpy_is_bit_for_bit_the_mixers(target, volume):
    assert chimes.pcm16(target, volume) == to_pcm16(scaled(chime_samples(target), volume))


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
    assert np.max(np.abs(np.diff(gain))) < 0.01  # gain glides over milliseconds: no clicks
    if not np.any(true_peak(signal) > ceiling):
        assert np.all(gain == 1.0)  # nothing to limit: untouched


def test_the_limiter_looks_ahead_and_releases_slowly():
    pulse = np.zeros(RATE)
    pulse[RATE // 2] = 1.0
    gain_db = 20 * np.log10(limiter_gain(pulse, 0.5, RATE))
    peak = RATE // 2
    assert gain_db[peak] == pytest.approx(-6.02, abs=0.05)
    assert -6.1 < gain_db[peak - int(0.001 * RATE)] < -2.0  # already most of the way down 1 ms before
    assert gain_db[peak - int(0.01 * RATE)] == 0.0  # and untouched 10 ms before
    after = gain_db[peak + int(0.05 * RATE)]
    assert -6.0 < after < -2.0 and gain_db[peak + int(0.2 * RATE)] == 0.0  # back over 150 ms, smoothly


# routine_like has 3 chimes and 21 lines of about 2 s (the chimes' share lifts the voice by a tenth of a LU)
SPEECH_LUFS = clip_targets(-19.0, speech_seconds=21 * block_seconds(2.0), chime_seconds=3 * CHIME_BLOCK_SECONDS).speech_lufs


def routine_like(clips: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A routine's shape: a chime before each step, lines, pauses and a long quiet hold with short cues."""
    chime = chime_samples(SPEECH_LUFS - CHIME_BELOW_VOICE_LU)
    quiet = np.zeros(RATE, dtype=np.float32)
    blocks: list[np.ndarray] = []
    for round_ in range(3):
        for text in LINES:
            if text.endswith("thumbs, from heel toward ankle."):
                blocks += [chime, quiet[: RATE // 4]]
            blocks += [level_speech(clips[text], RATE, SPEECH_LUFS), quiet, quiet[: (round_ + 1) * 3000]]
        blocks += [quiet] * 20  # a hold
    return blocks


@pytest.mark.slow
@needs_espeak
@needs_ffmpeg
@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_a_whole_routine_measures_minus_19_lufs_and_peaks_under_minus_1_dbtp_in_ffmpeg(clips, tmp_path, fmt):
    target = tmp_path / f"routine.{fmt}"
    write_all(target, routine_like(clips), sample_rate=RATE)
    measured = ebur128(target)
    assert measured.integrated == pytest.approx(-19.0, abs=0.5), f"{fmt}: {measured}"
    assert measured.true_peak <= -1.0, f"{fmt}: {measured}"


@pytest.mark.slow
@needs_espeak
def test_pyloudnorm_on_the_whole_routine_agrees(clips):
    import pyloudnorm

    whole = np.concatenate(routine_like(clips)).astype(np.float64)
    assert pyloudnorm.Meter(RATE).integrated_loudness(whole) == pytest.approx(-19.0, abs=0.5)


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
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pyloudnorm')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


# --- a file of its own: the parts of a split export -------------------------------------------------------


def short_files(clips: dict[str, np.ndarray], target: float = -19.0) -> dict[str, tuple[list[tuple[int, np.ndarray]], int]]:
    """Files shaped like split parts, their clips levelled for `target` as the whole file's are: a chime and one
    word, a word at the very start, lines far apart, a line and a long hold, a file shorter than a block."""
    chime = chime_samples(target - CHIME_BELOW_VOICE_LU)
    word, line = level_speech(clips["Go."], RATE, target), level_speech(clips[LINES[1]], RATE, target)
    return {
        "chime and one word": ([(0, chime), (len(chime) + 7700, word)], len(chime) + 7700 + len(word) + RATE),
        "a word at the start": ([(0, word)], len(word) + 3000),
        "two lines far apart": ([(500, line), (500 + len(line) + 3 * RATE, line)], 2 * len(line) + 4 * RATE),
        "a line then a hold": ([(0, line)], len(line) + 60 * RATE),
        "shorter than a block": ([(0, word[: RATE // 4])], RATE // 3),
    }


@needs_espeak
@needs_ffmpeg
def test_the_file_meter_reads_short_files_as_ffmpeg_does(clips, tmp_path):
    for name, (sounds, length) in short_files(clips).items():
        samples = np.zeros(length, dtype=np.float32)
        for at, sound in sounds:
            samples[at : at + len(sound)] = sound
        path = tmp_path / f"{name}.wav"
        write_all(path, [samples], sample_rate=RATE)
        ours, theirs = file_loudness(sounds, length, RATE), ebur128(path).integrated
        if np.isfinite(ours):
            assert ours == pytest.approx(theirs, abs=0.1), name
        else:
            assert theirs == -70.0, name  # ffmpeg's reading when no block is whole


@needs_espeak
@pytest.mark.parametrize("target", [-17.0, -19.0, -23.0, -30.0])
def test_a_part_gets_the_one_gain_that_brings_it_to_the_target_with_peaks_under_the_ceiling(clips, target):
    for name, (sounds, length) in short_files(clips, target).items():
        gain = part_gain_db(sounds, length, RATE, target)
        made = [(at, regained(sound, gain, RATE)) for at, sound in sounds]
        measured = file_loudness(made, length, RATE)
        if np.isfinite(measured):
            assert measured == pytest.approx(target, abs=0.06), name
        assert all(db(true_peak(sound)) <= LIMITER_CEILING_DB + 0.01 for _, sound in made), name
        if gain <= 0:  # lowered: only scaled
            assert all(np.allclose(m, s * 10 ** (gain / 20), atol=1e-7) for (_, m), (_, s) in zip(made, sounds))


@needs_espeak
@pytest.mark.parametrize("routine", ["marks.yaml", "cues.yaml", "short.yaml"])
@pytest.mark.parametrize("target", [-17.0, -19.0])
def test_clips_at_their_targets_put_the_file_at_its_target(routine, target, cache_root):
    # What targets.py works out from the script alone (the voice raised for the chimes) must hold for the
    # file: with every line exactly at the voice's level and the chimes at theirs, ffmpeg's grid reads the target.
    from voice_guide import api, compiler
    from voice_guide.env import Environment
    from voice_guide.timeline import CHIME, SPEECH

    from .conftest import DATA

    settings = api.Settings(loudness=target)
    env = Environment(cache_dir=cache_root / "voice-guide")
    loaded = api.load(DATA / "routines" / routine)
    with api.synthesizer(loaded, settings, env) as synth:
        timeline = compiler.compile(loaded, synth.length, voice=synth.resolved)
        targets = api.mixer(loaded, synth, settings, env).targets
        exact = {}
        for text in {e.text for e in timeline.events if e.kind == SPEECH}:
            clip = level_speech(synth.samples(text), RATE, targets.speech_lufs)
            exact[text] = clip * 10 ** ((targets.speech_lufs - loudness_in_file(clip, RATE)) / 20)
    chime = chime_samples(targets.chime_lufs)
    sounds = [(e.start, exact[e.text] if e.kind == SPEECH else chime)
              for e in timeline.events if e.kind in (SPEECH, CHIME)]
    assert file_loudness(sounds, timeline.total, RATE) == pytest.approx(target, abs=0.12)


# --- the shortcuts levelling takes give what the whole-clip computations give ---------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 60000), ring=st.integers(0, 9000))
def test_k_weighting_by_blocks_equals_one_long_convolution(seed, length, ring):
    from voice_guide.loudness import _k_impulse, _k_weighted

    x = np.random.default_rng(seed).standard_normal(length)
    size = 1 << (length + ring + 20000).bit_length()
    whole = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(_k_impulse(RATE), size), size)[: length + ring]
    np.testing.assert_allclose(_k_weighted(x, RATE, length + ring), whole, rtol=0, atol=1e-11)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gains=st.lists(st.floats(-6.0, 30.0), min_size=1, max_size=4))
def test_the_envelope_is_computed_exactly_wherever_a_gain_asked_for_lifts_it_over_the_ceiling(seed, gains):
    from voice_guide.loudness import _Envelope, peak_envelope

    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.02, 5000) * (1 + 20 * (rng.random(5000) < 0.01))  # quiet, with a few peaks
    envelope = _Envelope(x)
    whole_db = 20 * np.log10(np.maximum(peak_envelope(x), 1e-12)) - LIMITER_CEILING_DB
    for gain in gains:
        index, over = envelope.over(gain)
        expected = np.flatnonzero(whole_db + gain > 0)
        assert np.array_equal(index, expected)
        np.testing.assert_allclose(over, whole_db[expected] + gain, rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 3000), kind=st.sampled_from(["noise", "clicks", "tone"]))
def test_the_envelopes_block_bounds_hold_every_sample_of_their_block(seed, length, kind):
    from voice_guide.loudness import _ENVELOPE_BLOCK, _block_bounds, _Envelope, peak_envelope

    rng = np.random.default_rng(seed)
    if kind == "noise":
        x = rng.standard_normal(length)
    elif kind == "clicks":
        x = rng.standard_normal(length) * (rng.random(length) < 0.02)
    else:  # near the Nyquist frequency, where the samples miss the crests the most
        x = np.sin(np.pi * rng.uniform(0.8, 1.0) * np.arange(length) + rng.uniform(0, np.pi))
    envelope = _Envelope(x)
    blocks = np.arange(len(envelope._near))
    bounds = _block_bounds(envelope._padded, blocks, envelope._near[blocks])
    whole = np.zeros(len(blocks) * _ENVELOPE_BLOCK)
    whole[:length] = peak_envelope(x)
    assert np.all(whole.reshape(len(blocks), _ENVELOPE_BLOCK).max(axis=1) <= bounds)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), peaks=st.integers(0, 12))
def test_the_limiter_around_its_peaks_only_equals_the_limiter_over_the_whole_clip(seed, peaks):
    from voice_guide.loudness import _limiter_db, _sparse_limiter_db

    rng = np.random.default_rng(seed)
    over = np.full(30000, -20.0)
    over[rng.integers(0, 30000, peaks)] = rng.uniform(0.01, 12.0, peaks)
    dense = _limiter_db(over, RATE)
    hot = np.flatnonzero(over > 0)
    touched, gain = _sparse_limiter_db((hot, over[hot]), len(over), RATE)
    assert np.array_equal(touched, np.flatnonzero(dense))
    np.testing.assert_allclose(gain, dense[touched], rtol=0, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 300), reach=st.integers(0, 400))
def test_edge_padding_gives_what_numpys_pad_gives(seed, length, reach):
    from voice_guide.loudness import _edge_padded

    values = np.random.default_rng(seed).standard_normal(length)
    assert np.array_equal(_edge_padded(values, reach), np.pad(values, reach, mode="edge"))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 60000), ring=st.integers(0, 9000),
       lead=st.integers(0, 9000))
def test_k_weighting_after_a_lead_of_quiet_is_the_same_samples_after_zeros(seed, length, ring, lead):
    from voice_guide.loudness import _k_weighted

    x = np.random.default_rng(seed).standard_normal(length)
    expected = np.concatenate((np.zeros(lead), _k_weighted(x, RATE, length + ring)))
    assert np.array_equal(_k_weighted(x, RATE, length + ring, lead=lead), expected)


@pytest.mark.parametrize("target, limit_db", [(-19.0, TRANSPARENT_DB), (-12.0, 1.0), (-30.0, 6.0)])
def test_a_levelled_speech_clip_is_the_clip_levelled_gives_and_its_reduction_is_where_the_limiter_worked(
        target, limit_db):
    rng = np.random.default_rng(7)
    clip = (rng.normal(0, 0.02, 3 * RATE) * (1 + 30 * (rng.random(3 * RATE) < 0.002))).astype(np.float32)
    out, reduction = levelled(clip, RATE, target, limit_db)
    assert level_speech(clip, RATE, target, limit_db).tobytes() == out.tobytes()
    # the samples the limiter left alone share one reduction (0 dB, or the last trim), the others have more
    assert np.all(reduction <= 0)
    assert np.count_nonzero(reduction == np.max(reduction)) > len(clip) // 2
    assert np.count_nonzero(reduction < np.max(reduction)) > 0


def test_levelling_in_two_threads_at_once_gives_what_levelling_one_clip_after_another_gives():
    # levelling reuses each thread's working buffers (loudness._scratch): no clip may see another's, and nothing
    # returned may be one of them
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    clips = [(rng.normal(0, 0.02, int(n)) * (1 + 30 * (rng.random(int(n)) < 0.002))).astype(np.float32)
             for n in rng.integers(2000, 90000, 12)]
    alone = [level_speech(clip, RATE, -19.0) for clip in clips]
    kept = [out.copy() for out in alone]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda clip: level_speech(clip, RATE, -19.0), clips * 3))
    assert all(out.tobytes() == copy.tobytes() for out, copy in zip(alone, kept))  # later clips left them alone
    assert all(out.tobytes() == alone[i % len(clips)].tobytes() for i, out in enumerate(together))
