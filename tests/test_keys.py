"""The keyboard: which key means which command."""

from __future__ import annotations

import pytest

from voice_guide.keys import command_for
from voice_guide.commands import BACK, NEXT, PAUSE, QUIT


@pytest.mark.parametrize(("key", "command"), [(" ", PAUSE), ("n", NEXT), ("B", BACK), ("q", QUIT), ("x", None)])
def test_each_key_means_its_command(key, command):
    assert command_for(key) == command
