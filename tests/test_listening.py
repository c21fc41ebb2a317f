"""Spoken commands: the pure decisions, pocketsphinx on recorded phrases, and the real capture path (ALSA).

Phrases are said by flite (a synthesizer other than the player's espeak-ng), through the ALSA `file` plugin's
`infile` (a FIFO written at real-time pace, see microphone_feed.py).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from voice_guide import listening
from voice_guide.hearing import Hearing
from voice_guide.listening import CHECK, CUT, END, START, Endpoints, Utterance, clear_of, judge, phrase_in

from .conftest import DATA, ROOT
from .microphone_feed import Feed, corpus, microphone_config

needs_flite = pytest.mark.skipif(shutil.which("flite") is None or shutil.which("sox") is None,
                                 reason="flite and sox say the test phrases (bash scripts/setup.sh --test)")
QUICK = DATA / "play" / "quick.yaml"


# --- pure decisions ----------------------------------------------------------------------------------------


def test_a_phrase_overlapping_the_players_sound_or_its_tail_is_not_taken():
    sounds = [(10.0, 12.0)]
    assert not clear_of(11.5, 12.2, sounds)
    assert not clear_of(12.1, 12.6, sounds)  # within the half second after it
    assert clear_of(12.6, 13.2, sounds)
    assert clear_of(8.0, 9.9, sounds)


def test_an_utterance_is_a_command_only_when_whole_confident_and_of_a_commands_length():
    good = Utterance("say again", 3.0, 3.7, listening.THRESHOLD + 4.0)
    heard = judge(good)
    assert (heard.phrase, heard.command, heard.start, heard.end, heard.score) == ("say again", listening.REPEAT,
                                                                                 3.0, 3.7, 4.0)
    assert judge(replace(good, confidence=listening.THRESHOLD - 0.5)) is None
    assert judge(replace(good, text=None)) is None  # the grammar's path ended inside a phrase
    assert judge(replace(good, text="say")) is None
    assert judge(replace(good, end=3.0 + listening.MAX_LENGTH + 0.1)) is None
    assert judge(replace(good, end=3.0 + listening.MIN_LENGTH - 0.05)) is None
    assert judge(replace(good, confidence=float("-inf"))) is None


def test_sensitivity_moves_the_threshold_and_a_margin_back_to_the_default():
    assert listening.threshold_for(0.0) > listening.THRESHOLD > listening.threshold_for(1.0)
    utterance = Utterance("pause", 1.0, 1.5, listening.THRESHOLD - 3.0)
    assert judge(utterance) is None
    eager = judge(utterance, listening.threshold_for(1.0))
    assert eager is not None and listening.margin_at_default(eager.score, 1.0) == pytest.approx(-3.0)


def _push(ends: Endpoints, pattern: str) -> list:
    return [ends.push(c == "#") for c in pattern]


def test_endpoints_start_with_a_pre_roll_and_end_after_a_quiet_that_a_stop_consonant_does_not_reach():
    ends = Endpoints()
    pre_roll = round(listening.PRE_ROLL / listening.VAD_FRAME)
    said = _push(ends, "." * 20 + "###")
    assert said[-1] == START and said.count(START) == 1
    assert ends.speech_frame == 20 and ends.start_frame == 20 - pre_roll
    gap = _push(ends, "." * (listening.END_FRAMES - 1) + "####")  # "next ... step": one utterance
    assert END not in gap and gap[listening.EARLY_FRAMES - 1] == CHECK
    after = _push(ends, "." * listening.END_FRAMES)
    assert after[-1] == END and ends.end_frame == 20 + 3 + listening.END_FRAMES - 1 + 4
    assert not ends.inside and _push(ends, "..")[-1] is None


def test_a_single_click_starts_nothing_and_endless_speech_is_cut():
    ends = Endpoints()
    assert set(_push(ends, "#..#..#.." * 3)) == {None}
    longest = round(listening.LONGEST / listening.VAD_FRAME)
    run = _push(ends, "#" * (longest + 10))
    assert CUT in run and run.index(CUT) < longest


def test_the_grammar_holds_every_phrase_and_the_extra_pronunciations_are_alternatives():
    text = listening.grammar()
    assert all(f" {p.text} " in text.replace("|", " ").replace(";", " ") for p in listening.PHRASES)
    extra = listening.pronunciations()
    assert extra == {"pause(2)": "P AA Z", "previous(2)": "P R IY V Y AH S", "long(2)": "L AA NG"}


def test_check_finds_a_command_phrase_in_a_line_as_whole_words_only():
    assert phrase_in("Say again what you felt.") == "say again"
    assert phrase_in("Continue with the heel.") == "continue"
    assert phrase_in("Continued pressure on the heel.") is None


# --- pocketsphinx on recorded phrases ----------------------------------------------------------------------


@needs_flite
def test_a_command_said_in_quiet_is_heard_by_the_recogniser_with_its_time():
    from voice_guide.recogniser import Ears

    rng = np.random.default_rng(3)
    parts = [(text, corpus.say("flite-rms", text)) for text in ("continue", "previous step")]
    samples, said = corpus.stream(parts, corpus.QUIET, rng)
    ears = Ears(seed=1)
    heard = []
    for start in range(0, len(samples), 1024):
        heard += ears.hear(samples[start:start + 1024])
    ears.close()
    assert [h.phrase for h in heard] == ["continue", "previous step"]
    for h, s in zip(heard, said):
        assert abs(h.start - s.start / corpus.RATE) < 0.3 and abs(h.end - s.end / corpus.RATE) < 0.4


# --- the real capture path ---------------------------------------------------------------------------------


def _hear_through_alsa(tmp_path, clips, sounds_for=None, seconds_after=2.5):
    """Run the listening process on the test microphone; say `clips` (2 s apart); (messages, feed)."""
    env, fifo, _ = microphone_config(tmp_path)
    feed = Feed(fifo)
    heard: list[dict] = []
    problems: list[str] = []
    import os

    old = os.environ.get("ALSA_CONFIG_PATH")
    os.environ["ALSA_CONFIG_PATH"] = env["ALSA_CONFIG_PATH"]
    try:
        with Hearing(queue.Queue(), on_heard=heard.append, on_problem=problems.append) as hearing:
            assert hearing.ready.wait(30), "the listening process did not start"
            assert problems == []
            time.sleep(1.5)  # the noise floor first, as in a room
            for clip in clips:
                start = time.perf_counter()
                if sounds_for is not None:
                    sounds_for(hearing, start, clip)
                feed.say(clip)
                time.sleep(len(clip) / corpus.RATE + 2.0)
            time.sleep(seconds_after)
    finally:
        if old is None:
            del os.environ["ALSA_CONFIG_PATH"]
        else:
            os.environ["ALSA_CONFIG_PATH"] = old
        feed.stop()
    return heard, feed


@pytest.mark.slow
@needs_flite
def test_commands_said_into_the_microphone_are_heard_at_the_moment_they_were_said(tmp_path):
    texts = ("pause", "continue", "stop now")
    heard, feed = _hear_through_alsa(tmp_path, [corpus.say("flite-slt", text) for text in texts])
    assert [m["heard"] for m in heard] == list(texts)
    for message, (start, end) in zip(heard, feed.said):
        assert abs(message["start"] - start) < 0.3
        assert message["decided"] > start  # (how soon is the benchmark's to measure, not a test's)


@pytest.mark.slow
@needs_flite
def test_speech_that_is_not_a_command_said_into_the_microphone_commands_nothing(tmp_path):
    texts = ("that feels good", "where was I", "Now your right foot")
    heard, feed = _hear_through_alsa(tmp_path, [corpus.say("flite-awb", text) for text in texts] +
                                     [corpus.say("flite-awb", "next step")])
    assert [m["heard"] for m in heard] == ["next step"]  # the one command among them, and nothing else
    assert abs(heard[0]["start"] - feed.said[-1][0]) < 0.3


@pytest.mark.slow
def test_the_listening_process_runs_below_the_players_priority(tmp_path, monkeypatch):
    import os

    from voice_guide._listen_worker import NICENESS

    env, fifo, _ = microphone_config(tmp_path)
    feed = Feed(fifo)
    monkeypatch.setenv("ALSA_CONFIG_PATH", env["ALSA_CONFIG_PATH"])
    try:
        with Hearing(queue.Queue()) as hearing:
            assert hearing.ready.wait(30) and hearing.working
            stat = Path(f"/proc/{hearing._process.pid}/stat").read_text()
            niceness = int(stat.rsplit(")", 1)[1].split()[16])
    finally:
        feed.stop()
    assert niceness == min(19, os.nice(0) + NICENESS)


@pytest.mark.slow
@needs_flite
def test_nothing_heard_while_the_player_sounds_is_taken(tmp_path):
    def player_speaking(hearing, start, clip):
        hearing.sound(start - 0.2, start + len(clip) / corpus.RATE)  # the phrase falls inside a sound of ours

    texts = ("stop now", "next step")
    heard, _ = _hear_through_alsa(tmp_path, [corpus.say("flite-slt", text) for text in texts], player_speaking)
    assert heard == []


@pytest.mark.slow
@needs_flite
def test_the_routines_own_speech_fed_back_while_it_plays_commands_nothing(tmp_path):
    """The player's lines (espeak-ng) go into the microphone while the player reports them as its sounds."""
    from voice_guide import api, compiler

    lines = compiler.texts(api.load("arch"))[:14]

    def espeak(text: str) -> np.ndarray:
        done = subprocess.run(["espeak-ng", "--stdout", text], capture_output=True, check=True)
        converted = subprocess.run(["sox", "-t", "wav", "-", "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
                                    "-", "rate", "16000"], input=done.stdout, capture_output=True, check=True)
        return np.frombuffer(converted.stdout, dtype="<i2")

    def player_speaking(hearing, start, clip):
        hearing.sound(start, start + len(clip) / corpus.RATE)

    heard, _ = _hear_through_alsa(tmp_path, [espeak(line) for line in lines], player_speaking, seconds_after=1.0)
    assert heard == []


