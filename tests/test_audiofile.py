"""The audio file writer: every format read back, tags and chapters, reproducible bytes, and the file rules
(no overwrite without force, no partial file after an error, an interrupt, a crash or a full disk)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from .conftest import tmpfs
from .probes import decoded_samples, ffprobe, needs_ffmpeg, tags_of
from voice_guide.atomicfile import clean_stale_partials, partial_path
from voice_guide.audiofile import _ENCODINGS, AudioFileWriter, write_all
from voice_guide.errors import OutputError, VoiceGuideError
from voice_guide.formats import AUDIO
from voice_guide.pcm import pcm16
from voice_guide.tags import Chapter, Metadata

RATE = 22050
ALL_FORMATS = ["wav", "flac", "ogg", "mp3"]
METADATA = Metadata(
    title="Arch self-massage",
    comment="Thumb pressure along the arch.",
    chapters=(
        Chapter(0.0, 1.25, "Sit with your foot on your thigh."),
        Chapter(1.25, 2.5, "Press along the arch, heel to ankle."),
        Chapter(2.5, 3.1, "Short one."),
    ),
)


def tone(seconds: float = 3.1, level: float = 0.3, hz: float = 440.0) -> np.ndarray:
    """A test signal with an odd length, so any rounding to codec frames would show."""
    t = np.arange(int(seconds * RATE) + 17) / RATE
    return (level * np.sin(2 * np.pi * hz * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) / 1.5).astype(np.float32)


def noise(seconds: float) -> np.ndarray:
    """Sound no codec can squeeze much."""
    return np.random.default_rng(7).uniform(-0.5, 0.5, int(seconds * RATE)).astype(np.float32)


def blocks_of(samples: np.ndarray, size: int = 5000) -> list[np.ndarray]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".voice-guide-partial-" in p.name)


@pytest.fixture(params=ALL_FORMATS)
def fmt(request) -> str:
    return request.param


# --- formats -----------------------------------------------------------------------------------------------


def test_every_format_of_the_registry_has_an_encoding_and_no_other():
    assert tuple(_ENCODINGS) == AUDIO.names == tuple(ALL_FORMATS)


def test_every_format_reads_back_with_exactly_the_samples_written(tmp_path, fmt):
    samples = tone()
    target = tmp_path / f"r.{fmt}"
    write_all(target, blocks_of(samples), sample_rate=RATE, metadata=METADATA)
    info = soundfile.info(target)
    assert (info.frames, info.samplerate, info.channels) == (len(samples), RATE, 1)


@needs_ffmpeg
def test_every_format_decodes_with_ffmpeg_to_the_written_length(tmp_path, fmt):
    # ffmpeg honours the MP3's LAME header (encoder delay and padding), so even MP3 decodes to the exact length.
    # (ffmpeg 5.1 miscounts Ogg Vorbis files under about 5 s, held in a single page; routines are longer.)
    samples = np.tile(tone(), 3)
    target = tmp_path / f"r.{fmt}"
    write_all(target, blocks_of(samples), sample_rate=RATE, metadata=METADATA)
    assert len(decoded_samples(target)) == len(samples)


def test_wav_holds_exactly_the_pcm16_bytes_the_player_sends(tmp_path):
    samples = tone(level=1.2)  # beyond full scale: the clipping must match too
    target = tmp_path / "r.wav"
    write_all(target, blocks_of(samples), sample_rate=RATE)
    written, _ = soundfile.read(target, dtype="int16")
    assert written.tobytes() == pcm16(samples).tobytes()


def test_flac_is_lossless_against_the_wav(tmp_path):
    samples = tone()
    write_all(tmp_path / "r.wav", [samples], sample_rate=RATE)
    write_all(tmp_path / "r.flac", [samples], sample_rate=RATE)
    wav, _ = soundfile.read(tmp_path / "r.wav", dtype="int16")
    flac, _ = soundfile.read(tmp_path / "r.flac", dtype="int16")
    assert np.array_equal(wav, flac)


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_lossy_formats_stay_close_to_the_signal(tmp_path, fmt):
    samples = tone()
    target = tmp_path / f"r.{fmt}"
    write_all(target, [samples], sample_rate=RATE)
    decoded, _ = soundfile.read(target, dtype="float32")
    error = decoded - samples
    snr = 10 * np.log10(np.sum(samples.astype(np.float64) ** 2) / np.sum(error.astype(np.float64) ** 2))
    assert snr > 15, f"{fmt} decodes {snr:.1f} dB from the signal (expected a time-aligned, close copy)"
    level = np.dot(decoded, samples) / np.dot(samples, samples)
    assert level == pytest.approx(1.0, abs=0.02), f"{fmt} changes the level by {20 * np.log10(level):.2f} dB"


def test_mp3_is_mono_vbr_with_a_lame_header(tmp_path):
    from mutagen.mp3 import MP3, BitrateMode

    target = tmp_path / "r.mp3"
    write_all(target, [tone()], sample_rate=RATE)
    info = MP3(target).info
    assert (info.bitrate_mode, info.channels, info.sample_rate) == (BitrateMode.VBR, 1, RATE)
    assert info.encoder_info.startswith("LAME"), "no LAME header: players could not trim delay and padding"
    assert info.encoder_settings == "-V 3"


def test_a_long_single_block_is_written_safely(tmp_path):
    # libsndfile's Vorbis encoder crashes the process on a single write of millions of frames.
    samples = np.tile(tone(1.0), 120)
    target = tmp_path / "long.ogg"
    write_all(target, [samples], sample_rate=RATE)
    assert soundfile.info(target).frames == len(samples)


# --- tags and chapters -------------------------------------------------------------------------------------


@needs_ffmpeg
def test_ffprobe_shows_title_artist_album_and_comment(tmp_path, fmt):
    target = tmp_path / f"r.{fmt}"
    write_all(target, [tone()], sample_rate=RATE, metadata=METADATA)
    tags = tags_of(ffprobe(target))
    assert (tags["title"], tags["artist"], tags["album"], tags["comment"]) == (
        "Arch self-massage", "voice-guide", "voice-guide", "Thumb pressure along the arch.",
    )


@needs_ffmpeg
def test_ffprobe_lists_one_chapter_per_step_in_order_with_its_name_and_start(tmp_path, fmt):
    target = tmp_path / f"r.{fmt}"
    write_all(target, [tone()], sample_rate=RATE, metadata=METADATA)
    chapters = ffprobe(target)["chapters"]
    assert [(c["tags"]["title"], float(c["start_time"])) for c in chapters] == [
        (c.title, c.start) for c in METADATA.chapters
    ]


@needs_ffmpeg
def test_titles_beyond_ascii_survive_in_every_format(tmp_path, fmt):
    target = tmp_path / f"r.{fmt}"
    metadata = Metadata("Fußmassage — Zehen & Ferse", chapters=(Chapter(0.0, 1.0, "Drücke sanft… 足"),))
    write_all(target, [tone()], sample_rate=RATE, metadata=metadata)
    probe = ffprobe(target)
    assert (tags_of(probe)["title"], probe["chapters"][0]["tags"]["title"]) == (metadata.title, "Drücke sanft… 足")


@needs_ffmpeg
def test_mp3_chapters_have_a_table_of_contents_in_step_order(tmp_path):
    from mutagen.id3 import ID3

    target = tmp_path / "r.mp3"
    write_all(target, [tone()], sample_rate=RATE, metadata=METADATA)
    tags = ID3(target)
    toc = tags.getall("CTOC")[0]
    chapters = {c.element_id: c for c in tags.getall("CHAP")}
    listed = [(chapters[i].start_time, chapters[i].end_time, chapters[i].sub_frames["TIT2"].text[0])
              for i in toc.child_element_ids]
    assert listed[:2] == [(0, 1250, METADATA.chapters[0].title), (1250, 2500, METADATA.chapters[1].title)]
    # The last one runs on to the container's end: the samples' 3100 ms plus the encoder's delay and padding.
    assert listed[2][0] == 2500 and listed[2][2] == "Short one."
    assert listed[2][1] == round(float(ffprobe(target)["format"]["duration"]) * 1000) > 3100
    assert tags.version == (2, 3, 0)


@pytest.mark.parametrize("fmt", ["ogg", "flac"])
def test_ogg_and_flac_carry_vorbis_chapter_comments(tmp_path, fmt):
    import mutagen

    target = tmp_path / f"r.{fmt}"
    write_all(target, [tone()], sample_rate=RATE, metadata=METADATA)
    tags = mutagen.File(target).tags
    assert (tags["CHAPTER002"], tags["CHAPTER002NAME"]) == (["00:00:01.250"], [METADATA.chapters[1].title])


@needs_ffmpeg
def test_without_metadata_the_file_has_no_tags_or_chapters(tmp_path, fmt):
    target = tmp_path / f"r.{fmt}"
    write_all(target, [tone()], sample_rate=RATE)
    probe = ffprobe(target)
    assert (probe["chapters"], "title" in tags_of(probe)) == ([], False)


# --- reproducible bytes -------------------------------------------------------------------------------------


def test_the_same_input_gives_the_same_bytes_in_every_format(tmp_path, fmt):
    first, second = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    write_all(first, blocks_of(tone()), sample_rate=RATE, metadata=METADATA)
    time.sleep(1.1)  # a clock-seeded serial number or a timestamp would now differ
    write_all(second, blocks_of(tone(), 777), sample_rate=RATE, metadata=METADATA)
    assert first.read_bytes() == second.read_bytes()


def test_ogg_pages_keep_valid_checksums_after_the_serial_is_fixed(tmp_path):
    from voice_guide.tags import OGG_SERIAL, ogg_crc

    target = tmp_path / "r.ogg"
    write_all(target, [tone()], sample_rate=RATE, metadata=METADATA)
    data = target.read_bytes()
    offset, pages = 0, 0
    while offset < len(data):
        segments = data[offset + 26]
        end = offset + 27 + segments + sum(data[offset + 27 : offset + 27 + segments])
        page = data[offset:end]
        assert int.from_bytes(page[14:18], "little") == OGG_SERIAL
        assert int.from_bytes(page[22:26], "little") == ogg_crc(page[:22] + bytes(4) + page[26:])
        offset, pages = end, pages + 1
    assert pages >= 3


# --- the file rules ----------------------------------------------------------------------------------------


def test_an_existing_file_is_kept_without_force(tmp_path):
    target = tmp_path / "r.wav"
    target.write_bytes(b"precious")
    with pytest.raises(OutputError) as caught:
        write_all(target, [tone()], sample_rate=RATE)
    assert str(caught.value) == f"{target} exists; use --force to overwrite"
    assert target.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


def test_force_replaces_an_existing_file(tmp_path, fmt):
    target = tmp_path / f"r.{fmt}"
    target.write_bytes(b"old")
    write_all(target, [tone()], sample_rate=RATE, force=True)
    assert soundfile.info(target).frames == len(tone())


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(OutputError) as caught:
        write_all(tmp_path / "nowhere" / "r.wav", [tone()], sample_rate=RATE)
    assert str(caught.value) == f"folder {tmp_path / 'nowhere'} does not exist; create it or choose another output path"


def test_a_folder_as_destination_is_refused(tmp_path):
    (tmp_path / "r.wav").mkdir()
    with pytest.raises(OutputError, match="r.wav is a folder; give a file name to write"):
        write_all(tmp_path / "r.wav", [tone()], sample_rate=RATE, force=True)


def test_nothing_is_visible_at_the_destination_while_writing(tmp_path):
    target = tmp_path / "r.flac"
    with AudioFileWriter(target, sample_rate=RATE) as writer:
        writer.write(tone())
        assert not target.exists()
        assert leftovers(tmp_path) == [partial_path(target).name]
    assert target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("engine died"), KeyboardInterrupt()])
def test_an_error_mid_write_leaves_no_file_at_all(tmp_path, fmt, error):
    target = tmp_path / f"r.{fmt}"
    with pytest.raises(type(error)):
        with AudioFileWriter(target, sample_rate=RATE, metadata=METADATA) as writer:
            writer.write(tone())
            raise error
    assert list(tmp_path.iterdir()) == []


def test_an_error_mid_write_keeps_the_file_that_was_there(tmp_path):
    target = tmp_path / "r.mp3"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with AudioFileWriter(target, sample_rate=RATE, force=True) as writer:
            writer.write(tone())
            raise RuntimeError("stop")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_file_that_appears_while_writing_is_not_overwritten(tmp_path):
    target = tmp_path / "r.wav"
    with pytest.raises(OutputError, match="exists; use --force to overwrite"):
        with AudioFileWriter(target, sample_rate=RATE) as writer:
            writer.write(tone())
            target.write_bytes(b"someone else's")
    assert target.read_bytes() == b"someone else's" and leftovers(tmp_path) == []


LOCK_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_partial_file_locked_by_a_live_writer_is_kept_whatever_pid_its_name_says(tmp_path):
    # Another container or machine: the pid in the name means nothing here (this one is dead in our namespace),
    # only the lock its writer holds tells that it is alive.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = partial_path(tmp_path / "busy.mp3", dead.pid)
    live.write_bytes(b"being written")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        stale = partial_path(tmp_path / "old.mp3", os.getppid())  # a live pid, but nobody holds the file
        stale.write_bytes(b"half")
        write_all(tmp_path / "new.wav", [tone()], sample_rate=RATE)
        assert not stale.exists() and live.exists()
    finally:
        holder.kill()
        holder.wait()
    assert clean_stale_partials(tmp_path) == [live]  # its writer gone, the lock went with it


def test_an_empty_unlocked_partial_file_is_kept_only_while_it_is_young(tmp_path):
    # A writer creates its file empty and locks it an instant later: a young empty file may be in that instant.
    young, old = partial_path(tmp_path / "a.wav", os.getppid()), partial_path(tmp_path / "b.wav", os.getppid())
    young.touch()
    old.touch()
    os.utime(old, (time.time() - 60, time.time() - 60))
    assert clean_stale_partials(tmp_path) == [old]
    assert young.exists()


def test_cleaning_leaves_files_that_only_look_like_partials_alone(tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"mine")
    link = partial_path(tmp_path / "a.wav", 101)
    link.symlink_to(target)
    fifo = partial_path(tmp_path / "b.wav", 102)
    os.mkfifo(fifo)
    assert clean_stale_partials(tmp_path) == []
    assert link.is_symlink() and fifo.exists() and target.read_bytes() == b"mine"


def test_a_partial_name_is_shortened_to_fit_while_two_long_names_keep_their_own(tmp_path):
    first, second = (tmp_path / ("x" * 250 + ending) for ending in ("1.wav", "2.wav"))
    assert partial_path(first) != partial_path(second)
    for target in (first, second):
        assert len(partial_path(target).name.encode()) <= 255
        write_all(target, [tone(0.1)], sample_rate=RATE)
        assert target.exists()
    assert leftovers(tmp_path) == []


def test_a_file_name_too_long_for_any_file_system_is_refused_plainly(tmp_path):
    with pytest.raises(OutputError, match="the file name is longer than 255 bytes; choose a shorter one"):
        write_all(tmp_path / ("é" * 127 + ".wav"), [tone(0.1)], sample_rate=RATE)


WRITER_SCRIPT = """
import sys, time, numpy as np
from voice_guide.audiofile import AudioFileWriter
with AudioFileWriter(sys.argv[1], sample_rate=22050) as writer:
    print("writing", flush=True)
    while True:
        writer.write(np.zeros(2205, dtype=np.float32))
        time.sleep(0.01)
