"""A minimal BERT encoder (the architecture of MiniLM-L6) in plain torch, loaded from safetensors.

Why not `transformers.BertModel`: importing transformers costs several seconds of CPU per process
(every CLI call would pay it) and pulls in machinery we do not use. This module is the same
computation (post-LayerNorm encoder, exact-erf GELU, absolute positions, token type 0) in about a
hundred lines; `tests/text` checks it against `transformers.BertModel` when that is installed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from worldfm.errors import ConfigError, WorldfmError


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face BERT `config.json` this encoder uses."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"BERT hidden_size {self.hidden_size} does not split into {self.num_attention_heads} heads"
            )
        if self.hidden_act != "gelu":
            raise ConfigError(f"only hidden_act 'gelu' is supported, got {self.hidden_act!r}")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BertConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise WorldfmError(f"{path}: unreadable BERT config ({exc.__class__.__name__}: {exc})") from exc
        if data.get("model_type", "bert") != "bert":
            raise WorldfmError(f"{path}: model_type {data.get('model_type')!r} is not 'bert'")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise WorldfmError(f"{path}: only absolute position embeddings are supported")
        keys = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in keys})


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        d = c.hidden_size
        self.heads = c.num_attention_heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn_out = nn.Linear(d, d)
        self.attn_norm = nn.LayerNorm(d, eps=c.layer_norm_eps)
        self.intermediate = nn.Linear(d, c.intermediate_size)
        self.out = nn.Linear(c.intermediate_size, d)
        self.out_norm = nn.LayerNorm(d, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, heads, N, d/heads)

        y = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), bias
        )
        x = self.attn_norm(x + self.attn_out(y.transpose(1, 2).reshape(b, n, d)))
        return self.out_norm(x + self.out(F.gelu(self.intermediate(x))))


class BertEncoder(nn.Module):
    """Token ids `(B, L)` int64 + attention mask `(B, L)` bool -> hidden states `(B, L, hidden)` float32."""

    # Hugging Face parameter names -> ours (per layer, after `encoder.layer.{i}.`).
    _LAYER_KEYS: ClassVar[dict[str, str]] = {
        "attention.self.query": "query",
        "attention.self.key": "key",
        "attention.self.value": "value",
        "attention.output.dense": "attn_out",
        "attention.output.LayerNorm": "attn_norm",
        "intermediate.dense": "intermediate",
        "output.dense": "out",
        "output.LayerNorm": "out_norm",
    }

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.word = nn.Embedding(config.vocab_size, d)
        self.position = nn.Embedding(config.max_position_embeddings, d)
        self.token_type = nn.Embedding(config.type_vocab_size, d)
        self.embed_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n = ids.shape
        if n > self.config.max_position_embeddings:
            raise ConfigError(f"{n} tokens exceed BERT's {self.config.max_position_embeddings} positions")
        pos = torch.arange(n, device=ids.device)
        x = self.word(ids) + self.position(pos)[None] + self.token_type.weight[0]
        x = self.embed_norm(x)
        # Additive key mask: padded keys get -inf-like scores (every row keeps its [CLS] key, so no NaN).
        bias = torch.zeros(b, 1, 1, n, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~mask[:, None, None, :], torch.finfo(x.dtype).min)
        for layer in self.layers:
            x = layer(x, bias)
        return x

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> BertEncoder:
        """Load a Hugging Face BERT folder (`config.json` + `model.safetensors`) into float32, eval mode."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        config = BertConfig.from_file(folder / "config.json")
        model = cls(config)
        try:
            raw = load_file(str(folder / "model.safetensors"))
        except (SafetensorError, OSError) as exc:
            raise WorldfmError(
                f"{folder}: unreadable BERT weights ({exc.__class__.__name__}: {exc})"
            ) from exc
        raw = {k.removeprefix("bert."): v for k, v in raw.items()}
        state: dict[str, torch.Tensor] = {}
        for key, value in raw.items():
            if key.startswith("embeddings."):
                rest = key.removeprefix("embeddings.")
                name = {
                    "word_embeddings": "word",
                    "position_embeddings": "position",
                    "token_type_embeddings": "token_type",
                    "LayerNorm": "embed_norm",
                }.get(rest.rsplit(".", 1)[0])
                if name is not None:
                    state[f"{name}.{rest.rsplit('.', 1)[1]}"] = value
            elif key.startswith("encoder.layer."):
                i, rest = key.removeprefix("encoder.layer.").split(".", 1)
                sub, param = rest.rsplit(".", 1)
                if sub in cls._LAYER_KEYS:
                    state[f"layers.{i}.{cls._LAYER_KEYS[sub]}.{param}"] = value
            # position_ids buffers and the unused pooler are skipped
        missing = sorted(set(model.state_dict()) - set(state))
        if missing:
            raise WorldfmError(
                f"{folder}: BERT weights lack {missing[:4]}{' ...' if len(missing) > 4 else ''}"
            )
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model.eval().requires_grad_(False)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
