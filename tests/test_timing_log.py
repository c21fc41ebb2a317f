"""The timing log: one JSON line per sound played, in seconds since the command started."""

from __future__ import annotations

import io
import json

import pytest

from voice_guide.scheduler import Played
from voice_guide.timeline import SPEECH, Event
from voice_guide.timing_log import TimingLog


def test_the_timing_log_writes_one_json_line_per_sound_in_seconds_since_the_command_started():
    stream = io.StringIO()
    log = TimingLog(stream, origin=10.0)
    event = Event(SPEECH, 22050, 11025, "Sit down.", 1, "instruction")
    log.playing(Played(3, event, scheduled=11.0, actual=11.0042, returned=11.0052))
    line = json.loads(stream.getvalue())
    assert line["index"] == 3 and line["kind"] == "speech" and line["step"] == 1
    assert line["scheduled"] == 1.0 and line["actual"] == pytest.approx(1.0042)
    assert line["lateness_ms"] == pytest.approx(4.2)
    assert line["sample"] == 22050 and line["samples"] == 11025
    assert line["open_ms"] == pytest.approx(1.0)
