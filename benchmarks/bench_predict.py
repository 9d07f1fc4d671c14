"""World models (diffusion Predict and autoregressive) against copy-last-frame and optical-flow baselines:
physical alignment and speed.

The physical-alignment test of the Cosmos paper on held-out simulator episodes: condition on the first
1 frame and on the first 9 frames of a clip, predict the next `HORIZON` (16) frames, compare them with
what the simulator rendered.

Clips: `--episodes` per scenario (objects, robot, driving), seeds `episode_seed(9999, i)` (the training
datasets use base seeds 1, 2 and 3, so none was seen in training), simulated for 33 frames at
`--size` px as the training episodes are, of which frames 0..24 are used: with k conditioning frames
the prediction covers frames k .. k + 15 (horizon h = 1..16 is frame k - 1 + h).

Rows, for each scenario and each k (1, 9):

- each `--models` world model (a tier name or a pipeline folder, diffusion or autoregressive: an `ar-*`
  tier or a folder whose model_index.json names an AR pipeline class runs the AR model; one that
  cannot be loaded is listed as skipped with the reason, and the baselines still run), called as
  `worldfm predict video2world` calls it: `generate(k + 16, video=first k frames, cond_frames=k)` with the pipeline's sampler
  settings (or `--steps`/`--guidance`; `--steps` is for diffusion models only), no prompt (`--prompt caption` passes the episode's caption,
  which describes the whole episode, future included), seed `--seed` + episode index. A 17-frame
  model window covers k = 1 in one window; k = 9 rolls a second window. Variants:
  `<model>`: frames only, with the pipeline's detail restore (`worldfm.world.detail`: where a
  generated pixel did not change from the decoded last conditioning frame, that frame's true detail
  is added back; `--detail-restore T` overrides the model's tolerance), done by the pipeline's
  learned refiner where it has one (`worldfm.world.refiner`; `--no-detail-refine` turns it off);
  `<model> as decoded`: the same call with the restore off (the frames as the tokenizer decodes
  them); `<model> restore only` (pipelines with a refiner): the same call with the hand-made restore
  instead of the refiner; in robot and driving also `<model> +actions`: the episode's true actions
  (rows 0 .. k + 14, zero-padded to the model's width as in training), and `<model> +shuffled`: the
  control, the same model and noise given the actions of another held-out episode of the same
  scenario (episode i gets episode i + 1's, cyclically; with one episode, its own rows permuted in
  time), so they have the right distribution but do not belong to the scene. With `--best-of K`
  (K > 1) also `<model> best-of-K`: K futures of the frames-only call in one batch (`samples=K`, the
  multiverse), each clip scored by the one closest to the truth (lowest mean MSE over the 16
  frames). A diagnostic of a sampling model, not a predictor (it picks with the answer): how much of
  its gap to the truth is a different plausible future rather than a wrong one. With `--consensus-of
  C` (C > 1) also `<model> consensus-of-C`: the frames-only call with `consensus=C`
  (`worldfm.world.consensus`: C futures drawn, the one nearest the others returned; a predictor, it
  picks without the answer). The targets are checked on the plain rows only.
- `copy-last`: the last conditioning frame repeated.
- `flow`: OpenCV Farneback flow between the last two conditioning frames, the last frame warped
  forward at constant velocity (`predict_baselines.flow_extrapolate`); k = 9 only (it needs two
  frames; from one frame it is copy-last), and only when OpenCV is installed (the `bench` extra).
- `linear`: per-pixel linear extrapolation in RGB from the last two frames; k = 9 only.
- references, not predictors: `<model> tokenizer`: the true future frames through the model's
  tokenizer (encode + decode of frames 0..24), the best a model working in its latents could do
  as decoded; `<model> tokenizer+restore`: the same with the pipeline's detail restore applied;
  `<model> tokenizer+refine` (pipelines with a refiner): the same through the refiner;
  `ground truth`: the true frames through the colour segmenter, the IoU ceiling of the measure;
  `ground truth ±2`: the same frames with invisible noise (uniform integers in [-2, 2] per channel,
  about 46 dB): how much IoU the judge takes from an error no one sees.

Metrics, per horizon h (and the mean over h = 1..16), as `worldfm.video.metrics` computes them:

- PSNR (dB, RGB): `10 log10(255^2 / MSE)` with the MSE averaged over the clips at that horizon
  (pooled; a mean of per-clip PSNRs would be infinite whenever copy-last is exact on a still clip).
- SSIM (RGB, 11x11 Gaussian window): mean over clips.
- object-mask IoU: predicted object masks found by object colour against the simulator's segmentation.
  Objects are the instances with a colour that are not surfaces (table, road); objects sharing a
  colour name form one group (colour cannot tell two blue cars apart). A `ColourSegmenter` per clip is
  fitted on the true frames 0..24 and their segmentation (it is the judge: it may see the future, the
  predictors never do) and labels every frame of every method the same way: each pixel takes the
  label of the nearest colour the true frames show (since session 15; before, 8-level colour bins,
  where a pixel one level off the background could fall into an object's bin: `ground truth ±2`
  scored 0.68 in driving and 0.90 in robot against 0.77 and 0.98 without the noise, k = 9).
  `mask_iou` of each frame's labels against the true labels (each group present in either map
  counts, a missing one scores 0; a frame where neither map has an object, e.g. after every object
  rolled out of view, scores 1) is averaged over clips.

Speed, per model (after a warm-up call, fastest of `--repeats`, `--threads` torch threads): seconds per
16-frame clip at `--size` px for Video2World k = 1 without and with actions (actions make
classifier-free guidance run the network on 2 samples) and for Text2World of one 17-frame window with
a held-out caption; generated frames/s; sampler, steps and network calls; FLOPs of one clip counted with
`torch.utils.flop_counter` (matmuls, convolutions, and CPU attention added by `sdpa_flop_count`),
achieved FLOP/s and its share of the measured fp32 matmul peak (1024x1024 `torch.mm`, fastest of 10).

Speed of an autoregressive model (same clips and repeats): Video2World k = 1 with the KV cache and
without it (every token recomputes the whole sequence: the cache's speed-up), with actions, and
Text2World; per row seconds per 16-frame clip, generated frames/s, sampled tokens and tokens/s, the
sampling settings, FLOPs as above. Its target (issue #7): at least real time, 8 generated frames/s at
64 px, with the KV cache.

Targets (issue #4), checked and printed at the end: at horizon 16 in every scenario and for each k,
the model (its `+actions` variant where the scenario has actions) beats copy-last and flow (where it
exists) on PSNR and IoU; `+actions` beats `+shuffled` on PSNR over the 16 predicted frames (the JSON
also gives the difference at horizon 16 and on how many clips the true actions win); at most 2 s per
16-frame 64 px clip. The JSON (`benchmarks/results/predict.json`) holds every row with its figures per
horizon and a few per clip, the speed rows, the episodes' seeds, skipped models with reasons and the
targets. `--out PATH` writes the JSON elsewhere (e.g. for trial runs).

Cost: about 21 model windows per episode index (objects 1 + 2, robot and driving 3 variants x (1 + 2));
a nano-sized DiT (10.9M parameters, DPM-Solver++(2M) 16 steps) took 0.7 to 1.5 s per window on one
thread of a busy 2-core machine, so the default 16 episodes per scenario take about 7 minutes there.

    python benchmarks/bench_predict.py [--models predict-nano ar-nano runs/ar-nano/export] [--episodes 16]
        [--size 64] [--steps N] [--guidance G] [--detail-restore T] [--prompt none|caption] [--threads 2] [--repeats 3]
        [--seed 0] [--consensus C] [--best-of K] [--consensus-of C] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from common import machine, print_table, write_result
from predict_baselines import (
    ColourSegmenter,
    copy_last,
    flow_extrapolate,
    group_labels,
    have_opencv,
    linear_extrapolate,
    object_groups,
)
from worldfm.errors import WorldfmError
from worldfm.sim.registry import SCENARIOS, episode_seed, generate_episode
from worldfm.video.metrics import mask_iou, psnr, ssim
from worldfm.video.transforms import frames_to_tensor, tensor_to_frames
from worldfm.world.detail import restore_detail
from worldfm.world.diffusion.samplers import network_calls
from worldfm.world.refiner import refine_detail

DEFAULT_MODELS = ("predict-nano", "ar-nano")
HELD_OUT_SEED = 9999  # training datasets use base seeds 1, 2, 3
EPISODE_FRAMES = 33  # as the training episodes (configs/predict/predict-nano.yaml)
COND_FRAMES = (1, 9)
HORIZON = 16
REPORT_AT = (8, 16)
JUDGE_JITTER = 2  # levels of the noisy ground-truth reference row
CLIP_FRAMES = max(COND_FRAMES) + HORIZON  # frames 0..24 of each episode
TARGET_SECONDS_PER_CLIP = 2.0
TARGET_AR_FRAMES_PER_S = 8.0  # issue #7: real time at 64 px with the KV cache
PEAK = 255.0**2


@dataclass
class Clip:
    """One held-out episode cut to `CLIP_FRAMES` frames, with what the metrics and the model need.

    frames: (25, H, W, 3) uint8. labels: (25, H, W) int64 colour-group labels (0 = background).
    actions: (24, A) float32 or None. segmenter: fitted on these frames and labels.
    """

    scenario: str
    index: int
    seed: int
    frames: np.ndarray
    labels: np.ndarray
    groups: list[str]
    actions: np.ndarray | None
    caption: str
    fps: float
    segmenter: ColourSegmenter


# ----- clips -----


def held_out_clips(episodes: int, size: int) -> dict[str, list[Clip]]:
    """`episodes` clips per scenario from seeds disjoint from the training datasets."""
    out: dict[str, list[Clip]] = {}
    for scenario in sorted(SCENARIOS):
        clips = []
        for i in range(episodes):
            seed = episode_seed(HELD_OUT_SEED, i)
            ep = generate_episode(scenario, seed, num_frames=EPISODE_FRAMES, size=size)
            ids, groups = object_groups(ep.instances)
            frames = ep.frames[:CLIP_FRAMES]
            labels = group_labels(ep.segmentation[:CLIP_FRAMES], ids)
            actions = None if ep.actions is None else ep.actions[: CLIP_FRAMES - 1].astype(np.float32)
            clips.append(
                Clip(
                    scenario=scenario,
                    index=i,
                    seed=seed,
                    frames=frames,
                    labels=labels,
                    groups=groups,
                    actions=actions,
                    caption=ep.caption,
                    fps=float(ep.fps),
                    segmenter=ColourSegmenter(frames, labels),
                )
            )
        out[scenario] = clips
    return out


def control_actions(clips: list[Clip], i: int, seed: int) -> tuple[np.ndarray, str]:
    """The shuffled-actions control of clip i: another clip's actions, or its own permuted in time."""
    own = clips[i].actions
    assert own is not None
    if len(clips) > 1:
        other = clips[(i + 1) % len(clips)].actions
        if other is not None and other.shape == own.shape:
            return other, "other-episode"
    perm = np.random.default_rng([seed, i]).permutation(own.shape[0])
    return own[perm], "time-permuted"


