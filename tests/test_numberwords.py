"""numberwords loads one num2words language alone; it must say exactly what num2words' public function says."""

from __future__ import annotations

import subprocess
import sys

import num2words
import pytest

from voice_guide import numberwords

NUMBERS = [*range(0, 125), 200, 999, 1000, 1001, 3600, 5400, 86400, 123456]


@pytest.mark.parametrize("code", sorted(num2words.CONVERTER_CLASSES))
def test_every_language_of_num2words_is_said_as_num2words_says_it(code):
    assert numberwords.is_language(code)
    assert numberwords._converter(code) is not None, "loaded through the public function, not alone"
    for n in NUMBERS:
        try:
            expected = num2words.num2words(n, lang=code)
        except Exception as error:  # noqa: BLE001 - some languages refuse some numbers: then both must
            with pytest.raises(type(error)):
                numberwords.words(n, code)
            continue
        assert numberwords.words(n, code) == expected, (code, n)


@pytest.mark.parametrize("code", ["EN", "en_us", "en_US", "xx", "pt-BR", "", "_", "en_", "de_de", "lang_EN"])
def test_a_name_num2words_does_not_have_is_not_a_language(code):
    assert not numberwords.is_language(code)
    assert code not in num2words.CONVERTER_CLASSES


def test_saying_a_number_imports_one_language_not_all():
    script = ("import sys; from voice_guide import numberwords; print(numberwords.words(38, 'de')); "
              "print(sorted(m for m in sys.modules if 'lang_' in m)); print('num2words' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    words, loaded, whole = out.splitlines()
    assert words == "achtunddreißig"
    assert "lang_DE'" in loaded and "lang_FR'" not in loaded and "lang_JA'" not in loaded
    assert whole == "False"
