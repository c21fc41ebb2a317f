"""The simpleaudio sink, with simpleaudio replaced by a stand-in: failures, busy devices, stopping."""

from __future__ import annotations

import pytest

from voice_guide.audio_sink import SimpleaudioSink
from voice_guide.errors import AudioDeviceError


# --- the simpleaudio sink, with simpleaudio replaced by a stand-in -------------------------------------------


class FakeHandle:
    def __init__(self, playing: bool = True):
        self.playing = playing
        self.stopped = False

    def is_playing(self) -> bool:
        return self.playing

    def wait_done(self) -> None:
        self.playing = False

    def stop(self) -> None:
        self.stopped = True
        self.playing = False


class FakeSimpleaudio:
    """Refuses with each error in `errors` in turn, then plays."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.handles: list[FakeHandle] = []

    def play_buffer(self, pcm, channels, width, rate):
        assert (channels, width, rate) == (1, 2, 22050)
        if self.errors:
            raise self.errors.pop(0)
        self.handles.append(FakeHandle())
        return self.handles[-1]


def fake_sink(*errors: Exception):
    backend = FakeSimpleaudio(*errors)
    return SimpleaudioSink(backend=backend), backend


def test_the_sink_turns_a_device_failure_into_an_audio_device_error_with_alsas_words():
    sink, _ = fake_sink(RuntimeError("Error opening PCM device. -- CODE: -2 -- MSG: No such file or directory"))
    with pytest.raises(AudioDeviceError, match=r"^the audio device failed: Error opening PCM device\. -- CODE: -2"):
        sink.play(b"\0\0")


def test_a_busy_device_is_retried_once_the_sound_before_has_finished():
    sink, backend = fake_sink()
    sink.play(b"\0\0")
    backend.errors.append(RuntimeError("Error opening PCM device. -- MSG: Device or resource busy"))
    sink.play(b"\0\0")
    assert not backend.handles[0].playing and len(backend.handles) == 2


def test_stop_all_stops_every_sound_still_playing():
    sink, backend = fake_sink()
    sink.play(b"\0\0")
    sink.play(b"\0\0")
    sink.stop_all()
    assert all(handle.stopped for handle in backend.handles)
