"""Tags and chapters in a finished audio file, and the Ogg fix that makes its bytes reproducible.

MP3 gets ID3v2.3 (TIT2/TPE1/TALB/COMM/TRCK, TLEN, CHAP + CTOC), Ogg Vorbis and FLAC get Vorbis comments
(TITLE/ARTIST/ALBUM/COMMENT/TRACKNUMBER and the CHAPTERnnn/CHAPTERnnnNAME chapter extension), WAV gets an ID3 chunk.
All of them are what ffprobe, phones and podcast players read.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from . import cachefiles
from .timefmt import milliseconds, samples_to_ms, timestamp

# Ogg stream serial numbers are random in libsndfile (seeded from the clock); any fixed value makes repeat
# exports byte-identical. "voic" in ASCII.
OGG_SERIAL = 0x766F6963


@dataclass(frozen=True)
class Chapter:
    """A named stretch of the file, in seconds (one per step)."""

    start: float
    end: float
    title: str


@dataclass(frozen=True)
class Metadata:
    """What a phone's player shows: title, artist, album, a comment, chapters, and (split parts) a track number."""

    title: str
    comment: str | None = None
    artist: str = "voice-guide"
    album: str = "voice-guide"
    chapters: tuple[Chapter, ...] = ()
    track: tuple[int, int] | None = None  # (number, of how many): orders the files of a split export


def write_tags(path: Path, format: str, metadata: Metadata, *, frames: int, sample_rate: int,
               cache_dir: Path | None = None) -> None:
    """Add title, artist, album, comment and chapters to a closed audio file of `format` (a WAV's tag, id3_tag,
    is written by the WAV writer after the samples: no second pass over the file). `cache_dir`: see id3_tag.

    >>> from voice_guide.tags import Metadata
    >>> write_tags(Path("x.wav"), "aiff", Metadata("t"), frames=0, sample_rate=22050)
    Traceback (most recent call last):
    ...
    ValueError: no tag writer for format 'aiff'
    """
    if format == "mp3":
        _tag_mp3(path, format, metadata, samples_to_ms(frames, sample_rate), cache_dir=cache_dir)
    elif format in ("ogg", "flac"):
        _tag_vorbis_comments(path, format, metadata, samples_to_ms(frames, sample_rate))
    else:
        raise ValueError(f"no tag writer for format {format!r}")


def mutagen_module(format: str) -> str:
    """The mutagen module the tags of a `format` file are made with (a WAV's and an MP3's: ID3).

    >>> mutagen_module("wav"), mutagen_module("flac")
    ('mutagen.id3', 'mutagen.flac')
    """
    return {"ogg": "mutagen.oggvorbis", "flac": "mutagen.flac"}.get(format, "mutagen.id3")


