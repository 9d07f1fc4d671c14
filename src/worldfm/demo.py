"""The `make demo` job: simulate a small dataset of every scenario, write a contact sheet, pass the
episodes through the shipped nano video tokenizer (encode -> latents -> decode), and predict each
scenario's future with the shipped nano world model (Video2World from the first 9 frames, with the
episode's caption and actions).

This is the platform's end-to-end smoke run on a laptop CPU; it grows as later parts land
(tokenizers, world models) and always runs on what the repository ships.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worldfm.sim.generate import generate_dataset
from worldfm.sim.registry import SCENARIOS

DEMO_TOKENIZER = "cv4x8x8-nano"  # shipped in worldfm/hub/weights
DEMO_WORLD_MODEL = "predict-nano"
DEMO_WORLD_MODELS = ("predict-nano", "ar-nano")  # diffusion, then autoregressive


def run_demo(
    out: str | os.PathLike[str],
    episodes: int = 2,
    frames: int = 33,
    size: int = 64,
    seed: int = 0,
    workers: int = 2,
    world_models: tuple[str, ...] = DEMO_WORLD_MODELS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate `episodes` episodes per scenario under `out/<scenario>` and `out/contact_sheet.png`,
    round-trip them through the tokenizer and predict their future with each of `world_models` (the
    first one's files are `prediction_<scenario>.mp4` etc., the others' carry the model name).
    Seed 0 keeps the episodes out of the training data (the nano recipes use seeds 1 to 3).

    Returns a summary dict with the generation reports and the paths of everything written.
    """
    from worldfm.data import open_dataset
    from worldfm.sim.preview import episodes_contact_sheet

    out = Path(out)
    reports = []
    shown = []
    for scenario in sorted(SCENARIOS):
        report = generate_dataset(
            scenario, out / scenario, episodes, frames, size, seed, workers=workers, overwrite=True
        )
        log(f"{scenario:8s} {episodes} episodes x {frames} frames in {report.seconds:5.1f} s -> {report.out}")
        reports.append(report.to_json())
        dataset = open_dataset(out / scenario)
        shown.extend(dataset[i] for i in range(min(2, len(dataset))))
    sheet = episodes_contact_sheet(shown, out / "contact_sheet.png")
    for episode in shown:
        log(f"  {episode.scenario}: {episode.caption}")
    log(f"contact sheet: {sheet}")
    tokenizer = tokenizer_roundtrip(shown, out / "tokenizer_roundtrip.mp4", log=log)
    summary = {"datasets": reports, "contact_sheet": str(sheet), "tokenizer": tokenizer}
    firsts = [e for i, e in enumerate(shown) if i == 0 or e.scenario != shown[i - 1].scenario]
    summary["world_models"] = [
        predict_episodes(firsts, out, model=model, tag="" if i == 0 else f"_{model}", log=log)
        for i, model in enumerate(world_models)
    ]
    return summary


def predict_episodes(
    episodes: list[Any],
    out: Path,
    model: str = DEMO_WORLD_MODEL,
    cond_frames: int = 9,
    tag: str = "",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Video2World on each episode with `model` (a diffusion or autoregressive tier or folder):
    condition on its first `cond_frames` frames, caption and actions, predict to the episode's length,
    guardrails on. Writes `out/prediction<tag>_<scenario>.mp4` (the generated video as worldfm hands
    it out: watermarked, with a signed C2PA manifest), `out/comparison<tag>_<scenario>.mp4` (ground
    truth | prediction) and `out/prediction<tag>.png` (per episode: condition, ground truth and
    prediction rows).

    Returns the model, per-episode PSNR of the predicted frames, timings and the paths.
    """
    from worldfm.guardrails.release import generation_info, write_generated_video
    from worldfm.video.io import write_video
    from worldfm.video.metrics import psnr
    from worldfm.video.visualize import contact_sheet, save_image
    from worldfm.world.load import load_world_pipeline

    pipe = load_world_pipeline(model)
    rows, labels, results = [], [], []
    for episode in episodes:
        actions = episode.actions  # None for scenarios without an agent
        result = pipe.video2world(
            episode.frames,
            frames=len(episode.frames),
            cond_frames=cond_frames,
            prompt=episode.caption,
            actions=actions,
            seed=0,
        )
        predicted = result.videos[0]
        truth = episode.frames
        video_path = out / f"prediction{tag}_{episode.scenario}.mp4"
        info = generation_info(result, 0, "video2world", episode.caption)
        write_generated_video(video_path, predicted, result.fps, info)
        comparison = out / f"comparison{tag}_{episode.scenario}.mp4"
        write_video(comparison, np.concatenate([truth, predicted], axis=2), fps=episode.fps)
        score = float(psnr(truth[cond_frames:], predicted[cond_frames:]).per_video)
        results.append(
            {
                "scenario": episode.scenario,
                "psnr_future": score,
                "seconds": result.seconds,
                "actions": actions is not None,
                "watermark": result.watermarks[0],
                "video": str(video_path),
                "comparison": str(comparison),
            }
        )
        rows += [truth[:cond_frames], truth[cond_frames:], predicted[cond_frames:]]
        labels += [
            f"{episode.scenario}: condition ({cond_frames} frames)",
            "ground truth",
            f"prediction ({'with actions, ' if actions is not None else ''}PSNR {score:.1f} dB)",
        ]
        log(
            f"world model {model}: {episode.scenario} {len(truth) - cond_frames} frames predicted in "
            f"{result.seconds:.1f} s (guardrails included), PSNR {score:.1f} dB: {video_path} "
            f"(ground truth | prediction: {comparison})"
        )
    sheet = save_image(out / f"prediction{tag}.png", contact_sheet(rows, columns=8, labels=labels))
    log(f"condition / ground truth / prediction: {sheet}")
    log(f"check a generated file's watermark and signed manifest: worldfm guard verify {results[0]['video']}")
    return {"model": model, "episodes": results, "image": str(sheet)}


def tokenizer_roundtrip(
    episodes: list[Any],
    out: Path,
    model: str = DEMO_TOKENIZER,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Encode and decode each episode with the shipped tokenizer `model`; write originals and
    reconstructions side by side (one episode after another) to the mp4 `out`.

    Returns the model name, the mean PSNR/SSIM over episodes, the compression ratio and the video path.
    """
    from worldfm.tokenizers import Tokenizer
    from worldfm.tokenizers.api import roundtrip_metrics
    from worldfm.video.io import write_video

    tokenizer = Tokenizer.from_pretrained(model)
    scores, panels = [], []
    for episode in episodes:
        encoded = tokenizer.encode(episode.frames, fps=episode.fps)
        decoded = tokenizer.decode(encoded)
        scores.append(roundtrip_metrics(episode.frames, decoded, encoded))
        panels.append(np.concatenate([episode.frames, decoded], axis=2))  # (T, H, 2W, 3)
    write_video(out, np.concatenate(panels), fps=episodes[0].fps)
    summary = {
        "model": model,
        "psnr": float(np.mean([s["psnr"] for s in scores])),
        "ssim": float(np.mean([s["ssim"] for s in scores if s["ssim"] is not None] or [np.nan])),
        "compression_ratio": scores[0]["compression_ratio"],
        "video": str(out),
    }
    log(
        f"tokenizer {model}: {summary['compression_ratio']:.0f}x compression, PSNR {summary['psnr']:.1f} dB, "
        f"SSIM {summary['ssim']:.3f} on {len(episodes)} episodes (original | reconstruction): {out}"
    )
    return summary
