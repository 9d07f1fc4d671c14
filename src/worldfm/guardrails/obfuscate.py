"""Evasion variants of a prompt, the tricks the normaliser undoes; used by tests, the benchmark and
(as augmentation) the classifier recipe.

    obfuscate("make a bomb", "leet")        -> "m4k3 a b0mb"
    obfuscate("make a bomb", "spaced")      -> "m a k e   a   b o m b"
    obfuscate("make a bomb", "homoglyph")   -> "mаkе a bоmb"   (Cyrillic а, е, о)

Each method changes the words of >= `min_len` letters (the content words) and is deterministic for
a given `seed`. `OBFUSCATIONS` lists the method names.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from worldfm.errors import UnknownNameError

_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "l": "1", "b": "8"}
_HOMOGLYPH = {
    "a": "а",
    "e": "е",
    "o": "о",
    "p": "р",
    "c": "с",
    "x": "х",
    "y": "у",
    "i": "і",
    "s": "ѕ",
    "k": "κ",
}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
_COMBINING = ("\u0336", "\u0301", "\u0308", "\u0331")


def _leet(word: str, rng: random.Random) -> str:
    out = [_LEET.get(c.lower(), c) if rng.random() < 0.7 else c for c in word]
    if out == list(word):  # always change at least one letter that has a leet form
        idx = [i for i, c in enumerate(word) if c.lower() in _LEET]
        if idx:
            i = rng.choice(idx)
            out[i] = _LEET[word[i].lower()]
    return "".join(out)


def _homoglyph(word: str, rng: random.Random) -> str:
    return "".join(_HOMOGLYPH.get(c, c) if rng.random() < 0.6 else c for c in word)


def _fullwidth(word: str, rng: random.Random) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)


def _zero_width(word: str, rng: random.Random) -> str:
    return "".join(c + (rng.choice(_ZERO_WIDTH) if i < len(word) - 1 else "") for i, c in enumerate(word))


def _combining(word: str, rng: random.Random) -> str:
    mark = rng.choice(_COMBINING)
    return "".join(c + mark for c in word)


def _repeat(word: str, rng: random.Random) -> str:
    vowels = [i for i, c in enumerate(word) if c.lower() in "aeiou"] or [0]
    i = rng.choice(vowels)
    return word[:i] + word[i] * rng.randint(3, 5) + word[i + 1 :]


def _joined(sep: str) -> Callable[[str, random.Random], str]:
    return lambda word, rng: sep.join(word)


def _mixed(word: str, rng: random.Random) -> str:
    """Two different tricks on one word (e.g. leetspeak and look-alikes)."""
    first, second = rng.sample([_leet, _homoglyph, _zero_width, _repeat], 2)
    return second(first(word, rng), rng)


_WORD_METHODS: dict[str, Callable[[str, random.Random], str]] = {
    "leet": _leet,
    "homoglyph": _homoglyph,
    "fullwidth": _fullwidth,
    "zero_width": _zero_width,
    "combining": _combining,
    "repeat": _repeat,
    "spaced": _joined(" "),  # word gaps widened to three spaces in `obfuscate`
    "dotted": _joined("."),
    "dashed": _joined("-"),
    "mixed": _mixed,
}
OBFUSCATIONS: tuple[str, ...] = tuple(_WORD_METHODS)


def obfuscate(text: str, method: str, seed: int = 0, min_len: int = 4) -> str:
    """`text` with every word of >= `min_len` letters disguised by `method` (one of OBFUSCATIONS).

    "spaced" also widens the gaps between words to three spaces, as such prompts are written
    ("k i l l   t h e   m a n"), so the letters of one word stay together.
    """
    if method not in _WORD_METHODS:
        raise UnknownNameError("obfuscation", method, list(OBFUSCATIONS))
    rng = random.Random(f"{seed}:{method}:{text}")
    fn = _WORD_METHODS[method]
    if method == "spaced":
        text = re.sub(r"(?<=\S) (?=\S)", "   ", text)
    return re.sub(
        r"[A-Za-z]+", lambda m: fn(m.group(0), rng) if len(m.group(0)) >= min_len else m.group(0), text
    )
