"""The bad-routine catalogue: every file in tests/data/bad/ is refused with exactly the message beside it.

Each `name.yaml` has a `name.expected` holding the full error text as shown for the path `name.yaml`
(file:line:col: message, one problem a line). The CLI tests reuse `CATALOGUE` and `expected_message`.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from voice_guide.errors import RoutineError
from voice_guide.loader import MAX_BYTES, load, loads

BAD = Path(__file__).resolve().parent / "data" / "bad"
CATALOGUE = sorted(BAD.glob("*.yaml"))


def expected_message(routine: Path, shown_as: str | None = None) -> str:
    """The expected error text for a catalogue file, with its path written as `shown_as` (default: its name)."""
    text = routine.with_suffix(".expected").read_text(encoding="utf-8").rstrip("\n")
    if shown_as is None:
        return text
    return "\n".join(shown_as + line[len(routine.name):] for line in text.splitlines())


def refusal(read) -> RoutineError:
    """The RoutineError raised by `read()`, which must take under a second of CPU time.

    CPU time with the collector paused, so other processes and earlier tests' garbage do not count.
    """
    gc.disable()
    started = time.process_time()
    try:
        with pytest.raises(RoutineError) as caught:
            read()
    finally:
        gc.enable()
    assert time.process_time() - started < 1.0
    return caught.value


def test_the_catalogue_holds_at_least_forty_routines_each_with_its_message():
    assert len(CATALOGUE) >= 40
    missing = [path.name for path in CATALOGUE if not path.with_suffix(".expected").exists()]
    assert missing == []


@pytest.mark.parametrize("routine", CATALOGUE, ids=lambda path: path.stem)
def test_each_bad_routine_is_refused_with_its_exact_message_when_loaded_from_a_path(routine, monkeypatch):
    monkeypatch.chdir(BAD)
    error = refusal(lambda: load(routine.name))
    assert str(error) == expected_message(routine)
    assert error.path == routine.name


@pytest.mark.parametrize("routine", CATALOGUE, ids=lambda path: path.stem)
def test_each_bad_routine_is_refused_the_same_way_from_bytes_and_a_path_object(routine):
    from_bytes = refusal(lambda: loads(routine.read_bytes(), path="in-memory.yaml"))
    assert str(from_bytes) == expected_message(routine, shown_as="in-memory.yaml")
    from_path = refusal(lambda: load(routine))
    assert str(from_path) == expected_message(routine, shown_as=str(routine))


@pytest.mark.parametrize("routine", CATALOGUE, ids=lambda path: path.stem)
def test_every_problem_of_a_bad_routine_has_a_position_unless_the_file_has_none(routine):
    error = refusal(lambda: load(routine))
    whole_file = ("empty-file", "only-comments")
    for problem in error.problems:
        assert (problem.line == 0) == (routine.stem in whole_file), problem


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("title: Arch\nsteps:\n" + "  - say: Press along the arch.\n" * (MAX_BYTES // 20))
    error = refusal(lambda: load(huge))
    assert str(error) == f"{huge}: the file is over 128 KB; a routine file must be smaller (a few KB is usual)"


def test_text_over_the_size_limit_is_refused_too():
    error = refusal(lambda: loads("#" * (MAX_BYTES + 1), path="big.yaml"))
    assert str(error) == "big.yaml: the file is over 128 KB; a routine file must be smaller (a few KB is usual)"


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("title: " + "a" * (MAX_BYTES - 10), id="one-long-line"),
        pytest.param("title: a\n" + "  a\n" * (MAX_BYTES // 4 - 4), id="multi-line-text"),
        pytest.param("\n" * MAX_BYTES, id="blank-lines"),
        pytest.param("[" * MAX_BYTES, id="deep-brackets"),
        pytest.param("".join(f"k{i}: 1\n" for i in range(MAX_BYTES // 10)), id="many-keys"),
        pytest.param("- &a x\n" + "- *a\n" * (MAX_BYTES // 5 - 2), id="many-aliases"),
    ],
)
def test_the_slowest_inputs_just_under_the_size_limit_take_under_a_second(text):
    refusal(lambda: loads(text))
