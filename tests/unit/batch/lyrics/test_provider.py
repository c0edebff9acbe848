"""The provider contract: template validation, URL encoding, status meaning."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from batch.lyrics.provider import Answer, ProviderTemplate, classify
from playlist2vec.errors import InvalidInput


def test_values_are_url_encoded_so_they_cannot_change_the_url_structure() -> None:
    provider = ProviderTemplate.parse("https://lyrics.example/api?a={artist}&t={title}")
    url = provider.url("AC/DC", "Rock & Roll = Noise? #1 ü")
    parts = urlsplit(url)
    assert parts.path == "/api" and parts.fragment == ""
    assert parse_qs(parts.query) == {"a": ["AC/DC"], "t": ["Rock & Roll = Noise? #1 ü"]}


def test_placeholders_may_sit_in_the_path() -> None:
    provider = ProviderTemplate.parse("http://h/{artist}/{title}.txt")
    assert provider.url("a b", "c/d") == "http://h/a%20b/c%2Fd.txt"


@pytest.mark.parametrize("template, problem", [
    ("http://h/{artist}", "missing {title}"),
    ("http://h/lyrics", "missing {artist}, missing {title}"),
    ("http://h/{artist}/{title}/{album}", "unknown placeholder {album}"),
    ("http://h/{artist}/{title", "bad provider URL template"),
    ("h/{artist}/{title}", "must start with http"),
])
def test_bad_templates_are_refused_with_the_reason(template: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem.replace("{", r"\{").replace("}", r"\}")):
        ProviderTemplate.parse(template)


@pytest.mark.parametrize("status, answer", [
    (200, Answer.FOUND), (404, Answer.NOT_FOUND), (429, Answer.RETRY), (500, Answer.RETRY),
    (503, Answer.RETRY), (599, Answer.RETRY), (400, Answer.ERROR), (403, Answer.ERROR),
    (301, Answer.ERROR),
])
def test_status_meaning(status: int, answer: Answer) -> None:
    assert classify(status) is answer
