"""Put a trained detail refiner into a world-model pipeline folder, or take it out.

`attach_refiner` copies a refiner folder (`worldfm train refiner`'s export) into the pipeline as
`refiner/` and names it in model_index.json, after checking that the refiner was trained behind the
pipeline's own tokenizer decoder (its recorded decoder digest); the pipeline then refines its frames
with it (`detail_refine`, on by default). `detach_refiner` removes it again: the pipeline goes back to
the hand-made detail restore. Both replace files atomically and note the change in the folder's
training_record.json and model card.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from worldfm.errors import WorldfmError
from worldfm.world.pipeline_folder import MODEL_INDEX, read_index_json, write_index_json
from worldfm.world.refiner import REFINER_DIR, DetailRefiner, check_refiner_fits
from worldfm.world.swap_decoder import COMPONENT, note_change, replace_folder

CHANGES_KEY = "refiner_changes"  # the list in training_record.json that records attach / detach


def _pipeline_folder(pipeline: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    folder = Path(pipeline)
    if not (folder / MODEL_INDEX).is_file():
        raise WorldfmError(f"{folder}: not a world model pipeline folder (no {MODEL_INDEX})")
    index = read_index_json(folder)
    if not isinstance(index, dict):
        raise WorldfmError(f"{folder / MODEL_INDEX}: expected a JSON object")
    return folder, index


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

    replace_folder(target, lambda path: shutil.copytree(source, path))
    index[REFINER_DIR] = ["worldfm", "DetailRefiner"]
    write_index_json(folder, index)
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
        f"pipeline's tokenizer decoder {config.decoder_digest}) attached on {entry['at'][:10]} as `refiner/` "
        f"from `{entry['source']}` (replacing any earlier one): it replaces the hand-made detail restore "
        "(`detail_refine` false turns it off).\n",
    )
    return {"pipeline": str(folder), **entry}


def detach_refiner(pipeline: str | os.PathLike[str]) -> dict[str, Any]:
    """Remove `refiner/` from world-model pipeline folder `pipeline` (the index first, so a failure
    leaves a loadable pipeline). Returns a summary: pipeline, removed (the refiner's name)."""
    folder, index = _pipeline_folder(pipeline)
    target = folder / REFINER_DIR
    if not index.get(REFINER_DIR) and not target.exists():
        raise WorldfmError(f"{folder}: the pipeline has no refiner to remove")
    name = None  # an unreadable refiner is removed all the same
    if target.is_dir():
        with contextlib.suppress(WorldfmError):
            name = DetailRefiner.from_pretrained(target).config.name
    index[REFINER_DIR] = None
    write_index_json(folder, index)
    shutil.rmtree(target, ignore_errors=True)
    entry = {"action": "detached", "name": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    note_change(
        folder,
        CHANGES_KEY,
        entry,
        f"\nDetail refiner `{name}` removed on {entry['at'][:10]}: the hand-made restore is back.\n",
    )
    return {"pipeline": str(folder), **entry}