# ----- scoring -----


def score(pred: np.ndarray, clip: Clip, k: int) -> dict[str, np.ndarray]:
    """Per-horizon MSE, SSIM and IoU `(HORIZON,)` of predicted frames k..k+15 against the clip's."""
    truth = clip.frames[k : k + HORIZON]
    if pred.shape != truth.shape or pred.dtype != np.uint8:
        raise WorldfmError(f"prediction has shape {pred.shape} {pred.dtype}, expected {truth.shape} uint8")
    p = psnr(pred, truth).per_frame
    mse = PEAK * np.power(10.0, -p / 10.0)  # exact inverse of PSNR; inf -> 0
    s = ssim(pred, truth).per_frame
    pred_labels = clip.segmenter(pred)
    iou = np.array([frame_iou(pred_labels[h], clip.labels[k + h]) for h in range(HORIZON)])
    return {"mse": mse, "ssim": s, "iou": iou}


def frame_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean object IoU of one frame's label maps (H, W); 1 when neither has an object (an empty scene
    predicted empty), so every method is scored on the same frames."""
    value = mask_iou(pred, truth).mean
    return 1.0 if math.isnan(value) else value


def to_psnr(mse: float) -> float | None:
    """PSNR of a (pooled) MSE; None when it is infinite (no error at all)."""
    return None if mse <= 0 else 10.0 * math.log10(PEAK / mse)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def summarize(
    scenario: str, k: int, method: str, kind: str, per_clip: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """One row: per-horizon PSNR (pooled MSE), SSIM and IoU means over clips; values at `REPORT_AT`."""
    mse = np.stack([c["scores"]["mse"] for c in per_clip])  # (clips, HORIZON)
    ss = np.stack([c["scores"]["ssim"] for c in per_clip])
    iou = np.stack([c["scores"]["iou"] for c in per_clip])
    has_pixels = kind != "ceiling"  # the ground-truth row scores IoU only
    per_h = {
        "psnr": [_r(to_psnr(float(m))) for m in mse.mean(axis=0)] if has_pixels else None,
        "ssim": [_r(float(v)) for v in ss.mean(axis=0)] if has_pixels else None,
        "iou": [_r(float(v)) for v in iou.mean(axis=0)],
    }
    at = {str(h): {key: (None if v is None else v[h - 1]) for key, v in per_h.items()} for h in REPORT_AT}
    mean = {
        "psnr": _r(to_psnr(float(mse.mean()))) if has_pixels else None,
        "ssim": _r(float(ss.mean())) if has_pixels else None,
        "iou": _r(float(iou.mean())),
    }
    clips = []
    for c in per_clip:  # kept small: the JSON is committed
        m, u = c["scores"]["mse"], c["scores"]["iou"]
        record = {key: v for key, v in c.items() if key != "scores"}
        for h in REPORT_AT:
            record[f"psnr@{h}"] = _r(to_psnr(float(m[h - 1]))) if has_pixels else None
            record[f"iou@{h}"] = _r(float(u[h - 1]))
        record["psnr_mean"] = _r(to_psnr(float(m.mean()))) if has_pixels else None
        clips.append(record)
    return {
        "scenario": scenario,
        "cond_frames": k,
        "method": method,
        "kind": kind,
        "clips": len(per_clip),
        "at": at,
        "mean_1_16": mean,
        "per_horizon": per_h,
        **extra,
        "per_clip": clips,
    }


# ----- models -----


def load_models(specs: list[str]) -> tuple[list[tuple[str, str, Any]], list[dict[str, str]]]:
    """([(label, spec, pipeline)], [{"model", "reason"}] for those that could not be loaded)."""
    from worldfm.world.autoregressive.pipeline import ARVideo2WorldPipeline
    from worldfm.world.autoregressive.registry import is_ar_model
    from worldfm.world.diffusion.pipeline import Video2WorldPipeline

    loaded: list[tuple[str, str, Any]] = []
    skipped = []
    for spec in specs:
        try:
            # The model alone: the guardrails (face blur, OCR) and the watermark would alter the
            # frames being scored and add their own cost; bench_guardrails measures those.
            cls = ARVideo2WorldPipeline if is_ar_model(spec) else Video2WorldPipeline
            pipe = cls.from_pretrained(spec, guardrail="off", watermark=False)
        except (WorldfmError, OSError, RuntimeError) as exc:
            skipped.append({"model": spec, "reason": str(exc)})
            print(f"skipping {spec}: {exc}", flush=True)
            continue
        # Inference only; parameters that require grad also trip FlopCounterMode's module tracker.
        for module in (pipe.transformer, pipe.tokenizer):
            module.requires_grad_(False)
        name = pipe.transformer.config.name
        label, n = name, 2
        while label in {lbl for lbl, _, _ in loaded}:
            label, n = f"{name} #{n}", n + 1
        loaded.append((label, spec, pipe))
    return loaded, skipped


def is_ar(pipe: Any) -> bool:
    """Whether `pipe` is an autoregressive pipeline (token sampling, no diffusion sampler)."""
    from worldfm.world.autoregressive.pipeline import ARPipeline

    return isinstance(pipe, ARPipeline)


def generate_kwargs(pipe: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Sampler overrides for `pipe.generate`: `--steps` and `--noise-scale` belong to the diffusion
    sampler only, `--temperature` to the autoregressive one."""
    common = {
        "guidance": args.guidance,
        "detail_restore": args.detail_restore,
        "detail_refine": args.detail_refine,
        "consensus": args.consensus,
    }
    if is_ar(pipe):
        return {"temperature": args.temperature, **common}
    return {"steps": args.steps, "noise_scale": args.noise_scale, **common}


