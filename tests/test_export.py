"""End to end on the real engine: routine file -> check --json -> exported WAV."""

from __future__ import annotations

import hashlib
import json

import pytest
import soundfile

from voice_guide import bundled

from .conftest import DATA

SHORT = DATA / "routines" / "short.yaml"
# What only `play` needs (and the speech engine, which runs in a worker process): an export loads none of it.
PLAY_ONLY = ("pyttsx3", "simpleaudio", "rich") + tuple(f"voice_guide.{name}" for name in (
    "clock", "display", "keys", "prefetch", "scheduler", "timing_log", "listening", "hearing", "microphone",
    "opening", "user_settings", "commands"))
# Loaded only to write the files of --split and --transcript.
PARTS_ONLY = ("voice_guide.split", "voice_guide.transcript")
# Loaded only to start a speech worker (subprocess) or to write a clip or a file for standard output (tempfile).
WORKERS_ONLY = ("subprocess", "tempfile")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_length_equals_check_json_to_the_sample(cli, tmp_path):
    checked = cli("check", "--json", SHORT)
    assert checked.status == 0, checked.stderr
    timeline = json.loads(checked.stdout)
    out = tmp_path / "short.wav"
    exported = cli("export", SHORT, "-o", out, "--quiet")
    assert exported.status == 0, exported.stderr
    info = soundfile.info(out)
    assert info.samplerate == timeline["sample_rate"] == 22050
    assert info.channels == 1
    assert info.frames == round(timeline["total_seconds"] * timeline["sample_rate"])


def test_check_json_has_the_promised_shape_and_covers_every_second(cli):
    result = cli("check", "--json", SHORT)
    timeline = json.loads(result.stdout)
    assert set(timeline) == {"title", "language", "total_seconds", "sample_rate", "events"}
    assert timeline["language"].startswith("en")
    assert timeline["title"] == "Short test routine"
    events = timeline["events"]
    assert events[0]["start"] == 0
    for before, after in zip(events, events[1:]):
        assert after["start"] == before["end"]
    assert events[-1]["end"] == timeline["total_seconds"]
    for event in events:
        assert set(event) == {"kind", "start", "end", "text", "step"}
        assert event["kind"] in {"speech", "chime", "silence"}
        assert (event["text"] is not None) == (event["kind"] == "speech")


def test_check_json_speaks_sides_rounds_cues_and_reminders_in_order(cli):
    events = json.loads(cli("check", "--json", SHORT).stdout)["events"]
    said = [e["text"] for e in events if e["kind"] == "speech"]
    assert said[0].startswith("Short test routine. This routine takes")
    assert said.index("Start with your left foot.") < said.index("Now your right foot.")
    assert said.count("Round one of two.") == 2 and said.count("Round two of two.") == 2
    assert said.count("Press gently.") == 4
    # 6s-12s: the lower bound is also halfway, so both are said as one line
    assert said.count("Halfway. You can stop here, or keep going for up to six seconds more.") == 4
    assert said[-2:] == ["That's the end of the routine.", "Stop if it hurts."]
    assert max(e["step"] or 0 for e in events) == 5


def test_the_same_routine_exports_to_the_same_bytes(cli, tmp_path):
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    assert cli("export", SHORT, "-o", first, "-q").status == 0
    assert cli("export", SHORT, "-o", second, "-q").status == 0
    assert sha256(first) == sha256(second)


def test_speech_in_the_export_is_where_the_timeline_says(cli, tmp_path):
    timeline = json.loads(cli("check", "--json", SHORT).stdout)
    out = tmp_path / "short.wav"
    assert cli("export", SHORT, "-o", out, "-q").status == 0
    samples, rate = soundfile.read(out, dtype="float32")
    for event in timeline["events"]:
        part = samples[round(event["start"] * rate): round(event["end"] * rate)]
        if event["kind"] == "silence":
            assert not part.any(), f"sound inside the quiet at {event['start']:.2f} s"
        else:
            assert abs(part).max() > 0.05, f"{event['kind']} at {event['start']:.2f} s is silent"


def test_export_refuses_to_overwrite_without_force(cli, tmp_path):
    out = tmp_path / "kept.wav"
    out.write_bytes(b"precious")
    refused = cli("export", SHORT, "-o", out, "-q", status=2)
    assert f"{out} exists; use --force to overwrite" in refused.stderr
    assert out.read_bytes() == b"precious"
    assert cli("export", SHORT, "-o", out, "-q", "--force").status == 0
    assert soundfile.info(out).frames > 0


