"""The microphone: the default ALSA capture device at 16 kHz, mono, 16-bit little-endian (pyalsaaudio).

That is pocketsphinx's own format, so nothing is converted, and it is what tests feed through ALSA's `file`
plugin (`infile`). The audio is only ever held in memory, in the process that listens.
"""

from __future__ import annotations

import time

from .errors import AudioDeviceError

RATE = 16000
CHANNELS = 1
PERIOD = 1024  # samples per read: 64 ms
NO_MICROPHONE = "no microphone found; keys still work"


class MicrophoneError(AudioDeviceError):
    """No capture device, a busy one, or a capture that failed."""


class Microphone:
    """Reads the default capture device one period at a time.

    >>> with Microphone() as microphone:   # doctest: +SKIP
    ...     pcm, heard_at = microphone.read()   # 2048 bytes, and the perf_counter() reading when they arrived
    """

    def __init__(self, device: str = "default", period: int = PERIOD):
        self._device = device
        self._period = period
        self._pcm = None

    def __enter__(self) -> "Microphone":
        try:
            import alsaaudio
        except ImportError as error:
            raise MicrophoneError(f"{NO_MICROPHONE} (pyalsaaudio is not installed)") from error
        try:
            self._pcm = alsaaudio.PCM(
                type=alsaaudio.PCM_CAPTURE, mode=alsaaudio.PCM_NORMAL, rate=RATE, channels=CHANNELS,
                format=alsaaudio.PCM_FORMAT_S16_LE, periodsize=self._period, device=self._device,
            )
        except alsaaudio.ALSAAudioError as error:
            raise MicrophoneError(f"{NO_MICROPHONE} ({error})") from error
        return self

    def read(self) -> tuple[bytes, float]:
        """The next period of audio (bytes of S16_LE) and the clock reading when it arrived."""
        import alsaaudio

        assert self._pcm is not None, "use Microphone as a context manager"
        while True:
            try:
                length, data = self._pcm.read()
            except alsaaudio.ALSAAudioError as error:
                raise MicrophoneError(f"the microphone stopped working ({error}); keys still work") from error
            if length > 0:
                return data, time.perf_counter()
            if length < 0:  # an overrun: samples were lost, the next read starts fresh
                continue
            time.sleep(0.005)

    def __exit__(self, *exc_info: object) -> None:
        if self._pcm is not None:
            try:
                self._pcm.close()
            except Exception:  # noqa: BLE001 - closing a device that already failed
                pass
            self._pcm = None