"""


def start_slow_writer(target: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(target)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    return process


@pytest.mark.slow
def test_ctrl_c_while_writing_leaves_no_file(tmp_path):
    target = tmp_path / "r.ogg"
    process = start_slow_writer(target)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=20)
    assert process.returncode != 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_killed_writer_leaves_only_a_hidden_partial_file_that_the_next_run_removes(tmp_path):
    target = tmp_path / "r.wav"
    process = start_slow_writer(target)
    process.kill()
    process.wait(timeout=20)
    assert not target.exists()
    assert leftovers(tmp_path) == [partial_path(target, process.pid).name]
    write_all(target, [tone()], sample_rate=RATE)
    assert target.exists() and leftovers(tmp_path) == []


def test_a_full_disk_gives_a_clear_error_and_leaves_nothing(tiny_disk, fmt):
    target = tiny_disk / f"r.{fmt}"
    with pytest.raises(VoiceGuideError) as caught:
        write_all(target, blocks_of(noise(20.0)), sample_rate=RATE, metadata=METADATA)
    assert str(caught.value) == (
        f"no space left on the device holding {tiny_disk} while writing r.{fmt}; nothing was written. "
        "Free some space or choose another folder."
    )
    assert list(tiny_disk.iterdir()) == []


def test_a_small_file_fits_on_the_small_disk(tiny_disk):
    write_all(tiny_disk / "r.mp3", [tone(1.0)], sample_rate=RATE)
    assert (tiny_disk / "r.mp3").exists()


def test_write_outside_the_with_block_is_a_programming_error(tmp_path):
    writer = AudioFileWriter(tmp_path / "r.wav", sample_rate=RATE)
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        writer.write(tone())


def test_a_folder_that_cannot_be_written_gives_the_reason(tmp_path):
    # Root may write anywhere; a read-only mount refuses everyone.
    with tmpfs(tmp_path / "ro", "ro,size=64k") as folder:
        with pytest.raises(OutputError) as caught:
            write_all(folder / "r.mp3", [tone()], sample_rate=RATE)
        assert str(caught.value) == f"cannot write r.mp3 in {folder}: Read-only file system"


@pytest.mark.parametrize("fmt", [name for name, encoding in _ENCODINGS.items() if encoding.pcm16])
def test_16_bit_samples_handed_over_as_such_make_the_same_file_as_the_float_samples(tmp_path, fmt):
    samples = tone()
    from_pcm = tmp_path / f"b.{fmt}"
    with AudioFileWriter(from_pcm, sample_rate=RATE, metadata=METADATA) as writer:
        assert writer.takes_pcm16
        for block in blocks_of(samples, 7001):
            writer.write_pcm16(pcm16(block).tobytes())
            writer.silence(3)
    with AudioFileWriter(tmp_path / f"c.{fmt}", sample_rate=RATE, metadata=METADATA) as writer:
        for block in blocks_of(samples, 7001):
            writer.write(block)
            writer.silence(3)
    assert from_pcm.read_bytes() == (tmp_path / f"c.{fmt}").read_bytes()
    assert soundfile.info(from_pcm).frames == len(samples) + 3 * len(blocks_of(samples, 7001))


def test_a_wav_is_tagged_in_one_pass_with_the_tag_mutagen_reads(tmp_path):
    from mutagen.wave import WAVE

    target = tmp_path / "t.wav"
    write_all(target, [tone()], sample_rate=RATE, metadata=METADATA)
    tags = WAVE(target).tags
    assert str(tags["TIT2"]) == METADATA.title and len(tags.getall("CHAP")) == len(METADATA.chapters)
    assert soundfile.info(target).frames == len(tone())


# --- the kept ID3 tags (tags.id3_tag with a cache folder) ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_a_kept_id3_tag_gives_the_same_file_as_one_made_afresh_and_spares_mutagen(tmp_path, fmt):
    from voice_guide import tags

    samples = tone()
    made = tmp_path / f"made.{fmt}"
    write_all(made, [samples], sample_rate=RATE, metadata=METADATA)
    cache = tmp_path / "tags"
    for name in ("first", "kept"):
        with AudioFileWriter(tmp_path / f"{name}.{fmt}", sample_rate=RATE, metadata=METADATA,
                             tag_cache_dir=cache) as out:
            out.write(samples)
        if name == "first":  # from now on, building a tag would fail: only the kept ones can be used
            kept = sorted(cache.glob("*.id3"))
            original, tags._made_id3_tag = tags._made_id3_tag, None
    tags._made_id3_tag = original
    assert kept and sorted(cache.glob("*.id3")) == kept
    assert (tmp_path / f"first.{fmt}").read_bytes() == made.read_bytes() == (tmp_path / f"kept.{fmt}").read_bytes()


def test_a_damaged_or_misplaced_kept_tag_is_made_again_not_used(tmp_path):
    from voice_guide.tags import id3_tag

    cache = tmp_path / "tags"
    other = Metadata(title="Another routine")
    fresh = id3_tag(METADATA, 3100)
    assert id3_tag(METADATA, 3100, cache_dir=cache) == fresh
    [entry] = cache.glob("*.id3")
    data = entry.read_bytes()
    entry.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the tag changed in place
    assert id3_tag(METADATA, 3100, cache_dir=cache) == fresh
    assert entry.read_bytes() == data  # made again and kept again
    id3_tag(other, 3100, cache_dir=cache)
    [theirs] = [path for path in cache.glob("*.id3") if path != entry]
    theirs.write_bytes(data)  # another tag's entry under this name: its key says whose it is
    assert id3_tag(other, 3100, cache_dir=cache) == id3_tag(other, 3100)
    assert id3_tag(METADATA, 3101, cache_dir=cache) == id3_tag(METADATA, 3101) != fresh


def test_a_tag_cache_that_cannot_be_written_only_makes_the_tag_each_time(tmp_path):
    from voice_guide.tags import id3_tag

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert id3_tag(METADATA, 3100, cache_dir=blocker / "tags") == id3_tag(METADATA, 3100)


def test_a_tag_cache_folder_that_is_a_link_is_not_read(tmp_path):
    import hashlib

    from voice_guide.tags import id3_tag

    fresh = id3_tag(METADATA, 3100)
    elsewhere = tmp_path / "elsewhere"
    id3_tag(METADATA, 3100, cache_dir=elsewhere)
    [entry] = elsewhere.glob("*.id3")
    data = entry.read_bytes()
    head = len(data) - len(fresh)
    planted = fresh[:-1] + b"X"  # another tag, with its checksum made to match
    entry.write_bytes(data[:head - 32] + hashlib.sha256(planted).digest() + planted)
    assert id3_tag(METADATA, 3100, cache_dir=elsewhere) == planted  # a folder of ours: its entry is used
    (tmp_path / "link").symlink_to(elsewhere)
    assert id3_tag(METADATA, 3100, cache_dir=tmp_path / "link") == fresh
