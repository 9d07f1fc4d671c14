"""`DiTConfig`: the frozen, JSON-serialisable description of the diffusion transformer (no torch import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from worldfm.errors import ConfigError
from worldfm.world.config_base import TransformerConfig


@dataclass(frozen=True)
class DiTConfig(TransformerConfig):
    """Everything needed to build a `DiT`; mirrors its constructor.

    The network maps noisy normalised CV latents `(B, latent_channels, T, h, w)` (any T, h, w with h,
    w multiples of `patch_size`) plus a flow time t in [0, 1] and a `Condition` to a velocity of the
    same shape.

    - latent_channels: CV tokenizer latent channels (16 for Cosmos-style CV tokenizers).
    - temporal_factor, spatial_factor: the tokenizer's compression; latent frame j >= 1 covers
      `temporal_factor` video frames, so the actions between them are grouped per latent frame.
    - patch_size: spatial patch (1 or 2); time is never patched (1 latent frame = 1 token row).
    - width, depth, heads, mlp_ratio: transformer size (head dim = width / heads, even, >= 6).
    - adaln_lora_rank: 0 for plain AdaLN, r > 0 for Cosmos' AdaLN-LoRA of rank r.
    - text_dim: width of the text encoder's token states (384 for MiniLM).
    - action_dim: per-step action width A the model takes (0: no action conditioning).
    - action_modulation: with actions, also add a per-latent-frame action embedding to the timestep
      embedding, so every frame gets its own AdaLN shift/scale/gate (as Cosmos' action-conditioned
      Video2World does), on top of the embedding added to the frame's tokens. Ignored when
      action_dim is 0; False in configs written before it existed.
    - qk_norm: RMS-normalise queries and keys per head (stable attention logits, as in Cosmos).
    - rope_theta: 3D RoPE base.
    - sample_frames, sample_size: the latent window trained on (frames, and side h = w); pipelines
      generate windows of at most `sample_frames` latent frames at `sample_size` by default.
    - timestep_scale: t in [0, 1] is embedded as sinusoids of `t * timestep_scale`.
    - flow_prior: where the flow starts at t = 1. "noise": standard normal noise (plain rectified
      flow). "last_frame": the noise is centred on the last given latent frame, repeated over the
      frames to predict (`conditioning.centre_noise`; zero where no frame is given, as in
      Text2World), so the network learns the change from a copy of the last frame, and a future it
      cannot tell from the condition stays near that copy instead of fading (a data-dependent
      coupling, as in stochastic-interpolant forecasters). Training and sampling must agree, so it
      is part of the model's config.
    """

    latent_channels: int = 16
    temporal_factor: int = 4
    spatial_factor: int = 8
    patch_size: int = 2
    width: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    adaln_lora_rank: int = 64
    text_dim: int = 384
    action_dim: int = 0
    action_modulation: bool = False
    qk_norm: bool = True
    rope_theta: float = 10000.0
    sample_frames: int = 5
    sample_size: int = 8
    timestep_scale: float = 1000.0
    flow_prior: str = "noise"
    name: str = field(default="custom", compare=False)

    KIND: ClassVar[str] = "DiT"
    # Fields added after runs were first saved, with the value that means "as before" (left out of
    # run fingerprints at that value, so earlier runs still resume).
    LATER_FIELDS: ClassVar[dict[str, Any]] = {"action_modulation": False, "flow_prior": "noise"}
    FLOW_PRIORS: ClassVar[tuple[str, ...]] = ("noise", "last_frame")

    def __post_init__(self) -> None:
        positive = (
            "latent_channels",
            "temporal_factor",
            "spatial_factor",
            "width",
            "depth",
            "heads",
            "text_dim",
        )
        self._check_ints((*positive, "sample_frames", "sample_size"), 1)
        self._check_ints(("action_dim", "adaln_lora_rank"), 0)
        if self.patch_size not in (1, 2) or isinstance(self.patch_size, bool):
            raise ConfigError(f"patch_size must be 1 or 2, got {self.patch_size!r}")
        self._check_heads()
        if self.sample_size % self.patch_size:
            raise ConfigError(
                f"sample_size {self.sample_size} is not a multiple of patch_size {self.patch_size}"
            )
        self._check_numbers(("mlp_ratio", "rope_theta", "timestep_scale"))
        if self.flow_prior not in self.FLOW_PRIORS:
            raise ConfigError(f"flow_prior must be one of {list(self.FLOW_PRIORS)}, got {self.flow_prior!r}")

    # ----- derived sizes (head_dim, window_frames, resolution: TransformerConfig) -----
    def tokens(self, frames: int | None = None, size: int | None = None) -> int:
        """Tokens of a latent window (default: the training window)."""
        side = (size or self.sample_size) // self.patch_size
        return (frames or self.sample_frames) * side * side
