"""Put a trained detail refiner into a world-model pipeline folder, or take it out.

`attach_refiner` copies a refiner folder (`worldfm train refiner`'s export) into the pipeline as
`refiner/` and names it in model_index.json, after checking that the refiner was trained behind the
pipeline's own tokenizer decoder (its recorded decoder digest); the pipeline then refines its frames
with it (`detail_refine`, on by default). `detach_refiner` removes it again: the pipeline goes back to
the hand-made detail restore. Both replace files atomically and note the change in the folder's
training_record.json and model card.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from worldfm.errors import WorldfmError
from worldfm.world.pipeline_folder import MODEL_INDEX
from worldfm.world.refiner import REFINER_DIR, DetailRefiner, check_refiner_fits
from worldfm.world.swap_decoder import COMPONENT, note_change, replace_folder

CHANGES_KEY = "refiner_changes"  # the list in training_record.json that records attach / detach


def _pipeline_folder(pipeline: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    folder = Path(pipeline)
    file = folder / MODEL_INDEX
    if not file.is_file():
        raise WorldfmError(f"{folder}: not a world model pipeline folder (no {MODEL_INDEX})")
    try:
        index = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldfmError(f"{file}: unreadable ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(index, dict):
        raise WorldfmError(f"{file}: expected a JSON object")
    return folder, index


def _write_index(folder: Path, index: dict[str, Any]) -> None:
    from worldfm.tokenizers.pretrained import atomic_file

    with atomic_file(folder / MODEL_INDEX) as tmp:
        tmp.write_text(json.dumps(index, indent=2) + "\n")


def attach_refiner(pipeline: str | os.PathLike[str], refiner: str | os.PathLike[str]) -> dict[str, Any]:
    """Copy refiner folder `refiner` into world-model pipeline folder `pipeline` as `refiner/` (replacing
    any earlier one) once it is checked to fit the pipeline's tokenizer decoder. Returns a summary:
    pipeline, source, name, parameters, tokenizer, decoder digest, attached_at."""
    from worldfm.tokenizers import VideoTokenizer

    folder, index = _pipeline_folder(pipeline)
    if not (folder / COMPONENT).is_dir():
        raise WorldfmError(f"{folder}: the pipeline has no {COMPONENT}/ folder")
    model = DetailRefiner.from_pretrained(refiner)
    check_refiner_fits(model, VideoTokenizer.from_pretrained(folder / COMPONENT))
    target = folder / REFINER_DIR
    source = Path(refiner)
    if target.exists() and target.resolve() == source.resolve():
        raise WorldfmError(f"{source}: is the pipeline's own refiner/ already")

    def fill(path: Path) -> None:
        shutil.copytree(source, path)

    if target.exists():
        replace_folder(target, fill)
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            fill(tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    index[REFINER_DIR] = ["worldfm", "DetailRefiner"]
    _write_index(folder, index)
    config = model.config
    entry = {
        "action": "attached",
        "source": os.fspath(refiner),
        "name": config.name,
        "parameters": model.num_parameters(),
        "tokenizer": config.tokenizer,
        "decoder_digest": config.decoder_digest,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    note_change(
        folder,
        CHANGES_KEY,
        entry,
        f"\nDetail refiner `{config.name}` ({entry['parameters']:,} parameters, trained behind this "
        f"pipeline's tokenizer decoder {config.decoder_digest}) attached on {entry['at'][:10]} as `refiner/`: "
        "it replaces the hand-made detail restore (`detail_refine` false turns it off).\n",
    )
    return {"pipeline": str(folder), **entry}


def detach_refiner(pipeline: str | os.PathLike[str]) -> dict[str, Any]:
    """Remove `refiner/` from world-model pipeline folder `pipeline` (the index first, so a failure
    leaves a loadable pipeline). Returns a summary: pipeline, removed (the refiner's name)."""
    folder, index = _pipeline_folder(pipeline)
    target = folder / REFINER_DIR
    if not index.get(REFINER_DIR) and not target.exists():
        raise WorldfmError(f"{folder}: the pipeline has no refiner to remove")
    name = None
    if target.is_dir():
        try:
            name = DetailRefiner.from_pretrained(target).config.name
        except WorldfmError:
            name = None  # an unreadable refiner is removed all the same
    index[REFINER_DIR] = None
    _write_index(folder, index)
    shutil.rmtree(target, ignore_errors=True)
    entry = {"action": "detached", "name": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    note_change(
        folder,
        CHANGES_KEY,
        entry,
        f"\nDetail refiner `{name}` removed on {entry['at'][:10]}: the hand-made restore is back.\n",
    )
    return {"pipeline": str(folder), **entry}
