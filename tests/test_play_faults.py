"""`play` when things go wrong: the timing log under export's file rules, and the safety reminders still said
whatever stops the routine itself (the engine failing, a full disk), through the real ALSA `file` device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voice_guide import api
from voice_guide.errors import OutputError
from voice_guide.loader import load

from .conftest import DATA, ROOT, Result
from .test_faults import fill
from .test_play_alsa import alsa_file  # noqa: F401 - the ALSA `file` device
from .test_play import quiet_env

QUICK = DATA / "play" / "quick.yaml"
FAULTS = DATA / "faults"
BRIEF = """\
title: Brief
steps:
  - say: Sit down.
    pause: 0.5s
  - say: Press the arch.
    pause: 0.5s
  - say: Rub the heel.
    pause: 0.5s
reminders:
  - Stop if it hurts.
"""
REMINDERS = ["That's the end of the routine.", "Stop if it hurts."]


def said(log: Path) -> list[str]:
    return [json.loads(line)["text"] for line in log.read_text().splitlines() if json.loads(line)["text"]]


def voice_guide_play(*args: object, env: dict, cache: Path, timeout: float = 120, **faults) -> Result:
    full = {**os.environ, **env, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(FAULTS)}
    full.update({f"VG_FAULT_{name.upper()}": str(value) for name, value in faults.items()})
    done = subprocess.run([sys.executable, "-m", "voice_guide", "play", *map(str, args), "--no-keys"],
                          capture_output=True, text=True, env=full, timeout=timeout, cwd=ROOT)
    return Result(done.returncode, done.stdout, done.stderr)


# --- the timing log follows export's rules ------------------------------------------------------------------


def test_an_existing_timing_log_is_kept_without_force_and_no_sound_is_made(cache_root, tmp_path):
    log = tmp_path / "mine.jsonl"
    log.write_text("precious")
    with pytest.raises(OutputError, match=f"^{log} exists; use --force to overwrite$"):
        api.play(load(str(QUICK)), api.Settings(timing_log=log), quiet_env(cache_root))
    assert log.read_text() == "precious"


def test_the_timing_log_never_overwrites_the_routine_nor_follows_a_link(cache_root, tmp_path):
    routine = tmp_path / "mine.yaml"
    routine.write_text(QUICK.read_text())
    with pytest.raises(OutputError, match="--timing-log .*mine.yaml is the routine being read"):
        api.play(load(str(routine)), api.Settings(timing_log=routine, timing_log_force=True), quiet_env(cache_root))
    link = tmp_path / "timing.jsonl"
    link.symlink_to(tmp_path / "theirs.txt")
    (tmp_path / "theirs.txt").write_text("theirs")
    with pytest.raises(OutputError, match="is a symbolic link, not a regular file"):
        api.play(load(str(routine)), api.Settings(timing_log=link, timing_log_force=True), quiet_env(cache_root))
    assert routine.read_text() == QUICK.read_text() and (tmp_path / "theirs.txt").read_text() == "theirs"


def test_force_lets_the_timing_log_replace_a_regular_file(run_process, alsa_file, tmp_path):
    env, _ = alsa_file
    log = tmp_path / "timing.jsonl"
    log.write_text("old run\n" * 1000)
    run_process("play", QUICK, "--no-keys", "--timing-log", log, env=env, status=2)
    assert log.read_text() == "old run\n" * 1000
    result = run_process("play", QUICK, "--no-keys", "--timing-log", log, "--force", env=env)
    assert result.status == 0, result.stderr
    assert said(log)[-2:] == REMINDERS


# --- whatever stops the routine, the reminders are said -----------------------------------------------------


def test_an_engine_that_fails_mid_routine_still_has_the_reminders_said(alsa_file, tmp_path):
    env, played = alsa_file
    routine, log = tmp_path / "brief.yaml", tmp_path / "timing.jsonl"
    routine.write_text(BRIEF)
    # Every attempt at the second step's words crashes the engine.
    result = voice_guide_play(routine, "--timing-log", log, env=env, cache=tmp_path / "cold-cache",
                              mode="crash", text="Press the arch.", at=1, times=1000, counter=tmp_path / "requests")
    assert result.status == 1, result.stderr
    assert result.stderr == ("voice-guide: speech engine espeak crashed while saying 'Press the arch.': the engine "
                             "process was killed by signal 11 (tried twice)\n")
    assert said(log) == ["Brief. This routine takes less than a minute.", "Sit down.", *REMINDERS]


def test_a_timing_log_on_a_full_disk_does_not_stop_the_routine(alsa_file, tiny_disk, cache_root, tmp_path):
    env, _ = alsa_file
    fill(tiny_disk)
    filler = tiny_disk / "filler"
    os.truncate(filler, filler.stat().st_size - 300)  # room for a line or two of the log only
    log = tiny_disk / "timing.jsonl"
    result = voice_guide_play(QUICK, "--timing-log", log, env=env, cache=cache_root)
    assert result.status == 1, result.stderr
    assert result.stderr == (f"voice-guide: {log}: the timing log could not be written to the end (No space left "
                             "on device); the routine was played in full\n")
    played_sounds = sorted(p for p in alsa_file[1].iterdir())
    assert len(played_sounds) >= 8  # every sound of the routine reached the device, the reminders last


def test_a_full_cache_disk_during_play_still_plays_the_routine_and_its_reminders(alsa_file, tiny_disk, tmp_path):
    env, _ = alsa_file
    log = tmp_path / "timing.jsonl"
    result = voice_guide_play(QUICK, "--timing-log", log, env=env, cache=tiny_disk)
    assert result.status == 0, result.stderr
    assert said(log)[-2:] == REMINDERS
    assert "no space left for the speech cache" in result.stderr


# --- the terminal goes away ---------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals only")
def test_the_terminal_closing_during_play_ends_it_as_a_hang_up(cache_root, alsa_file, tmp_path):
    from .test_play_alsa import logged_texts, on_terminal, start_player, wait_for

    env, _ = alsa_file
    log = tmp_path / "timing.jsonl"
    typer, player_side = os.openpty()
    player = start_player(cache_root, env, QUICK, "--timing-log", log, **on_terminal(player_side))
    try:
        os.close(player_side)
        screen = bytearray()

        def drained() -> bool:
            import select

            while select.select([typer], [], [], 0)[0]:
                try:
                    screen.extend(os.read(typer, 65536))
                except OSError:
                    return False
            return "Sit down." in logged_texts(log)

        wait_for(drained)
        os.close(typer)  # the terminal window is closed
        assert player.wait(timeout=20) == 129
    finally:
        player.kill()
        player.wait()
