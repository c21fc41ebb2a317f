"""What the tool itself says, in one language: the introduction, cues, announcements, the end, the reminders.

Every phrase comes from a gettext message catalogue: the English text is the message id (the template is
`locale/messages.pot`), and each other language is one file `locale/<tag>.po` (`de.po`, `pt-BR.po`), read with
Babel at the first use. Plurals follow each catalogue's `Plural-Forms` rule; numbers are words made by
num2words in the routine's language. Number words agree with their noun through a placeholder's format spec:
`{count:feminine}` and `{count:masculine}` apply the catalogue's own rewrite rules ("un=une" in French), so
"vingt et une secondes" and "veintiún minutos" need no code. Adding a language is adding one file.

Pure apart from reading the package's own catalogue files once (cached).
"""

from __future__ import annotations

import re
import string
from collections import namedtuple
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from . import numberwords

TYPE_CHECKING = False  # `typing` is not imported on the path to the first sound (see checkmemo)
if TYPE_CHECKING:
    import gettext

DEFAULT_LANGUAGE = "en"  # the language of the message ids: no catalogue file needed
GENDERS = ("feminine", "masculine")

# Compiled at its first use (re's own cache keeps it): most routines name no language.
_TAG = r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-[A-Za-z0-9]{1,8})*"
_SPELLED_SIDES = 12  # sides named "one" .. "twelve" (in the phrase language) are numbers, said "side one"
_NOTHING = "none"  # the message id of rule lists that are empty in English
# The catalogues, beside this module: the package is installed as files, never zipped (importlib.resources
# would cost more to import than the rest of this module; it is on the path to the first sound).
LOCALE = Path(__file__).with_name("locale")


def normalized_tag(tag: str) -> str | None:
    """A BCP 47 language tag in its usual case ('PT_br' -> 'pt-BR'), or None if it is not one.

    >>> normalized_tag("pt_br"), normalized_tag("es-419"), normalized_tag("German")
    ('pt-BR', 'es-419', None)
    """
    tag = tag.strip().replace("_", "-")
    if not re.fullmatch(_TAG, tag):
        return None
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha() and len(out) == 1:
            out.append(part.title())  # a script: Latn
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            out.append(part.upper())  # a region: BR, 419
        else:
            out.append(part.lower())
    return "-".join(out)


def primary(tag: str) -> str:
    """The language without script or region: 'pt-BR' -> 'pt'."""
    return tag.split("-", 1)[0].lower()


def available_languages() -> tuple[str, ...]:
    """The tags of every catalogue, English included, sorted.

    >>> {"en", "de", "es"} <= set(available_languages())
    True
    """
    return tuple(sorted({DEFAULT_LANGUAGE, *_catalogue_files()}))


def tag_named(name: str) -> str | None:
    """The tag of a catalogue language written as its name, in English or in itself ('German', 'Deutsch').

    >>> tag_named("german"), tag_named("Español"), tag_named("Klingon")
    ('de', 'es', None)
    """
    from babel import Locale

    wanted = name.strip().lower()
    for tag in available_languages():
        locale = Locale.parse(tag, sep="-")
        if wanted in {(locale.get_display_name("en") or "").lower(), (locale.get_display_name() or "").lower(),
                      (locale.get_language_name("en") or "").lower(), (locale.get_language_name() or "").lower()}:
            return tag
    return None


def catalogue_for(tag: str) -> str | None:
    """The catalogue that speaks `tag`: the longest of its prefixes that has one ('pt-BR' -> 'pt'), or None.

    >>> catalogue_for("de-AT"), catalogue_for("xx")
    ('de', None)
    """
    files = {name.lower(): name for name in available_languages()}
    parts = tag.split("-")
    while parts:
        found = files.get("-".join(parts).lower())
        if found:
            return found
        parts.pop()
    return None


class Choice(namedtuple("Choice", ("phrases", "warnings"), defaults=((),))):
    """The `phrases` for a routine (Phrases), and what the user should hear about how its language was chosen
    (`warnings`, a tuple of messages). A named tuple, immutable: the opening check makes one before the first
    sound, and its class costs an eighth of a frozen dataclass's to make."""

    __slots__ = ()


