"""The benchmark's listening section: how well spoken commands are heard, measured offline on held-out voices.

Everything goes through `recogniser.Ears` (comfort noise, voice activity, grammar and phone-loop searches,
the verdict), fed in the microphone's own 64 ms periods, as the listening process does; only the device is
left out (the tests cover it through ALSA). Commands are said by voices the threshold was not chosen on
(listen_corpus.HELD_OUT; `--voices tuning` for the others), each in every variation, with gaps of 2.5 s, over
quiet, moderate and loud noise; so are things that are not commands (listen_corpus.NOT_COMMANDS). The routine's own speech is the
bundled arch routine as `export` writes it, fed back as if the microphone heard the speaker at the level of
the user's voice; "gated" drops what overlaps the player's own sounds (and their tail), as the player does.

    nice -n 10 .venv/bin/python scripts/bench_listen.py            # prints the rows as a Markdown table
    nice -n 10 .venv/bin/python scripts/bench_listen.py --quick    # without the two slow rows (lateness, routine)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import listen_corpus as corpus  # noqa: E402

from voice_guide import listening  # noqa: E402
from voice_guide.microphone import PERIOD  # noqa: E402
from voice_guide.recogniser import Ears  # noqa: E402

LEVELS = (("quiet", corpus.QUIET), ("moderate", corpus.MODERATE), ("loud", corpus.LOUD))


@dataclass(frozen=True)
class Outcome:
    """What became of one command said: the command taken (or None) and how long after its end."""

    said: str
    taken: str | None
    latency: float | None


def run_ears(samples: np.ndarray, seed: int = 0) -> tuple[list[tuple[listening.Heard, float]], float]:
    """Feed a stream period by period; (each command with the stream time it was decided at, CPU seconds)."""
    ears = Ears(seed=seed)
    decided = []
    cpu = time.process_time()
    for start in range(0, len(samples), PERIOD):
        for heard in ears.hear(samples[start:start + PERIOD]):
            decided.append((heard, ears.time))
    cpu = time.process_time() - cpu
    ears.close()
    return decided, cpu


def commands_said(voices: tuple[str, ...], noise: corpus.Noise, seed: int) -> tuple[list[Outcome], int, float, float]:
    """(outcomes, commands taken between the phrases, CPU seconds, seconds of audio)."""
    rng = np.random.default_rng(seed)
    parts = [(phrase.text, corpus.say(voice, phrase.text, variation))
             for voice in voices if corpus.available(voice)
             for variation in corpus.VARIATIONS for phrase in listening.PHRASES]
    order = rng.permutation(len(parts))
    parts = [parts[i] for i in order]
    samples, said = corpus.stream(parts, noise, rng)
    decided, cpu = run_ears(samples, seed)
    by_text = {phrase.text: phrase.command for phrase in listening.PHRASES}
    outcomes, used = [], set()
    for item in said:
        start, end = item.start / corpus.RATE, item.end / corpus.RATE
        near = [(i, h, at) for i, (h, at) in enumerate(decided) if h.start < end + 0.2 and h.end > start - 0.2]
        used.update(i for i, _, _ in near)
        right = [(h, at) for _, h, at in near if h.command == by_text[item.text]]
        if right:
            outcomes.append(Outcome(item.text, right[0][0].command, right[0][1] - end))
        else:
            outcomes.append(Outcome(item.text, near[0][1].command if near else None, None))
    stray = len(decided) - len(used)
    return outcomes, stray, cpu, len(samples) / corpus.RATE


def other_speech(voices: tuple[str, ...], noise: corpus.Noise, seed: int) -> tuple[int, int]:
    """(things said that are not commands, how many of them were taken as a command)."""
    rng = np.random.default_rng(seed)
    parts = [(text, corpus.say(voice, text, variation))
             for voice in voices if corpus.available(voice)
             for variation in corpus.VARIATIONS for text in corpus.NOT_COMMANDS]
    parts = [parts[i] for i in rng.permutation(len(parts))]
    samples, said = corpus.stream(parts, noise, rng)
    decided, _ = run_ears(samples, seed)
    taken = sum(any(h.start < item.end / corpus.RATE + 0.2 and h.end > item.start / corpus.RATE - 0.2
                    for h, _ in decided) for item in said)
    return len(said), taken


def routine_fed_back(routine: str = "arch") -> tuple[int, int, float]:
    """(commands taken ungated, gated, hours of the routine's audio) with its own speech in the microphone."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "routine.wav"
        subprocess.run([sys.executable, "-m", "voice_guide", "export", routine, "-o", str(wav), "--quiet"], check=True)
        raw = Path(folder) / "routine.raw"
        subprocess.run(["sox", str(wav), "-t", "raw", "-e", "float", "-b", "32", "-c", "1", str(raw), "rate", "16000"],
                       check=True)
        check = subprocess.run([sys.executable, "-m", "voice_guide", "check", "--json", routine],
                               check=True, capture_output=True, text=True)
        samples = np.fromfile(raw, dtype="<f4").astype(np.float64)
    events = json.loads(check.stdout)["events"]
    sounds = [(e["start"], e["end"]) for e in events if e["kind"] != "silence"]
    samples *= 10 ** (corpus.SPEECH_LEVEL_DBFS / 20) / corpus.active_rms(samples)
    rng = np.random.default_rng(7)
    samples = corpus.to_int16(samples + corpus.background(len(samples), corpus.QUIET, rng))
    decided, _ = run_ears(samples)
    gated = [h for h, _ in decided if listening.clear_of(h.start, h.end, sounds)]
    return len(decided), len(gated), len(samples) / corpus.RATE / 3600


def lateness_while_listening(routine: Path = ROOT / "tests" / "data" / "play" / "quick.yaml", *,
                             listen: bool = True) -> tuple[float, int]:
    """(worst lateness in ms of the scheduled sounds, sounds played) of `play --listen` on the test microphone
    (ALSA file plugins: noise in, sound out), with the recogniser hearing the whole run; `listen=False`: the
    same run without listening, for comparison on the same machine at the same time."""
    with tempfile.TemporaryDirectory() as folder:
        env, fifo, _ = corpus.microphone_config(Path(folder))
        log = Path(folder) / "timing.jsonl"
        feed = corpus.Feed(fifo, corpus.MODERATE)
        try:
            subprocess.run([sys.executable, "-m", "voice_guide", "play", str(routine), "--timing-log", str(log),
                            *(["--listen"] if listen else [])], env={**os.environ, **env}, check=True,
                           capture_output=True, timeout=300)
        finally:
            feed.stop()
        entries = [json.loads(line) for line in log.read_text().splitlines()]
    sounds = [e for e in entries if "lateness_ms" in e]
    return max(e["lateness_ms"] for e in sounds), len(sounds)


def rows(voices: tuple[str, ...] = corpus.HELD_OUT, *, quick: bool = False) -> list[tuple[str, str, str, str]]:
    """(measure, figure, target, met) rows."""
    out = []
    latencies: list[float] = []
    cpu_total = audio_total = 0.0
    for name, noise in LEVELS:
        outcomes, stray, cpu, seconds = commands_said(voices, noise, seed=len(out))
        cpu_total += cpu
        audio_total += seconds
        per = []
        for phrase in listening.PHRASES:
            mine = [o for o in outcomes if o.said == phrase.text]
            taken = sum(o.taken == phrase.command for o in mine)
            per.append(f"{phrase.text} {taken}/{len(mine)}")
        ok = sum(o.latency is not None for o in outcomes)
        wrong = sum(o.taken is not None and o.latency is None for o in outcomes)
        level_latencies = [o.latency for o in outcomes if o.latency is not None]
        latencies += level_latencies
        if level_latencies:
            out.append((f"decision after the end of the phrase, {name}, median / worst",
                        f"{statistics.median(level_latencies) * 1000:.0f} / {max(level_latencies) * 1000:.0f} ms",
                        "≤ 600 ms" if name != "loud" else "(reported)",
                        ("yes" if max(level_latencies) <= 0.6 else "no") if name != "loud" else ""))
        target = "≥ 90%" if name != "loud" else "(reported)"
        met = ("yes" if ok / len(outcomes) >= 0.9 else "no") if name != "loud" else ""
        out.append((f"commands acted on, {name} ({noise.label}), held-out voices",
                    f"{ok}/{len(outcomes)} = {ok / len(outcomes):.0%} ({'; '.join(per)})", target, met))
        out.append((f"wrong commands / taken between phrases, {name}", f"{wrong} / {stray}", "0 / 0",
                    "yes" if wrong == stray == 0 else "no"))
        others, taken = other_speech(voices, noise, seed=100 + len(out))
        out.append((f"other speech taken as a command, {name}", f"{taken}/{others} = {taken / others:.0%}", "", ""))
    if latencies:
        out.append(("decision after the end of the phrase, all levels, median / worst",
                    f"{statistics.median(latencies) * 1000:.0f} / {max(latencies) * 1000:.0f} ms", "", ""))
    out.append(("CPU share of one core (recognition, offline)", f"{cpu_total / audio_total:.1%}", "", ""))
    if quick:
        return out
    runs = [(lateness_while_listening(listen=True), lateness_while_listening(listen=False)) for _ in range(2)]
    with_listening = max(pair[0][0] for pair in runs)
    without = max(pair[1][0] for pair in runs)
    out.append(("worst lateness of scheduled sounds, listening / not (quick routine, 2 runs each, alternating)",
                f"{with_listening:.1f} / {without:.1f} ms", "≤ 15 ms", "yes" if with_listening <= 15 else "no"))
    ungated, gated, hours = routine_fed_back()
    out.append(("false commands from the routine's own speech, ungated", f"{ungated / hours:.0f} per hour ({ungated} in {hours * 60:.1f} min)", "", ""))
    out.append(("false commands from the routine's own speech, gated", f"{gated / hours:.0f} per hour ({gated} in {hours * 60:.1f} min)", "0", "yes" if gated == 0 else "no"))
    return out


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="held-out",
                        help="held-out (default), tuning, or voice names separated by commas")
    parser.add_argument("--quick", action="store_true", help="leave out the lateness and routine rows")
    args = parser.parse_args()
    voices = {"held-out": corpus.HELD_OUT, "tuning": corpus.TUNING}.get(args.voices) or tuple(args.voices.split(","))
    missing = [voice for voice in voices if not corpus.available(voice)]
    if missing:
        print(f"bench_listen: not installed, left out: {', '.join(missing)}", file=sys.stderr)
    print(f"Voices: {', '.join(v for v in voices if v not in missing)}\n")
    print("| measure | figure | target | met |")
    print("| --- | --- | --- | --- |")
    for row in rows(voices, quick=args.quick):
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
