import numpy as np
import pytest

from worldfm.errors import ConfigError
from worldfm.sim.events import Event, TrackedObject, compose_caption, detect_events

FPS = 10.0
TOP = 0.4  # table top height, metres
SPHERE = TrackedObject("red sphere", "sphere", (0.05,))
BOX = TrackedObject("blue box", "box", (0.05, 0.05, 0.1))
CYLINDER = TrackedObject("green cylinder", "cylinder", (0.04, 0.08))
LYING = [np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0]  # 90 degrees about y: local z horizontal


class Tracks:
    """Synthetic trajectories: everything at rest at the origin until a test moves it."""

    def __init__(self, t: int, objects: list[TrackedObject]) -> None:
        n = len(objects)
        self.objects, self.n = objects, n
        self.pos = np.zeros((t, n, 3))
        self.quat = np.tile([1.0, 0, 0, 0], (t, n, 1))
        self.linvel = np.zeros((t, n, 3))
        self.angvel = np.zeros((t, n, 3))
        self.contacts = np.zeros((t, n, n + 2), bool)

    def on_table(self, i: int, frames: slice) -> None:
        self.contacts[frames, i, self.n] = True

    def on_floor(self, i: int, frames: slice) -> None:
        self.contacts[frames, i, self.n + 1] = True

    def touch(self, i: int, j: int, frames: slice) -> None:
        self.contacts[frames, i, j] = self.contacts[frames, j, i] = True

    def detect(self, surface: str = "table") -> list[Event]:
        return detect_events(
            self.objects, self.pos, self.quat, self.linvel, self.angvel, self.contacts, surface, FPS, TOP
        )

    def caption(self, surface: str = "table") -> str:
        return compose_caption(self.detect(surface), [o.label for o in self.objects], surface)


def test_sphere_rolls_off_the_table_and_comes_to_rest_on_the_floor() -> None:
    tr = Tracks(20, [SPHERE])
    for t in range(10):  # rolling at 1 m/s: spin * radius == speed
        tr.pos[t, 0] = [0.1 * t, 0, TOP + 0.05]
        tr.linvel[t, 0] = [1.0, 0, 0]
        tr.angvel[t, 0] = [0, 20.0, 0]
    tr.on_table(0, slice(0, 10))
    for k, t in enumerate(range(10, 14)):  # falling
        tr.pos[t, 0] = [1.0 + 0.1 * k, 0, TOP + 0.05 - 0.1 * (k + 1) ** 2]
        tr.linvel[t, 0] = [1.0, 0, -1.0 * (k + 1)]
    tr.pos[14:, 0] = [1.4, 0, 0.05]
    tr.on_floor(0, slice(14, 20))
    events = tr.detect()
    assert [(e.kind, e.frame) for e in events] == [("fall_off", 10), ("rest", 14)]
    assert tr.caption() == "A red sphere rolls off the table and comes to rest on the floor."


def test_rolling_sphere_knocks_over_a_box() -> None:
    tr = Tracks(16, [SPHERE, BOX])
    tr.on_table(0, slice(None))
    tr.on_table(1, slice(None))
    for t in range(16):
        v = 1.0 if t < 5 else 0.0
        tr.pos[t, 0] = [min(t, 5) * 0.1, 0, TOP + 0.05]
        tr.linvel[t, 0] = [v, 0, 0]
        tr.angvel[t, 0] = [0, v / 0.05, 0]
    tr.pos[:, 1] = [0.6, 0, TOP + 0.1]
    tr.touch(0, 1, slice(5, 7))
    tr.linvel[5:8, 1] = [0.5, 0, 0]
    tr.angvel[5:8, 1] = [0, 5.0, 0]
    tr.quat[7:, 1] = LYING  # the box ends up on its side
    kinds = [(e.kind, e.subject, e.other) for e in tr.detect()]
    assert ("knock_over", 0, 1) in kinds
    assert not any(k == "tip" for k, _, _ in kinds)  # told as the knock-over, not twice
    assert tr.caption() == (
        "A red sphere rolls across the table, knocks over a blue box and comes to rest; the blue box comes to rest."
    )


