"""The sound device: 16-bit mono PCM played through simpleaudio (ALSA on Linux), failures as AudioDeviceError."""

from __future__ import annotations

import atexit
import sys
import threading
from typing import Any, Protocol

from .errors import AudioDeviceError
from .timeline import SAMPLE_RATE

CHANNELS = 1
BYTES_PER_SAMPLE = 2


class Sink(Protocol):
    """Where PCM goes: 16-bit mono at the timeline's rate. Raises AudioDeviceError when it cannot play."""

    def play(self, pcm: bytes) -> None: ...

    def stop_all(self) -> None: ...

    def wait_done(self) -> None: ...


class SimpleaudioSink:
    """Plays each buffer at once on the default output; `stop_all()` silences everything it started.

    >>> sink = SimpleaudioSink()  # doctest: +SKIP
    >>> sink.play(b"\\0\\0" * 22050)  # one second of quiet  # doctest: +SKIP
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, *, backend: Any = None):
        """`backend` stands in for the simpleaudio module (tests); by default the real one."""
        if backend is None:
            try:
                import simpleaudio as backend
            except ImportError as error:  # the wheel needs libasound2-dev to build
                raise AudioDeviceError(
                    f"simpleaudio is not installed ({error}); on Debian/Ubuntu run `sudo apt-get install "
                    "libasound2-dev` and reinstall voice-guide"
                ) from error
            quiet_alsa()
        self._simpleaudio = backend
        self._rate = sample_rate
        self._handles: list[Any] = []
        self._lock = threading.Lock()

    def play(self, pcm: bytes) -> None:
        """Start playing `pcm` now; returns as soon as the device has it."""
        try:
            handle = self._simpleaudio.play_buffer(pcm, CHANNELS, BYTES_PER_SAMPLE, self._rate)
        except Exception as error:
            retry = self._retry_when_busy(pcm, error)
            if retry is None:
                raise device_error(error) from error
            handle = retry
        with self._lock:
            self._handles = [h for h in self._handles if h.is_playing()] + [handle]

    def _retry_when_busy(self, pcm: bytes, error: Exception) -> Any | None:
        # A device without mixing (a bare hw: PCM) refuses a second stream while the previous one drains its
        # last few milliseconds: let it finish, then try once more.
        with self._lock:
            playing = [h for h in self._handles if h.is_playing()]
        if not playing or "busy" not in str(error).lower():
            return None
        for handle in playing:
            handle.wait_done()
        try:
            return self._simpleaudio.play_buffer(pcm, CHANNELS, BYTES_PER_SAMPLE, self._rate)
        except Exception:
            return None

    def stop_all(self) -> None:
        """Silence every sound this sink started."""
        with self._lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.stop()

    def wait_done(self) -> None:
        """Block until every sound started has finished."""
        with self._lock:
            handles = list(self._handles)
        for handle in handles:
            handle.wait_done()


def device_error(error: BaseException) -> AudioDeviceError:
    """A simpleaudio/ALSA failure as our error, its words kept.

    >>> str(device_error(RuntimeError("Error opening PCM device. -- CODE: -2")))
    'the audio device failed: Error opening PCM device. -- CODE: -2'
    """
    detail = " ".join(str(error).split()) or type(error).__name__
    return AudioDeviceError(f"the audio device failed: {detail}")


_ALSA_HANDLER = None  # kept alive for as long as the library may call it


def quiet_alsa() -> None:
    """Keep libasound from printing its own errors on stderr: we report device failures as one plain line."""
    global _ALSA_HANDLER
    if _ALSA_HANDLER is not None or not sys.platform.startswith("linux"):
        return
    import ctypes  # only for playing: `check` and `export` do not pay for loading it

    try:
        library = ctypes.CDLL("libasound.so.2")
    except OSError:
        return
    # snd_lib_error_handler_t is variadic; the fixed arguments are all we read (none), which is safe to declare.
    handler_type = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
    )
    _ALSA_HANDLER = handler_type(lambda *args: None)
    library.snd_lib_error_set_handler(_ALSA_HANDLER)
    # Back to the library's own handler before the interpreter goes: a Python callback must not be called then.
    atexit.register(library.snd_lib_error_set_handler, None)