def choose(language: str | None, voice_language: str | None = None) -> Choice:
    """The phrases for a routine's `language:` (or, without one, its voice's language; else English).

    A language without a catalogue gets English phrases and one warning naming the languages there are (and no
    other: the voice then speaks the phrases' language); a voice whose language is not the routine's gets a
    warning too.

    >>> choose("de").phrases.halfway()
    'Halbzeit.'
    >>> choose(None, "en-us").phrases.language
    'en'
    >>> choose("xx").warnings[0].startswith("language 'xx' has no catalogue; the tool's phrases are said in English")
    True
    """
    warnings: list[str] = []
    wanted = language or voice_language or DEFAULT_LANGUAGE
    found = catalogue_for(wanted)
    if found is None:
        available = ", ".join(available_languages())
        warnings.append(f"language {wanted!r} has no catalogue; the tool's phrases are said in English "
                        f"(available: {available})")
        found, wanted = DEFAULT_LANGUAGE, DEFAULT_LANGUAGE
    elif language and voice_language and primary(language) != primary(voice_language):
        warnings.append(f"the routine's language is {language!r} but its voice speaks {voice_language!r}; "
                        f"choose a voice for {language!r} (see `voice-guide voices`)")
    phrases = phrases_for(found, wanted)
    return Choice(phrases, tuple(warnings) + phrases.problems)


@lru_cache(maxsize=32)
def phrases_for(catalogue: str, language: str | None = None) -> "Phrases":
    """The phrases of one catalogue (a tag from `available_languages()`); numbers in `language` if num2words
    knows that variant ('pt-BR' numbers with the 'pt' catalogue)."""
    if catalogue == DEFAULT_LANGUAGE:
        translations: "gettext.NullTranslations | _MessageIds" = _MessageIds()
        problems: tuple[str, ...] = ()
    else:
        translations, problems = _read_catalogue(catalogue)
    tag = language or catalogue
    return Phrases(catalogue, translations, _number_language(tag, catalogue), problems, tag)


