"""Action use by counterfactual rollouts: does a world model follow the actions it is given?

bench_predict's action test gives a model an episode's true actions and, as the control, another
episode's, and scores both predictions against the one true future: any error that does not depend
on the actions stays in both rows, so a small action effect is lost in it. Here the simulator renders
both futures. For each held-out `robot` and `driving` episode (bench_predict's seeds: never seen in
training) and each k in (1, 9):

- future A: the episode itself (its scripted policy's or driver model's actions);
- future B: the same scene from the same state, with the actions from action k - 1 on replaced by
  those of the next held-out episode of the scenario (`robot.simulate(params, actions=...)`,
  `driving.generate(seed, actions=...)`: the traffic reacts to the new drive); frames 0 .. k - 1 are
  identical in both, as they depend on actions 0 .. k - 2 only;
- the model predicts 16 frames after the same k frames twice, with the same seed: P_A given A's
  actions, P_B given B's.

Figures over the 16 predicted frames, MSE pooled over clips and both branches:

- `matched_psnr`: P_A against A and P_B against B; `swapped_psnr`: P_A against B and P_B against A.
- `discrimination_db` = matched - swapped: above 0 when each prediction is closer to the future of its
  own actions than to the other one. Errors that do not depend on the actions cancel; a model that
  ignores its actions scores 0 (up to sampling noise for a sampling model), an oracle scores
  `truth_divergence_db`.
- the same three on `moved` pixels only: where A and B differ by more than 16 levels in some channel
  (the arm and what it pushes; in driving the view itself moves, so most pixels do), since much of
  the frame can be the same in both futures.
- `truth_divergence_db` (PSNR of A against B: lower = futures further apart) and
  `prediction_divergence_db` (P_A against P_B): how far apart the model's two futures are.

`objects` has no actions. Guardrails and watermark off, as in bench_predict. The JSON goes to
`benchmarks/results/actions.json` (`--out` elsewhere).

    python benchmarks/bench_actions.py [--models predict-nano ar-nano runs/x/export] [--episodes 16]
        [--scenarios robot driving] [--steps N] [--guidance G] [--seed 0] [--threads 2] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from bench_predict import (
    EPISODE_FRAMES,
    HELD_OUT_SEED,
    HORIZON,
    add_model_arguments,
    generate_kwargs,
    load_models,
    to_psnr,
    write_json,
)
from common import print_table, write_result
from worldfm.sim import driving, robot
from worldfm.sim.registry import episode_seed
from worldfm.sim.robot_policy import policy_actions

SCENARIOS = ("robot", "driving")
COND_FRAMES = (1, 9)
MOVED_LEVELS = 16  # a pixel "moved" when A and B differ by more than this in some channel


def _psnr(mse: float) -> float | None:
    value = to_psnr(mse)
    return None if value is None else round(value, 3)


def _sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel squared error summed over channels, `(T, H, W)` float64."""
    return ((a.astype(np.float64) - b.astype(np.float64)) ** 2).sum(-1)


def counterfactual_pairs(scenario: str, episodes: int) -> list[dict[str, Any]]:
    """Per held-out episode i of `scenario`: its seed, robot params, own actions and the next
    episode's actions, all (EPISODE_FRAMES - 1, A). Robot actions are the scripted policy's, as
    `robot.generate` records them, without simulating; driving ones come from the driver model,
    which needs the traffic, so those episodes are generated."""
    seeds = [episode_seed(HELD_OUT_SEED, i) for i in range(episodes + 1)]
    if scenario == "robot":
        params = [robot.sample_params(s) for s in seeds]
        actions = [policy_actions(p.policy, p.arm, p.scene.fps, EPISODE_FRAMES) for p in params]
    else:
        params = [None] * len(seeds)
        actions = [driving.generate(s, EPISODE_FRAMES, 16).actions for s in seeds]
    return [
        {"index": i, "seed": seeds[i], "params": params[i], "own": actions[i], "other": actions[i + 1]}
        for i in range(episodes)
    ]


