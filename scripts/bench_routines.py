"""Routines the benchmark makes for itself, as YAML text: the scaling pair, a live-timing routine, many lines.

Pure: each function returns the file's text; the benchmark writes it into a temporary folder.
"""

from __future__ import annotations

# Words taken from the kind of routine the tool is for; the same in every generated routine.
OPENING = (
    "Sit down somewhere comfortable, with both feet on the floor.",
    "Place both thumbs on the inside of the arch, close to the heel.",
)
PRESS = "Press slowly and softly, and walk your thumbs from the heel toward the ankle."
RELEASE = "Release, and set the foot back down on the floor."


def scaling_routine(hold_minutes: int) -> str:
    """A routine whose only difference from another is the length of its one hold (no cues: same words).

    >>> "hold: 60m" in scaling_routine(60) and "cues" not in scaling_routine(60)
    True
    """
    steps = [f"  - say: {line}\n    pause: 3s\n" for line in OPENING]
    steps.append(f"  - say: {PRESS}\n    hold: {int(hold_minutes)}m\n")
    steps.append(f"  - say: {RELEASE}\n    pause: 3s\n")
    return "title: Scaling test\nvoice:\n  rate: 150\nsteps:\n" + "".join(steps)


def live_routine(minutes: float) -> str:
    """A routine of about `minutes` (at least two): both feet, each a hold with spoken cues every 30 s.

    Many short sounds (chimes, cues, "halfway") give the live-timing measurement many event starts.

    >>> text = live_routine(2)
    >>> "sides: [left foot, right foot]" in text, "hold: 38s" in text
    (True, True)
    """
    # Fixed parts (title, opening, side announcements, release, reminders) take about 50 s; the result is at least `minutes` long.
    hold = max(30, round((max(2.0, minutes) * 60 - 45) / 2))
    return (
        "title: Live timing test\n"
        "voice:\n  rate: 170\n"
        "steps:\n"
        f"  - say: {OPENING[0]}\n    pause: 2s\n"
        "  - sides: [left foot, right foot]\n"
        "    steps:\n"
        f"      - say: {PRESS}\n"
        f"        hold: {hold}s\n"
        "        cues:\n          every: 15s\n          halfway: true\n"
        f"      - say: {RELEASE}\n        pause: 2s\n"
    )


NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven")
PARTS = ("heel", "arch", "ankle", "ball of the foot", "toes")


def many_lines_routine(count: int) -> str:
    """A routine of `count` distinct spoken lines and short pauses: what the speech stage costs per line.

    >>> text = many_lines_routine(40)
    >>> text.count("- say:"), len(set(line for line in text.splitlines() if "say:" in line))
    (40, 40)
    """
    steps = []
    for index in range(count):
        part = PARTS[index % len(PARTS)]
        number = NUMBERS[index // len(PARTS) % len(NUMBERS)]
        steps.append(f"  - say: \"Round {index + 1}, press {number} times near the {part}, then rest.\"\n"
                     "    pause: 2s\n")
    return "title: Many lines\nsteps:\n" + "".join(steps)
