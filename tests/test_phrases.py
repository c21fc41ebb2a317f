"""The tool's own phrases in every language: complete catalogues, numbers as words, no English left over."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from num2words import num2words

from voice_guide import compiler, phrases
from voice_guide.loader import loads
from voice_guide.phrases import available_languages, choose, message_problem, phrases_for, placeholders
from voice_guide.routine import Cues, Hold, Routine, Say, Sides, Voice
from voice_guide.timeline import ANNOUNCEMENT, CHIME, CLOSING, CUE, INSTRUCTION, INTRO, SAMPLE_RATE, SPEECH

LOCALE = resources.files("voice_guide").joinpath("locale")
DATA = Path(__file__).parent / "data" / "languages"
LANGUAGES = available_languages()
TRANSLATED = [tag for tag in LANGUAGES if tag != "en"]
KEYWORDS = {"_": None, "_n": (1, 2), "_p": ((1, "c"), 2)}  # how phrases.py marks its messages
LONGEST = 4 * 3600  # a routine is at most four hours: no cue says more


def spoken_length(text: str) -> int:
    return int(SAMPLE_RATE * (0.3 + len(text) / 14)) + hashlib.sha256(text.encode()).digest()[0]


def _template():
    with LOCALE.joinpath("messages.pot").open("rb") as file:
        return read_po(file)


def _catalogue(tag):
    with LOCALE.joinpath(f"{tag}.po").open("rb") as file:
        return read_po(file)


def _key(message):
    return (message.context, message.id)


# --- the catalogues ------------------------------------------------------------------------------------------


def test_the_seven_languages_are_there():
    assert {"en", "de", "fr", "es", "it", "nl", "pt"} <= set(LANGUAGES)


def test_the_template_holds_exactly_the_messages_the_code_says():
    path = resources.files("voice_guide").joinpath("phrases.py")
    found = set()
    for _, message, _, context in extract_from_file("python", str(path), keywords=KEYWORDS):
        found.add((context, message))
    template = {_key(m) for m in _template() if m.id}
    assert found == template


@pytest.mark.parametrize("tag", TRANSLATED)
def test_every_catalogue_has_every_message_translated_with_its_placeholders(tag):
    template = {_key(m): m for m in _template() if m.id}
    catalogue = _catalogue(tag)
    messages = {_key(m): m for m in catalogue if m.id}
    assert set(messages) == set(template), "missing or extra messages"
    for key, message in messages.items():
        assert not message.fuzzy, key
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"{key} is not translated"
        assert len(strings) == (catalogue.num_plurals if message.pluralizable else 1), key
        assert message_problem(message.id, message.string) is None, (key, message_problem(message.id, message.string))
    assert phrases_for(tag).problems == ()


@pytest.mark.parametrize("tag", TRANSLATED)
def test_a_plural_form_may_leave_out_its_number_only_where_it_is_used_for_one_alone(tag):
    catalogue = _catalogue(tag)
    translations = phrases_for(tag)._t
    for message in catalogue:
        if not message.id or not message.pluralizable:
            continue
        for index, text in enumerate(message.string):
            if "count" in placeholders(message.id[0]) and "count" not in placeholders(text):
                used_for = {n for n in range(0, 1001) if _form(translations, message, n) == index}
                assert used_for == {1}, (message.id, index, sorted(used_for)[:5])


def _form(translations, message, n):
    return translations.plural(n)


@pytest.mark.parametrize("tag", TRANSLATED)
def test_each_plural_rule_agrees_with_the_language_for_every_number_said(tag):
    translations = phrases_for(tag)._t
    locale = Locale.parse(tag, sep="-")
    for n in range(1, 1001):
        assert (translations.plural(n) == 0) == (locale.plural_form(n) == "one"), n


def test_a_broken_message_in_a_catalogue_is_said_in_english_and_named():
    assert message_problem("{time} left.", "Noch {zeit}.") == "unknown placeholder {zeit}"
    assert message_problem("Round {number} of {total}.", "Runde {number}.") == "placeholder {total} is missing"
    assert "is not one this message has" in message_problem("{count} hour", "{count:plural} Stunde")
    assert message_problem(("{count} hour", "{count} hours"), ("eine Stunde", "{count} Stunden")) is None


def test_a_catalogue_cannot_reach_into_the_values():
    with pytest.raises(ValueError):
        phrases.fill("{count.__class__}", {"count": "one"})


# --- numbers and lengths of time as words --------------------------------------------------------------------

SECONDS_SAID = sorted(set(range(0, 3601)) | set(range(3601, LONGEST + 1, 59)) | {LONGEST - 1, LONGEST})


@pytest.mark.parametrize("tag", LANGUAGES)
def test_every_length_a_cue_can_say_is_words_without_a_digit(tag):
    say = phrases_for(tag)
    for seconds in SECONDS_SAID:
        for text in (say.duration(seconds), say.remaining(seconds), say.may_stop(seconds)):
            assert not re.search(r"\d", text), (seconds, text)
    for seconds in range(0, LONGEST + 1, 10):
        assert not re.search(r"\d", say.about_length(seconds)), seconds
    for total in range(1, 101):
        for number in range(1, total + 1):
            assert not re.search(r"\d", say.round(number, total))
    for number in range(1, 11):
        assert not re.search(r"\d", say.countdown(number))
        assert not re.search(r"\d", say.side(str(number), first=number == 1))


@pytest.mark.parametrize("tag, seconds, words", [
    ("de", 1, "eine Sekunde"), ("de", 21, "einundzwanzig Sekunden"), ("de", 90, "eine Minute und dreißig Sekunden"),
    ("de", 3661, "eine Stunde, eine Minute und eine Sekunde"),
    ("fr", 1, "une seconde"), ("fr", 21, "vingt et une secondes"), ("fr", 81 * 60, "une heure vingt et une minutes"),
    ("fr", 90, "une minute trente secondes"),
    ("es", 1, "un segundo"), ("es", 21, "veintiún segundos"), ("es", 31 * 60, "treinta y un minutos"),
    ("es", 3600, "una hora"), ("es", 7200 + 41, "dos horas y cuarenta y un segundos"),
    ("it", 1, "un secondo"), ("it", 21 * 60, "ventun minuti"), ("it", 3600, "un'ora"), ("it", 7200, "due ore"),
    ("nl", 1, "één seconde"), ("nl", 90, "één minuut en dertig seconden"), ("nl", 7200, "twee uur"),
    ("pt", 1, "um segundo"), ("pt", 3600, "uma hora"), ("pt", 7200 + 22 * 60, "duas horas e vinte e dois minutos"),
    ("pt", 16, "dezasseis segundos"),
    ("en", 90, "one minute thirty seconds"), ("en", 3725, "one hour two minutes five seconds"),
])
def test_numbers_agree_with_their_unit_in_each_language(tag, seconds, words):
    assert phrases_for(tag).duration(seconds) == words


def test_brazilian_portuguese_counts_as_brazil_does():
    assert choose("pt-BR").phrases.duration(16) == "dezesseis segundos"
    assert choose("pt-PT").phrases.duration(16) == "dezasseis segundos"


@pytest.mark.parametrize("tag, seconds, words", [
    ("de", 5400, "etwa eineinhalb Stunden"), ("de", 9000, "etwa zweieinhalb Stunden"),
    ("fr", 5400, "environ une heure et demie"), ("es", 3600 + 900, "alrededor de una hora y cuarto"),
    ("it", 3600, "circa un'ora"), ("nl", 5400, "ongeveer anderhalf uur"), ("pt", 7200, "cerca de duas horas"),
    ("es", 21 * 60, "unos veintiún minutos"),
])
def test_the_routine_length_reads_naturally(tag, seconds, words):
    assert phrases_for(tag).about_length(seconds) == words


@pytest.mark.parametrize("tag, seconds, words", [
    ("es", 60, "Queda un minuto."), ("es", 61, "Quedan un minuto y un segundo."), ("es", 120, "Quedan dos minutos."),
    ("it", 1, "Manca un secondo."), ("it", 30, "Mancano trenta secondi."), ("pt", 3600, "Falta uma hora."),
    ("de", 30, "Noch dreißig Sekunden."), ("fr", 60, "Il reste une minute."), ("nl", 30, "Nog dertig seconden."),
])
def test_the_time_left_agrees_with_its_verb(tag, seconds, words):
    assert phrases_for(tag).remaining(seconds) == words


# --- routines in other languages -----------------------------------------------------------------------------

TOOL_ROLES = (INTRO, ANNOUNCEMENT, CUE, CLOSING)


def _tool_words(routine: Routine, timeline) -> list[str]:
    """The words of every line the tool added (the routine's own title and side names taken out)."""
    own = sorted({routine.title, *_side_names(routine.steps)}, key=len, reverse=True)
    words = []
    for event in timeline.events:
        if event.kind == SPEECH and event.role in TOOL_ROLES:
            text = event.text
            for name in own:
                text = text.replace(name, " ")
            words.extend(re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower()))
    return words


