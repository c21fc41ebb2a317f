"""Transcripts: every spoken line with its start and end, equal to the timeline's times to the millisecond."""

from __future__ import annotations

import json
import re

import pytest

from voice_guide import compiler
from voice_guide.errors import OutputError
from voice_guide.loader import load
from voice_guide.routine import Voice
from voice_guide.timeline import SPEECH, Event, Timeline
from voice_guide.transcript import render_transcript, spoken_lines, write_transcript

from .conftest import DATA

RATE = 22050
SHORT = DATA / "routines" / "short.yaml"


def words_length(text: str) -> int:
    """A stand-in for the engine: 0.3 s per word plus an odd tail, so times fall between milliseconds."""
    return int(len(text.split()) * 0.3 * RATE) + 7


@pytest.fixture
def timeline() -> Timeline:
    return compiler.compile(load(SHORT), words_length)


def handmade() -> Timeline:
    events = (
        Event("speech", 0, 33075, "Sit <down> & relax.", role="intro"),
        Event("silence", 33075, 22050),
        Event("chime", 55125, 17640, role="instruction", step=1),
        Event("speech", 72765, 44100, "Press gently.", step=1, role="instruction"),
        Event("speech", 116865, 11025, "Halfway.", step=1, role="cue"),
        Event("silence", 127890, 22050, step=1),
    )
    return Timeline("Arch  self-massage", events, Voice())


def cue_times(text: str, separator: str) -> list[tuple[str, str]]:
    """The (start, end) stamps of every cue, as written."""
    return re.findall(rf"(\d\d:\d\d:\d\d{separator}\d\d\d) --> (\d\d:\d\d:\d\d{separator}\d\d\d)", text)


def test_every_speech_event_becomes_one_line_in_order(timeline):
    speech = [e for e in timeline.events if e.kind == SPEECH]
    lines = spoken_lines(timeline)
    assert [line.text for line in lines] == [e.text for e in speech]
    assert [(line.start_ms, line.end_ms) for line in lines] == [
        (round(e.start * 1000 / RATE), round(e.end * 1000 / RATE)) for e in speech
    ]


def test_webvtt_has_the_header_and_escapes_markup():
    text = render_transcript(handmade(), "vtt")
    assert text == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\nSit &lt;down&gt; &amp; relax.\n\n"
        "00:00:03.300 --> 00:00:05.300\nPress gently.\n\n"
        "00:00:05.300 --> 00:00:05.800\nHalfway.\n"
    )


def test_srt_numbers_its_cues_and_uses_commas():
    text = render_transcript(handmade(), "srt")
    assert text.splitlines()[:4] == ["1", "00:00:00,000 --> 00:00:01,500", "Sit <down> & relax.", ""]
    assert text.splitlines()[8:11] == ["3", "00:00:05,300 --> 00:00:05,800", "Halfway."]


def test_lrc_marks_where_speech_ends_before_a_pause_but_not_between_adjacent_lines():
    assert render_transcript(handmade(), "lrc").splitlines() == [
        "[ti:Arch self-massage]",
        "[ar:voice-guide]",
        "[al:voice-guide]",
        "[length:00:06.800]",
        "[00:00.000]Sit <down> & relax.",
        "[00:01.500]",
        "[00:03.300]Press gently.",
        "[00:05.300]Halfway.",
        "[00:05.800]",
    ]


@pytest.mark.parametrize("fmt,separator", [("vtt", "."), ("srt", ",")])
def test_cue_times_equal_the_timeline_to_the_millisecond(timeline, fmt, separator):
    def ms(stamp: str) -> int:
        h, m, s = stamp.replace(",", ".").split(":")
        return round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)

    times = [(ms(a), ms(b)) for a, b in cue_times(render_transcript(timeline, fmt), re.escape(separator))]
    speech = [e for e in timeline.events if e.kind == SPEECH]
    assert times == [(round(e.start / RATE * 1000), round(e.end / RATE * 1000)) for e in speech]
    assert len(times) > 10


def test_hours_are_written_for_long_routines():
    long = Timeline("Long", (Event("speech", RATE * 3725, RATE, "Still here."),), Voice())
    assert "01:02:05.000 --> 01:02:06.000" in render_transcript(long, "vtt")
    assert "[62:05.000]Still here." in render_transcript(long, "lrc")


def test_an_unknown_format_name_is_refused():
    with pytest.raises(OutputError, match="unknown transcript format 'ass'; use one of vtt, srt, lrc"):
        render_transcript(handmade(), "ass")


def test_writing_refuses_an_existing_file_without_force(tmp_path):
    target = tmp_path / "r.vtt"
    target.write_text("mine")
    with pytest.raises(OutputError) as caught:
        write_transcript(handmade(), target)
    assert str(caught.value) == f"{target} exists; use --force to overwrite"
    assert target.read_text() == "mine"
    write_transcript(handmade(), target, force=True)
    assert target.read_text().startswith("WEBVTT")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.vtt"]


def test_writing_a_transcript_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(OutputError, match="folder .*missing does not exist"):
        write_transcript(handmade(), tmp_path / "missing" / "r.srt")


def test_exported_transcript_matches_check_json_to_the_millisecond(cli, tmp_path):
    checked = cli("check", "--json", SHORT)
    assert checked.status == 0, checked.stderr
    speech = [e for e in json.loads(checked.stdout)["events"] if e["kind"] == "speech"]
    for fmt, separator in (("vtt", "."), ("srt", ",")):
        transcript = tmp_path / f"short.{fmt}"
        exported = cli("export", SHORT, "-o", tmp_path / f"short-{fmt}.wav", "--transcript", transcript, "--quiet")
        assert exported.status == 0, exported.stderr
        lines = transcript.read_text().splitlines()
        timed = [(i, line) for i, line in enumerate(lines) if " --> " in line]
        assert [line for _, line in timed] == [
            f"{_stamp(e['start'], separator)} --> {_stamp(e['end'], separator)}" for e in speech
        ]
        assert [lines[i + 1] for i, _ in timed] == [e["text"] for e in speech]


def _stamp(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{separator}{ms % 1000:03d}"


def test_a_transcript_in_a_group_appears_with_the_audio_or_not_at_all(tmp_path):
    from contextlib import ExitStack

    import numpy as np

    from voice_guide.audiofile import AudioFileWriter

    for fail in (True, False):
        folder = tmp_path / ("failed" if fail else "done")
        folder.mkdir()
        with pytest.raises(RuntimeError) if fail else ExitStack():
            with ExitStack() as group:
                with AudioFileWriter(folder / "r.wav", sample_rate=RATE) as writer:
                    writer.publish_later(group)
                    writer.write(np.zeros(RATE, dtype=np.float32))
                write_transcript(handmade(), folder / "r.vtt", group=group)
                assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == []
                if fail:
                    raise RuntimeError("the last step failed")
        names = sorted(p.name for p in folder.iterdir())
        assert names == ([] if fail else ["r.vtt", "r.wav"])
