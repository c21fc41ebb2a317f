"""The speech worker itself: a preloaded espeak says every line exactly as a fresh engine does; trimming."""

from __future__ import annotations

import array
import random
from pathlib import Path

import pytest

from voice_guide import _speech_worker
from voice_guide._speech_process import WorkerProcess, default_command

LINES = [
    "Press gently along your arch.",
    "Two minutes left.",
    "Now your right foot.",
    "If anything hurts, stop.",
    "Ice afterward if you need to.",
    "Slide both thumbs from your heel toward the ball of your foot, slowly.",
]
TIMEOUT = 30.0


def say_all(command: list[str], requests: list[tuple[str, int, str]], folder: Path) -> list[tuple[bytes, dict]]:
    """Each (voice, rate, text) said by one worker, in this order: the bytes written and the reply."""
    folder.mkdir()
    worker = WorkerProcess(command, timeout=TIMEOUT)
    said = []
    try:
        for index, (voice, rate, text) in enumerate(requests):
            out = folder / f"{index}.wav"
            out.touch()
            reply = worker.ask({"op": "synth", "text": text, "voice": voice, "voice_name": voice, "rate": rate,
                                "out": str(out), "key": f"{voice} {rate} {text}"}, TIMEOUT, "saying")
            assert reply["ok"], reply
            said.append((out.read_bytes(), reply))
    finally:
        worker.close()
    return said


@pytest.mark.parametrize("voice, rate", [("gmw/en-us", 150), ("gmw/en+klatt", 90), ("gmw/de", 320)])
def test_a_preloaded_worker_says_a_line_first_and_after_twenty_others_as_a_fresh_engine_does(tmp_path, voice, rate):
    first, *others = LINES
    order = [first] + [others[i % len(others)] for i in range(20)] + [first]
    requests = [(voice, rate, text) for text in order]
    preloaded = say_all(list(default_command()), requests, tmp_path / "preloaded")
    fresh = say_all([*default_command(), "--preload", "no"], requests, tmp_path / "fresh")
    assert all(reply["preloaded"] for _, reply in preloaded[1:])  # the first child shows the engine starts
    assert not any(reply["preloaded"] for _, reply in fresh)
    assert [data for data, _ in preloaded] == [data for data, _ in fresh]
    assert preloaded[0][0] == preloaded[-1][0]


def test_a_preloaded_worker_changes_voice_and_rate_between_lines_as_fresh_engines_do(tmp_path):
    requests = [(voice, rate, text) for text in LINES[:3]
                for voice, rate in (("gmw/en-us", 150), ("gmw/en", 230), ("roa/fr", 120), ("gmw/en-us", 150))]
    preloaded = say_all(list(default_command()), requests, tmp_path / "preloaded")
    fresh = say_all([*default_command(), "--preload", "no"], requests, tmp_path / "fresh")
    assert [data for data, _ in preloaded] == [data for data, _ in fresh]


# --- trimming ------------------------------------------------------------------------------------------


def trimmed_by_definition(pcm: array.array) -> array.array:
    """What trim() promises, one sample at a time: from 10 ms before the first sample at or over -50 dBFS to
    80 ms after the last one."""
    loud = [i for i, sample in enumerate(pcm) if abs(sample) >= _speech_worker.SILENCE_THRESHOLD]
    if not loud:
        return array.array("h")
    return pcm[max(0, loud[0] - _speech_worker.KEEP_LEADING):loud[-1] + 1 + _speech_worker.KEEP_TRAILING]


def random_clip(rng: random.Random) -> array.array:
    threshold = _speech_worker.SILENCE_THRESHOLD
    size = rng.choice([0, 1, 255, 256, 257, 511, 512, 513, 3000, 20000])
    quiet = [rng.randint(-threshold + 1, threshold - 1) for _ in range(size)]
    for _ in range(rng.choice([0, 1, 2, 5])):
        if size:
            quiet[rng.randrange(size)] = rng.choice([threshold, -threshold, 32767, -32768, 5000, -5000])
    return array.array("h", quiet)


