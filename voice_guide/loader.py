"""Reads a routine file (YAML) into a validated `Routine`, or explains everything wrong with it.

The file is composed into PyYAML's node graph rather than Python objects, so every value keeps its line and
column, `1:30` stays the text the person wrote (YAML 1.1 would make it the integer 90), and no tag can build
an object. All problems of a file are collected and raised together as one `RoutineError`; reading problems
(missing file, directory) are a `BadInputError`. No other exception escapes, and every input is bounded in
size, nesting and work.
"""

from __future__ import annotations

import math
import os
import re
import stat
import unicodedata
from pathlib import Path

from .yamlimport import yaml  # PyYAML, without its slowest pattern (see yamlimport)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import bundled
from .durations import is_range, parse_duration, parse_span
from .errors import BadInputError, Problem, RoutineError
from .phrases import normalized_tag, tag_named
from .printable import describe, find_control, printable
from .routine import (
    COUNTDOWN_MIN_HOLD,
    COUNTDOWN_RANGE,
    CUE_MIN_REMAINING,
    ENGINE_NAMES,
    HOLD_ENDS,
    MAX_TOTAL,
    RATE_RANGE,
    REPEAT_RANGE,
    ROUTINE_SUFFIXES,
    VOLUME_RANGE,
    Cues,
    Hold,
    Repeat,
    Routine,
    Say,
    Sides,
    Step,
    Voice,
)
from .timefmt import compact

TYPE_CHECKING = False  # `typing` is not imported on the path to the first sound (see checkmemo)
if TYPE_CHECKING:
    from typing import Callable, TypeVar

    T = TypeVar("T")

# Pure-Python PyYAML needs about 2 microseconds per character and 50 per value here; these bounds keep every
# input under a second with room to spare. The bundled routines are about 3 KB and 300 values.
MAX_BYTES = 128 * 1024
MAX_NODES = 5_000  # values composed
MAX_VISITS = 20_000  # values walked: aliases can make a small file a huge tree ("billion laughs")
MAX_YAML_DEPTH = 64  # nesting of YAML values; PyYAML's composer recurses once per level
MAX_BLOCK_DEPTH = 8  # nesting of repeat/sides blocks
MAX_TEXT = 600  # characters in one spoken line
MAX_PROBLEMS = 200  # enough to fix a file; more is noise (RoutineError shows the first 20)
_CUT_BY_COMMENTS = ("say", "reminder")  # sentences, where '#3' is likely meant
# Texts where '# ...' is usually a comment (the README's example annotates them), but '#2' is cut text.
_CUT_BY_NUMBERS = ("title", "about", "intro", "side")
# "#2", "#1": a number sign, not a comment's "# note". The patterns only warnings and errors use (this one,
# _QUOTE_START, _ESCAPE) are compiled at their first use, re's own cache keeping them: not on every load.
_CONTENT_AFTER_HASH = r"#[^\s#]"
_LIKELY_MINUTES = 10  # a bare-number hold this short, with cues, was probably meant in minutes
_SHORTEST_CUE = 2.0  # seconds: about the shortest remaining-time line ("five seconds left") and a gap

TOP_KEYS = ("title", "about", "language", "intro", "voice", "chime", "hold_end", "steps", "reminders")
VOICE_KEYS = ("engine", "voice", "rate", "volume")
CUE_KEYS = ("every", "halfway", "countdown")
SAY_KEYS = ("say", "pause", "hold", "cues")
REPEAT_KEYS = ("repeat", "steps")
SIDES_KEYS = ("sides", "steps")
STEP_KEYS = ("say", "pause", "hold", "cues", "repeat", "sides", "steps")

