"""`play`'s opening chime, started by the console command before the pipeline is imported (voice_guide/opening.py):
it reaches the device first, the timeline keeps its place after it, and a bad command still plays nothing."""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_play_alsa import alsa_file, played_buffers, timing_lines  # noqa: F401 - alsa_file is a fixture
from voice_guide import checkmemo, opening
from voice_guide.chime import CHIME_LENGTH
from voice_guide.scheduler import Scheduler, Started
from voice_guide.timeline import CHIME, SILENCE, SPEECH, Event

ROOT = Path(__file__).resolve().parent.parent
# What the chime must not wait for: the pipeline, the engine, numpy; the mixer with its disk cache, OpenSSL (hashlib
# loads it) and json, which neither the opening's checks nor its memo need.
PIPELINE = ("voice_guide.cli", "voice_guide.api", "voice_guide.speech", "voice_guide.display", "voice_guide.render",
            "voice_guide.loudness", "voice_guide.prefetch", "numpy", "pyttsx3", "voice_guide.mixer", "_hashlib", "json")
SHORT = "title: Opening test\nsteps:\n  - say: Relax your foot.\nreminders:\n  - Stop if it hurts.\n"
# What a chime the memo knows must not wait for either (openingmemo): the routine's loading and checking.
CHECKING = ("yaml", "num2words", "voice_guide.loader", "voice_guide.compiler", "voice_guide.phrases",
            "voice_guide.mixer", "voice_guide.openingcheck")


def spy_script(watched: tuple[str, ...], prelude: str = "") -> str:
    """The console command with a spy on simpleaudio's play_buffer (the real one still plays): which of `watched`
    were imported when the first sound went to the device, written to the file named by SPY_OUT. `prelude`: code
    run first (a test's own change to the run)."""
    return f"""
import os, sys
{prelude}
import simpleaudio
real, first = simpleaudio.play_buffer, []
def spy(*args):
    if not first:
        first.append(sorted(name for name in {watched!r} if name in sys.modules))
        import json  # after the look: json is one of the modules watched
        with open(os.environ["SPY_OUT"], "w") as out:
            json.dump(first[0], out)
        played = real(*args)
        if os.environ.get("SPY_SIGNAL"):  # a stop while the chime sounds and the pipeline is still being imported
            os.kill(os.getpid(), int(os.environ["SPY_SIGNAL"]))
        return played
    return real(*args)
simpleaudio.play_buffer = spy
sys.argv = ["voice-guide", *sys.argv[1:]]
from voice_guide.launch import main
sys.exit(main())
"""


def console(cache_root, env: dict, *args, spy: Path | None = None, watched: tuple[str, ...] = PIPELINE,
            prelude: str = "") -> subprocess.CompletedProcess:
    """`voice-guide ARGS` as the console command runs it (voice_guide.launch), optionally under the spy."""
    full = {**os.environ, "XDG_CACHE_HOME": str(cache_root), **env}
    command = [sys.executable, "-c", spy_script(watched, prelude)] if spy else [sys.executable, "-m", "voice_guide"]
    if spy:
        full["SPY_OUT"] = str(spy)
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, env=full, cwd=ROOT,
                          timeout=300)


@pytest.mark.slow
def test_the_chime_reaches_the_device_before_the_pipeline_is_imported(cache_root, alsa_file, tmp_path):
    env, folder = alsa_file
    routine, log, spied = tmp_path / "short.yaml", tmp_path / "timing.jsonl", tmp_path / "spied.json"
    routine.write_text(SHORT)
    done = console(cache_root, env, "play", routine, "--no-keys", "--timing-log", log, spy=spied)
    assert done.returncode == 0, done.stderr
    assert json.loads(spied.read_text()) == []
    sounds = timing_lines(log)
    # The chime is the timeline's first sound, logged as played when it really started; the rest keeps its place.
    assert [s["kind"] for s in sounds[:2]] == [CHIME, SPEECH] and sounds[0]["index"] == 0
    assert sounds[0]["lateness_ms"] == 0.0 and sounds[0]["scheduled"] == sounds[0]["actual"]
    step = sounds[1]
    assert abs(step["scheduled"] - sounds[0]["actual"] - step["sample"] / 22050) < 1e-5
    buffers = played_buffers(folder)
    assert len(buffers) == len(sounds) and len(buffers[0]) == CHIME_LENGTH


