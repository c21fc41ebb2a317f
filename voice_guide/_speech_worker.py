"""The speech worker: a subprocess that owns pyttsx3, so the main process never loads an engine.

Run from its own folder, not as `-m voice_guide...`, so that starting it does not import the voice_guide package:
start-up time is the player's first-word latency. `_speech_process.default_command` imports it by name from that
folder (its compiled bytecode is used, where running this file as a script would compile it on every start);
`python path/to/_speech_worker.py` works too. Stdlib only here, and only what the worker uses before its first
reply (no argparse, typing or the like); numpy/soundfile are imported only for engines that write something other
than 16-bit WAV at 22050 Hz.

Protocol: one JSON object per line. The worker first answers {"ok": true, "engine": ...} (or
{"ok": false, "error": ...} when the engine cannot load), then one reply per request line:
    {"op": "voices"}  -> {"ok": true, "engine", "default": id, "voices": [{"id", "name", "languages", "gender"}],
                          "variants": [the same fields; espeak-ng only]}
    {"op": "synth", "text", "voice", "voice_name", "rate", "out"}  -> {"ok": true, "frames": n, "preloaded": bool}
Replies go to a private copy of the original stdout; fd 1 itself points at /dev/null, because the espeak
driver prints "Audio saved to ..." and the CLI's stdout must stay clean.

With espeak, every request runs in a child forked from this process, so every utterance starts from the
same engine state: espeak keeps state between utterances that no call resets (its pitch "flutter" is a
position in a table, a static variable in wavegen.c that only advances, and voices with breath or the klatt
variants draw on rand()), so a reused engine says the same text a few samples differently the second time.
Once a child has shown the engine starts (its data may be missing: then the child dies with espeak's own
message), this process initialises espeak once through pyttsx3 and every later child inherits it. That is
fork-safe because of how the children use it: each switches espeak to its synchronous output mode, where
synthesis runs on the calling thread and never touches the command queue or the lock of espeak's own thread
(the one thread the child does not have). The samples are byte-identical to an engine made in the child.
"""

from __future__ import annotations

import array
import gc
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
import traceback
import warnings
import wave
import zlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (the names below are annotations only)
if TYPE_CHECKING:
    from typing import IO, Any, Callable

SAMPLE_RATE = 22050  # timeline.SAMPLE_RATE; not imported, see the module docstring
SILENCE_THRESHOLD = 104  # -50 dBFS of a 16-bit full scale (32768 * 10 ** (-50 / 20))
KEEP_LEADING = SAMPLE_RATE // 100  # 10 ms before the first sound, so cues start on time
KEEP_TRAILING = SAMPLE_RATE * 80 // 1000  # 80 ms after the last sound, a natural release
_STDERR_SHOWN = 300  # characters of a crashed engine's stderr passed on
KEY_CHUNK = b"vgky"  # _speech_cache.KEY_CHUNK: what the entry holds (its key, JSON)
CHECKSUM_CHUNK = b"vgck"  # _speech_cache.CHECKSUM_CHUNK: a CRC-32 of the key and the data chunk's bytes
WORK_SUFFIX = ".d"  # _speech_cache.WORK_SUFFIX: `<temporary>.d`, the private folder the engine writes into
ESPEAK_BUFFER_MS = 1000  # the output buffer pyttsx3's espeak driver asks for; a child keeps it (same chunks)
ENOUTPUT_MODE_SYNCHRONOUS = 1  # espeak_ng.h: synthesis runs in the caller's thread, no command queue
_TRIM_BLOCK = 256  # samples looked at per step when searching for the first loud one
FINISH_WAIT_SECONDS = 60.0  # longer than any sane per-utterance timeout: the parent decides when to give up
INSTALL_HINT = {
    "espeak": "speech engine espeak-ng is not installed: run `sudo apt-get install espeak-ng libespeak-ng1`",
}