@pytest.mark.parametrize("name", bundled.names())
def test_every_bundled_routine_checks_cleanly_and_ends_with_reminders(cli, name):
    result = cli("check", "--json", name)
    assert result.status == 0, result.stderr
    timeline = json.loads(result.stdout)
    said = [e["text"] for e in timeline["events"] if e["kind"] == "speech"]
    pain, ice = {"de": ("Schmerz", "Eis")}.get(timeline["language"], ("pain", "ice"))
    assert pain in said[-2] and ice in said[-1]
    assert 5 * 60 < timeline["total_seconds"] < 20 * 60
    assert "warning" not in result.stderr


@pytest.mark.parametrize("name", bundled.names())
def test_the_length_said_in_the_introduction_is_the_real_length_rounded(cli, name):
    from voice_guide.phrases import choose

    timeline = json.loads(cli("check", "--json", name).stdout)
    intro = timeline["events"][2]["text"]
    say = choose(timeline["language"]).phrases
    assert intro == say.introduction(timeline["title"], timeline["total_seconds"])


def test_check_prints_a_readable_timeline_with_steps_and_total(cli):
    result = cli("check", SHORT)
    assert result.status == 0
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{SHORT}: Short test routine — 1:")
    assert "  step 1" in result.stdout
    assert "»  Press gently." in result.stdout
    assert "♪  chime" in result.stdout