def refiner_record(pipe: Any) -> dict[str, Any] | None:
    """The pipeline's detail refiner (name, parameters, config), None without one."""
    if pipe.refiner is None:
        return None
    return {"parameters": pipe.refiner.num_parameters(), **pipe.refiner.config.to_dict()}


def model_record(label: str, spec: str, pipe: Any) -> dict[str, Any]:
    if is_ar(pipe):
        return {
            "label": label,
            "spec": spec,
            "family": "autoregressive",
            "parameters": pipe.transformer.num_parameters(),
            "config": pipe.transformer.config.to_dict(),
            "tokenizer": pipe.tokenizer.config.name,
            "sampling": pipe.sampling.to_dict(),
            "window_frames": pipe.window_frames,
            "roll_frames": pipe.roll_frames,
            "refiner": refiner_record(pipe),
        }
    return {
        "label": label,
        "spec": spec,
        "parameters": pipe.transformer.num_parameters(),
        "config": pipe.transformer.config.to_dict(),
        "tokenizer": pipe.tokenizer.config.name,
        "sampler": pipe.sampler.to_dict(),
        "window_frames": pipe.window_frames,
        "roll_frames": pipe.roll_frames,
        "refiner": refiner_record(pipe),
    }


def run_model(
    label: str,
    pipe: Any,
    clips: list[Clip],
    k: int,
    args: argparse.Namespace,
    skipped: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """The model's rows (frames only, +actions, +shuffled) and its tokenizer reference for one scenario and k."""
    scenario = clips[0].scenario
    if k >= pipe.window_frames:
        skipped.append(
            {"model": label, "reason": f"k={k}: the model's window is {pipe.window_frames} frames"}
        )
        return []
    has_refiner = pipe.refiner is not None and args.detail_refine is not False
    variants = (
        ["frames", "raw"]
        + (["restore"] if has_refiner else [])
        + (["best"] if args.best_of > 1 else [])
        + (["consensus"] if args.consensus_of > 1 else [])
    )
    if clips[0].actions is not None:
        if pipe.transformer.config.action_dim:
            variants += ["actions", "shuffled"]
        elif k == COND_FRAMES[0]:
            skipped.append(
                {"model": f"{label} +actions", "reason": f"{scenario}: the model takes no actions"}
            )
    per_variant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    timing: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0])  # seconds, windows, new frames
    shuffle_kind: set[str] = set()
    settings: dict[str, dict[str, Any]] = {}  # per variant: the "raw" rows sample with the restore off
    recon, recon_restored, recon_refined = [], [], []
    tolerance = pipe.settings(detail_restore=args.detail_restore).detail_restore
    for clip in clips:
        prompt = clip.caption if args.prompt == "caption" else None
        for variant in variants:
            actions = None
            if variant == "actions":
                actions = clip.actions[: k + HORIZON - 1]  # type: ignore[index]
            elif variant == "shuffled":
                other, how = control_actions(clips, clip.index, args.seed)
                actions = other[: k + HORIZON - 1]
                shuffle_kind.add(how)
            samples = args.best_of if variant == "best" else 1
            kwargs = generate_kwargs(pipe, args)
            if variant == "raw":
                kwargs["detail_restore"] = 0.0
            elif variant == "restore":
                kwargs["detail_refine"] = False
            elif variant == "consensus":
                kwargs["consensus"] = args.consensus_of
            out = pipe.generate(
                k + HORIZON,
                video=clip.frames[:k],
                cond_frames=k,
                prompt=prompt,
                actions=actions,
                samples=samples,
                seed=args.seed + clip.index,
                fps=clip.fps,
                **kwargs,
            )
            t = timing[variant]
            t[0], t[1], t[2] = t[0] + out.seconds, t[1] + out.windows, t[2] + HORIZON * samples
            candidates = [score(out.videos[j, k:], clip, k) for j in range(samples)]
            best = min(range(samples), key=lambda j: float(candidates[j]["mse"].mean()))
            record = {"episode": clip.index, "scores": candidates[best]}
            if variant == "best":
                record["sample"] = best
            per_variant[variant].append(record)
            settings[variant] = out.settings
        refs = reference_frames(pipe.tokenizer, pipe.refiner if has_refiner else None, clip, k, tolerance)
        recon.append({"episode": clip.index, "scores": score(refs["as decoded"], clip, k)})
        recon_restored.append({"episode": clip.index, "scores": score(refs["restore"], clip, k)})
        if has_refiner:
            recon_refined.append({"episode": clip.index, "scores": score(refs["refine"], clip, k)})
    rows = []
    names = {
        "frames": label,
        "actions": f"{label} +actions",
        "shuffled": f"{label} +shuffled",
        "best": f"{label} best-of-{args.best_of}",
        "consensus": f"{label} consensus-of-{args.consensus_of}",
        "raw": f"{label} as decoded",
        "restore": f"{label} restore only",
    }
    for variant in variants:
        seconds, windows, frames = timing[variant]
        extra: dict[str, Any] = {
            "model": label,
            "variant": variant,
            "sampler": settings[variant],
            "prompt": args.prompt,
            "windows": windows,
            "seconds_per_window": seconds / windows,
            "generated_frames_per_s": frames / seconds,
        }
        if variant == "shuffled":
            extra["shuffle"] = sorted(shuffle_kind)
        if variant == "best":
            extra["samples"] = args.best_of
        if variant == "consensus":
            extra["consensus"] = args.consensus_of
        rows.append(summarize(scenario, k, names[variant], "model", per_variant[variant], **extra))
    rows.append(summarize(scenario, k, f"{label} tokenizer", "reference", recon, model=label))
    rows.append(
        summarize(
            scenario, k, f"{label} tokenizer+restore", "reference", recon_restored, model=label,
            detail_restore=tolerance,
        )
    )  # fmt: skip
    if has_refiner:
        rows.append(
            summarize(
                scenario, k, f"{label} tokenizer+refine", "reference", recon_refined, model=label,
                detail_restore=tolerance, refiner=pipe.refiner.config.name,
            )
        )  # fmt: skip
    return rows


def reference_frames(
    tokenizer: Any, refiner: Any, clip: Clip, k: int, tolerance: float
) -> dict[str, np.ndarray]:
    """The true frames k..k+15 of `clip` through a world model's decode path, `(16, H, W, 3)` uint8 each:
    "as decoded" by `tokenizer`, with the detail restore at `tolerance` ("restore"), and through `refiner`
    ("refine", only when it is not None); the reference being frame k - 1 as decoded and as given."""
    with torch.no_grad():
        video = frames_to_tensor(clip.frames).to(next(tokenizer.parameters()).device)
        decoded = tensor_to_frames(tokenizer.decode(tokenizer.encode(video)))[0]
    future, decoded_ref, given_ref = (
        decoded[None, k : k + HORIZON],
        decoded[None, k - 1],
        clip.frames[None, k - 1],
    )
    out = {"as decoded": future[0], "restore": restore_detail(future, decoded_ref, given_ref, tolerance)[0]}
    if refiner is not None:
        out["refine"] = refine_detail(refiner, future, decoded_ref, given_ref, tolerance)[0]
    return out


def run_baselines(clips: list[Clip], k: int, flow_ok: bool) -> list[dict[str, Any]]:
    """copy-last, flow and linear extrapolation (the last two from k >= 2), and the IoU ceiling."""
    scenario = clips[0].scenario
    methods: list[tuple[str, Any]] = [("copy-last", copy_last)]
    if k >= 2:
        if flow_ok:
            methods.append(("flow", flow_extrapolate))
        methods.append(("linear", linear_extrapolate))
    rows = []
    for name, fn in methods:
        per_clip = []
        start = time.perf_counter()
        for clip in clips:
            pred = fn(clip.frames[:k], HORIZON)
            per_clip.append({"episode": clip.index, "scores": score(pred, clip, k)})
        seconds = time.perf_counter() - start  # scoring included: an upper bound on the predictor's cost
        rows.append(summarize(scenario, k, name, "baseline", per_clip, seconds_with_scoring=seconds))
    truth = [{"episode": c.index, "scores": score(c.frames[k : k + HORIZON], c, k)} for c in clips]
    rows.append(summarize(scenario, k, "ground truth", "ceiling", truth))
    noisy = [
        {"episode": c.index, "scores": score(jitter(c.frames[k : k + HORIZON], c.seed), c, k)} for c in clips
    ]
    rows.append(summarize(scenario, k, f"ground truth ±{JUDGE_JITTER}", "ceiling", noisy))
    return rows