def replay(scenario: str, pair: dict[str, Any], actions: np.ndarray, size: int) -> np.ndarray:
    """Frames `(len(actions) + 1, size, size, 3)` uint8 of the pair's episode under `actions`.

    A driving episode is replayed at its full EPISODE_FRAMES length (its traffic and plan depend on the
    duration), with `actions` padded by the other episode's, and cut back.
    """
    n = len(actions) + 1
    if scenario == "robot":
        return robot.simulate(
            pair["params"], num_frames=n, size=size, seed=pair["seed"], actions=actions
        ).frames
    full = np.concatenate([actions, pair["other"][n - 1 :]])
    return driving.generate(pair["seed"], EPISODE_FRAMES, size, actions=full).frames[:n]


def futures(
    scenario: str, pair: dict[str, Any], k: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frames A, frames B, actions A, actions B): `k + HORIZON` frames each, `k + HORIZON - 1` actions;
    B takes the other episode's actions from action k - 1 on."""
    n = k + HORIZON
    act_a = pair["own"][: n - 1].astype(np.float32)
    act_b = np.concatenate([act_a[: k - 1], pair["other"][k - 1 : n - 1]]).astype(np.float32)
    frames_a, frames_b = replay(scenario, pair, act_a, size), replay(scenario, pair, act_b, size)
    if not np.array_equal(frames_a[:k], frames_b[:k]):
        raise AssertionError("the two futures must share their first k frames")
    return frames_a, frames_b, act_a, act_b