@pytest.mark.slow
def test_several_routines_export_into_a_folder_named_after_their_files(cli, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("title: Other\nsteps:\n  - say: Breathe out.\n    pause: 2s\n")
    folder = tmp_path / "out"
    folder.mkdir()
    result = cli("export", SHORT, other, "-o", f"{folder}/", "--format", "wav", "-q")
    assert result.status == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["other.wav", "short.wav"]
    for routine, name in ((SHORT, "short.wav"), (other, "other.wav")):
        total = json.loads(cli("check", "--json", routine).stdout)["total_seconds"]
        assert soundfile.info(folder / name).frames == round(total * 22050)


def test_a_folder_of_routines_exports_into_a_new_folder_made_for_it(cli, tmp_path):
    routines = tmp_path / "routines"
    routines.mkdir()
    (routines / "one.yaml").write_text("title: One\nsteps:\n  - say: Breathe in.\n")
    (routines / "two.yml").write_text("title: Two\nsteps:\n  - say: Breathe out.\n")
    (routines / "readme.txt").write_text("not a routine")
    result = cli("export", routines, "-o", f"{tmp_path / 'new'}/", "--format", "wav", "-q")
    assert result.status == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["one.wav", "two.wav"]


def test_one_routine_into_a_new_folder_written_with_a_slash_is_named_after_the_routine(cli, tmp_path):
    result = cli("export", SHORT, "-o", f"{tmp_path / 'made'}/", "--format", "wav", "-q")
    assert result.status == 0, result.stderr
    assert [p.name for p in (tmp_path / "made").iterdir()] == ["short.wav"]


def test_one_routine_into_a_folder_may_have_a_transcript_too(cli, tmp_path):
    result = cli("export", SHORT, "-o", f"{tmp_path / 'made'}/", "--format", "wav", "--transcript",
                 tmp_path / "short.vtt", "-q")
    assert result.status == 0, result.stderr
    assert [p.name for p in (tmp_path / "made").iterdir()] == ["short.wav"]
    assert (tmp_path / "short.vtt").read_text().startswith("WEBVTT")


def test_several_routines_with_a_file_name_are_told_to_give_a_folder(cli, tmp_path):
    result = cli("export", SHORT, "arch", "-o", tmp_path / "both.mp3", "-q", status=2)
    assert result.status == 2
    assert result.stderr == (f"voice-guide: 2 routines make 2 files: give a folder with a trailing slash, like -o "
                             f"{tmp_path / 'both'}/, not the file name {tmp_path / 'both.mp3'}\n")
    assert list(tmp_path.iterdir()) == []


def test_two_routines_that_would_make_the_same_file_are_named(cli, tmp_path):
    (tmp_path / "a").mkdir()
    twin = tmp_path / "a" / "short.yaml"
    twin.write_text(SHORT.read_text())
    out = tmp_path / "out"
    result = cli("export", SHORT, twin, "-o", f"{out}/", "-q", status=2)
    assert result.stderr == (f"voice-guide: {SHORT} and {twin} would both be written to {out / 'short.mp3'}; export "
                             "them into different folders, or rename one\n")
    result = cli("export", SHORT, SHORT, "-o", f"{out}/", "-q", status=2)
    assert result.stderr == f"voice-guide: {SHORT} is given twice; give each routine once\n"
    assert not out.exists()


def test_several_routines_refuse_an_existing_file_before_any_work(cli, tmp_path):
    (tmp_path / "short.wav").write_bytes(b"mine")
    result = cli("export", SHORT, "arch", "-o", f"{tmp_path}/", "--format", "wav", "-q", status=2)
    assert result.status == 2
    assert f"{tmp_path / 'short.wav'} exists; use --force to overwrite" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.wav"]
    assert (tmp_path / "short.wav").read_bytes() == b"mine"


def test_a_format_that_contradicts_the_extension_is_refused(cli, tmp_path):
    result = cli("export", SHORT, "-o", tmp_path / "y.mp3", "--format", "wav", "-q", status=2)
    assert result.status == 2
    assert "y.mp3 ends in .mp3 but --format is wav" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_split_writes_one_file_per_step_that_together_make_the_whole(cli, tmp_path):
    result = cli("export", SHORT, "--split", tmp_path / "parts", "--format", "wav", "-q")
    assert result.status == 0, result.stderr
    parts = sorted((tmp_path / "parts").glob("*.wav"))
    playlist = (tmp_path / "parts" / "Short test routine.m3u").read_text().splitlines()
    assert [line for line in playlist if line.endswith(".wav")] == [p.name for p in parts]
    assert len(parts) == 7  # introduction, five steps, closing
    total = json.loads(cli("check", "--json", SHORT).stdout)["total_seconds"]
    assert sum(soundfile.info(p).frames for p in parts) == round(total * 22050)


def test_volume_is_the_players_level_and_leaves_the_export_at_its_loudness_and_zero_is_refused(cli, tmp_path):
    written = {}
    for volume in ("1", "0.5", "0.8"):
        out = tmp_path / f"v{volume}.wav"
        assert cli("export", SHORT, "-o", out, "-q", "--volume", volume).status == 0
        written[volume] = out.read_bytes()
    assert written["0.5"] == written["1"] == written["0.8"]
    assert cli("export", SHORT, "-o", tmp_path / "v0.wav", "-q", "--volume", "0", status=2).status == 2  # silence
    assert not (tmp_path / "v0.wav").exists()


def test_a_german_routine_is_read_by_a_german_voice_with_german_phrases(cli):
    result = cli("check", "--json", DATA / "languages" / "de.yaml")
    assert result.status == 0, result.stderr
    assert "warning" not in result.stderr
    timeline = json.loads(result.stdout)
    assert timeline["language"] == "de"
    said = [e["text"] for e in timeline["events"] if e["kind"] == "speech"]
    assert said[0].startswith("Fußmassage. Diese Übung dauert etwa ")
    assert said[-3] == "Die Übung ist zu Ende."


def test_a_language_without_phrases_is_read_in_english_with_one_warning(cli, tmp_path):
    routine = tmp_path / "pl.yaml"
    routine.write_text("title: Masaż\nlanguage: pl\nsteps:\n  - say: Usiądź wygodnie.\n    hold: 40s\n"
                       "    cues: {every: 20s}\n", encoding="utf-8")
    result = cli("check", "--json", routine)
    assert result.status == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "language 'pl' has no catalogue" in warnings[0]
    assert "de, en, es, fr, it, nl, pt" in warnings[0]
    timeline = json.loads(result.stdout)
    assert timeline["language"] == "en"
    assert "Twenty seconds left." in [e["text"] for e in timeline["events"]]


def test_a_routine_with_its_own_volume_exports_at_the_same_loudness(cli, tmp_path):
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text(SHORT.read_text().replace("  rate: 190", "  rate: 190\n  volume: 0.8"))
    assert "volume: 0.8" in quiet.read_text()
    for name in ("short", "quiet"):
        assert cli("export", SHORT if name == "short" else quiet, "-o", tmp_path / f"{name}.wav", "-q").status == 0
    assert (tmp_path / "quiet.wav").read_bytes() == (tmp_path / "short.wav").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_a_warm_export_to_wav_or_mp3_imports_no_numpy_nor_the_player_and_writes_the_cold_exports_bytes(tmp_path, suffix):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from voice_guide import _speech_process\n"
        "started = []\n"
        "class Counted(_speech_process.WorkerProcess):\n"
        "    def __init__(self, *args, **kwargs):\n"
        "        started.append(args)\n"
        "        super().__init__(*args, **kwargs)\n"
        "_speech_process.WorkerProcess = Counted\n"
        "from voice_guide.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "print('numpy' in sys.modules)\n"
        f"print(sorted(m for m in {PLAY_ONLY + PARTS_ONLY!r} if m in sys.modules))\n"
        "print(len(started))\n"
        f"print(sorted(m for m in {WORKERS_ONLY!r} if m in sys.modules))\n"
        "sys.exit(status)\n"
    )
    env = {**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = []
    for name in ("cold", "warm"):
        out = tmp_path / f"{name}{suffix}"
        done = subprocess.run([sys.executable, "-c", code, "export", str(SHORT), "-o", str(out), "--quiet"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        numpy, play_only, workers, workers_only = done.stdout.splitlines()
        runs.append((numpy, play_only, int(workers), workers_only, sha256(out)))
    cold, warm = runs
    (cold_numpy, cold_play_only, cold_workers, cold_workers_only, cold_bytes) = cold
    (warm_numpy, warm_play_only, warm_workers, warm_workers_only, warm_bytes) = warm
    assert (cold_numpy, warm_numpy) == ("True", "False")
    # What only starting a worker or writing a clip needs is not loaded when neither happens.
    assert cold_workers_only == repr(list(WORKERS_ONLY)) and warm_workers_only == "[]"
    # Nothing of the player (screen, keys, scheduler, microphone) nor of --split is loaded by an export, and a warm
    # one starts no speech engine: pyttsx3 is imported only in a speech worker, and no worker is started.
    assert cold_play_only == warm_play_only == "[]"
    assert cold_workers > 0 and warm_workers == 0
    assert warm_bytes == cold_bytes


def _cold_then_warm_through_launch(code: str, tmp_path) -> list[str]:
    """`code` (which ends by running launch.main) exporting the short routine twice, to cold.wav on a new cache, then
    to warm.wav: what it printed each time."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    printed = []
    for name in ("cold", "warm"):
        done = subprocess.run([sys.executable, "-c", code, "export", str(SHORT), "-o", str(tmp_path / f"{name}.wav"),
                               "--quiet"], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        printed.append(done.stdout)
    return printed


def test_a_cold_export_from_the_command_starts_its_first_speech_worker_before_the_pipeline_and_a_warm_one_none(tmp_path):
    code = (
        "import subprocess, sys\n"
        "started = []\n"
        "class Counted(subprocess.Popen):\n"
        "    def __init__(self, args, *rest, **kwargs):\n"
        "        started.append((list(args), 'voice_guide.cli' in sys.modules))\n"
        "        super().__init__(args, *rest, **kwargs)\n"
        "subprocess.Popen = Counted\n"
        "sys.argv = ['voice-guide', *sys.argv[1:]]\n"
        "from voice_guide.launch import main\n"
        "status = main()\n"
        "import json; print(json.dumps([[args[-1], cli] for args, cli in started if any('_speech_worker' in a for a in args)]))\n"
        "sys.exit(status)\n"
    )
    seen = [json.loads(out) for out in _cold_then_warm_through_launch(code, tmp_path)]
    # Cold: the first worker is started before cli (the pipeline) is imported, and lists the voices at once; it is
    # the one the synthesizer uses (any others are spares for more CPUs: started later, as before). Warm: none.
    cold, warm = seen
    assert cold[0] == ["--voices-ahead", False]
    assert all(args_end.endswith("_speech_worker.py") and cli for args_end, cli in cold[1:])
    assert warm == []
    assert (tmp_path / "cold.wav").read_bytes() == (tmp_path / "warm.wav").read_bytes()


def test_a_cold_export_imports_numpy_while_its_voice_is_resolved_and_a_warm_one_not_at_all(tmp_path):
    # What is loading when the engine is asked for the voice (on a cold cache it waits for the early worker).
    code = (
        "import sys, threading\n"
        "from voice_guide import _espeak_engine\n"
        "seen = []\n"
        "resolve = _espeak_engine.EspeakEngine.resolve\n"
        "def watched(self, *args):\n"
        "    seen.append(sorted(t.name for t in threading.enumerate() if t.name.startswith('import-')))\n"
        "    return resolve(self, *args)\n"
        "_espeak_engine.EspeakEngine.resolve = watched\n"
        "sys.argv = ['voice-guide', *sys.argv[1:]]\n"
        "from voice_guide.launch import main\n"
        "status = main()\n"
        "print(seen, 'numpy' in sys.modules)\n"
        "sys.exit(status)\n"
    )
    seen = [out.strip() for out in _cold_then_warm_through_launch(code, tmp_path)]
    assert seen == ["[['import-numpy']] True", "[[]] False"]
    assert (tmp_path / "cold.wav").read_bytes() == (tmp_path / "warm.wav").read_bytes()


def test_a_module_imported_meanwhile_is_there_when_waited_for_and_its_failure_raised_in_the_waiting_thread(
        tmp_path, monkeypatch):
    import sys

    from voice_guide.api import _imported_meanwhile

    (tmp_path / "vg_meanwhile_good.py").write_text("VALUE = 42\n")
    (tmp_path / "vg_meanwhile_bad.py").write_text("raise MemoryError('no room for this module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _imported_meanwhile("vg_meanwhile_good")()
    assert sys.modules["vg_meanwhile_good"].VALUE == 42
    wait = _imported_meanwhile("vg_meanwhile_bad")
    with pytest.raises(MemoryError, match="no room for this module"):
        wait()
    assert "vg_meanwhile_bad" not in sys.modules


def test_the_command_keeps_what_it_imported_out_of_garbage_collection_and_still_collects_the_rest():
    """launch.main freezes the pipeline's objects once imported (gc.freeze): no later collection walks them, the
    one at exit included (a sixth of a warm export's CPU); collection itself stays on for what a run makes."""
    import subprocess
    import sys

    code = (
        "import atexit, gc, sys\n"
        "def report():\n"
        "    print('voice_guide.cli' in sys.modules, gc.isenabled(), gc.get_freeze_count(), file=sys.stderr)\n"
        "atexit.register(report)\n"
        "sys.argv = ['voice-guide', 'list']\n"
        "from voice_guide.launch import main\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    imported, enabled, frozen = done.stderr.split()
    assert (imported, enabled) == ("True", "True") and int(frozen) > 10_000


def test_an_export_ends_the_process_after_the_exit_functions_without_the_interpreters_teardown(tmp_path):
    import os
    import subprocess
    import sys

    # Exit functions run last-registered first, and launch registers its end on import: one registered after it
    # runs, then the process ends at once; the interpreter would have run one registered before it next.
    code = (
        "import atexit, os, sys\n"
        "atexit.register(os.write, 1, b'torn down as usual\\n')\n"
        "from voice_guide.launch import end, main\n"
        "atexit.register(os.write, 1, b'exit functions ran\\n')\n"
        "sys.argv = ['voice-guide', *sys.argv[1:]]\n"
        "end(main())\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def command(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=env, timeout=300)

    exported = command("export", str(SHORT), "-o", str(tmp_path / "short.wav"), "--quiet")
    streamed = command("export", str(SHORT), "-o", "-", "--format", "wav", "--quiet")
    refused = command("export", str(SHORT), "-o", str(tmp_path / "short.wav"))  # exists: not without --force
    checked = command("check", str(SHORT))
    assert (exported.returncode, exported.stdout) == (0, b"exit functions ran\n"), exported.stderr
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # the cache's own exit function ran too
    # What the export wrote to standard output is all there, flushed before the end.
    assert streamed.returncode == 0 and streamed.stdout == (tmp_path / "short.wav").read_bytes() + b"exit functions ran\n"
    assert refused.returncode == 2 and refused.stdout == b"exit functions ran\n"
    assert refused.stderr.decode().startswith("voice-guide: ") and "--force" in refused.stderr.decode()
    # Any other command leaves as usual.
    assert checked.returncode == 0 and checked.stdout.endswith(b"exit functions ran\ntorn down as usual\n")