@pytest.mark.slow
@pytest.mark.parametrize("signum, status, said", [(2, 130, "stopped (Ctrl+C)"), (15, 143, "stopped (terminated)")])
def test_a_stop_during_the_chime_before_the_cli_is_loaded_stops_as_usual(cache_root, alsa_file, tmp_path, signum,
                                                                        status, said):
    env, _ = alsa_file
    routine, spied = tmp_path / "short.yaml", tmp_path / "spied.json"
    routine.write_text(SHORT)
    done = console(cache_root, {**env, "SPY_SIGNAL": str(signum)}, "play", routine, "--no-keys", spy=spied)
    assert json.loads(spied.read_text()) == []  # it came while the pipeline was not yet imported
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and said in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("text, message", [
    ("title: Bad\nsteps:\n  - say: Relax.\n    hold: 5 parsecs\n", "5 parsecs"),
    ("title: Bad\nsteps: [\n", "YAML syntax error"),
])
def test_a_bad_routine_gives_exit_2_and_its_message_with_nothing_played(cache_root, alsa_file, tmp_path, text,
                                                                         message):
    env, folder = alsa_file
    routine = tmp_path / "bad.yaml"
    routine.write_text(text)
    done = console(cache_root, env, "play", routine, "--no-keys", "--timing-log", tmp_path / "log.jsonl")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "bad.yaml:" in done.stderr
    assert played_buffers(folder) == [] and not (tmp_path / "log.jsonl").exists()


@pytest.mark.slow
def test_a_timing_log_that_exists_gives_exit_2_with_nothing_played_and_the_file_kept(cache_root, alsa_file,
                                                                                     tmp_path):
    env, folder = alsa_file
    log = tmp_path / "log.jsonl"
    log.write_text("keep me\n")
    done = console(cache_root, env, "play", "arch", "--no-keys", "--timing-log", log)
    assert done.returncode == 2, done.stderr
    assert "--force" in done.stderr
    assert played_buffers(folder) == [] and log.read_text() == "keep me\n"


@pytest.mark.slow
def test_a_routine_too_long_with_its_spoken_lines_gives_exit_2_with_nothing_played(cache_root, alsa_file, tmp_path):
    env, folder = alsa_file
    line = "Press gently along the arch with both thumbs and breathe slowly while you do it. " * 6
    steps = "".join(f"  - say: {line}{n}\n    pause: 1s\n" for n in range(40))
    routine = tmp_path / "long.yaml"
    routine.write_text(f"title: Long\nsteps:\n  - say: Hold.\n    hold: 3h55m\n{steps}")
    done = console(cache_root, env, "play", routine, "--no-keys")
    assert done.returncode == 2, done.stderr
    assert "with its spoken lines" in done.stderr
    assert played_buffers(folder) == []


def test_the_opening_check_runs_without_importing_typing_or_dataclasses(tmp_path):
    """`typing` costs about 6 ms to import, before the first sound: the check's modules name their types for type
    checkers only (`TYPE_CHECKING = False`), and their unions are `X | Y`. `dataclasses` imports `inspect` (~36 M
    instructions) and each frozen dataclass's class costs ~4.5 M more: the check's values are named tuples."""
    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT)
    code = ("import sys\nfrom pathlib import Path\nfrom voice_guide import openingcheck\n"
            "checked = openingcheck.checked({'routine': sys.argv[1]}, Path(sys.argv[2]))\n"
            "print(len(checked[2]), *(name in sys.modules for name in ('typing', 'dataclasses', 'inspect')))")
    done = subprocess.run([sys.executable, "-c", code, str(routine), str(tmp_path / "no-settings.yaml")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(2 * CHIME_LENGTH), "False", "False", "False"]


def test_nothing_the_parent_imports_before_the_chime_imports_dataclasses():
    """The opening's own side (the sink, the scheduler's Started, the timing log) before the chime: as the check,
    without `dataclasses` and `inspect` (~36 M instructions on a warm start's whole path to the chime)."""
    code = ("import sys\nfrom voice_guide import audio_sink, opening, scheduler, timing_log\n"
            "print(*(name in sys.modules for name in ('dataclasses', 'inspect')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


# --- which command lines start here ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["play"], ["play", "arch"], ["play", "arch", "--no-keys", "--timing-log", "t.jsonl", "--force"],
    ["play", "--rate=170", "--volume", "0.5", "--voice", "en-us", "calf"], ["play", "--engine", "espeak-ng"],
])
def test_plain_play_command_lines_are_read_as_argparse_reads_them(argv):
    options = opening._parse(argv)
    assert options is not None
    assert options.get("--rate") in (None, 170) and options.get("--volume") in (None, 0.5)


