"""The caches as a shared or hostile place: private folders whatever the umask, another user's folder never used,
entries that say what they hold, hostile entries (links to /dev/zero, FIFOs, swapped files) caught and replaced,
a bounded size with the least recently used entries evicted, and where the cache goes when HOME is odd."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voice_guide import cachefiles
from voice_guide.cachefiles import default_root as _default_cache_dir

from .conftest import ROOT, SHORT, voice_guide
from .test_faults import assert_cache_sound


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- private folders --------------------------------------------------------------------------------------


def test_cache_folders_are_private_whatever_the_umask(tmp_path):
    cache = tmp_path / "xdg"
    done = subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", sys.executable, "-m", "voice_guide", "export", SHORT,
         "-o", tmp_path / "short.wav", "-q"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "XDG_CACHE_HOME": str(cache)}, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for folder in (cache, cache / "voice-guide", cache / "voice-guide" / "speech", cache / "voice-guide" / "mixed"):
        assert mode(folder) == 0o700, f"{folder} is {oct(mode(folder))}"
    for entry in (cache / "voice-guide").rglob("*"):
        assert entry.is_dir() or mode(entry) & 0o077 == 0, f"{entry} is {oct(mode(entry))}"


def test_a_cache_folder_of_ours_left_open_to_others_is_closed_again(clean, warm_cache, tmp_path):
    speech = warm_cache / "voice-guide" / "speech"
    os.chmod(speech, 0o777)
    result = voice_guide("export", SHORT, "-o", tmp_path / "short.wav", "-q", cache=warm_cache)
    assert result.status == 0, result.stderr
    assert mode(speech) == 0o700


@pytest.fixture
def other_user():
    """A second local user (uid, gid), made for the test and removed after it; needs root."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create a second local user")
    name = f"vgtest{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    try:
        import pwd

        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def test_a_cache_folder_another_user_prepared_is_never_used_nor_their_files_touched(other_user, tmp_path):
    uid, gid = other_user
    shared = tmp_path / "shared"  # an XDG_CACHE_HOME everybody can write to, e.g. on a shared machine
    speech = shared / "voice-guide" / "speech"
    speech.mkdir(parents=True)
    theirs = tmp_path / "their-file"
    theirs.write_text("theirs")
    # They plant links at every name they can guess, pointing at their own file.
    for name in ("voice-0.json", ".probe.x", "0" * 64 + ".wav"):
        (speech / name).symlink_to(theirs)
    for path in (shared, shared / "voice-guide", speech, *speech.iterdir()):
        os.lchown(path, uid, gid)
    os.chmod(shared, 0o1777)
    for folder in (shared / "voice-guide", speech):
        os.chmod(folder, 0o777)
    result = voice_guide("export", SHORT, "-o", tmp_path / "short.wav", "-q", cache=shared)
    assert result.status == 0, result.stderr
    assert f"speech cache folder '{speech}' is not usable (it belongs to another user)" in result.stderr
    assert theirs.read_text() == "theirs"
    assert sorted(p.name for p in speech.iterdir()) == sorted(["voice-0.json", ".probe.x", "0" * 64 + ".wav"])
    assert all(os.lstat(p).st_uid == uid for p in speech.iterdir())


# --- hostile entries in our own cache -----------------------------------------------------------------------


def test_entries_that_are_links_fifos_or_huge_are_removed_and_made_again(clean, warm_cache, tmp_path):
    entries = sorted(p for p in (warm_cache / "voice-guide").rglob("*") if p.suffix in (".wav", ".clip", ".pcm"))
    assert len(entries) >= 6
    for n, entry in enumerate(entries):
        entry.unlink()
        if n % 3 == 0:
            entry.symlink_to("/dev/zero")  # read to the end, this is endless
        elif n % 3 == 1:
            os.mkfifo(entry)  # opened for reading, this blocks until someone writes
        else:
            with open(entry, "wb") as out:  # a sparse file of 4 GB
                out.truncate(4 << 30)
    started = time.monotonic()
    result = voice_guide("export", SHORT, "-o", tmp_path / "short.wav", "-q", cache=warm_cache, timeout=120)
    assert result.status == 0, result.stderr
    assert time.monotonic() - started < 60
    assert (tmp_path / "short.wav").read_bytes() == clean[2]
    assert_cache_sound(warm_cache, clean[1])
    assert all(entry.is_file() and not entry.is_symlink() for entry in entries)


@pytest.mark.parametrize("kind, suffix", [("speech", ".wav"), ("mixed", ".clip"), ("mixed", ".pcm")])
def test_two_entries_swapped_are_each_caught_as_another_clip_and_made_again(clean, warm_cache, tmp_path, kind,
                                                                             suffix):
    if kind == "speech":
        shutil.rmtree(warm_cache / "voice-guide" / "mixed")  # so the speech clips themselves are read
    entries = sorted((warm_cache / "voice-guide" / kind).glob(f"*{suffix}"))
    # Every entry takes the bytes of the next one: each is sound, and each is another clip.
    contents = [entry.read_bytes() for entry in entries]
    for entry, content in zip(entries, contents[1:] + contents[:1]):
        entry.write_bytes(content)
    result = voice_guide("export", SHORT, "-o", tmp_path / "short.wav", "-q", cache=warm_cache)
    assert result.status == 0, result.stderr
    assert (tmp_path / "short.wav").read_bytes() == clean[2]


