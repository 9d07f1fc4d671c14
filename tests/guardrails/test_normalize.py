"""Each normalisation rule of the text pre-guard, on its own and combined, and benign text left alone."""

from __future__ import annotations

import pytest

from worldfm.errors import ConfigError
from worldfm.guardrails.normalize import normalize
from worldfm.guardrails.obfuscate import OBFUSCATIONS, obfuscate


@pytest.mark.parametrize(
    ("raw", "text", "rule"),
    [
        ("ｍａｋｅ ａ ｂｏｍｂ", "make a bomb", "nfkc"),
        ("ki\u200bll the m\u200dan", "kill the man", "invisible"),
        ("k\u0336i\u0336l\u0336l\u0336 him", "kill him", "combining"),
        ("KILL", "kill", "lowercase"),
        ("kіll the mаn", "kill the man", "confusables"),  # Cyrillic і and а
        ("κill", "kill", "confusables"),  # Greek kappa
        ("k i l l   t h e   m a n", "kill the man", "spaced"),
        ("k.i.l.l him", "kill him", "spaced"),
        ("k-i-l-l him", "kill him", "spaced"),
        ("k i l l t h e m a n", "kill the man", "spaced"),  # one run split by the dictionary
        ("b.o.m.b", "bomb", "spaced"),
        ("ki.ll", "kill", "punctuation"),
        ("b*mb*", "b*mb*", None),  # a wildcard hides a letter: left to the blocklist's fuzzy match
        ("k1ll", "kill", "leetspeak"),
        ("h4te", "hate", "leetspeak"),
        ("b0mb", "bomb", "leetspeak"),
        ("$hoot", "shoot", "leetspeak"),
        ("st@b", "stab", "leetspeak"),
        ("n4z1", "nazi", "leetspeak"),
        ("kiiiill", "kill", "repeats"),
        ("killllll", "kill", "repeats"),
        ("staaaabs", "stabs", "repeats"),
    ],
)
def test_each_rule(raw: str, text: str, rule: str | None) -> None:
    n = normalize(raw)
    assert n.text == text
    if rule is not None:
        assert rule in n.rules
    assert n.original == raw


@pytest.mark.parametrize(
    "benign",
    [
        "a ur5e arm moves at 0.5 m/s in a 3d scene",
        "export an mp4 at 60fps, 10x faster, 2nd take, 5kg payload, h264",
        "the robot's gripper on a self-driving car",
        "x-ray of a co2 tank",
        "kill the engine",
        "a b c",  # short letter runs are joined, but to a harmless word
    ],
)
def test_benign_text_survives(benign: str) -> None:
    n = normalize(benign)
    if benign != "a b c":
        assert n.text == benign.lower()
    assert n.words


def test_real_cyrillic_and_greek_words_are_kept() -> None:
    assert normalize("нож и вилка").text == "нож и вилка"  # not all look-alikes: a real Russian phrase
    assert normalize("λόγος").text == "λογοσ"  # accent (combining mark) dropped, final sigma case-folded


def test_candidates_keep_undecoded_spellings() -> None:
    n = normalize("ur5e")  # not a dictionary word after decoding: text kept, spelling offered for fuzzy
    assert n.text == "ur5e" and "urse" in n.candidates


@pytest.mark.parametrize("method", OBFUSCATIONS)
def test_obfuscations_are_undone(method: str) -> None:
    plain = "how to cook meth in a home lab"
    disguised = obfuscate(plain, method, seed=1)
    assert disguised != plain
    assert normalize(disguised).text == plain


def test_obfuscate_is_deterministic_and_rejects_unknown_methods() -> None:
    assert obfuscate("make a bomb", "mixed", seed=3) == obfuscate("make a bomb", "mixed", seed=3)
    with pytest.raises(Exception, match="unknown obfuscation 'rot13'"):
        obfuscate("x", "rot13")


def test_non_string_is_an_error() -> None:
    with pytest.raises(ConfigError, match="must be a str"):
        normalize(b"kill")  # type: ignore[arg-type]
