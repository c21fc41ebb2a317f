"""`voice-guide play` through the real simpleaudio and ALSA, with no sound card: ALSA's `file` plugin.

A test-only ALSA configuration (selected with ALSA_CONFIG_PATH) makes the default device a `file` PCM in front
of the `null` one, so every buffer simpleaudio plays lands in a file: `out.raw`, then `out.raw.0001`, ... (one per
opening of the device, that is one per sound). Those are compared, sample for sample, with what `export` writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from .conftest import DATA, ROOT

pytestmark = pytest.mark.slow  # real time, real processes: run by `pytest` and CI, not by `-m "not slow"`

QUICK = DATA / "play" / "quick.yaml"
RATE = 22050
NO_DEVICE = (
    "voice-guide: no audio output device found; export the routine instead: "
    "voice-guide export {routine} -o {name}.mp3\n"
)

ALSA = Path(__file__).resolve().parent / "alsa"  # the test-only ALSA configurations


@pytest.fixture
def alsa_file(tmp_path) -> tuple[dict, Path]:
    """(environment for the child process, folder where the played buffers appear)."""
    played = tmp_path / "played"
    played.mkdir()
    config = tmp_path / "asound-file.conf"
    config.write_text((ALSA / "file-device.conf.in").read_text().replace("{path}", str(played / "out.raw")))
    return {"ALSA_CONFIG_PATH": str(config)}, played


@pytest.fixture
def no_device() -> dict:
    return {"ALSA_CONFIG_PATH": str(ALSA / "no-device.conf")}


def played_buffers(folder: Path) -> list[np.ndarray]:
    """What the device got, one array per sound, in the order the device was opened."""
    def order(path: Path) -> int:
        suffix = path.name[len("out.raw"):]
        return int(suffix[1:]) if suffix else 0

    return [np.fromfile(path, dtype="<i2") for path in sorted(folder.glob("out.raw*"), key=order)]


def timing_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def exported(cli, tmp_path):
    """The routine exported to WAV by `voice-guide export`, as int16 samples."""
    def export(routine: Path, *options: str) -> np.ndarray:
        out = tmp_path / f"export-{len(list(tmp_path.glob('export-*')))}.wav"
        result = cli("export", routine, "-o", out, "--quiet", *options)
        assert result.status == 0, result.stderr
        samples, rate = soundfile.read(out, dtype="int16")
        assert rate == RATE
        return samples

    return export


@pytest.fixture
def played_and_exported(run_process, alsa_file, exported, tmp_path):
    """Play a routine through the ALSA file device and export it: (sounds logged, exported int16 samples), after
    checking that every sound played is the export's samples at its place."""
    def both(routine: Path) -> tuple[list[dict], np.ndarray]:
        env, folder = alsa_file
        log = tmp_path / "timing.jsonl"
        result = run_process("play", routine, "--timing-log", log, env=env)
        assert result.status == 0, result.stderr
        wav = exported(routine)
        sounds = timing_lines(log)
        buffers = played_buffers(folder)
        assert len(buffers) == len(sounds) > 5
        for sound, buffer in zip(sounds, buffers):
            expected = wav[sound["sample"]: sound["sample"] + sound["samples"]]
            assert np.array_equal(buffer, expected), f"{sound['kind']} {sound['text']!r} differs from the export"
        return sounds, wav

    return both


def test_what_is_played_equals_the_export_sample_for_sample(played_and_exported):
    sounds, wav = played_and_exported(QUICK)
    # Nothing sounding in the export was left out: outside the played sounds it is all silence.
    covered = np.zeros(len(wav), dtype=bool)
    for sound in sounds:
        covered[sound["sample"]: sound["sample"] + sound["samples"]] = True
    assert not wav[~covered].any()
    assert [s["text"] for s in sounds if s["kind"] == "speech"][-2:] == ["That's the end of the routine.",
                                                                         "Stop if it hurts."]


