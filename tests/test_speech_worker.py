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