# --- a bounded cache ----------------------------------------------------------------------------------------


def test_eviction_removes_the_least_recently_used_entries_first(tmp_path):
    now = time.time()
    for n in range(5):
        path = tmp_path / f"{n}.wav"
        path.write_bytes(b"x" * 100)
        os.utime(path, (now - 1000 + n, now - 1000 + n))  # 0 is the oldest
    assert cachefiles.read_entry(tmp_path / "0.wav", 1000) == b"x" * 100  # used now: the most recent
    removed = cachefiles.evict(tmp_path, (".wav",), 300)
    assert sorted(p.name for p in removed) == ["1.wav", "2.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.wav", "3.wav", "4.wav"]


def test_eviction_removes_entries_unused_for_long_and_nothing_else(tmp_path):
    for name, age in (("old.clip", 200 * 86400), ("recent.clip", 86400), ("notes.txt", 400 * 86400)):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (time.time() - age, time.time() - age))
    assert [p.name for p in cachefiles.evict(tmp_path, (".clip",), 1 << 30)] == ["old.clip"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "recent.clip"]


def test_read_entry_refuses_what_is_not_a_small_regular_file(tmp_path):
    (tmp_path / "link").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"x" * 101)
    (tmp_path / "fine").write_bytes(b"x" * 100)
    assert [cachefiles.read_entry(tmp_path / name, 100) for name in ("link", "fifo", "big")] == [None] * 3
    assert cachefiles.read_entry(tmp_path / "fine", 100) == b"x" * 100
    assert [p.name for p in tmp_path.iterdir()] == ["fine"]  # the bad ones are gone


# --- where the cache goes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variables, expected",
    [
        ({"XDG_CACHE_HOME": "/srv/cache", "HOME": "/home/a"}, "/srv/cache/voice-guide"),
        ({"XDG_CACHE_HOME": "relative/cache", "HOME": "/home/a"}, "/home/a/.cache/voice-guide"),
        ({"XDG_CACHE_HOME": "", "HOME": "/home/a"}, "/home/a/.cache/voice-guide"),
    ],
    ids=["xdg", "relative-xdg-ignored", "empty-xdg"],
)
def test_the_cache_folder_follows_xdg_and_ignores_a_relative_xdg_cache_home(monkeypatch, variables, expected):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert str(_default_cache_dir()) == expected


@pytest.mark.parametrize("home", ["", "relative", "/"], ids=["empty", "relative", "root"])
def test_an_empty_relative_or_root_home_never_puts_the_cache_at_the_top_of_the_disk(monkeypatch, home):
    import pwd

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", home)
    folder = _default_cache_dir()
    assert folder.is_absolute()
    assert not str(folder).startswith(("/.cache", "relative"))
    account = pwd.getpwuid(os.getuid()).pw_dir
    if home != "/" and account not in ("", "/"):
        assert folder == Path(account) / ".cache" / "voice-guide"


def test_a_run_creates_nothing_in_the_home_folder_but_the_cache(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "voice_guide", "export", SHORT, "-o", tmp_path / "short.wav", "-q"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**{k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}, "HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    assert sorted(str(p.relative_to(home)) for p in home.iterdir()) == [".cache"]  # no ~/.config/pulse
    assert sorted(p.name for p in (home / ".cache").iterdir()) == ["voice-guide"]


def test_an_entry_being_written_when_the_process_ends_leaves_no_temporary_and_no_entry(tmp_path, monkeypatch):
    import threading

    inside, release = threading.Event(), threading.Event()
    replace = os.replace

    def slow_replace(source, target):  # a background writer caught between its temporary file and the rename
        inside.set()
        release.wait(10)
        replace(source, target)

    monkeypatch.setattr(cachefiles.os, "replace", slow_replace)
    monkeypatch.setattr(cachefiles, "_ENDED", [False])
    errors = []

    def write():
        try:
            cachefiles.write_entry(tmp_path / "entry.pcm", b"x" * 1000)
        except OSError as error:
            errors.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    assert inside.wait(10)
    assert [p.name for p in tmp_path.iterdir()][0].endswith(".tmp")
    cachefiles.end_writes()
    assert list(tmp_path.iterdir()) == []  # the temporary is gone at once, though its writer has not returned
    release.set()
    writer.join(10)
    assert len(errors) == 1 and list(tmp_path.iterdir()) == []
    with pytest.raises(OSError, match="ending"):
        cachefiles.write_entry(tmp_path / "later.pcm", b"y")
    assert list(tmp_path.iterdir()) == []


def test_a_daemon_thread_writing_an_entry_at_exit_leaves_no_temporary(tmp_path):
    # A plain exit with a daemon thread still writing (the mixer's levelling after a failed export): atexit runs
    # end_writes, so the temporary the thread made is not left in the cache folder.
    script = f"""
import os, threading
from voice_guide import cachefiles
inside = threading.Event()
def stuck(source, target):
    inside.set()
    threading.Event().wait()
cachefiles.os.replace = stuck
threading.Thread(target=cachefiles.write_entry, args=({str(tmp_path / 'entry.pcm')!r}, b'x' * 1000),
                 daemon=True).start()
assert inside.wait(10)
assert len(os.listdir({str(tmp_path)!r})) == 1
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []
