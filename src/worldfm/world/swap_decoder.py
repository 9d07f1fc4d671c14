"""Give a world-model pipeline folder a better tokenizer decoder without retraining its world model.

A decoder-only tokenizer stage (`model.freeze: [encoder]` in a tokenizer recipe) keeps the encoder
bit for bit, so the latents (CV values, DV token ids) a world model was trained over do not change.
`swap_decoder` checks exactly that (same architecture up to the decoder's depth, identical encoder
and quantiser tensors) before it replaces the pipeline's `tokenizer/` component; the pipeline keeps
its own CV latent statistics, which its world model was trained with.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from worldfm.errors import WorldfmError
from worldfm.world.pipeline_folder import MODEL_INDEX
from worldfm.world.refiner import REFINER_DIR, DetailRefiner, check_refiner_fits

COMPONENT = "tokenizer"
RECORD_FILE = "training_record.json"  # (as worldfm.train.recipes.run writes it; not imported: world does not depend on train)
# Config fields a decoder-only stage may change; every other field fixes the latents.
DECODER_FIELDS = ("decoder_depth", "latent_mean", "latent_std", "name")


def check_same_latents(current: Any, candidate: Any, source: str) -> None:
    """WorldfmError unless `candidate` (a VideoTokenizer) encodes exactly as `current` does: equal
    configs apart from `DECODER_FIELDS`, and bit-identical encoder and quantiser tensors."""
    a = {k: v for k, v in current.config.to_dict().items() if k not in DECODER_FIELDS}
    b = {k: v for k, v in candidate.config.to_dict().items() if k not in DECODER_FIELDS}
    differ = sorted(k for k in a if a[k] != b.get(k))
    if differ:
        raise WorldfmError(
            f"{source}: its tokenizer differs from the pipeline's in {', '.join(differ)}; only a decoder "
            "trained over the same encoder (a tokenizer recipe with model.freeze: [encoder]) can be swapped in"
        )
    mine, theirs = current.state_dict(), candidate.state_dict()
    encoder_keys = [k for k in mine if not k.startswith("decoder.")]
    changed = [k for k in encoder_keys if k not in theirs or not bool((mine[k] == theirs[k]).all())]
    if changed:
        raise WorldfmError(
            f"{source}: its encoder weights differ from the pipeline's ({changed[0]}"
            f"{f' and {len(changed) - 1} more' if len(changed) > 1 else ''}), so its latents would too; "
            "train the decoder with model.freeze: [encoder] from the pipeline's tokenizer"
        )


def _decoder_parameters(model: Any) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if name.startswith("decoder."))


def replace_folder(target: Path, fill: Any) -> None:
    """Build the new folder beside `target` with `fill(path)`, then swap it in with renames (the old
    folder, if there is one, is only removed once the new one is in place; on any error it stays)."""
    tag = secrets.token_hex(4)
    fresh = target.with_name(f".{target.name}.{tag}.tmp")
    old = target.with_name(f".{target.name}.{tag}.old")
    had_old = target.exists()
    try:
        fill(fresh)
        if had_old:
            os.replace(target, old)
        try:
            os.replace(fresh, target)
        except OSError:
            if had_old:
                os.replace(old, target)
            raise
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def note_change(folder: Path, key: str, entry: dict[str, Any], card_line: str) -> None:
    """Record a change to a pipeline folder: append `entry` to the list `key` of its
    training_record.json and `card_line` to its model card (each only if the file is there and
    readable; both replaced atomically)."""
    from worldfm.tokenizers.pretrained import CARD_FILE, atomic_file

    record_file = folder / RECORD_FILE
    if record_file.is_file():
        with contextlib.suppress(OSError, UnicodeDecodeError, json.JSONDecodeError):
            record = json.loads(record_file.read_text())
            if isinstance(record, dict):
                record.setdefault(key, []).append(entry)
                with atomic_file(record_file) as tmp:
                    tmp.write_text(json.dumps(record, indent=1) + "\n")
    card = folder / CARD_FILE
    if card.is_file():
        with atomic_file(card) as tmp:
            tmp.write_text(card.read_text() + card_line)


def swap_decoder(pipeline: str | os.PathLike[str], tokenizer: str | os.PathLike[str]) -> dict[str, Any]:
    """Replace the tokenizer decoder of world-model pipeline folder `pipeline` by `tokenizer`'s (a
    tokenizer folder or shipped tier) after `check_same_latents`; the pipeline keeps its CV latent
    statistics and its weight dtype. Records the swap in the folder's training_record.json and model
    card. Returns a summary: pipeline, source, decoder parameters before/after, decoder depth."""
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.tokenizers.pretrained import CLASS_NAME, FORMAT_VERSION, read_model_config

    folder = Path(pipeline)
    if not (folder / MODEL_INDEX).is_file():
        raise WorldfmError(f"{folder}: not a world model pipeline folder (no {MODEL_INDEX})")
    component = folder / COMPONENT
    if not component.is_dir():
        raise WorldfmError(f"{folder}: the pipeline has no {COMPONENT}/ folder")
    current = VideoTokenizer.from_pretrained(component)
    candidate = VideoTokenizer.from_pretrained(tokenizer)
    source = os.fspath(tokenizer)
    check_same_latents(current, candidate, source)
    config = candidate.config.replace(
        latent_mean=current.config.latent_mean, latent_std=current.config.latent_std, name=current.config.name
    )
    final = VideoTokenizer(config)
    final.load_state_dict(candidate.state_dict())
    if (folder / REFINER_DIR).is_dir():  # a refiner only fits the decoder it was trained behind
        check_refiner_fits(DetailRefiner.from_pretrained(folder / REFINER_DIR), final)
    dtype = read_model_config(component, CLASS_NAME, FORMAT_VERSION, "a tokenizer")[1].get(
        "_dtype", "bfloat16"
    )
    replace_folder(component, lambda path: final.save_pretrained(path, dtype=dtype))
    entry = {
        "source": source,
        "decoder_depth": config.blocks_per_decoder_level,
        "decoder_parameters": _decoder_parameters(final),
        "decoder_parameters_before": _decoder_parameters(current),
        "swapped_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    note_change(
        folder,
        "decoder_swaps",
        entry,
        f"\nTokenizer decoder replaced on {entry['swapped_at'][:10]} by the decoder of `{entry['source']}` "
        f"({entry['decoder_parameters']:,} decoder parameters, decoder depth {entry['decoder_depth']}); the "
        "encoder, and so the latents this world model was trained over, are unchanged.\n",
    )
    return {"pipeline": str(folder), **entry}
