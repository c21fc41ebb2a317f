"""Faults survived end to end, through the real `python -m voice_guide` process with a private speech cache:
interrupts and kills mid-export, the speech engine missing, crashing or hanging, a damaged cache, several
exports sharing one cache, and a full disk. Each must end in one or two plain lines (no traceback), exit 1
(or 130/143 for a signal), nothing at the destination, and a cache whose every entry is sound.

Faults the program has no switch for are injected by tests/data/faults/sitecustomize.py (see its docstring),
which every process of a run loads when that folder is on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from voice_guide._speech_cache import wav_length
from voice_guide.cli import Terminated

from .conftest import DATA, ROOT, SHORT, Result, cache_files, process_env, voice_guide

pytestmark = pytest.mark.slow  # real time, real processes: run by `pytest` and CI, not by `-m "not slow"`

PARTIAL_MARK = ".voice-guide-partial-"
CRASHED = re.compile(
    r"voice-guide: speech engine espeak crashed while saying '[^']+': "
    r"the engine process was killed by signal 11 \(tried twice\)\n"
)
WORKER_KILLED = re.compile(
    r"voice-guide: speech engine espeak stopped while saying '[^']+' \(exit status -9\) \(tried twice\)\n"
)
NEW_LINE_ROUTINE = """\
title: Short test routine
voice:
  rate: 190
steps:
  - say: A line this cache has never heard.
    pause: 1s