def _side_names(steps):
    for step in steps:
        if isinstance(step, Sides):
            yield from step.sides
        if hasattr(step, "steps"):
            yield from _side_names(step.steps)


def _english_vocabulary() -> set[str]:
    words = set()
    for message in _template():
        if message.id:
            for text in (message.id if isinstance(message.id, tuple) else (message.id,)):
                words.update(re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower()))
    for n in range(0, 101):
        words.update(re.findall(r"[^\W\d_]+", num2words(n, lang="en")))
    return words - {"none"}


# Words spelled the same in English and in the language: they are that language's own words here.
SAME_SPELLING = {"de": {"minute", "an"}, "es": set()}  # "wund an": a German verb's particle


@pytest.mark.parametrize("tag", ["de", "es"])
def test_a_routine_in_german_or_spanish_has_no_english_word_the_tool_added(tag):
    routine = loads((DATA / f"{tag}.yaml").read_text(encoding="utf-8"), path=f"{tag}.yaml")
    timeline = compiler.compile(routine, spoken_length)
    assert timeline.language == tag and not timeline.warnings
    words = _tool_words(routine, timeline)
    assert len(words) > 150  # every kind of phrase is there: introduction, sides, rounds, cues, countdown, end
    english = _english_vocabulary() - SAME_SPELLING[tag]
    assert sorted(set(words) & english) == []
    roles = {e.role for e in timeline.events if e.kind == SPEECH}
    assert {INTRO, ANNOUNCEMENT, CUE, CLOSING, INSTRUCTION} <= roles
    assert not any(re.search(r"\d", e.text) for e in timeline.events if e.kind == SPEECH)


