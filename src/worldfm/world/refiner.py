"""Learned detail refiner: a small network that finishes what the detail restore starts.

The detail restore (`worldfm.world.detail`) gives generated frames the true pixels of the last
conditioning frame back where they match its decoded version, and leaves everything else as the
tokenizer decoded it. It cannot help where the content moved (a driving camera pans, an object slides
over the table: the right detail is there in the reference frame, a few pixels away) nor sharpen what
the decoder blurred. The refiner learns both behind one tokenizer: a residual stack of dilated 3x3
convolutions (2D only: fast on CPU; receptive field 37 px with the default dilations) that reads, per
generated frame,

- the frame as decoded, and as restored (`restore_detail` at the pipeline's tolerance),
- the reference (last conditioning) frame as decoded and as given,

and returns a correction added to the restored frame. Its last layer starts at zero, so an untrained
refiner is exactly the restore.

With `warp` (a motion head), it also moves the given reference's true pixels: a second output layer
predicts, per pixel, a displacement (in pixels) to sample the given reference from and a blend weight
in [0, 1] between that warped reference and the restored frame; the correction is added on top. Content
that moved (an object pushed across the table, lane markings scrolling past a driving camera) can then
keep its true colours instead of the decoder's blur, the way flow-warping video predictors (DVF,
vid2vid) carry context pixels forward. The motion head also starts at zero (no displacement, weight 0):
a warp refiner warm-started from a plain one is exactly that refiner until trained. (Behind the shipped
predict-nano it was measured and not shipped: README, "Refiner with a motion head".)

A refiner is trained on true future frames through its tokenizer (`worldfm train refiner`,
`worldfm.train.recipes.refiner`), optionally then on a world model's own sampled futures (the recipe's
`samples` section), and rides in a world-model pipeline folder as `refiner/` (`worldfm predict
attach-refiner`), which then uses it in place of the hand-made restore.

A refiner only fits the decoder it was trained behind: its config records that decoder's weight
digest, and attaching it to a pipeline with another decoder is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldfm.errors import ConfigError, WorldfmError
from worldfm.world.config_base import is_int
from worldfm.world.detail import DEFAULT_DETAIL_RESTORE, check_detail_restore, restore_detail

CLASS_NAME = "DetailRefiner"
FORMAT_VERSION = 1
IN_FRAMES = 4  # generated, restored, decoded reference, given reference
FLOW_SCALE = 4.0  # pixels of displacement per unit of the motion head's output (keeps its outputs ~1)
REFINER_DIR = "refiner"  # its subfolder (and model_index.json key) in a pipeline folder


@dataclass(frozen=True)
class RefinerConfig:
    """A detail refiner's architecture and what it was trained behind.

    channels: feature width of every layer. dilations: one residual 3x3 convolution per entry, with
    that dilation (receptive field `5 + 2 * sum(dilations)` pixels with the input and output layers).
    tolerance: the restore tolerance of its training input (the pipeline's `detail_restore` is used at
    run time; values near this one work as trained). tokenizer: name of the tokenizer whose decoded
    frames it refines; decoder_digest: `decoder_digest` of that tokenizer ("" = not recorded, no check).
    warp: add the motion head (warps the given reference into each frame; see the module docstring).
    """

    name: str = "refiner"
    channels: int = 32
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1)
    tolerance: float = DEFAULT_DETAIL_RESTORE
    tokenizer: str = ""
    decoder_digest: str = ""
    warp: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dilations", tuple(self.dilations))
        if not is_int(self.channels) or self.channels < 1:
            raise ConfigError(f"channels must be an integer >= 1, got {self.channels!r}")
        if not self.dilations or not all(is_int(d) and d >= 1 for d in self.dilations):
            raise ConfigError(
                f"dilations must be a non-empty list of integers >= 1, got {list(self.dilations)!r}"
            )
        check_detail_restore(self.tolerance)
        if self.tolerance == 0:
            raise ConfigError("tolerance must be > 0: the refiner builds on the detail restore")
        for key in ("name", "tokenizer", "decoder_digest"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"{key} must be a string, got {getattr(self, key)!r}")
        if not isinstance(self.warp, bool):
            raise ConfigError(f"warp must be true or false, got {self.warp!r}")

    @property
    def receptive_field(self) -> int:
        """Pixels across that one output pixel sees."""
        return 5 + 2 * sum(self.dilations)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["dilations"] = list(self.dilations)
        if not self.warp:  # refiners saved before the motion head existed read back unchanged
            del data["warp"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RefinerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown refiner config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> RefinerConfig:
        return dataclasses.replace(self, **changes)


class DetailRefiner(nn.Module):
    """`forward(generated, restored, decoded_ref, given_ref)`: each `(N, 3, H, W)` float in [-1, 1]
    -> refined frames `(N, 3, H, W)` float (about [-1, 1]; not clamped): `restored` plus a learned
    correction. Any H, W (fully convolutional, zero padding)."""

    def __init__(self, config: RefinerConfig | None = None) -> None:
        super().__init__()
        self.config = config or RefinerConfig()
        c = self.config.channels
        self.inp = nn.Conv2d(3 * IN_FRAMES, c, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Conv2d(c, c, 3, padding=d, dilation=d) for d in self.config.dilations)
        self.out = nn.Conv2d(c, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # untrained = the restore itself
        nn.init.zeros_(self.out.bias)
        self.warp_head: nn.Conv2d | None = None
        if self.config.warp:  # displacement (x, y) and blend weight; zero = no motion, weight 0
            self.warp_head = nn.Conv2d(c, 3, 3, padding=1)
            nn.init.zeros_(self.warp_head.weight)
            nn.init.zeros_(self.warp_head.bias)
        self.to(memory_format=torch.channels_last)  # 1.7x faster 3x3 convolutions on CPU (measured)

    def forward(
        self,
        generated: torch.Tensor,
        restored: torch.Tensor,
        decoded_ref: torch.Tensor,
        given_ref: torch.Tensor,
    ) -> torch.Tensor:
        x = torch.cat([generated, restored, decoded_ref, given_ref], dim=1)
        x = F.gelu(self.inp(x.contiguous(memory_format=torch.channels_last)))
        for block in self.blocks:
            x = x + F.gelu(block(x))
        base = restored
        if self.warp_head is not None:
            motion = self.warp_head(x)
            warped = warp_frames(given_ref, motion[:, :2] * FLOW_SCALE)
            weight = motion[:, 2:3].clamp(0.0, 1.0)  # hard clamp: at 0 its gradient still flows
            base = restored + weight * (warped - restored)
        return base + self.out(x)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ----- save / load -----
    def save_pretrained(
        self, path: str | os.PathLike[str], dtype: str = "float32", model_card: str | None = None
    ) -> Path:
        """Write `config.json` + `model.safetensors` (weights stored in `dtype`) to folder `path`."""
        from worldfm.tokenizers.pretrained import save_model_folder

        return save_model_folder(self, path, CLASS_NAME, FORMAT_VERSION, dtype, model_card=model_card)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> DetailRefiner:
        """Load a folder written by `save_pretrained` (float32, eval mode)."""
        from worldfm.tokenizers.pretrained import load_model_weights, read_model_config

        folder = Path(path)
        data, _ = read_model_config(folder, CLASS_NAME, FORMAT_VERSION, "a detail refiner")
        try:
            config = RefinerConfig.from_dict(data)
        except (ConfigError, TypeError) as exc:
            raise WorldfmError(f"{folder / 'config.json'}: {exc}") from exc
        return load_model_weights(cls(config), folder).eval()  # type: ignore[return-value]


def warp_frames(frames: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Backward warp: frames `(N, C, H, W)`, displacement `(N, 2, H, W)` in pixels (x, y) -> `(N, C, H, W)`,
    each output pixel bilinearly sampled from `frames` at its own position plus its displacement
    (positions outside the frame take the nearest border pixel)."""
    h, w = frames.shape[-2:]
    ys = torch.arange(h, dtype=frames.dtype, device=frames.device)
    xs = torch.arange(w, dtype=frames.dtype, device=frames.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    # pixel centres -> grid_sample's [-1, 1] coordinates (align_corners=False)
    x = (gx + displacement[:, 0] + 0.5) * (2.0 / w) - 1.0
    y = (gy + displacement[:, 1] + 0.5) * (2.0 / h) - 1.0
    grid = torch.stack([x, y], dim=-1)  # (N, H, W, 2)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)


def weights_digest(module: nn.Module, dtype: torch.dtype = torch.float32) -> str:
    """sha256 (hex, first 16 digits) of `module`'s state dict (names and tensors cast to `dtype`), in
    state-dict order: the identity of a set of weights."""
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().to("cpu", dtype).reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def decoder_digest(tokenizer: nn.Module) -> str:
    """`weights_digest` of a `VideoTokenizer`'s decoder rounded to bfloat16 (the shipped precision):
    the identity of the decoder a refiner was trained behind."""
    return weights_digest(tokenizer.decoder, torch.bfloat16)


def check_refiner_fits(refiner: DetailRefiner, tokenizer: nn.Module) -> None:
    """WorldfmError unless `refiner` was trained behind `tokenizer`'s decoder (equal digests; a refiner
    without a recorded digest is not checked)."""
    want = refiner.config.decoder_digest
    if not want:
        return
    have = decoder_digest(tokenizer)
    if want != have:
        raise WorldfmError(
            f"refiner {refiner.config.name!r} was trained behind decoder {want} of tokenizer "
            f"{refiner.config.tokenizer!r}; this tokenizer's decoder is {have} "
            "(retrain the refiner behind it: worldfm train refiner, or detach it: "
            "worldfm predict attach-refiner PIPELINE --remove)"
        )


def frames_to_unit(frames: np.ndarray) -> torch.Tensor:
    """uint8 `(N, H, W, 3)` -> float `(N, 3, H, W)` in [-1, 1], the refiner's input layout (a copy:
    inputs may be read-only views, e.g. a broadcast reference frame)."""
    return torch.tensor(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0


@torch.no_grad()
def refine_detail(
    refiner: DetailRefiner,
    generated: np.ndarray,
    decoded_ref: np.ndarray,
    given_ref: np.ndarray,
    tolerance: float,
    chunk_frames: int = 16,
) -> np.ndarray:
    """`restore_detail`'s contract with the refiner on top: generated `(K, F, H, W, 3)` uint8 frames,
    decoded_ref and given_ref `(K, H, W, 3)` uint8 -> `(K, F, H, W, 3)` uint8. `tolerance` is the
    restore tolerance of the refiner's input; 0 = frames as decoded (no restore, no refiner), as for
    `restore_detail`. `chunk_frames` frames go through the network at a time (bounded memory)."""
    from worldfm.video.transforms import tensor_to_frames

    restored = restore_detail(generated, decoded_ref, given_ref, tolerance)
    if check_detail_restore(tolerance) == 0 or generated.shape[1] == 0:
        return restored
    device = next(refiner.parameters()).device
    out = np.empty_like(generated)
    f = generated.shape[1]
    for j in range(generated.shape[0]):
        ref_dec = frames_to_unit(decoded_ref[j : j + 1]).to(device)
        ref_given = frames_to_unit(given_ref[j : j + 1]).to(device)
        for lo in range(0, f, chunk_frames):
            gen = frames_to_unit(generated[j, lo : lo + chunk_frames]).to(device)
            n = gen.shape[0]
            y = refiner(
                gen,
                frames_to_unit(restored[j, lo : lo + chunk_frames]).to(device),
                ref_dec.expand(n, -1, -1, -1),
                ref_given.expand(n, -1, -1, -1),
            )
            out[j, lo : lo + n] = tensor_to_frames(y.transpose(0, 1))  # (3, n, H, W) -> (n, H, W, 3)
    return out
