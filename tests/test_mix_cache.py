"""The mixer's disk cache of final clips and its background levelling: same samples, less work."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

from voice_guide._mix_cache import MixCache
from voice_guide.chime import CHIME_LENGTH
from voice_guide.mixer import Mixer
from voice_guide.timeline import CHIME, SPEECH, Event


class CountingSpeech:
    """A speech source of fixed tones that counts how often each clip is asked for."""

    def __init__(self, delay: threading.Event | None = None):
        self.asked: dict[str, int] = {}
        self.delay = delay

    def pcm16(self, text: str, *, wait: bool = True) -> bytes:
        if self.delay is not None:
            self.delay.wait(5)
        self.asked[text] = self.asked.get(text, 0) + 1
        t = np.arange(22050 + 100 * len(text)) / 22050
        return np.round(1600 * np.sin(2 * np.pi * (200 + 10 * len(text)) * t)).astype("<i2").tobytes()

    def clip_id(self, text: str, raw: bytes | None = None, *, wait: bool = True) -> bytes:
        return hashlib.sha256(raw if raw is not None else self.pcm16(text)).digest()


def speech_event(text: str) -> Event:
    return Event(SPEECH, 0, 22050 + 100 * len(text), text)


def test_a_clip_from_the_disk_cache_is_identical_to_one_levelled_afresh(tmp_path):
    fresh = Mixer(CountingSpeech())
    first = Mixer(CountingSpeech(), cache_dir=tmp_path)
    second = Mixer(CountingSpeech(), cache_dir=tmp_path)
    event = speech_event("Press.")
    expected = fresh.clip(event)
    assert np.array_equal(first.clip(event), expected)
    assert len(list(tmp_path.glob("*.clip"))) == 1
    assert np.array_equal(second.clip(event), expected)
    chime = Event(CHIME, 0, CHIME_LENGTH)
    assert np.array_equal(second.clip(chime), fresh.clip(chime))


def test_a_second_run_does_not_level_again(tmp_path, monkeypatch):
    event = speech_event("Press.")
    Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event)
    import voice_guide.loudness as loudness

    def fail(*args, **kwargs):
        raise AssertionError("levelled again although the cache had the clip")

    monkeypatch.setattr(loudness, "level_speech", fail)
    assert len(Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event)) == event.length


def test_a_different_target_is_a_different_cache_entry(tmp_path):
    from voice_guide.targets import clip_targets

    event = speech_event("Press.")
    loud = Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event)
    quieter = Mixer(CountingSpeech(), targets=clip_targets(-22.0), cache_dir=tmp_path).clip(event)
    assert len(list(tmp_path.glob("*.clip"))) == 2
    assert np.allclose(quieter, loud * np.float32(10 ** (-3 / 20)), atol=1e-6)  # 3 dB: no limiting at -19


def test_the_players_volume_scales_the_clip_and_leaves_it_alone_at_full_volume():
    from voice_guide.mixer import scaled

    clip = Mixer(CountingSpeech()).clip(speech_event("Press."))
    assert scaled(clip, 1.0) is clip
    assert np.array_equal(scaled(clip, 0.5), clip * np.float32(0.5))


def test_a_damaged_cache_entry_is_made_again(tmp_path):
    event = speech_event("Press.")
    expected = Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event)
    (entry,) = tmp_path.glob("*.clip")
    entry.write_bytes(b"not a numpy file")
    assert np.array_equal(Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event), expected)
    assert np.array_equal(MixCache(tmp_path).get(entry.stem), expected)


def test_an_unwritable_cache_folder_only_costs_time(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    event = speech_event("Press.")
    assert len(Mixer(CountingSpeech(), cache_dir=blocker / "mixed").clip(event)) == event.length


def test_prefetch_levels_each_text_once_even_when_clip_asks_at_the_same_time(tmp_path):
    release = threading.Event()
    source = CountingSpeech(delay=release)
    mixer = Mixer(source, cache_dir=tmp_path)
    texts = ["Sit.", "Press.", "Sit.", "Release."]
    mixer.prefetch(texts)
    release.set()
    for text in texts:
        assert len(mixer.clip(speech_event(text))) == speech_event(text).length
    mixer.close()
    assert source.asked == {"Sit.": 1, "Press.": 1, "Release.": 1}


def test_after_a_stop_close_does_not_wait_for_the_clip_being_levelled(tmp_path):
    """A stopped export waited for the clips in the making (seconds on a loaded machine), and its parallel
    export's parent killed it meanwhile. close(wait=False) returns at once; close() still lets a clip finish."""
    import time

    release = threading.Event()
    mixer = Mixer(CountingSpeech(delay=release), cache_dir=tmp_path)
    mixer.prefetch(["Sit."], chime=False)
    began = time.monotonic()
    mixer.close(wait=False)
    assert time.monotonic() - began < 1.0 and mixer._threads[0].is_alive()
    release.set()
    patient = Mixer(CountingSpeech(delay=threading.Event()), cache_dir=tmp_path / "patient")
    patient.CLOSE_WAIT = 1.5
    patient.prefetch(["Sit."], chime=False)
    began = time.monotonic()
    patient.close()
    assert time.monotonic() - began >= 1.4


def test_a_failure_while_prefetching_is_raised_by_clip_not_lost():
    class Broken:
        def pcm16(self, text, wait=True):
            raise RuntimeError(f"engine failed on {text!r}")

    mixer = Mixer(Broken())
    mixer.prefetch(["Sit."], chime=False)
    mixer.close()
    with pytest.raises(RuntimeError, match="engine failed on 'Sit.'"):
        mixer.clip(Event(SPEECH, 0, 10, "Sit."))


def test_the_16_bit_clip_from_the_disk_cache_is_the_float_clips_pcm16_without_levelling_again(tmp_path, monkeypatch):
    from voice_guide.pcm import to_pcm16

    event = speech_event("Press.")
    expected = to_pcm16(Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event))
    import voice_guide.loudness as loudness

    def fail(*args, **kwargs):
        raise AssertionError("levelled again although the cache had the clip")

    monkeypatch.setattr(loudness, "level_speech", fail)
    warm = Mixer(CountingSpeech(), cache_dir=tmp_path)
    assert warm.ready(["Press."]) and not warm.ready(["Press.", "Sit."])
    assert warm.pcm(event) == expected


def test_a_damaged_16_bit_entry_is_made_from_the_float_clip(tmp_path):
    from voice_guide.pcm import to_pcm16

    event = speech_event("Press.")
    expected = to_pcm16(Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event))
    (entry,) = tmp_path.glob("*.pcm")
    damaged = bytearray(entry.read_bytes())
    damaged[-1] ^= 0xFF
    entry.write_bytes(bytes(damaged))
    assert Mixer(CountingSpeech(), cache_dir=tmp_path).pcm(event) == expected
    assert entry.read_bytes() != bytes(damaged)  # not served: written again, whole
    assert Mixer(CountingSpeech(), cache_dir=tmp_path)._store.get_pcm16(entry.stem) == expected


def test_a_16_bit_entry_lost_while_the_float_clip_is_in_memory_is_written_again(tmp_path):
    """A damaged entry removed after a prefetch thread wrote the good one: the mixer levelled the clip already,
    so whoever finds the entry missing must store it again (the float clip comes from memory, not the store)."""
    from voice_guide.pcm import to_pcm16

    event = speech_event("Press.")
    mixer = Mixer(CountingSpeech(), cache_dir=tmp_path)
    expected = to_pcm16(mixer.clip(event))
    (entry,) = tmp_path.glob("*.pcm")
    entry.unlink()
    assert mixer.pcm(event) == expected
    assert Mixer(CountingSpeech(), cache_dir=tmp_path)._store.get_pcm16(entry.stem) == expected


def test_a_sound_16_bit_entry_is_not_written_again(tmp_path):
    event = speech_event("Press.")
    Mixer(CountingSpeech(), cache_dir=tmp_path).clip(event)
    (entry,) = tmp_path.glob("*.pcm")
    before = entry.stat()
    Mixer(CountingSpeech(), cache_dir=tmp_path).pcm(event)
    assert entry.stat().st_ino == before.st_ino  # the same file, read, not replaced


def counted_reads(mixer: Mixer) -> list[str]:
    """The keys of the 16-bit entries `mixer` reads from its disk cache, in order."""
    reads: list[str] = []
    get = mixer._store.get_pcm16

    def counting(key: str):
        reads.append(key)
        return get(key)

    mixer._store.get_pcm16 = counting
    return reads


def test_a_clip_said_again_and_the_chime_are_read_from_the_disk_cache_once_per_run(tmp_path):
    from voice_guide.pcm import to_pcm16

    press, sit, chime = speech_event("Press."), speech_event("Sit."), Event(CHIME, 0, CHIME_LENGTH)
    first = Mixer(CountingSpeech(), cache_dir=tmp_path)
    expected = {e.text: first.pcm(e) for e in (press, sit, chime)}
    assert expected["Press."] == to_pcm16(Mixer(CountingSpeech()).clip(press))
    warm = Mixer(CountingSpeech(), cache_dir=tmp_path)
    reads = counted_reads(warm)
    for event in (chime, press, chime, sit, press, chime):
        assert warm.pcm(event) == expected[event.text]
    assert len(reads) == 3 and len(set(reads)) == 3


def test_a_damaged_16_bit_entry_is_not_kept_and_is_written_again_when_said_again(tmp_path):
    event = speech_event("Press.")
    expected = Mixer(CountingSpeech(), cache_dir=tmp_path).pcm(event)
    (entry,) = tmp_path.glob("*.pcm")
    damaged = bytearray(entry.read_bytes())
    damaged[-1] ^= 0xFF
    entry.write_bytes(bytes(damaged))
    warm = Mixer(CountingSpeech(), cache_dir=tmp_path)
    reads = counted_reads(warm)
    assert warm.pcm(event) == expected
    assert entry.read_bytes() != bytes(damaged)  # written again, whole
    assert warm.pcm(event) == expected and len(reads) == 2  # the damaged bytes were not kept: read again, sound
    assert warm.pcm(event) == expected and len(reads) == 2  # now kept
    assert Mixer(CountingSpeech(), cache_dir=tmp_path)._store.get_pcm16(entry.stem) == expected


def test_the_entries_kept_in_memory_stay_within_their_bound(tmp_path):
    events = [speech_event(text) for text in ("Sit.", "Press.", "Release.")]
    expected = [Mixer(CountingSpeech(), cache_dir=tmp_path).pcm(e) for e in events]
    warm = Mixer(CountingSpeech(), cache_dir=tmp_path)
    warm.READ_KEPT = len(expected[1]) + len(expected[2])  # room for the last two, not all three
    reads = counted_reads(warm)
    for event, pcm in zip(events + events[1:], expected + expected[1:]):
        assert warm.pcm(event) == pcm
        assert warm._read_bytes <= warm.READ_KEPT
    assert len(reads) == 3  # Press. and Release. were still kept; Sit. had made room for them
    assert warm.pcm(events[0]) == expected[0] and len(reads) == 4
