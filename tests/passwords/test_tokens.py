"""The credential format: key id, secret, checksum (DESIGN §4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from passwords import tokens

ATOM_CHARS = re.compile(r'^[^(){ %*"\\\]\x00-\x1f\x7f]+$')  # RFC 9051 ATOM-CHAR


def test_generated_tokens_have_the_documented_shape():
    token = tokens.generate(tokens.IMAP)
    assert re.fullmatch(r"mk_imap_[0-9A-Za-z]{10}_[0-9A-Za-z]{36}", token.value)
    assert tokens.parse(token.value) == token
    assert ATOM_CHARS.match(token.value)  # LOGIN never needs quoting or a literal


def test_secret_carries_at_least_160_random_bits():
    import math

    assert tokens.SECRET_LENGTH * math.log2(62) >= 160


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v[:-1] + ("a" if v[-1] != "a" else "b"),
        lambda v: v[:20] + ("Z" if v[20] != "Z" else "Y") + v[21:],
        lambda v: v.upper(),
        lambda v: v[:-1],
        lambda v: v + "x",
        lambda v: v.replace("imap", "imap2"),
    ],
    ids=["checksum", "secret", "case", "short", "long", "prefix"],
)
def test_mistyped_tokens_fail_the_checksum(mutate):
    assert tokens.parse(mutate(tokens.generate(tokens.IMAP).value)) is None


def test_api_keys_are_recognised_without_a_lookup():
    key = tokens.generate(tokens.API).value
    assert key.startswith("mk_api_")
    assert tokens.looks_like_api_key(key)
    assert not tokens.looks_like_api_key(tokens.generate(tokens.IMAP).value)


# -- The patterns registered with secret scanners (docs/api.md "Leaked tokens") ---------------------

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
PATTERN_KINDS = {"mailkite_imap_app_password": tokens.IMAP, "mailkite_api_key": tokens.API}


@pytest.mark.parametrize(("name", "kind"), PATTERN_KINDS.items())
def test_scanner_patterns_are_documented_and_find_fresh_tokens(name: str, kind: str) -> None:
    pattern = tokens.SCANNER_PATTERNS[name]
    assert f"| `{name}` | `{pattern}` |" in DOCS  # the docs show exactly what the code defines
    for _ in range(200):
        value = tokens.generate(kind).value
        # As a scanner meets them: in config files, URLs, quoted, at the ends of lines.
        for text in (value, f'password = "{value}"', f"pass={value}\n", f"imaps://u:{value}@host/"):
            assert re.findall(pattern, text) == [value]


@pytest.mark.parametrize(("name", "kind"), PATTERN_KINDS.items())
def test_scanner_patterns_find_nothing_else(name: str, kind: str) -> None:
    pattern = tokens.SCANNER_PATTERNS[name]
    value = tokens.generate(kind).value
    other = tokens.generate(tokens.API if kind == tokens.IMAP else tokens.IMAP).value
    prefix = value[: value.index("_", 3) + 1]  # mk_imap_ or mk_api_
    key_id, tail = value[len(prefix) :].split("_")
    not_tokens = [
        other,  # the other kind has its own pattern
        value + "x",  # longer: part of some other string
        "x" + value,
        value[:-1],  # shorter
        f"{prefix}{key_id[:-1]}_{tail}",  # a key id one short
        f"{prefix}{key_id}-{tail}",
        value[:-1] + "é",  # not base62
        prefix.upper() + value[len(prefix) :],
        "mk_imap_" + "x" * 20,
    ]
    for text in not_tokens:
        assert re.findall(pattern, text) == [], text
