"""Save and load tokenizer folders, and resolve shipped tier names to their weights.

A model folder (diffusers-style) holds:

- `config.json`: `{"_class_name": "VideoTokenizer", "_format_version": 1, "_dtype": "bfloat16", **config}`
- `model.safetensors`: the state dict, stored in `_dtype` (loaded back as float32)
- optionally `README.md`, a model card.

Shipped weights live in the package at `worldfm/hub/weights/<tier name>/` (`SHIPPED_WEIGHTS_DIR`).
A tier without a folder there (every tier until the nano weights are trained and shipped, and all
`-super` tiers) raises a `WorldfmError` that says how to train it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers.config import TokenizerConfig
from worldfm.tokenizers.registry import TOKENIZER_TIERS

if TYPE_CHECKING:
    import torch

    from worldfm.tokenizers.model import VideoTokenizer

# torch and safetensors are imported inside the functions, so resolving a name (what the CLI checks
# first) stays fast.

CLASS_NAME = "VideoTokenizer"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "hub" / "weights"
DTYPES: dict[str, str] = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "float32": "float32",
    "fp32": "float32",
}


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to `path`; rename it onto `path` on success, delete it on error."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a weight-storage name in `DTYPES` (ConfigError for anything else)."""
    import torch

    if name not in DTYPES:
        raise ConfigError(f"unknown weight dtype {name!r}; expected one of {sorted(DTYPES)}")
    return getattr(torch, DTYPES[name])


def save_model_folder(
    model: Any,
    path: str | os.PathLike[str],
    class_name: str,
    format_version: int,
    dtype: str = "bfloat16",
    model_card: str | None = None,
) -> Path:
    """Write a diffusers-style model folder: `config.json` (`_class_name`, `_format_version`, `_dtype`
    + `model.config.to_dict()`), `model.safetensors` (weights stored in `dtype`) and optionally a
    model card. The folder is created; each file is replaced atomically. Returns the folder."""
    from safetensors.torch import save_file

    stored = torch_dtype(dtype)
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise WorldfmError(f"{folder}: exists and is not a folder; cannot save a {class_name} there")
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", stored).contiguous() for k, v in model.state_dict().items()}
    dtype_name = str(stored).removeprefix("torch.")
    with atomic_file(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "_class_name": class_name, "_dtype": dtype_name})
    meta = {"_class_name": class_name, "_format_version": format_version, "_dtype": dtype_name}
    with atomic_file(folder / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps({**meta, **model.config.to_dict()}, indent=2) + "\n")
    if model_card is not None:
        with atomic_file(folder / CARD_FILE) as tmp:
            tmp.write_text(model_card)
    return folder


def save_tokenizer(
    model: VideoTokenizer,
    path: str | os.PathLike[str],
    dtype: str = "bfloat16",
    model_card: str | None = None,
) -> Path:
    """Write `model` to folder `path` (created; files replaced atomically one by one). Returns the folder."""
    return save_model_folder(model, path, CLASS_NAME, FORMAT_VERSION, dtype, model_card)


def _not_shipped(name: str) -> WorldfmError:
    if name.endswith("-super"):
        how = (
            f"-super tiers are for GPUs and have no shipped weights; train one with "
            f"`worldfm train tokenizer --config configs/tokenizer/{name}.yaml` and pass the saved folder"
        )
    else:
        how = (
            f"train it with `worldfm train tokenizer --config configs/tokenizer/{name}.yaml`, save it with "
            f"VideoTokenizer.save_pretrained, and pass that folder (or ship it as {SHIPPED_WEIGHTS_DIR / name})"
        )
    return WorldfmError(
        f"weights for tokenizer {name!r} are not shipped yet (no {SHIPPED_WEIGHTS_DIR / name}); {how}"
    )


def resolve_model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A model folder for a path or a shipped tier name; clear errors for anything else."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.is_dir():
        return path
    if text in TOKENIZER_TIERS:
        shipped = SHIPPED_WEIGHTS_DIR / text
        if (shipped / CONFIG_FILE).is_file():
            return shipped
        raise _not_shipped(text)
    if path.exists():
        raise WorldfmError(
            f"{path}: is a file; expected a tokenizer folder with {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    if os.sep in text or text.startswith(".") or (os.altsep and os.altsep in text):
        raise WorldfmError(f"{path}: no such tokenizer folder")
    raise WorldfmError(
        f"unknown tokenizer {text!r}: not a folder and not a tier; expected a model folder or one of: "
        f"{', '.join(TOKENIZER_TIERS)}"
    )


def read_model_config(
    folder: Path, class_name: str, format_version: int, kind: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read `config.json` of a model folder written by `save_model_folder`: checks `_class_name` and
    `_format_version` (1..format_version); returns (the config fields, the `_` metadata keys).
    `kind` names the folder in the error for a folder without config.json ("a tokenizer", "a DiT", ...)."""
    file = folder / CONFIG_FILE
    if not file.is_file():
        raise WorldfmError(f"{folder}: not {kind} folder (no {CONFIG_FILE})")
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldfmError(f"{file}: unreadable config ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise WorldfmError(f"{file}: expected a JSON object, got {type(data).__name__}")
    meta = {k: data.pop(k) for k in list(data) if k.startswith("_")}
    if meta.get("_class_name") != class_name:
        raise WorldfmError(f"{file}: _class_name is {meta.get('_class_name')!r}, expected {class_name!r}")
    version = meta.get("_format_version")
    if not isinstance(version, int) or version > format_version or version < 1:
        raise WorldfmError(
            f"{file}: format version {version!r} is not supported (this worldfm reads 1..{format_version})"
        )
    return data, meta


def load_model_weights(model: torch.nn.Module, folder: Path) -> torch.nn.Module:
    """Load `folder/model.safetensors` into `model` as float32, checking that every key and shape
    matches its config; clear errors for a missing, corrupt or mismatched file. Returns `model`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = folder / WEIGHTS_FILE
    if not file.is_file():
        raise WorldfmError(f"{folder}: no {WEIGHTS_FILE}")
    try:
        state = load_file(str(file), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise WorldfmError(f"{file}: corrupt weights ({exc.__class__.__name__}: {exc})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WorldfmError(
            f"{file}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise WorldfmError(
                f"{file}: {key} has shape {tuple(value.shape)}, the config needs {tuple(expected[key].shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model


def read_config(folder: Path) -> tuple[TokenizerConfig, dict[str, Any]]:
    """Parse `config.json` of a model folder into (config, metadata with the `_` keys)."""
    data, meta = read_model_config(folder, CLASS_NAME, FORMAT_VERSION, "a tokenizer")
    try:
        return TokenizerConfig.from_dict(data), meta
    except ConfigError as exc:
        raise ConfigError(f"{folder / CONFIG_FILE}: {exc}") from exc


def load_tokenizer(
    name_or_path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> VideoTokenizer:
    """Load a tokenizer folder or shipped tier into a float32 `VideoTokenizer` in eval mode."""
    from worldfm.tokenizers.model import VideoTokenizer

    folder = resolve_model_path(name_or_path)
    config, _ = read_config(folder)
    return load_model_weights(VideoTokenizer(config), folder).to(device).eval()
