"""Two versions of voice-guide side by side: the same exports, alternating pairs, in one run.

    .venv/bin/python scripts/bench_versions.py /path/to/older/checkout            # arch, 5 pairs
    .venv/bin/python scripts/bench_versions.py OLD --routine many --pairs 7       # a routine of 40 distinct lines
    .venv/bin/python scripts/bench_versions.py OLD --lines                        # the speech worker alone, per line

For a before/after figure of a change: OLD is a checkout of the version before it (e.g. `git worktree add
/tmp/before HEAD~1`), run with this Python and this environment, so only the source differs. For each cache
state (cold: an empty speech cache every run; warm: one filled beforehand for each version) it prints the
median of new/old for wall time and for CPU time (the process and every worker it waited for), and both
against the hand-made baseline (`espeak-ng -w` per line, `sox`), measured in the same alternation. `--lines`
measures the speech worker alone instead: each version's worker saying the routine's distinct lines one after
another, against one `espeak-ng -w` per line, per line (wall and CPU, the worker's start-up included).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_baseline import script as baseline_script  # noqa: E402
from bench_measure import Run, run  # noqa: E402
from bench_routines import many_lines_routine  # noqa: E402

NEW = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="a checkout of the older version (its top folder)")
    parser.add_argument("--routine", default="arch", help="bundled name or file; 'many': 40 distinct lines")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--lines", action="store_true", help="the speech worker alone, per line")
    options = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="vg-versions-"))
    try:
        routine = options.routine
        if routine == "many":
            routine = str(root / "many.yaml")
            Path(routine).write_text(many_lines_routine(40), encoding="utf-8")
        versions = {"new": NEW, "old": options.old.resolve()}
        warm = {name: root / f"warm-{name}" for name in versions}
        for name, tree in versions.items():
            export(tree, routine, root / f"warm-out-{name}.wav", warm[name])
        timeline = json.loads(subprocess.run(command(NEW, "check", "--json", routine), env=environment(NEW, warm["new"]),
                                             capture_output=True, text=True, check=True).stdout)
        timeline = timeline[0] if isinstance(timeline, list) else timeline
        voice = resolved_voice()
        if options.lines:
            return bench_lines(versions, timeline, voice, options.pairs, root)
        shell = baseline_script(timeline, voice=voice, rate_wpm=150, output="out.wav")
        print(f"routine {options.routine}, {options.pairs} alternating pairs; medians of the ratios")
        print("| cache | new/old wall | new/old CPU | new/baseline wall | old/baseline wall | new/baseline CPU |")
        print("| --- | --- | --- | --- | --- | --- |")
        for cold in (True, False):
            runs: dict[str, list[Run]] = {"new": [], "old": [], "baseline": []}
            for index in range(options.pairs):
                order = ["new", "old", "baseline"] if index % 2 == 0 else ["baseline", "old", "new"]
                for name in order:
                    folder = Path(tempfile.mkdtemp(dir=root))
                    if name == "baseline":
                        (folder / "baseline.sh").write_text(shell + "\n", encoding="utf-8")
                        runs[name].append(run(["bash", "baseline.sh"], cwd=str(folder), env=environment(NEW, folder)))
                    else:
                        cache = folder / "cache" if cold else warm[name]
                        runs[name].append(export(versions[name], routine, folder / "out.wav", cache))
                    shutil.rmtree(folder, ignore_errors=True)

            def ratio(a: str, b: str, field: str) -> str:
                values = [getattr(x, field) / getattr(y, field) for x, y in zip(runs[a], runs[b])]
                return f"{statistics.median(values):.2f}×"

            print(f"| {'cold' if cold else 'warm'} | {ratio('new', 'old', 'seconds')} | {ratio('new', 'old', 'cpu_seconds')}"
                  f" | {ratio('new', 'baseline', 'seconds')} | {ratio('old', 'baseline', 'seconds')}"
                  f" | {ratio('new', 'baseline', 'cpu_seconds')} |")
            for name, measured in runs.items():
                print(f"|   {name}: median {statistics.median(r.seconds for r in measured):.3f} s wall, "
                      f"{statistics.median(r.cpu_seconds for r in measured):.3f} s CPU | | | | | |")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


# Says each line of a JSON list through one speech worker (started from the tree given), one after another.
_SAY_LINES = """
import json, os, subprocess, sys
tree, lines, voice, folder = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
worker = subprocess.Popen([sys.executable, os.path.join(tree, "voice_guide", "_speech_worker.py")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert json.loads(worker.stdout.readline())["ok"]
for index, text in enumerate(lines):
    out = os.path.join(folder, f"{index}.wav")
    open(out, "w").close()
    worker.stdin.write(json.dumps({"op": "synth", "text": text, "voice": voice, "voice_name": voice, "rate": 150,
                                   "out": out, "key": ""}) + "\\n")
    worker.stdin.flush()
    assert json.loads(worker.stdout.readline())["ok"]
worker.stdin.close()
worker.wait()
"""


def bench_lines(versions: dict[str, Path], timeline: dict, voice: str, pairs: int, root: Path) -> int:
    """Per line: each version's worker against `espeak-ng -w`, alternating."""
    texts = list(dict.fromkeys(e["text"] for e in timeline["events"] if e["kind"] == "speech"))
    listed = root / "lines.json"
    listed.write_text(json.dumps(texts), encoding="utf-8")
    shell = "set -e\n" + "".join(f"espeak-ng -v {voice} -s 150 -w {index}.wav -- {shlex.quote(text)}\n"
                                  for index, text in enumerate(texts))
    runs: dict[str, list[Run]] = {"new": [], "old": [], "espeak-ng -w": []}
    for index in range(pairs):
        for name in (list(runs) if index % 2 == 0 else list(runs)[::-1]):
            folder = Path(tempfile.mkdtemp(dir=root))
            if name in versions:
                runs[name].append(run([sys.executable, "-c", _SAY_LINES, str(versions[name]), str(listed), voice,
                                       str(folder)], env=environment(versions[name], folder)))
            else:
                (folder / "lines.sh").write_text(shell, encoding="utf-8")
                runs[name].append(run(["bash", "lines.sh"], cwd=str(folder), env=environment(NEW, folder)))
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{len(texts)} distinct lines, {pairs} alternating runs; medians, per line (worker start-up included)")
    print("| who | wall per line | CPU per line |")
    print("| --- | --- | --- |")
    for name, measured in runs.items():
        wall = statistics.median(r.seconds for r in measured) / len(texts) * 1000
        cpu = statistics.median(r.cpu_seconds for r in measured) / len(texts) * 1000
        print(f"| {name} | {wall:.1f} ms | {cpu:.1f} ms |")
    return 0


def command(tree: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "voice_guide", *args]


def environment(tree: Path, cache: Path) -> dict[str, str]:
    """This environment with `tree`'s sources first on the path and `cache` as the cache; bytecode allowed (a
    user's installation has its .pyc files)."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**base, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": str(cache)}


def export(tree: Path, routine: str, out: Path, cache: Path) -> Run:
    return run([*command(tree, "export", routine, "-o", str(out), "--quiet", "--force")], env=environment(tree, cache),
               cwd=str(tree))


def resolved_voice() -> str:
    """The voice the default settings speak with (what the baseline's espeak-ng is given)."""
    from voice_guide import api
    from voice_guide.env import Environment

    with tempfile.TemporaryDirectory() as cache:
        with api.synthesizer(api.load("arch"), api.Settings(), Environment(cache_dir=Path(cache))) as synth:
            return str(synth.resolved.voice)


if __name__ == "__main__":
    sys.exit(main())