def jitter(frames: np.ndarray, seed: int, amplitude: int = JUDGE_JITTER) -> np.ndarray:
    """`frames` (..., 3) uint8 with independent integer noise in [-amplitude, amplitude] per channel,
    clipped (seeded): an error no one sees (about 46 dB PSNR at 2 levels), to show how the IoU judge
    reacts to it."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-amplitude, amplitude + 1, frames.shape)
    return np.clip(frames.astype(np.int64) + noise, 0, 255).astype(np.uint8)


# ----- speed -----


def matmul_peak(repeats: int = 10, n: int = 1024) -> float:
    """Measured fp32 matmul FLOP/s: fastest of `repeats` n x n x n `torch.mm` after a warm-up."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def count_flops(fn: Any) -> int:
    """FLOPs of one call of `fn()`; CPU attention (not in torch's table) counted as SDPA."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_sdpa(q: Any, k: Any, v: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return sdpa_flop_count(q, k, v)

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return int(counter.get_total_flops())


def speed_rows(
    label: str, pipe: Any, clips: dict[str, list[Clip]], args: argparse.Namespace, peak: float
) -> list[dict[str, Any]]:
    """Seconds per 16-frame clip for Video2World (k = 1, with and without actions) and Text2World."""
    if is_ar(pipe):
        return ar_speed_rows(label, pipe, clips, args, peak)
    still = clips["objects"][0]
    acting = next((c[0] for c in clips.values() if c[0].actions is not None), None)
    modes: list[tuple[str, dict[str, Any]]] = [
        ("video2world", dict(frames=1 + HORIZON, video=still.frames[:1], cond_frames=1)),
    ]
    if acting is not None and pipe.transformer.config.action_dim:
        modes.append(
            (
                "video2world+actions",
                dict(
                    frames=1 + HORIZON,
                    video=acting.frames[:1],
                    cond_frames=1,
                    actions=acting.actions[:HORIZON],  # type: ignore[index]
                ),
            )
        )
    if pipe.text_encoder is not None:
        caption = (acting or still).caption
        modes.append(("text2world", dict(frames=pipe.window_frames, prompt=caption)))
    rows = []
    for mode, kwargs in modes:

        def call(kw: dict[str, Any] = kwargs) -> Any:
            return pipe.generate(seed=args.seed, **generate_kwargs(pipe, args), **kw)

        out = call()  # warm-up
        best = math.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = call()
            best = min(best, time.perf_counter() - t0)
        flops = count_flops(call)
        new = kwargs["frames"] - kwargs.get("cond_frames", 0)
        settings = out.settings
        guided = settings["guidance"] != 1 and (
            "actions" in kwargs or "prompt" in kwargs
        )  # CFG runs 2 samples
        rows.append(
            {
                "model": label,
                "mode": mode,
                "frames": kwargs["frames"],
                "generated_frames": new,
                "size": int(out.videos.shape[2]),
                "windows": out.windows,
                "seconds": best,
                "generated_frames_per_s": new / best,
                "sampler": settings["sampler"],
                "steps": settings["steps"],
                "guidance": settings["guidance"],
                "network_calls": network_calls(settings["sampler"], settings["steps"]) * out.windows,
                "cfg_batch": 2 if guided else 1,
                "gflop": flops / 1e9,
                "achieved_gflops": flops / best / 1e9,
                "matmul_peak_share": flops / best / peak,
            }
        )
        print(f"  speed {label} {mode}: {best:.2f} s", flush=True)
    return rows


def ar_speed_rows(
    label: str, pipe: Any, clips: dict[str, list[Clip]], args: argparse.Namespace, peak: float
) -> list[dict[str, Any]]:
    """An autoregressive model's speed: Video2World k = 1 with and without the KV cache, with actions,
    and Text2World; seconds per 16-frame clip, frames/s and sampled tokens/s."""
    still = clips["objects"][0]
    acting = next((c[0] for c in clips.values() if c[0].actions is not None), None)
    v2w = dict(frames=1 + HORIZON, video=still.frames[:1], cond_frames=1)
    modes: list[tuple[str, dict[str, Any]]] = [
        ("video2world", {**v2w, "use_cache": True}),
        ("video2world no-cache", {**v2w, "use_cache": False}),
    ]
    if acting is not None and pipe.transformer.config.action_dim:
        modes.append(
            (
                "video2world+actions",
                dict(
                    frames=1 + HORIZON,
                    video=acting.frames[:1],
                    cond_frames=1,
                    actions=acting.actions[:HORIZON],  # type: ignore[index]
                    use_cache=True,
                ),
            )
        )
    if pipe.text_encoder is not None:
        caption = (acting or still).caption
        modes.append(("text2world", dict(frames=pipe.window_frames, prompt=caption, use_cache=True)))
    rows = []
    for mode, kwargs in modes:
        sampled = [0]  # tokens per sample, from the progress callback's total

        def count(done: int, total: int, box: list[int] = sampled) -> None:
            box[0] = total

        def call(kw: dict[str, Any] = kwargs, progress: Any = count) -> Any:
            return pipe.generate(seed=args.seed, progress=progress, **generate_kwargs(pipe, args), **kw)

        out = call()  # warm-up
        best = math.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = call()
            best = min(best, time.perf_counter() - t0)
        flops = count_flops(call)
        new = kwargs["frames"] - kwargs.get("cond_frames", 0)
        settings = out.settings
        guided = settings["guidance"] != 1 and ("actions" in kwargs or "prompt" in kwargs)
        tokens = sampled[0] * out.videos.shape[0]
        rows.append(
            {
                "model": label,
                "family": "autoregressive",
                "mode": mode,
                "kv_cache": kwargs["use_cache"],
                "frames": kwargs["frames"],
                "generated_frames": new,
                "size": int(out.videos.shape[2]),
                "windows": out.windows,
                "seconds": best,
                "generated_frames_per_s": new / best,
                "tokens": tokens,
                "tokens_per_s": tokens / best,
                "sampler": settings,
                "cfg_batch": 2 if guided else 1,  # guidance runs the network on 2 rows per sample
                "gflop": flops / 1e9,
                "achieved_gflops": flops / best / 1e9,
                "matmul_peak_share": flops / best / peak,
            }
        )
        print(f"  speed {label} {mode}: {best:.2f} s", flush=True)
    cached = {r["mode"]: r for r in rows}
    if "video2world" in cached and "video2world no-cache" in cached:
        speedup = cached["video2world no-cache"]["seconds"] / cached["video2world"]["seconds"]
        cached["video2world"]["kv_cache_speedup"] = speedup
    return rows


# ----- tables and targets -----


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The printed columns (80-column terminals); the JSON holds every horizon and the 1-16 means."""
    out = []
    for r in rows:
        a8, a16 = r["at"]["8"], r["at"]["16"]
        out.append(
            {
                "method": r["method"],
                "psnr@8": _fmt(a8["psnr"], ".2f"),
                "psnr@16": _fmt(a16["psnr"], ".2f"),
                "ssim@16": _fmt(a16["ssim"], ".3f"),
                "iou@8": _fmt(a8["iou"], ".3f"),
                "iou@16": _fmt(a16["iou"], ".3f"),
            }
        )
    return out