def main(argv: list[str] | None = None) -> int:
    """Serve requests from stdin until it closes."""
    options = _parse(argv)
    replies = _private_stdout()
    # libespeak-ng opens a PulseAudio client even when it only renders to memory, and that creates
    # ~/.config/pulse on every run; a worker never plays a sound, so it gets a server that is not there.
    os.environ["PULSE_SERVER"] = "unix:/nonexistent/voice-guide-renders-only"
    try:
        driver = _load_driver()
    except Exception as error:  # noqa: BLE001 - any import failure means "no engine"; say which
        _send(replies, {"ok": False, "error": startup_failure_message(_driver_name(), error)})
        return 1
    fork = options.fork == "yes" or (options.fork == "auto" and driver == "espeak" and hasattr(os, "fork"))
    run = _forked if fork else _inline
    preload = fork and driver == "espeak" and options.preload == "auto"
    _send(replies, {"ok": True, "engine": driver, "pid": os.getpid()})

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        nonlocal preload
        if _PRELOADED and request.get("op") == "synth":
            _voice_ahead(request["voice"])
        if preload and request.get("op") == "voices" and _lists_before_initialising():
            reply = _voices_beside_first_child(driver)
        else:
            reply = run(lambda: _handle(request, driver))
        if reply.get("crashed"):
            reply = explain_crash(driver, reply)
        if preload and reply.get("ok"):  # a child has shown the engine starts
            preload = False
            _preload()
        return reply

    # The voice list asked for before it is asked (`--voices-ahead`: the parent started this worker before it knew
    # the voice, and will ask): it is made while the parent is still starting, then sent when asked for.
    listed = answer({"op": "voices"}) if options.voices_ahead else None
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "voices" and listed is not None:
            reply, listed = listed, None
            _send(replies, reply)
            if _PRELOADED and reply.get("default"):
                # The engine's default voice, which most routines use, selected (its dictionary read) while the
                # parent resolves the voice and prepares its first line; another voice is selected when asked for.
                _voice_ahead(reply["default"])
            continue
        _send(replies, answer(request))
    _reap(block=True)
    return 0


def startup_failure_message(driver: str, error: BaseException) -> str:
    """What to tell the user when the engine cannot even be loaded.

    >>> startup_failure_message("espeak", RuntimeError("no eSpeak"))[:36]
    'speech engine espeak-ng is not insta'
    """
    hint = INSTALL_HINT.get(driver)
    if hint is not None:
        return f"{hint} ({type(error).__name__}: {error})"
    return f"speech engine {driver} could not start: {type(error).__name__}: {error}"


def trim(pcm: array.array) -> array.array:
    """The samples with leading silence cut to 10 ms and trailing silence to 80 ms (-50 dBFS).

    >>> len(trim(array.array("h", [0] * 1000 + [5000] + [0] * 5000)))
    1985
    """
    return pcm[_kept(pcm)]


def _kept(pcm: array.array) -> slice:
    """Which samples `trim` keeps (none when all are quiet), so a caller can take them without a copy."""
    first = _first_loud(pcm, forward=True)
    if first is None:
        return slice(0, 0)
    last = _first_loud(pcm, forward=False)
    assert last is not None  # `first` itself is loud
    return slice(max(0, first - KEEP_LEADING), min(len(pcm), last + 1 + KEEP_TRAILING))


