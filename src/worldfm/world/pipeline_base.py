"""What the diffusion (`PredictPipeline`) and autoregressive (`ARPipeline`) world-model pipelines share:
the guardrail protocol, the output record, the request checks of `generate`, prompt encoding, the
detail restore of generated frames (hand-made, or the pipeline's learned refiner), the finishing
steps (post-guard, watermark, `WorldOutput`), the pipeline folder's save/load, and the
Text2World / Video2World front doors. Each family subclasses `WorldPipeline` and supplies what
differs: its settings class, its tokenizer checks, its frame-size rule and its sampling loop.

Videos are `T H W C` uint8 numpy at the edges (inputs and `WorldOutput.videos`), as everywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch

from worldfm.errors import ConfigError, GuardrailBlocked, WorldfmError
from worldfm.tokenizers.pretrained import atomic_file
from worldfm.world.consensus import candidate_seeds, select_consensus
from worldfm.world.detail import restore_detail
from worldfm.world.diffusion.conditioning import latent_frames_for
from worldfm.world.diffusion.samplers import sample_seeds
from worldfm.world.outputs import post_guard, watermark_videos
from worldfm.world.pipeline_folder import MODEL_INDEX, read_pipeline_index, read_settings, write_index_json  # noqa: F401  (MODEL_INDEX: re-exported)
from worldfm.world.refiner import REFINER_DIR, check_refiner_fits, refine_detail

FORMAT_VERSION = 1
Progress = Callable[[int, int], None]
P = TypeVar("P", bound="WorldPipeline")


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


# ----- outputs -----
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


@dataclass
class Request:
    """One checked `generate` request, as both families' sampling loops read it.

    samples, seeds: the rows sampled and their seeds: the requested samples times `settings.consensus`
    (candidate futures; `worldfm.world.consensus`), each with its own seed.
    video: the conditioning video `(T, H, W, 3)` uint8 (None for Text2World); height, width: output
    frame size. actions: `(frames - 1, action_dim)` float32, zero-padded per row, or None. text,
    text_mask: the prompt's encoder states expanded to `samples` rows, or None without a prompt.
    generators: one CPU generator per row, seeded `seeds[i]`. start: `time.perf_counter()` at entry.
    """

    frames: int
    samples: int
    cond_frames: int
    seeds: list[int]
    settings: Any
    video: np.ndarray | None
    height: int
    width: int
    prompt: str | None
    actions: torch.Tensor | None
    generation_id: int | None
    fps: float | None
    prompt_decision: Any
    text: torch.Tensor | None
    text_mask: torch.Tensor | None
    generators: list[torch.Generator]
    start: float


# ----- the shared pipeline -----
class WorldPipeline(ABC):
    """A tokenizer + text encoder + transformer + sampling settings + guardrail; the base of
    `PredictPipeline` and `ARPipeline`. Subclasses set the class attributes below, set their
    settings attribute (named `SETTINGS_KEY`) before calling `__init__`, and implement
    `_check_tokenizer`, `_check_roll_frames`, `_size_rule` and `generate`."""

    PIPELINE_CLASSES: ClassVar[tuple[str, ...]]  # `_class_name`s this family's loader accepts
    SETTINGS_KEY: ClassVar[str]  # settings attribute, subfolder and model_index key ("sampler")
    SETTINGS_CLASS: ClassVar[type]  # the settings dataclass (`SamplerConfig`)
    TRANSFORMER_CLASS: ClassVar[str]  # the transformer's class name in model_index.json ("DiT")
    OTHER_FAMILY_HINT: ClassVar[str]  # what a loader error says about the other family's folders

    def __init__(
        self,
        transformer: Any,
        tokenizer: Any,
        text_encoder: Any,
        fps: float,
        roll_frames: int | None,
        guardrail: Guardrail | str,
        watermark: bool,
        refiner: Any = None,
    ) -> None:
        self.transformer = transformer.eval()
        self.tokenizer = tokenizer.eval()
        self.text_encoder = text_encoder
        self.refiner = refiner.eval() if refiner is not None else None
        self.guardrail: Guardrail | None = resolve_guardrail(guardrail)
        self.watermark = bool(watermark)
        if not fps > 0:
            raise ConfigError(f"fps must be > 0, got {fps!r}")
        self.fps = float(fps)
        config = transformer.config
        self._check_tokenizer(config, tokenizer.config)
        if text_encoder is not None and text_encoder.dim != config.text_dim:
            raise ConfigError(
                f"text encoder width {text_encoder.dim} differs from the transformer's text_dim {config.text_dim}"
            )
        self.roll_frames = self._check_roll_frames(roll_frames)
        if refiner is not None:
            check_refiner_fits(refiner, tokenizer)
        # Called with (generated, decoded_ref, given_ref) of every window before its detail restore:
        # how refiner training collects a world model's own frames (`recipes.refiner_samples`).
        self.restore_observer: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None

    # ----- family hooks -----
    @abstractmethod
    def _check_tokenizer(self, config: Any, tokenizer_config: Any) -> None:
        """Raise ConfigError if the tokenizer does not fit the transformer."""

    @abstractmethod
    def _check_roll_frames(self, roll_frames: int | None) -> int:
        """The frames kept when rolling (a default for None), checked."""

    @abstractmethod
    def _size_rule(self) -> tuple[int, str]:
        """(pixels that frame sides must be a multiple of, why) for the frame-size error."""

    @abstractmethod
    def generate(self, frames: int, **kwargs: Any) -> WorldOutput:
        """Sample `frames`-frame videos for one request (the family's sampling loop)."""

    def _index_class_name(self) -> str:
        """The `_class_name` that `save_pretrained` writes into model_index.json."""
        return type(self).__name__

    @staticmethod
    @abstractmethod
    def _resolve(name_or_path: str | os.PathLike[str]) -> Path:
        """The pipeline folder for a path or a shipped tier name."""

    @staticmethod
    @abstractmethod
    def _load_transformer(folder: Path) -> Any:
        """The family's transformer from the folder's transformer/ subfolder."""

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

    def to(self: P, device: str | torch.device) -> P:
        self.transformer.to(device)
        self.tokenizer.to(device)
        if self.text_encoder is not None:
            self.text_encoder.to(device)
        if self.refiner is not None:
            self.refiner.to(device)
        return self

    # ----- detail -----
    def _restore(
        self, generated: np.ndarray, decoded_ref: np.ndarray, given_ref: np.ndarray, settings: Any
    ) -> np.ndarray:
        """Generated frames `(K, F, H, W, 3)` uint8 with the reference frame's detail: the learned
        refiner (`worldfm.world.refiner`) when the pipeline has one and `settings.detail_refine` is on,
        else the hand-made restore; `settings.detail_restore` 0 returns them as decoded either way."""
        if self.restore_observer is not None:
            self.restore_observer(generated, decoded_ref, given_ref)
        if self.refiner is not None and settings.detail_refine:
            return refine_detail(self.refiner, generated, decoded_ref, given_ref, settings.detail_restore)
        return restore_detail(generated, decoded_ref, given_ref, settings.detail_restore)

    # ----- input checks -----
    def _check_int(self, name: str, value: Any, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(value)

    def _check_actions(self, actions: Any, frames: int) -> torch.Tensor | None:
        """`actions` `(frames - 1, A)`, A <= the model's action_dim -> `(frames - 1, action_dim)`
        float32, each row zero-padded (as the datasets pad their action mixture); None stays None."""
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

    def _request(
        self,
        start: float,
        frames: int,
        video: np.ndarray | None,
        cond_frames: int,
        prompt: str | None,
        actions: Any,
        samples: int,
        seed: int,
        size: tuple[int, int] | None,
        fps: float | None,
        generation_id: int | None,
        settings: Callable[[], Any],
    ) -> Request:
        """Check a `generate` request and prepare what sampling needs: the counts, seeds, the
        settings (`settings()`, built after the counts are checked), the frame size (the video's, else
        `size`, else the model's resolution), the padded actions, the prompt pre-guard's decision
        (raises `GuardrailBlocked` on refusal) and the encoded prompt."""
        tf = self.transformer.config.temporal_factor
        frames = self._check_int("frames", frames, 1)
        samples = self._check_int("samples", samples, 1)
        cond_frames = self._check_int("cond_frames", cond_frames, 0)
        seeds = sample_seeds(seed, samples)
        chosen = settings()
        # consensus: `consensus` candidate rows per requested sample, one seed each; `_finish` keeps one
        seeds = candidate_seeds(seeds, chosen.consensus)
        samples = len(seeds)
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
            height, width = size if size is not None else (self.resolution, self.resolution)
        multiple, why = self._size_rule()
        if height % multiple or width % multiple:
            raise ConfigError(
                f"frame size {width}x{height} must be a multiple of {multiple} pixels ({why}); "
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
        text = mask = None
        if prompt:
            if self.text_encoder is None:
                raise ConfigError("this pipeline has no text encoder; it cannot take a prompt")
            device = self.device
            text, mask = self.text_encoder.encode([prompt])
            text, mask = text.to(device).expand(samples, -1, -1), mask.to(device).expand(samples, -1)
        return Request(
            frames=frames,
            samples=samples,
            cond_frames=cond_frames,
            seeds=seeds,
            settings=chosen,
            video=video,
            height=height,
            width=width,
            prompt=prompt,
            actions=act,
            generation_id=generation_id,
            fps=fps,
            prompt_decision=prompt_decision,
            text=text,
            text_mask=mask,
            generators=[torch.Generator().manual_seed(s) for s in seeds],
            start=start,
        )

    # ----- outputs -----
    def _post_guard(self, videos: np.ndarray, prompt_decision: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Run the video post-guard on each of `videos` (K, T, H, W, 3); raise if any is refused."""
        return post_guard(self.guardrail, videos, prompt_decision)

    def _watermark(
        self, videos: np.ndarray, ids: list[int], cond_frames: int = 0
    ) -> tuple[np.ndarray, list[str | None]]:
        """Embed the watermark in the generated frames of each video (the given conditioning frames
        stay as they were given); video i carries generation id `ids[i]`."""
        return watermark_videos(videos, ids, self.transformer.config.name, start=cond_frames)

    def _finish(self, req: Request, videos: np.ndarray, windows: int) -> WorldOutput:
        """Keep each requested sample's consensus candidate (all rows when consensus is 1), then
        post-guard and watermark the generated `videos` `(rows, frames, H, W, 3)` uint8 and wrap them."""
        consensus = req.settings.consensus
        if consensus > 1:
            chosen = select_consensus(videos, req.samples // consensus, start=req.cond_frames)
            videos = np.ascontiguousarray(videos[chosen])
            seeds = [req.seeds[i] for i in chosen]
            req = dataclasses.replace(req, samples=len(chosen), seeds=seeds)
        videos, guard_record = self._post_guard(videos, req.prompt_decision)
        watermarks: list[str | None] = [None] * req.samples
        if self.watermark:
            ids = (
                [(req.generation_id + i) % 2**32 for i in range(req.samples)]
                if req.generation_id is not None
                else request_ids(
                    req.seeds,
                    req.frames,
                    req.video[: req.cond_frames] if req.cond_frames else None,
                    req.prompt,
                    req.actions,
                    req.settings,
                )
            )
            videos, watermarks = self._watermark(videos, ids, req.cond_frames)
        return WorldOutput(
            videos=videos,
            seeds=req.seeds,
            fps=float(req.fps) if req.fps is not None else self.fps,
            cond_frames=req.cond_frames,
            windows=windows,
            seconds=time.perf_counter() - req.start,
            guardrail=self.guardrail.name if self.guardrail is not None else "off",
            settings=req.settings.to_dict(),
            guardrails=guard_record,
            watermarks=watermarks,
            model=self.transformer.config.name,
        )

    # ----- front doors -----
    def text2world(
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
        **sampling: Any,
    ) -> WorldOutput:
        """Text -> video: `generate` with a non-empty `prompt`; `frames` default: one window.
        `sampling`: the family's other `generate` settings (e.g. `temperature` for the AR model)."""
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
            **sampling,
        )

    def video2world(
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
        **sampling: Any,
    ) -> WorldOutput:
        """Video (+ optional prompt and actions) -> the video continued to `frames` frames in total;
        an empty prompt counts as none."""
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
            **sampling,
        )

    # ----- save / load -----
    def save_pretrained(self, path: str | os.PathLike[str], dtype: str = "bfloat16") -> Path:
        """Write the pipeline folder (model_index.json + one subfolder per component); weights in `dtype`."""
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise WorldfmError(f"{folder}: exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        self.transformer.save_pretrained(folder / "transformer", dtype=dtype)
        self.tokenizer.save_pretrained(folder / "tokenizer", dtype=dtype)
        if self.text_encoder is not None:
            self.text_encoder.save_pretrained(folder / "text_encoder")
        if self.refiner is not None:
            self.refiner.save_pretrained(folder / REFINER_DIR, dtype="float32")
        key, settings_name = self.SETTINGS_KEY, self.SETTINGS_CLASS.__name__
        (folder / key).mkdir(exist_ok=True)
        with atomic_file(folder / key / "config.json") as tmp:
            settings = getattr(self, key).to_dict()
            tmp.write_text(json.dumps({"_class_name": settings_name, **settings}, indent=2) + "\n")
        index = {
            "_class_name": self._index_class_name(),
            "_format_version": FORMAT_VERSION,
            "transformer": ["worldfm", self.TRANSFORMER_CLASS],
            "tokenizer": ["worldfm", "VideoTokenizer"],
            "text_encoder": ["worldfm", "TextEncoder"] if self.text_encoder is not None else None,
            REFINER_DIR: ["worldfm", "DetailRefiner"] if self.refiner is not None else None,
            key: ["worldfm", settings_name],
            "fps": self.fps,
            "roll_frames": self.roll_frames,
        }
        write_index_json(folder, index)
        return folder

    @classmethod
    def from_pretrained(
        cls: type[P],
        name_or_path: str | os.PathLike[str],
        guardrail: Guardrail | str = "default",
        device: str | torch.device = "cpu",
        watermark: bool = True,
    ) -> P:
        """Load a pipeline folder or a shipped tier; float32 weights on `device`. `guardrail` and
        `watermark` as in the constructor (on by default)."""
        from worldfm.text.encoder import TextEncoder
        from worldfm.tokenizers import VideoTokenizer
        from worldfm.world.refiner import DetailRefiner

        folder = cls._resolve(name_or_path)
        index = read_pipeline_index(folder, cls.PIPELINE_CLASSES, FORMAT_VERSION, cls.OTHER_FAMILY_HINT)
        settings = read_settings(folder / cls.SETTINGS_KEY, cls.SETTINGS_CLASS)
        text_encoder = (
            TextEncoder.from_pretrained(folder / "text_encoder", device=device)
            if index.get("text_encoder")
            else None
        )
        pipe = cls(
            cls._load_transformer(folder / "transformer"),
            VideoTokenizer.from_pretrained(folder / "tokenizer"),
            text_encoder,
            settings,
            fps=float(index.get("fps", 10.0)),
            roll_frames=index.get("roll_frames"),
            guardrail=guardrail,
            watermark=watermark,
            refiner=DetailRefiner.from_pretrained(folder / REFINER_DIR) if index.get(REFINER_DIR) else None,
        )
        return pipe.to(device)
