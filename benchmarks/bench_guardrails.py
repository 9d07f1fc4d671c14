"""Guardrails benchmark (issue 5): text pre-guard precision/recall, face-blur recall, watermark
robustness against invisible-watermark's dwtDct / dwtDctSvd / rivaGan, in one run.

    python benchmarks/bench_guardrails.py [--quick]

Runs the three parts in turn (each prints its table and writes its own JSON:
benchmarks/results/guardrails_{text,faces,watermark}.json; see each module's docstring for the
protocol), then writes benchmarks/results/guardrails.json with the three reports together.
`--quick` runs the watermark part on small clips without baselines and the face part on fewer
videos, and writes nothing (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, write_result

PARTS = ("guardrails_text", "guardrails_faces", "guardrails_watermark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small, no baselines, no files")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.quick:
        import guardrails_faces
        import guardrails_watermark

        print(json.dumps(guardrails_faces.evaluate_face_blur(videos=1, frames=8)["results"], indent=1))
        report = guardrails_watermark.evaluate_watermark(quick=True, baselines=False)
        print(json.dumps(guardrails_watermark._summary_rows(report), indent=1))
        return
    reports = {}
    for name in PARTS:
        print(f"== {name}", flush=True)
        module = __import__(name)
        sys.argv = [f"{name}.py"]  # each part's own defaults
        module.main()
        reports[name.removeprefix("guardrails_")] = json.loads((RESULTS / f"{name}.json").read_text())
    path = write_result("guardrails", {"seconds": round(time.perf_counter() - start, 1), **reports})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
