"""Lyric tokenisation: lower-case words (letters, inner apostrophes), optional stop words dropped."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# letters only (no digits or "_"), keeping contractions such as "don't" as one word
APOSTROPHES = "'\u2019"  # typographic apostrophes are common in lyrics
WORD = re.compile(rf"[^\W\d_]+(?:[{APOSTROPHES}][^\W\d_]+)*")


def tokenize(text: str, stop_words: Iterable[str] = frozenset()) -> list[str]:
    stop = stop_words if isinstance(stop_words, frozenset | set) else frozenset(stop_words)
    words = (w.replace("\u2019", "'") for w in WORD.findall(text.lower()))
    return [w for w in words if w not in stop]


def read_stop_words(path: Path) -> frozenset[str]:
    """One word per line; blank lines and `#` comments ignored; compared lower-cased."""
    lines = (line.split("#", 1)[0].strip().lower() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line)