def _first_loud(pcm: array.array, *, forward: bool) -> int | None:
    """The index of the first (or, not `forward`, the last) sample that reaches the silence threshold.

    Blocks of samples are skipped while their max and min (C loops) stay inside the threshold; only the block
    that holds the loud sample is looked at one sample at a time.
    """
    size = len(pcm)
    starts = range(0, size, _TRIM_BLOCK) if forward else range((size - 1) // _TRIM_BLOCK * _TRIM_BLOCK, -1, -_TRIM_BLOCK)
    for start in starts:
        block = pcm[start : start + _TRIM_BLOCK]
        if max(block) >= SILENCE_THRESHOLD or min(block) <= -SILENCE_THRESHOLD:
            inside = range(len(block)) if forward else range(len(block) - 1, -1, -1)
            return start + next(i for i in inside if abs(block[i]) >= SILENCE_THRESHOLD)
    return None


def write_wav(path: str, pcm: array.array | memoryview, key: bytes = b"") -> None:
    """16-bit mono WAV at SAMPLE_RATE: the entry's key in a chunk before the samples, a checksum chunk after.

    The parent checks the header and the key, then moves the file into the cache; the key lets a later reader
    tell an entry moved under another's name, the checksum one whose samples were changed in place (a bad sector,
    a stray write). Players and libsndfile skip chunks they do not know. `path` exists already (the parent made
    it exclusively) and is never followed if someone put a link there.
    """
    data = memoryview(_swap_if_big_endian(pcm)).cast("B")  # the samples' bytes, not a copy of them
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)  # PCM, mono, 16-bit
    head = b"".join((
        b"fmt ", struct.pack("<I", len(fmt)), fmt,
        KEY_CHUNK, struct.pack("<I", len(key)), key, b"\0" * (len(key) & 1),  # chunks are padded to even sizes
        b"data", struct.pack("<I", len(data)),  # even length: 16-bit samples need no pad byte
    ))
    tail = CHECKSUM_CHUNK + struct.pack("<II", 4, zlib.crc32(data, zlib.crc32(key)))
    riff = b"RIFF" + struct.pack("<I", 4 + len(head) + len(data) + len(tail)) + b"WAVE"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        for piece in (riff + head, data, tail):
            out.write(piece)


def decode(path: str) -> array.array:
    """The engine's output as 16-bit mono samples at SAMPLE_RATE, whatever container it wrote.

    The macOS driver writes AIFF whatever the file is called, so the fast path checks the content
    (RIFF/WAVE, 16-bit, mono, 22050 Hz) and anything else goes through soundfile.
    """
    try:
        with wave.open(path, "rb") as clip:
            if (clip.getsampwidth(), clip.getnchannels(), clip.getframerate()) == (2, 1, SAMPLE_RATE):
                pcm = array.array("h", clip.readframes(clip.getnframes()))
                return _swap_if_big_endian(pcm)
    except (wave.Error, EOFError):
        pass
    return _decode_other(path)


def _decode_other(path: str) -> array.array:
    import numpy as np
    import soundfile

    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = resample(mono, rate)
    pcm = np.clip(np.round(mono * 32767.0), -32768, 32767).astype("<i2")
    return array.array("h", pcm.tobytes())


