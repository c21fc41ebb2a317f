"""The command line: options, misuse, exit codes, plain one-line errors."""

from __future__ import annotations

import json
import sys

import pytest

from voice_guide import bundled, cli

from .conftest import DATA

SHORT = DATA / "routines" / "short.yaml"


def test_list_shows_every_bundled_routine_with_title_and_length(cli):
    result = cli("list")
    assert result.status == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == bundled.names()
    assert any("Arch self-massage" in line and "minutes" in line for line in lines)


def test_list_and_check_show_what_a_routine_is_about(cli, tmp_path):
    assert "Slow, gentle thumb pressure along the inside of the arch" in cli("list").stdout
    routine = tmp_path / "about.yaml"
    routine.write_text("title: About\nabout: A short note for the reader.\nsteps:\n  - say: Press.\n")
    header = cli("check", routine).stdout.splitlines()[:2]
    assert header[0].startswith(f"{routine}: About — 0:") and " in all, 1 step, in English (" in header[0]
    assert header[1] == "  A short note for the reader."


def test_schema_prints_the_json_schema(cli):
    result = cli("schema")
    assert result.status == 0
    schema = json.loads(result.stdout)
    assert "title" in schema["properties"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["check", "--bogus"], "unrecognized arguments: --bogus"),
        (["export", str(SHORT)], "export needs -o FILE (or -o FOLDER for several routines), or --split DIR"),
        (["play", "--rate", "fast"], "'fast' is not a whole number of words per minute"),
        (["play", "--rate", "1000"], "1000 is outside 80-400 words per minute"),
        (["export", str(SHORT), "-o", "x.wav", "--volume", "2"], "2.0 is outside 0.0-1.0"),
        (["export", str(SHORT), "-o", "x.wav", "--volume", "0"], "argument --volume: 0 is silence; give a volume "
         "above 0, up to 1.0 (full volume)"),
        (["play", "--volume", "0.0"], "0 is silence"),
        (["export", str(SHORT), "-o", "x.wav", "--loudness", "loud"], "argument --loudness: 'loud' is not a "
         "loudness: a number of LUFS, like -20"),
        (["export", str(SHORT), "-o", "x.wav", "--loudness", "-19dB"], "argument --loudness: '-19dB' is not a "
         "loudness: a number of LUFS, like -20"),  # not "expected one argument": it begins with '-'
        (["play", "--start-at", "0"], "'0' must be 1 or more"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_misuse_is_one_plain_line_and_exit_2(cli, args, message):
    result = cli(*args, status=2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_missing_routine_names_the_file_and_the_bundled_ones(cli):
    result = cli("check", "nowhere.yaml", status=2)
    assert "nowhere.yaml" in result.stderr
    result = cli("check", "nosuchroutine", status=2)
    assert "bundled: " + ", ".join(bundled.names()) in result.stderr


def test_a_directory_given_as_a_routine_is_bad_input(cli, tmp_path):
    result = cli("check", tmp_path, status=2)
    assert str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_routine_gives_file_line_column_and_exit_2(cli, tmp_path):
    routine = tmp_path / "broken.yaml"
    routine.write_text("title: Broken\nsteps:\n  - say: Press.\n    puase: 3s\n")
    result = cli("check", routine, status=2)
    assert f"{routine}:4:5: unknown key 'puase' (did you mean 'pause'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_to_a_missing_folder_or_unknown_extension_is_bad_input(cli, tmp_path):
    missing = cli("export", SHORT, "-o", tmp_path / "no" / "such" / "dir" / "x.wav", "-q", status=2)
    assert "no" in missing.stderr and "Traceback" not in missing.stderr
    unknown = cli("export", SHORT, "-o", tmp_path / "x.aiff", "-q", status=2)
    assert ".aiff" in unknown.stderr
    assert not list(tmp_path.iterdir())


def test_debug_shows_a_traceback(cli):
    result = cli("--debug", "check", "nowhere.yaml", status=2)
    assert "Traceback" in result.stderr


# ---- check of several routines ----


def _routines(folder, **texts):
    paths = {}
    for name, text in texts.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


GOOD_TEXT = "title: Good\nsteps:\n  - say: Press.\n"


def test_check_of_several_files_checks_every_one_prints_each_result_and_exits_2(cli, tmp_path):
    paths = _routines(tmp_path, a=GOOD_TEXT, bad1='title: B\nsteps:\n  - say: "..."\n',
                      bad2="title: C\nsteps:\n  - say: Sit.\n    puase: 2\n", z=GOOD_TEXT)
    result = cli("check", paths["a"], paths["bad1"], paths["bad2"], paths["z"], status=2)
    assert result.status == 2
    assert f"{paths['a']}: Good" in result.stdout and f"{paths['z']}: Good" in result.stdout
    assert f"{paths['bad1']}:3:10: 'say' has nothing to pronounce" in result.stderr
    assert f"{paths['bad2']}:4:5: unknown key 'puase'" in result.stderr
    assert result.stderr.splitlines()[-1] == f"voice-guide: 2 of 4 routines have problems: {paths['bad1']}, {paths['bad2']}"
    result = cli("check", paths["a"], paths["bad1"], status=2)
    assert result.stderr.splitlines()[-1] == f"voice-guide: 1 of 2 routines has problems: {paths['bad1']}"


def test_check_of_a_good_file_and_a_folder_without_routines_checks_the_file_and_counts_the_folder(cli, tmp_path):
    paths = _routines(tmp_path, a=GOOD_TEXT)
    (tmp_path / "empty").mkdir()
    result = cli("check", paths["a"], tmp_path / "empty", status=2)
    assert f"{paths['a']}: Good" in result.stdout
    assert f"{tmp_path / 'empty'}: the folder holds no routine files (.yaml, .yml)" in result.stderr
    assert result.stderr.splitlines()[-1] == f"voice-guide: 1 of 2 routines has problems: {tmp_path / 'empty'}"


def test_check_json_of_several_files_is_one_list_with_each_file_its_warnings_or_problems(cli, tmp_path):
    paths = _routines(tmp_path, a="title: A\nsteps:\n  - say: Press #3.\n", bad='title: B\nsteps:\n  - say: "-"\n')
    result = cli("check", "--json", paths["a"], paths["bad"], status=2)
    assert result.status == 2
    first, second = json.loads(result.stdout)
    assert (first["file"], first["ok"], first["title"]) == (str(paths["a"]), True, "A")
    assert first["events"] and first["warnings"][0].startswith(f"{paths['a']}:3:16: only 'Press' is said")
    assert second == {"file": str(paths["bad"]), "ok": False,
                      "problems": [f"{paths['bad']}:3:10: 'say' has nothing to pronounce: '-' holds no letters or "
                                   "digits; write the words to say"]}


def test_check_json_of_one_file_keeps_its_shape(cli):
    shape = set(json.loads(cli("check", "--json", SHORT).stdout))
    assert shape == {"title", "language", "total_seconds", "sample_rate", "events"}


def test_check_of_a_folder_checks_every_routine_file_in_it(cli, tmp_path):
    _routines(tmp_path, b=GOOD_TEXT, a=GOOD_TEXT)
    (tmp_path / "notes.txt").write_text("not a routine")
    result = cli("check", "--json", tmp_path)
    assert result.status == 0, result.stderr
    assert [entry["file"] for entry in json.loads(result.stdout)] == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]


def test_a_file_named_like_a_bundled_routine_does_not_shadow_it_without_a_word(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "arch").write_text(GOOD_TEXT)
    result = cli("check", "--json", "arch")
    assert result.status == 0
    assert json.loads(result.stdout)["title"] == "Arch self-massage"
    assert ("warning: 'arch' is the bundled routine; the file 'arch' in this folder is not used (to use it, "
            "write ./arch)") in result.stderr
    assert json.loads(cli("check", "--json", "./arch").stdout)["title"] == "Good"


# ---- the process's standard streams ----


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_a_closed_pipe_ends_check_quietly(cache_root, reader):
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(cache_root)}
    # `true` exits before reading anything, so the pipe is surely closed when check writes.
    done = subprocess.run(f"{sys.executable} -m voice_guide check arch | {reader}; echo ${{PIPESTATUS[0]}} >&2",
                          shell=True, capture_output=True, text=True, env=env, timeout=120, executable="/bin/bash")
    if reader == "head -1":
        assert "arch.yaml: Arch self-massage" in done.stdout
    *messages, status = done.stderr.splitlines()
    assert messages == []
    assert int(status) in ((0, 141) if reader == "head -1" else (141,))  # 141: as a tool ended by SIGPIPE


