"""Tokenisation: lower-case words, contractions kept, digits and punctuation dropped, stop words removed."""

from __future__ import annotations

from pathlib import Path

from batch.lyrics.tokens import read_stop_words, tokenize


def test_words_are_lower_case_letters_with_inner_apostrophes() -> None:
    text = "Don\u2019t STOP me now!\nI'm havin' 2 good-times, Ça va?"
    assert tokenize(text) == ["don't", "stop", "me", "now", "i'm", "havin", "good", "times", "ça", "va"]


def test_stop_words_are_dropped() -> None:
    assert tokenize("The night and the city", frozenset({"the", "and"})) == ["night", "city"]
    assert tokenize("The night", ["the"]) == ["night"]


def test_empty_and_wordless_text() -> None:
    assert tokenize("") == [] and tokenize("1 2 3 !!! ...") == []


def test_stop_word_file(tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text("The\n\n# articles above\nand  # conjunction\n")
    assert read_stop_words(path) == frozenset({"the", "and"})