"""


# --- running voice-guide ------------------------------------------------------------------------------------


def start_voice_guide(*args: object, cache: Path, **faults) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "voice_guide", *map(str, args)], env=process_env(cache, **faults), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> Result:
    out, err = process.communicate(timeout=timeout)
    return Result(process.returncode, out, err)


def assert_plain_failure(result: Result, status: int, *phrases: str) -> None:
    """Exit `status`, one or two lines all starting `voice-guide:`, no traceback, each phrase said."""
    assert result.status == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert all(line.startswith("voice-guide: ") for line in lines), result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


def wait_for(condition, process: subprocess.Popen | None = None, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"voice-guide ended before {what}: {process.communicate()[1]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# --- looking at what a run left behind ----------------------------------------------------------------------


def speech_dir(cache: Path) -> Path:
    return cache / "voice-guide" / "speech"


def entry_is_sound(path: Path) -> bool:
    """A speech clip readable to its last sample; a mixed clip (either form) whose checksum matches."""
    if path.suffix == ".wav":
        return wav_length(path) is not None
    if path.suffix in (".clip", ".pcm"):
        from voice_guide._mix_cache import MixCache

        cache = MixCache(path.parent)
        return (cache.get if path.suffix == ".clip" else cache.get_pcm16)(path.stem) is not None
    return True


def assert_cache_sound(cache: Path, reference: dict[str, str] | None = None) -> None:
    """No temporary files left, every entry sound, and (given a clean cache of the same routine) every entry
    byte-identical to the clean one: nothing half-made was ever moved into place."""
    files = cache_files(cache)
    assert not [name for name in files if Path(name).name.startswith(".")], f"temporary files left: {files}"
    for name, digest in files.items():
        assert entry_is_sound(cache / "voice-guide" / name), f"damaged cache entry {name}"
        if reference is not None:
            assert digest == reference.get(name), f"cache entry {name} differs from a clean one"


def stray_processes(cache: Path) -> list[int]:
    """Processes still running with this cache in their environment (speech workers a run failed to stop)."""
    marker = f"XDG_CACHE_HOME={cache}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_no_stray_processes(cache: Path) -> None:
    deadline = time.monotonic() + 5  # a killed worker's children may take a moment to go
    while stray_processes(cache) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stray_processes(cache) == []


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if PARTIAL_MARK in p.name)


# --- interrupts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signals, status, said",
    [
        ("SIGINT", 130, "voice-guide: stopped (Ctrl+C)"),
        ("SIGINT SIGINT", 130, "voice-guide: stopped (Ctrl+C)"),  # an impatient second Ctrl+C while cleaning up
        ("SIGINT ...", 130, "voice-guide: stopped (Ctrl+C)"),  # Ctrl+C held down until the program has gone
        ("SIGTERM", 143, "voice-guide: stopped (terminated)"),
        ("SIGHUP", 129, "voice-guide: stopped (terminal closed)"),
    ],
    ids=["SIGINT", "SIGINT-twice", "SIGINT-held", "SIGTERM", "SIGHUP"],
)
def test_an_export_interrupted_midway_exits_with_the_signals_status_and_leaves_nothing(
    long_routine, out_dir, signals, status, said
):
    routine, cache = long_routine
    before = cache_files(cache)
    process = start_voice_guide("export", routine, "-o", out_dir / "long.mp3", "--transcript", out_dir / "long.vtt",
                                cache=cache)
    # The transcript is finished first and waits to be published with the audio: both must go.
    wait_for(lambda: [name for name in partials(out_dir) if name.startswith(".long.mp3")], process,
             what="the audio's partial file appeared")
    names = signals.split()
    for name in names:
        if name == "...":  # the last signal again every 2 ms, as long as the process lives
            while process.poll() is None:
                process.send_signal(getattr(signal, names[0]))
                time.sleep(0.002)
            break
        process.send_signal(getattr(signal, name))
        time.sleep(0.002)
    result = finish(process)
    assert_plain_failure(result, status)
    assert result.stderr.strip() == said
    assert list(out_dir.iterdir()) == []
    after = cache_files(cache)  # the export may have added mixed clips; it changed nothing that was there
    assert {name: after.get(name) for name in before} == before
    assert_cache_sound(cache)
    assert_no_stray_processes(cache)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, Terminated])
def test_an_interrupt_the_instant_the_partial_file_is_made_removes_it(tmp_path, monkeypatch, interrupt):
    # The end-to-end tests above signal as soon as the partial file appears, which now and then lands inside
    # AtomicDestination.__enter__, where no __exit__ will ever clean up; this makes that instant certain.
    from voice_guide import atomicfile

    real_lock = atomicfile._lock

    def lock_then_interrupt(fd: int) -> None:
        real_lock(fd)
        raise interrupt()

    monkeypatch.setattr(atomicfile, "_lock", lock_then_interrupt)
    with pytest.raises(interrupt):
        with atomicfile.AtomicDestination(tmp_path / "long.mp3"):
            pass
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_an_export_started_under_nohup_survives_the_terminal_closing(clean, warm_cache, out_dir):
    def ignore_hangups() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    process = subprocess.Popen(
        [sys.executable, "-m", "voice_guide", "export", SHORT, "-o", out_dir / "short.wav", "-q"],
        env=process_env(warm_cache), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ignore_hangups,
    )
    time.sleep(0.5)
    process.send_signal(signal.SIGHUP)
    result = finish(process)
    assert result.status == 0, result.stderr
    assert (out_dir / "short.wav").read_bytes() == clean[2]


def test_a_killed_export_leaves_nothing_at_the_destination_and_the_next_export_cleans_up(
    long_routine, out_dir, warm_cache
):
    routine, cache = long_routine
    process = start_voice_guide("export", routine, "-o", out_dir / "long.mp3", cache=cache)
    wait_for(lambda: partials(out_dir), process, what="the partial file appeared")
    process.kill()
    process.wait(timeout=20)
    assert not (out_dir / "long.mp3").exists()
    assert partials(out_dir) == [f".long.mp3{PARTIAL_MARK}{process.pid}"]

    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=warm_cache)
    assert result.status == 0, result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["short.wav"]


def test_ctrl_c_while_speech_is_being_made_stops_every_worker_and_keeps_the_cache_sound(clean, tmp_path, out_dir):
    cache, counter = tmp_path / "cold-cache", tmp_path / "requests"
    # The second utterance hangs, so the interrupt surely lands while the engine is busy.
    process = start_voice_guide(
        "export", SHORT, "-o", out_dir / "short.wav", cache=cache, mode="hang", at=2, times=1, counter=counter
    )
    wait_for(lambda: counter.exists() and counter.stat().st_size >= 2, process, what="speech was being made")
    process.send_signal(signal.SIGINT)
    result = finish(process)
    assert_plain_failure(result, 130, "stopped (Ctrl+C)")
    assert list(out_dir.iterdir()) == []
    assert_no_stray_processes(cache)
    assert_cache_sound(cache, clean[1])


# --- the speech engine missing, crashing, hanging -----------------------------------------------------------


def test_a_missing_speech_engine_names_what_to_install_and_writes_nothing(without_espeak, warm_cache, out_dir):
    prefix, faults = without_espeak
    routine = out_dir.parent / "new.yaml"
    routine.write_text(NEW_LINE_ROUTINE)
    before = cache_files(warm_cache)
    result = voice_guide("export", routine, "-o", out_dir / "new.mp3", cache=warm_cache, prefix=prefix, **faults)
    assert_plain_failure(
        result, 1,
        "voice-guide: speech engine espeak-ng is not installed: "
        "run `sudo apt-get install espeak-ng libespeak-ng1`",
    )
    assert list(out_dir.iterdir()) == []
    # Nothing in the cache changed or went; the chime, levelled for this routine's loudness, may have been added.
    after = cache_files(warm_cache)
    assert before.items() <= after.items() and all(name.startswith("mixed/") for name in after.keys() - before)
    assert_no_stray_processes(warm_cache)


@pytest.mark.parametrize("command", [("check", SHORT), ("voices",), ("play", SHORT, "--no-keys")],
                         ids=["check", "voices", "play"])
def test_every_command_that_needs_the_engine_says_what_to_install_when_it_is_missing(without_espeak, tmp_path,
                                                                                      command):
    prefix, faults = without_espeak
    result = voice_guide(*command, cache=tmp_path / "cold-cache", prefix=prefix, timeout=60, **faults)
    assert_plain_failure(result, 1, "run `sudo apt-get install espeak-ng libespeak-ng1`")
    assert result.stdout == ""


def test_debug_shows_the_traceback_of_a_missing_speech_engine(without_espeak, warm_cache, out_dir):
    prefix, faults = without_espeak
    routine = out_dir.parent / "new.yaml"
    routine.write_text(NEW_LINE_ROUTINE)
    result = voice_guide("--debug", "export", routine, "-o", out_dir / "new.mp3", cache=warm_cache, prefix=prefix,
                         **faults)
    assert result.status == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "EngineError: speech engine espeak-ng is not installed" in result.stderr
    assert list(out_dir.iterdir()) == []


def test_a_warm_cache_exports_the_same_bytes_without_the_speech_engine(without_espeak, clean, warm_cache, out_dir):
    prefix, faults = without_espeak
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=warm_cache, prefix=prefix,
                         **faults)
    assert result.status == 0, result.stderr
    assert (out_dir / "short.wav").read_bytes() == clean[2]


def test_missing_voice_data_names_the_package_to_reinstall(tmp_path, out_dir):
    data = [p for p in Path("/usr/lib").glob("*/espeak-ng-data") if p.is_dir()]
    if not data or not shutil.which("unshare"):
        pytest.skip("no espeak-ng-data folder found to hide, or no unshare")
    empty = tmp_path / "empty"
    empty.mkdir()
    # A private mount namespace where the voice data folder is empty: libespeak-ng loads, then cannot start.
    script = f'mount --bind {empty} {data[0]} && exec "$@"'
    hide = ("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh")
    if subprocess.run([*hide, "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not permitted here")
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=tmp_path / "cache", prefix=hide)
    assert_plain_failure(
        result, 1,
        "voice-guide: speech engine espeak-ng is not installed completely (its voice data is missing): "
        "run `sudo apt-get install --reinstall espeak-ng-data`",
    )
    assert list(out_dir.iterdir()) == []


def test_an_engine_crash_mid_export_is_retried_and_the_export_is_identical_to_a_clean_one(clean, tmp_path, out_dir):
    cache = tmp_path / "cold-cache"
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=cache,
                         mode="crash", at=3, times=1, counter=tmp_path / "requests")
    assert result.status == 0, result.stderr
    assert (out_dir / "short.wav").read_bytes() == clean[2]
    assert_cache_sound(cache, clean[1])
    assert cache_files(cache) == clean[1]


@pytest.mark.parametrize("mode, said", [("crash", CRASHED), ("die", WORKER_KILLED)], ids=["crash", "die"])
def test_an_engine_that_keeps_crashing_fails_the_export_with_a_clear_error(clean, tmp_path, out_dir, mode, said):
    cache = tmp_path / "cold-cache"
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=cache,
                         mode=mode, at=3, times=1000, counter=tmp_path / "requests")
    assert_plain_failure(result, 1)
    assert said.fullmatch(result.stderr), result.stderr
    assert list(out_dir.iterdir()) == []
    assert_cache_sound(cache, clean[1])
    assert_no_stray_processes(cache)


def test_an_engine_that_crashes_while_playing_stops_the_player_with_a_clear_error(tmp_path):
    played = tmp_path / "played"
    played.mkdir()
    # The test-only ALSA configuration of tests/test_play_alsa.py: the default device writes to files.
    config = tmp_path / "asound.conf"
    template = (ROOT / "tests" / "alsa" / "file-device.conf.in").read_text()
    config.write_text(template.replace("{path}", str(played / "out.raw")))
    cache = tmp_path / "cold-cache"
    done = subprocess.run(
        [sys.executable, "-m", "voice_guide", "play", DATA / "play" / "quick.yaml", "--no-keys"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**process_env(cache, mode="crash", at=4, times=1000, counter=tmp_path / "requests"),
             "ALSA_CONFIG_PATH": str(config)},
    )
    result = Result(done.returncode, done.stdout, done.stderr)
    assert_plain_failure(result, 1)
    assert CRASHED.fullmatch(result.stderr), result.stderr
    assert list(played.iterdir()), "nothing was played before the crash"
    assert_no_stray_processes(cache)


def test_an_engine_that_hangs_mid_export_is_stopped_with_a_clear_error(clean, tmp_path, out_dir):
    cache = tmp_path / "cold-cache"
    started = time.monotonic()
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=cache,
                         mode="hang", at=3, times=1000, counter=tmp_path / "requests", speech_timeout=3)
    assert time.monotonic() - started < 60
    assert_plain_failure(result, 1, "voice-guide: speech engine espeak did not finish saying ",
                         "within 3 s (tried twice)")
    assert list(out_dir.iterdir()) == []
    assert_cache_sound(cache, clean[1])
    assert_no_stray_processes(cache)


# --- the cache: damaged entries, shared by several exports --------------------------------------------------


DAMAGES = {
    "cut in half": lambda data: data[: len(data) // 2],
    "cut inside the header": lambda data: data[:30],
    "emptied": lambda data: b"",
    "one sample short": lambda data: data[:-2],
    "garbage appended": lambda data: data + b"\x00garbage",
    "header overwritten": lambda data: b"\xff" * 44 + data[44:],
    "not a WAV at all": lambda data: b"<html>not found</html>",
}


def test_damaged_cache_entries_are_made_again_and_the_export_is_identical_to_a_clean_one(clean, warm_cache, out_dir):
    entries = sorted(p for p in (warm_cache / "voice-guide").rglob("*") if p.is_file())
    assert {p.suffix for p in entries} >= {".wav", ".json"} and len(entries) >= 2 * len(DAMAGES)
    for n, entry in enumerate(entries):
        entry.write_bytes(list(DAMAGES.values())[n % len(DAMAGES)](entry.read_bytes()))

    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=warm_cache)
    assert result.status == 0, result.stderr
    assert (out_dir / "short.wav").read_bytes() == clean[2]
    assert cache_files(warm_cache) == clean[1]  # every entry repaired to the very bytes of a clean one


@pytest.mark.parametrize("kind, suffix", [("speech", ".wav"), ("mixed", ".clip"), ("mixed", ".pcm")])
def test_cache_entries_whose_samples_were_changed_are_detected_and_made_again(clean, warm_cache, out_dir, kind,
                                                                              suffix):
    if kind == "speech":
        shutil.rmtree(warm_cache / "voice-guide" / "mixed", ignore_errors=True)  # so the speech clips are used
    for entry in sorted((warm_cache / "voice-guide" / kind).glob(f"*{suffix}")):
        data = bytearray(entry.read_bytes())
        middle = len(data) // 2 // 4 * 4
        data[middle : middle + 2000] = bytes(2000)  # a stretch of samples zeroed; size and header intact
        entry.write_bytes(bytes(data))

    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=warm_cache)
    assert result.status == 0, result.stderr
    assert (out_dir / "short.wav").read_bytes() == clean[2]


STALE_RECORDS = {
    "a voice no longer installed": {"engine": "espeak", "id": "gone/voice", "name": "gone", "warnings": []},
    "a record of the wrong shape": {"engine": "espeak", "id": None, "name": None, "warnings": []},
}


@pytest.mark.parametrize("record", list(STALE_RECORDS.values()), ids=list(STALE_RECORDS))
def test_a_stale_voice_record_is_resolved_again(clean, warm_cache, out_dir, record):
    shutil.rmtree(warm_cache / "voice-guide" / "mixed", ignore_errors=True)
    for path in speech_dir(warm_cache).glob("voice-*.json"):
        path.write_text(json.dumps(record))
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=warm_cache)
    assert result.status == 0, result.stderr
    assert (out_dir / "short.wav").read_bytes() == clean[2]


def test_several_exports_at_once_sharing_a_cold_cache_all_match_a_clean_one(clean, tmp_path, out_dir):
    cache = tmp_path / "cold-cache"
    processes = [start_voice_guide("export", SHORT, "-o", out_dir / f"{n}.wav", "-q", cache=cache) for n in range(3)]
    results = [finish(process, timeout=120) for process in processes]
    assert [r.status for r in results] == [0] * 3, [r.stderr for r in results]
    for n in range(3):
        assert (out_dir / f"{n}.wav").read_bytes() == clean[2], f"export {n} differs from a clean one"
    assert cache_files(cache) == clean[1]


def test_several_exports_racing_to_one_file_leave_one_whole_file_and_no_partial(clean, warm_cache, out_dir):
    target = out_dir / "short.wav"
    processes = [start_voice_guide("export", SHORT, "-o", target, "-q", cache=warm_cache) for _ in range(3)]
    results = [finish(process, timeout=120) for process in processes]
    assert sorted(r.status for r in results) == [0, 2, 2], [r.stderr for r in results]
    for lost in (r for r in results if r.status == 2):
        assert_plain_failure(lost, 2, f"voice-guide: {target} exists; use --force to overwrite")
    assert [p.name for p in out_dir.iterdir()] == ["short.wav"]
    assert target.read_bytes() == clean[2]


# --- a full disk ----------------------------------------------------------------------------------------------


def test_a_full_destination_disk_fails_clearly_and_leaves_no_partial_file(clean, warm_cache, tiny_disk):
    before = cache_files(warm_cache)
    result = voice_guide("export", SHORT, "-o", tiny_disk / "short.wav", "-q", cache=warm_cache)
    assert_plain_failure(
        result, 1,
        f"voice-guide: no space left on the device holding {tiny_disk} while writing short.wav; "
        "nothing was written. Free some space or choose another folder.",
    )
    assert list(tiny_disk.iterdir()) == []
    assert cache_files(warm_cache) == before


def fill(disk: Path) -> None:
    """Take every free byte of `disk`."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)


