#!/usr/bin/env python3
"""Long fuzzing runs of the routine loader.

    python scripts/fuzz_loader.py [CORPUS_DIR] [libFuzzer options, e.g. -max_total_time=600]
    python scripts/fuzz_loader.py --plain 100000 [--seed 1]

The first form is coverage-guided with atheris (`pip install atheris`; it is not a project dependency).
Without a corpus directory it starts from tests/data/good/ and tests/data/bad/ copied into a temporary one.
The second form needs nothing extra: it damages the same sample files at random, without coverage guidance.

Every input must load, or be refused with RoutineError/BadInputError, within a second of CPU time;
anything else is a crash (atheris saves the input; --plain prints it and exits 1).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIRS = (ROOT / "tests" / "data" / "good", ROOT / "tests" / "data" / "bad")
TIME_LIMIT = 1.0  # CPU seconds per input


def one_input(data: bytes) -> None:
    """Loads `data` as bytes and as text; raises AssertionError when the loader breaks its promises."""
    from voice_guide.errors import BadInputError
    from voice_guide.loader import loads

    for value in (data, data.decode("utf-8", "replace")):
        started = time.process_time()
        try:
            loads(value, path="fuzz.yaml")
        except BadInputError as error:  # RoutineError is one
            for problem in getattr(error, "problems", ()):
                assert problem.line >= 0 and problem.column >= 0 and problem.message, problem
        elapsed = time.process_time() - started
        assert elapsed < TIME_LIMIT, f"took {elapsed:.2f}s of CPU"


def samples() -> list[Path]:
    return sorted(path for folder in SAMPLE_DIRS for path in folder.glob("*.yaml"))


def damaged(data: bytes, rng: random.Random) -> bytes:
    """`data` with a few random byte-level edits: replace, insert, delete, duplicate a slice."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(data))
        choice = rng.random()
        if choice < 0.3:
            data[at:at + 1] = bytes([rng.randrange(256)])
        elif choice < 0.55:
            data[at:at] = rng.choice([b"\t", b": ", b"- ", b"[", b"{", b"&a ", b"*a", b"!!", b"\n", b"'", b'"', b"\xff"])
        elif choice < 0.8:
            del data[at:at + rng.randint(1, 8)]
        else:
            end = min(len(data), at + rng.randint(1, 40))
            data[at:at] = data[at:end]
    return bytes(data)


def plain(runs: int, seed: int) -> int:
    """Random damage to the sample files, `runs` times; 0 when every input behaved."""
    rng = random.Random(seed)
    seeds = [path.read_bytes() for path in samples()]
    started = time.perf_counter()
    for run in range(runs):
        data = damaged(rng.choice(seeds), rng)
        try:
            one_input(data)
        except Exception:
            print(f"crash on run {run} (seed {seed}); input: {data!r}", file=sys.stderr)
            raise
    print(f"{runs} inputs in {time.perf_counter() - started:.1f}s, no crash (seed {seed})")
    return 0


def guided(argv: list[str]) -> int:
    """Coverage-guided fuzzing with atheris; `argv` goes to libFuzzer."""
    try:
        import atheris
    except ImportError:
        print(
            "atheris is not installed. Install it with `pip install atheris` (Linux x86-64 wheels exist; "
            "elsewhere it needs clang with libFuzzer), or run `python scripts/fuzz_loader.py --plain 100000`.",
            file=sys.stderr,
        )
        return 2
    with atheris.instrument_imports():
        import yaml  # noqa: F401  (instrumented so coverage reaches the parser)

        import voice_guide.durations  # noqa: F401
        import voice_guide.loader  # noqa: F401
    if not any(not arg.startswith("-") for arg in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="voice-guide-fuzz-"))
        for path in samples():
            shutil.copy(path, corpus / f"{path.parent.name}-{path.name}")
        argv = [argv[0], str(corpus), *argv[1:]]
        print(f"corpus: {corpus}", file=sys.stderr)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain", type=int, metavar="RUNS", help="random damage without atheris, RUNS inputs")
    parser.add_argument("--seed", type=int, default=1)
    known, rest = parser.parse_known_args(argv[1:])
    sys.path.insert(0, str(ROOT))
    if known.plain is not None:
        return plain(known.plain, known.seed)
    return guided([argv[0], *rest])


if __name__ == "__main__":
    sys.exit(main())
