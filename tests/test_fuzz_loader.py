"""Fuzzing the loader: any input loads or is refused as bad input with positioned problems, fast.

Structured cases are plausible routines, sometimes wrong (bad values, typos, missing keys), dumped as YAML
in either style and sometimes damaged (a tab, a lost character, a stray ': '). Raw cases are arbitrary text,
YAML-ish text and bytes. The `slow` tests run 10,000 cases in all; the unmarked smoke tests four hundred.
"""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_guide.errors import BadInputError, RoutineError
from voice_guide.loader import MAX_TEXT, load, loads
from voice_guide.routine import Repeat, Routine, Say, Sides

DATA = Path(__file__).resolve().parent / "data"

_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # as PyYAML counts lines
# Problems of the whole file, which have no line to point at.
_WHOLE_FILE = ("the file is empty", "the file is over", "YAML syntax error", "values are nested too deeply")


def timed_load(data: str | bytes) -> tuple[Routine | RoutineError, float]:
    """The routine or the refusal, and the CPU seconds it took.

    CPU time with the collector paused: the bound is on the loader's own work, not on other processes
    or on collecting the garbage Hypothesis leaves behind.
    """
    gc.disable()
    started = time.process_time()
    try:
        return loads(data, path="fuzz.yaml"), time.process_time() - started
    except RoutineError as error:
        return error, time.process_time() - started
    finally:
        gc.enable()


def check(data: str | bytes) -> Routine | None:
    """Loads `data`; asserts the outcome is a valid routine or a well-formed refusal, within a second."""
    outcome, elapsed = timed_load(data)
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    if isinstance(outcome, Routine):
        _assert_valid(outcome)
        return outcome
    assert outcome.problems, "a RoutineError lists its problems"
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = len(_LINE_BREAK.split(text))
    for problem in outcome.problems:
        assert problem.message and "\n" not in problem.message
        if problem.line == 0:
            assert problem.message.startswith(_WHOLE_FILE), problem
        else:
            assert 1 <= problem.line <= lines, problem
            assert problem.column >= 1, problem
    return None


def _assert_valid(routine: Routine) -> None:
    assert routine.title and len(routine.title) <= MAX_TEXT
    assert routine.steps
    assert all(reminder.strip() for reminder in routine.reminders or ())

    def walk(steps) -> None:
        for step in steps:
            assert step.line >= 1
            if isinstance(step, Say):
                assert step.text and len(step.text) <= MAX_TEXT
                assert step.pause is None or step.pause > 0
                assert step.hold is None or 0 < step.hold.minimum <= step.hold.maximum
                assert step.pause is None or step.hold is None
            else:
                assert isinstance(step, (Repeat, Sides)) and step.steps
                walk(step.steps)

    walk(routine.steps)


# ---- strategies: each value is usually right and now and then wrong ----


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """`good` about fifteen times in sixteen, `bad` otherwise (a high roll: Hypothesis favours low ones)."""
    return st.integers(min_value=0, max_value=15).flatmap(lambda roll: bad if roll == 15 else good)


_odd_text = st.sampled_from(["yes", "no", "~", "null", "1:30", "", " ", "a: b", "- x", "#", "&a", "*a", "!x", "é"])
wild_texts = st.one_of(
    st.text(max_size=20),
    _odd_text,
    st.integers(),
    st.booleans(),
    st.none(),
    st.just("a" * (MAX_TEXT + 1)),
    st.just(10**400),
)
_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC", min_size=1, max_size=10)
texts = mostly(st.lists(_words, min_size=1, max_size=4).map(" ".join), wild_texts)
_good_durations = st.sampled_from(["45s", "2m", "1m30s", "1:30", "90", "2.5", "2 minutes", "30 sec", "10s"])
_wild_durations = st.one_of(
    st.sampled_from(["0s", "-5s", "3m-2m", "1:75", "5 parsecs", "30s1m", "5h", "", "soon", "2m-", "1h"]),
    st.integers(min_value=-5, max_value=20_000),
    st.floats(),
    wild_texts,
)
durations = mostly(_good_durations, _wild_durations)
spans = mostly(st.one_of(_good_durations, st.sampled_from(["2m-3m", "2-3m", "1:30-2:00", "30-45s"])), _wild_durations)
_typos = ["puase", "titel", "stpes", "hlod", "sya", "every", "repeat", "sides", "steps", "extra"]


def _with_junk(base: st.SearchStrategy) -> st.SearchStrategy:
    """Dicts from `base`, now and then with a misspelt or misplaced key added or a key dropped."""
    change = mostly(st.just(None), st.one_of(st.sampled_from(_typos), st.just("drop")))

    def changed(pair):
        found, key = pair
        if key == "drop" and found:
            return dict(list(found.items())[1:])
        return {**found, key: "x"} if key else found

    return st.tuples(base, change).map(changed)


