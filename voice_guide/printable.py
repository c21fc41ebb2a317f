"""Control characters: which ones a routine may not hold, and how text from outside is shown safely.

A terminal obeys control characters (ESC starts a command: retitle the window, clear the screen, write the
clipboard), and a NUL cuts a line short in the speech engine. The loader refuses them in every text field;
the command line escapes them in anything it prints that did not come from the program itself (file names,
the engine's voice names, system messages).
"""

from __future__ import annotations

import re
import unicodedata

# C0 except tab and newline, DEL, C1; and lone surrogates (an undecodable file name, a "\ud800" escape).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Compiled at its first use (re's own cache keeps it): compiling it costs more than most of what is printed.
_UNSAFE = "[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]"
_NAMES = {
    "\x00": "NUL", "\x07": "BEL", "\x08": "BACKSPACE", "\x0b": "VERTICAL TAB", "\x0c": "FORM FEED",
    "\x0d": "CARRIAGE RETURN", "\x1b": "ESC", "\x7f": "DEL", "\x85": "NEXT LINE", "\x9b": "CSI",
}


def find_control(text: str) -> re.Match[str] | None:
    """The first control character a routine's text may not hold (tab and newline are allowed), or None.

    >>> find_control("Sit\\x1b[2J down.").group()
    '\\x1b'
    """
    return _CONTROL.search(text)


def describe(character: str) -> str:
    """'U+001B (ESC)': a character by its code point and, where it has one, its name.

    >>> describe("\\x00"), describe("\\u00a0")
    ('U+0000 (NUL)', 'U+00A0 (NO-BREAK SPACE)')
    """
    name = _NAMES.get(character) or unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" ({name})" if name else "")


def printable(text: str) -> str:
    """`text` safe to print on one line: control characters, newlines and lone surrogates as escapes.

    >>> printable("a\\x1b]0;owned\\x07b\\nc")
    'a\\\\x1b]0;owned\\\\x07b\\\\nc'
    """
    if text.isascii() and text.isprintable():  # nothing to escape (the usual case)
        return text
    return re.sub(_UNSAFE, lambda match: repr(match.group())[1:-1], text)
