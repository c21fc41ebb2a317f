"""`check` of unchanged input prints its earlier result without compiling again (checkmemo, launch), and never
a result that anything it depends on has since changed."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voice_guide import checkmemo

ROUTINE = "title: Memo\nsteps:\n  - say: Rest your foot.\n    hold: 20s\n"
PIPELINE = "voice_guide.compiler"  # imported by any check that really runs


@pytest.fixture
def check(tmp_path):
    """Run `python -X importtime -m voice_guide check ARGS` in tmp_path, with a cache of its own; returns (status,
    stdout, stderr without import times, whether the pipeline was imported)."""
    cache = tmp_path / "cache"

    def run(*args: str, env: dict | None = None, merged: bool = False):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "voice_guide", "check", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE, text=True,
            env={**os.environ, "XDG_CACHE_HOME": str(cache), **(env or {})}, cwd=tmp_path, timeout=300,
        )
        lines = (done.stdout if merged else done.stderr).splitlines(keepends=True)
        imported = any(PIPELINE in line for line in lines if line.startswith("import time:"))
        rest = "".join(line for line in lines if not line.startswith("import time:"))
        return done.returncode, ("" if merged else done.stdout), rest, imported

    return run


def test_an_unchanged_routine_is_printed_again_without_compiling(check, tmp_path):
    (tmp_path / "r.yaml").write_text(ROUTINE)
    first = check("r.yaml")
    assert first[0] == 0 and "Rest your foot." in first[1] and first[3]
    again = check("r.yaml")
    assert again[:3] == first[:3]
    assert not again[3], "the second check compiled again"


def test_a_changed_routine_is_checked_again(check, tmp_path):
    routine = tmp_path / "r.yaml"
    routine.write_text(ROUTINE)
    check("r.yaml")
    routine.write_text(ROUTINE.replace("Rest your foot.", "Point your toes."))
    status, out, _, imported = check("r.yaml")
    assert imported and "Point your toes." in out and "Rest your foot." not in out


def test_a_bad_routine_keeps_its_error_and_its_fix_is_seen(check, tmp_path):
    routine = tmp_path / "r.yaml"
    routine.write_text(ROUTINE.replace("hold: 20s", "hold: soon"))
    first = check("r.yaml")
    assert first[0] == 2 and "r.yaml:4:" in first[2]
    again = check("r.yaml")
    assert again[:3] == first[:3] and not again[3]
    routine.write_text(ROUTINE)
    assert check("r.yaml")[0] == 0


def test_streams_are_replayed_in_their_order(check, tmp_path):
    (tmp_path / "r.yaml").write_text(ROUTINE.replace("Rest your foot.", "Press point #3 here."))
    first = check("--json", "r.yaml", merged=True)
    again = check("--json", "r.yaml", merged=True)
    assert "warning" in first[2] and again[2] == first[2] and not again[3]
    assert first[2].index("warning") < first[2].index("{")  # the warning came first, and still does


def test_options_environment_and_folders_are_part_of_the_result(check, tmp_path):
    folder = tmp_path / "routines"
    folder.mkdir()
    (folder / "a.yaml").write_text(ROUTINE)
    check("routines")
    (folder / "b.yaml").write_text(ROUTINE.replace("Memo", "Second"))
    status, _, err, imported = check("routines")
    assert imported and "all 2 routines are good" in err
    assert check("--rate", "200", "routines")[3], "another option is another result"
    assert check("routines", env={"VOICE_GUIDE_SPEECH_TIMEOUT": "77"})[3], "another environment too"


def test_a_file_named_like_a_bundled_routine_is_noticed(check, tmp_path):
    check("arch")
    (tmp_path / "arch").write_text(ROUTINE)
    _, out, err, imported = check("arch")
    assert imported and "is the bundled routine" in out + err


def test_a_damaged_or_planted_entry_is_not_believed(check, tmp_path):
    (tmp_path / "r.yaml").write_text(ROUTINE)
    first = check("r.yaml")
    [entry] = (tmp_path / "cache" / "voice-guide" / "checks").glob("*" + checkmemo.SUFFIX)
    start = len(checkmemo._MAGIC) + 32
    data = marshal.loads(entry.read_bytes()[start:])
    data["output"] = [[1, "all good, trust me\n"]]
    data["reads"] = []  # a forged entry that claims to depend on nothing, its checksum left as it was
    entry.write_bytes(entry.read_bytes()[:start] + marshal.dumps(data))
    again = check("r.yaml")
    assert again[3] and again[:3] == first[:3]
    entry.write_bytes(entry.read_bytes()[:-5])  # made again by that run, now cut short
    assert check("r.yaml")[3]
    entry.unlink()
    entry.symlink_to(tmp_path / "r.yaml")
    assert check("r.yaml")[3]


def test_the_key_follows_the_code_and_the_espeak_data(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "compiler.py").write_text("x = 1\n")
    monkeypatch.setattr(checkmemo, "_PACKAGE", package)
    before = checkmemo.key(["check", "r.yaml"])
    os.utime(package / "compiler.py", ns=(1, 1))
    assert checkmemo.key(["check", "r.yaml"]) != before
    data = tmp_path / "espeak-ng-data" / "phontab"
    data.parent.mkdir()
    data.write_bytes(b"1")
    recorder = checkmemo.Recorder(["check", "r.yaml"])
    recorder.data_files((str(tmp_path / "*" / "phontab"),))
    read = recorder._reads[-1]
    assert checkmemo.unchanged(read)
    data.write_bytes(b"22")  # an upgrade of espeak-ng's voices
    assert not checkmemo.unchanged(read)


def test_nothing_is_kept_from_a_fifo(check, tmp_path):
    fifo = tmp_path / "r.yaml"
    os.mkfifo(fifo)
    recorder = checkmemo.Recorder(["check", str(fifo)])
    recorder.file(fifo)
    recorder.save(0, tmp_path / "cache")
    assert not (tmp_path / "cache" / "checks").exists()


def test_a_reprinted_check_imports_only_what_it_needs(tmp_path):
    """The installed command (scripts/voice-guide) reprints a kept check without re, pathlib, hashlib or json,
    and with its output byte for byte and its exit status."""
    command = Path(sys.executable).with_name("voice-guide")
    (tmp_path / "r.yaml").write_text(ROUTINE.replace("hold: 20s", "hold: soon"))
    probe = ("import sys; sys.argv = sys.argv[1:]; code = compile(open(sys.argv[0]).read(), sys.argv[0], 'exec')\n"
             "try: exec(code, {'__name__': '__main__'})\nfinally: sys.stderr.write('\\n' + ' '.join(sorted(sys.modules)))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", probe, str(command), "check", "r.yaml"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=300) for _ in range(2)]
    first, again = ((run.returncode, run.stdout, run.stderr.rsplit("\n", 1)) for run in runs)
    assert again[0] == first[0] == 2 and again[1] == first[1] and again[2][0] == first[2][0]
    modules = set(again[2][1].split())
    assert PIPELINE in first[2][1].split() and "voice_guide.checkmemo" in modules
    assert not modules & {"re", "pathlib", "hashlib", "_hashlib", "json", "glob", "typing", PIPELINE}


def test_matches_finds_what_glob_finds(tmp_path):
    import glob

    for folder in ("a/data", "b/data", ".c/data", "d", "e-f/data"):
        (tmp_path / folder).mkdir(parents=True)
    for file in ("a/data/phontab", ".c/data/phontab", "e-f/data/phontab", "d/phontab"):
        (tmp_path / file).write_bytes(b"1")
    (tmp_path / "g").symlink_to(tmp_path / "a")
    for pattern in ("*/data/phontab", "*/phontab", "*/*", "a/data/phontab", "x/*/phontab"):
        full = str(tmp_path / pattern)
        assert checkmemo.matches(full) == sorted(glob.glob(full)), pattern
    with pytest.raises(ValueError):
        checkmemo.matches(str(tmp_path / "a?"))
