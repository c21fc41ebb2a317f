"""Speech: the real espeak-ng through pyttsx3 in worker processes, the disk cache, voices, failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_guide import _speech_cache, _speech_worker
from voice_guide._speech_process import default_command
from voice_guide.errors import EngineError
from voice_guide.routine import Voice
from voice_guide.speech import DEFAULT_RATE, Synthesizer, list_voices
from voice_guide.timeline import SAMPLE_RATE
from voice_guide.voices import VoiceInfo, resolve_voice

ARCH = "Press gently along your arch."
ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = 104 / 32768  # -50 dBFS, as the worker trims


@pytest.fixture
def cold(tmp_path):
    """A synthesizer with an empty cache of its own."""
    with Synthesizer(Voice(voice="en-us"), cache_dir=tmp_path / "speech") as speech:
        yield speech


def synthesizer(cache: Path, **kwargs) -> Synthesizer:
    return Synthesizer(Voice(voice="en-us", rate=kwargs.pop("rate", None)), cache_dir=cache, **kwargs)


# --- what comes out ------------------------------------------------------------------------------------


def test_an_instruction_at_the_default_rate_lasts_between_one_and_a_half_and_three_seconds(cold):
    seconds = cold.length(ARCH) / SAMPLE_RATE
    assert 1.5 < seconds < 3.0
    assert cold.resolved == Voice(voice="gmw/en-us", rate=DEFAULT_RATE, volume=1.0, engine="espeak-ng",
                                  language="en-us")


def test_samples_are_float32_mono_within_full_scale_and_as_long_as_length_says(cold):
    samples = cold.samples(ARCH)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == cold.length(ARCH)
    assert 0.1 < np.max(np.abs(samples)) <= 1.0


def test_leading_silence_is_cut_to_ten_ms_and_trailing_silence_to_eighty(cold):
    loud = np.flatnonzero(np.abs(cold.samples(ARCH)) >= THRESHOLD)
    lead, tail = loud[0], len(cold.samples(ARCH)) - 1 - loud[-1]
    assert lead <= SAMPLE_RATE * 0.010
    assert tail <= SAMPLE_RATE * 0.080
    assert tail >= SAMPLE_RATE * 0.070  # the release is kept, not clipped


def test_a_faster_rate_gives_a_shorter_clip(tmp_path):
    with synthesizer(tmp_path / "a", rate=120) as slow, synthesizer(tmp_path / "b", rate=240) as fast:
        assert fast.length(ARCH) < 0.7 * slow.length(ARCH)


def test_the_same_text_gives_identical_samples_from_separate_cold_caches(tmp_path):
    with synthesizer(tmp_path / "a") as first, synthesizer(tmp_path / "b") as second:
        first.length("Something else first, to change the engine's state.")
        assert np.array_equal(first.samples(ARCH), second.samples(ARCH))


def test_volume_is_not_part_of_the_clip(tmp_path):
    with Synthesizer(Voice(voice="en-us", volume=0.3), cache_dir=tmp_path) as quiet:
        quiet_samples = quiet.samples(ARCH)
    with Synthesizer(Voice(voice="en-us", volume=1.0), cache_dir=tmp_path) as loud:
        assert np.array_equal(loud.samples(ARCH), quiet_samples)
        assert loud.workers_started == 0
    assert quiet.resolved.volume == 0.3


@pytest.mark.slow
def test_parallel_synthesis_of_twenty_texts_gives_the_same_samples_as_serial(tmp_path):
    texts = [f"Step {n}: breathe in slowly, then press for {n + 2} seconds." for n in range(20)]
    with synthesizer(tmp_path / "serial", workers=1) as serial:
        expected = [serial.samples(text) for text in texts]
    with synthesizer(tmp_path / "parallel", workers=4) as parallel:
        parallel.prefetch(texts)
        got = [parallel.samples(text) for text in texts]
        assert parallel.workers_started > 1  # really in parallel
    for text, a, b in zip(texts, expected, got):
        assert np.array_equal(a, b), text


@pytest.mark.parametrize("levelling, started", [(False, 3), (True, 2)])
def test_an_export_that_levels_meanwhile_leaves_a_cpu_to_the_levelling(tmp_path, monkeypatch, levelling, started):
    from voice_guide import speech

    monkeypatch.setattr(speech, "usable_cpus", lambda: 3)
    texts = [f"Step {n}: press for {n + 2} seconds." for n in range(8)]
    with synthesizer(tmp_path / "speech", levelling=levelling, first_line_first=False) as synth:
        synth.prefetch(texts)
        synth.lengths(texts)
        assert synth.workers_started == started


def test_lengths_of_many_texts_come_back_in_order(cold):
    texts = ["One.", "Two, a little longer.", "Three is the longest line of all of them."]
    lengths = cold.lengths(texts)
    assert lengths == [cold.length(text) for text in texts]
    assert lengths[0] < lengths[1] < lengths[2]


# --- the cache ------------------------------------------------------------------------------------------


def test_a_warm_cache_answers_without_starting_a_worker(tmp_path):
    with synthesizer(tmp_path) as first:
        made = first.samples(ARCH)
        assert first.workers_started >= 1
    with synthesizer(tmp_path) as second:
        assert second.length(ARCH) == len(made)
        assert np.array_equal(second.samples(ARCH), made)
        assert second.resolved.voice == "gmw/en-us"
        assert second.workers_started == 0


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(b"not a wav file at all" * 10)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "wrong-rate":
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(b"\x00\x10" * 1000)
    elif how == "extra-bytes":
        path.write_bytes(data + b"\x00" * 100)


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty", "wrong-rate", "extra-bytes"])
def test_a_damaged_cache_entry_is_made_again_identically(tmp_path, how):
    with synthesizer(tmp_path) as first:
        made = first.samples(ARCH)
    [entry] = tmp_path.glob("*.wav")
    _damage(entry, how)
    with synthesizer(tmp_path) as second:
        assert second.length(ARCH) == len(made)
        assert np.array_equal(second.samples(ARCH), made)
        assert second.workers_started == 1


def test_an_entry_damaged_after_its_header_was_read_is_made_again_by_samples(tmp_path):
    with synthesizer(tmp_path) as speech:
        length = speech.length(ARCH)
        [entry] = tmp_path.glob("*.wav")
        raw = bytearray(entry.read_bytes())
        raw[8:12] = b"JUNK"  # no longer RIFF/WAVE: undecodable
        entry.write_bytes(bytes(raw))
        assert len(speech.samples(ARCH)) == length


def test_the_cache_leaves_no_temporary_files_behind(tmp_path):
    with synthesizer(tmp_path) as speech:
        speech.lengths(["One.", "Two.", "Three."])
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".wav", ".wav", ".wav"]


def test_an_unwritable_cache_folder_falls_back_to_a_temporary_one_with_a_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with Synthesizer(Voice(voice="en-us"), cache_dir=blocker / "speech") as speech:
        assert speech.length("Still works.") > 0
        assert any(f"speech cache folder '{blocker / 'speech'}' is not usable" in w for w in speech.warnings)
        private = speech._cache.root
        assert private.is_dir()
    assert not private.exists()  # removed at close: nobody else would ever read it


# --- input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_rejected_before_any_synthesis(cold, text):
    with pytest.raises(ValueError, match="cannot speak empty text"):
        cold.length(text)
    with pytest.raises(ValueError, match="cannot speak empty text"):
        cold.prefetch(["Fine.", text])
    assert cold.workers_started == 0


def test_text_that_makes_no_sound_is_reported_by_name(cold):
    with pytest.raises(EngineError, match=r"speech engine espeak failed on '\.\.\.': .*produced only silence"):
        cold.length("...")


# --- voices ---------------------------------------------------------------------------------------------


def test_an_unknown_voice_falls_back_to_the_default_with_a_warning_naming_close_matches(tmp_path):
    with Synthesizer(Voice(voice="English (Amerika)"), cache_dir=tmp_path) as speech:
        assert speech.resolved.voice == "gmw/en"
        assert speech.warnings == (
            "voice 'English (Amerika)' not found; using 'English (Great Britain)'. "
            "Close matches: 'English (America)', 'English (Caribbean)', 'English (Lancaster)'.",
        )
        assert speech.length(ARCH) > 0
    with Synthesizer(Voice(voice="English (Amerika)"), cache_dir=tmp_path) as again:
        assert again.warnings == speech.warnings  # the resolution is cached with its warning
        assert again.workers_started == 0


@pytest.mark.parametrize(
    "spelling", ["gmw/en-us", "GMW/EN-US", "English (America)", "english (america)", "en-us", "en_US"]
)
def test_a_voice_can_be_named_by_id_name_or_language_in_any_case(tmp_path, spelling):
    with Synthesizer(Voice(voice=spelling), cache_dir=tmp_path) as speech:
        assert speech.resolved.voice == "gmw/en-us"
        assert speech.warnings == ()


def test_the_engine_lists_its_voices_with_languages(tmp_path):
    voices = list_voices(["espeak-ng"], cache_dir=tmp_path)
    by_id = {v.id: v for v in voices}
    assert by_id["gmw/en-us"] == VoiceInfo("gmw/en-us", "English (America)", ("en-us",), "male", "espeak-ng")
    assert len(voices) > 50


VOICES = [
    VoiceInfo("gmw/en", "English (Great Britain)", ("en-gb",), "male"),
    VoiceInfo("gmw/en-gb-scotland", "English (Scotland)", ("en-gb-scotland",), "male"),
    VoiceInfo("gmw/en-us", "English (America)", ("en-us",), "male"),
    VoiceInfo("gmw/de", "German", ("de",), "male"),
    VoiceInfo("roa/fr", "French (France)", ("fr-fr",), None),
]


def test_a_bare_language_picks_the_default_voice_when_it_speaks_it():
    assert resolve_voice("en", VOICES, "gmw/en").voice.id == "gmw/en"
    assert resolve_voice("en", VOICES, "gmw/de").voice.id == "gmw/en"  # plainest tag, not scotland
    assert resolve_voice("fr", VOICES, "gmw/en").voice.id == "roa/fr"


def test_no_voice_asked_for_means_the_engine_default_without_warnings():
    assert resolve_voice(None, VOICES, "gmw/de") == resolve_voice("  ", VOICES, "gmw/de")
    assert resolve_voice(None, VOICES, "gmw/de").voice.id == "gmw/de"
    assert resolve_voice(None, VOICES, "gmw/de").warnings == ()


def test_a_language_with_unknown_subtags_falls_back_to_the_shorter_tag_with_a_warning():
    found = resolve_voice("de-AT", VOICES, "gmw/en")
    assert found.voice.id == "gmw/de"
    assert found.warnings == ("voice 'de-AT' not found; using 'German' (language 'de').",)


def test_a_voice_nothing_resembles_suggests_listing_the_voices():
    found = resolve_voice("zzzz", VOICES, "gmw/en")
    assert found.voice.id == "gmw/en"
    assert found.warnings == ("voice 'zzzz' not found; using 'English (Great Britain)'. "
                              "Run `voice-guide voices` to list them.",)


# --- robustness -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hanging_worker_is_killed_retried_once_and_reported(tmp_path, monkeypatch):
    # The fault injector (tests/data/faults/sitecustomize.py) makes the first two synthesis requests hang.
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests" / "data" / "faults"))
    for name, value in {"MODE": "hang", "AT": "1", "TIMES": "2", "COUNTER": tmp_path / "requests"}.items():
        monkeypatch.setenv(f"VG_FAULT_{name}", str(value))
    with synthesizer(tmp_path / "speech", timeout=1.0) as speech:
        started = time.monotonic()
        with pytest.raises(EngineError) as caught:
            speech.length(ARCH)
        elapsed = time.monotonic() - started
        assert str(caught.value) == (
            f"speech engine espeak did not finish saying {ARCH!r} within 1 s (tried twice)"
        )
        assert 2.0 <= elapsed < 6.0
        assert speech.length("Other words still work.") > 0
        assert speech.workers_started == 3  # the hung one, its replacement, and a fresh one for the next text
        with pytest.raises(EngineError, match="tried twice"):  # the failure is remembered, not retried
            speech.length(ARCH)
    assert not list(tmp_path.glob("*.tmp"))


def _my_workers() -> list[int]:
    """Speech worker processes started by this process (zombies included: they must be reaped too)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and (b"_speech_worker.py" in command or not command):
            found.append(int(stat.parent.name))
    return found