def test_the_same_routine_in_english_would_have_said_those_words():
    """The check above can fail: English phrases in a German routine are caught."""
    routine = loads((DATA / "de.yaml").read_text(encoding="utf-8").replace("language: de", "language: en"))
    words = set(_tool_words(routine, compiler.compile(routine, spoken_length)))
    assert len(words & _english_vocabulary()) > 30


@pytest.mark.parametrize("tag", LANGUAGES)
def test_the_default_reminders_are_the_last_words_in_every_language(tag):
    routine = Routine("Test", (Say("Press.", hold=Hold(30, 40), cues=Cues(every=10, countdown=3)),), language=tag)
    timeline = compiler.compile(routine, spoken_length)
    spoken = [e for e in timeline.events if e.kind == SPEECH]
    reminders = phrases_for(tag).reminders()
    assert [e.text for e in spoken[-len(reminders):]] == list(reminders)
    assert all(e.role == CLOSING for e in spoken[-len(reminders) - 1:])
    assert timeline.events[-1].kind == "silence" and timeline.events[-2].text == reminders[-1]
    if tag != "en":
        assert set(reminders).isdisjoint(phrases_for("en").reminders())


def test_reworded_reminders_stay_as_the_routine_words_them_in_any_language():
    routine = Routine("Test", (Say("Drücken."),), language="de", reminders=("Bei Schmerzen aufhören.",))
    timeline = compiler.compile(routine, spoken_length)
    assert [e.text for e in timeline.events if e.role == CLOSING and e.kind == SPEECH] == [
        "Die Übung ist zu Ende.", "Bei Schmerzen aufhören."]


# --- which language ------------------------------------------------------------------------------------------


def test_a_language_without_a_catalogue_falls_back_to_english_with_one_warning_naming_the_languages():
    routine = Routine("Test", (Say("Press.", hold=Hold(60, 60), cues=Cues(every=20)),), language="sw",
                      source="swahili.yaml")
    timeline = compiler.compile(routine, spoken_length)
    assert timeline.language == "en"
    assert len(timeline.warnings) == 1
    warning = timeline.warnings[0]
    assert warning.startswith("swahili.yaml: language 'sw' has no catalogue; the tool's phrases are said in English")
    assert all(tag in warning for tag in ("de", "en", "es", "fr", "it", "nl", "pt"))
    assert "Forty seconds left." in [e.text for e in timeline.events]