def resample(samples: Any, rate: int) -> Any:
    """`samples` (numpy float array at `rate`) at SAMPLE_RATE: polyphase with scipy, else linear."""
    import numpy as np

    try:
        from math import gcd

        from scipy.signal import resample_poly
    except ImportError:
        times = np.arange(round(len(samples) * SAMPLE_RATE / rate)) * (rate / SAMPLE_RATE)
        return np.interp(times, np.arange(len(samples)), samples).astype(np.float32)
    common = gcd(rate, SAMPLE_RATE)
    return resample_poly(samples, SAMPLE_RATE // common, rate // common).astype(np.float32)


def _swap_if_big_endian(pcm: array.array) -> array.array:
    if sys.byteorder == "big":
        pcm = array.array("h", pcm)
        pcm.byteswap()
    return pcm


class Options:
    """The worker's command-line options (its only caller is _speech_process, so no argparse to import)."""

    CHOICES = {"--fork": ("auto", "yes", "no"), "--preload": ("auto", "no")}

    def __init__(self, fork: str = "auto", preload: str = "auto", voices_ahead: bool = False):
        self.fork = fork  # run each request in a fresh child process (auto: with espeak)
        self.preload = preload  # initialise espeak once here for the children (no: each child makes its own)
        self.voices_ahead = voices_ahead  # list the voices (and preload) at once; answer the first request with it


def _parse(argv: list[str] | None) -> Options:
    """The options in `argv` (default: this process's arguments); a wrong one exits with status 2, like argparse.

    >>> vars(_parse(["--fork", "no", "--voices-ahead"]))
    {'fork': 'no', 'preload': 'auto', 'voices_ahead': True}
    """
    args = list(sys.argv[1:] if argv is None else argv)
    values: dict[str, Any] = {}
    while args:
        name, _, value = args.pop(0).partition("=")
        if name == "--voices-ahead" and not value:
            values["voices_ahead"] = True
            continue
        choices = Options.CHOICES.get(name)
        if choices is not None and not value and args:
            value = args.pop(0)
        if choices is None or value not in choices:
            allowed = "; ".join(f"{option} {{{','.join(known)}}}" for option, known in Options.CHOICES.items())
            print(f"_speech_worker: bad option {name!r}{f' {value!r}' if value else ''} (options: {allowed}; "
                  "--voices-ahead)", file=sys.stderr)
            sys.exit(2)
        values[name[2:]] = value
    return Options(**values)


def _private_stdout() -> IO[str]:
    """A copy of fd 1 for replies; fd 1 and sys.stdout then go to /dev/null."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    return replies


def _send(replies: IO[str], message: dict[str, Any]) -> None:
    replies.write(json.dumps(message) + "\n")
    replies.flush()


def _driver_name() -> str:
    try:
        from pyttsx3.engine import default_engine_by_sys_platform
    except Exception:  # noqa: BLE001 - pyttsx3 itself is missing or broken
        return "pyttsx3"
    return default_engine_by_sys_platform()


def _load_driver() -> str:
    """Import pyttsx3 and its platform driver (this is where a missing libespeak-ng shows), not the engine."""
    import importlib

    import pyttsx3  # noqa: F401

    driver = _driver_name()
    importlib.import_module(f"pyttsx3.drivers.{driver}")
    return driver


def _inline(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return work()
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises EngineError
        return _failure(error)


def _forked(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` in a child process and return its reply; a child that dies is reported, not fatal.

    A child that has handed back its reply is not waited for here: its exit (the kernel freeing its copied pages,
    a millisecond or two) goes on while the reply is sent and the next child starts (see _reap)."""
    return _reply_of(_start_child(work))


def _start_child(work: Callable[[], dict[str, Any]]) -> tuple[int, int, Any]:
    """A child process doing `work` (see _forked): its pid, the read end of its reply, the file of its stderr."""
    _reap(block=False)
    read_end, write_end = os.pipe()
    errors = tempfile.TemporaryFile()  # the child's stderr: what a dying engine says is the useful part
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking while espeak's thread exists; see the module docstring for why the
        # child never needs what that thread might hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: do the work, hand back the reply, never return into the loop
        global _child
        _child = True
        code = 0
        try:
            gc.disable()  # a child lives for one utterance: collecting would only copy the parent's pages
            os.close(read_end)
            os.dup2(errors.fileno(), 2)
            payload = json.dumps(_inline(work)).encode()
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        except BaseException:  # noqa: BLE001 - a child must always reach _exit
            code = 70
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end, errors


def _reply_of(child: tuple[int, int, Any]) -> dict[str, Any]:
    """The reply of a child started by _start_child, once it has given it (or died)."""
    pid, read_end, errors = child
    with os.fdopen(read_end, "rb") as reply:
        payload = reply.read()
    if payload:  # the child wrote its whole reply and is exiting (it only closes the pipe then _exits)
        errors.close()
        _answered.append(pid)
        return json.loads(payload)
    _, status = os.waitpid(pid, 0)
    with errors:
        errors.seek(0)
        said = errors.read().decode("utf-8", "replace")
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    return {"ok": False, "error": f"the engine process {_how_it_ended(status)}", "crashed": True,
            "stderr": " / ".join(lines)[-_STDERR_SHOWN:]}


_answered: list[int] = []  # children that have handed back their reply, not yet waited for (until the next line)


def _reap(*, block: bool) -> None:
    """Wait for the children that have answered: those gone already (`block`: all of them, exiting or not)."""
    for pid in list(_answered):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped already (SIGCHLD ignored): nothing to wait for
            done = pid
        if done:
            _answered.remove(pid)


def explain_crash(driver: str, reply: dict[str, Any]) -> dict[str, Any]:
    """A crashed engine's reply with its error explained: what it said on stderr, and, when its data is
    missing, what to install (then marked "missing": retrying cannot help).

    >>> explain_crash("espeak", {"error": "the engine process exited with status 1",
    ...                          "stderr": "Error processing file '/x/espeak-ng-data/phontab'"})["missing"]
    True
    """
    detail = reply.get("error", "the engine process died")
    if reply.get("stderr"):
        detail += f": {reply['stderr']}"
    if driver == "espeak" and "espeak-ng-data" in reply.get("stderr", ""):
        message = ("speech engine espeak-ng is not installed completely (its voice data is missing): "
                   f"run `sudo apt-get install --reinstall espeak-ng-data` ({detail})")
        return {**reply, "error": message, "missing": True}
    return {**reply, "error": detail}


def _how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _failure(error: BaseException) -> dict[str, Any]:
    detail = "".join(traceback.format_exception_only(type(error), error)).strip()
    return {"ok": False, "error": detail}


_PRELOADED: list[Any] = []  # the engine initialised in the forking process (see _preload), kept alive
_child = False  # this process is a child forked for one request
_synchronous = False  # espeak's output is synchronous here (see _synchronous_output)


def _preload() -> None:
    """Initialise espeak through pyttsx3 in this process, once, for every child forked after (when it cannot,
    each child goes on making its own engine).

    Only called once a child has started the engine, so a missing voice data folder is reported by a child
    (espeak then exits the process it runs in). Waits until espeak's thread has applied the driver's opening
    settings, so a fork never copies a half-applied one, and freezes the garbage collector's view of this
    process: children then copy fewer of its pages.
    """
    try:
        import pyttsx3
        from pyttsx3.drivers import _espeak

        if not hasattr(_espeak.dll, "espeak_ng_InitializeOutput"):  # an espeak older than espeak-ng 1.49
            return
        _PRELOADED.append(pyttsx3.init())
    except Exception:  # noqa: BLE001 - then every child goes on making its own engine, as without this
        return
    _keep_settings(_PRELOADED[0], "espeak")
    _settle("espeak")
    time.sleep(0.001)  # a command queued just now may not have woken espeak's thread yet
    _settle("espeak")
    gc.freeze()


_voice_set_ahead: list[str] = []  # the voice this forking process last selected for its children (see _voice_ahead)
_voice_taken = False  # espeak accepted that selection: its children need not select it again


def _voice_ahead(voice: str) -> None:
    """Select `voice` in this preloaded process before forking, so its children find it selected already.

    Selecting a voice loads its voice file and its dictionary (about 10 ms the first time, most of a line's cost).
    A child whose voice was taken here does not select it again: selecting a voice sets espeak's voice state from
    those files alone, and nothing has been synthesized here to change it, so a second selection would leave it as
    it is (the samples are the same bytes as a fresh engine's: tests/test_speech_worker.py). Nothing else is set
    here: rate and volume stay the child's (espeak applies them per utterance)."""
    global _voice_taken
    if _voice_set_ahead[-1:] == [voice]:
        return
    from pyttsx3.drivers.espeak import EspeakDriver

    _voice_set_ahead[:] = [voice]
    _voice_taken = False
    try:
        EspeakDriver.setProperty("voice", voice)
    except ValueError:  # not a voice espeak knows: the child tries it again and reports that as it always did
        pass
    else:
        _voice_taken = True
    _settle("espeak")


def _espeak_inherited() -> bool:
    """Whether this child's memory holds an espeak initialised by its parent (however far _preload got)."""
    driver = sys.modules.get("pyttsx3.drivers.espeak")
    return _child and driver is not None and bool(driver.EspeakDriver._moduleInitialized)


def _synchronous_output() -> None:
    """In a child of a preloaded process: espeak's output mode to synchronous (see the module docstring)."""
    global _synchronous
    import ctypes

    from pyttsx3.drivers import _espeak

    initialize = _espeak.dll.espeak_ng_InitializeOutput
    initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p)
    initialize.restype = ctypes.c_int
    status = initialize(ENOUTPUT_MODE_SYNCHRONOUS, ESPEAK_BUFFER_MS, None)
    if status != 0:
        raise RuntimeError(f"espeak could not switch to synchronous output (status {status})")
    _synchronous = True


