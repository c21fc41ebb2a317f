"""PyYAML, imported without compiling its reader's pattern of non-printable characters.

Importing `yaml` compiles, in the class body of its pure-Python reader, the characters a YAML stream must not
hold (`yaml.reader.Reader.NON_PRINTABLE`), written as everything but the printable ranges of all of Unicode. `re`
builds that class as a table of 65,536 entries in Python code: about 57 M instructions, a third of importing
PyYAML and an eighth of a cold `play` before its chime. The same characters written as the few ranges that are
left out (`SAME_PATTERN`) compile in a twelfth of that. `re.compile` looks in its module's cache first, under (type,
pattern, flags), so the equivalent pattern is put there under PyYAML's text just before `yaml` is imported, and
PyYAML's class gets it. The tests hold the two patterns to the same characters over all of Unicode, and check
that PyYAML got ours; a PyYAML with another pattern, or a `re` without that cache, just compiles its own.

Import `yaml` from here (`from .yamlimport import yaml`); its submodules can then be imported as usual.
"""

from __future__ import annotations

import re
import sys

# PyYAML's own (yaml/reader.py, 3.13 to 6.0.x), character for character, and what it leaves out of Unicode.
PYYAML_PATTERN = "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]"
SAME_PATTERN = "[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uD800-\uDFFF\uFFFE\uFFFF]"


def _prime() -> None:
    """Put the quick pattern in re's cache under PyYAML's text, unless yaml is imported already."""
    cache = getattr(re, "_cache", None)
    if "yaml" not in sys.modules and isinstance(cache, dict):
        cache.setdefault((str, PYYAML_PATTERN, 0), re.compile(SAME_PATTERN))


_prime()
import yaml  # noqa: E402 - after _prime: that is the point

__all__ = ["yaml"]