cues = mostly(
    st.fixed_dictionaries({}, optional={"every": durations, "halfway": mostly(st.booleans(), wild_texts)}),
    wild_texts,
)
say_steps = _with_junk(
    st.one_of(
        st.fixed_dictionaries({"say": texts}, optional={"pause": durations}),
        st.fixed_dictionaries({"say": texts, "hold": spans}, optional={"cues": cues}),
        st.fixed_dictionaries({"say": texts}, optional={"pause": durations, "hold": spans, "cues": cues}),
    )
)
steps = st.deferred(
    lambda: mostly(
        st.lists(st.one_of(say_steps, say_steps, say_steps, repeat_blocks, sides_blocks), min_size=1, max_size=3),
        st.lists(st.one_of(say_steps, wild_texts, st.lists(wild_texts, max_size=2)), max_size=3),
    )
)
repeat_blocks = _with_junk(
    st.fixed_dictionaries(
        {"repeat": mostly(st.integers(min_value=1, max_value=4), st.one_of(st.integers(), wild_texts)), "steps": steps}
    )
)
sides_blocks = _with_junk(
    st.fixed_dictionaries(
        {
            "sides": mostly(st.lists(texts, min_size=2, max_size=3, unique=True), st.lists(wild_texts, max_size=3)),
            "steps": steps,
        }
    )
)
voices = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "voice": texts,
            "rate": mostly(st.integers(min_value=80, max_value=400), st.one_of(st.integers(), wild_texts)),
            "volume": mostly(st.floats(min_value=0, max_value=1), st.one_of(st.floats(), wild_texts)),
        },
    ),
    wild_texts,
)
routines = _with_junk(
    st.fixed_dictionaries(
        {"title": texts, "steps": steps},
        optional={
            "about": texts,
            "voice": voices,
            "chime": mostly(st.booleans(), wild_texts),
            "reminders": mostly(st.one_of(st.just("none"), st.lists(texts, min_size=1, max_size=3)), wild_texts),
        },
    )
)


@st.composite
def routine_texts(draw) -> str:
    """A generated routine as YAML text, in block or flow style, sometimes damaged in one place."""
    document = draw(mostly(routines, st.one_of(steps, wild_texts)))
    text = yaml.safe_dump(document, default_flow_style=draw(st.booleans()), allow_unicode=True, sort_keys=False)
    damage = draw(mostly(st.just("none"), st.sampled_from(["tab", "drop", "colon", "duplicate", "cut", "crlf", "bom"])))
    at = draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))
    lines = text.splitlines(keepends=True)
    line = draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))
    if damage == "tab" and lines:
        lines[line] = "\t" + lines[line].lstrip(" ")
        text = "".join(lines)
    elif damage == "drop":
        text = text[:at] + text[at + 1:]
    elif damage == "colon":
        text = text[:at] + ": " + text[at:]
    elif damage == "duplicate" and lines:
        text = "".join(lines[: line + 1] + lines[line:])
    elif damage == "cut":
        text = text[:at]
    elif damage == "crlf":
        text = text.replace("\n", "\r\n")
    elif damage == "bom":
        text = "\ufeff" + text
    return text


_yamlish = st.text(alphabet="ab1: -[]{},#&*!|>'\"\t\n\r%@`?.~\x00\ufeff\u2028é", max_size=120)
_any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=120)
# Real files, good and bad, damaged at one place: cheap to make, and close to what people write.
_SAMPLES = [path.read_bytes() for path in sorted((DATA / "good").glob("*.yaml")) + sorted((DATA / "bad").glob("*.yaml"))]
_byte_damaged = st.tuples(
    st.sampled_from(_SAMPLES), st.integers(min_value=0), st.binary(min_size=0, max_size=4)
).map(lambda case: _spliced(*case))
_text_damaged = st.tuples(
    st.sampled_from(_SAMPLES), st.integers(min_value=0), st.text(min_size=0, max_size=3)
).map(lambda case: _spliced(case[0], case[1], case[2].encode("utf-8", "surrogatepass")).decode("utf-8", "replace"))


def _spliced(data: bytes, at: int, junk: bytes) -> bytes:
    """`data` with the byte at `at` (wrapped to its length) replaced by `junk`."""
    at = at % (len(data) + 1)
    return data[:at] + junk + data[at + 1:]


def fuzz(cases: int) -> settings:
    """Hypothesis settings for `cases` inputs; the time limit is checked per input by `check` instead."""
    return settings(
        max_examples=cases, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )


# ---- slow: over 10,000 cases in all ----


@pytest.mark.slow
@fuzz(1200)
@given(routine_texts())
def test_generated_routines_load_or_are_refused_with_positions(text):
    check(text)


@pytest.mark.slow
@fuzz(4500)
@given(st.one_of(_yamlish, _any_text, _text_damaged))
def test_arbitrary_text_loads_or_is_refused_with_positions(text):
    check(text)


@pytest.mark.slow
@fuzz(4000)
@given(st.one_of(st.binary(max_size=200), _byte_damaged))
def test_arbitrary_bytes_load_or_are_refused_with_positions(data):
    check(data)


@pytest.mark.slow
@fuzz(300)
@given(routine_texts())
def test_loading_a_generated_routine_twice_gives_the_same_result(text):
    def outcome():
        try:
            return loads(text)
        except RoutineError as error:
            return str(error)

    assert outcome() == outcome()


# ---- smoke: a few hundred cases, every run ----


@pytest.mark.slow
@fuzz(100)
@given(routine_texts())
def test_smoke_generated_routines_load_or_are_refused_with_positions(text):
    check(text)


@pytest.mark.slow
@fuzz(300)
@given(st.one_of(_yamlish, _any_text, _text_damaged, st.binary(max_size=200), _byte_damaged))
def test_smoke_arbitrary_text_and_bytes_load_or_are_refused_with_positions(data):
    check(data)


def test_a_file_written_from_a_generated_routine_loads_like_its_text(tmp_path):
    path = tmp_path / "r.yaml"
    text = "title: t\nsteps:\n  - say: a\n    hold: 1:30\n"
    path.write_text(text, encoding="utf-8")
    assert load(path) == loads(text, path=str(path))
    with pytest.raises(BadInputError):
        load(tmp_path / "absent.yaml")