def _run_play(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "dev", "-m", "voice_guide", "play", *args],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_no_microphone_is_one_line_and_the_routine_plays_on_with_its_reminders(tmp_path, cache_root):
    import os

    played = tmp_path / "played"
    played.mkdir()
    config = tmp_path / "asound.conf"
    text = (ROOT / "tests" / "alsa" / "microphone.conf.in").read_text()
    text = text.replace("{played}", str(played / "out.raw")).replace('infile "{heard}"', 'infile "/nonexistent/heard.raw"')
    config.write_text(text)
    log = tmp_path / "timing.jsonl"
    env = {**os.environ, "ALSA_CONFIG_PATH": str(config), "XDG_CACHE_HOME": str(cache_root)}
    done = _run_play(env, QUICK, "--listen", "--timing-log", str(log))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "voice-guide: warning: no microphone found; keys still work\n"
    texts = [json.loads(line).get("text") for line in log.read_text().splitlines()]
    assert "Stop if it hurts." in texts


@contextmanager
def _ended(process: subprocess.Popen, feed: Feed) -> Iterator[None]:
    """However the block leaves (a failed assertion, a timeout), the player is not left running and the
    microphone's feed stops."""
    try:
        yield
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        feed.stop()


def _say_during_the_hold(tmp_path, cache_root, phrase: str) -> tuple[list[dict], list]:
    """Play the quick routine with --listen; say `phrase` a second into the hold; (timing log, played buffers)."""
    import os

    from .test_play_alsa import played_buffers

    env_alsa, fifo, played = microphone_config(tmp_path)
    log = tmp_path / "timing.jsonl"
    env = {**os.environ, **env_alsa, "XDG_CACHE_HOME": str(cache_root)}
    feed = Feed(fifo)
    process = subprocess.Popen([sys.executable, "-X", "dev", "-m", "voice_guide", "play", str(QUICK), "--listen",
                                "--timing-log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT)
    with _ended(process, feed):
        deadline = time.monotonic() + 90
        press = None
        while press is None and time.monotonic() < deadline:
            time.sleep(0.05)
            if log.exists():
                press = next((e for e in map(json.loads, log.read_text().splitlines())
                              if e.get("text") == "Press the arch."), None)
        assert press is not None, "the hold never started"
        time.sleep(press["samples"] / 22050 + 1.0)  # into the quiet of the hold
        feed.say(corpus.say("flite-slt", phrase))
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Warning" not in err and "warning" not in err, err  # -X dev: no ResourceWarning either
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["phrase"] for c in entries if c.get("kind") == "command"] == [phrase]
    return entries, played_buffers(played)


@pytest.mark.slow
@needs_flite
def test_stop_now_said_during_a_hold_goes_to_the_reminders_at_once(tmp_path, cache_root):
    entries, _ = _say_during_the_hold(tmp_path, cache_root, "stop now")
    command = next(e for e in entries if e.get("kind") == "command")
    texts = [e.get("text") for e in entries if e.get("kind") != "command"]
    assert "Halfway." not in texts  # the rest of the hold was skipped
    assert texts[-1] == "Stop if it hurts."  # and the reminders were said
    closing = next(e for e in entries if e.get("text") == "That's the end of the routine.")
    assert command["said"][1] <= command["time"] < closing["actual"]


@pytest.mark.slow
@needs_flite
def test_say_again_repeats_the_steps_instruction(tmp_path, cache_root):
    entries, _ = _say_during_the_hold(tmp_path, cache_root, "say again")
    texts = [e.get("text") for e in entries if e.get("kind") != "command"]
    assert texts.count("Press the arch.") == 2
    assert texts[-1] == "Stop if it hurts."


@pytest.mark.slow
@needs_flite
def test_how_long_is_answered_with_a_line_of_its_own_and_the_schedule_goes_on(tmp_path, cache_root):
    entries, buffers = _say_during_the_hold(tmp_path, cache_root, "how long")
    sounds = [e for e in entries if e.get("kind") != "command"]
    assert len(buffers) == len(sounds) + 2  # the tick and the answer, besides every sound of the routine
    assert [e.get("text") for e in sounds].count("Halfway.") == 1


def test_the_live_view_shows_listening_and_the_last_command():
    import io

    from rich.console import Console

    from voice_guide.display import LiveDisplay, Playhead
    from voice_guide.timeline import Event, StepOutline

    events = (Event("speech", 0, 22050, "Relax.", 1, "instruction"),)
    playhead = Playhead(lambda: 100, lambda: False, lambda: (events, True), heard=lambda: "next step")
    out = io.StringIO()
    Console(file=out, width=80).print(LiveDisplay(out, "Demo", [StepOutline(1, "Relax.")], playhead, keys=False))
    assert "listening" in out.getvalue() and "heard: next step" in out.getvalue()


def test_the_settings_file_honours_an_absolute_xdg_config_home_only(tmp_path, monkeypatch):
    from voice_guide import user_settings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_settings.path() == tmp_path / "voice-guide" / "settings.yaml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    assert user_settings.path() == user_settings.Path.home() / ".config" / "voice-guide" / "settings.yaml"


def test_a_bad_settings_file_is_named_with_what_is_wrong(tmp_path):
    from voice_guide import user_settings
    from voice_guide.errors import BadInputError

    where = tmp_path / "settings.yaml"
    where.write_text("listen: yes please\n")
    with pytest.raises(BadInputError, match="listen must be true or false"):
        user_settings.load(where)
    where.write_text("sensitivity: 0.4\nlisten: true\n")
    assert user_settings.load(where) == user_settings.UserSettings(True, 0.4)
    user_settings.save_sensitivity(0.7, where)
    assert user_settings.load(where) == user_settings.UserSettings(True, 0.7)


@pytest.mark.slow
def test_listen_true_in_the_settings_file_turns_listening_on(tmp_path, cache_root):
    import os

    config = tmp_path / "config"
    (config / "voice-guide").mkdir(parents=True)
    (config / "voice-guide" / "settings.yaml").write_text("listen: true\n")
    played = tmp_path / "played"
    played.mkdir()
    alsa = tmp_path / "asound.conf"
    text = (ROOT / "tests" / "alsa" / "microphone.conf.in").read_text()
    alsa.write_text(text.replace("{played}", str(played / "out.raw")).replace('infile "{heard}"', 'infile "/nonexistent"'))
    env = {**os.environ, "ALSA_CONFIG_PATH": str(alsa), "XDG_CACHE_HOME": str(cache_root), "XDG_CONFIG_HOME": str(config)}
    done = _run_play(env, QUICK)
    assert done.returncode == 0, done.stderr
    assert "no microphone found; keys still work" in done.stderr


@pytest.mark.slow
@needs_flite
def test_listen_test_shows_what_it_heard_and_saves_a_sensitivity(tmp_path):
    import os

    env_alsa, fifo, _ = microphone_config(tmp_path)
    config = tmp_path / "config"
    feed = Feed(fifo)
    env = {**os.environ, **env_alsa, "XDG_CONFIG_HOME": str(config)}
    process = subprocess.Popen([sys.executable, "-m", "voice_guide", "listen-test", "--seconds", "7"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    with _ended(process, feed):
        deadline = time.monotonic() + 60
        while feed.opened_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)
        feed.say(corpus.say("flite-slt", "stop now"))
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "heard: stop now" in out
    assert "input level" in out
    saved = (config / "voice-guide" / "settings.yaml").read_text()
    assert saved.startswith("sensitivity: ")
    assert f"saved to {config / 'voice-guide' / 'settings.yaml'}" in out


def test_a_command_the_player_ignores_does_not_start_the_next_sound_early():
    from voice_guide.commands import RESUME, TIME_LEFT
    from voice_guide.scheduler import Scheduler
    from voice_guide.timeline import Event

    class Clock:
        def __init__(self):
            self.t, self.commands = 0.0, [(0.5, TIME_LEFT), (0.7, RESUME)]

        def now(self):
            return self.t

        def wait_until(self, deadline):
            if self.commands and self.commands[0][0] < deadline:
                self.t, command = self.commands.pop(0)
                return command
            self.t = max(self.t, deadline)
            return None

    class Sink:
        def __init__(self, clock):
            self.clock, self.started = clock, []

        def play(self, pcm):
            self.started.append(self.clock.t)

        def stop_all(self):
            pass

        def wait_done(self):
            pass

    clock = Clock()
    sink = Sink(clock)
    events = [Event("speech", 0, 100, "One.", 1, "instruction"), Event("silence", 100, 22050 - 100, None, 1),
              Event("speech", 22050, 100, "Two.", 1)]
    Scheduler(events, lambda e: b"x", clock, sink).run()
    assert sink.started == [0.0, 1.0]


def test_a_range_holds_stop_cue_says_what_to_say_only_when_listening():
    from voice_guide import api, compiler

    routine = api.load("arch")
    listening_lines = [t for t in compiler.texts(routine, listening=True) if t.startswith("You can stop here")]
    plain_lines = [t for t in compiler.texts(routine) if t.startswith("You can stop here")]
    assert listening_lines and all("say next step to move on" in t for t in listening_lines)
    assert plain_lines and not any("next step" in t for t in plain_lines)
