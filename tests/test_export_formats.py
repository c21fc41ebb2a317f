"""Phone-ready export end to end: every format through the real CLI and engine, read back by ffprobe and
ffmpeg (length, tags, chapters, loudness, true peak), byte-identical repeats; and the split export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from voice_guide import compiler
from voice_guide.tags import Metadata
from voice_guide.errors import OutputError
from voice_guide.loader import load
from voice_guide.render import iter_blocks
from voice_guide.split import export_split, plan_parts

from .conftest import DATA, ROOT
from .probes import decoded_samples, ebur128, ffprobe, needs_ffmpeg, tags_of

SHORT = DATA / "routines" / "short.yaml"
CUES = DATA / "routines" / "cues.yaml"
RATE = 22050
FORMATS = ["wav", "flac", "ogg", "mp3"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cache_root):
    """The short routine exported once per format (plus its check --json), shared by the tests below."""
    import io

    from voice_guide.cli import main
    from voice_guide.env import Environment

    folder = tmp_path_factory.mktemp("exports")

    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, cache_dir=cache_root / "voice-guide")
        status = main([str(a) for a in args], env)
        assert status == 0, err.getvalue()
        return out.getvalue()

    timeline = json.loads(run("check", "--json", SHORT))
    for fmt in FORMATS:
        run("export", SHORT, "-o", folder / f"short.{fmt}", "--quiet")
    return folder, timeline, run


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_holds_exactly_the_timelines_samples(exported, fmt):
    folder, timeline, _ = exported
    assert soundfile.info(folder / f"short.{fmt}").frames == round(timeline["total_seconds"] * RATE)


@needs_ffmpeg
@pytest.mark.parametrize("fmt", FORMATS)
def test_ffmpeg_decodes_every_format_to_the_timelines_length(exported, fmt):
    folder, timeline, _ = exported
    assert len(decoded_samples(folder / f"short.{fmt}")) == round(timeline["total_seconds"] * RATE)


@needs_ffmpeg
@pytest.mark.parametrize("fmt", FORMATS)
def test_ffprobe_duration_is_the_timelines_within_the_codecs_frame(exported, fmt):
    # MP3's container duration counts whole frames, encoder delay and padding included (576 samples each at
    # 22050 Hz; LAME adds about three): the decoded length above is exact.
    folder, timeline, _ = exported
    duration = float(ffprobe(folder / f"short.{fmt}")["format"]["duration"])
    slack = 4 * 576 / RATE if fmt == "mp3" else 1 / RATE
    assert timeline["total_seconds"] <= duration + 1 / RATE <= timeline["total_seconds"] + slack + 1 / RATE


@needs_ffmpeg
@pytest.mark.parametrize("fmt", FORMATS)
def test_ffprobe_shows_the_routines_tags(exported, fmt):
    folder, _, _ = exported
    tags = tags_of(ffprobe(folder / f"short.{fmt}"))
    assert (tags["title"], tags["artist"], tags["album"], tags["comment"]) == (
        "Short test routine", "voice-guide", "voice-guide", "A quick routine for the tests.",
    )


@needs_ffmpeg
@pytest.mark.parametrize("fmt", FORMATS)
def test_ffprobe_shows_chapters_from_the_start_to_the_end_one_per_step_named_by_its_words(exported, fmt):
    # A step starts with its first event (a chime, "Start with your left foot."), and is named by its instruction,
    # labelled with the side and round it belongs to; the introduction and the closing reminders are chapters too.
    folder, timeline, _ = exported
    probe = ffprobe(folder / f"short.{fmt}")
    chapters = probe["chapters"]
    starts: dict[int, float] = {}
    for event in timeline["events"]:
        if event["step"] is not None:
            starts.setdefault(event["step"], event["start"])
    closing = max(e["end"] for e in timeline["events"] if e["step"] is not None)  # the reminders follow the last step
    assert [c["tags"]["title"] for c in chapters] == [
        "Introduction",
        "Sit down.",
        "Left foot, round 1 of 2: Press gently.",
        "Left foot, round 2 of 2: Press gently.",
        "Right foot, round 1 of 2: Press gently.",
        "Right foot, round 2 of 2: Press gently.",
        "Closing",
    ]
    assert [round(float(c["start_time"]), 3) for c in chapters] == [0.0] + [round(s, 3) for s in starts.values()] + [
        round(closing, 3)]
    ends = [float(c["end_time"]) for c in chapters]
    assert ends[:-1] == [float(c["start_time"]) for c in chapters[1:]]  # no gaps
    # To the end of the file as ffprobe sees it: for MP3 its frames, which hold the encoder's delay and padding
    # around the timeline's samples.
    assert ends[-1] == pytest.approx(float(probe["format"]["duration"]), abs=0.001), "the last chapter ends at the end"
    assert 0 <= ends[-1] - timeline["total_seconds"] <= (4 * 576 / RATE if fmt == "mp3" else 0.001)


@needs_ffmpeg
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_export_measures_minus_19_lufs_and_true_peak_under_minus_1_in_ffmpeg(exported, fmt):
    folder, _, _ = exported
    measured = ebur128(folder / f"short.{fmt}")
    assert measured.integrated == pytest.approx(-19.0, abs=0.5)
    assert measured.true_peak <= -1.0


@needs_ffmpeg
def test_a_routine_of_short_cues_meets_the_target_in_every_format_with_a_transparent_limiter(cli, tmp_path,
                                                                                              cache_root, capsys):
    # The hardest shape: a chime before every one-word line (the voice raised for them), a countdown, a repeat.
    import importlib.util

    from voice_guide.env import Environment

    spec = importlib.util.spec_from_file_location("gain_reduction", ROOT / "scripts" / "gain_reduction.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    env = Environment(cache_dir=cache_root / "voice-guide")
    share, deepest, samples, _ = script.gain_reduction(str(CUES), env=env)
    with capsys.disabled():
        print(f"\n{CUES.name}: the limiter takes more than 3 dB off {share:.2%} of {samples} speech samples "
              f"(deepest {deepest:.1f} dB)")
    assert share <= 0.01
    for fmt in FORMATS:
        out = tmp_path / f"cues.{fmt}"
        cli("export", CUES, "-o", out, "--quiet")
        measured = ebur128(out)
        assert measured.integrated == pytest.approx(-19.0, abs=0.5), f"{fmt}: {measured}"
        assert measured.true_peak <= -1.0, f"{fmt}: {measured}"
        probe = ffprobe(out)
        starts = [float(c["start_time"]) for c in probe["chapters"]]
        ends = [float(c["end_time"]) for c in probe["chapters"]]
        assert starts[0] == 0 and starts[1:] == pytest.approx(ends[:-1], abs=0.001)
        assert ends[-1] == pytest.approx(float(probe["format"]["duration"]), abs=0.001)


@needs_ffmpeg
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_split_part_measures_the_target_on_its_own_even_a_chime_and_one_word(cli, tmp_path, fmt):
    # Each part is a file someone may play alone: ffmpeg's meter must read it at the target too. The short
    # cues' parts hold a chime and one word; the introduction none (it is lowered: the voice is raised for
    # the chimes of the whole file).
    folder = tmp_path / "parts"
    cli("export", CUES, "-o", tmp_path / f"whole.{fmt}", "--split", folder, "--quiet")
    parts = sorted(folder.glob(f"*.{fmt}"))
    assert len(parts) == 13  # the introduction, five steps, three rounds of two, the closing
    for part in parts:
        measured = ebur128(part)
        assert measured.integrated == pytest.approx(-19.0, abs=0.5), f"{part.name}: {measured}"
        assert measured.true_peak <= -1.0, f"{part.name}: {measured}"
    if fmt == "wav":  # a part is its slice of the whole file with one gain of its own
        whole = soundfile.read(tmp_path / "whole.wav", dtype="int16")[0].astype(np.float64)
        intro = soundfile.read(parts[0], dtype="int16")[0].astype(np.float64)
        piece = whole[: len(intro)]
        gain = np.dot(intro, piece) / np.dot(piece, piece)
        assert gain < 0.99 and np.max(np.abs(intro - gain * piece)) <= 1.0


@needs_ffmpeg
def test_a_routine_of_short_cues_and_its_parts_meet_a_louder_and_a_quieter_target_too(cli, tmp_path):
    # The loudest target a routine may ask for, with a chime before every one-word line: the voice is raised for
    # the chimes by what they take off the file's figure (targets.py), and that estimate must hold.
    for target in ("-17", "-30"):
        folder = tmp_path / f"parts{target}"
        whole = tmp_path / f"whole{target}.mp3"
        cli("export", CUES, "-o", whole, "--split", folder, "--loudness", target, "--quiet")
        for part in [whole, *sorted(folder.glob("*.mp3"))]:
            measured = ebur128(part)
            assert measured.integrated == pytest.approx(float(target), abs=0.5), f"{part.name}: {measured}"
            assert measured.true_peak <= -1.0, f"{part.name}: {measured}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_exporting_again_gives_the_same_bytes(exported, fmt):
    folder, _, run = exported
    again = folder / f"again.{fmt}"
    run("export", SHORT, "-o", again, "--quiet")
    assert again.read_bytes() == (folder / f"short.{fmt}").read_bytes()


# --- split export ------------------------------------------------------------------------------------------


class Beeps:
    """A stand-in for the mixer: each sounding event is a tone, so parts can be told apart and compared."""

    def clip(self, event):
        t = np.arange(event.length) / RATE
        return (0.2 * np.sin(2 * np.pi * (300 + 10 * (event.step or 0)) * t)).astype(np.float32)


def words_length(text: str) -> int:
    return int(len(text.split()) * 0.3 * RATE) + 7


@pytest.fixture
def timeline():
    return compiler.compile(load(SHORT), words_length)


def blocks(events):
    return iter_blocks(events, Beeps())


def test_split_parts_cover_the_timeline_without_gaps_in_order(timeline):
    parts = plan_parts(timeline, ".mp3")
    assert parts[0].start == 0 and parts[-1].end == timeline.total
    assert all(a.end == b.start for a, b in zip(parts, parts[1:]))
    assert [p.title for p in parts][:2] == ["Introduction", "Sit down."]
    assert parts[-1].title == "Closing"
    assert [p.filename for p in parts][:2] == ["00 Introduction.mp3", "01 Sit down.mp3"]


def test_split_export_writes_one_file_per_part_and_a_playlist_that_plays_the_whole(tmp_path, timeline):
    written = export_split(timeline, blocks, tmp_path / "parts", format="wav", metadata=Metadata("Short"))
    parts = plan_parts(timeline, ".wav")
    assert [p.name for p in written] == [p.filename for p in parts] + ["Short test routine.m3u"]
    playlist = (tmp_path / "parts" / "Short test routine.m3u").read_text().splitlines()
    assert playlist[:2] == ["#EXTM3U", "#PLAYLIST:Short test routine"]
    files = [line for line in playlist if not line.startswith("#")]
    joined = np.concatenate([soundfile.read(tmp_path / "parts" / name, dtype="int16")[0] for name in files])
    whole = np.concatenate(list(blocks(timeline.events)))
    assert np.array_equal(joined, np.clip(np.round(whole * 32767), -32768, 32767).astype(np.int16))


def test_split_export_refuses_before_writing_anything_when_one_part_exists(tmp_path, timeline):
    folder = tmp_path / "parts"
    folder.mkdir()
    taken = folder / plan_parts(timeline, ".mp3")[2].filename
    taken.write_bytes(b"mine")
    with pytest.raises(OutputError, match="exists; use --force to overwrite"):
        export_split(timeline, blocks, folder, format="mp3")
    assert sorted(p.name for p in folder.iterdir()) == [taken.name]


def test_an_error_during_a_split_export_publishes_none_of_the_parts(tmp_path, timeline):
    def failing(events):
        events = list(events)
        if events[0].start > timeline.total // 2:
            raise RuntimeError("engine died")
        return blocks(events)

    with pytest.raises(RuntimeError, match="engine died"):
        export_split(timeline, failing, tmp_path / "parts", format="ogg")
    assert not (tmp_path / "parts").exists()  # made for this export, removed with it
    (tmp_path / "parts").mkdir()
    with pytest.raises(RuntimeError, match="engine died"):
        export_split(timeline, failing, tmp_path / "parts", format="ogg")
    assert list((tmp_path / "parts").iterdir()) == []  # the user's own folder stays, empty


def test_split_into_a_folder_whose_parent_is_missing_is_refused(tmp_path, timeline):
    with pytest.raises(OutputError, match="does not exist; create it or choose another --split folder"):
        export_split(timeline, blocks, tmp_path / "a" / "b", format="wav")


# --- interrupting a real export ----------------------------------------------------------------------------

LONG_ROUTINE = """\
title: One long hold
steps:
  - say: Press gently.
    hold: 59m