def score_model(
    label: str,
    pipe: Any,
    scenario: str,
    pairs: list[dict[str, Any]],
    k: int,
    size: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One row: matched / swapped PSNR (all pixels and moved pixels), discrimination, divergences."""
    sums = {name: 0.0 for name in ("matched", "swapped", "matched_moved", "swapped_moved", "truth", "pred")}
    pixels, moved_pixels = 0, 0
    per_clip = []
    seconds = 0.0
    for pair in pairs:
        fa, fb, aa, ab = futures(scenario, pair, k, size)
        preds = []
        for actions in (aa, ab):
            out = pipe.generate(
                k + HORIZON, video=fa[:k], cond_frames=k, actions=actions, seed=args.seed + pair["index"],
                **generate_kwargs(pipe, args),
            )  # fmt: skip
            seconds += out.seconds
            preds.append(out.videos[0, k:])
        pa, pb = preds
        ta, tb = fa[k:], fb[k:]
        moved = (np.abs(ta.astype(np.int16) - tb.astype(np.int16)) > MOVED_LEVELS).any(-1)  # (T, H, W)
        matched = _sq(pa, ta) + _sq(pb, tb)
        swapped = _sq(pa, tb) + _sq(pb, ta)
        n = ta.shape[0] * ta.shape[1] * ta.shape[2] * 3
        clip = {
            "episode": pair["index"],
            "moved_share": round(float(moved.mean()), 4),
            "discrimination_db": round(
                float(10 * np.log10(max(swapped.sum(), 1e-9) / max(matched.sum(), 1e-9))), 3
            ),
        }
        sums["matched"] += matched.sum()
        sums["swapped"] += swapped.sum()
        sums["matched_moved"] += matched[moved].sum()
        sums["swapped_moved"] += swapped[moved].sum()
        sums["truth"] += _sq(ta, tb).sum()
        sums["pred"] += _sq(pa, pb).sum()
        pixels += n
        moved_pixels += int(moved.sum()) * 3
        per_clip.append(clip)
    row: dict[str, Any] = {"scenario": scenario, "model": label, "cond_frames": k, "clips": len(pairs)}
    for name in ("matched", "swapped"):
        row[f"{name}_psnr"] = _psnr(sums[name] / (2 * pixels))
        row[f"{name}_psnr_moved"] = _psnr(sums[f"{name}_moved"] / max(2 * moved_pixels, 1))
    for suffix in ("", "_moved"):
        m, s = row[f"matched_psnr{suffix}"], row[f"swapped_psnr{suffix}"]
        row[f"discrimination_db{suffix}"] = None if m is None or s is None else round(m - s, 3)
    row["truth_divergence_db"] = _psnr(sums["truth"] / pixels)
    row["prediction_divergence_db"] = _psnr(sums["pred"] / pixels)
    row["moved_share"] = round(moved_pixels / pixels, 4)
    row["clips_discriminating"] = int(sum(c["discrimination_db"] > 0 for c in per_clip))
    row["seconds"] = round(seconds, 2)
    row["per_clip"] = per_clip
    return row


def table(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    return [
        {
            "scenario": r["scenario"],
            "model": r["model"],
            "k": str(r["cond_frames"]),
            "matched": f(r["matched_psnr"]),
            "swapped": f(r["swapped_psnr"]),
            "discr dB": f(r["discrimination_db"]),
            "moved matched": f(r["matched_psnr_moved"]),
            "moved swapped": f(r["swapped_psnr_moved"]),
            "moved discr": f(r["discrimination_db_moved"]),
            "clips >0": f"{r['clips_discriminating']}/{r['clips']}",
            "A vs B": f(r["truth_divergence_db"]),
            "P_A vs P_B": f(r["prediction_divergence_db"]),
        }
        for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--episodes", type=int, default=None, help="held-out episodes per scenario (default 16)"
    )
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--quick", action="store_true", help="two episodes, 4 sampler steps")
    parser.add_argument(
        "--out", type=Path, default=None, help="result JSON (default benchmarks/results/actions.json)"
    )
    args = parser.parse_args()
    args.episodes = args.episodes or (2 if args.quick else 16)
    if args.quick:
        args.steps = args.steps or 4
    if args.episodes < 1 or args.threads < 1 or args.seed < 0 or (args.steps is not None and args.steps < 1):
        parser.error("need --episodes >= 1, --threads >= 1, --seed >= 0 and --steps >= 1")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    size = 64
    models, skipped = load_models(args.models)
    models = [(lbl, spec, p) for lbl, spec, p in models if p.transformer.config.action_dim]
    rows = []
    for scenario in args.scenarios:
        pairs = counterfactual_pairs(scenario, args.episodes)
        for k in COND_FRAMES:
            for label, _, pipe in models:
                t0 = time.perf_counter()
                rows.append(score_model(label, pipe, scenario, pairs, k, size, args))
                print(f"  {scenario} k={k} {label}: {time.perf_counter() - t0:.0f} s", flush=True)
    print_table(
        f"counterfactuals: {args.episodes} held-out episodes per scenario, 16 predicted frames, PSNR dB (pooled MSE); "
        f"moved: pixels where the two futures differ by > {MOVED_LEVELS} levels",
        table(rows),
    )
    print(
        "matched: each prediction against the future of its own actions; swapped: against the other one; "
        "discr: matched - swapped (0 = actions ignored); A vs B: how far apart the simulated futures are; "
        "P_A vs P_B: the predicted ones"
    )
    if args.quick:
        print("quick run: two episodes and few sampler steps; not the benchmark's figures")
    for entry in skipped:
        print(f"skipped {entry['model']}: {entry['reason']}")
    seconds = time.perf_counter() - start
    print(f"total {seconds:.0f} s")
    payload = {
        "quick": args.quick,
        "episodes": args.episodes,
        "scenarios": args.scenarios,
        "held_out_seed": HELD_OUT_SEED,
        "size": size,
        "horizon": HORIZON,
        "moved_levels": MOVED_LEVELS,
        "steps": args.steps,
        "guidance": args.guidance,
        "noise_scale": args.noise_scale,
        "temperature": args.temperature,
        "consensus": args.consensus,
        "seed": args.seed,
        "threads": args.threads,
        "models": [{"label": lbl, "spec": spec} for lbl, spec, _ in models],
        "skipped": skipped,
        "rows": rows,
        "seconds": round(seconds, 1),
    }
    path = write_result("actions", payload) if args.out is None else write_json(args.out, "actions", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