class Phrases:
    """Every phrase the tool adds, in one language. Each method returns what is said, a whole sentence where
    the phrase stands alone."""

    def __init__(self, language: str, translations: "gettext.NullTranslations | _MessageIds", numbers: str,
                 problems: tuple[str, ...] = (), tag: str | None = None):
        self.language = language  # the catalogue's tag
        self.tag = tag or language  # the language said, as the routine asked for it ('pt-BR' with 'pt')
        self.problems = problems  # messages of the catalogue left out (said in English), for warnings
        self._t = translations
        self._numbers = numbers  # num2words' name of the language
        self._rules = {
            # TRANSLATORS: how a number's words change before a feminine noun, as suffix=replacement pairs
            # applied to each word num2words says ("un=une": "vingt et une secondes"); "none" if they never do.
            # A message uses them as {count:feminine}.
            "feminine": _rules(self._p("number words before a feminine noun", "none")),
            # TRANSLATORS: the same before a masculine noun, used as {count:masculine} ("iuno=iún uno=un":
            # "veintiún minutos"); "none" if they never change.
            "masculine": _rules(self._p("number words before a masculine noun", "none")),
        }
        # TRANSLATORS: words (lower case, separated by spaces) that begin a side's name as its own article or
        # possessive ("the left hand"); such a side is announced with the "a side whose name has its article"
        # messages.
        articles = self._p("words that begin a side's name as its article", "the your my a an each both")
        # TRANSLATORS: one-word side names that need a noun after them ("left"); such a side is announced
        # with the "a side named by a direction" messages.
        directions = self._p("words that name a side on their own",
                             "left right front back top bottom upper lower inner outer near far first second third last")
        # TRANSLATORS: where a sentence's first letters are not simply the first letter as a capital, as
        # prefix=capitals pairs ("éé=Eé ij=IJ" in Dutch: "Eén.", "IJs"); "none" where that never happens.
        self._capitals = _rules(self._p("capital letters at the start of a sentence", "none"))
        self._articles = set(articles.lower().split())
        self._directions = set(directions.lower().split())

    # -- the opening and the closing --

    def introduction(self, title: str, seconds: float) -> str:
        """'Arch self-massage. This routine takes about eight minutes.'"""
        title = title.strip()
        title = title if title[-1:] in ".!?" else f"{title}."
        # TRANSLATORS: said after the routine's title; {length} is one of the "about ..." messages.
        length = self._say(self._("This routine takes {length}."), length=self.about_length(seconds))
        return f"{title} {length}"

    def ending(self) -> str:
        return self._say(self._("That's the end of the routine."))

    def reminders(self) -> tuple[str, ...]:
        """The closing safety reminders a routine gets unless it words its own."""
        return (self._say(self._("If you feel any sharp pain, stop right away.")),
                self._say(self._("Afterward, ice your foot for a few minutes if it feels sore.")))

    # -- blocks --

    def round(self, number: int, total: int) -> str:
        """'Round two of three.'"""
        return self._say(self._("Round {number} of {total}."), number=self._count(number), total=self._count(total))

    def round_label(self, number: int, total: int) -> str:
        """Where an instruction is, shown (chapters, the live view): 'round 2 of 3'."""
        # TRANSLATORS: shown, not said (chapter titles, the live view); the numbers are digits.
        return self._fill(self._p("label", "round {number} of {total}"), number=str(number), total=str(total))

    def side(self, name: str, first: bool) -> str:
        """'Start with your left foot.', 'Now the right side.', 'Now side two.', 'Now side B.'"""
        words = name.split()
        number = self._side_number(name)
        if number is not None:
            text = self._("Start with side {number}.") if first else self._("Now side {number}.")
            return self._say(text, number=number)
        if len(words) == 1 and words[0].lower() in self._directions:
            text = (self._p("a side named by a direction", "Start with the {side} side.") if first
                    else self._p("a side named by a direction", "Now the {side} side."))
        elif len(words) > 1 and words[0].lower() in self._articles:
            text = (self._p("a side whose name has its article", "Start with {side}.") if first
                    else self._p("a side whose name has its article", "Now {side}."))
        else:
            text = self._("Start with your {side}.") if first else self._("Now your {side}.")
        return self._say(text, side=name)

    def round_in_sentence(self, number: int, total: int) -> str:
        """A round as named inside a sentence: 'round two of three'."""
        # TRANSLATORS: a round named inside a sentence, as in "Picking up with your left foot, round two of three."
        return self._fill(self._p("in a sentence", "round {number} of {total}"), number=self._count(number),
                          total=self._count(total))

    def side_in_sentence(self, name: str) -> str:
        """A side as named inside a sentence: 'your left foot', 'the left side', 'side two'."""
        words = name.split()
        number = self._side_number(name)
        if number is not None:
            # TRANSLATORS: a side named by a number inside a sentence, as in "Picking up with side two."
            return self._fill(self._p("in a sentence", "side {number}"), number=number)
        if len(words) == 1 and words[0].lower() in self._directions:
            return self._fill(self._p("in a sentence, a side named by a direction", "the {side} side"), side=name)
        if len(words) > 1 and words[0].lower() in self._articles:
            return self._fill(self._p("in a sentence, a side whose name has its article", "{side}"), side=name)
        return self._fill(self._p("in a sentence", "your {side}"), side=name)

    def _side_number(self, name: str) -> str | None:
        """A side named by a number ('2' or 'two': its words) or a single letter ('B'), said as 'side two',
        'side B'."""
        name = name.strip()
        if name.isdigit():
            return self._count(int(name))
        spelled = next((n for n in range(1, _SPELLED_SIDES + 1)
                        if _number_words(n, self._numbers).lower() == name.lower()), None)
        if spelled is not None:
            return self._count(spelled)
        return name.upper() if len(name) == 1 and name.isalpha() else None

    def picking_up(self, where: tuple[str, ...] | list[str]) -> str:
        """Said when playing starts inside a block: 'Picking up with your right foot, round two of three.'"""
        # TRANSLATORS: {where} is the sides and rounds named inside a sentence, joined with commas.
        return self._say(self._("Picking up with {where}."), where=", ".join(where))

    # -- shown, not said: the live view and the chapters, in the language the phrases are said in --

    def shown_introduction(self) -> str:
        """The introduction's chapter title and heading: 'Introduction'."""
        # TRANSLATORS: shown, not said (the live view's headings and lines, chapter titles); the numbers are digits.
        return self._fill(self._p("shown", "Introduction"))

    def shown_closing(self) -> str:
        """The closing's chapter title and heading: 'Closing'."""
        return self._fill(self._p("shown", "Closing"))

    def step_heading(self, number: int, total: int) -> str:
        """'Step 4 of 11'."""
        return self._fill(self._p("shown", "Step {number} of {total}"), number=str(number), total=str(total))

    def getting_ready(self) -> str:
        """The view before the first sound."""
        return self._fill(self._p("shown", "Getting ready"))

    def introducing(self) -> str:
        """The view while the title is said, when the routine has no `about`."""
        return self._fill(self._p("shown", "Listen: the first step comes next"))

    def shown_end(self, reminders: bool = True) -> str:
        """The view in the closing: 'The end, and a few reminders' (or 'The end' without reminders)."""
        if reminders:
            return self._fill(self._p("shown", "The end, and a few reminders"))
        return self._fill(self._p("shown", "The end"))

    def next_is_the_end(self, reminders: bool = True) -> str:
        """What comes after the last step, as the view's "next" says it: 'the closing reminders'."""
        if reminders:
            return self._fill(self._p("shown, what comes next", "the closing reminders"))
        return self._fill(self._p("shown, what comes next", "the end"))

    # -- during a hold --

    def remaining(self, seconds: float) -> str:
        """'One minute thirty seconds left.'"""
        parts = _split(seconds)
        agreement = parts[0][1] if len(parts) == 1 else sum(n for _, n in parts)  # "queda un minuto"/"quedan…"
        # TRANSLATORS: {time} is a length of time in words. The plural form follows what {time} says: the
        # singular only for a single unit of one ("one minute"), so a verb can agree ("Queda un minuto.").
        return self._say(self._n("{time} left.", "{time} left.", agreement), time=self.duration(seconds))

    def halfway(self) -> str:
        return self._say(self._("Halfway."))

    def may_stop(self, seconds_more: float, listening: bool = False) -> str:
        """The cue at a range hold's lower bound; `listening`: the player takes spoken commands, so the cue says
        which one moves on (the English command phrase: the recogniser knows only English)."""
        if listening:
            # TRANSLATORS: as the line after the else, when the player listens for spoken commands; keep "next step" in
            # English: it is the command the listener says, and the recogniser hears only English.
            text = self._("You can stop here: say next step to move on, or keep going for up to {time} more.")
        else:
            # TRANSLATORS: said at the shortest time of a hold with a range (2m-3m); {time} is how much longer
            # the listener may go on.
            text = self._("You can stop here, or keep going for up to {time} more.")
        return self._say(text, time=self.duration(seconds_more))

    def time_left_in_step(self, seconds: float) -> str:
        """What the player answers to the spoken command "how long": 'One minute fifteen seconds left in this step.'"""
        seconds = max(1, round(seconds))
        parts = _split(seconds)
        agreement = parts[0][1] if len(parts) == 1 else sum(n for _, n in parts)
        # TRANSLATORS: the answer to the spoken command "how long"; {time} is a length of time in words, and the
        # plural form follows it as in "{time} left.".
        text = self._n("{time} left in this step.", "{time} left in this step.", agreement)
        return self._say(text, time=self.duration(seconds))

    def countdown(self, number: int) -> str:
        """'Three.' in a hold's last seconds."""
        # TRANSLATORS: one number of the countdown in a hold's last seconds: "Three.", "Two.", "One."
        return self._say(self._p("countdown", "{number}."), number=self._count(number))

    def release(self) -> str:
        """Said as a hold ends, when the routine asks for words there."""
        # TRANSLATORS: said the moment a timed hold ends (let go of the pressure); keep it short.
        return self._say(self._("And release."))

    # -- numbers and lengths of time --

    def number(self, n: int) -> str:
        """A whole number in words, as counted ('twenty-one')."""
        return _number_words(n, self._numbers)

    def duration(self, seconds: float) -> str:
        """A length of time in words, to the second: 'one minute thirty seconds'."""
        said = []
        for unit, n in _split(seconds):
            # TRANSLATORS: a singular form may spell the number itself ("un'ora") instead of using {count}.
            if unit == "hours":
                template = self._n("{count} hour", "{count} hours", n)
            elif unit == "minutes":
                template = self._n("{count} minute", "{count} minutes", n)
            else:
                template = self._n("{count} second", "{count} seconds", n)
            said.append(self._fill(template, count=self._count(n)))
        if len(said) == 1:
            return said[0]
        if len(said) == 2:
            # TRANSLATORS: how the parts of a length of time are joined: "one minute thirty seconds".
            return self._fill(self._p("a length of time", "{first} {second}"), first=said[0], second=said[1])
        return self._fill(self._p("a length of time", "{first} {second} {third}"),
                          first=said[0], second=said[1], third=said[2])

    def about_length(self, seconds: float) -> str:
        """A routine's rough length, as said in its introduction: 'about seven minutes'."""
        if seconds < 50:
            return self._fill(self._("less than a minute"))
        minutes = int(seconds / 60 + 0.5)
        if minutes <= 1:
            return self._fill(self._("about a minute"))
        if minutes < 60:
            return self._fill(self._n("about {count} minute", "about {count} minutes", minutes),
                              count=self._count(minutes))
        hours, rest = divmod(minutes, 60)
        quarter = int(rest / 15 + 0.5) * 15
        if quarter == 60:
            hours, quarter = hours + 1, 0
        if quarter == 0:
            template = self._n("about {count} hour", "about {count} hours", hours)
        elif quarter == 15:
            template = self._n("about {count} and a quarter hours", "about {count} and a quarter hours", hours)
        elif quarter == 30:
            template = self._n("about {count} and a half hours", "about {count} and a half hours", hours)
        else:
            template = self._n("about {count} and three quarters hours", "about {count} and three quarters hours",
                               hours)
        return self._fill(template, count=self._count(hours))

    # -- helpers --

    def _(self, message: str) -> str:
        return self._t.gettext(message)

    def _n(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def _p(self, context: str, message: str) -> str:
        return self._t.pgettext(context, message)

    def _count(self, n: int) -> "_Count":
        return _Count(_number_words(n, self._numbers), self._rules)

    def _fill(self, template: str, **values: object) -> str:
        return fill(template, values)

    def _say(self, template: str, **values: object) -> str:
        """A whole sentence: filled, and starting with a capital letter."""
        text = self._fill(template, **values)
        for start, capitals in self._capitals:
            if text.startswith(start):
                return capitals + text[len(start):]
        return text[:1].upper() + text[1:]


class _MessageIds:
    """English: each message is its id, as gettext.NullTranslations says it (gettext itself is imported only for
    another language's catalogue: English phrases are on the path to the first sound)."""

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural

    def pgettext(self, context: str, message: str) -> str:
        return message


class _Count:
    """A number in words that takes the form of its noun's gender from a placeholder's format spec."""

    def __init__(self, words: str, rules: dict[str, tuple[tuple[str, str], ...]]):
        self.words = words
        self._rules = rules

    def __format__(self, spec: str) -> str:
        if not spec:
            return self.words
        return " ".join(_inflected(word, self._rules[spec]) for word in self.words.split(" "))


def fill(template: str, values: dict[str, object]) -> str:
    """`template` with its `{name}` and `{name:gender}` placeholders filled; nothing else is allowed, so a
    catalogue cannot reach into the values ('{count.__class__}').

    >>> fill("{a} and {b}", {"a": "one", "b": "two"})
    'one and two'
    """
    out = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name not in values or conversion or (spec and spec not in GENDERS):
            raise ValueError(f"placeholder {{{name}{':' + spec if spec else ''}}} is not one this message has")
        out.append(format(values[name], spec) if isinstance(values[name], _Count) else str(values[name]))
    return "".join(out)


def placeholders(template: str) -> set[str]:
    """The names of a message's placeholders; ValueError when it is malformed."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _split(seconds: float) -> list[tuple[str, int]]:
    """(unit, count) pairs of a length rounded to the second: 5430 -> hours 1, minutes 30, seconds 30."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(unit, n) for unit, n in (("hours", hours), ("minutes", minutes)) if n]
    if secs or not parts:
        parts.append(("seconds", secs))
    return parts


def _rules(text: str) -> tuple[tuple[str, str], ...]:
    """'iuno=iún uno=un' -> suffix rewrites, longest first; 'none' -> no rules."""
    if text.strip() == _NOTHING:
        return ()
    pairs = [tuple(item.split("=", 1)) for item in text.split() if "=" in item]
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))  # type: ignore[arg-type]