def _handle(request: dict[str, Any], driver: str) -> dict[str, Any]:
    import pyttsx3

    if _espeak_inherited():
        _synchronous_output()
        if request["op"] == "synth":
            return _synthesize_inherited(request)
    engine = pyttsx3.init()  # the preloaded engine, if there is one (pyttsx3 keeps one per driver)
    if request["op"] == "default":
        return {"ok": True, "default": engine.getProperty("voice")}
    if request["op"] == "voices":
        return {"ok": True, "engine": driver, "default": engine.getProperty("voice"), "voices": _voices(engine),
                "variants": _variants(driver)}
    if request["op"] == "synth":
        return _synthesize(engine, driver, request)
    raise ValueError(f"unknown request {request['op']!r}")


def _lists_before_initialising() -> bool:
    """Whether espeak here can list its voices before it is initialised (espeak-ng 1.49 and later)."""
    from pyttsx3.drivers import _espeak

    return hasattr(_espeak.dll, "espeak_ng_InitializePath")


def _voices_beside_first_child(driver: str) -> dict[str, Any]:
    """The voice list (`voices`), made here while the first child starts the engine (espeak exits the process it
    starts in when its data is missing, so that is a child's) and says which voice it uses by default.

    espeak reads the list from its voice files alone, once it knows where its data is (the path it would find
    itself): the same list as an initialised engine's, made beside the child's start instead of after it. Nothing
    else of espeak is touched here before _preload, and the lines are the same bytes (tests/test_speech_worker.py).
    """
    from pyttsx3.drivers import _espeak
    from pyttsx3.drivers.espeak import EspeakDriver

    child = _start_child(lambda: _handle({"op": "default"}, driver))  # "default": the child's own request
    _espeak.dll.espeak_ng_InitializePath(None)
    voices, variants = _voices(EspeakDriver), _variants(driver)  # the driver's voice list needs no engine
    reply = _reply_of(child)
    if not reply.get("ok"):
        return reply
    return {"ok": True, "engine": driver, "default": reply["default"], "voices": voices, "variants": variants}


