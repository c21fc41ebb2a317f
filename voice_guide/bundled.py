"""The routines that ship with voice-guide, found by name."""

from __future__ import annotations

from pathlib import Path

DEFAULT = "arch"
# Beside this module: the package is installed as files, never zipped (importlib.resources would cost more to
# import than loading a routine; the loader is on the path to the first sound).
FOLDER = Path(__file__).with_name("routines")


def names() -> list[str]:
    """Names of the bundled routines, sorted.

    >>> "arch" in names()
    True
    """
    return sorted(entry.name[: -len(".yaml")] for entry in FOLDER.iterdir() if entry.name.endswith(".yaml"))


def path(name: str) -> Path:
    """The file of a bundled routine."""
    return FOLDER / f"{name}.yaml"
