"""The user's own settings file: `$XDG_CONFIG_HOME/voice-guide/settings.yaml` (default `~/.config/...`).

    listen: true        # play --listen without saying so each time
    sensitivity: 0.6    # what `voice-guide listen-test` suggested

XDG_CONFIG_HOME is used only when it is an absolute path (the XDG rule: a relative one is ignored).
"""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

from .errors import BadInputError, OutputError

KNOWN = {"listen": bool, "sensitivity": float}


class UserSettings(namedtuple("UserSettings", ("listen", "sensitivity"), defaults=(None, None))):
    """What the file says (`listen`: bool, `sensitivity`: float); None where it says nothing. A named tuple,
    immutable: the opening check reads the file before the first sound, and a named tuple's class is made in an
    eighth of a frozen dataclass's instructions."""

    __slots__ = ()


def path() -> Path:
    """Where the settings file is.

    >>> path().parts[-2:]
    ('voice-guide', 'settings.yaml')
    """
    base = os.environ.get("XDG_CONFIG_HOME", "")
    folder = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return folder / "voice-guide" / "settings.yaml"


def load(where: Path | None = None) -> UserSettings:
    """The settings file's contents (nothing, when there is no file); BadInputError naming the file if bad."""
    from .yamlimport import yaml  # PyYAML: only when there is a file

    where = where or path()
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserSettings()
    except OSError as error:
        raise BadInputError(f"{where}: cannot read the settings file ({error.strerror or error})") from error
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise BadInputError(f"{where}{at}: not valid YAML; fix or delete the file") from error
    if not isinstance(data, dict):
        raise BadInputError(f"{where}: expected keys like 'listen: true' and 'sensitivity: 0.5'")
    for key, value in data.items():
        if key not in KNOWN:
            raise BadInputError(f"{where}: unknown setting {key!r} (known: {', '.join(KNOWN)})")
    listen = data.get("listen")
    if listen is not None and not isinstance(listen, bool):
        raise BadInputError(f"{where}: listen must be true or false, not {listen!r}")
    sensitivity = data.get("sensitivity")
    if sensitivity is not None and (isinstance(sensitivity, bool) or not isinstance(sensitivity, (int, float))
                                    or not 0.0 <= sensitivity <= 1.0):
        raise BadInputError(f"{where}: sensitivity must be a number from 0.0 to 1.0, not {sensitivity!r}")
    return UserSettings(listen, None if sensitivity is None else float(sensitivity))


def save_sensitivity(value: float, where: Path | None = None) -> Path:
    """Write `sensitivity: value` into the settings file, keeping its other settings; the file's path."""
    where = where or path()
    current = load(where)
    lines = []
    if current.listen is not None:
        lines.append(f"listen: {'true' if current.listen else 'false'}")
    lines.append(f"sensitivity: {value:g}")
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        partial = where.with_name(f".{where.name}.{os.getpid()}")
        partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
        partial.replace(where)
    except OSError as error:
        raise OutputError(f"{where}: cannot save the settings ({error.strerror or error})") from error
    return where