@pytest.mark.parametrize("argv", [
    ["check", "arch"], ["play", "--listen"], ["play", "--start-at", "2"], ["play", "--help"], ["play", "-h"],
    ["play", "--no-k"], ["play", "a", "b"], ["play", "--rate", "5"], ["play", "--rate", "fast"],
    ["play", "--volume", "0"], ["play", "--volume", "2"], ["play", "--timing-log"], ["play", "--timing-log", "--force"],
    ["play", "--engine", "piper"], ["play", "--voice", "-x"], ["play", "--rate", "170", "--rate", "180"],
    ["play", "--debug"], ["play", "--", "arch"],
])
def test_anything_else_is_left_to_the_cli(argv):
    assert opening._parse(argv) is None


def test_nothing_starts_for_a_routine_without_chimes_or_another_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    opened = []
    for text in ("title: T\nchime: false\nsteps:\n  - say: Relax.\n",
                 "title: T\nvoice:\n  engine: piper\nsteps:\n  - say: Relax.\n"):
        routine = tmp_path / "r.yaml"
        routine.write_text(text)
        assert opening.start(["play", str(routine)], open_sink=lambda: opened.append(1), cache_root=tmp_path) is None
    no_chime = opening.start(["play", "arch", "--no-chime"], open_sink=lambda: opened.append(1), cache_root=tmp_path)
    assert no_chime is None
    assert opened == []