_CORE = "tag:yaml.org,2002:"
# Implicit resolution only ever yields these; an explicit tag outside them (!!python/object, !custom) is refused.
_ALLOWED_TAGS = {
    _CORE + name for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge", "value")
}
_INTEGER = re.compile(r"[-+]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
# Patterns of characters beyond ASCII are compiled at their first use (re's own cache keeps them): compiling
# them costs more than loading a routine, and a routine in plain ASCII never needs them.
_SURROGATE = "[\ud800-\udfff]"
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a new line
_EMPTY_HINT = "the file is empty; a routine needs at least `title` and `steps`"


def resolve(routine: str | os.PathLike | None) -> Path:
    """A routine argument as a file: a path, or the name of a bundled routine (None: the default one).

    >>> resolve("arch").name
    'arch.yaml'
    """
    if routine is None:
        return bundled.path(bundled.DEFAULT)
    if is_bundled_name(routine):  # a plain name means the bundled routine, even where a file has that name
        return bundled.path(str(routine))
    candidate = Path(routine)
    if candidate.exists() or os.sep in str(routine) or candidate.suffix in ROUTINE_SUFFIXES:
        return candidate
    raise BadInputError(
        f"{routine}: no such file, and no bundled routine of that name (bundled: {', '.join(bundled.names())})"
    )


def is_bundled_name(routine: str | os.PathLike) -> bool:
    return isinstance(routine, str) and routine in bundled.names()


def load_argument(routine: str | os.PathLike | None = None, *, text: bytes | None = None) -> Routine:
    """The routine a command line names (a file, a bundled name, None: the default), read and validated (`text`:
    that file's bytes, read already); a file of the same name as a bundled routine in this folder gets a
    warning."""
    where = resolve(routine)
    loaded = load(where) if text is None else loads(text, path=os.fsdecode(os.fspath(where)))
    if routine is not None and is_bundled_name(routine) and os.path.lexists(routine):
        note = (f"{routine!r} is the bundled routine; the file {routine!r} in this folder is not used "
                f"(to use it, write ./{routine})")
        loaded = loaded._replace(warnings=(note,) + loaded.warnings)
    return loaded


def inputs(routine: Routine) -> list[Path]:
    """The files a run reads (the routine's own), which it must never write over."""
    return [Path(routine.source)] if routine.source and not routine.source.startswith("<") else []


def load(path: str | os.PathLike) -> Routine:
    """Reads and validates the routine file at `path`.

    Raises BadInputError when the file cannot be read, RoutineError (listing every problem) when it is wrong.

    >>> load("voice_guide/routines/arch.yaml").title  # doctest: +SKIP
    'Arch self-massage'
    """
    name = os.fsdecode(os.fspath(path))
    shown = printable(name)
    try:
        # Non-blocking, so a named pipe with no writer is refused at once instead of waiting for one.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except ValueError as error:  # an embedded NUL byte in the name
        raise BadInputError(f"{name!r}: not a usable file name ({error})") from None
    except FileNotFoundError:
        raise BadInputError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise BadInputError(f"{shown}: is a directory, not a routine file") from None
    except PermissionError:
        raise BadInputError(f"{shown}: permission denied; cannot read it") from None
    except OSError as error:
        raise BadInputError(f"{shown}: cannot read it ({error.strerror or error})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise BadInputError(f"{shown}: is a directory, not a routine file")
        if not stat.S_ISREG(mode):
            raise BadInputError(f"{shown}: is {_special_kind(mode)}, not a routine file; give a regular file")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as error:
        raise BadInputError(f"{shown}: cannot read it ({error.strerror or error})") from None
    finally:
        os.close(descriptor)
    return loads(data, path=name)


def loads(text: str | bytes, path: str = "<string>") -> Routine:
    """Validates a routine given as text (or UTF-8 bytes); `path` names it in messages.

    >>> loads("title: Quick\\nsteps:\\n  - say: Breathe.\\n    hold: 30s\\n").steps[0].hold
    Hold(minimum=30.0, maximum=30.0)
    >>> loads("title: Quick\\nsteps: []\\n", path="quick.yaml")
    Traceback (most recent call last):
    voice_guide.errors.RoutineError: quick.yaml:2:8: 'steps' is empty; add at least one step, like '- say: ...'
    """
    text = _decoded(text, path)
    spacing = _odd_spacing(text) + _lookalike_marks(text)
    if spacing:
        raise RoutineError(path, spacing)
    root = _compose(text, path)
    checker = _Checker(source=text)
    try:
        routine = checker.routine(root, path)
    except _Stop:
        routine = None
    if checker.problems or routine is None:
        raise RoutineError(path, list(dict.fromkeys(checker.problems)))
    warnings = sorted(dict.fromkeys(checker.warnings), key=lambda p: (p.line, p.column))
    return routine._replace(warnings=tuple(problem.located(path) for problem in warnings))


# ---- bytes to text -------------------------------------------------------------------------------------------


def _decoded(text: str | bytes, path: str) -> str:
    """The file's text without a BOM, or RoutineError for oversized or non-UTF-8 input."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
        _check_size(len(data), path)
        wide = _wide_encoding(data)
        if wide:
            raise RoutineError(path, [Problem(1, 1, f"the file is {wide} text; save it as UTF-8")])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            # The bytes before the first bad one are valid, so the position can be counted in characters.
            before = data[: error.start].decode("utf-8")
            line, column = _position(before, len(before))
            bad = data[error.start]
            message = f"the file is not UTF-8 text (byte 0x{bad:02x} here); save it as UTF-8"
            raise RoutineError(path, [Problem(line, column, message)]) from None
    elif not isinstance(text, str):
        raise TypeError(f"loads() takes str or bytes, not {type(text).__name__}")
    _check_size(len(text), path)
    return text[1:] if text.startswith("\ufeff") else text


def _wide_encoding(data: bytes) -> str | None:
    """'UTF-32' or 'UTF-16' when the bytes are in one of those (by their byte-order mark, or the zero bytes
    that ASCII text has in them), else None."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    head = data[:4]
    if len(head) == 4 and (head[1:] == b"\x00\x00\x00" or head[:3] == b"\x00\x00\x00"):
        return "UTF-32"
    if len(head) >= 2 and head[:2].count(0) == 1 and head[2:4].count(0) == (1 if len(head) == 4 else 0):
        return "UTF-16"
    return None


def _special_kind(mode: int) -> str:
    """What a file that is not a regular file is, for messages."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check_size(size: int, path: str) -> None:
    if size > MAX_BYTES:
        message = f"the file is over {MAX_BYTES // 1024} KB; a routine file must be smaller (a few KB is usual)"
        raise RoutineError(path, [Problem(0, 0, message)])


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of `index` in `text`, counting line breaks the way PyYAML does."""
    line_start, line = 0, 1
    for match in _LINE_BREAK.finditer(text, 0, index):
        line += 1
        line_start = match.end()
    return line, index - line_start + 1


# Spaces that look like spaces but are not YAML's: pasted from a word processor or a web page.
_ODD_SPACE = "\u00a0\u1680\u2000-\u200b\u202f\u205f\u2060\u3000\ufeff"
_INDENT = f"(?:[ \t{_ODD_SPACE}]|-(?=[ \t{_ODD_SPACE}]))*"  # spaces, and the '- ' of list items
_ODD = f"[{_ODD_SPACE}]"
_AFTER_INDICATOR = f"[ \t]*(?:-[ \t]+)*(-|[^\\s#'\"{_ODD_SPACE}][^:#{_ODD_SPACE}]*:)(?=[{_ODD_SPACE}])"


def _odd_spacing(text: str) -> list[Problem]:
    """A problem for each odd space (U+00A0 and the like) where YAML needs a plain one: in the indentation,
    or right after a '-' or a 'key:'. YAML reads them as text, so the file's shape changes silently."""
    problems: list[Problem] = []
    if text.isascii():  # none of them is
        return problems
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not re.search(_ODD, line):
            continue
        after = re.match(_AFTER_INDICATOR, line)
        if after:
            message = f"{_space_name(line[after.end()])} follows {after.group(1)!r}; YAML needs a plain space there"
            problems.append(Problem(number, after.end() + 1, message))
            continue
        indent = re.match(_INDENT, line).group()  # type: ignore[union-attr]
        odd = re.search(_ODD, indent)
        if odd:
            message = f"this line is indented with {_space_name(odd.group())}; use plain spaces to indent"
            problems.append(Problem(number, odd.start() + 1, message))
    return problems


# Marks that look like YAML's '-' and ':' but are not (a word processor's dashes, a full-width colon).
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
_COLONS = "\uff1a\u2236\ua789\ufe55"
_LOOKALIKE_ITEM = f"^[ ]*(?:-[ ]+)*([{_DASHES}])[ \t]"
_LOOKALIKE_KEY = f"^[ ]*(?:-[ ]+)*([A-Za-z_]+)([{_COLONS}])"


def _lookalike_marks(text: str) -> list[Problem]:
    """A problem for each line that starts a list item with a dash that is not '-', or a key with a colon
    that is not ':': YAML reads either as text, and the message it would give names the wrong cause."""
    problems: list[Problem] = []
    if text.isascii():  # none of them is
        return problems
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        item, key = re.match(_LOOKALIKE_ITEM, line), re.match(_LOOKALIKE_KEY, line)
        if item:
            problems.append(Problem(number, item.start(1) + 1, f"this line starts with {_space_name(item.group(1))}, "
                                    "not the '-' that starts a list item; type a plain '-'"))
        elif key:
            problems.append(Problem(number, key.start(2) + 1, f"{_space_name(key.group(2))} follows "
                                    f"{key.group(1)!r}; YAML needs a plain ':' after a key"))
    return problems


def _space_name(character: str) -> str:
    """'no-break space (U+00A0)'."""
    name = unicodedata.name(character, "space").lower()
    return ("an " if name[0] in "aeiou" else "a ") + f"{name} (U+{ord(character):04X})"


# ---- text to YAML nodes --------------------------------------------------------------------------------------


class _Limit(Exception):
    """The YAML is too big or too deep to compose; carries the position where the limit was hit."""

    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.problem = Problem(mark.line + 1, mark.column + 1, message)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts composed values and refuses deep nesting (the composer is recursive)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node:
        mark = self.peek_event().start_mark
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Limit(mark, f"the file holds over {MAX_NODES:,} values; a routine is far smaller")
        if self._depth >= MAX_YAML_DEPTH:
            raise _Limit(mark, f"values are nested over {MAX_YAML_DEPTH} levels deep here; flatten the file")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose(text: str, path: str) -> Node | None:
    """The document's root node (None when empty), or RoutineError for YAML syntax errors and limits."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # its reader already refuses control characters
        return loader.get_single_node()
    except _Limit as limit:
        problem = limit.problem
    except yaml.MarkedYAMLError as error:
        problem = _syntax_problem(error, text)
    except yaml.reader.ReaderError as error:
        line, column = _position(text, error.position)
        problem = Problem(line, column, f"character U+{error.character:04X} is not allowed in a YAML file; remove it")
    except yaml.YAMLError as error:  # any other PyYAML error has no position
        problem = Problem(0, 0, f"YAML syntax error: {error}")
    except (ValueError, OverflowError):  # PyYAML's scanner calls chr() on any escape, "\U00110000" or "\UFFFFFFFF"
        mark = loader.get_mark() if loader is not None else None
        message = "an escape in quoted text here names no character (the largest is \\U0010FFFF)"
        problem = Problem(mark.line + 1, mark.column + 1, message) if mark else Problem(0, 0, message)
    except RecursionError:
        problem = Problem(0, 0, "values are nested too deeply; flatten the file")
    finally:
        if loader is not None:
            loader.dispose()
    raise RoutineError(path, [problem])


def _syntax_problem(error: yaml.MarkedYAMLError, text: str) -> Problem:
    """A PyYAML syntax error as a Problem with a plain message (and a hint for the usual mistakes)."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem, context = error.problem or "", error.context or ""
    context_line = error.context_mark.line + 1 if error.context_mark else 0
    early = _early_quote(text, error)
    if early is not None:
        return early
    if "'\\t'" in problem:
        source = _LINE_BREAK.split(text)[line - 1] if line else ""
        if source[: column - 1].strip(" \t") == "":
            return Problem(line, column, "a tab is used to indent; use spaces, not tabs")
        return Problem(line, column, "a tab separates values here; use spaces, not tabs")
    if "expected a single document" in context:
        return Problem(line, column, "a second YAML document starts here ('---'); a routine file holds one")
    if "found duplicate anchor" in context:
        return Problem(line, column, f"anchor '&{_quoted_name(context)}' is defined twice (first at line {context_line})")
    if "found undefined alias" in problem:
        name = _quoted_name(problem)
        return Problem(line, column, f"alias '*{name}' is used, but no '&{name}' before it defines it")
    if problem.startswith("could not find expected ':'") and error.context_mark:
        start = error.context_mark
        key = _shortened(_LINE_BREAK.split(text)[start.line][start.column :])
        return Problem(start.line + 1, start.column + 1, f"{key!r} needs a ':' after it, like 'pause: 5s'")
    if "flow" in context and error.context_mark:
        start = error.context_mark
        comment = re.search(r"\s#", _LINE_BREAK.split(text)[start.line][start.column :])
        if comment:
            closing = "]" if "sequence" in context else "}"
            message = (f"the '#' here starts a comment, even inside '{text[start.index]}...{closing}', so the rest of "
                       f"the line is not read; put text with '#' in quotes")
            return Problem(start.line + 1, start.column + comment.end(), message)
    if "but got '<stream end>'" in problem and "flow" in context and error.context_mark:
        start = error.context_mark
        bracket = "[" if "sequence" in context else "{"
        return Problem(start.line + 1, start.column + 1, f"this '{bracket}' is never closed")
    if problem == "mapping values are not allowed here":
        return Problem(line, column, "unexpected ':' here; put text containing ': ' in quotes, or fix the indentation")
    if "while scanning a quoted scalar" in context and "end of stream" in problem:
        return Problem(error.context_mark.line + 1, error.context_mark.column + 1, "this quote is never closed")
    if problem.startswith("expected <block end>"):
        return Problem(line, column, "this line's indentation does not match the lines above it")
    unquoted = _indicator_start(text, error)
    if unquoted is not None:
        return unquoted
    where = f" ({context} from line {context_line})" if context and context_line else ""
    return Problem(line, column, f"YAML syntax error: {problem}{where}")


# A value after 'key: ' (or '- ') that starts with a character YAML reads as syntax, and what it reads it as.
_INDICATOR_VALUE = r"^(\s*(?:-\s+)*(?:[^\s#'\"\-][^:#]*:\s+|-\s+))([@`%*&]|-(?=\s))"  # compiled for an error only
_INDICATORS = {"@": "a reserved character", "`": "a reserved character", "%": "a directive", "*": "an alias",
               "&": "an anchor", "-": "a list item"}


def _indicator_start(text: str, error: yaml.MarkedYAMLError) -> Problem | None:
    """Text left unquoted that begins with '@', '%', '*', '&' or '- ', which YAML reads as its own syntax."""
    for mark in (error.problem_mark, error.context_mark):
        if mark is None:
            continue
        lines = _LINE_BREAK.split(text)
        found = re.match(_INDICATOR_VALUE, lines[mark.line]) if mark.line < len(lines) else None
        if found:
            character = found.group(2)
            return Problem(mark.line + 1, found.end(1) + 1,
                           f"text that starts with {character!r} must be quoted: unquoted, YAML reads it as "
                           f"{_INDICATORS[character]}; put the whole text in double quotes")
    return None


_QUOTE_START = r"""(?:^|[\s\[{,])(['"])"""  # compiled at its first use (see _CONTENT_AFTER_HASH)


def _early_quote(text: str, error: yaml.MarkedYAMLError) -> Problem | None:
    """A quoted text closed early by a quote inside it ('Don't press', "He said "stop""), on the lines of the
    error."""
    marks = [mark for mark in (error.context_mark, error.problem_mark) if mark is not None]
    if not marks:
        return None
    lines = _LINE_BREAK.split(text)
    for number in range(min(m.line for m in marks), max(m.line for m in marks) + 1):
        line = lines[number] if number < len(lines) else ""
        for start in re.finditer(_QUOTE_START, line):
            quote = start.group(1)
            close = _closing_quote(line, start.end(), quote)
            if close < 0 or close + 1 >= len(line) or line[close + 1] in " \t,]}#:":
                continue
            if quote == '"':
                word = re.match(r'[^\s"]*', line[close + 1 :]).group()  # type: ignore[union-attr]
                message = (f"the quote before {word!r} ends the double-quoted text early; inside double quotes "
                           f"write it as \\\" (\\\"{word}\\\"), or put the whole text in single quotes")
                return Problem(number + 1, close + 1, message)
            word_start = close
            while word_start > 0 and not line[word_start - 1].isspace() and line[word_start - 1] != "'":
                word_start -= 1
            word_end = close + 1
            while word_end < len(line) and not line[word_end].isspace() and line[word_end] not in "',]}":
                word_end += 1
            word = line[word_start:word_end]
            message = (
                f"the apostrophe in {word!r} ends the single-quoted text early; put the text in double quotes "
                f"(\"{word} ...\"), or write the apostrophe twice ('{word.replace(chr(39), chr(39) * 2)} ...')"
            )
            return Problem(number + 1, close + 1, message)
    return None


def _closing_quote(line: str, index: int, quote: str) -> int:
    """Where the quoted text starting at `index` ends on `line` ('' and \\" do not end it); -1 if not there."""
    while index < len(line):
        if quote == '"' and line[index] == "\\":
            index += 2
            continue
        if line[index] == quote:
            if quote == "'" and line[index + 1 : index + 2] == "'":
                index += 2
                continue
            return index
        index += 1
    return -1


def _quoted_name(message: str) -> str:
    """The name PyYAML quoted in its message (an anchor's)."""
    found = re.search(r"'([^']*)'", message)
    return found.group(1) if found else "?"


# ---- YAML nodes to a Routine ---------------------------------------------------------------------------------


class _Stop(Exception):
    """Too many problems or too much work: stop checking and report what was found."""


class _Checker:
    """Walks the node graph, building the routine and collecting every problem on the way (a plain class: one
    is made per load and needs none of a dataclass's generated methods, which would cost a quarter of a load)."""

    def __init__(self, source: str = "") -> None:
        self.source = source  # the file's text, to look at what follows a value on its line
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []  # not wrong, but probably not what was meant
        self.suggested: set[str] = set()  # keys offered as "did you mean", not reported missing too
        self.visits = 0
        self.places: dict[int, tuple[int, int]] = {}  # id(step) -> (line, column)
        self.open_lists: set[int] = set()  # ids of the step lists being walked, to catch recursion

    # -- reporting --

    def report(self, node: Node, message: str) -> None:
        self.problems.append(Problem(node.start_mark.line + 1, node.start_mark.column + 1, message))
        if len(self.problems) >= MAX_PROBLEMS:
            raise _Stop

    def warn(self, line: int, column: int, message: str) -> None:
        self.warnings.append(Problem(line, column, message))

    def visit(self, node: Node) -> bool:
        """Counts work (aliases can make a small file a huge tree) and refuses foreign tags; False if refused."""
        self.visits += 1
        if self.visits > MAX_VISITS:
            self.report(node, f"the routine expands to over {MAX_VISITS:,} values (through aliases); simplify it")
            raise _Stop
        if node.tag not in _ALLOWED_TAGS:
            tag = "!!" + node.tag[len(_CORE):] if node.tag.startswith(_CORE) else node.tag
            local = isinstance(node, ScalarNode) and not node.tag.startswith(_CORE)  # '!important', not '!!binary'
            hint = "; to say text that starts with '!', put it in quotes" if local else ""
            self.report(node, f"tag {tag!r} is not allowed; a routine holds plain text, numbers, lists and keys{hint}")
            return False
        if isinstance(node, ScalarNode) and node.tag in _TYPED and not _fits_tag(node):
            tag = "!!" + node.tag[len(_CORE):]
            self.report(node, f"the tag {tag!r} does not fit {_shortened(node.value)!r}: it is not {_TYPED[node.tag]}; "
                        "remove the tag")
            return False
        return True

    # -- mappings --

    def fields(self, node: MappingNode, allowed: tuple[str, ...], step: bool = False) -> dict[str, tuple[Node, Node]]:
        """Keys of a mapping -> (key node, value node); reports duplicate, unknown and non-text keys.
        In a step (`step`), a repeated key usually means a new step lost its '- ': the message says so."""
        found: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if not self.visit(key):
                continue
            if not isinstance(key, ScalarNode):
                self.report(key, "a key must be a plain name like 'say', not a list or mapping")
                continue
            name = key.value
            if name in found:
                first = found[name][0].start_mark.line + 1
                if step and name in allowed:
                    self.report(key, f"duplicate key {name!r} in one step (first at line {first}); to start a new "
                                f"step here, begin the line with '- ', as in '- {name}: ...'; or keep one")
                else:
                    self.report(key, f"duplicate key {name!r} (first at line {first}); keep one")
            elif name in allowed:
                found[name] = (key, value)
            elif name == "<<":
                self.report(key, "merge keys ('<<') are not supported; write the keys out")
            elif _invisible(name) and _visible(name) in allowed:
                index, character = _invisible(name)  # type: ignore[misc]
                self.suggested.add(_visible(name))  # not reported missing too
                self.problems.append(Problem(key.start_mark.line + 1, key.start_mark.column + index + 1,
                                             f"the key {_visible(name)!r} holds {_space_name(character)}; retype it "
                                             "with plain letters"))
            else:
                self.suggested.add(_suggestion(name, allowed) or "")
                self.report(key, _unknown_key(name, allowed))
        return found

    def mapping(self, node: Node, what: str, example: str) -> MappingNode | None:
        """`node` if it is a mapping, else None after reporting it."""
        if isinstance(node, MappingNode):
            return node
        self.report(node, f"{what} must be a mapping of keys, like {example}; found {_kind(node)}")
        return None

    # -- scalars --

    def scalar(self, node: Node, name: str, expected: str) -> ScalarNode | None:
        """`node` if it is a non-null scalar, else None after reporting that it is empty or of the wrong kind."""
        if not self.visit(node):
            return None
        if not isinstance(node, ScalarNode):
            self.report(node, f"{name!r} must be {expected}, not {_kind(node)}")
            return None
        if _is_null(node):
            self.report(node, f"{name!r} is empty; it must be {expected}")
            return None
        return node

    def text(self, node: Node, name: str, split: str = "steps", spoken: bool = False) -> str | None:
        """Shown text, or with `spoken` text that is said aloud: any scalar, taken literally (`say: yes` says
        "yes"), without control characters; spoken text must have something to pronounce."""
        scalar = self.scalar(node, name, "text")
        if scalar is None:
            return None
        value = scalar.value.strip()
        if not value:
            self.report(node, f"{name!r} is empty; it must be text")
            return None
        control = find_control(value)
        if control:
            line, column = self.escape_position(scalar, control.group())
            self.problems.append(Problem(line, column, f"{name!r} holds the control character "
                                 f"{describe(control.group())}; remove it (control characters are not text, "
                                 "and they can disturb a terminal)"))
            return None
        # Only a quoted escape like "\ud800" can make one; no engine can say it.
        if not value.isascii() and re.search(_SURROGATE, value):
            self.report(node, f"{name!r} holds an escape for half a character (a lone surrogate); remove it")
            return None
        if len(value) > MAX_TEXT:
            self.report(node, f"{name!r} is {len(value)} characters long; keep it under {MAX_TEXT} by splitting it into {split}")
            return None
        if spoken and not any(unicodedata.category(character)[0] in "LN" for character in value):
            self.report(node, f"{name!r} has nothing to pronounce: {_shortened(value)!r} holds no letters or "
                        "digits; write the words to say")
            return None
        if scalar.style is None and (name in _CUT_BY_COMMENTS or name in _CUT_BY_NUMBERS):
            self.comment_after(scalar, value, spoken, any_comment=name in _CUT_BY_COMMENTS)
        return value

    def comment_after(self, scalar: ScalarNode, value: str, spoken: bool = True, any_comment: bool = True) -> None:
        """Warns when a '#' on the line of an unquoted text starts a comment, which cuts what is said (or shown);
        unless `any_comment`, only a '#' that reads as part of the text ('#2')."""
        end = scalar.end_mark.index
        line_end = _LINE_BREAK.search(self.source, end)
        rest = self.source[end : line_end.start() if line_end else len(self.source)]
        stripped = rest.lstrip(" \t")
        if not stripped.startswith("#") or not (any_comment or re.match(_CONTENT_AFTER_HASH, stripped)):
            return
        cut = stripped.rstrip()
        column = scalar.end_mark.column + len(rest) - len(stripped) + 1
        said, say = ("said", "say") if spoken else ("shown", "show")
        self.warn(scalar.end_mark.line + 1, column, f"only {_shortened(value)!r} is {said}: the '#' after it starts a "
                  f"comment, so {_shortened(cut)!r} is left out; to {say} it, put the whole text in double quotes")

    def escape_position(self, scalar: ScalarNode, character: str) -> tuple[int, int]:
        """Where in the file the quoted escape that made `character` is (the scalar's start if not found)."""
        start, end = scalar.start_mark, scalar.end_mark
        if scalar.style == '"':
            for escape in re.compile(_ESCAPE, re.DOTALL).finditer(self.source, start.index, end.index):
                if _unescaped(escape.group(1)) == character:
                    return _position(self.source, escape.start())
        return start.line + 1, start.column + 1

    def whole(self, node: Node, name: str, expected: str, bounds: tuple[int, int], unit: str) -> int | None:
        """A whole number within `bounds`; `expected` and `unit` describe it for messages."""
        scalar = self.scalar(node, name, expected)
        if scalar is None:
            return None
        if scalar.tag != _CORE + "int" or not _INTEGER.fullmatch(scalar.value):
            self.report(node, f"{name!r} must be {expected}; found {_found(scalar)}")
            return None
        # int() refuses over 4,300 digits (a guard against slow conversions); nothing that long is in range anyway.
        number = int(scalar.value) if len(scalar.value) <= 12 else None
        if number is None or not bounds[0] <= number <= bounds[1]:
            self.report(node, f"{name!r} is {_shortened(scalar.value)}{unit}; use {bounds[0]} to {bounds[1]}")
            return None
        return number

    def flag(self, node: Node, name: str) -> bool | None:
        scalar = self.scalar(node, name, "true or false")
        if scalar is None:
            return None
        if scalar.tag != _CORE + "bool":
            self.report(node, f"{name!r} must be true or false; found {_found(scalar)}")
            return None
        return scalar.value.lower() in ("true", "yes", "on", "y")

    def duration(self, node: Node, name: str, parse: Callable[[str], T]) -> T | None:
        scalar = self.scalar(node, name, "a duration like 30s or 1m30s")
        if scalar is None:
            return None
        odd = _invisible(scalar.value)
        if odd is not None:  # read as text, not as the space it looks like: say what it is
            index, character = odd
            where = _position(self.source, scalar.start_mark.index + index) if scalar.style is None else (
                scalar.start_mark.line + 1, scalar.start_mark.column + 1)
            self.problems.append(Problem(*where, f"{name!r}: {_shortened(scalar.value)!r} holds "
                                         f"{_space_name(character)}; write the duration with plain spaces, or none"))
            return None
        try:
            return parse(scalar.value)
        except ValueError as error:
            self.report(node, f"{name!r}: {error}")
            return None

    # -- the routine --

    def routine(self, root: Node | None, path: str) -> Routine | None:
        if root is None or (isinstance(root, ScalarNode) and _is_null(root)):
            self.problems.append(Problem(0, 0, _EMPTY_HINT))
            return None
        if not self.visit(root):
            return None
        top = self.mapping(root, "the top level", "'title: ...' and 'steps: ...'")
        if top is None:
            return None
        keys = self.fields(top, TOP_KEYS)
        title = self.text(keys["title"][1], "title", spoken=True) if "title" in keys else None
        if "title" not in keys and "title" not in self.suggested:
            self.report(top, "missing 'title': every routine needs one, like 'title: Arch self-massage'")
        steps = self.steps(keys["steps"][1], depth=0) if "steps" in keys else None
        if "steps" not in keys and "steps" not in self.suggested:
            self.report(top, "missing 'steps': a routine needs at least one step, like '- say: ...'")
        about = self.optional_text(keys, "about")
        voice = self.voice(keys["voice"][1]) if "voice" in keys else Voice()
        chime = self.flag(keys["chime"][1], "chime") if "chime" in keys else True
        reminders = self.reminders(keys["reminders"][1]) if "reminders" in keys else None
        language = self.language(keys["language"][1]) if "language" in keys else None
        intro = self.optional_text(keys, "intro", spoken=True)
        hold_end = self.choice(keys["hold_end"][1], "hold_end", HOLD_ENDS) if "hold_end" in keys else "auto"
        if steps:
            self.check_length(steps)
        if self.problems or title is None or not steps or voice is None or chime is None or hold_end is None:
            return None
        return Routine(title=title, steps=steps, about=about, voice=voice, chime=chime, reminders=reminders,
                       language=language, intro=intro, hold_end=hold_end, source=path)

    def language(self, node: Node) -> str | None:
        """A BCP 47 tag ('de', 'pt-BR', 'es-419'), in its usual case."""
        scalar = self.scalar(node, "language", "a language tag like 'de' or 'pt-BR'")
        if scalar is None:
            return None
        tag = normalized_tag(scalar.value)
        if tag is None:
            named = tag_named(scalar.value)
            hint = f" (for {scalar.value.strip()} write '{named}')" if named else ""
            self.report(node, f"'language' must be a language tag like 'de', 'fr' or 'pt-BR'; found "
                              f"{_found(scalar)}{hint}")
        return tag

    def choice(self, node: Node, name: str, allowed: tuple[str, ...]) -> str | None:
        """One of a few words."""
        scalar = self.scalar(node, name, _listed(allowed))
        if scalar is None:
            return None
        if scalar.tag == _CORE + "bool" and scalar.value.lower() in ("no", "off", "false") and "none" in allowed:
            return "none"  # `hold_end: no` means none, not the word "False"
        if scalar.value not in allowed:
            self.report(node, f"{name!r} must be {_listed(allowed)}; found {_found(scalar)}")
            return None
        return scalar.value

    def optional_text(self, keys: dict[str, tuple[Node, Node]], name: str, spoken: bool = False) -> str | None:
        if name not in keys:
            return None
        node = keys[name][1]
        if isinstance(node, ScalarNode) and (_is_null(node) or not node.value.strip()):
            return None
        return self.text(node, name, spoken=spoken)

    def voice(self, node: Node) -> Voice | None:
        if not self.visit(node):
            return None
        if isinstance(node, ScalarNode) and _is_null(node):
            return Voice()
        mapping = self.mapping(node, "'voice'", "'voice: {voice: en-us, rate: 150}'")
        if mapping is None:
            return None
        keys = self.fields(mapping, VOICE_KEYS)
        engine = self.engine(keys["engine"][1]) if "engine" in keys else None
        name = self.text(keys["voice"][1], "voice") if "voice" in keys else None
        rate = volume = None
        if "rate" in keys:
            expected = "a whole number of words per minute, like 150"
            rate = self.whole(keys["rate"][1], "rate", expected, RATE_RANGE, " words per minute")
        if "volume" in keys:
            volume = self.volume(keys["volume"][1])
        if any(key in keys and value is None for key, value in zip(VOICE_KEYS, (engine, name, rate, volume))):
            return None
        return Voice(voice=name, rate=rate, volume=volume, engine=engine)

    def engine(self, node: Node) -> str | None:
        expected = "one of " + ", ".join(ENGINE_NAMES)
        scalar = self.scalar(node, "engine", expected)
        if scalar is None:
            return None
        if scalar.value not in ENGINE_NAMES:
            close = _suggestion(scalar.value, ENGINE_NAMES, cutoff=0.5)
            hint = f" (did you mean {close!r}?)" if close else ""
            self.report(node, f"'engine' is {scalar.value!r}; it must be {expected}{hint}")
            return None
        return scalar.value

    def volume(self, node: Node) -> float | None:
        low, high = VOLUME_RANGE
        expected = f"a number from {low} to {high}, like 0.8"
        scalar = self.scalar(node, "volume", expected)
        if scalar is None:
            return None
        if scalar.tag not in (_CORE + "int", _CORE + "float") or not _DECIMAL.fullmatch(scalar.value):
            self.report(node, f"'volume' must be {expected}; found {_found(scalar)}")
            return None
        volume = float(scalar.value)
        if volume == 0.0:
            self.report(node, "'volume' is 0, which is silence; use more than 0, up to 1.0 (full volume)")
            return None
        if not low <= volume <= high:
            self.report(node, f"'volume' is {scalar.value}; it must be {expected}")
            return None
        return volume

    def reminders(self, node: Node) -> tuple[str, ...] | None:
        if not self.visit(node):
            return None
        if isinstance(node, ScalarNode) and node.value.strip().lower() == "none" and node.tag == _CORE + "str":
            return ()
        opt_out = "to drop the closing reminders write 'reminders: none'"
        if isinstance(node, ScalarNode) and _is_null(node):
            self.report(node, f"'reminders' is empty; list them, or {opt_out}")
            return None
        if not isinstance(node, SequenceNode):
            self.report(node, f"'reminders' must be a list of sentences ('- ...' lines), or 'none'; found {_kind(node)}")
            return None
        if not node.value:
            self.report(node, f"'reminders' is an empty list; {opt_out}")
            return None
        texts = [self.text(item, "reminder", split="several reminders", spoken=True) for item in node.value]
        return None if None in texts else tuple(texts)  # type: ignore[arg-type]

    # -- steps --

    def steps(self, node: Node, depth: int) -> tuple[Step, ...] | None:
        if not self.visit(node):
            return None
        if isinstance(node, ScalarNode) and _is_null(node):
            self.report(node, "'steps' is empty; add at least one step, like '- say: ...'")
            return None
        if not isinstance(node, SequenceNode):
            self.report(node, f"'steps' must be a list of steps, each starting with '- '; found {_kind(node)}")
            return None
        if not node.value:
            self.report(node, "'steps' is empty; add at least one step, like '- say: ...'")
            return None
        if id(node) in self.open_lists:
            self.report(node, "these steps contain themselves (through an alias); a routine must end")
            return None
        self.open_lists.add(id(node))
        try:
            steps = [self.step(item, depth) for item in node.value]
        finally:
            self.open_lists.discard(id(node))
        return None if None in steps else tuple(steps)  # type: ignore[arg-type]

    def step(self, node: Node, depth: int) -> Step | None:
        if not self.visit(node):
            return None
        if isinstance(node, ScalarNode) and not _is_null(node):
            self.report(node, f"a step must be a mapping; to speak this text write '- say: {_shortened(node.value)}'")
            return None
        mapping = self.mapping(node, "a step", "'- say: ...'")
        if mapping is None:
            return None
        before = len(self.problems)
        keys = self.fields(mapping, STEP_KEYS, step=True)
        kinds = [kind for kind in ("say", "repeat", "sides") if kind in keys]
        if len(kinds) > 1:
            second = keys[kinds[1]][0]
            self.report(second, f"a step has both {kinds[0]!r} and {kinds[1]!r}; split it into two steps")
            return None
        if not kinds:
            if "steps" in keys:
                self.report(mapping, "a block of 'steps' needs 'repeat: N' or 'sides: [...]' beside it")
            elif len(self.problems) == before:
                self.report(mapping, "a step needs 'say', 'repeat' or 'sides'")
            return None
        kind = kinds[0]
        allowed = SAY_KEYS if kind == "say" else REPEAT_KEYS if kind == "repeat" else SIDES_KEYS
        for name, (key, _) in keys.items():
            if name not in allowed:
                where = "a 'say' step" if kind == "say" else f"a {kind!r} block"
                self.report(key, f"{name!r} does not belong in {where}; it takes {_listed(allowed)}")
        if len(self.problems) > before:
            return None
        place = (mapping.start_mark.line + 1, mapping.start_mark.column + 1)
        step = self.say(keys, place[0]) if kind == "say" else self.block(mapping, keys, kind, depth, place[0])
        if step is not None:
            self.places[id(step)] = place
        return step

    def say(self, keys: dict[str, tuple[Node, Node]], line: int) -> Say | None:
        text = self.text(keys["say"][1], "say", spoken=True)
        if "pause" in keys and "hold" in keys:
            self.report(keys["hold"][0], "a step takes 'pause' or 'hold', not both")
            return None
        pause = self.duration(keys["pause"][1], "pause", parse_duration) if "pause" in keys else None
        span = self.duration(keys["hold"][1], "hold", parse_span) if "hold" in keys else None
        cues = Cues()
        if "cues" in keys:
            if "hold" not in keys:
                self.report(keys["cues"][0], "'cues' need a 'hold' to time them; add 'hold: 2m' or remove 'cues'")
                return None
            cues = self.cues(keys["cues"][1])
        if text is None or cues is None or ("pause" in keys and pause is None) or ("hold" in keys and span is None):
            return None
        if span:
            self.check_hold(keys, span, cues)
        hold = Hold(*span) if span else None
        return Say(text=text, pause=pause, hold=hold, cues=cues, line=line)

    def check_hold(self, keys: dict[str, tuple[Node, Node]], span: tuple[float, float], cues: Cues) -> None:
        """Warns about a hold that is valid but probably not what was meant: an empty range, a bare number
        that looks like minutes, cues that cannot be said."""
        node = keys["hold"][1]
        written = node.value.strip()
        at = (node.start_mark.line + 1, node.start_mark.column + 1)
        shortest, longest = compact(span[0]), compact(span[1])
        if span[0] == span[1] and is_range(written):
            self.warn(*at, f"'hold: {written}' is a range from {shortest} to {longest}, so it is just {longest}; "
                      f"write 'hold: {longest}', or widen the range, like {shortest}-{compact(span[1] + 60)}")
        if cues == Cues():
            return
        if _DECIMAL.fullmatch(written) and span[1] <= _LIKELY_MINUTES:
            self.warn(*at, f"'hold: {written}' is {written} seconds (a bare number counts seconds), too short for "
                      f"its cues; for minutes write 'hold: {written}m'")
            return
        if cues.countdown and span[1] < COUNTDOWN_MIN_HOLD:
            place = self.key_place(keys["cues"][1], "countdown")
            self.warn(*place, f"'countdown: {cues.countdown}' needs a hold of at least {compact(COUNTDOWN_MIN_HOLD)}, "
                      f"and this one is {longest}, so nothing is counted down; hold {compact(COUNTDOWN_MIN_HOLD)} "
                      "or more, or remove 'countdown'")
        every = cues.every
        if every is None or every < span[1] - CUE_MIN_REMAINING:
            return
        where = keys["cues"][1]
        at = (where.start_mark.line + 1, where.start_mark.column + 1)
        if span[1] <= CUE_MIN_REMAINING + _SHORTEST_CUE:
            self.warn(*at, f"a hold of {longest} is too short for remaining-time cues (none is said in the last "
                      f"{compact(CUE_MIN_REMAINING)}); remove 'every'")
        else:
            self.warn(*at, f"'every: {compact(every)}' in a hold of {longest}: no remaining-time cue fits "
                      f"(none is said in the last {compact(CUE_MIN_REMAINING)}); use an 'every' of at most "
                      f"{compact(span[1] - CUE_MIN_REMAINING)}")

    @staticmethod
    def key_place(mapping: Node, name: str) -> tuple[int, int]:
        """(line, column) of key `name` in `mapping` (of the mapping itself if it is not there)."""
        found = next((key for key, _ in getattr(mapping, "value", ()) if getattr(key, "value", None) == name), mapping)
        return found.start_mark.line + 1, found.start_mark.column + 1

    def cues(self, node: Node) -> Cues | None:
        if not self.visit(node):
            return None
        if isinstance(node, ScalarNode) and _is_null(node):
            return Cues()
        mapping = self.mapping(node, "'cues'", "'cues: {every: 30s, halfway: true}'")
        if mapping is None:
            return None
        keys = self.fields(mapping, CUE_KEYS)
        every = self.duration(keys["every"][1], "every", parse_duration) if "every" in keys else None
        halfway = self.flag(keys["halfway"][1], "halfway") if "halfway" in keys else False
        countdown = None
        if "countdown" in keys:
            expected = "a whole number of seconds to count down, like 3"
            countdown = self.whole(keys["countdown"][1], "countdown", expected, COUNTDOWN_RANGE, " seconds")
        if ("every" in keys and every is None) or halfway is None or ("countdown" in keys and countdown is None):
            return None
        line, column = self.key_place(mapping, "every")  # what crowds a hold, if it is there
        return Cues(every=every, halfway=halfway, countdown=countdown, line=line, column=column)

    def block(self, mapping: MappingNode, keys: dict[str, tuple[Node, Node]], kind: str, depth: int, line: int) -> Step | None:
        if depth >= MAX_BLOCK_DEPTH:
            self.report(mapping, f"blocks are nested over {MAX_BLOCK_DEPTH} deep here; flatten the routine")
            return None
        if kind == "repeat":
            head = self.whole(keys["repeat"][1], "repeat", "a whole number of rounds, like 2", REPEAT_RANGE, " rounds")
        else:
            head = self.sides(keys["sides"][1])
        if "steps" not in keys:
            self.report(keys[kind][0], f"a {kind!r} block needs 'steps' under it")
            return None
        steps = self.steps(keys["steps"][1], depth + 1)
        if head is None or steps is None:
            return None
        if kind == "repeat":
            return Repeat(times=head, steps=steps, line=line)  # type: ignore[arg-type]
        return Sides(sides=head, steps=steps, line=line)  # type: ignore[arg-type]

    def sides(self, node: Node) -> tuple[str, ...] | None:
        if not self.visit(node):
            return None
        if not isinstance(node, SequenceNode) or len(node.value) < 2:
            self.report(node, "'sides' must list two or more sides, like '[left foot, right foot]'")
            return None
        names = [self.text(item, "side", spoken=True) for item in node.value]
        if None in names:
            return None
        for index, name in enumerate(names):
            if name in names[:index]:
                self.report(node.value[index], f"side {name!r} is listed twice")
                return None
        return tuple(names)  # type: ignore[arg-type]

    # -- the whole routine's length --

    def check_length(self, steps: tuple[Step, ...]) -> None:
        """Reports a routine over MAX_TOTAL, at the innermost step or block that makes it so."""
        total = sum(_least_length(step) for step in steps)
        if total <= MAX_TOTAL:
            return
        alone = [step for step in steps if _least_length(step) > MAX_TOTAL]
        for step in alone:
            self.report_at(*_longest_part(step, self.places))
        if alone:
            return
        running = 0.0
        for step in steps:
            running += _least_length(step)
            if running > MAX_TOTAL:
                limit = compact(MAX_TOTAL)
                message = f"the routine runs at least {compact(total)}, over {limit} by this step; shorten it"
                self.report_at(self.places[id(step)], message)
                return

    def report_at(self, place: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(place[0], place[1], message))


def _least_length(step: Step) -> float:
    """A lower bound of a step's length in seconds: holds at their longest plus pauses, times rounds and sides."""
    if isinstance(step, Say):
        return (step.hold.maximum if step.hold else 0.0) + (step.pause or 0.0)
    inner = math.fsum(_least_length(child) for child in step.steps)
    return inner * (step.times if isinstance(step, Repeat) else len(step.sides))


def _longest_part(step: Step, places: dict[int, tuple[int, int]]) -> tuple[tuple[int, int], str]:
    """The innermost part of an over-long step that is over the limit on its own, with a message about it."""
    if not isinstance(step, Say):
        for child in step.steps:
            if _least_length(child) > MAX_TOTAL:
                return _longest_part(child, places)
    limit = compact(MAX_TOTAL)
    length = compact(_least_length(step))
    if isinstance(step, Say):
        return places[id(step)], f"this step runs {length}; a routine must be at most {limit}"
    count = f"{step.times} rounds" if isinstance(step, Repeat) else f"{len(step.sides)} sides"
    each = compact(_least_length(step) / (step.times if isinstance(step, Repeat) else len(step.sides)))
    return places[id(step)], f"this block runs at least {length} ({count} of {each}); a routine must be at most {limit}"


# ---- small helpers -------------------------------------------------------------------------------------------


_TYPED = {_CORE + "bool": "true or false", _CORE + "int": "a whole number", _CORE + "float": "a number",
          _CORE + "null": "empty"}
_RESOLVER = yaml.resolver.Resolver()
_ESCAPE = r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)"  # compiled at its first use (_CONTENT_AFTER_HASH)


def _fits_tag(node: ScalarNode) -> bool:
    """Whether an explicitly tagged value is what its tag says (`!!bool yes please` is not a bool)."""
    implicit = _RESOLVER.resolve(ScalarNode, node.value, (True, False))
    return implicit == node.tag or (node.tag == _CORE + "float" and implicit == _CORE + "int")


def _unescaped(escape: str) -> str:
    """The character a double-quoted escape (without its backslash) stands for."""
    if escape[0] in "xuU" and len(escape) > 1:
        return chr(int(escape[1:], 16))
    return yaml.scanner.Scanner.ESCAPE_REPLACEMENTS.get(escape, escape)


def _is_null(node: ScalarNode) -> bool:
    """An empty value (`~`, `null` or nothing); `!!null text` is not one, and `visit` refuses it."""
    return node.tag == _CORE + "null" and _fits_tag(node)


def _found(scalar: ScalarNode) -> str:
    """What a scalar of the wrong kind holds, pointing at quotes that made a number text."""
    if scalar.style in ("'", '"'):
        return f"the quoted text {_shortened(scalar.value)!r} (remove the quotes)"
    return repr(_shortened(scalar.value))


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    return "nothing" if _is_null(node) else f"{_shortened(node.value)!r}"


def _is_invisible(character: str) -> bool:
    """A character that looks like a space or like nothing: U+00A0, U+2003, U+200B, U+FEFF."""
    return character != " " and unicodedata.category(character) in ("Zs", "Cf")


def _invisible(name: str) -> tuple[int, str] | None:
    """The first invisible character of a key, and its index."""
    return next(((i, c) for i, c in enumerate(name) if _is_invisible(c)), None)


def _visible(name: str) -> str:
    return "".join(c for c in name if not _is_invisible(c))


def _unknown_key(name: str, allowed: tuple[str, ...]) -> str:
    close = _suggestion(name, allowed)
    if close:
        return f"unknown key {_shortened(name)!r} (did you mean {close!r}?)"
    return f"unknown key {_shortened(name)!r}; expected {_listed(allowed)}"


def _suggestion(name: str, allowed: tuple[str, ...], cutoff: float = 0.6) -> str | None:
    """The allowed name closest to `name`, if any is close enough (only a routine with a mistake needs difflib:
    imported here, it costs a good routine's load, and play's cold chime, nothing)."""
    import difflib

    close = difflib.get_close_matches(name, allowed, n=1, cutoff=cutoff)
    return close[0] if close else None


def _listed(names: tuple[str, ...]) -> str:
    quoted = [repr(name) for name in names]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def _shortened(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
