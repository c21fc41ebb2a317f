"""yamlimport hands PyYAML's reader a quicker pattern of the very same characters; YAML reads as before."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from voice_guide import loader, yamlimport
from voice_guide.errors import RoutineError

EVERY_CHARACTER = "".join(map(chr, range(sys.maxunicode + 1)))  # lone surrogates included: a str can hold them


def test_the_quick_pattern_finds_the_characters_pyyaml_finds_over_all_of_unicode():
    ours = re.compile(yamlimport.SAME_PATTERN).findall(EVERY_CHARACTER)
    # re.UNICODE (a str pattern's default anyway) is another key in re's cache: PyYAML's text really compiled
    pyyaml = re.compile(yamlimport.PYYAML_PATTERN, re.UNICODE)
    assert pyyaml.pattern == yamlimport.PYYAML_PATTERN
    assert ours == pyyaml.findall(EVERY_CHARACTER)
    assert len(ours) == 2048 + 63  # the surrogates; C0 and C1 but tab, LF, CR and NEL; DEL, U+FFFE, U+FFFF


def test_pyyaml_still_writes_the_pattern_kept_here():
    import yaml.reader

    source = open(yaml.reader.__file__, encoding="utf-8").read()
    line = next(line for line in source.splitlines() if "NON_PRINTABLE = re.compile(" in line)
    assert ast.literal_eval(line.split("re.compile(", 1)[1].rsplit(")", 1)[0]) == yamlimport.PYYAML_PATTERN


def test_a_fresh_process_importing_the_loader_gives_pyyaml_the_quick_pattern():
    script = ("import voice_guide.loader, yaml, voice_guide.yamlimport as y; "
              "print(yaml.reader.Reader.NON_PRINTABLE.pattern == y.SAME_PATTERN)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True"]


@pytest.mark.parametrize("character", ["\x07", "\x9f", "\ufffe", "\x7f"])
def test_a_routine_with_a_non_printable_character_is_refused_at_its_place(tmp_path, character):
    routine = tmp_path / "r.yaml"
    text = f"title: T\nsteps:\n  - say: Hello {character} there\n"
    routine.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(RoutineError) as caught:
        loader.load(routine)
    assert f"{routine}:3:" in str(caught.value)