def _inflected(word: str, rules: tuple[tuple[str, str], ...]) -> str:
    for ending, replacement in rules:
        if word.endswith(ending):
            return word[: len(word) - len(ending)] + replacement
    return word


@lru_cache(maxsize=4096)
def _number_words(n: int, language: str) -> str:
    if n < 0:
        raise ValueError(f"cannot say {n} in words")
    return numberwords.words(n, language)


def _number_language(tag: str, catalogue: str) -> str:
    """num2words' name for `tag` ('pt-BR' -> 'pt_BR'), else for the catalogue's language."""
    for candidate in (tag.replace("-", "_"), primary(tag), catalogue.replace("-", "_"), primary(catalogue)):
        if numberwords.is_language(candidate):
            return candidate
    return DEFAULT_LANGUAGE


def _catalogue_files() -> dict[str, str]:
    return {entry.name[:-3]: entry.name for entry in LOCALE.iterdir() if entry.name.endswith(".po")}


def _read_catalogue(tag: str) -> "tuple[gettext.GNUTranslations, tuple[str, ...]]":
    """One .po file as standard gettext translations; messages whose placeholders do not match their English
    (or that do not parse) are left out, so they are said in English, and named in the problems."""
    import gettext

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    name = f"{tag}.po"
    with (LOCALE / name).open("rb") as file:
        catalog = read_po(file, abort_invalid=False)
    problems = []
    for message in list(catalog):
        if not message.id:
            continue
        bad = message_problem(message.id, message.string)
        if bad:
            problems.append(f"locale/{name}: message {_first(message.id)!r}: {bad}; it is said in English")
            catalog.delete(message.id, message.context)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer), tuple(problems)


def message_problem(msgid: str | tuple, msgstr: str | tuple) -> str | None:
    """What is wrong with one translation (None if nothing): a placeholder it lacks or invents, a bad spec."""
    ids = msgid if isinstance(msgid, (tuple, list)) else (msgid,)
    strings = msgstr if isinstance(msgstr, (tuple, list)) else (msgstr,)
    try:
        wanted = set().union(*(placeholders(i) for i in ids))
        for text in strings:
            if not text:
                continue
            names = placeholders(text)
            if names - wanted:
                return f"unknown placeholder {{{sorted(names - wanted)[0]}}}"
            fill(text, {name: _Count("1", {g: () for g in GENDERS}) for name in wanted})
            lacking = wanted - names - ({"count"} if len(ids) > 1 else set())  # a singular may say "eine Minute"
            if lacking:
                return f"placeholder {{{sorted(lacking)[0]}}} is missing"
    except ValueError as error:
        return str(error)
    return None


def _first(message: str | tuple) -> str:
    return message[0] if isinstance(message, (tuple, list)) else message