def test_the_opening_chime_is_the_one_the_player_would_play(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    sink = FakeSink()
    started = opening.start(["play", "arch", "--volume", "0.7"], open_sink=lambda: sink,
                            clock=iter([5.0, 5.001]).__next__, cache_root=tmp_path / "cache")
    assert started is not None and started.log is None and started.routine.title == "Arch self-massage"
    assert started.held  # the stop signals wait for cli's handlers ...
    started.let_stops_in()  # ... which let them in (here: before this process starts speech workers)
    assert started.started == Started(sink.played[0], 5.0, 5.001)
    from voice_guide import api

    settings = api.Settings(voice=api.Voice(volume=0.7))
    with api.synthesizer(started.routine, settings, api.Environment(cache_dir=tmp_path)) as synth:
        mixing = api.mixer(started.routine, synth, settings, api.Environment(cache_dir=tmp_path))
        assert mixing.pcm(Event(CHIME, 0, CHIME_LENGTH), synth.requested.volume) == sink.played[0]


# --- the scheduler takes the started chime as the timeline's first sound -------------------------------------------


class FakeSink:
    def __init__(self):
        self.played: list[bytes] = []
        self.stops = 0

    def play(self, pcm: bytes) -> None:
        self.played.append(pcm)

    def stop_all(self) -> None:
        self.stops += 1

    def wait_done(self) -> None:
        pass


class FakeClock:
    def __init__(self, t: float):
        self.t = t

    def now(self) -> float:
        return self.t

    def wait_until(self, deadline: float) -> None:
        self.t = max(self.t, deadline)


EVENTS = [Event(CHIME, 0, CHIME_LENGTH), Event(SILENCE, CHIME_LENGTH, 7717), Event(SPEECH, 25357, 22050, "Relax.")]


def clip(event: Event) -> bytes:
    return b"chime" if event.kind == CHIME else event.text.encode()


def test_a_started_chime_is_logged_as_played_when_it_started_and_the_next_sound_is_timed_from_it():
    sink, clock = FakeSink(), FakeClock(10.0)
    result = Scheduler(EVENTS, clip, clock, sink).run(started=Started(b"chime", 9.5, 9.501))
    assert sink.played == [b"Relax."] and sink.stops == 0
    first, said = result.played
    assert (first.index, first.scheduled, first.actual, first.returned) == (0, 9.5, 9.5, 9.501)
    assert said.scheduled == pytest.approx(9.5 + 25357 / 22050)


def test_a_started_sound_that_is_not_the_timelines_first_is_silenced_and_the_chime_played_again():
    sink, clock = FakeSink(), FakeClock(10.0)
    result = Scheduler(EVENTS, clip, clock, sink).run(started=Started(b"another chime", 9.5, 9.501))
    assert sink.stops == 1 and sink.played == [b"chime", b"Relax."]
    assert result.played[0].actual == 10.0


def test_the_chime_made_with_loops_in_c_is_the_plain_loops_chime_bit_for_bit():
    import cmath
    import math
    import struct

    from voice_guide import chime
    from voice_guide.timeline import SAMPLE_RATE

    tone = [0.0] * CHIME_LENGTH
    for hz, amp, decay in chime._PARTIALS:  # the definition, sample by sample
        step, z = cmath.exp(complex(-decay, 2 * math.pi * hz) / SAMPLE_RATE), complex(amp, 0.0)
        for i in range(CHIME_LENGTH):
            tone[i] += z.imag
            z *= step
    attack, fade = chime._ATTACK_SECONDS * SAMPLE_RATE, chime._FADE_SECONDS * SAMPLE_RATE
    out = [x * min(1.0, i / attack) * min(1.0, max(0.0, (CHIME_LENGTH - i) / fade)) for i, x in enumerate(tone)]
    scale = 0.5 / max(map(abs, out))
    plain = [x * scale for x in out]
    packed = struct.Struct(f"<{CHIME_LENGTH}d")
    assert packed.pack(*chime.raw_chime()) == packed.pack(*plain)


def test_the_kept_chime_table_is_the_computed_chime_bit_for_bit():
    from voice_guide import chime

    kept = chime.read_table(chime.TABLE)
    assert kept is not None, "chime.f64 does not hold this definition's chime: run chime.write_table()"
    assert kept.tobytes() == chime.computed_chime().tobytes()


def test_a_chime_table_of_another_definition_or_cut_short_is_not_used(tmp_path, monkeypatch):
    from voice_guide import chime

    table = tmp_path / "chime.f64"
    chime.write_table(table)
    assert chime.read_table(table).tobytes() == chime.computed_chime().tobytes()
    table.write_bytes(table.read_bytes()[:-8])
    assert chime.read_table(table) is None
    assert chime.read_table(tmp_path / "missing.f64") is None
    chime.write_table(table)
    three_partials = chime.read_table(table).tobytes()
    monkeypatch.setattr(chime, "_PARTIALS", ((880.0, 1.0, 3.5),))  # the definition changed, the file did not
    assert chime.read_table(table) is None
    monkeypatch.setattr(chime, "TABLE", table)
    chime.raw_chime.cache_clear()
    try:
        one_partial = chime.raw_chime().tobytes()
        assert one_partial == chime.computed_chime().tobytes() and one_partial != three_partials
    finally:
        chime.raw_chime.cache_clear()


@pytest.mark.parametrize("target", [-38.0, -27.0, -25.97, -14.0, 0.0])
def test_the_levelled_chime_is_each_raw_sample_times_its_gain_rounded_to_float32_as_array_does(target):
    from array import array

    from voice_guide import chime

    plain = array("f", [x * chime._gain(target) for x in chime.raw_chime()])  # a C cast of each product
    assert chime.levelled(target).tobytes() == plain.tobytes()
    assert chime.levelled(target).typecode == "f"


@pytest.mark.parametrize("volume", [1.0, 0.8, 0.33, 0.05, 1.9])
@pytest.mark.parametrize("target", [-38.0, -27.0, -25.97, -14.0, -6.0, 0.0])
def test_the_chimes_pcm_is_each_float32_sample_rounded_half_to_even_and_clipped(target, volume):
    from array import array

    from voice_guide import chime

    samples = chime.levelled(target)
    if volume != 1.0:
        factor = array("f", [volume])[0]
        samples = array("f", [factor * x for x in samples])
    plain = [max(-32768, min(32767, round(x))) for x in array("f", [32767.0 * x for x in samples])]
    assert chime.pcm16(target, volume) == array("h", plain).tobytes()


# --- the memo of an opening (openingmemo) -------------------------------------------------------------------------


def device(tmp_path: Path, name: str) -> tuple[dict, Path]:
    """Like the alsa_file fixture, for one of several runs in a test: (environment, folder of played buffers)."""
    from tests.test_play_alsa import ALSA

    played = tmp_path / name
    played.mkdir()
    config = tmp_path / f"{name}.conf"
    config.write_text((ALSA / "file-device.conf.in").read_text().replace("{path}", str(played / "out.raw")))
    return {"ALSA_CONFIG_PATH": str(config)}, played


@pytest.fixture
def starts(tmp_path, monkeypatch):
    """opening.start with a fake sink, its memo in this test's own cache folder: (start(argv), the checks run so
    far, the sinks, in order). A start the memo answers runs no check."""
    from voice_guide import openingcheck

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    checks, sinks = [], []
    real = openingcheck.checked
    monkeypatch.setattr(openingcheck, "checked", lambda *args: checks.append(args) or real(*args))

    def start(*argv: str) -> opening.Opening | None:
        sinks.append(FakeSink())
        started = opening.start(["play", *argv], open_sink=lambda: sinks[-1], cache_root=tmp_path / "cache")
        if started is not None:
            started.let_stops_in()
        return started

    return start, checks, sinks


def test_a_kept_opening_plays_the_same_chime_without_loading_or_checking_the_routine(starts, tmp_path):
    start, checks, sinks = starts
    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT)
    first = start(str(routine), "--volume", "0.6", "--timing-log", str(tmp_path / "one.jsonl"))
    assert first is not None and first.routine is not None and len(checks) == 1
    again = start(str(routine), "--volume", "0.6", "--no-keys", "--timing-log", str(tmp_path / "two.jsonl"))
    assert again is not None and len(checks) == 1  # a timing log elsewhere and --no-keys change nothing before it
    assert again.routine is None and again.text == routine.read_bytes() and again.settings == first.settings
    assert sinks[1].played == sinks[0].played and again.started.pcm == sinks[0].played[0]
    assert again.log is not None and (tmp_path / "two.jsonl").exists()
    folder = tmp_path / "cache" / "openings"
    assert oct(folder.stat().st_mode & 0o777) == "0o700" and len(list(folder.iterdir())) == 1
    from voice_guide import api

    assert api.load(str(routine), text=again.text) == first.routine  # what cli plays is what was checked
    start(str(routine), "--volume", "0.7")  # another volume is another chime
    assert len(checks) == 2 and sinks[2].played != sinks[0].played