def speed_table(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    if rows and rows[0].get("family") == "autoregressive":
        return [
            {
                "mode": r["mode"],
                "s/clip": _fmt(r["seconds"], ".2f"),
                "fr/s": _fmt(r["generated_frames_per_s"], ".1f"),
                "tok/s": _fmt(r["tokens_per_s"], ".0f"),
                "batch": str(r["cfg_batch"]),
                "GFLOP": _fmt(r["gflop"], ".1f"),
                "GF/s": _fmt(r["achieved_gflops"], ".1f"),
                "%peak": _fmt(100 * r["matmul_peak_share"], ".1f"),
            }
            for r in rows
        ]
    return [
        {
            "mode": r["mode"],
            "s/clip": _fmt(r["seconds"], ".2f"),
            "fr/s": _fmt(r["generated_frames_per_s"], ".1f"),
            "calls": f"{r['network_calls']}x{r['cfg_batch']}",
            "GFLOP": _fmt(r["gflop"], ".1f"),
            "GF/s": _fmt(r["achieved_gflops"], ".1f"),
            "%peak": _fmt(100 * r["matmul_peak_share"], ".1f"),
        }
        for r in rows
    ]


def _beats(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else a > b


def actions_against_shuffled(acted: dict[str, Any], shuffled: dict[str, Any]) -> dict[str, Any]:
    """True actions against the shuffled control on PSNR over all 16 predicted frames (and at 16): the
    difference in dB, and on how many clips (paired: same episode and noise) the true actions win."""
    a, s = acted["mean_1_16"]["psnr"], shuffled["mean_1_16"]["psnr"]
    a16, s16 = acted["at"]["16"]["psnr"], shuffled["at"]["16"]["psnr"]
    pairs = [
        (x["psnr_mean"], y["psnr_mean"])
        for x, y in zip(acted["per_clip"], shuffled["per_clip"], strict=True)
        if x["psnr_mean"] is not None and y["psnr_mean"] is not None
    ]
    return {
        "actions_over_shuffled_db": None if a is None or s is None else _r(a - s),
        "actions_over_shuffled_db@16": None if a16 is None or s16 is None else _r(a16 - s16),
        "actions_win_clips": f"{sum(x > y for x, y in pairs)}/{len(pairs)}",
        "meets_actions_beat_shuffled": _beats(a, s),
    }


def check_targets(
    rows: list[dict[str, Any]], speed: list[dict[str, Any]], labels: list[str]
) -> dict[str, Any]:
    """The issue's targets per model: baselines at horizon 16, actions against the control, speed."""
    find = {(r["scenario"], r["cond_frames"], r["method"]): r for r in rows}
    out: dict[str, Any] = {}
    for label in labels:
        for scenario in sorted({r["scenario"] for r in rows}):
            for k in COND_FRAMES:
                plain = find.get((scenario, k, label))
                if plain is None:
                    continue
                acted = find.get((scenario, k, f"{label} +actions"))
                model = acted or plain
                entry: dict[str, Any] = {"model_row": model["method"]}
                m16 = model["at"]["16"]
                for base in ("copy-last", "flow"):
                    b = find.get((scenario, k, base))
                    if b is None:
                        continue
                    for metric in ("psnr", "iou"):
                        entry[f"{metric}@16_{base}"] = b["at"]["16"][metric]
                        entry[f"meets_{metric}_beats_{base}"] = _beats(m16[metric], b["at"]["16"][metric])
                entry["psnr@16"], entry["iou@16"] = m16["psnr"], m16["iou"]
                shuffled = find.get((scenario, k, f"{label} +shuffled"))
                if acted is not None and shuffled is not None:
                    entry.update(actions_against_shuffled(acted, shuffled))
                out[f"{label}/{scenario}/k={k}"] = entry
        for r in speed:
            if r["model"] == label and r.get("family") == "autoregressive":
                entry = {"seconds_per_clip": r["seconds"], "frames_per_s": r["generated_frames_per_s"]}
                if r["kv_cache"]:  # the target is with the cache; the no-cache row is the comparison
                    entry["meets_frames_per_s"] = r["generated_frames_per_s"] >= TARGET_AR_FRAMES_PER_S
                out[f"{label}/speed/{r['mode']}"] = entry
            elif r["model"] == label:
                out[f"{label}/speed/{r['mode']}"] = {
                    "seconds_per_clip": r["seconds"],
                    "meets_seconds_per_clip": r["seconds"] <= TARGET_SECONDS_PER_CLIP,
                }
    return out


# ----- the run -----


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every world-model benchmark: the models, sampler overrides, the generation seed."""
    parser.add_argument(
        "--models", nargs="+", default=list(DEFAULT_MODELS), help="tier names or pipeline folders"
    )
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the model's)")
    parser.add_argument(
        "--detail-restore",
        type=float,
        default=None,
        help="detail restore tolerance, 0 = frames as decoded (default: the model's)",
    )
    parser.add_argument(
        "--detail-refine",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use the model's learned detail refiner where it has one (default: the model's setting; "
        "--no-detail-refine: the hand-made restore, and no 'restore only' rows)",
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=None,
        help="diffusion models: initial noise scale in (0, 2] (default: the model's)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="autoregressive models: token sampling temperature > 0 (default: the model's)",
    )
    parser.add_argument(
        "--consensus",
        type=int,
        default=None,
        help="candidate futures per sample, the most typical returned (1 = plain sampling; default: the model's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generation seed of episode 0 (i: seed + i)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--episodes", type=int, default=None, help="held-out episodes per scenario (default 16)"
    )
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels")
    parser.add_argument(
        "--prompt", choices=("none", "caption"), default="none", help="Video2World prompt (default none)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per speed row; the fastest counts")
    parser.add_argument(
        "--best-of", type=int, default=1, help="also score the closest of K sampled futures (diagnostic rows)"
    )
    parser.add_argument(
        "--consensus-of",
        type=int,
        default=1,
        help="also score the frames-only call with consensus C (C futures, the most typical kept)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="one episode per scenario, 4 sampler steps, 1 repeat"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="result JSON (default benchmarks/results/predict.json)"
    )
    args = parser.parse_args()
    args.episodes = args.episodes or (1 if args.quick else 16)
    if args.quick:
        args.steps = args.steps or 4
        args.repeats = 1
    if (
        args.episodes < 1
        or args.threads < 1
        or args.repeats < 1
        or args.best_of < 1
        or args.consensus_of < 1
        or (args.consensus is not None and args.consensus < 1)
        or args.seed < 0
        or (args.steps is not None and args.steps < 1)
        or (args.guidance is not None and not args.guidance >= 0)
        or (args.noise_scale is not None and not 0 < args.noise_scale <= 2)
        or (args.temperature is not None and not args.temperature > 0)
        or args.size < 16
        or args.size % 2
    ):
        parser.error(
            "need --episodes >= 1, --threads >= 1, --repeats >= 1, --best-of >= 1, --consensus(-of) >= 1, "
            "--seed >= 0, --steps >= 1, "
            "--guidance >= 0, --noise-scale in (0, 2], --temperature > 0 and an even --size >= 16"
        )
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    models, skipped = load_models(args.models)
    for label, spec, pipe in models:
        where = "shipped weights" if label == spec else spec
        sampler = f"sampling {pipe.sampling}" if is_ar(pipe) else f"sampler {pipe.sampler}"
        print(f"{label}: {where}, {pipe.transformer.num_parameters():,} parameters, {sampler}")
    no_cv = have_opencv()
    if no_cv is None:
        import cv2

        cv2.setNumThreads(args.threads)
    else:
        skipped.append({"model": "flow", "reason": no_cv})
        print(f"skipping the flow baseline: {no_cv}", flush=True)

    clips = held_out_clips(args.episodes, args.size)
    print(
        f"{sum(map(len, clips.values()))} held-out clips of {CLIP_FRAMES} frames at {args.size} px "
        f"({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for scenario, scenario_clips in clips.items():
        for k in COND_FRAMES:
            for label, _, pipe in models:
                t0 = time.perf_counter()
                rows += run_model(label, pipe, scenario_clips, k, args, skipped)
                print(f"  {scenario} k={k} {label}: {time.perf_counter() - t0:.0f} s", flush=True)
            rows += run_baselines(scenario_clips, k, no_cv is None)
            print_table(
                f"{scenario}, k = {k} conditioning frames: {len(scenario_clips)} clips, @h = frame {k - 1}+h",
                table_rows([r for r in rows if r["scenario"] == scenario and r["cond_frames"] == k]),
            )

    peak = matmul_peak() if models else None
    speed: list[dict[str, Any]] = []
    for label, _, pipe in models:
        assert peak is not None
        mine = speed_rows(label, pipe, clips, args, peak)
        speed += mine
        r0 = mine[0]
        if is_ar(pipe):
            s0 = r0["sampler"]
            how = (
                f"temperature {s0['temperature']:g}, top-k {s0['top_k']}, top-p {s0['top_p']:g}, "
                f"guidance {s0['guidance']:g}"
            )
        else:
            how = f"{r0['sampler']} {r0['steps']} steps, guidance {r0['guidance']:g}"
        print_table(
            f"speed of {label}: 16 new frames at {args.size} px (video2world: k = 1), {args.threads} threads, "
            f"fastest of {args.repeats}; {how}",
            speed_table(mine),
        )
    if peak is not None:
        print(
            f"calls: network calls x batch (classifier-free guidance doubles it); GF/s: achieved GFLOP/s; %peak: "
            f"of the measured fp32 matmul peak, {peak / 1e9:.1f} GFLOP/s"
        )
        if any(is_ar(pipe) for _, _, pipe in models):
            print(
                "autoregressive: tok/s: sampled tokens per second; batch: network rows per sample "
                "(guidance doubles it); no-cache: every token recomputes the whole sequence"
            )
    print(
        "psnr: dB of the MSE pooled over clips; ssim, iou: means over clips; @h: the frame h after the last "
        "conditioning frame (the JSON has every h and the means over 1-16). iou: object masks found by colour "
        "against the simulator's segmentation; ground truth: the true frames through the same segmenter, the "
        "measure's ceiling. tokenizer: the true frames through the model's tokenizer. flow, linear: k = 9 only."
    )
    if args.quick:
        print("quick run: one episode per scenario and few sampler steps; not the benchmark's figures")
    for entry in skipped:
        print(f"skipped {entry['model']}: {entry['reason']}")
    targets = check_targets(rows, speed, [label for label, _, _ in models])
    for key, entry in targets.items():
        verdicts = ", ".join(
            f"{k[6:]} {'yes' if v else 'NO'}"
            for k, v in entry.items()
            if k.startswith("meets_") and v is not None
        )
        if verdicts:
            print(f"targets {key}: {verdicts}")
    seconds = time.perf_counter() - start
    print(f"total {seconds:.0f} s")
    payload = {
        "quick": args.quick,
        "episodes_per_scenario": args.episodes,
        "held_out_seed": HELD_OUT_SEED,
        "episode_frames": EPISODE_FRAMES,
        "clip_frames": CLIP_FRAMES,
        "size": args.size,
        "cond_frames": list(COND_FRAMES),
        "horizon": HORIZON,
        "iou_judge": "nearest seen colour",  # ColourSegmenter; "colour bins (5 bits)" before session 15
        "prompt": args.prompt,
        "steps": args.steps,
        "guidance": args.guidance,
        "noise_scale": args.noise_scale,
        "temperature": args.temperature,
        "seed": args.seed,
        "best_of": args.best_of,
        "consensus": args.consensus,
        "consensus_of": args.consensus_of,
        "threads": args.threads,
        "models": [model_record(label, spec, pipe) for label, spec, pipe in models],
        "skipped": skipped,
        "episodes": {
            s: [{"index": c.index, "seed": c.seed, "objects": c.groups} for c in cs]
            for s, cs in clips.items()
        },
        "rows": rows,
        "speed": speed,
        "matmul_peak_gflops": None if peak is None else peak / 1e9,
        "targets": targets,
        "target_values": {"seconds_per_16_frame_clip": TARGET_SECONDS_PER_CLIP},
        "seconds": seconds,
        "load_average_at_end": os.getloadavg(),
    }
    path = write_result("predict", payload) if args.out is None else write_json(args.out, "predict", payload)
    print(f"wrote {path}")


def write_json(path: Path, name: str, payload: dict[str, Any]) -> Path:
    """Write the result as `write_result` does, to `path` instead (atomic: temp file + rename)."""
    import json
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        json.dump({"benchmark": name, "machine": machine(), **payload}, tmp, indent=2)
    os.replace(tmp.name, path)
    return path


if __name__ == "__main__":
    try:
        main()
    except WorldfmError as exc:  # a bad model folder or argument: one line, not a traceback
        sys.exit(f"error: {exc}")
