"""The format registry: a path's format from its extension, or forced, the same way for audio and transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_guide.cli import build_parser
from voice_guide.errors import OutputError
from voice_guide.formats import AUDIO, TRANSCRIPT, format_for


@pytest.mark.parametrize("kind", [AUDIO, TRANSCRIPT], ids=["audio", "transcript"])
def test_the_format_comes_from_the_extension_in_any_case(kind):
    assert [format_for(Path(f"a{ext.upper()}"), kind) for ext in kind.extensions] == list(kind.names)


def test_an_unknown_audio_extension_is_refused_with_the_list_of_formats_and_the_flag():
    with pytest.raises(OutputError) as caught:
        format_for(Path("out/routine.m4a"), AUDIO)
    assert str(caught.value) == (
        "out/routine.m4a: unknown audio format '.m4a'; use one of .wav, .flac, .ogg, .mp3 (or --format)"
    )


def test_an_unknown_transcript_extension_names_the_valid_ones():
    with pytest.raises(OutputError) as caught:
        format_for("notes.txt", TRANSCRIPT)
    assert str(caught.value) == "notes.txt: unknown transcript format '.txt'; use one of .vtt, .srt, .lrc"


def test_no_extension_is_said_plainly():
    with pytest.raises(OutputError, match=r"^routine: unknown audio format \(no extension\)"):
        format_for("routine", AUDIO)


def test_a_forced_format_wins_over_the_extension_and_is_checked():
    assert format_for(Path("routine.bin"), AUDIO, "MP3") == "mp3"
    with pytest.raises(OutputError, match="unknown audio format 'aac'; use one of wav, flac, ogg, mp3"):
        format_for(Path("routine.wav"), AUDIO, "aac")


def test_the_command_line_offers_exactly_the_registrys_formats():
    parser = build_parser()
    export = parser._subparsers._group_actions[0].choices["export"]
    by_flag = {flag: action for action in export._actions for flag in action.option_strings}
    assert tuple(by_flag["--format"].choices) == AUDIO.names
    assert all(ext in by_flag["--transcript"].help for ext in TRANSCRIPT.extensions)