def test_an_edit_of_the_routine_is_seen_even_at_the_same_size_and_modification_time(starts, tmp_path):
    start, checks, sinks = starts
    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT)
    start(str(routine))
    stamp = routine.stat()
    routine.write_text(SHORT.replace("Relax your foot.", "Relax your heel."))
    os.utime(routine, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert start(str(routine)).routine.steps[0].text == "Relax your heel." and len(checks) == 2
    assert start(str(routine)).routine is None and len(checks) == 2  # kept again, for the new contents


def test_a_routine_changed_while_its_opening_is_checked_is_not_kept_for_the_new_contents(tmp_path, monkeypatch):
    """The memo keeps the hash of the very bytes that were checked: a file edited between loading and keeping
    (here: just after the check) must be checked again, not recalled with the chime of the old contents."""
    from voice_guide import openingcheck

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT)
    edited = SHORT.replace("Relax your foot.", "Relax your foot, and breathe slowly, in and out, three times.")
    checks, real = [], openingcheck.checked

    def checked_then_edited(*args):
        result = real(*args)
        checks.append(args)
        routine.write_text(edited)
        return result

    monkeypatch.setattr(openingcheck, "checked", checked_then_edited)
    for _ in range(2):
        started = opening.start(["play", str(routine)], open_sink=FakeSink, cache_root=tmp_path / "cache")
        started.let_stops_in()
    assert len(checks) == 2  # the edited file was not taken for the one checked first


def test_an_edit_of_the_settings_file_is_seen_and_listen_there_starts_nothing(starts, tmp_path):
    start, checks, sinks = starts
    settings = tmp_path / "config" / "voice-guide" / "settings.yaml"
    start("arch")
    settings.parent.mkdir(parents=True)
    settings.write_text("sensitivity: 0.4\n")
    assert start("arch").settings.sensitivity == 0.4 and len(checks) == 2
    assert start("arch").settings.sensitivity == 0.4 and len(checks) == 2  # from the memo
    settings.write_text("listen: true\nsensitivity: 0.4\n")
    assert start("arch") is None and sinks[-1].played == []
    settings.unlink()
    assert start("arch").settings.sensitivity is None and len(checks) == 4