@pytest.mark.parametrize("language", ["voice: {voice: de, rate: 220}", "language: de\nvoice: {rate: 220}"])
def test_a_routine_in_german_plays_its_export_whether_its_voice_or_its_language_says_so(
    played_and_exported, tmp_path, language
):
    # With `language:` the phrases are known before the voice is resolved; from the voice alone they are the
    # resolved voice's: either way the player says what the export holds, in German, sample for sample.
    routine = tmp_path / "de.yaml"
    routine.write_text(f"title: Kurz\n{language}\nsteps:\n  - say: Setzen Sie sich.\n    hold: 7s\n"
                       "    cues: {halfway: true}\nreminders:\n  - Hören Sie bei Schmerzen auf.\n", encoding="utf-8")
    sounds, _ = played_and_exported(routine)
    assert "Halbzeit." in [s["text"] for s in sounds]
    assert [s["text"] for s in sounds if s["kind"] == "speech"][-2] == "Die Übung ist zu Ende."


def test_options_change_what_is_played_exactly_as_they_change_the_export(run_process, alsa_file, exported, tmp_path):
    # --volume is the player's own level: the export keeps its loudness, the player scales the same clips.
    env, folder = alsa_file
    log = tmp_path / "timing.jsonl"
    options = ("--no-chime", "--rate", "260")
    result = run_process("play", QUICK, "--timing-log", log, *options, "--volume", "0.5", env=env)
    assert result.status == 0, result.stderr
    wav = exported(QUICK, *options, "--volume", "0.5")
    assert np.array_equal(wav, exported(QUICK, *options))
    sounds = timing_lines(log)
    # No chime before the steps; the holds still end with their soft tone (issue #10, item 14).
    assert all(s["kind"] == "speech" or s["role"] == "cue" for s in sounds)
    for sound, buffer in zip(sounds, played_buffers(folder), strict=True):
        half = wav[sound["sample"]: sound["sample"] + sound["samples"]].astype(np.int32) / 2
        assert np.max(np.abs(buffer - half)) <= 1  # half of the same float samples, rounded once
        assert np.any(buffer)


def test_every_sound_starts_on_time_and_the_run_lasts_as_long_as_the_timeline(run_process, alsa_file, tmp_path, cli):
    env, _ = alsa_file
    log = tmp_path / "timing.jsonl"
    total = json.loads(cli("check", "--json", QUICK).stdout)["total_seconds"]
    began = time.monotonic()
    result = run_process("play", QUICK, "--timing-log", log, env=env)
    wall = time.monotonic() - began
    assert result.status == 0, result.stderr
    sounds = timing_lines(log)
    first = sounds[0]
    for sound in sounds:
        # Relative to the first sound, every start is where the timeline puts it (generous bound: a busy CI box).
        expected = first["actual"] + (sound["sample"] - first["sample"]) / RATE
        assert abs(sound["actual"] - expected) < 0.05, sound
        assert sound["lateness_ms"] < 50, sound
    assert total <= wall < total + 10


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_it_runs_under_python_dev_mode_without_warnings(run_process, alsa_file, tmp_path, cache):
    # Cold: a routine nobody has played yet, so the speech workers start (and must be shut down cleanly).
    env, folder = alsa_file
    if cache == "cold":
        env = {**env, "XDG_CACHE_HOME": str(tmp_path / "fresh-cache")}
    else:
        assert run_process("check", QUICK, "--no-chime").status == 0  # every line in the speech cache
    result = run_process("play", QUICK, "--no-chime", env=env, python_flags=("-X", "dev"))
    assert result.status == 0, result.stderr
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(played_buffers(folder)) > 5


def test_without_a_terminal_it_logs_plain_lines(run_process, alsa_file):
    env, _ = alsa_file
    result = run_process("play", QUICK, "--no-chime", env=env)
    assert result.status == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Playing: Quick play test (3 steps)"
    assert any(line.endswith("step 2/3    Press the arch.") for line in lines)
    assert lines[-1] == "Done."
    assert "\x1b[" not in result.stdout  # no terminal codes in a log


def test_with_no_sound_device_it_says_so_in_one_line_and_suggests_export(run_process, no_device):
    result = run_process("play", QUICK, env=no_device, status=1)
    assert result.stderr == NO_DEVICE.format(routine=QUICK, name="quick")
    assert result.stdout == ""


def test_with_no_sound_device_the_bundled_routine_is_named_as_the_user_would_type_it(run_process, no_device):
    result = run_process("play", env=no_device, status=1)
    assert result.stderr == NO_DEVICE.format(routine="arch", name="arch")