def _voices(engine: Any) -> list[dict[str, Any]]:
    voices = []
    for voice in engine.getProperty("voices"):
        languages = [_language(lang) for lang in (getattr(voice, "languages", None) or [])]
        gender = getattr(voice, "gender", None)
        voices.append({
            "id": voice.id,
            "name": voice.name or voice.id,
            "languages": [lang for lang in languages if lang],
            "gender": gender.lower() if isinstance(gender, str) and gender else None,
        })
    return voices


def _variants(driver: str) -> list[dict[str, Any]]:
    """espeak-ng's voice variants ('klatt', 'f3'), which change any voice's sound: `gmw/en-us+klatt`."""
    if driver != "espeak":
        return []
    import ctypes

    from pyttsx3.drivers import _espeak

    spec = _espeak.VOICE()
    spec.languages = b"variant"
    variants = []
    for variant in _espeak.ListVoices(ctypes.pointer(spec)):
        identifier = (variant.identifier or b"").decode("utf-8", "replace")
        variants.append({
            "id": identifier.rsplit("/", 1)[-1],  # the file name under espeak-ng-data/voices/!v/
            "name": (variant.name or b"").decode("utf-8", "replace") or identifier,
            "languages": ["variant"],
            "gender": (None, "male", "female")[variant.gender] if variant.gender in (1, 2) else None,
        })
    return variants