@pytest.mark.parametrize("damage", ["truncated", "pcm", "hash", "format", "garbage", "a link", "open folder"])
def test_a_damaged_or_foreign_memo_is_not_used(starts, tmp_path, damage):
    start, checks, sinks = starts
    start("arch")
    folder = tmp_path / "cache" / "openings"
    (entry,) = folder.iterdir()
    head = len(checkmemo._MAGIC) + 32  # then marshal's form of the entry, whose sha256 those 32 bytes are
    data = marshal.loads(entry.read_bytes()[head:])
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-100])
    elif damage == "pcm":
        data["pcm"] = b"\x7f\xff" + data["pcm"][2:]
    elif damage == "hash":
        data["sha256"] = "0" * 64
    elif damage == "format":
        data["format"] += 1
    elif damage == "garbage":
        entry.write_bytes(b"\xff" * 100)
    elif damage == "a link":
        target = tmp_path / "elsewhere.memo"
        entry.rename(target)
        entry.symlink_to(target)
    elif damage == "open folder":
        folder.chmod(0o755)
    if damage in ("pcm", "hash", "format"):  # whole, with its own checksum right: its contents must be checked
        body = marshal.dumps(data)
        entry.write_bytes(checkmemo._MAGIC + hashlib.sha256(body).digest() + body)
    again = start("arch")
    assert again.routine is not None and len(checks) == 2 and sinks[1].played == sinks[0].played
    assert start("arch").routine is None and len(checks) == 2  # replaced by a good one


def test_a_routine_made_bad_after_its_opening_was_kept_starts_nothing(starts, tmp_path):
    start, checks, sinks = starts
    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT)
    start(str(routine))
    routine.write_text(SHORT.replace("say: Relax your foot.", "say: Relax your foot.\n    hold: 5 parsecs"))
    assert start(str(routine)) is None and sinks[-1].played == []
    routine.unlink()
    assert start(str(routine)) is None and sinks[-1].played == []


@pytest.mark.slow
def test_a_repeated_play_sounds_its_chime_before_the_routine_is_loaded_and_plays_as_the_first(cache_root, tmp_path):
    routine, spied = tmp_path / "short.yaml", tmp_path / "spied.json"
    routine.write_text(SHORT)
    runs = []
    for name in ("first", "again"):
        env, folder = device(tmp_path, name)
        log = tmp_path / f"{name}.jsonl"
        done = console(cache_root, env, "play", routine, "--no-keys", "--timing-log", log, spy=spied,
                       watched=CHECKING + PIPELINE)
        assert done.returncode == 0, done.stderr
        runs.append((json.loads(spied.read_text()), played_buffers(folder), timing_lines(log)))
    (checked, first, first_log), (unchecked, again, again_log) = runs
    assert checked == []  # the first: checked in a forked process, while this one opened the device
    assert unchecked == []  # the memo's chime: neither PyYAML, the loader, the compiler nor num2words before it
    assert len(again) == len(first) and all(np.array_equal(a, b) for a, b in zip(again, first))
    assert [line["text"] for line in again_log] == [line["text"] for line in first_log]
    assert again_log[0]["kind"] == CHIME and again_log[0]["lateness_ms"] == 0.0


@pytest.mark.slow
def test_a_routine_made_bad_after_a_kept_opening_gives_exit_2_with_nothing_played(cache_root, tmp_path):
    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT)
    env, folder = device(tmp_path, "first")
    assert console(cache_root, env, "play", routine, "--no-keys").returncode == 0
    routine.write_text(SHORT.replace("say: Relax your foot.", "say: Relax your foot.\n    hold: 5 parsecs"))
    env, folder = device(tmp_path, "again")
    done = console(cache_root, env, "play", routine, "--no-keys")
    assert done.returncode == 2 and "5 parsecs" in done.stderr and "short.yaml:" in done.stderr
    assert played_buffers(folder) == []


# --- the check forked while the device is opened (opening._Check) -------------------------------------------------


