"""How hard the limiter works on a routine's export: the share of its speech samples it takes more than 3 dB off.

    .venv/bin/python scripts/gain_reduction.py arch calf ball my.yaml
    .venv/bin/python scripts/gain_reduction.py --loudness -23 --engine piper my.yaml

Issue #10 asks that at the default target at most 1 % of the samples lose more than 3 dB. Every spoken line is
levelled as the export levels it (same targets, same code), and its limiter gain counted once per time it is
said in the timeline; chimes are a plain gain and never limited. Prints one line per routine.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from voice_guide import api, compiler
from voice_guide.env import Environment
from voice_guide.loudness import levelled
from voice_guide.routine import Voice
from voice_guide.targets import TRANSPARENT_DB
from voice_guide.timeline import SAMPLE_RATE, SPEECH



def gain_reduction(
    routine: str, loudness: float | None = None, env: Environment | None = None, engine: str | None = None
) -> tuple[float, float, int, float]:
    """(share of speech samples limited by more than 3 dB, the deepest reduction in dB, samples, speech LUFS)."""
    env = env or Environment()
    settings = api.Settings(loudness=loudness, voice=Voice(engine=engine))
    loaded = api.load(routine)
    with api.synthesizer(loaded, settings, env) as synth:
        voice = synth.resolved
        timeline = compiler.compile(loaded, synth.length, voice=voice, chime=settings.chime)
        mixing = api.mixer(loaded, synth, settings, env)
        said = Counter(e.text for e in timeline.events if e.kind == SPEECH)
        over = total = 0
        deepest = 0.0
        for text, times in said.items():
            limited = levelled(synth.samples(text), SAMPLE_RATE, mixing.targets.speech_lufs, mixing.targets.limit_db)[1]
            over += times * int((limited < -TRANSPARENT_DB).sum())
            total += times * len(limited)
            deepest = min(deepest, float(limited.min(initial=0.0)))
    return over / max(total, 1), deepest, total, mixing.targets.speech_lufs


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routines", nargs="+")
    parser.add_argument("--loudness", type=float, default=None)
    parser.add_argument("--engine", default=None)
    args = parser.parse_args(argv)
    for routine in args.routines:
        share, deepest, samples, target = gain_reduction(routine, args.loudness, engine=args.engine)
        print(f"{routine}: {share * 100:.2f} % of {samples} speech samples limited by more than 3 dB "
              f"(deepest {deepest:.1f} dB; speech levelled to {target:.2f} LUFS)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