@pytest.mark.slow
def test_check_with_stdout_closed_fails_instead_of_losing_its_output(run_process):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "voice_guide", "check", "arch"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120, close_fds=True,
                          preexec_fn=lambda: __import__("os").close(1))
    assert done.returncode == 1
    assert done.stderr.strip() == ("voice-guide: standard output is closed, so check has nowhere to print; give it a "
                                   "file or a pipe (`> out.txt`)")


@pytest.mark.slow
def test_with_stderr_closed_warnings_stay_out_of_check_json(tmp_path, cache_root):
    import os
    import subprocess
    import sys

    routine = tmp_path / "warned.yaml"
    routine.write_text("title: A\nsteps:\n  - say: Press #3.\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_root)}
    done = subprocess.run([sys.executable, "-m", "voice_guide", "check", "--json", str(routine)], capture_output=True,
                          text=True, timeout=120, env=env, preexec_fn=lambda: os.close(2))
    assert done.returncode == 0
    assert json.loads(done.stdout)["title"] == "A"


@pytest.mark.slow
def test_a_full_disk_under_stdout_is_an_error_not_a_success(run_process):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "voice_guide", "check", "arch"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "voice-guide: cannot write the output: No space left on device"


@pytest.mark.slow
def test_a_terminal_that_cannot_show_every_character_degrades_instead_of_crashing(cache_root):
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(cache_root), "PYTHONIOENCODING": "iso-8859-1"}
    done = subprocess.run([sys.executable, "-m", "voice_guide", "check", "arch"], capture_output=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    shown = done.stdout.decode("iso-8859-1")
    assert "Arch self-massage ? 8:" in shown and "?  chime" in shown  # '—' and '♪' are not in ISO-8859-1


def test_file_names_with_control_characters_are_escaped_in_messages(cli, tmp_path):
    hostile = tmp_path / "evil\x1b]0;PWNED\x07.yaml"
    hostile.write_text('title: B\nsteps:\n  - say: "..."\n')
    result = cli("check", hostile, status=2)
    assert result.status == 2
    assert "\x1b" not in result.stderr and "\\x1b]0;PWNED\\x07.yaml:3:10: 'say' has nothing" in result.stderr


def test_the_progress_bar_shows_a_file_name_as_text_not_as_markup_or_control_codes():
    import io

    from voice_guide.cli import _progress_bar
    from voice_guide.env import Environment

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    env = Environment(stderr=Terminal())
    update, finish = _progress_bar(env, quiet=False, label="Exporting [/x]\x1b[2J.mp3")
    update(5, 10)
    finish()
    shown = env.stderr.getvalue()
    assert "[/x]" in shown and "\\x1b[2J.mp3" in shown and "\x1b[2J" not in shown


def test_a_loudness_may_be_written_with_its_unit(cli, tmp_path):
    result = cli("export", SHORT, "-o", tmp_path / "x.wav", "-q", "--loudness", "-16LUFS", status=2)
    assert "loudness -16 LUFS is out of range" in result.stderr  # read as the number it is


@pytest.mark.parametrize("bad", ["-16.9", "-31"])
def test_loudness_targets_outside_what_speech_can_honour_are_refused_with_the_range(cli, tmp_path, bad):
    result = cli("export", SHORT, "-o", tmp_path / "x.wav", "-q", f"--loudness={bad}", status=2)
    assert "LUFS is out of range; choose from -30 to -17 LUFS (default -19)" in result.stderr
    assert not list(tmp_path.iterdir())


def test_a_failure_to_load_termios_does_not_hide_the_error_being_reported(monkeypatch):
    """Under a memory limit, termios's library may fail to map while an error is being classified: the error is
    then judged without it (a hang-up's EIO still is one), rather than raising from the handler itself."""
    import errno

    monkeypatch.setitem(sys.modules, "termios", None)  # `import termios` now raises ImportError
    assert cli._terminal_gone(OSError(errno.EIO, "Input/output error"))
    assert not cli._terminal_gone(ImportError("libtermios.so: failed to map segment from shared object"))
    assert not cli._terminal_gone(ValueError("not a terminal's"))