@pytest.fixture
def forks(tmp_path, monkeypatch) -> list[int]:
    """os.fork counted (the real one runs; the count is the parent's), the settings in this test's folder. The
    command forks before any thread exists; a thread an earlier test left in this process is none of the child's
    (it runs only the check, then os._exit), so opening's look for threads is told there are none."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(opening, "_threads", lambda: 0)
    calls, real = [], os.fork
    monkeypatch.setattr(os, "fork", lambda: calls.append(1) or real())
    return calls


def no_children() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_forked_check_plays_the_serial_checks_chime_and_keeps_the_same_memo(tmp_path, forks):
    routine = tmp_path / "short.yaml"
    routine.write_text(SHORT)
    argv = ["play", str(routine), "--volume", "0.6", "--rate", "150"]
    runs = {}
    for fork in (False, True):
        sink = FakeSink()
        runs[fork] = opening.start(argv, open_sink=lambda: sink, cache_root=tmp_path / f"cache-{fork}", fork=fork)
        runs[fork].let_stops_in()
    serial, forked = runs[False], runs[True]
    assert forks == [1] and no_children()  # forked once, and reaped
    assert forked.started.pcm == serial.started.pcm == serial.sink.played[0]
    assert forked.sink.played == [forked.started.pcm]
    assert serial.routine is not None and forked.routine is None  # cli loads the bytes checked, as from the memo
    assert forked.text == routine.read_bytes() and forked.settings == serial.settings
    from voice_guide import api

    assert api.load(str(routine), text=forked.text) == serial.routine
    kept = [list((tmp_path / f"cache-{fork}" / "openings").iterdir()) for fork in (False, True)]
    assert [len(entries) for entries in kept] == [1, 1]
    assert kept[0][0].name == kept[1][0].name and kept[0][0].read_bytes() == kept[1][0].read_bytes()
    again = opening.start(argv, open_sink=FakeSink, cache_root=tmp_path / "cache-True", fork=True)
    again.let_stops_in()
    assert forks == [1] and again.started.pcm == serial.started.pcm  # the kept entry answers: no fork


@pytest.mark.parametrize("failure", ["raises", "killed", "exits"])
def test_a_forked_check_that_fails_starts_nothing_and_is_reaped(tmp_path, forks, monkeypatch, failure):
    from voice_guide import openingcheck

    def checked(*args):  # runs in the child
        if failure == "raises":
            raise RuntimeError("the check broke")
        if failure == "killed":
            os.kill(os.getpid(), 9)
        os._exit(0)

    monkeypatch.setattr(openingcheck, "checked", checked)
    sinks = []
    assert opening.start(["play", "arch"], open_sink=lambda: sinks.append(FakeSink()) or sinks[-1],
                         cache_root=tmp_path / "cache", fork=True) is None
    assert forks == [1] and no_children()
    assert [sink.played for sink in sinks] == [[]] * len(sinks)  # cli then does it all, as without an opening
    assert not (tmp_path / "cache" / "openings").exists()


def test_no_fork_while_a_thread_runs(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    calls, real = [], os.fork
    monkeypatch.setattr(os, "fork", lambda: calls.append(1) or real())
    done = threading.Event()
    thread = threading.Thread(target=done.wait)
    thread.start()
    try:
        started = opening.start(["play", "arch"], open_sink=FakeSink, cache_root=tmp_path / "c", fork=True)
        started.let_stops_in()
    finally:
        done.set()
        thread.join()
    assert calls == [] and started.routine is not None  # checked here


@pytest.mark.parametrize("no_fork", ["fails", "absent"])
def test_where_no_process_can_be_forked_the_check_runs_here(tmp_path, monkeypatch, no_fork):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(opening, "_threads", lambda: 0)  # as in `forks`
    if no_fork == "fails":
        def fork():
            raise BlockingIOError(11, "Resource temporarily unavailable")

        monkeypatch.setattr(os, "fork", fork)
    else:
        monkeypatch.delattr(os, "fork")
    sink = FakeSink()
    started = opening.start(["play", "arch", "--volume", "0.7"], open_sink=lambda: sink, cache_root=tmp_path / "c",
                            fork=True)
    started.let_stops_in()
    assert started.routine is not None and started.routine.title == "Arch self-massage"  # checked here
    serial = opening.start(["play", "arch", "--volume", "0.7"], open_sink=FakeSink, cache_root=tmp_path / "d")
    serial.let_stops_in()
    assert sink.played == [serial.started.pcm]


def test_a_settings_file_that_is_not_a_regular_file_is_read_once_by_the_parent(tmp_path, forks):
    fifo = tmp_path / "config" / "voice-guide" / "settings.yaml"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"echo 'sensitivity: 0.4' > {fifo}"])  # not a thread: fork is refused
    try:
        sink = FakeSink()
        started = opening.start(["play", "arch"], open_sink=lambda: sink, cache_root=tmp_path / "c", fork=True)
        started.let_stops_in()
    finally:
        writer.kill()
        writer.wait()
    assert forks == [1] and no_children()
    assert started.routine is not None and started.settings.sensitivity == 0.4  # checked here
    assert sink.played == [started.started.pcm]
    assert not (tmp_path / "c" / "openings").exists()  # a FIFO's contents are not kept


SLOW_CHECK = """
import time
from voice_guide import openingcheck
real = openingcheck.checked
def slow(*args):
    open(os.environ["CHECKING"], "w").close()
    time.sleep(60)
    return real(*args)
