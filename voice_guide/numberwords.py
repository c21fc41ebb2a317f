"""Numbers in words, from num2words, loading only the language asked for.

num2words' package `__init__` imports all of its 56 languages before it can say one number: about 40 ms here, on
every command that composes a script (a warm export, a check, the length check before the first sound). Each
language is a module `lang_<CODE>` of the package holding a class `Num2Word_<CODE>`, and num2words' own
`num2words(n, lang=code)` is, for an int, that class's `to_cardinal(n)`. So the one module needed is loaded
alone, as a submodule of a stand-in for the package whose `__init__` is not run, and asked the same way. A
name that is not one of its languages' codes, or a package laid out otherwise (another version), goes through
num2words' public function instead; the tests hold both ways to the same words for every language it has.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types
from functools import lru_cache

_STAND_IN = "_voice_guide_num2words"  # the stand-in package's name in sys.modules (num2words' own stays free)


def words(n: int, language: str) -> str:
    """`n` (not negative) in words in num2words' `language` (a code that is_language accepts).

    >>> words(38, "en"), words(21, "fr")
    ('thirty-eight', 'vingt et un')
    """
    converter = _converter(language)
    if converter is None:
        from num2words import num2words

        return num2words(n, lang=language)
    return converter.to_cardinal(n)


def is_language(code: str) -> bool:
    """Whether num2words has `code` ('en', 'pt_BR') as a language of its own, as its CONVERTER_CLASSES keys are.

    >>> is_language("pt_BR"), is_language("en_US"), is_language("EN")
    (True, False, False)
    """
    folder = _folder()
    if folder is None:
        from num2words import CONVERTER_CLASSES

        return code in CONVERTER_CLASSES
    return _canonical(code) and os.path.isfile(os.path.join(folder, f"lang_{code.upper()}.py"))


def _canonical(code: str) -> bool:
    """Written as num2words writes its codes: a lower-case language, then an upper-case region ('es_CO')."""
    language, _, region = code.partition("_")
    return language.isascii() and language.isalpha() and language == language.lower() and (
        not region or (region.isascii() and region.isalpha() and region == region.upper()))


@lru_cache(maxsize=None)
def _folder() -> str | None:
    """num2words' package folder, found without importing it; None when it is not a plain folder of modules.
    Looked for on sys.path as the import system would (importlib.util.find_spec imports contextlib and more,
    a fifth of this module's cost before the first sound; a num2words found otherwise is used through its
    public function)."""
    try:
        spec = importlib.machinery.PathFinder.find_spec("num2words")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if len(locations) != 1 or not os.path.isfile(os.path.join(locations[0], "lang_EU.py")):
        return None
    return locations[0]


@lru_cache(maxsize=None)
def _converter(language: str):
    """num2words' converter for `language`, from its one module; None to use the public function instead."""
    folder = _folder()
    if folder is None or not is_language(language):
        return None
    if _STAND_IN not in sys.modules:
        package = types.ModuleType(_STAND_IN)
        package.__path__ = [folder]
        sys.modules[_STAND_IN] = package
    code = language.upper()
    try:
        module = importlib.import_module(f"{_STAND_IN}.lang_{code}")
        return getattr(module, f"Num2Word_{code}")()
    except Exception:  # noqa: BLE001 - another layout: the public function knows its own
        return None