def test_drop_bounce_and_rest() -> None:
    tr = Tracks(14, [SPHERE])
    z = [0.7, 0.62, 0.54, 0.47, 0.45, 0.47, 0.48, 0.45] + [0.45] * 6
    tr.pos[:, 0, 2] = z
    tr.linvel[:4, 0, 2] = -1.0
    tr.linvel[4:7, 0, 2] = [0.8, 0.3, -0.3]
    tr.on_table(0, slice(4, 5))
    tr.on_table(0, slice(7, None))
    events = tr.detect()
    assert [(e.kind, e.frame) for e in events] == [("drop", 4), ("bounce", 5), ("rest", 7)]
    assert tr.caption() == "A red sphere falls onto the table, bounces and comes to rest."


def test_thrown_object_lands_on_another_object() -> None:
    tr = Tracks(8, [BOX, SPHERE])
    tr.pos[:, 1] = [0.5, 0, TOP + 0.05]
    tr.on_table(1, slice(None))
    for t in range(4):
        tr.pos[t, 0] = [0.1 * t + 0.2, 0, 0.8 - 0.05 * t]
        tr.linvel[t, 0] = [1.0, 0, 0.0]
    tr.pos[4:, 0] = [0.5, 0, TOP + 0.2]
    tr.touch(0, 1, slice(4, None))
    events = tr.detect()
    assert events[0] == Event(4, "throw", 0, 1, "object")
    assert tr.caption().startswith("A blue box is thrown onto a red sphere")


def test_unprovoked_tip_and_still_objects() -> None:
    tr = Tracks(10, [CYLINDER, BOX, SPHERE])
    for i in range(3):
        tr.on_floor(i, slice(None))
        tr.pos[:, i] = [i * 0.3, 0, 0.08]
    tr.quat[5:, 0] = LYING
    tr.angvel[4:6, 0] = [0, 3.0, 0]
    tr.linvel[4:6, 0] = [0.1, 0, -0.1]
    assert tr.caption("floor") == (
        "A green cylinder tips over and comes to rest; a blue box and a red sphere stay still."
    )


def test_sliding_box_is_not_rolling() -> None:
    tr = Tracks(10, [BOX])
    tr.on_floor(0, slice(None))
    for t in range(10):
        v = max(0.0, 1.0 - 0.2 * t)
        tr.linvel[t, 0] = [0, v, 0]
        tr.pos[t, 0] = [0, sum(max(0.0, 1.0 - 0.2 * k) for k in range(t)) / FPS, 0.1]
    assert tr.caption("floor") == "A blue box slides along the floor and comes to rest."


def test_compose_caption_orders_groups_and_counts() -> None:
    labels = ["orange sphere", "white box"]
    events = [
        Event(2, "bounce", 0),
        Event(0, "drop", 0, None, "floor"),
        Event(4, "bounce", 0),
        Event(6, "push", 0, 1),
        Event(7, "slide", 1, detail="floor"),
    ]
    assert (
        compose_caption(events, labels, "floor")
        == "An orange sphere falls onto the floor, bounces twice and pushes a white box; "
        "the white box slides along the floor."
    )
    assert compose_caption([], labels) == "Nothing moves."


def test_detector_is_deterministic_and_checks_shapes() -> None:
    tr = Tracks(6, [SPHERE])
    assert tr.detect() == tr.detect()
    with pytest.raises(ConfigError, match="contacts must have shape"):
        detect_events(tr.objects, tr.pos, tr.quat, tr.linvel, tr.angvel, tr.contacts[:, :, :2], "table", FPS)
    with pytest.raises(ConfigError, match="surface must be"):
        detect_events(tr.objects, tr.pos, tr.quat, tr.linvel, tr.angvel, tr.contacts, "lava", FPS)
    with pytest.raises(ConfigError, match="2 objects described for 1"):
        detect_events([SPHERE, BOX], tr.pos, tr.quat, tr.linvel, tr.angvel, tr.contacts, "table", FPS)
