"""The credential format: key id, secret, checksum (DESIGN §4)."""

from __future__ import annotations

import re

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
