"""`Condition`: what the diffusion transformer is conditioned on besides the noisy latents and t.

- text: MiniLM token states `(B, L, text_dim)` with `text_mask` `(B, L)` bool. A sample whose mask
  is all False has no text (dropped for classifier-free guidance, or no prompt); the network then
  attends only to its learned null token.
- actions: `(B, F - 1, A)` float, one row per transition between consecutive video frames of the
  window (F = 1 + (T - 1) * temporal_factor video frames for T latent frames), zero-padded to the
  model's action width as the datasets do; `has_actions` `(B,)` bool says which samples carry them
  (False: the model uses its learned "no action" embedding instead).
- latents + frame_mask: Video2World frame conditioning. `frame_mask` `(B, T)` bool marks the latent
  frames given as clean (normalised) latents in `latents` `(B, C, T, h, w)`; those frames are fed
  to the network clean with a mask channel, kept fixed by the samplers, and excluded from the loss.

Any field may be None (absent for the whole batch). Conditioning dropout (`drop`) is how the same
weights learn Text2World, Video2World, action-conditioned prediction and the unconditional
prediction that classifier-free guidance needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from worldfm.errors import ConfigError
from worldfm.world.diffusion.config import DiTConfig


@dataclass
class Condition:
    text: torch.Tensor | None = None
    text_mask: torch.Tensor | None = None
    actions: torch.Tensor | None = None
    has_actions: torch.Tensor | None = None
    latents: torch.Tensor | None = None
    frame_mask: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if (self.text is None) != (self.text_mask is None):
            raise ConfigError("Condition: text and text_mask must be given together")
        if (self.latents is None) != (self.frame_mask is None):
            raise ConfigError("Condition: latents and frame_mask must be given together")
        if self.text is not None and (self.text.ndim != 3 or self.text_mask.shape != self.text.shape[:2]):  # type: ignore[union-attr]
            raise ConfigError(
                f"Condition: text must be (B, L, D) with text_mask (B, L), got {tuple(self.text.shape)} "
                f"and {tuple(self.text_mask.shape)}"  # type: ignore[union-attr]
            )
        if self.actions is not None:
            if self.actions.ndim != 3:
                raise ConfigError(f"Condition: actions must be (B, F-1, A), got {tuple(self.actions.shape)}")
            if self.has_actions is None:
                self.has_actions = torch.ones(
                    self.actions.shape[0], dtype=torch.bool, device=self.actions.device
                )
        if self.frame_mask is not None and self.frame_mask.ndim != 2:
            raise ConfigError(f"Condition: frame_mask must be (B, T), got {tuple(self.frame_mask.shape)}")
        sizes = {t.shape[0] for t in self._tensors().values()}
        if len(sizes) > 1:
            raise ConfigError(f"Condition: fields disagree on the batch size ({sorted(sizes)})")

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    @property
    def batch_size(self) -> int | None:
        tensors = self._tensors()
        return next(iter(tensors.values())).shape[0] if tensors else None

    def check(self, x: torch.Tensor, temporal_factor: int, action_dim: int, text_dim: int) -> None:
        """Raise ConfigError unless every field fits latents `x` `(B, C, T, h, w)` and the model's sizes."""
        b, _, t = x.shape[:3]
        if self.batch_size not in (None, b):
            raise ConfigError(f"Condition has batch size {self.batch_size}, latents have {b}")
        if self.text is not None and self.text.shape[-1] != text_dim:
            raise ConfigError(f"text states have width {self.text.shape[-1]}, the model takes {text_dim}")
        if self.actions is not None:
            steps = (t - 1) * temporal_factor
            if action_dim == 0:
                raise ConfigError(
                    "this model has no action conditioning (action_dim 0) but actions were given"
                )
            if self.actions.shape[1:] != (steps, action_dim):
                raise ConfigError(
                    f"actions must be (B, {steps}, {action_dim}) for {t} latent frames "
                    f"({1 + steps} video frames), got {tuple(self.actions.shape)}"
                )
        if self.latents is not None:
            if self.latents.shape != x.shape:
                raise ConfigError(
                    f"condition latents {tuple(self.latents.shape)} differ from x {tuple(x.shape)}"
                )
            if self.frame_mask.shape != (b, t):  # type: ignore[union-attr]
                raise ConfigError(f"frame_mask must be ({b}, {t}), got {tuple(self.frame_mask.shape)}")  # type: ignore[union-attr]

    # ----- batch manipulation -----
    def map(self, fn: object) -> Condition:
        """A copy with `fn` applied to every tensor field."""
        return Condition(**{k: fn(v) for k, v in self._tensors().items()})  # type: ignore[operator]

    def to(self, device: torch.device | str) -> Condition:
        return self.map(lambda v: v.to(device))

    def repeat_interleave(self, k: int) -> Condition:
        """Each sample repeated k times in place (sample i -> rows i*k .. i*k + k - 1)."""
        return self.map(lambda v: v.repeat_interleave(k, dim=0))

    @staticmethod
    def cat(conditions: Sequence[Condition]) -> Condition:
        """Concatenate along the batch; every condition must have the same fields (text is padded)."""
        names = [sorted(c._tensors()) for c in conditions]
        if any(n != names[0] for n in names):
            raise ConfigError(f"Condition.cat: conditions have different fields {names}")
        out: dict[str, torch.Tensor] = {}
        for name in names[0]:
            parts = [getattr(c, name) for c in conditions]
            if name in ("text", "text_mask"):
                length = max(p.shape[1] for p in parts)
                parts = [
                    torch.nn.functional.pad(
                        p, (0, 0, 0, length - p.shape[1]) if p.ndim == 3 else (0, length - p.shape[1])
                    )
                    for p in parts
                ]
            out[name] = torch.cat(parts)
        return Condition(**out)

    def drop(
        self, keep_text: torch.Tensor | None = None, keep_actions: torch.Tensor | None = None
    ) -> Condition:
        """A copy where samples with `keep_text[i]` False lose their text (mask all False) and samples
        with `keep_actions[i]` False lose their actions (`has_actions` False, actions zeroed)."""
        fields = self._tensors()
        if keep_text is not None and self.text is not None:
            fields["text_mask"] = self.text_mask & keep_text[:, None]  # type: ignore[operator]
            fields["text"] = self.text * fields["text_mask"][..., None]
        if keep_actions is not None and self.actions is not None:
            fields["has_actions"] = self.has_actions & keep_actions  # type: ignore[operator]
            fields["actions"] = self.actions * fields["has_actions"][:, None, None]
        return Condition(**fields)

    def with_shuffled_actions(self) -> tuple[Condition, torch.Tensor]:
        """The action-use control: (a copy where each sample with actions takes the actions of the
        next sample with actions, cyclically; `(B,)` bool of the samples whose actions changed).
        Samples without actions, and a lone sample with them, keep theirs."""
        b = self.batch_size or 0
        if self.actions is None:
            return self, torch.zeros(b, dtype=torch.bool)
        fields = self._tensors()
        idx = torch.nonzero(self.has_actions).flatten()  # type: ignore[arg-type]
        changed = torch.zeros(b, dtype=torch.bool, device=self.actions.device)
        if len(idx) > 1:
            actions = self.actions.clone()
            actions[idx] = self.actions[idx.roll(-1)]
            fields["actions"] = actions
            changed[idx] = (actions[idx] != self.actions[idx]).flatten(1).any(1)
        return Condition(**fields), changed

    def unconditional(self) -> Condition:
        """The classifier-free guidance counterpart: no text and no actions, the same frame conditioning."""
        b = self.batch_size
        if b is None:
            return Condition()
        device = next(iter(self._tensors().values())).device
        none = torch.zeros(b, dtype=torch.bool, device=device)
        return self.drop(keep_text=none, keep_actions=none)

    def differs_from_unconditional(self) -> bool:
        """Whether guidance has anything to act on (some text or some actions present)."""
        has_text = self.text_mask is not None and bool(self.text_mask.any())
        has_act = self.actions is not None and bool(self.has_actions.any())  # type: ignore[union-attr]
        return has_text or has_act


