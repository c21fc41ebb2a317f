"""The package's import graph, read from its files: one way only (no cycles), own modules imported at the top,
and only the API and the CLI wiring the pipeline's stages together."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "voice_guide"

# The pipeline's stages, in order: load -> compile -> synthesize -> mix -> play | render.
STAGES = ("loader", "compiler", "speech", "mixer", "scheduler", "render")
# The only modules that may import more than one stage (openingcheck: what play's chime is checked against).
WIRING = {"api", "cli", "openingcheck"}
# Own modules imported inside a function, each for a stated reason.
LAZY = {
    ("__init__", "api"): "`import voice_guide` stays light (PEP 562 __getattr__); the workers import the package",
    ("launch", "cli"): "a `check` whose result is known is printed before the pipeline is imported (checkmemo)",
    ("launch", "cachefiles"): "only `check` looks for its kept result, and `export` for a speech cache; `play`'s "
                              "chime does not wait for that code",
    ("launch", "_speech_process"): "only a cold `export` starts its speech worker before the pipeline is imported",
    ("launch", "checkmemo"): "only `check` looks for its kept result; `play`'s chime does not wait for that code",
    ("launch", "opening"): "`check`'s fast path loads no routine and no sound device; `play` starts its chime there",
    ("opening", "openingcheck"): "a chime the memo knows starts without PyYAML, the compiler and num2words",
    ("opening", "audio_sink"): "a forked check runs while the parent imports the sink: the child needs none of it",
    ("opening", "scheduler"): "a forked check runs while the parent imports the scheduler: the child needs none of it",
    ("opening", "timing_log"): "a forked check runs while the parent imports the timing log: the child needs none",
    ("user_settings", "yamlimport"): "PyYAML is read only when there is a settings file",
    ("mixer", "loudness"): "loudness is numpy from its first line; check and warm plays never level a clip",
    **{("api", name): "only play() needs the player's modules: an export or a check never loads them"
       for name in ("clock", "display", "keys", "prefetch", "procinfo", "scheduler", "timing_log", "listening",
                    "chime", "hearing")},
    **{("cli", name): "only play, check --listen and listen-test need them: an export never loads them"
       for name in ("listening", "user_settings", "hearing", "microphone")},
    **{("api", name): "only export --split and --transcript write their files: a plain export never loads them"
       for name in ("split", "transcript")},
    ("_piper_worker", "_speech_worker"): "run as a script the worker imports its sibling by file; this is the "
                                         "fallback for when it is imported from the package (doctests)",
}
# The layers, top down; a module imports only modules of its own layer or of layers below it.
LAYERS = {
    "front doors": {"__init__", "__main__", "launch", "api", "cli", "opening", "openingcheck"},
    "playing": {"scheduler", "prefetch", "display", "timing_log", "hearing"},
    "devices": {"clock", "audio_sink", "keys", "procinfo", "env", "microphone", "_listen_worker", "user_settings"},
    "stages": {"loader", "compiler", "speech", "mixer", "render", "audiofile", "split", "transcript"},
    "parts": {"durations", "phrases", "numberwords", "voices", "bundled", "chime", "loudness", "targets", "pcm", "mp3", "tags",
              "atomicfile", "cachefiles", "checkmemo", "openingmemo", "cpus", "printable", "yamlimport", "_speech_process",
              "_speech_worker", "_speech_cache",
              "_mix_cache", "engine", "_espeak_engine", "_piper_engine", "_piper_worker", "listening", "recogniser"},
    "facts": {"routine", "timeline", "errors", "formats", "timefmt", "commands"},
}
AUDIO_STACK = ("numpy", "soundfile", "simpleaudio", "pyttsx3", "rich", "mutagen")


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(own module imported, whether at the top of the file) for every import of the package's own modules,
    type-checking-only ones included: a cycle through types is a cycle too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        top.add(node)
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks
            top.update(node.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [alias.name for alias in node.names]
            found += [(name, node in top) for name in names if (PACKAGE / f"{name}.py").exists()]
    return found


def graph() -> dict[str, set[str]]:
    return {path.stem: {name for name, _ in imports_of(path)} for path in sorted(PACKAGE.glob("*.py"))}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 while on the path, 2 when done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle():
    assert find_cycle(graph()) is None


def test_own_modules_are_imported_at_the_top_but_for_the_stated_exceptions():
    inside = {(path.stem, name) for path in PACKAGE.glob("*.py") for name, at_top in imports_of(path) if not at_top}
    assert inside == set(LAZY)


def test_every_module_has_a_layer_and_imports_only_its_own_layer_or_those_below():
    rank = {module: -level for level, modules in enumerate(LAYERS.values()) for module in modules}
    edges = graph()
    unplaced = set(edges) - set(rank)
    assert not unplaced, f"put {sorted(unplaced)} in a layer of LAYERS here (and in the README's How it works)"
    upward = [(module, target) for module, targets in edges.items() for target in targets
              if rank[target] > rank[module]]
    assert upward == []


def test_only_the_api_and_the_cli_wire_stages_together():
    wiring = {module: sorted(targets & set(STAGES)) for module, targets in graph().items()
              if len(targets & set(STAGES)) > 1}
    assert set(wiring) == WIRING, wiring


def test_no_stage_imports_a_later_one():
    edges = graph()
    for position, stage in enumerate(STAGES):
        later = set(STAGES[position + 1:])
        assert not edges[stage] & later, f"{stage} imports {sorted(edges[stage] & later)}"


def test_the_player_is_in_parts_each_in_a_module_of_its_own():
    defined = {path.stem: {node.name for node in ast.parse(path.read_text()).body
                           if isinstance(node, (ast.ClassDef, ast.FunctionDef))} for path in PACKAGE.glob("*.py")}
    homes = {name: module for module, names in defined.items() for name in names}
    assert homes["Scheduler"] == "scheduler" and homes["MonotonicClock"] == "clock"
    assert homes["Prefetcher"] == "prefetch" and homes["TimingLog"] == "timing_log"
    assert homes["SimpleaudioSink"] == "audio_sink" and homes["KeyReader"] == "keys"
    assert homes["play"] == "api" and not (PACKAGE / "player.py").exists()


@pytest.mark.slow
def test_check_imports_no_audio_stack(cache_root):
    code = (
        "import sys; from voice_guide.cli import main; status = main(['check', 'arch']); "
        f"print(sorted(m for m in {AUDIO_STACK!r} if m in sys.modules), file=sys.stderr); sys.exit(status)"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