def test_a_transcript_that_cannot_be_written_leaves_no_audio_either(warm_cache, tiny_disk, out_dir):
    fill(tiny_disk)
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "--transcript", tiny_disk / "short.vtt",
                         "-q", cache=warm_cache)
    assert_plain_failure(
        result, 1,
        f"voice-guide: no space left on the device holding {tiny_disk} while writing short.vtt; "
        "nothing was written.",
    )
    assert [p.name for p in tiny_disk.iterdir()] == ["filler"]
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("when", ["full from the start", "filling up while speaking"])
def test_a_full_cache_disk_only_moves_this_runs_speech_to_a_private_folder(clean, tiny_disk, out_dir, when):
    if when == "full from the start":
        fill(tiny_disk)
    started = time.monotonic()
    result = voice_guide("export", SHORT, "-o", out_dir / "short.wav", "-q", cache=tiny_disk, speech_timeout=10)
    elapsed = time.monotonic() - started
    assert result.status == 0, result.stderr
    assert (out_dir / "short.wav").read_bytes() == clean[2]
    assert result.stderr.startswith(f"voice-guide: warning: no space left for the speech cache in "
                                    f"'{speech_dir(tiny_disk)}'; this run keeps its speech in ")
    assert_cache_sound(tiny_disk, clean[1])  # what made it into the full cache is whole
    assert not [p for p in Path(tempfile.gettempdir()).glob("voice-guide-speech-*") if str(p) in result.stderr]
    # A full disk is known at once: not taken for a hung engine, waited for and retried.
    assert elapsed < 10


@pytest.mark.parametrize("command", [("voices",), ("check", NEW_LINE_ROUTINE)], ids=["voices", "check"])
def test_the_voice_listing_is_asked_again_when_the_engine_crashes_once(tmp_path, command):
    routine = tmp_path / "new.yaml"
    routine.write_text(NEW_LINE_ROUTINE)
    args = [routine if part == NEW_LINE_ROUTINE else part for part in command]
    once = voice_guide(*args, cache=tmp_path / "cache-once", mode="crash", op="voices", at=1, times=1,
                       counter=tmp_path / "once")
    assert once.status == 0, once.stderr
    always = voice_guide(*args, cache=tmp_path / "cache-always", mode="crash", op="voices", at=1, times=1000,
                         counter=tmp_path / "always")
    assert_plain_failure(always, 1, "crashed while listing voices", "(tried twice)")
