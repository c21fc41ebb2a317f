"""The shipped JSON Schema and the loader agree on what a routine is, wherever a schema can say it."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from voice_guide import bundled, loader, routine
from voice_guide.durations import parse_duration, parse_span
from voice_guide.errors import RoutineError
from voice_guide.loader import load

DATA = Path(__file__).resolve().parent / "data"
GOOD = sorted((DATA / "good").glob("*.yaml"))
BAD = DATA / "bad"

# Catalogue files whose fault is in the structure: the schema refuses them as well.
STRUCTURAL = """
    unknown-top-key unknown-step-key unknown-voice-key unknown-key-no-suggestion cues-unknown-key merge-key
    missing-title missing-steps top-level-list top-level-text title-empty title-list
    steps-empty-list steps-missing-value steps-mapping step-plain-text step-without-kind step-say-and-repeat
    step-steps-without-block say-empty say-mapping say-too-long reminder-too-long pause-and-hold pause-list
    pause-malformed pause-negative pause-range hold-unknown-unit hold-units-out-of-order cues-without-hold
    cues-every-malformed cues-halfway-not-bool language-not-a-tag hold-end-unknown cues-countdown-out-of-range
    rate-not-number rate-out-of-range rate-quoted volume-out-of-range
    voice-not-mapping chime-not-bool repeat-zero repeat-not-whole repeat-without-steps repeat-with-pause
    sides-only-one sides-twice-the-same reminders-empty-list reminders-single-text many-problems alias-bomb-unused
    bom-with-error duplicate-say-in-step pause-scientific volume-zero key-ends-in-no-break-space
    key-holds-zero-width-space fullwidth-colon-key
""".split()
# Faults a schema cannot see: values in range of the pattern but not of the loader, and whole-routine limits.
BEYOND_THE_SCHEMA = """
    pause-zero hold-reversed-range hold-seconds-over-59 hold-absurd total-over-four-hours total-crosses-four-hours
    deep-blocks duplicate-top-key duplicate-step-key crlf-with-error escape-lone-surrogate
    nothing-to-pronounce silent-lines title-nothing-to-pronounce control-escape-terminal control-escape-nul
    null-tag-on-text intro-nothing-to-pronounce hold-with-no-break-space
""".split()
# Faults in the YAML or the bytes, tags PyYAML cannot build, and expansions too big to validate.
NOT_VALIDATED = """
    syntax-unclosed-quote syntax-colon-in-text syntax-bad-indent syntax-missing-colon syntax-unclosed-bracket
    tab-indent tab-after-colon two-documents alias-undefined anchor-defined-twice empty-file only-comments
    not-utf8 utf16 control-character tag-python-object key-is-a-list recursive-alias deep-nesting-yaml
    tag-unknown tag-binary alias-bomb escape-beyond-unicode repeat-huge-number text-starts-with-dash
    text-starts-with-asterisk en-dash-list-item
    single-quote-closed-early single-quote-closed-early-title nbsp-indentation nbsp-after-indicator
    ideographic-space-indentation chime-bool-tag-on-text utf-32 utf-32-no-bom utf-16-no-bom
    double-quote-closed-early flow-comment-hides-bracket nbsp-after-dash
""".split()


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without timestamps, so a date-like `say: 2024-01-01` stays text (as in JSON and YAML 1.2)."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(resources.files("voice_guide").joinpath("routine.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def document(path: Path):
    return yaml.load(path.read_text(encoding="utf-8-sig"), Loader=_PlainLoader)


def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_in_the_package(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_names_exactly_the_keys_the_loader_knows(schema):
    defs = schema["$defs"]
    assert tuple(schema["properties"]) == loader.TOP_KEYS
    assert tuple(defs["voice"]["properties"]) == loader.VOICE_KEYS
    assert tuple(defs["cues"]["anyOf"][1]["properties"]) == loader.CUE_KEYS
    assert tuple(defs["say"]["properties"]) == loader.SAY_KEYS
    assert tuple(defs["repeat"]["properties"]) == loader.REPEAT_KEYS
    assert tuple(defs["sides"]["properties"]) == loader.SIDES_KEYS
    assert defs["text"]["maxLength"] == loader.MAX_TEXT
    ranges = [("voice", "rate", routine.RATE_RANGE), ("voice", "volume", routine.VOLUME_RANGE),
              ("repeat", "repeat", routine.REPEAT_RANGE)]
    for definition, key, stated in ranges:
        bounds = defs[definition]["properties"][key]
        low = bounds.get("minimum", bounds.get("exclusiveMinimum"))  # a volume of 0 is silence: refused
        assert (low, bounds["maximum"]) == stated, key


@pytest.mark.parametrize(
    "path", GOOD + [bundled.path(name) for name in bundled.names()], ids=lambda path: Path(path).name
)
def test_good_and_bundled_routines_pass_both_the_schema_and_the_loader(path, validator):
    assert load(path).steps
    assert [error.message for error in validator.iter_errors(document(Path(path)))] == []


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structurally_bad_routines_fail_both_the_schema_and_the_loader(name, validator):
    path = BAD / f"{name}.yaml"
    with pytest.raises(RoutineError):
        load(path)
    assert not validator.is_valid(document(path))


@pytest.mark.parametrize("name", BEYOND_THE_SCHEMA)
def test_faults_the_schema_cannot_express_pass_the_schema_but_not_the_loader(name, validator):
    path = BAD / f"{name}.yaml"
    with pytest.raises(RoutineError):
        load(path)
    assert validator.is_valid(document(path))


def test_every_catalogue_file_is_classified_for_the_schema_once():
    names = STRUCTURAL + BEYOND_THE_SCHEMA + NOT_VALIDATED
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(path.stem for path in BAD.glob("*.yaml"))


# ---- the duration patterns against the parser ----

_words = st.sampled_from(["", " ", "s", "m", "h", "sec", "min", "mins", "minutes", "hour", "hours", "x", ":", "."])
_pieces = st.one_of(st.integers(min_value=0, max_value=130).map(str), _words, st.sampled_from(["-", " - ", "1:30"]))
_duration_like = st.lists(_pieces, min_size=1, max_size=7).map("".join)
# Refusals a pattern cannot express: a value that matches the form but is zero, out of range, or reversed.
_VALUE_FAULTS = ("longer than zero", "must be below 60", "shorter end comes first")


def _pattern(schema: dict, name: str) -> re.Pattern:
    (as_text,) = [choice for choice in schema["$defs"][name]["anyOf"] if choice["type"] == "string"]
    return re.compile(as_text["pattern"])


def _agree(parse, pattern: re.Pattern, text: str) -> None:
    try:
        parse(text)
    except ValueError as error:
        matches = bool(pattern.search(text))
        assert not matches or any(fault in str(error) for fault in _VALUE_FAULTS), (text, str(error))
    else:
        assert pattern.search(text), text


@given(_duration_like)
def test_the_duration_pattern_matches_exactly_what_parse_duration_reads_up_to_value_checks(schema, text):
    _agree(parse_duration, _pattern(schema, "duration"), text)


@given(_duration_like)
def test_the_span_pattern_matches_exactly_what_parse_span_reads_up_to_value_checks(schema, text):
    _agree(parse_span, _pattern(schema, "span"), text)