def test_closing_stops_every_worker_process(tmp_path):
    before = _my_workers()
    with synthesizer(tmp_path, workers=2) as speech:
        speech.lengths([f"Line number {n}." for n in range(6)])
        assert len(_my_workers()) - len(before) == speech.workers_started == 2
    assert _my_workers() == before


def test_a_closed_synthesizer_says_so(tmp_path):
    speech = synthesizer(tmp_path)
    speech.close()
    with pytest.raises(EngineError, match="the speech synthesizer is closed"):
        speech.length(ARCH)


def _run_python(code: str, *, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
        cwd=ROOT, env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_synthesis_keeps_stdout_clean(tmp_path):
    done = _run_python(f"""
        from pathlib import Path
        from voice_guide.routine import Voice
        from voice_guide.speech import Synthesizer
        with Synthesizer(Voice(), cache_dir=Path({str(tmp_path)!r})) as speech:
            speech.lengths(["One.", "Two.", "Three."])
            speech.samples("One.")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "Audio saved" not in done.stderr


@pytest.mark.slow
def test_the_main_process_loads_neither_pyttsx3_nor_numpy_to_measure_lengths(tmp_path):
    code = f"""
        import sys
        from pathlib import Path
        from voice_guide.routine import Voice
        from voice_guide.speech import Synthesizer
        with Synthesizer(Voice(), cache_dir=Path({str(tmp_path)!r})) as speech:
            speech.length("{ARCH}")
        print(sorted(m for m in ("pyttsx3", "numpy", "soundfile", "simpleaudio") if m in sys.modules))
    """
    cold_run, warm_run = _run_python(code), _run_python(code)
    assert (cold_run.stdout, warm_run.stdout) == ("[]\n", "[]\n"), cold_run.stderr + warm_run.stderr


@pytest.mark.slow
def test_a_missing_engine_library_names_the_packages_to_install(tmp_path):
    library = Path("/usr/lib/x86_64-linux-gnu/libespeak-ng.so.1")
    if not library.exists() or shutil.which("unshare") is None:
        pytest.skip("needs libespeak-ng at its Debian path and unshare")
    hide = f"mount --bind /dev/null {library.resolve()}"
    code = (
        "from pathlib import Path; from voice_guide.routine import Voice; from voice_guide.speech import Synthesizer\n"
        f"Synthesizer(Voice(), cache_dir=Path({str(tmp_path)!r})).length('Hello.')"
    )
    done = subprocess.run(["unshare", "-m", "sh", "-c", f"{hide} && exec {sys.executable} -c \"{code}\""],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    if "mount" in done.stderr and "EngineError" not in done.stderr:
        pytest.skip(f"cannot hide the library here: {done.stderr.strip()}")
    assert "voice_guide.errors.EngineError: speech engine espeak-ng is not installed: " \
           "run `sudo apt-get install espeak-ng libespeak-ng1`" in done.stderr


def test_the_startup_failure_message_names_the_engine_and_the_cause():
    message = _speech_worker.startup_failure_message("espeak", RuntimeError("no eSpeak here"))
    assert message == ("speech engine espeak-ng is not installed: run `sudo apt-get install espeak-ng "
                       "libespeak-ng1` (RuntimeError: no eSpeak here)")
    other = _speech_worker.startup_failure_message("sapi5", ImportError("no comtypes"))
    assert other == "speech engine sapi5 could not start: ImportError: no comtypes"


def test_a_worker_that_does_not_fork_as_on_windows_and_macos_speaks_the_same_words(tmp_path):
    inline = [*default_command(), "--fork", "no"]
    with synthesizer(tmp_path / "forked") as forked, synthesizer(tmp_path / "inline", worker_command=inline) as same:
        for text in (ARCH, "Now your right foot.", "Round two of three."):  # three utterances, one process
            assert same.length(text) == pytest.approx(forked.length(text), rel=0.02)


def test_the_worker_and_the_timeline_agree_on_the_sample_rate():
    assert _speech_worker.SAMPLE_RATE == SAMPLE_RATE


def test_engine_output_in_another_container_rate_and_layout_is_decoded_by_content(tmp_path):
    import soundfile

    seconds = np.arange(44100) / 44100  # one second of a 440 Hz tone, stereo AIFF, named .wav as on macOS
    tone = 0.5 * np.sin(2 * np.pi * 440 * seconds)
    path = tmp_path / "from-nsss.wav"
    soundfile.write(path, np.stack([tone, tone], axis=1), 44100, format="AIFF", subtype="PCM_16")
    pcm = np.frombuffer(_speech_worker.decode(str(path)).tobytes(), dtype="<i2")
    assert len(pcm) == SAMPLE_RATE
    assert np.max(np.abs(pcm)) == pytest.approx(0.5 * 32767, rel=0.02)
    spectrum = np.abs(np.fft.rfft(pcm))
    assert np.argmax(spectrum) == 440  # one-second window: bin n is n Hz


def test_cached_clips_decode_exactly_as_libsndfile_decodes_them(cold):
    import soundfile

    samples = cold.samples(ARCH)
    [entry] = cold._cache.root.glob("*.wav")
    reference, rate = soundfile.read(entry, dtype="float32")
    assert rate == SAMPLE_RATE
    assert np.array_equal(samples, reference)


@pytest.mark.slow
def test_missing_voice_data_names_the_package_to_reinstall(tmp_path):
    data = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data")
    if not data.is_dir() or shutil.which("unshare") is None:
        pytest.skip("needs espeak-ng-data at its Debian path and unshare")
    empty = tmp_path / "empty"
    empty.mkdir()
    code = (
        "from pathlib import Path; from voice_guide.routine import Voice; from voice_guide.speech import Synthesizer\n"
        f"Synthesizer(Voice(), cache_dir=Path({str(tmp_path / 'cache')!r})).length('Hello.')"
    )
    hide = f"mount --bind {empty} {data}"
    done = subprocess.run(["unshare", "-m", "sh", "-c", f"{hide} && exec {sys.executable} -c \"{code}\""],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    if "mount" in done.stderr and "EngineError" not in done.stderr:
        pytest.skip(f"cannot hide the data here: {done.stderr.strip()}")
    assert ("EngineError: speech engine espeak-ng is not installed completely (its voice data is missing): "
            "run `sudo apt-get install --reinstall espeak-ng-data` (the engine process exited with status 1: "
            f"Error processing file '{data}/phontab': No such file or directory.)") in done.stderr


def test_a_crash_is_explained_with_what_the_engine_said():
    reply = {"ok": False, "crashed": True, "error": "the engine process was killed by signal 11", "stderr": "boom"}
    assert _speech_worker.explain_crash("espeak", reply) == {**reply, "error": f"{reply['error']}: boom"}


def test_the_worker_and_the_cache_agree_on_the_checksum_chunk():
    assert _speech_worker.CHECKSUM_CHUNK == _speech_cache.CHECKSUM_CHUNK


def test_a_cache_entry_whose_samples_were_changed_in_place_is_made_again(tmp_path):
    with synthesizer(tmp_path) as first:
        made = first.samples(ARCH)
    [entry] = tmp_path.glob("*.wav")
    raw = bytearray(entry.read_bytes())
    middle = len(raw) // 2 // 2 * 2
    raw[middle : middle + 2000] = bytes(2000)  # a stretch of samples zeroed; header and size intact
    entry.write_bytes(bytes(raw))
    with synthesizer(tmp_path) as second:
        assert second.length(ARCH) == len(made)  # the header alone cannot tell
        assert np.array_equal(second.samples(ARCH), made)
        assert second.workers_started == 1


def test_a_clips_id_is_read_from_its_entry_without_its_samples_and_names_those_samples(tmp_path):
    with synthesizer(tmp_path) as first:
        assert first.clip_id(ARCH, wait=False) is None and not list(tmp_path.glob("*.wav"))  # nor made by asking
        raw = first.pcm16(ARCH)
        made = first.clip_id(ARCH)
    assert made == _speech_cache.clip_identity(first._key(ARCH), raw)
    [entry] = tmp_path.glob("*.wav")
    data = bytearray(entry.read_bytes())
    middle = len(data) // 2 // 2 * 2
    data[middle : middle + 2000] = bytes(2000)  # samples changed in place: the id, read from the ends, is the same
    entry.write_bytes(bytes(data))
    with synthesizer(tmp_path) as second:
        assert second.clip_id(ARCH, wait=False) == made
        assert second.clip_id(ARCH, bytes([raw[0] ^ 1]) + raw[1:]) != made  # other samples: another id
    entry.write_bytes(b"\xff" * 44 + bytes(data[44:]))  # a damaged header: no id, and the entry is removed
    with synthesizer(tmp_path) as third:
        assert third.clip_id(ARCH, wait=False) is None and not entry.exists()
        assert third.clip_id(ARCH) == made and third.workers_started == 1  # made again: the same samples


def test_temporaries_left_by_a_killed_process_are_swept_once_old(tmp_path):
    old, young = tmp_path / ".0123456789abcdef.x1.tmp", tmp_path / ".0123456789abcdef.x2.tmp"
    old_raw = tmp_path / ".0123456789abcdef.x3.tmp.raw"
    for path in (old, young, old_raw):
        path.write_bytes(b"half a clip")
    old_work = tmp_path / ".0123456789abcdef.x4.tmp.d"  # the folder a killed engine process wrote into
    old_work.mkdir()
    (old_work / "utterance.wav").write_bytes(b"half")
    for path in (old, old_raw, old_work):
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    with synthesizer(tmp_path) as speech:
        speech.length(ARCH)
    assert not old.exists() and not old_raw.exists() and not old_work.exists()
    assert young.exists()  # may belong to another process writing right now


# --- language names and variants ------------------------------------------------------------------------

WITH_NEIGHBOURS = VOICES + [
    VoiceInfo("cel/cy", "Welsh", ("cy",), "male"),
    VoiceInfo("inc/bn", "Bengali", ("bn",), "male"),
]
VARIANTS = [VoiceInfo("klatt", "klatt", ("variant",), "male"), VoiceInfo("f3", "Andrea", ("variant",), "female")]


def test_a_misspelt_language_suggests_that_languages_voices_before_similar_looking_names():
    found = resolve_voice("englsh", WITH_NEIGHBOURS, "gmw/en")
    assert found.warnings == ("voice 'englsh' not found; using 'English (Great Britain)'. Close matches: "
                              "'English (Great Britain)', 'English (America)', 'English (Scotland)'.",)


def test_a_voice_with_a_variant_is_that_voice_with_the_variant_added():
    for spelling in ("en-us+klatt", "English (America)+KLATT", "gmw/en-us+klatt"):
        found = resolve_voice(spelling, VOICES, "gmw/en", VARIANTS)
        assert (found.voice.id, found.voice.name, found.warnings) == (
            "gmw/en-us+klatt", "English (America)+klatt", ()), spelling
    assert resolve_voice("en+f3", VOICES, "gmw/de", VARIANTS).voice.id == "gmw/en+f3"


def test_an_unknown_variant_keeps_the_voice_and_says_so():
    found = resolve_voice("en-us+klat", VOICES, "gmw/en", VARIANTS)
    assert found.voice.id == "gmw/en-us"
    assert found.warnings == ("voice variant 'klat' not found; using 'English (America)' without it. Close "
                              "matches: 'klatt'. Run `voice-guide voices` to list the variants.",)


@pytest.mark.parametrize("spelling", ["klatt", "+klatt"])
def test_a_variant_alone_is_explained(spelling):
    found = resolve_voice(spelling, VOICES, "gmw/en", VARIANTS)
    assert found.warnings == (f"{spelling!r} is a voice variant, not a voice; add it to a voice, like "
                              "'en-us+klatt'; using 'English (Great Britain)'.",)


@pytest.mark.parametrize("name, voice", [("Deutsch", "German"), ("français", "French (France)")])
def test_a_language_named_in_itself_picks_a_voice_of_that_language(name, voice):
    found = resolve_voice(name, WITH_NEIGHBOURS, "gmw/en")
    assert (found.voice.name, found.warnings) == (voice, ())


@pytest.mark.parametrize("spelling", ["en-us+klatt", "en+f3"])
def test_the_engine_speaks_with_a_variant(tmp_path, spelling):
    with Synthesizer(Voice(voice=spelling), cache_dir=tmp_path) as speech:
        assert speech.warnings == ()
        assert speech.resolved.voice == {"en-us+klatt": "gmw/en-us+klatt", "en+f3": "gmw/en+f3"}[spelling]
        assert speech.length("Press gently.") > 0


def test_the_voice_list_names_the_default_and_the_variants(cli):
    result = cli("voices")
    assert result.status == 0
    marked = [line for line in result.stdout.splitlines() if line.endswith("(default)")]
    assert len(marked) == 2 and marked[0].startswith("espeak-ng  gmw/en ")
    assert marked[1].startswith("piper      en_US-joe-medium ")  # each engine's default
    assert "write VOICE+VARIANT, like en-us+klatt or en+f3." in result.stdout
    rows = json.loads(cli("voices", "--json").stdout)
    assert [(row["engine"], row["id"]) for row in rows if row["default"]] == [("espeak-ng", "gmw/en"),
                                                                              ("piper", "en_US-joe-medium")]
    assert {"klatt", "f3"} <= {row["id"] for row in rows if row["variant"]}


# --- an export keeps its worker busy -------------------------------------------------------------------------

# Stands between the synthesizer and a real worker, passing every line on at once and noting what arrives. It
# holds its first reply to a line until the next line has arrived (or 3 s have passed); with `die`, the first
# time it runs it exits instead of answering that first line, once the next one has arrived.
_RELAY = textwrap.dedent("""\
    import json, os, subprocess, sys, threading
    log, flag, die, command = sys.argv[1], sys.argv[2], sys.argv[3] == "die", sys.argv[4:]
    first_run = not os.path.exists(flag)
    open(flag, "a").close()
    notes = open(log, "a")
    real = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    arrived = threading.Condition()
    said = []

    def note(text):
        notes.write(text + "\\n")
        notes.flush()

    def pass_on():
        for line in sys.stdin.buffer:
            request = json.loads(line)
            with arrived:
                if request.get("op") == "synth":
                    said.append(request["text"])
                    note("got " + request["text"])
                arrived.notify_all()
            real.stdin.write(line)
            real.stdin.flush()
        real.stdin.close()

    threading.Thread(target=pass_on, daemon=True).start()
    answered = 0
    for line in real.stdout:
        if "frames" in json.loads(line) and answered == 0:
            with arrived:
                arrived.wait_for(lambda: len(said) > 1, timeout=3)
            if die and first_run:
                note("died")
                real.kill()
                os._exit(1)
            note("answered " + said[0])
        answered += "frames" in json.loads(line)
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
""")
LINES_SAID = ("Sit down.", "Lift your foot.", "Press the arch.")


def _relayed(tmp_path: Path, how: str) -> tuple[Synthesizer, Path]:
    relay = tmp_path / "relay.py"
    relay.write_text(_RELAY)
    log = tmp_path / "relay.log"
    command = [sys.executable, str(relay), str(log), str(tmp_path / "started"), how, *default_command()]
    return Synthesizer(Voice(voice="en-us"), cache_dir=tmp_path / "speech", first_line_first=False, workers=1,
                       worker_command=command), log


def test_an_export_sends_its_worker_the_next_line_before_the_one_it_says_is_answered(tmp_path):
    relayed, log = _relayed(tmp_path, "hold")
    with relayed as speech:
        speech.lengths(LINES_SAID)
        made = [speech.pcm16(text) for text in LINES_SAID]
    notes = log.read_text().splitlines()
    assert notes.index(f"got {LINES_SAID[1]}") < notes.index(f"answered {LINES_SAID[0]}")
    with synthesizer(tmp_path / "plain") as plain:
        assert made == [plain.pcm16(text) for text in LINES_SAID]  # the same samples as one line at a time


def test_a_worker_that_dies_with_a_line_sent_ahead_is_replaced_and_both_lines_are_made(tmp_path):
    relayed, log = _relayed(tmp_path, "die")
    with relayed as speech:
        lengths = speech.lengths(LINES_SAID)
        assert all(length > 0 for length in lengths)
        assert speech.workers_started >= 2
    assert "died" in log.read_text().splitlines()
    assert [path.name for path in (tmp_path / "speech").iterdir() if path.name.startswith(".")] == []  # no temporary
    with synthesizer(tmp_path / "plain") as plain:
        assert lengths == plain.lengths(LINES_SAID)


def test_a_player_does_not_send_lines_ahead(tmp_path):
    relay = tmp_path / "relay.py"
    relay.write_text(_RELAY)
    log = tmp_path / "relay.log"
    command = [sys.executable, str(relay), str(log), str(tmp_path / "started"), "hold", *default_command()]
    with Synthesizer(Voice(voice="en-us"), cache_dir=tmp_path / "speech", first_line_first=True, workers=1,
                     worker_command=command) as speech:
        speech.lengths(LINES_SAID[:2])
    notes = log.read_text().splitlines()
    assert notes.index(f"answered {LINES_SAID[0]}") < notes.index(f"got {LINES_SAID[1]}")
