"""Simulation throughput: frames/s per scenario at 64 and 128 px with one and two workers.

Each figure is end to end (simulate + render + caption + encode mp4/arrays + write shards), the
same path as `worldfm sim generate`. A profile of one `objects` run at 64 px says where the time goes.
Target (issue #2): >= 150 frames/s per core for `objects` at 64 px.

    python benchmarks/bench_sim.py [--episodes 4] [--frames 32] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import print_table, write_result
from worldfm.data import episode_to_sample
from worldfm.sim.generate import generate_dataset
from worldfm.sim.registry import SCENARIOS, generate_episode

TARGET_FPS_PER_CORE = 150.0


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (worker pools), user + system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def throughput(scenario: str, size: int, workers: int, episodes: int, frames: int) -> dict:
    """Wall-clock frames/s, and frames per CPU-second (robust to other jobs sharing the cores)."""
    cpu = _cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        report = generate_dataset(scenario, Path(tmp) / "ds", episodes, frames, size, seed=0, workers=workers)
    cpu = _cpu_seconds() - cpu
    fps = report.frames_per_second
    return {
        "scenario": scenario,
        "size": size,
        "workers": workers,
        "frames": episodes * frames,
        "seconds": report.seconds,
        "frames_per_s": fps,
        "frames_per_s_per_core": fps / workers,
        "frames_per_cpu_s": episodes * frames / cpu,
    }


def breakdown(scenario: str, size: int, episodes: int, frames: int) -> dict[str, float]:
    """Seconds per frame in physics, rendering, encoding and the rest (one process, cProfile)."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for i in range(episodes):
        episode_to_sample(generate_episode(scenario, seed=i, num_frames=frames, size=size), f"k{i}")
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # (file, line, func) -> (cc, nc, tottime, cumtime, callers)

    def cumulative(match: str) -> float:
        return max((v[3] for k, v in stats.items() if match in f"{k[0]}:{k[2]}"), default=0.0)

    def total(match: str) -> float:
        return sum(v[2] for k, v in stats.items() if match in f"{k[0]}:{k[2]}")

    n = episodes * frames
    parts = {
        "physics (mj_step)": total("mj_step"),
        "render (SceneRenderer.render)": cumulative("mujoco_render.py:render"),
        "encode (episode_to_sample)": cumulative(":episode_to_sample"),
    }
    parts["other (setup, states, captions)"] = max(wall - sum(parts.values()), 0.0)
    return {k: 1000 * v / n for k, v in parts.items()} | {"total": 1000 * wall / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="64 px only, one worker")
    args = parser.parse_args()
    sizes = (64,) if args.quick else (64, 128)
    worker_counts = (1,) if args.quick else (1, 2)
    rows = []
    for scenario in sorted(SCENARIOS):
        # Warm-up: imports (simulator, encoder, shard writer) and the first GL context.
        throughput(scenario, 64, 1, 1, 2)
        for size in sizes:
            for workers in worker_counts:
                # Worker processes pay ~1-2 s of start-up (imports, GL context): give each enough episodes
                # that the figure is throughput, not start-up.
                episodes = args.episodes * (1 if workers == 1 else 4 * workers)
                rows.append(throughput(scenario, size, workers, episodes, args.frames))
                print(rows[-1], flush=True)
    print_table("simulation throughput (end to end, incl. encoding and shard writing)", rows)
    split = breakdown("objects", 64, args.episodes, args.frames)
    print_table("objects @ 64 px: milliseconds per frame, one process", [split])
    objects64 = [r for r in rows if r["scenario"] == "objects" and r["size"] == 64]
    best = max(max(r["frames_per_s_per_core"], r["frames_per_cpu_s"]) for r in objects64)
    verdict = "meets" if best >= TARGET_FPS_PER_CORE else "misses"
    print(f"objects @ 64 px: {best:.0f} frames/s per core ({verdict} the {TARGET_FPS_PER_CORE:.0f} target)")
    path = write_result(
        "sim",
        {
            "episodes": args.episodes,
            "frames": args.frames,
            "rows": rows,
            "objects_64px_ms_per_frame": split,
            "target_frames_per_s_per_core": TARGET_FPS_PER_CORE,
            "objects_64px_best_frames_per_s_per_core": best,
            "load_average_at_end": os.getloadavg(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