def test_start_at_plays_from_that_step(run_process, alsa_file, exported, tmp_path):
    env, folder = alsa_file
    log = tmp_path / "timing.jsonl"
    result = run_process("play", QUICK, "--start-at", "3", "--timing-log", log, env=env)
    assert result.status == 0, result.stderr
    sounds = timing_lines(log)
    assert sounds[0]["kind"] == "chime" and sounds[0]["step"] == 3
    assert [s["text"] for s in sounds if s["kind"] == "speech"][0] == "Rub the heel."
    wav = exported(QUICK)
    for sound, buffer in zip(sounds, played_buffers(folder), strict=True):
        assert np.array_equal(buffer, wav[sound["sample"]: sound["sample"] + sound["samples"]])


def test_start_at_past_the_last_step_is_bad_input(run_process, alsa_file):
    env, folder = alsa_file
    result = run_process("play", QUICK, "--start-at", "7", env=env, status=2)
    assert result.stderr == "voice-guide: --start-at 7: 'Quick play test' has 3 steps\n"
    assert played_buffers(folder) == []


def start_player(cache_root, env: dict, *args, **popen) -> subprocess.Popen:
    full_env = {**os.environ, "XDG_CACHE_HOME": str(cache_root), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "voice_guide", "play", *map(str, args)], env=full_env, cwd=ROOT, **popen
    )


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def logged(log: Path, field: str) -> list:
    return [json.loads(line)[field] for line in log.read_text().splitlines()] if log.exists() else []


def logged_steps(log: Path) -> list:
    return logged(log, "step")


def logged_texts(log: Path) -> list:
    return logged(log, "text")


