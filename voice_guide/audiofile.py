"""The audio file writer: float blocks in, a finished WAV, FLAC, OGG Vorbis or MP3 file out, published atomically.

Encoding goes through libsndfile (python-soundfile) for FLAC and OGG and through LAME (mp3.py) for MP3, so no
external ffmpeg is needed; WAV is written directly, its silences left as holes in the file, its tag after the
samples, once: numpy is not needed for it, nor for MP3 given 16-bit samples (`write_pcm16`). Other formats are
tagged after the audio is closed (tags.py). Then the file is synced and moved to its destination in one step.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Iterable

from .atomicfile import AtomicDestination, StreamDestination, is_no_space, no_space_error
from .errors import VoiceGuideError
from .formats import AUDIO, format_for
from .mp3 import Mp3Encoder
from .pcm import pcm16
from .tags import Metadata, id3_tag, make_deterministic, write_tags
from .timefmt import samples_to_ms

if TYPE_CHECKING:
    from contextlib import ExitStack

    import numpy

# The encoder always gets blocks of exactly this many frames (the last one shorter), whatever the caller's
# block sizes: Vorbis packs pages differently for different write sizes, so this keeps the bytes a function of
# the samples alone. It also stays clear of a crash (SIGSEGV) in libsndfile's Vorbis encoder on huge writes.
_CHUNK = 1 << 16


@dataclass(frozen=True)
class _Encoding:
    """How libsndfile is asked to write one of our formats."""

    container: str
    subtype: str
    pcm16: bool  # lossless formats get the exact int16 samples the player sends
    compression_level: float | None = None
    bitrate_mode: str | None = None


_ENCODINGS = {
    "wav": _Encoding("WAV", "PCM_16", pcm16=True),
    "flac": _Encoding("FLAC", "PCM_16", pcm16=True),
    # libsndfile maps the level to Vorbis quality 1 - level: 0.3 -> q0.7, about 15 kbit/s over a whole routine
    # (pauses cost nearly nothing). Lower qualities raise the decoded true peak by up to 1 dB over the input.
    "ogg": _Encoding("OGG", "VORBIS", pcm16=False, compression_level=0.3),
    # LAME VBR -V3: about 60 kbit/s while speaking, almost nothing in the pauses. Not CBR: LAME's CBR presets at
    # these rates scale the input by 0.95, which would leave MP3s 0.45 LU under the target. Written by mp3.py.
    "mp3": _Encoding("MP3", "MPEG_LAYER_III", pcm16=True),
}


class AudioFileWriter:
    """Streams float32 mono blocks into an audio file that appears at `path` only when complete.

    With `stream` (standard output), the finished file is copied there instead, only when complete: no format
    streams as it is made, because tags, chapters and the header's length are written after the audio.

    >>> import numpy as np, tempfile
    >>> target = Path(tempfile.mkdtemp()) / "beep.wav"
    >>> with AudioFileWriter(target, sample_rate=22050) as out:
    ...     out.write(np.zeros(22050, dtype=np.float32))
    >>> target.stat().st_size
    44144
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sample_rate: int,
        format: str | None = None,
        force: bool = False,
        metadata: Metadata | None = None,
        stream: BinaryIO | None = None,
        tag_cache_dir: Path | None = None,
    ):
        self.path = Path(path)
        self.format = format_for(self.path, AUDIO, format)
        self.sample_rate = sample_rate
        self.force = force
        self.metadata = metadata
        self.tag_cache_dir = tag_cache_dir  # where ID3 tags made before are kept (tags.id3_tag)
        self.frames = 0
        self._destination = (
            AtomicDestination(self.path, force=force) if stream is None else StreamDestination(stream, str(path))
        )
        self._file = None  # the open soundfile.SoundFile while writing
        self._chunk = None  # frames collected for the encoder, _filled of them valid
        self._filled = 0
        self.takes_pcm16 = _ENCODINGS[self.format].pcm16  # stores 16-bit samples: write_pcm16 is what it keeps

    def __enter__(self) -> "AudioFileWriter":
        encoding = _ENCODINGS[self.format]
        if self.takes_pcm16:  # little-endian 16-bit samples, seen two bytes at a time
            self._chunk = memoryview(bytearray(2 * _CHUNK)).cast("h")
        else:
            import numpy as np

            self._chunk = np.zeros(_CHUNK, dtype=np.float32)
        self._filled = 0
        temporary = self._destination.__enter__()
        try:
            if self.format == "mp3":
                self._file = _Mp3File(temporary, self.sample_rate, self._provisional_id3())
                return self
            if self.format == "wav":
                self._file = _WavFile(temporary, self.sample_rate)
                return self
            import soundfile

            self._file = soundfile.SoundFile(
                temporary,
                "w",
                samplerate=self.sample_rate,
                channels=1,
                format=encoding.container,
                subtype=encoding.subtype,
                compression_level=encoding.compression_level,
                bitrate_mode=encoding.bitrate_mode,
            )
        except BaseException as error:
            self._destination.__exit__(type(error), error, error.__traceback__)
            if not isinstance(error, Exception):
                raise  # KeyboardInterrupt and friends pass through untouched
            raise self._translated(error) from error
        return self

    def _provisional_id3(self) -> bytes:
        """The MP3's tag before its audio is encoded, so the file is written once (see tags.id3_tag)."""
        if self.metadata is None:
            return b""
        chapters = self.metadata.chapters
        return id3_tag(self.metadata, round(chapters[-1].end * 1000) if chapters else 0, cache_dir=self.tag_cache_dir)

    def publish_later(self, stack: "ExitStack") -> None:
        """Publish only when `stack` closes without an error (several files appear together, or none)."""
        self._destination.publish_later(stack)

    def write(self, block: "numpy.ndarray") -> None:
        """Append samples (float, mono, nominally in [-1, 1]); lossless formats store `pcm.pcm16` of them."""
        import numpy as np

        if self._file is None:
            raise RuntimeError("AudioFileWriter.write() called outside its `with` block")
        samples = np.asarray(block, dtype=np.float32).reshape(-1)
        if self.takes_pcm16:
            self._append(memoryview(pcm16(samples)).cast("B").cast("h"))
        else:
            self._append(np.clip(samples, -1.0, 1.0))

    def write_pcm16(self, pcm: bytes) -> None:
        """Append 16-bit little-endian samples: the same as write() of the float samples they are pcm16 of
        (only for formats that store 16-bit samples, `takes_pcm16`)."""
        if self._file is None:
            raise RuntimeError("AudioFileWriter.write_pcm16() called outside its `with` block")
        if not self.takes_pcm16:
            raise ValueError(f"{self.format} is not written from 16-bit samples; use write()")
        samples = memoryview(pcm).cast("B").cast("h")
        if isinstance(self._file, _WavFile):  # the clip goes to the file as it is: no copy into a chunk
            self._flush()
            try:
                self._file.write(samples)
            except Exception as error:
                raise self._translated(error) from error
            self.frames += len(samples)
            return
        self._append(samples)

    def _append(self, data) -> None:
        """Collect samples (16-bit little-endian, or float32: as the chunk holds) into chunks for the encoder."""
        taken = 0
        while taken < len(data):
            room = _CHUNK - self._filled
            piece = data[taken : taken + room]
            self._chunk[self._filled : self._filled + len(piece)] = piece
            self._filled += len(piece)
            taken += len(piece)
            if self._filled == _CHUNK:
                self._flush()
        self.frames += len(data)

    def silence(self, frames: int) -> None:
        """Append `frames` zeros: the same bytes as write() of zeros, with nothing to convert."""
        if self._file is None:
            raise RuntimeError("AudioFileWriter.silence() called outside its `with` block")
        if isinstance(self._file, _WavFile):  # a hole in the file: zeros that cost no write
            self._flush()
            self._file.skip(frames)
            self.frames += frames
            return
        left = frames
        while left > 0:
            n = min(left, _CHUNK - self._filled)
            self._chunk[self._filled : self._filled + n] = _zeros(self._chunk, n)
            self._filled += n
            left -= n
            if self._filled == _CHUNK:
                self._flush()
        self.frames += frames

    def _flush(self) -> None:
        """Hand the collected chunk to the encoder."""
        if not self._filled:
            return
        try:
            chunk = self._chunk[: self._filled]
            self._file.write(chunk if isinstance(self._file, (_WavFile, _Mp3File)) or not self.takes_pcm16
                             else _int16_array(chunk))
        except Exception as error:
            raise self._translated(error) from error
        self._filled = 0

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            try:
                self._close_quietly()  # closing the encoder takes a while: long enough for a second Ctrl+C
            finally:
                self._destination.__exit__(exc_type, exc, tb)
            return
        try:
            self._finish()
        except BaseException as error:
            self._close_quietly()
            self._destination.discard()
            if isinstance(error, Exception):
                raise self._translated(error) from error
            raise
        self._destination.__exit__(None, None, None)

    def _finish(self) -> None:
        """Close the encoder, then tag the closed file and make its bytes depend only on its content."""
        self._flush()
        file, self._file = self._file, None
        temporary = self._destination.temporary
        if isinstance(file, _WavFile):
            file.close(self._wav_tag())
        else:
            file.close()
            if self.metadata is not None:
                write_tags(temporary, self.format, self.metadata, frames=self.frames, sample_rate=self.sample_rate,
                           cache_dir=self.tag_cache_dir)
        make_deterministic(temporary, self.format)

    def _wav_tag(self) -> bytes:
        """The WAV's ID3 tag (text tags and chapters, see tags.id3_tag), written after its samples."""
        if self.metadata is None:
            return b""
        return id3_tag(self.metadata, samples_to_ms(self.frames, self.sample_rate), cache_dir=self.tag_cache_dir)

    def _close_quietly(self) -> None:
        """Close the encoder after a failure; its own complaints add nothing."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except Exception:
                pass

    def _translated(self, error: BaseException) -> BaseException:
        """Our error for a backend failure: a full disk gets its own message, anything else names the file."""
        if isinstance(error, VoiceGuideError):
            return error
        if is_no_space(error, self._destination.temporary.parent):
            return no_space_error(self.path)
        return VoiceGuideError(f"could not write {self.path}: {error}")


class _WavFile:
    """16-bit mono PCM WAV (the canonical 44-byte header), written directly: the samples as they come, silence
    as a hole in the file (it reads back as zeros; nothing is written or synced for it), then the tag in an
    `id3 ` chunk, as players and mutagen read it."""

    def __init__(self, path: Path, sample_rate: int):
        self._handle = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._rate = sample_rate
        self._frames = 0
        self._handle.write(self._header())

    def write(self, samples) -> None:
        """16-bit little-endian samples (a memoryview or array of them)."""
        self._handle.write(memoryview(samples).cast("B"))
        self._frames += len(samples)

    def skip(self, frames: int) -> None:
        self._handle.seek(2 * frames, os.SEEK_CUR)
        self._frames += frames

    def close(self, tag: bytes = b"") -> None:
        try:
            self._handle.seek(len(self._header()) + 2 * self._frames)  # past a hole at the end: part of the file
            trailer = b"id3 " + struct.pack("<I", len(tag)) + tag + b"\0" * (len(tag) & 1) if tag else b""
            self._handle.write(trailer)
            self._handle.truncate()
            self._handle.seek(0)
            self._handle.write(self._header(len(trailer)))
        finally:
            self._handle.close()

    def _header(self, trailer: int = 0) -> bytes:
        data = 2 * self._frames
        fmt = struct.pack("<HHIIHH", 1, 1, self._rate, 2 * self._rate, 2, 16)  # PCM, mono, 16-bit
        return b"RIFF" + struct.pack("<I", 36 + data + trailer) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + \
            b"data" + struct.pack("<I", data)


class _Mp3File:
    """The MP3 encoder behind the same write/close as a soundfile.SoundFile."""

    def __init__(self, path: Path, sample_rate: int, head: bytes = b""):
        self._handle = open(path, "wb")  # noqa: SIM115 - closed by close()
        try:
            self._handle.write(head)  # the tag, when it can be written first
            self._encoder = Mp3Encoder(self._handle, sample_rate=sample_rate)
        except BaseException:
            self._handle.close()
            raise

    def write(self, samples) -> None:
        """16-bit samples (a memoryview or array of them)."""
        self._encoder.write(samples)

    def close(self) -> None:
        try:
            self._encoder.close()
        finally:
            self._handle.close()


def _zeros(chunk, n: int):
    """n zeros of the chunk's kind, to assign into it."""
    if isinstance(chunk, memoryview):
        return memoryview(bytes(2 * n)).cast("h")
    return 0


def _int16_array(chunk: memoryview) -> "numpy.ndarray":
    """A chunk of 16-bit samples as the array libsndfile's writer takes."""
    import numpy as np

    return np.frombuffer(chunk, dtype="<i2")


def write_all(path: str | os.PathLike[str], blocks: Iterable["numpy.ndarray"], **kw) -> None:
    """Write every block to `path` in one go (keywords as for AudioFileWriter).

    >>> import numpy as np, tempfile
    >>> target = Path(tempfile.mkdtemp()) / "quiet.flac"
    >>> write_all(target, [np.zeros(100, dtype=np.float32)], sample_rate=22050)
    >>> target.exists()
    True
    """
    with AudioFileWriter(path, **kw) as writer:
        for block in blocks:
            writer.write(block)