def test_without_a_language_the_voice_decides_and_without_either_english():
    routine = Routine("Test", (Say("Press."),))
    german_voice = compiler.compile(routine, spoken_length, voice=Voice(voice="gmw/de", language="de"))
    assert german_voice.language == "de" and "Die Übung ist zu Ende." in [e.text for e in german_voice.events]
    assert compiler.compile(routine, spoken_length).language == "en"
    assert compiler.compile(routine, spoken_length, voice=Voice(language="pt-br")).events[-2].text == (
        phrases_for("pt").reminders()[-1])


def test_a_voice_of_another_language_than_the_routine_is_warned_about():
    routine = Routine("Test", (Say("Drücken."),), language="de", source="de.yaml")
    timeline = compiler.compile(routine, spoken_length, voice=Voice(voice="gmw/en-us", language="en-us"))
    assert timeline.warnings == ("de.yaml: the routine's language is 'de' but its voice speaks 'en-us'; choose a "
                                 "voice for 'de' (see `voice-guide voices`)",)
    same = compiler.compile(routine, spoken_length, voice=Voice(voice="gmw/de", language="de"))
    assert not same.warnings


@pytest.mark.parametrize("written, tag", [("de", "de"), ("pt_br", "pt-BR"), ("ES-419", "es-419"),
                                          ("zh-hant-tw", "zh-Hant-TW")])
def test_the_language_tag_is_read_in_its_usual_spelling(written, tag):
    routine = loads(f"title: T\nlanguage: {written}\nsteps:\n  - say: Hallo.\n")
    assert routine.language == tag


def test_a_regional_tag_uses_its_language_catalogue():
    assert choose("de-AT").phrases.language == "de" and not choose("de-AT").warnings
    assert choose("es-419").phrases.halfway() == "Vas por la mitad."


# --- sides, countdown and the end of a hold (issue #10, items 12 and 14) ------------------------------------


@pytest.mark.parametrize("sides, said", [
    (("left foot", "right foot"), ["Start with your left foot.", "Now your right foot."]),
    (("left", "right"), ["Start with the left side.", "Now the right side."]),
    (("1", "2", "3"), ["Start with side one.", "Now side two.", "Now side three."]),
    (("the left hand", "both hands"), ["Start with the left hand.", "Now both hands."]),
    (("A", "b"), ["Start with side A.", "Now side B."]),  # a letter, not the article "a"
    (("first", "second"), ["Start with the first side.", "Now the second side."]),
    (("one", "Two"), ["Start with side one.", "Now side two."]),  # numbers in words, not "your one"
])
def test_sides_are_announced_naturally_whatever_their_names(sides, said):
    timeline = compiler.compile(Routine("T", (Sides(sides, (Say("Press."),)),)), spoken_length)
    assert [e.text for e in timeline.events if e.role == ANNOUNCEMENT] == said


@pytest.mark.parametrize("tag, sides, said", [
    ("de", ("links", "rechts"), ["Zuerst links.", "Jetzt rechts."]),
    ("fr", ("gauche", "droite"), ["Commencez à gauche.", "Maintenant, à droite."]),
    ("es", ("1", "2"), ["Empieza por el lado uno.", "Ahora, el lado dos."]),
    ("de", ("eins", "zwei"), ["Zuerst Seite eins.", "Jetzt Seite zwei."]),
    ("it", ("il piede sinistro", "il piede destro"), ["Inizia con il piede sinistro.", "Ora il piede destro."]),
])
def test_sides_are_announced_naturally_in_other_languages(tag, sides, said):
    timeline = compiler.compile(Routine("T", (Sides(sides, (Say("x"),)),), language=tag), spoken_length)
    assert [e.text for e in timeline.events if e.role == ANNOUNCEMENT] == said


def _instruction(timeline):
    return next(e for e in timeline.events if e.role == INSTRUCTION and e.kind == SPEECH)


def _cues(timeline):
    return [(e.start, e.text) for e in timeline.events if e.kind == SPEECH and e.role == CUE]


