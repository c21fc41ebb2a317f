"""The command line: options, misuse, exit codes, plain one-line errors."""

from __future__ import annotations

import json

import pytest

from voice_guide import bundled

from .conftest import DATA

SHORT = DATA / "routines" / "short.yaml"


def test_list_shows_every_bundled_routine_with_title_and_length(cli):
    result = cli("list")
    assert result.status == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == bundled.names()
    assert any("Arch self-massage" in line and "minutes" in line for line in lines)


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


def test_check_does_not_import_the_audio_stack_or_the_engine(cache_root):
    import os
    import subprocess
    import sys

    code = (
        "import sys; from voice_guide.cli import main; status = main(['check', '--json', %r]); "
        "heavy = sorted(m for m in ('simpleaudio', 'pyttsx3', 'rich', 'mutagen') if m in sys.modules); "
        "print(heavy, file=sys.stderr); sys.exit(status)" % str(SHORT)
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
