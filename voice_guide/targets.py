"""What each clip is levelled to so that a whole file meets its loudness target: plain arithmetic on the script.

Kept apart from loudness.py (the meter and the limiter, numpy) and from the mixer: the player decides the
chime's level (compiler.routine_targets) before anything needs numpy or the mixer's disk cache. The target
itself and its range are the routine model's (routine.DEFAULT_LOUDNESS).
"""

from __future__ import annotations

import math
from collections import namedtuple

from .routine import DEFAULT_LOUDNESS

CHIME_BELOW_VOICE_LU = 8.0  # the chime marks a step; it must not be louder than the words
# The voice is raised at most this much for the chimes (a routine of chimes and one-word lines would need
# more): so much more would only feed the limiter, and it keeps the chime itself far from the peak ceiling.
MAX_RAISE_LU = 3.0
# A clip's blocks in a file: about its length and a quarter of a block more (the outermost blocks that overlap
# it hold too little of it to pass the gates, or are shared with the chime before it). Fitted to the raise that
# puts a file of clips exactly at their targets at the file's target (11 bundled and test routines, from one
# word after each chime to long holds): within 0.09 LU of it, where 0.3 s left the shortest cues 0.27 LU under.
_BLOCK_SHARE_SECONDS = 0.1
# The chime's share, measured (bundled and test routines, with and without chimes): less than its 0.8 s,
# because it decays fast and its last blocks are shared with the line that follows it 0.35 s later.
CHIME_BLOCK_SECONDS = 0.55
# At the default target and below, the limiter takes more than this off at most 1 % of a clip's samples (see
# loudness.MAX_LIMITED_SHARE). A louder target can only be met with more limiting: LIMIT_DB_PER_LU more per LU
# above the default (at -17 that leaves short cues as loud as they were before the limit, still 0.1-0.6 LU short).
TRANSPARENT_DB = 3.0
LIMIT_DB_PER_LU = 3.0


class ClipTargets(namedtuple("ClipTargets", ("file_lufs", "speech_lufs", "chime_lufs", "limit_db"),
                             defaults=(TRANSPARENT_DB,))):
    """What each kind of clip is levelled to (its loudness_in_file, LUFS), for a file at `file_lufs`; `limit_db`:
    how much the limiter may take off more than 1 % of a clip's samples. A named tuple, immutable: the opening
    check makes one before the first sound, and its class costs an eighth of a frozen dataclass's to make."""

    __slots__ = ()


def clip_targets(file_lufs: float = DEFAULT_LOUDNESS, *, speech_seconds: float = 1.0,
                 chime_seconds: float = 0.0) -> ClipTargets:
    """Clip targets that put a whole file at `file_lufs`, given how much of it is speech and chimes.

    The file's integrated loudness is the mean over its gated blocks; every clip's blocks average to the clip's
    own loudness_in_file, so the chimes, CHIME_BELOW_VOICE_LU quieter, lower the mean by their share of the
    blocks, and the voice is raised to make up for it. The seconds come from the script, before synthesis
    (estimates are fine: a 20 % error in them moves a file by less than 0.1 LU).

    >>> clip_targets(-19.0).speech_lufs
    -19.0
    >>> t = clip_targets(-19.0, speech_seconds=30.0, chime_seconds=10.0)
    >>> round(t.speech_lufs, 2), round(t.chime_lufs, 2)
    (-17.97, -25.97)
    >>> clip_targets(-19.0).limit_db, clip_targets(-17.0).limit_db
    (3.0, 9.0)
    """
    chime_energy = 10 ** (-CHIME_BELOW_VOICE_LU / 10)
    speech, chime = max(speech_seconds, 1e-9), max(chime_seconds, 0.0)
    raise_lu = min(MAX_RAISE_LU, 10 * math.log10((speech + chime) / (speech + chime * chime_energy)))
    speech_lufs = round(file_lufs + raise_lu, 2)  # rounded: the cache key should not hang on the last digits
    limit_db = TRANSPARENT_DB + LIMIT_DB_PER_LU * max(0.0, file_lufs - DEFAULT_LOUDNESS)
    return ClipTargets(file_lufs, speech_lufs, round(speech_lufs - CHIME_BELOW_VOICE_LU, 2), limit_db)


def block_seconds(clip_seconds: float) -> float:
    """How many seconds of a file's blocks a clip this long fills (see _BLOCK_SHARE_SECONDS)."""
    return clip_seconds + _BLOCK_SHARE_SECONDS
