"""The routines that ship with voice-guide, found by name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT = "arch"


def names() -> list[str]:
    """Names of the bundled routines, sorted.

    >>> "arch" in names()
    True
    """
    folder = resources.files("voice_guide.routines")
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def path(name: str) -> Path:
    """The file of a bundled routine (the package is installed as files, never zipped)."""
    return Path(str(resources.files("voice_guide.routines") / f"{name}.yaml"))
