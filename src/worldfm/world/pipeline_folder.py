"""Reading a world-model pipeline folder (diffusers-style `model_index.json` + component folders),
shared by the diffusion and autoregressive pipelines."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from worldfm.errors import WorldfmError

MODEL_INDEX = "model_index.json"
T = TypeVar("T")


def not_shipped(name: str, where: Path, family: str, needs: str) -> WorldfmError:
    """The error for a tier without shipped weights: how to train it (`worldfm train <family>` with
    configs/<family>/<name>.yaml; `needs`: what that recipe needs first) and how to ship it."""
    train = f"worldfm train {family} --config configs/{family}/{name}.yaml --out runs/{name}"
    if name.endswith("-super"):
        how = f"-super tiers are for GPUs and ship no weights; train one with `{train}` and pass --model runs/{name}/export"
    else:
        how = (
            f"train it with `{train}` (needs {needs}) and pass --model runs/{name}/export, or copy that "
            f"folder to {where} to ship it"
        )
    return WorldfmError(f"weights for world model {name!r} are not shipped yet (no {where}); {how}")


def read_index_json(folder: Path) -> Any:
    """The parsed `folder/model_index.json` (any JSON value; callers check its shape), or a
    WorldfmError naming the file when it cannot be read or parsed."""
    file = folder / MODEL_INDEX
    try:
        return json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldfmError(f"{file}: unreadable ({exc.__class__.__name__}: {exc})") from exc


def write_index_json(folder: Path, index: dict[str, Any]) -> None:
    """Replace `folder/model_index.json` atomically with `index` (indented JSON)."""
    from worldfm.tokenizers.pretrained import atomic_file

    with atomic_file(folder / MODEL_INDEX) as tmp:
        tmp.write_text(json.dumps(index, indent=2) + "\n")


def read_pipeline_index(
    folder: Path, classes: tuple[str, ...], format_version: int, hint: str
) -> dict[str, Any]:
    """`folder/model_index.json` as a dict, checked: `_class_name` one of `classes` (else an error
    ending in `hint`, e.g. which loader reads other pipelines) and `_format_version` 1..format_version."""
    file = folder / MODEL_INDEX
    index = read_index_json(folder)
    name = index.get("_class_name") if isinstance(index, dict) else None
    if name not in classes:
        raise WorldfmError(f"{file}: _class_name {name!r} is not one of {', '.join(classes)}; {hint}")
    version = index.get("_format_version")
    if not isinstance(version, int) or not 1 <= version <= format_version:
        raise WorldfmError(f"{file}: format version {version!r} is not supported (1..{format_version})")
    return index


def read_settings(folder: Path, settings_cls: type[T]) -> T:
    """`folder/config.json` (a `_class_name` key and the fields of `settings_cls`) as a `settings_cls`."""
    try:
        data = json.loads((folder / "config.json").read_text())
        data.pop("_class_name", None)
        return settings_cls(**data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise WorldfmError(f"{folder}: unreadable {folder.name} config ({exc})") from exc


def resolve_pipeline_folder(
    name_or_path: str | os.PathLike[str],
    tiers: Iterable[str],
    shipped_dir: Callable[[], Path],
    not_shipped: Callable[[str], WorldfmError],
    what: str,
    name_paths: bool = False,
) -> Path:
    """A pipeline folder for a path (a folder with model_index.json) or a tier name in `tiers` (its
    shipped folder `shipped_dir() / name`, else `not_shipped(name)` is raised). `what` names the
    family in the unknown-name error ("world model"); with `name_paths`, a missing path that looks
    like one (a separator, a leading dot) gets "no such world model folder" instead."""
    text = os.fspath(name_or_path)
    path = Path(text)
    tiers = list(tiers)
    if path.is_dir():
        if not (path / MODEL_INDEX).is_file():
            raise WorldfmError(f"{path}: not a world model pipeline folder (no {MODEL_INDEX})")
        return path
    if text in tiers:
        shipped = shipped_dir() / text
        if (shipped / MODEL_INDEX).is_file():
            return shipped
        raise not_shipped(text)
    if path.exists():
        raise WorldfmError(f"{path}: is a file; expected a world model pipeline folder with {MODEL_INDEX}")
    if name_paths and (os.sep in text or text.startswith(".") or (os.altsep and os.altsep in text)):
        raise WorldfmError(f"{path}: no such world model folder")
    raise WorldfmError(
        f"unknown {what} {text!r}: not a folder and not a tier; expected a pipeline folder or one of: "
        f"{', '.join(tiers)}"
    )