def interrupt(cache_root, env: dict, log: Path, when, action) -> tuple[int, str, float]:
    """Play QUICK, do `action()` once `when()` holds; (exit status, stderr, seconds from the action to the exit)."""
    player = start_player(cache_root, env, QUICK, "--timing-log", log, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        wait_for(when)
        action(player)
        began = time.monotonic()
        _, err = player.communicate(timeout=60)
        return player.returncode, err, time.monotonic() - began
    finally:
        player.kill()
        player.wait()


def test_a_device_that_fails_mid_routine_stops_cleanly_and_says_where_to_resume(cache_root, alsa_file, tmp_path):
    env, folder = alsa_file
    log = tmp_path / "timing.jsonl"

    def unplug(player) -> None:  # the device's output folder vanishes, as an unplugged headset would
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()

    status, err, _ = interrupt(cache_root, env, log, lambda: 2 in logged_steps(log), unplug)
    assert status == 1
    assert err.startswith("voice-guide: the audio device stopped working at step 2 ("), err
    assert err.rstrip().endswith("resume with --start-at 2"), err
    assert len(err.strip().splitlines()) == 1


def test_ctrl_c_stops_the_sound_at_once_and_exits_130(cache_root, alsa_file, tmp_path):
    env, _ = alsa_file
    log = tmp_path / "timing.jsonl"
    status, err, seconds = interrupt(
        cache_root, env, log, lambda: 1 in logged_steps(log), lambda player: player.send_signal(signal.SIGINT)
    )
    assert status == 130
    assert err.endswith("voice-guide: stopped (Ctrl+C)\n"), err
    assert "Traceback" not in err
    assert seconds < 2.0
    assert 2 not in logged_steps(log)


# --- keys, through a real terminal (a pseudo-terminal) ---------------------------------------------------------


@pytest.fixture
def terminal():
    """A pseudo-terminal pair: (the side the test types into, the side the player gets as its terminal)."""
    import fcntl
    import pty
    import struct
    import termios

    typer, player_side = pty.openpty()
    fcntl.ioctl(player_side, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 30 rows, 100 columns
    yield typer, player_side
    for fd in (typer, player_side):
        try:
            os.close(fd)
        except OSError:
            pass


def on_terminal(fd: int) -> dict:
    """Popen arguments that run the player on terminal `fd`, in its own session, as a shell would."""
    import fcntl
    import termios

    def take_terminal() -> None:  # in the child: the pty becomes its controlling terminal (Ctrl+C -> SIGINT)
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return {"stdin": fd, "stdout": fd, "stderr": fd, "start_new_session": True, "preexec_fn": take_terminal}


def drain(fd: int, into: bytearray) -> None:
    """Read what the player wrote to its terminal so far (it must not block on a full buffer)."""
    import select

    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.extend(chunk)


@dataclass
class TerminalRun:
    """A run of the player on a pseudo-terminal: exit status, what it drew, what it said, terminal restored?"""

    status: int
    screen: str
    said: list
    restored: bool


def play_on_terminal(cache_root, env: dict, log: Path, terminal, keys: list[tuple[float, bytes]], *options: str,
                     exit_within: float = 60.0) -> TerminalRun:
    """Play QUICK on a pty; once "Sit down." is said, type each key after its delay (seconds)."""
    import termios

    typer, player_side = terminal
    before = termios.tcgetattr(player_side)
    player = start_player(cache_root, env, QUICK, "--timing-log", log, *options, **on_terminal(player_side))
    screen = bytearray()
    try:
        wait_for(lambda: drain(typer, screen) or "Sit down." in logged_texts(log))
        for delay, key in keys:
            wait_for(lambda began=time.monotonic(): drain(typer, screen) or time.monotonic() - began >= delay)
            os.write(typer, key)
        wait_for(lambda: drain(typer, screen) or player.poll() is not None, timeout=exit_within)
    finally:
        player.kill()
        player.wait()
    drain(typer, screen)
    restored = termios.tcgetattr(player_side) == before  # echo and line editing are back
    return TerminalRun(player.returncode, screen.decode(errors="replace"), logged_texts(log), restored)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")
def test_q_on_a_terminal_skips_to_the_reminders_and_the_terminal_is_restored(cache_root, alsa_file, tmp_path,
                                                                               terminal):
    # Typed 0.6 s after "Sit down." starts: the screen (four refreshes a second) shows step 1 by then.
    run = play_on_terminal(cache_root, alsa_file[0], tmp_path / "timing.jsonl", terminal, [(0.6, b"q")])
    assert run.status == 0, run.screen
    assert "Press the arch." not in run.said and "Rub the heel." not in run.said
    assert run.said[-2:] == ["That's the end of the routine.", "Stop if it hurts."]
    assert run.restored
    assert "Step 1 of 3" in run.screen and "Quick play test" in run.screen
    assert "Stopped early; the reminders were said." in run.screen


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")
def test_space_pauses_on_a_terminal_and_resume_says_the_line_again(cache_root, alsa_file, tmp_path, terminal):
    run = play_on_terminal(cache_root, alsa_file[0], tmp_path / "timing.jsonl", terminal,
                           [(0.0, b" "), (1.0, b" ")], "--no-chime")
    assert run.status == 0, run.screen
    assert run.said.count("Sit down.") == 2
    assert run.said[-1] == "Stop if it hurts."
    assert run.restored


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")
def test_ctrl_c_on_a_terminal_stops_at_once_restores_the_terminal_and_exits_130(cache_root, alsa_file, tmp_path,
                                                                                 terminal):
    # Ctrl+C as typed: the terminal turns it into SIGINT for the player's process group.
    run = play_on_terminal(cache_root, alsa_file[0], tmp_path / "timing.jsonl", terminal, [(0.0, b"\x03")],
                           exit_within=5.0)
    assert run.status == 130, run.screen
    assert "voice-guide: stopped (Ctrl+C)" in run.screen
    assert "Press the arch." not in run.said
    assert run.restored


def test_a_closed_pipe_on_the_log_does_not_stop_the_routine_before_its_reminders(alsa_file, tmp_path, cache_root):
    env, folder = alsa_file
    log = tmp_path / "timing.jsonl"
    full_env = {**os.environ, "XDG_CACHE_HOME": str(cache_root), **env}
    # `true` reads nothing, so every log line meets a closed pipe; the routine must still be played to its end.
    done = subprocess.run(
        f"{sys.executable} -m voice_guide play {QUICK} --timing-log {log} | true; echo ${{PIPESTATUS[0]}} >&2",
        shell=True, capture_output=True, text=True, env=full_env, timeout=120, cwd=ROOT, executable="/bin/bash",
    )
    *messages, status = done.stderr.splitlines()
    assert messages == [] and status == "0"
    spoken = [s["text"] for s in timing_lines(log) if s["kind"] == "speech"]
    assert spoken[-2:] == ["That's the end of the routine.", "Stop if it hurts."]
