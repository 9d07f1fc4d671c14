"""The `Episode` record: one simulated clip with everything a world model may condition on.

Arrays are numpy at this edge (DESIGN.md: `T H W C` uint8 for video). Per-step arrays share the
leading time axis `T` (number of frames); actions have `T - 1` rows because action `t` is applied
between frame `t` and frame `t + 1`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from worldfm.errors import ConfigError

EPISODE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Camera:
    """A pinhole camera.

    intrinsics: (3, 3) float64 K matrix in pixels, `[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`.
    extrinsics: (T, 4, 4) float64 camera-to-world transforms per frame (OpenCV convention:
        +x right, +y down, +z forward). A static camera repeats the same matrix.
    """

    intrinsics: np.ndarray
    extrinsics: np.ndarray

    def __post_init__(self) -> None:
        if self.intrinsics.shape != (3, 3):
            raise ConfigError(f"camera intrinsics must be (3, 3), got {self.intrinsics.shape}")
        if self.extrinsics.ndim != 3 or self.extrinsics.shape[1:] != (4, 4):
            raise ConfigError(f"camera extrinsics must be (T, 4, 4), got {self.extrinsics.shape}")

    def to_json(self) -> dict[str, Any]:
        return {"intrinsics": self.intrinsics.tolist(), "extrinsics": self.extrinsics.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Camera:
        return cls(np.asarray(data["intrinsics"], np.float64), np.asarray(data["extrinsics"], np.float64))


@dataclass
class Episode:
    """One simulated episode.

    frames: (T, H, W, 3) uint8 RGB.
    depth: (T, H, W) float32 metric depth along the camera axis, metres (far plane where empty).
    segmentation: (T, H, W) int32 instance ids; 0 is background, ids index `instances`.
    states: name -> (T, ...) float32 low-dimensional state (object poses, joint angles, ego pose).
    actions: (T - 1, A) float32 actions, or None for scenarios without an agent.
    action_names: A names, one per action dimension (empty when `actions` is None).
    camera: intrinsics and per-frame extrinsics.
    caption: text describing what happens, derived from the simulated trajectories.
    instances: one dict per instance id >= 1: {"id", "name", "category", "color"?, ...}.
    scenario, seed, params: what generated it; same scenario + seed + params gives the same episode.
    fps: frames per second of the recorded video.
    """

    frames: np.ndarray
    depth: np.ndarray
    segmentation: np.ndarray
    states: dict[str, np.ndarray]
    actions: np.ndarray | None
    action_names: list[str]
    camera: Camera
    caption: str
    instances: list[dict[str, Any]]
    scenario: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    fps: float = 10.0

    def __post_init__(self) -> None:
        self.validate()

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def validate(self) -> None:
        """Raise `ConfigError` naming the first array whose shape or dtype is inconsistent."""
        f = self.frames
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ConfigError(f"frames must be (T, H, W, 3) uint8, got {f.shape} {f.dtype}")
        t, h, w = f.shape[:3]
        if t < 1:
            raise ConfigError("an episode needs at least one frame")
        if self.depth.shape != (t, h, w):
            raise ConfigError(f"depth must be {(t, h, w)}, got {self.depth.shape}")
        if self.segmentation.shape != (t, h, w):
            raise ConfigError(f"segmentation must be {(t, h, w)}, got {self.segmentation.shape}")
        for name, value in self.states.items():
            if value.shape[0] != t:
                raise ConfigError(f"state {name!r} must have {t} rows (one per frame), got {value.shape}")
        if self.actions is not None:
            if self.actions.ndim != 2 or self.actions.shape[0] != t - 1:
                raise ConfigError(f"actions must be ({t - 1}, A), got {self.actions.shape}")
            if len(self.action_names) != self.actions.shape[1]:
                raise ConfigError(
                    f"{len(self.action_names)} action names for {self.actions.shape[1]} action dimensions"
                )
        if self.camera.extrinsics.shape[0] != t:
            raise ConfigError(
                f"camera extrinsics must have {t} frames, got {self.camera.extrinsics.shape[0]}"
            )
        if self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")

    def metadata(self) -> dict[str, Any]:
        """Everything except the pixel arrays, as a JSON-serialisable dict (the shard's `.json`)."""
        return {
            "format_version": EPISODE_FORMAT_VERSION,
            "scenario": self.scenario,
            "seed": int(self.seed),
            "params": _jsonable(self.params),
            "caption": self.caption,
            "fps": float(self.fps),
            "num_frames": self.num_frames,
            "height": self.size[0],
            "width": self.size[1],
            "instances": _jsonable(self.instances),
            "states": {k: np.asarray(v, np.float32).tolist() for k, v in self.states.items()},
            "actions": None if self.actions is None else np.asarray(self.actions, np.float32).tolist(),
            "action_names": list(self.action_names),
            "camera": self.camera.to_json(),
        }

    @classmethod
    def from_parts(
        cls, frames: np.ndarray, depth: np.ndarray, segmentation: np.ndarray, meta: dict[str, Any]
    ) -> Episode:
        """Rebuild an episode from its arrays and the dict that `metadata()` produced."""
        actions = meta.get("actions")
        return cls(
            frames=frames,
            depth=depth.astype(np.float32),
            segmentation=segmentation.astype(np.int32),
            states={k: np.asarray(v, np.float32) for k, v in meta.get("states", {}).items()},
            actions=None if actions is None else np.asarray(actions, np.float32).reshape(len(actions), -1),
            action_names=list(meta.get("action_names", [])),
            camera=Camera.from_json(meta["camera"]),
            caption=meta.get("caption", ""),
            instances=list(meta.get("instances", [])),
            scenario=meta["scenario"],
            seed=int(meta["seed"]),
            params=dict(meta.get("params", {})),
            fps=float(meta.get("fps", 10.0)),
        )


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays inside nested containers to plain Python for json.dumps."""
    return json.loads(json.dumps(value, default=_default))


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
