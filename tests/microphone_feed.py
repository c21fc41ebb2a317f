"""The test microphone (ALSA `file` plugin + FIFO) and the test voices live in scripts/listen_corpus.py, which
the benchmark shares; this makes them importable from the tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import listen_corpus as corpus  # noqa: E402
from listen_corpus import Feed, microphone_config  # noqa: E402

__all__ = ["Feed", "corpus", "microphone_config"]