"""


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_an_export_stopped_midway_leaves_no_file_and_no_partial(tmp_path, cache_root, signal_name):
    import os
    import signal
    import subprocess
    import sys
    import time

    routine = tmp_path / "long.yaml"
    routine.write_text(LONG_ROUTINE)
    target = tmp_path / "long.mp3"  # an hour of MP3 takes seconds to encode: time to interrupt it
    process = subprocess.Popen(
        [sys.executable, "-m", "voice_guide", "export", str(routine), "-o", str(target), "--quiet"],
        env={**os.environ, "XDG_CACHE_HOME": str(cache_root)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not any(".voice-guide-partial-" in p.name for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "the export ended before it was stopped"
        time.sleep(0.05)
    process.send_signal(getattr(signal, signal_name))
    process.communicate(timeout=60)
    assert process.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.yaml"]


@needs_ffmpeg
def test_split_parts_are_numbered_tracks_of_an_album_named_after_the_routine(tmp_path, timeline):
    metadata = Metadata("Short test routine", comment="A quick routine.")
    written = export_split(timeline, blocks, tmp_path / "parts", format="mp3", metadata=metadata)
    tags = [tags_of(ffprobe(path)) for path in written[:-1]]
    assert [(t["album"], t["track"]) for t in tags] == [("Short test routine", f"{n}/{len(tags)}")
                                                        for n in range(1, len(tags) + 1)]
    assert [t["title"] for t in tags][:2] == ["Introduction", "Sit down."]
    assert all("comment" in t and ffprobe(p)["chapters"] == [] for t, p in zip(tags, written))