def test_a_countdown_says_the_last_seconds_of_a_hold_one_a_second_and_ends_with_the_hold():
    step = Say("Press.", hold=Hold(30, 30), cues=Cues(every=5, countdown=5))
    timeline = compiler.compile(Routine("T", (step,), hold_end="none"), spoken_length)
    start = _instruction(timeline).end
    cues = _cues(timeline)
    assert [text for _, text in cues[-5:]] == ["Five.", "Four.", "Three.", "Two.", "One."]
    assert [(at - start) / SAMPLE_RATE for at, _ in cues[-5:]] == [25.0, 26.0, 27.0, 28.0, 29.0]
    assert "Five seconds left." not in [text for _, text in cues]  # the countdown says that part
    assert "Ten seconds left." in [text for _, text in cues]
    assert all(e.kind != SPEECH for e in timeline.events if start + 30 * SAMPLE_RATE - 1 <= e.start < start + 30 * SAMPLE_RATE)


def test_a_countdown_in_a_hold_under_twenty_seconds_is_left_out():
    step = Say("Press.", hold=Hold(15, 15), cues=Cues(countdown=3), line=4)
    timeline = compiler.compile(Routine("T", (step,), source="r.yaml"), spoken_length)
    assert _cues(timeline) == []  # the loader warns, at the 'countdown' (tests/test_loader.py)


@pytest.mark.parametrize("tag", LANGUAGES)
def test_the_countdown_and_the_release_cue_are_said_in_the_routine_language(tag):
    step = Say("x", hold=Hold(25, 25), cues=Cues(countdown=2))
    timeline = compiler.compile(Routine("T", (step,), language=tag, hold_end="words"), spoken_length)
    say = phrases_for(tag)
    assert [text for _, text in _cues(timeline)] == [say.countdown(2), say.countdown(1), say.release()]
    assert say.countdown(1)[0].isupper() and say.release()[0].isupper()
    if tag != "en":
        assert say.release() != "And release." and say.countdown(3) != "Three."


def test_the_end_of_a_hold_is_marked_as_the_routine_asks():
    step = Say("Press.", hold=Hold(25, 25))

    def ends(hold_end, chime):
        timeline = compiler.compile(Routine("T", (step, Say("Next.")), chime=chime, hold_end=hold_end),
                                    spoken_length)
        at = _instruction(timeline).end + 25 * SAMPLE_RATE
        return [(e.kind, e.text) for e in timeline.events if e.start == at and e.kind != "silence"]

    assert ends("auto", True) == [(CHIME, None)]  # the next step's chime
    assert ends("auto", False) == [(CHIME, None)]  # a tone, though steps have no chime
    assert ends("words", False) == [(SPEECH, "And release.")]
    assert ends("words", True) == [(SPEECH, "And release.")]
    assert ends("tone", True) == [(CHIME, None)]
    assert ends("none", False) == [(SPEECH, "Next.")]


def test_a_sentence_starts_with_the_capitals_its_language_writes():
    assert phrases_for("nl").countdown(1) == "Eén."  # not "Één."
    assert phrases_for("de").countdown(1) == "Eins." and phrases_for("en").countdown(1) == "One."


@pytest.mark.parametrize("tag, said", [
    ("en", "Picking up with your right foot."),
    ("de", "Weiter: right foot."),
    ("es", "Seguimos: right foot."),
])
def test_starting_inside_a_block_says_where_in_the_routine_language(tag, said):
    from voice_guide.routine import Repeat

    block = Sides(("left foot", "right foot"), (Repeat(2, (Say("Press."),)),))
    steps = compiler.outline(Routine("T", (block,), language=tag))
    assert steps[3].orientation == said  # its round is announced anyway ("Round two of two.")
    inner = compiler.outline(Routine("T", (Repeat(2, (block,)),), language=tag))
    assert inner[1].orientation == phrases_for(tag).picking_up(
        [phrases_for(tag).round_in_sentence(1, 2), phrases_for(tag).side_in_sentence("left foot")])


def test_english_messages_are_their_ids_as_gettexts_null_translations_give_them():
    import gettext

    from voice_guide.phrases import _MessageIds

    null, ids = gettext.NullTranslations(), _MessageIds()
    assert ids.gettext("Halfway.") == null.gettext("Halfway.")
    assert ids.pgettext("shown", "Closing") == null.pgettext("shown", "Closing")
    for n in (0, 1, 2, 21):
        assert ids.ngettext("{count} minute", "{count} minutes", n) == null.ngettext("{count} minute", "{count} minutes", n)