def test_trimming_keeps_exactly_what_the_definition_keeps_on_random_clips():
    rng = random.Random(12)
    for _ in range(400):
        pcm = random_clip(rng)
        assert _speech_worker.trim(pcm) == trimmed_by_definition(pcm)


@pytest.mark.parametrize("where", [0, 255, 256, 257, -1])
def test_trimming_finds_a_single_loud_sample_at_a_block_edge(where):
    pcm = array.array("h", [103, -103] * 400)
    pcm[where] = -104
    assert _speech_worker.trim(pcm) == trimmed_by_definition(pcm)
    assert len(_speech_worker.trim(pcm)) > 0


def test_trimming_a_silent_clip_leaves_nothing():
    assert _speech_worker.trim(array.array("h", [103, -103, 0] * 1000)) == array.array("h")


def test_a_preloaded_child_refuses_a_voice_espeak_does_not_take_as_a_fresh_engine_does(tmp_path):
    """The id, then the name, tried; neither taken: the same error from a preloaded child as from a fresh engine,
    and the worker goes on saying the next line as a fresh engine does."""
    answers = []
    for name, command in (("preloaded", list(default_command())), ("fresh", [*default_command(), "--preload", "no"])):
        folder = tmp_path / name
        folder.mkdir()
        worker = WorkerProcess(command, timeout=TIMEOUT)
        try:
            replies = []
            for index, voice in enumerate(("gmw/en", "nonexistent/xx", "gmw/en")):
                out = folder / f"{index}.wav"
                out.touch()
                replies.append(worker.ask({"op": "synth", "text": LINES[0], "voice": voice, "voice_name": voice,
                                           "rate": 150, "out": str(out), "key": ""}, TIMEOUT, "saying"))
        finally:
            worker.close()
        assert [reply["ok"] for reply in replies] == [True, False, True]
        assert "did not accept voice 'nonexistent/xx'" in replies[1]["error"]
        answers.append([(folder / f"{index}.wav").read_bytes() for index in (0, 2)])
    assert answers[0] == answers[1]


# --- a worker started early (launch.py, a cold export) -------------------------------------------------


def test_a_worker_listing_the_voices_ahead_lists_and_says_them_as_one_asked_in_turn(tmp_path):
    listed = {}
    for name, options in (("ahead", ["--voices-ahead"]), ("asked", [])):
        worker = WorkerProcess([*default_command(), *options], timeout=TIMEOUT)
        try:
            listed[name] = [worker.ask({"op": "voices"}, TIMEOUT, "listing voices") for _ in range(2)]
        finally:
            worker.close()
    assert listed["ahead"] == listed["asked"]
    assert listed["ahead"][0]["ok"] and listed["ahead"][0]["voices"]
    requests = [("gmw/en-us", 150, text) for text in LINES[:3]]
    ahead = say_all([*default_command(), "--voices-ahead"], requests, tmp_path / "ahead")
    fresh = say_all([*default_command(), "--preload", "no"], requests, tmp_path / "fresh")
    assert [data for data, _ in ahead] == [data for data, _ in fresh]
    assert all(reply["preloaded"] for _, reply in ahead)  # the listing's child showed the engine starts


def test_an_early_worker_is_handed_over_once_in_its_own_process_and_killed_at_exit_if_never_taken():
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import os, sys
        from voice_guide import _speech_process as p
        p.start_early(p.default_command(), ("--voices-ahead",))
        pid = os.fork()
        if pid == 0:  # a process forked from the one that started it (a pool's) never takes it
            os._exit(0 if p.take_early(p.default_command()) is None else 1)
        assert os.waitpid(pid, 0)[1] == 0
        worker = p.take_early(p.default_command())
        assert worker is not None and p.take_early(p.default_command()) is None
        assert worker.greeted(30.0).engine == "espeak"
        worker.close()
        p.start_early(p.default_command())
        print(p._EARLY[p.default_command()][1]._process.pid)  # never taken: killed at exit
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    left = int(done.stdout.split()[-1])
    assert not Path(f"/proc/{left}").exists()