def mp3_container_ms(path: Path) -> int | None:
    """How long an MP3's container says it is, in ms: its frame count (from the Xing/Info header in its first
    frame) times the samples per frame. That is the length ffprobe and players show, the encoder's delay and
    padding included (a few tens of ms more than the decoded samples); None without such a header.

    >>> mp3_container_ms(Path("/no/such.mp3")) is None
    True
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(10)
            if head[:3] == b"ID3" and len(head) == 10:  # skip a tag before the audio
                handle.seek(10 + _syncsafe(head[6:10]))
                head = b""
            head += handle.read(4096)
    except OSError:
        return None
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None  # not a frame at the start (the audio is tagged only after this)
    version = (head[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    rate = _MP3_RATES.get(version, (0, 0, 0, 0))[(head[2] >> 2) & 3]
    for magic in (b"Xing", b"Info"):
        at = head.find(magic, 4, 64)
        if rate and at >= 0 and head[at + 7] & 1:  # flags: the frame count is there
            count = int.from_bytes(head[at + 8 : at + 12], "big")
            per_frame = 1152 if version == 3 else 576
            return -(-count * per_frame * 1000 // rate)
    return None


_MP3_RATES = {3: (44100, 48000, 32000, 0), 2: (22050, 24000, 16000, 0), 0: (11025, 12000, 8000, 0)}


def chapter_stamp(seconds: float) -> str:
    """HH:MM:SS.mmm, as the Vorbis chapter extension writes a chapter's start.

    >>> chapter_stamp(3725.0004)
    '01:02:05.000'
    """
    return timestamp(milliseconds(seconds))


def vorbis_comments(metadata: Metadata) -> list[tuple[str, str]]:
    """The Vorbis comments for a file, in a fixed order (chapters numbered from 001).

    >>> from voice_guide.tags import Chapter, Metadata
    >>> vorbis_comments(Metadata("Arch", chapters=(Chapter(1.5, 9.0, "Sit down."),)))[-2:]
    [('CHAPTER001', '00:00:01.500'), ('CHAPTER001NAME', 'Sit down.')]
    """
    pairs = [("TITLE", metadata.title), ("ARTIST", metadata.artist), ("ALBUM", metadata.album)]
    if metadata.comment:
        pairs.append(("COMMENT", metadata.comment))
    if metadata.track is not None:
        pairs += [("TRACKNUMBER", str(metadata.track[0])), ("TRACKTOTAL", str(metadata.track[1]))]
    for number, chapter in enumerate(metadata.chapters, start=1):
        pairs.append((f"CHAPTER{number:03d}", chapter_stamp(chapter.start)))
        pairs.append((f"CHAPTER{number:03d}NAME", chapter.title))
    return pairs


def _tag_vorbis_comments(path: Path, format: str, metadata: Metadata, length_ms: int) -> None:
    """Ogg Vorbis and FLAC share the Vorbis comment block."""
    if format == "ogg":
        from mutagen.oggvorbis import OggVorbis as Opener
    else:
        from mutagen.flac import FLAC as Opener

    audio = Opener(path)
    audio.delete()  # whatever the encoder put there: only ours, in our order
    for key, value in vorbis_comments(metadata):
        audio.tags.append((key, value))
    audio.save()


def _id3_frames(metadata: Metadata, length_ms: int, end_ms: int | None = None) -> list:
    """ID3 frames for MP3 and WAV: text tags, the exact length, and chapters with a table of contents; the last
    chapter ends at `end_ms` when given (an MP3's container end)."""
    from mutagen.id3 import CHAP, COMM, CTOC, TALB, TIT2, TLEN, TPE1, TRCK, CTOCFlags

    frames = [
        TIT2(encoding=3, text=[metadata.title]),
        TPE1(encoding=3, text=[metadata.artist]),
        TALB(encoding=3, text=[metadata.album]),
        TLEN(encoding=3, text=[str(length_ms)]),
    ]
    if metadata.comment:
        frames.append(COMM(encoding=3, lang="eng", desc="", text=[metadata.comment]))
    if metadata.track is not None:
        frames.append(TRCK(encoding=3, text=[f"{metadata.track[0]}/{metadata.track[1]}"]))
    ids = [f"chp{number:03d}" for number in range(len(metadata.chapters))]
    if ids:
        frames.append(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=3, text=["Steps"])],
            )
        )
    for element_id, chapter in zip(ids, metadata.chapters):
        end = milliseconds(chapter.end)
        if end_ms is not None and element_id == ids[-1]:
            end = max(end, end_ms)
        frames.append(
            CHAP(
                element_id=element_id,
                start_time=milliseconds(chapter.start),
                end_time=end,
                start_offset=0xFFFFFFFF,  # "use the times", as the ID3 chapter spec says
                end_offset=0xFFFFFFFF,
                sub_frames=[TIT2(encoding=3, text=[chapter.title])],
            )
        )
    return frames


def _in_added_order(tags):
    """The same ID3 tag, made to write its frames in the order they were added.

    mutagen sorts frames by size when saving, which puts CHAP frames out of time order; ffprobe (5.x) numbers
    chapters in file order, so a tag written in mutagen's order lists the steps shuffled.
    """
    base = type(tags)
    tags.__class__ = type(f"Ordered{base.__name__}", (base,), {"_write": _write_in_added_order})
    return tags


def _write_in_added_order(self, config) -> bytes:
    """ID3Tags._write without the sorting (no unknown frames to carry: we build the tag from scratch)."""
    from mutagen.id3._tags import save_frame  # the one helper mutagen itself writes frames with

    return b"".join(save_frame(frame, config=config) for frame in self.values())


def _tag_mp3(path: Path, format: str, metadata: Metadata, length_ms: int, *, cache_dir: Path | None = None) -> None:
    """ID3v2.3: the version every phone and car stereo reads; chapters per the ID3 chapter addendum.

    The last chapter runs to the end of the file as players see it (its frames), not only of its samples. When
    the file already starts with a tag of the same size (id3_tag, written before the audio), it is overwritten
    in place; otherwise mutagen puts it in front of the audio, which moves the whole file.
    """
    tag = id3_tag(metadata, length_ms, mp3_container_ms(path), cache_dir=cache_dir)
    with open(path, "r+b") as handle:
        head = handle.read(10)
        if head[:3] == b"ID3" and 10 + _syncsafe(head[6:10]) == len(tag):
            handle.seek(0)
            handle.write(tag)
            return
    from mutagen.id3 import ID3

    tags = _in_added_order(ID3())
    for frame in _id3_frames(metadata, length_ms, mp3_container_ms(path)):
        tags.add(frame)
    tags.save(path, v2_version=3, v1=0, padding=lambda info: 0)


def id3_tag(metadata: Metadata, length_ms: int, end_ms: int | None = None, *, cache_dir: Path | None = None) -> bytes:
    """The ID3v2.3 tag of an MP3 or a WAV, as bytes. An MP3's is written in front of the audio before it is
    encoded, and again, with the frames' real end, over itself once they are (the chapter times are fixed-size
    numbers); a WAV's goes in its `id3 ` chunk, after the samples (WAV has no standard chapter form players
    agree on: the chapters there are for those that read ID3).

    With `cache_dir`, a tag made before for the same metadata is read from there (see _cached_tag): importing
    mutagen and building the frames is a tenth of a warm export's CPU."""
    if cache_dir is not None:
        return _cached_tag(cache_dir, metadata, length_ms, end_ms)
    return _made_id3_tag(metadata, length_ms, end_ms)


# A kept tag: this head, its key (64 hex digits), the SHA-256 of the tag, then the tag.
_TAG_MAGIC = b"voice-guide id3 tag 1\n"
_TAG_LIMIT = 1 << 20  # bytes: no tag of ours is near this (a 200-step routine's is about 30 KB)
TAG_CACHE_LIMIT = 4 << 20  # bytes of kept tags; the least recently used go first


def _cached_tag(cache_dir: Path, metadata: Metadata, length_ms: int, end_ms: int | None) -> bytes:
    """id3_tag, kept in `cache_dir` under a hash of everything that makes it: the metadata and times (their exact
    repr), this module's source and mutagen's version. An entry is used only if its key and checksum agree (one
    moved under another's name or damaged is made again), and only from a folder of ours (cachefiles: not a
    link, not another user's); a cache that cannot be written is only slower."""
    try:
        cachefiles.private_folder(cache_dir)
    except OSError:
        return _made_id3_tag(metadata, length_ms, end_ms)
    parts = (_TAG_MAGIC, Path(__file__).read_bytes(), cachefiles.package_stamp("mutagen", "__init__.py"),
             repr((metadata, length_ms, end_ms)).encode("utf-8"))
    key = hashlib.sha256(b"\0".join(hashlib.sha256(part).digest() for part in parts)).hexdigest().encode("ascii")
    path = cache_dir / f"{key.decode('ascii')}.id3"
    head = len(_TAG_MAGIC) + len(key)
    data = cachefiles.read_entry(path, _TAG_LIMIT)
    if data is not None:
        if data[:head] == _TAG_MAGIC + key and hashlib.sha256(data[head + 32:]).digest() == data[head:head + 32]:
            return data[head + 32:]
        cachefiles.remove(path)
    tag = _made_id3_tag(metadata, length_ms, end_ms)
    try:
        cachefiles.write_entry(path, _TAG_MAGIC + key + hashlib.sha256(tag).digest() + tag)
        cachefiles.evict(cache_dir, (".id3",), TAG_CACHE_LIMIT)
    except OSError:
        pass
    return tag


def _made_id3_tag(metadata: Metadata, length_ms: int, end_ms: int | None) -> bytes:
    from io import BytesIO

    from mutagen.id3 import ID3

    tags = _in_added_order(ID3())
    for frame in _id3_frames(metadata, length_ms, end_ms):
        tags.add(frame)
    out = BytesIO()
    tags.save(out, v2_version=3, v1=0, padding=lambda info: 0)
    return out.getvalue()


def _syncsafe(size: bytes) -> int:
    return sum((byte & 0x7F) << (7 * (3 - i)) for i, byte in enumerate(size))


def make_deterministic(path: Path, format: str) -> None:
    """Remove what would differ between two exports of the same audio (only Ogg's random serial number).

    >>> make_deterministic(Path("no-such.wav"), "wav")
    """
    if format == "ogg":
        rewrite_ogg_serial(path, OGG_SERIAL)


def ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, no inversion) of a page with its CRC field zeroed.

    zlib's CRC-32 is the reflected one; on bit-reversed input it gives the bit-reversed Ogg CRC, once its
    initial and final inversions are cancelled by the CRC of as many zero bytes.

    >>> hex(ogg_crc(b"OggS"))
    '0x5fb0a94f'
    """
    reflected = zlib.crc32(page.translate(_BIT_REVERSED)) ^ zlib.crc32(bytes(len(page)))
    return int(f"{reflected:032b}"[::-1], 2)


_BIT_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))
_OGG_HEADER = 27  # fixed part of a page header, before the segment table


def rewrite_ogg_serial(path: Path, serial: int) -> None:
    """Set every page's stream serial number to `serial` and fix its CRC, in place, one page at a time."""
    serial_bytes = serial.to_bytes(4, "little")
    with open(path, "r+b") as handle:
        while True:
            start = handle.tell()
            header = handle.read(_OGG_HEADER)
            if not header:
                return
            if len(header) < _OGG_HEADER or header[:4] != b"OggS":
                raise ValueError(f"{path}: not an Ogg page at byte {start}")
            table = handle.read(header[26])
            body = handle.read(sum(table))
            page = header[:14] + serial_bytes + header[18:22] + bytes(4) + header[26:] + table + body
            handle.seek(start + 14)
            handle.write(serial_bytes + header[18:22] + ogg_crc(page).to_bytes(4, "little"))
            handle.seek(start + len(page))