def _language(value: Any) -> str:
    """Drivers give tags as str, bytes, or (NSSS) locale strings like 'en_US'."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "ignore")
    return str(value).strip()


def _synthesize(engine: Any, driver: str, request: dict[str, Any]) -> dict[str, Any]:
    # Select by id, else by name; whether the engine took it is checked after speaking (see _settle).
    voice_id = request["voice"]
    _keep_settings(engine, driver)
    for handle in (voice_id, request["voice_name"]):
        _settle(driver)
        engine.setProperty("voice", handle)
        engine.setProperty("rate", int(request["rate"]))
        engine.setProperty("volume", 1.0)  # always full scale: the mixer applies the routine's volume
        _settle(driver)
        pcm = _record(engine, request["text"], request["out"] + WORK_SUFFIX)
        if str(engine.getProperty("voice") or "").lower() == voice_id.lower():
            break
    else:
        raise _not_accepted(request)
    return _written(request, pcm)


def _not_accepted(request: dict[str, Any]) -> RuntimeError:
    return RuntimeError(f"the engine did not accept voice {request['voice']!r} ({request['voice_name']!r})")


def _written(request: dict[str, Any], pcm: array.array | memoryview) -> dict[str, Any]:
    """The reply for a line spoken into `pcm`, its clip written where the request asks (only silence: refused)."""
    if not pcm:
        raise RuntimeError("the engine produced only silence")
    write_wav(request["out"], pcm, request.get("key", "").encode("utf-8"))
    return {"ok": True, "frames": len(pcm), "preloaded": _synchronous}


def _synthesize_inherited(request: dict[str, Any]) -> dict[str, Any]:
    """_synthesize in a child of a preloaded process: the same espeak calls, in the same order, through the
    espeak driver's own settings and pyttsx3's espeak binding, without the engine's proxy, callbacks and the
    WAV file the driver writes and this reads back (the child's cost per line is mostly the pages it touches).

    Per handle tried (the id, then the name): the voice (unless the parent selected it: _voice_ahead), the rate and
    full volume set, the text synthesized with the flags the driver passes, the voice checked after (so a second try
    starts where the engine's would). espeak hands the samples to `collect` in its synchronous output mode, on this
    thread, before Synth returns; they are the bytes the driver would have written, so the clip is byte-identical
    (tests/test_speech_worker.py holds it to a fresh engine).
    """
    import ctypes

    from pyttsx3.drivers import _espeak
    from pyttsx3.drivers.espeak import EspeakDriver

    voice_id = request["voice"]
    pcm = array.array("h")  # espeak's samples as it makes them, in this byte order (each is copied once, here)
    failures: list[BaseException] = []

    def collect(wav: Any, numsamples: int, events: Any) -> int:
        try:
            if numsamples > 0:
                pcm.frombytes(ctypes.string_at(wav, numsamples * 2))  # 16-bit samples
            return 0
        except Exception as error:  # noqa: BLE001 - raised below; ctypes would only print it
            failures.append(error)
            return 1  # tells espeak to stop synthesizing

    _espeak.SetSynthCallback(collect)
    for handle in (voice_id, request["voice_name"]):
        del pcm[:]
        try:
            if not (_voice_taken and _voice_set_ahead == [handle]):  # else selected by the parent (_voice_ahead)
                EspeakDriver.setProperty("voice", handle)
        except ValueError:  # espeak refused it: the engine's proxy only reports that, and the check below fails
            pass
        EspeakDriver.setProperty("rate", int(request["rate"]))
        EspeakDriver.setProperty("volume", 1.0)  # always full scale: the mixer applies the routine's volume
        status = _espeak.Synth(str(request["text"]).encode("utf-8"), flags=_espeak.ENDPAUSE | _espeak.CHARS_UTF8)
        if failures:
            raise failures[0]
        if status != 0:
            raise RuntimeError(f"espeak could not synthesize the text (status {status})")
        if str(EspeakDriver.getProperty("voice") or "").lower() == voice_id.lower():
            break
    else:
        raise _not_accepted(request)
    return _written(request, memoryview(pcm)[_kept(pcm)])  # the samples trim keeps, not a copy of them


def _keep_settings(engine: Any, driver: str) -> None:
    """Stop the espeak driver from cancelling, which would silently undo the rate we just set.

    Its runAndWait ends with stop(), which calls espeak_Cancel when espeak still looks busy, and
    espeak_Cancel resets every parameter to what it was at the previous utterance: about one
    utterance in twenty came out at 200 wpm instead of the rate asked for. Nothing is ever playing
    in a worker, so there is nothing to stop.
    """
    if driver == "espeak":
        engine.proxy._driver.stop = lambda: None


def _settle(driver: str) -> None:
    """Wait until espeak has applied the settings made so far.

    espeak (asynchronous mode) applies rate and volume on its own thread but voice changes on the
    caller's; waiting between them keeps the two from interleaving, so every utterance starts
    from the same state. (espeak_Synchronize would do, but it polls every 20 ms.)
    """
    if driver == "espeak":
        from pyttsx3.drivers import _espeak

        while _espeak.IsPlaying():
            time.sleep(0.0005)


def _report_callback_failures(engine: Any, finished: threading.Event) -> list[BaseException]:
    """Errors raised inside the espeak driver's synthesis callback, which ctypes would only print.

    That callback writes the file (e.g. into a full disk); an error there never sends 'finished-utterance',
    so without this the utterance would wait for the parent's timeout and be reported as a hang.
    In synchronous output (a preloaded child) it also gets the message-terminated event after the last samples:
    espeak's command queue sends that event in asynchronous mode, and it is what makes the driver write the file.
    """
    failures: list[BaseException] = []
    driver = getattr(engine.proxy, "_driver", None)
    on_synth = getattr(driver, "_onSynth", None)
    if on_synth is None or type(driver).__module__ != "pyttsx3.drivers.espeak":
        return failures
    from pyttsx3.drivers import _espeak

    terminated = (_espeak.EVENT * 2)()  # what espeak's queue passes: MSG_TERMINATED, then the end of the list
    terminated[0].type = _espeak.EVENT_MSG_TERMINATED
    terminated[1].type = _espeak.EVENT_LIST_TERMINATED
    synchronous = _synchronous

    def guarded(wav: Any, numsamples: int, events: Any) -> int:
        try:
            stop = on_synth(wav, numsamples, events)
            if synchronous and not wav and not stop:  # no samples (a NULL buffer): the end of the text
                return on_synth(None, 0, terminated)
            return stop
        except Exception as error:  # noqa: BLE001 - handed to _record, which raises it
            failures.append(error)
            finished.set()
            return 1  # tells espeak to stop synthesizing

    _espeak.SetSynthCallback(guarded)
    return failures


def _synchronous_loop(engine: Any) -> None:
    """The espeak driver's loop for synchronous output: start the synthesis, which returns when it is done.

    Its own loop polls every 10 ms for an asynchronous engine to finish; here the file is written before
    Synth returns, so that loop would only sleep 10 ms per utterance.
    """
    driver = engine.proxy._driver

    def start_loop() -> None:
        driver._looping = True
        driver._proxy.setBusy(False)
        if driver._text_to_say:
            driver._start_synthesis(driver._text_to_say)
        driver._looping = False

    driver.startLoop = start_loop


def _record(engine: Any, text: str, work: str) -> array.array:
    """One utterance, trimmed. One save_to_file per runAndWait: several before it keep only the last.

    The engine opens its output by name (following links), so it writes into `work`, a folder made here
    exclusively (mkdir fails on anything already there), named after the parent's unguessable temporary.
    """
    finished = threading.Event()
    outcome: list[bool] = []

    def on_finished(name: Any, completed: bool) -> None:
        outcome.append(bool(completed))
        finished.set()

    os.mkdir(work, 0o700)
    raw = os.path.join(work, "utterance.wav")
    token = engine.connect("finished-utterance", on_finished)
    failures = _report_callback_failures(engine, finished)
    if _synchronous:
        _synchronous_loop(engine)
    try:
        engine.save_to_file(text, raw)
        engine.runAndWait()
        # The espeak driver's runAndWait returns as soon as synthesis is queued; its own thread writes
        # the file later. Reading it now gives a missing or truncated file about one time in ten, so
        # wait for the driver to say it is done (the parent's timeout covers an engine that never is).
        # In synchronous output it is done already, or it never will be.
        finished.wait(0 if _synchronous else FINISH_WAIT_SECONDS)
        if failures:
            raise failures[0]
        if outcome and not outcome[0]:
            raise RuntimeError("the engine stopped before the end of the text")
        if not os.path.exists(raw) or os.path.getsize(raw) == 0:
            raise RuntimeError("the engine wrote no audio")
        return trim(decode(raw))
    finally:
        engine.disconnect(token)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