openingcheck.checked = slow
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("to", ["group", "parent"])
def test_a_stop_during_a_forked_check_ends_both_processes(tmp_path, alsa_file, signum, to):
    from tests.test_faults import assert_no_stray_processes, stray_processes

    env, folder = alsa_file
    cache, checking, routine = tmp_path / "cache", tmp_path / "checking", tmp_path / "short.yaml"
    routine.write_text(SHORT)
    full = {**os.environ, **env, "XDG_CACHE_HOME": str(cache), "CHECKING": str(checking), "SPY_OUT": "/dev/null"}
    process = subprocess.Popen([sys.executable, "-c", spy_script(PIPELINE, SLOW_CHECK), "play", str(routine),
                                "--no-keys"], env=full, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not checking.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.01)
        assert len(stray_processes(cache)) == 2  # the parent and its check
        if to == "group":
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if signum == signal.SIGINT:  # as a Ctrl+C before the chime always did: KeyboardInterrupt
        assert "KeyboardInterrupt" in err
    else:  # as before: the signal's own default action, once the child has gone
        assert process.returncode == -signum, err
    assert_no_stray_processes(cache)
    assert played_buffers(folder) == []


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["killed", "raises"])
def test_a_play_whose_forked_check_fails_still_plays_as_usual(tmp_path, failure):
    from tests.test_faults import assert_no_stray_processes

    cache, routine = tmp_path / "cache", tmp_path / "short.yaml"
    routine.write_text(SHORT)
    broken = f"""
from voice_guide import openingcheck
def checked(*args):
    if {failure!r} == "killed":
        os.kill(os.getpid(), 9)
    raise RuntimeError("the check broke")
openingcheck.checked = checked
"""
    runs = []
    for name, prelude in (("broken", broken), ("plain", "")):
        env, folder = device(tmp_path, name)
        log = tmp_path / f"{name}.jsonl"
        done = console(cache / name, env, "play", routine, "--no-keys", "--timing-log", log,
                       spy=tmp_path / "spied.json", prelude=prelude)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        runs.append((played_buffers(folder), timing_lines(log)))
        assert_no_stray_processes(cache / name)
    (broken_played, broken_log), (played, log) = runs
    assert len(broken_played) == len(played) and all(np.array_equal(a, b) for a, b in zip(broken_played, played))
    assert [line["text"] for line in broken_log] == [line["text"] for line in log]
    assert not (cache / "broken" / "voice-guide" / "openings").exists()  # nothing kept: the check did not answer
    assert len(list((cache / "plain" / "voice-guide" / "openings").iterdir())) == 1


@pytest.mark.slow
def test_the_forked_check_runs_no_exit_handler_and_flushes_nothing_inherited(cache_root, alsa_file, tmp_path):
    env, folder = alsa_file
    routine, ended = tmp_path / "short.yaml", tmp_path / "ended"
    routine.write_text(SHORT)
    prelude = f"""
import atexit
atexit.register(lambda: open({str(ended)!r}, "a").write(f"{{os.getpid()}}\\n"))
sys.stdout.write("written before the fork\\n")  # a pipe's stdout is buffered: not flushed yet
"""
    done = console(cache_root, env, "play", routine, "--no-keys", spy=tmp_path / "spied.json", prelude=prelude)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "spied.json").read_text()) == []  # checked in the child
    assert done.stdout.count("written before the fork") == 1
    assert len(ended.read_text().splitlines()) == 1
    assert len(played_buffers(folder)[0]) == CHIME_LENGTH