def frame_mask_from_counts(
    counts: torch.Tensor | Sequence[int], frames: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """`(B,)` numbers of conditioning latent frames -> `(B, frames)` bool mask of the first ones."""
    counts = torch.as_tensor(counts, device=device)
    if counts.ndim != 1 or bool((counts < 0).any()) or bool((counts > frames).any()):
        raise ConfigError(
            f"conditioning frame counts must be a (B,) tensor in [0, {frames}], got {counts.tolist()}"
        )
    return torch.arange(frames, device=device)[None, :] < counts[:, None]


def apply_frame_mask(x: torch.Tensor, cond: Condition | None) -> torch.Tensor:
    """Latents `(B, C, T, h, w)` with the conditioned frames replaced by the clean condition latents."""
    if cond is None or cond.frame_mask is None:
        return x
    m = cond.frame_mask[:, None, :, None, None]
    return torch.where(m, cond.latents.to(x.dtype), x)  # type: ignore[union-attr]


def last_frame_prior(like: torch.Tensor, cond: Condition | None) -> torch.Tensor:
    """The "last_frame" flow prior's mean, shaped like the latents `like` `(B, C, T, h, w)`: every
    frame holds the clean latent of the last given frame at or before it (given frames hold their
    own), and zero where no frame is given before it (Text2World)."""
    if cond is None or cond.frame_mask is None:
        return torch.zeros_like(like)
    mask = cond.frame_mask.to(like.device)
    t = mask.shape[1]
    if like.ndim != 5 or like.shape[2] != t:
        raise ConfigError(f"latents {tuple(like.shape)} do not match the frame mask {tuple(mask.shape)}")
    frame = torch.arange(t, device=like.device)[None, :].expand_as(mask)
    # The index of the latest given frame at or before each frame (-1: none yet).
    latest = torch.where(mask, frame, torch.full_like(frame, -1)).cummax(dim=1).values
    index = latest.clamp_min(0)[:, None, :, None, None].expand(-1, like.shape[1], -1, *like.shape[3:])
    source = cond.latents.to(device=like.device, dtype=like.dtype)  # type: ignore[union-attr]
    return source.gather(2, index) * (latest >= 0)[:, None, :, None, None].to(like.dtype)


def centre_noise(noise: torch.Tensor, cond: Condition | None, flow_prior: str) -> torch.Tensor:
    """Where the flow starts at t = 1 for a model trained with `flow_prior` (`DiTConfig.flow_prior`):
    the noise itself ("noise"), or the noise centred on `last_frame_prior` ("last_frame")."""
    if flow_prior == "noise":
        return noise
    if flow_prior == "last_frame":
        return noise + last_frame_prior(noise, cond)
    raise ConfigError(f"unknown flow prior {flow_prior!r}; expected one of {list(DiTConfig.FLOW_PRIORS)}")


def latent_frames_for(video_frames: int, temporal_factor: int, what: str = "frames") -> int:
    """Video frames `1 + m * temporal_factor` -> latent frames `1 + m` (ConfigError for other counts)."""
    if (
        isinstance(video_frames, bool)
        or not isinstance(video_frames, int)
        or video_frames < 1
        or (video_frames - 1) % temporal_factor
    ):
        raise ConfigError(
            f"{what} must be 1 + a multiple of the tokenizer's temporal factor {temporal_factor} "
            f"(1, {1 + temporal_factor}, {1 + 2 * temporal_factor}, ...), got {video_frames!r}"
        )
    return 1 + (video_frames - 1) // temporal_factor


def conditioning_dropout(
    cond: Condition, text_drop: float, action_drop: float, generator: torch.Generator | None = None
) -> Condition:
    """Drop text and actions independently per sample with the given probabilities (for CFG training).

    Draws from `generator` (CPU) or, when None, from the global torch RNG (the trainer seeds and
    restores it per rank)."""
    for name, p in (("text_drop", text_drop), ("action_drop", action_drop)):
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{name} must be in [0, 1], got {p!r}")
    b = cond.batch_size
    if b is None:
        return cond
    device = next(iter(cond._tensors().values())).device
    u = torch.rand(2, b, generator=generator).to(device)
    return cond.drop(keep_text=u[0] >= text_drop, keep_actions=u[1] >= action_drop)
