"""Benchmark voice-guide against the hand-made baseline; print one Markdown table (see README, "Benchmarks").

    .venv/bin/python scripts/bench.py            # default: 5 alternating pairs per figure, live timing cold and warm
    .venv/bin/python scripts/bench.py --quick    # 2 pairs, live timing warm only
    .venv/bin/python scripts/bench.py --routine my.yaml --minutes 10 --only export,live
    .venv/bin/python scripts/bench.py --quick --only piper   # the neural engine beside espeak-ng

It measures, side by side in one run: export (WAV and MP3, cold and warm speech cache) against one
`espeak-ng -w` per line padded and joined with `sox` (and `ffmpeg` for MP3); a 60-minute routine against a
5-minute one with the same words (time and peak memory); live timing of `play` under ALSA's `file` plugin;
the time to the first sound; start-up of `--help` and `check`; Piper (first word, export against espeak-ng,
real-time factor, memory). Figures are medians of alternating runs and
ratios; the machine is assumed shared and noisy. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_baseline import script as baseline_script  # noqa: E402
from bench_measure import BenchError, Run, alternate, lateness, median_ratio, medians, run  # noqa: E402
from bench_routines import live_routine, scaling_routine  # noqa: E402

SECTIONS = ("export", "scaling", "live", "first", "startup", "piper", "listen")
PIPER = ("--engine", "piper")
# What `check` must not import: validating a file never needs the audio stack.
AUDIO_STACK = ("numpy", "scipy", "pyloudnorm", "soundfile", "simpleaudio", "pyttsx3", "mutagen")
ALSA_FILE_DEVICE = """\
</usr/share/alsa/alsa.conf>
pcm.!default {{
    type file
    slave.pcm "null"
    file "{path}"
    format "raw"
    truncate false
}}
"""


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    measure: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: str


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    bench = Bench(options)
    try:
        rows = bench.run_all()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        bench.cleanup()
    print(machine_description())
    print()
    print(markdown(rows))
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 pairs per figure, live timing warm only")
    parser.add_argument("--pairs", type=int, help="alternating pairs per figure (default 5, --quick 2)")
    parser.add_argument("--routine", default="arch", help="routine file or bundled name to export (default arch)")
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the live-timing routine (>= 2)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed on stderr)")
    parser.add_argument("--command", help="the voice-guide command to measure, e.g. 'python patched.py' (for "
                                          "before/after experiments; default: the voice-guide next to this Python)")
    options = parser.parse_args(argv)
    options.pairs = options.pairs or (2 if options.quick else 5)
    options.only = [s for s in options.only.split(",") if s]
    unknown = set(options.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return options


def voice_guide_command() -> list[str]:
    """The installed console script next to this Python (what a user runs), else `python -m voice_guide`."""
    script = Path(sys.executable).with_name("voice-guide")
    return [str(script)] if script.exists() else [sys.executable, "-m", "voice_guide"]


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Bench:
    """All measurements of one run, sharing a temporary folder and a warm speech cache."""

    def __init__(self, options: argparse.Namespace):
        self.options = options
        self.pairs = options.pairs
        self.root = Path(tempfile.mkdtemp(prefix="vg-bench-"))
        self.vg = shlex.split(options.command) if options.command else voice_guide_command()
        self.warm = self.root / "warm-cache"
        self.routine = self._routine_path(options.routine)
        self._counter = 0

    def cleanup(self) -> None:
        if self.options.keep:
            progress(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def run_all(self) -> list[Row]:
        missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
        if missing and "export" in self.options.only:
            raise BenchError(f"the baseline needs {' and '.join(missing)} (bash scripts/setup.sh --test installs them)")
        rows: list[Row] = []
        for section in SECTIONS:
            if section in self.options.only:
                rows += getattr(self, f"bench_{section}")()
        return rows

    # --- helpers ---------------------------------------------------------------------------------------------

    def _routine_path(self, routine: str) -> str:
        from voice_guide import api

        return str(api.resolve(routine).resolve())

    def fresh(self, name: str) -> Path:
        """A new empty folder under the temporary root."""
        self._counter += 1
        folder = self.root / f"{name}-{self._counter}"
        folder.mkdir()
        return folder

    def env(self, cache: Path, **extra: str) -> dict[str, str]:
        """The children's environment: this one, with its own cache folder (and no ban on bytecode files).

        PYTHONDONTWRITEBYTECODE (set in some CI and sandbox shells) makes every run compile voice-guide's
        sources again; a user's installation has its .pyc files, so the benchmark measures with them.
        """
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return {**base, "XDG_CACHE_HOME": str(cache), **extra}

    def warm_up(self, routine: str, options: tuple[str, ...] = ()) -> None:
        """Run `routine` once into the warm cache: every clip spoken and levelled, as after a first use.

        An export, not a `check`: `check` only speaks the lines, and a warm run must not level either.
        """
        self.export(routine, ".wav", cold=False, options=options)

    def export(self, routine: str, suffix: str, *, cold: bool, options: tuple[str, ...] = ()) -> Run:
        folder = self.fresh("export")
        cache = folder / "cache" if cold else self.warm
        try:
            return run([*self.vg, "export", routine, "-o", str(folder / f"out{suffix}"), "--quiet", *options],
                       env=self.env(cache))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def timeline(self, routine: str) -> dict:
        done = subprocess.run(
            [*self.vg, "check", "--json", routine], env=self.env(self.warm), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"check --json {routine} failed: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def resolved_voice(self, routine: str) -> tuple[str, int]:
        """The espeak-ng voice and rate (words per minute) voice-guide speaks this routine with."""
        from voice_guide import api
        from voice_guide.env import Environment

        env = Environment(cache_dir=self.warm / "voice-guide")
        with api.synthesizer(api.load(routine), api.Settings(), env) as synth:
            voice = synth.resolved
        return str(voice.voice), int(voice.rate or 150)

    # --- 1. export against the baseline ----------------------------------------------------------------------

    def bench_export(self) -> list[Row]:
        progress(f"export: warming the cache and writing the baseline for {self.routine}")
        self.warm_up(self.routine)
        timeline = self.timeline(self.routine)
        voice, rate = self.resolved_voice(self.routine)
        rows = []
        cases = [("WAV", ".wav", True), ("WAV", ".wav", False)]
        if shutil.which("ffmpeg"):
            cases += [("MP3", ".mp3", True), ("MP3", ".mp3", False)]
        else:
            progress("export: ffmpeg not found, MP3 skipped")
        peaks: dict[str, list[float]] = {"cold": [], "warm": []}
        for label, suffix, cold in cases:
            cache = "cold" if cold else "warm"
            progress(f"export: {label}, {cache} cache, {self.pairs} pairs")
            runs: list[Run] = []
            theirs: list[Run] = []

            def ours() -> float:
                runs.append(self.export(self.routine, suffix, cold=cold))
                return runs[-1].seconds

            def baseline() -> float:
                theirs.append(self.baseline(timeline, voice, rate, mp3=suffix == ".mp3"))
                return theirs[-1].seconds

            pairs = alternate(ours, baseline, self.pairs)
            peaks[cache] += [r.peak_mb for r in runs]
            target, limit = ("≤ 0.4×", 0.4) if label == "WAV" and not cold else ("≤ 1.0×", 1.0)
            name = "espeak-ng + sox" + (" + ffmpeg" if label == "MP3" else "")
            measure = f"export {Path(self.routine).stem} → {label}, {cache} cache"
            rows.append(ratio_row(measure, pairs, target, limit, baseline_name=name))
            # CPU time in the same order as the pairs (alternate swaps who goes first, not the lists)
            cpu = [(a.cpu_seconds, b.cpu_seconds) for a, b in zip(runs, theirs)]
            rows.append(ratio_row(f"{measure}, CPU time", cpu, "", None, baseline_name=name))
        rows.append(Row("export peak memory (max RSS), cold / warm cache",
                        f"{max(peaks['cold']):.0f} / {max(peaks['warm']):.0f} MB", "", "", "", ""))
        return rows

    def baseline(self, timeline: dict, voice: str, rate: int, *, mp3: bool) -> Run:
        folder = self.fresh("baseline")
        try:
            text = baseline_script(timeline, voice=voice, rate_wpm=rate, output="out.wav", mp3="out.mp3" if mp3 else None)
            (folder / "baseline.sh").write_text(text + "\n", encoding="utf-8")
            return run(["bash", "baseline.sh"], cwd=str(folder), env=self.env(self.warm))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # --- 2. scaling: silence should cost nothing -------------------------------------------------------------

    def bench_scaling(self) -> list[Row]:
        short, long = self.root / "hold-5m.yaml", self.root / "hold-60m.yaml"
        short.write_text(scaling_routine(5), encoding="utf-8")
        long.write_text(scaling_routine(60), encoding="utf-8")
        progress(f"scaling: 60-minute against 5-minute routine, warm cache, {self.pairs} pairs")
        for routine in (short, long):
            self.warm_up(str(routine))
        memory: dict[str, list[float]] = {"5": [], "60": []}

        def measure(routine: Path, key: str) -> Callable[[], float]:
            def once() -> float:
                done = self.export(str(routine), ".wav", cold=False)
                memory[key].append(done.peak_mb)
                return done.seconds

            return once

        pairs = alternate(measure(long, "60"), measure(short, "5"), self.pairs)
        peak_long, peak_short = max(memory["60"]), max(memory["5"])
        return [
            ratio_row("export 60-min hold vs 5-min hold (warm)", pairs, "≤ 1.5×", 1.5, baseline_name="5-min"),
            Row("peak memory, 60-min vs 5-min export", f"{peak_long:.0f} MB", f"{peak_short:.0f} MB",
                f"{peak_long / peak_short:.2f}×", "flat, < 80 MB", yes(peak_long < 80 and peak_long / peak_short < 1.2)),
        ]

    # --- 3. live timing --------------------------------------------------------------------------------------

    def bench_live(self) -> list[Row]:
        routine = self.root / "live.yaml"
        routine.write_text(live_routine(self.options.minutes), encoding="utf-8")
        timeline = self.timeline(str(routine))
        length, rate = timeline["total_seconds"], timeline["sample_rate"]
        caches = ["warm"] if self.options.quick else ["cold", "warm"]
        rows = []
        for cache in caches:
            progress(f"live: playing {length / 60:.1f} min under the ALSA file plugin, {cache} cache")
            if cache == "warm":
                self.warm_up(str(routine))
            log = self.play_through(routine, cold=cache == "cold")
            late = lateness(log, rate)
            label = f"play {length / 60:.1f} min ({late.sounds} sounds), {cache} cache"
            rows.append(Row(f"{label}: mean / worst lateness", f"{late.mean_ms:.1f} / {late.worst_ms:.1f} ms", "", "",
                            "worst < 15 ms", yes(late.worst_ms < 15)))
            rows.append(Row(f"{label}: drift at the end", f"{late.drift_ms:.1f} ms", "", "", "< 20 ms",
                            yes(abs(late.drift_ms) < 20)))
        return rows

    def alsa_env(self, folder: Path, cache: Path) -> dict[str, str]:
        config = folder / "asound.conf"
        config.write_text(ALSA_FILE_DEVICE.format(path=folder / "out.raw"), encoding="utf-8")
        return self.env(cache, ALSA_CONFIG_PATH=str(config))

    def play_through(self, routine: Path, *, cold: bool) -> list[dict]:
        folder = self.fresh("play")
        log = folder / "timing.jsonl"
        env = self.alsa_env(folder, folder / "cache" if cold else self.warm)
        run([*self.vg, "play", str(routine), "--no-keys", "--timing-log", str(log)], env=env)
        lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        shutil.rmtree(folder, ignore_errors=True)
        return lines

    # --- 4. first sound --------------------------------------------------------------------------------------

    def bench_first(self) -> list[Row]:
        results = self.first_sounds()
        rows = []
        from voice_guide.chime import CHIME_SECONDS
        from voice_guide.compiler import AFTER_CHIME

        lead_in = CHIME_SECONDS + AFTER_CHIME  # the first word is due this long after the first sound
        for cache in ("cold", "warm"):
            logged = statistics.median(r[0] for r in results[cache])
            seen = statistics.median(r[1] for r in results[cache])
            word = statistics.median(r[2] for r in results[cache])
            target, met = ("< 200 ms", yes(logged < 0.2)) if cache == "cold" else ("< 150 ms", yes(logged < 0.15))
            rows.append(Row(f"first sound after the command starts, {cache} cache",
                            f"{logged * 1000:.0f} ms (device file: {seen * 1000:.0f} ms)", "", "", target, met))
            rows.append(Row(f"first word (after the opening chime), {cache} cache", f"{word * 1000:.0f} ms",
                            "", "", f"≤ {lead_in * 1000 + 150:.0f} ms", yes(word <= lead_in + 0.15)))
        return rows

    def first_sounds(self, options: tuple[str, ...] = ()) -> dict[str, list[tuple[float, float, float]]]:
        """first_sound() of `play` with `options`, cold and warm, in alternating pairs."""
        routine = self.root / "first.yaml"
        routine.write_text(live_routine(2), encoding="utf-8")
        self.warm_up(str(routine), options)
        self.first_sound(routine, cold=False, options=options)  # as after a first play: its opening is kept too
        progress(f"first sound {' '.join(options)}: {self.pairs} pairs of cold and warm starts")
        results: dict[str, list[tuple[float, float, float]]] = {"cold": [], "warm": []}

        def start(cache: str) -> Callable[[], float]:
            def once() -> float:
                results[cache].append(self.first_sound(routine, cold=cache == "cold", options=options))
                return results[cache][-1][0]

            return once

        alternate(start("cold"), start("warm"), self.pairs)
        return results

    def first_sound(self, routine: Path, *, cold: bool, options: tuple[str, ...] = ()) -> tuple[float, float, float]:
        """(first sound as the player logs it, first bytes seen in the device's file, first speech), seconds.

        The player logs times from its own process start (from /proc); the device file is watched from here,
        timed from just before the process is started, as an independent check.
        """
        folder = self.fresh("first")
        log, raw = folder / "timing.jsonl", folder / "out.raw"
        env = self.alsa_env(folder, folder / "cache" if cold else self.warm)
        started = time.perf_counter()
        child = subprocess.Popen([*self.vg, "play", str(routine), "--no-keys", "--timing-log", str(log), *options], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            seen = None
            deadline = started + 60
            while time.perf_counter() < deadline and child.poll() is None:
                if seen is None and raw.exists() and raw.stat().st_size > 0:
                    seen = time.perf_counter() - started
                lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
                speech = [json.loads(line) for line in lines if '"speech"' in line]
                if seen is not None and speech:
                    first = json.loads(lines[0])
                    return first["actual"], seen, speech[0]["actual"]
                time.sleep(0.001)
            raise BenchError(f"play gave no sound within 60 s: {child.stderr.read().decode() if child.stderr else ''}")
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
            if child.stderr:
                child.stderr.close()
            shutil.rmtree(folder, ignore_errors=True)

    # --- 5. start-up -----------------------------------------------------------------------------------------

    def bench_startup(self) -> list[Row]:
        progress(f"start-up: --help and check, {self.pairs} pairs each")
        self.warm_up(self.routine)
        python = [sys.executable, "-c", "pass"]
        rows = []
        runs = iter(range(1 << 30))
        check = [*self.vg, "check", self.routine]
        for label, command, fresh, target in (
            ("voice-guide --help", [*self.vg, "--help"], False, None),
            ("voice-guide check (warm cache)", check, False, 2.5),
            # Another value of an unused variable each time: the key differs, so the check really runs, as after
            # an edit of the routine (the speech cache stays warm).
            ("voice-guide check, routine just edited (warm speech cache)", check, True, None),
        ):
            def ours(command=command, fresh=fresh) -> float:
                extra = {"VOICE_GUIDE_BENCH_RUN": str(next(runs))} if fresh else {}
                return run(command, env={**self.env(self.warm), **extra}).seconds

            run(check, env=self.env(self.warm))  # the first check of the file is kept for the next
            pairs = alternate(ours, lambda: run(python, env=self.env(self.warm)).seconds, self.pairs)
            mine, bare = medians(pairs)
            ratio = median_ratio(pairs)
            rows.append(Row(label, f"{mine * 1000:.0f} ms", f"{bare * 1000:.0f} ms (python -c pass)",
                            f"{ratio:.1f}×", f"≤ {target}×" if target else "", yes(ratio <= target) if target else ""))
        imported = self.heavy_imports([sys.executable, "-X", "importtime", "-m", "voice_guide", "check", self.routine])
        rows.append(Row("audio stack imported by `check`", ", ".join(imported) or "none", "", "", "none",
                        yes(not imported)))
        return rows

    def bench_listen(self) -> list[Row]:
        """Spoken commands (scripts/bench_listen.py): held-out voices, three noise levels, the routine fed back."""
        import bench_listen

        progress("listening: commands said by held-out voices, the routine's own speech fed back (a few minutes)")
        return [Row(measure, figure, "", "", target, met) for measure, figure, target, met in bench_listen.rows()]

    # --- 6. the neural engine ---------------------------------------------------------------------------------

    def bench_piper(self) -> list[Row]:
        """Piper beside espeak-ng: first word, cold and warm export, real-time factor, memory."""
        rows = []
        results = self.first_sounds(PIPER)
        for cache in ("cold", "warm"):
            word = statistics.median(r[2] for r in results[cache])
            rows.append(Row(f"Piper: first word (after the opening chime), {cache} cache", f"{word * 1000:.0f} ms",
                            "", "", "", ""))
        self.warm_up(self.routine, PIPER)
        self.warm_up(self.routine)
        peaks: list[float] = []
        for cold in (True, False):
            cache = "cold" if cold else "warm"
            progress(f"piper: export WAV, {cache} cache, Piper against espeak-ng, {self.pairs} pairs")
            runs: list[Run] = []

            def neural() -> float:
                runs.append(self.export(self.routine, ".wav", cold=cold, options=PIPER))
                return runs[-1].seconds

            pairs = alternate(neural, lambda: self.export(self.routine, ".wav", cold=cold).seconds, self.pairs)
            peaks += [r.peak_mb for r in runs] if cold else []
            rows.append(ratio_row(f"Piper: export {Path(self.routine).stem} → WAV, {cache} cache", pairs, "", None,
                                  baseline_name="voice-guide with espeak-ng"))
        rows.append(self.piper_real_time_factor())
        rows.append(Row("Piper: export peak memory (largest process: a speech worker holding the model), cold",
                        f"{max(peaks):.0f} MB", "", "", "", ""))
        return rows

    def piper_real_time_factor(self) -> Row:
        """Seconds of one worker's time per second of speech, over the routine's distinct lines (a cold cache)."""
        from voice_guide import api, compiler
        from voice_guide.routine import Voice
        from voice_guide.speech import Synthesizer

        progress("piper: real-time factor, one worker")
        routine = api.load(self.routine)
        with Synthesizer(Voice(engine="piper"), cache_dir=self.fresh("rtf"), workers=1) as speech:
            texts = list(dict.fromkeys(compiler.texts(routine, voice=speech.resolved)))
            speech.length(texts[0])  # the worker has started and loaded the model
            started = time.perf_counter()
            frames = sum(speech.lengths(texts[1:]))
            seconds = time.perf_counter() - started
        audio = frames / 22050
        return Row(f"Piper: synthesis real-time factor (one worker, one thread; {audio:.0f} s of speech)",
                   f"{seconds / audio:.3f}", "", "", "", "")

    def heavy_imports(self, command: list[str]) -> list[str]:
        """Which of AUDIO_STACK a command imports, from `python -X importtime`."""
        done = run(command, env=self.env(self.warm))
        names = {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", done.stderr, re.M)}
        return [name for name in AUDIO_STACK if name in names]


# --- the table ---------------------------------------------------------------------------------------------------


def ratio_row(measure: str, pairs: list[tuple[float, float]], target: str, limit: float | None, *,
              baseline_name: str) -> Row:
    """A row for an A/B comparison: median seconds of each side and the median of the per-pair ratios."""
    ours, theirs = medians(pairs)
    ratio = median_ratio(pairs)
    met = yes(ratio <= limit) if limit is not None else ""
    return Row(measure, f"{ours:.2f} s", f"{theirs:.2f} s ({baseline_name})", f"{ratio:.2f}×", target, met)


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table.

    >>> print(markdown([Row("a", "1 s", "2 s", "0.50×", "≤ 1×", "yes")]))
    | measure | voice-guide | baseline | ratio | target | met |
    | --- | --- | --- | --- | --- | --- |
    | a | 1 s | 2 s | 0.50× | ≤ 1× | yes |
    """
    lines = ["| measure | voice-guide | baseline | ratio | target | met |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.measure} | {r.ours} | {r.baseline} | {r.ratio} | {r.target} | {r.met} |" for r in rows]
    return "\n".join(lines)


def machine_description() -> str:
    """One line: CPUs, CPU model, Python, espeak-ng, and the load when the run ended."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.split("  ")[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"Machine: {os.cpu_count()} CPUs, {model}, Python {platform.python_version()}, {espeak.strip()}, "
            f"{platform.system()} {platform.release()}; load average at the end {load}.")


if __name__ == "__main__":
    sys.exit(main())
