"""Physical events detected from simulated object trajectories, and captions written from them.

`detect_events` reads per-frame object states and contacts (as recorded by the `objects` scenario)
and finds what happened to each object: it falls or is thrown onto something, bounces, rolls,
slides or tumbles, falls off the table, hits / pushes / knocks over another object, tips over,
comes to rest or stays still. `compose_caption` turns the time-ordered events into one sentence
("A red sphere rolls off the table; a blue box is thrown onto the table and knocks over a green
cylinder."). Both are deterministic functions of their inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from worldfm.errors import ConfigError

# Thresholds (SI units). Speeds below V_REST with spin below W_REST count as at rest.
V_MOVE = 0.05  # m/s: slower than this along a surface is not "moving"
V_REST = 0.03  # m/s
W_REST = 0.6  # rad/s
V_HIT = 0.1  # m/s: relative speed that makes a new contact a collision
MIN_TRAVEL = 0.05  # m: shortest roll/slide worth a clause
MIN_DROP = 0.03  # m: shortest fall that counts as a drop
ROLL_RATIO = 0.6  # spin * radius / speed above this is rolling
KNOCK_SECONDS = 0.6  # a tip this soon after a hit is a knock-over; re-contacts this soon are the same hit

# Order of events that happen in the same frame: a hit comes before the motion it causes.
_PRIORITY = {
    "drop": 0, "throw": 0, "airborne": 0, "bounce": 1, "hit": 2, "push": 2, "knock_over": 2,
    "roll": 3, "slide": 3, "tumble": 3, "tip": 4, "fall_off": 5, "rest": 6, "still": 7,
}  # fmt: skip


@dataclass(frozen=True)
class TrackedObject:
    """What the detector needs to know about an object: caption label, shape and MuJoCo geom size."""

    label: str
    shape: str
    size: tuple[float, ...]

    @property
    def radius(self) -> float:
        """Rolling radius in metres (spheres, cylinders and capsules), 0 for boxes."""
        return 0.0 if self.shape == "box" else float(self.size[0])


@dataclass(frozen=True)
class Event:
    """Something that happens to object `subject` at `frame`.

    kind: one of drop, throw, airborne, bounce, roll, slide, tumble, hit, push, knock_over, tip,
        fall_off, rest, still. `other` is the second object of hits and landings on objects;
        `detail` says where ("table", "floor", "object") or how ("roll", "slide", "fall") or how many.
    """

    frame: int
    kind: str
    subject: int
    other: int | None = None
    detail: str = ""


def detect_events(
    objects: list[TrackedObject],
    pos: np.ndarray,
    quat: np.ndarray,
    linvel: np.ndarray,
    angvel: np.ndarray,
    contacts: np.ndarray,
    surface: str,
    fps: float,
    table_top: float | None = None,
) -> list[Event]:
    """Events of every object, sorted by (frame, kind priority, subject).

    pos (T, N, 3) metres, quat (T, N, 4) (w, x, y, z), linvel (T, N, 3) m/s and angvel (T, N, 3)
    rad/s in the world frame (z up); contacts (T, N, N + 2) bool: object i touched object j
    (columns < N), the table (column N) or the floor (column N + 1) since the previous frame.
    surface: "table" or "floor". table_top: height of the table top in metres (when on a table it
    defaults to the lowest height an object touching the table had, minus its radius).
    """
    t_count, n = pos.shape[:2]
    if contacts.shape != (t_count, n, n + 2):
        raise ConfigError(f"contacts must have shape {(t_count, n, n + 2)}, got {contacts.shape}")
    if len(objects) != n:
        raise ConfigError(f"{len(objects)} objects described for {n} trajectories")
    if surface not in ("table", "floor"):
        raise ConfigError(f"surface must be 'table' or 'floor', got {surface!r}")
    if fps <= 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    contacts = contacts.astype(bool)
    speed = np.linalg.norm(linvel, axis=-1)  # (T, N)
    hspeed = np.linalg.norm(linvel[..., :2], axis=-1)
    spin = np.linalg.norm(angvel, axis=-1)
    axes = _rotation_matrices(quat)  # (T, N, 3, 3): columns are the body axes in world coordinates
    if surface == "table" and table_top is None:
        table_top = _infer_table_top(objects, pos, contacts)

    events: list[Event] = []
    tips: dict[int, int] = {}
    landed_on: dict[int, tuple[int, int]] = {}
    for i, obj in enumerate(objects):
        own = _ObjectTrack(
            i,
            obj,
            pos[:, i],
            speed[:, i],
            hspeed[:, i],
            spin[:, i],
            angvel[:, i],
            axes[:, i],
            contacts[:, i],
            n,
        )
        found = own.detect(surface, table_top)
        events += found
        for e in found:
            if e.kind == "tip":
                tips[i] = e.frame
            if e.kind in ("drop", "throw") and e.other is not None:
                landed_on[i] = (e.other, e.frame)
    window = max(2, round(KNOCK_SECONDS * fps))
    events += _collisions(contacts, speed, tips, landed_on, n, window)
    # A tip right after a hit is that hit's "knock over", not a separate event.
    knocked = {e.other for e in events if e.kind == "knock_over"}
    events = [e for e in events if not (e.kind == "tip" and e.subject in knocked)]
    return sorted(events, key=lambda e: (e.frame, _PRIORITY[e.kind], e.subject))


class _ObjectTrack:
    """Per-object analysis: air phases, motion along a surface, falls off the table, tips, rest."""

    def __init__(
        self,
        index: int,
        obj: TrackedObject,
        pos: np.ndarray,
        speed: np.ndarray,
        hspeed: np.ndarray,
        spin: np.ndarray,
        angvel: np.ndarray,
        axes: np.ndarray,
        contacts: np.ndarray,
        n: int,
    ) -> None:
        self.i, self.obj, self.pos, self.speed, self.hspeed = index, obj, pos, speed, hspeed
        self.spin, self.angvel, self.axes, self.n = spin, angvel, axes, n
        self.on_table, self.on_floor = contacts[:, n], contacts[:, n + 1]
        touching = contacts[:, :n].copy()
        touching[:, index] = False
        self.touching = touching
        self.supported = self.on_table | self.on_floor | touching.any(axis=1)
        self.t_count = len(pos)

    def detect(self, surface: str, table_top: float | None) -> list[Event]:
        events: list[Event] = []
        first_contact = self._initial_flight(events, surface)
        fall = self._fall_off(table_top) if surface == "table" else None
        self._bounces(events, first_contact, fall)
        self._motions(events, fall)
        if fall is not None:
            self._add_fall_off(events, fall)
        self._tip(events, fall)
        self._rest_or_still(events)
        return events

    # Support labels -----------------------------------------------------------------------
    def _where(self, t: int) -> tuple[str, int | None]:
        if self.on_table[t]:
            return "table", None
        if self.on_floor[t]:
            return "floor", None
        others = np.flatnonzero(self.touching[t])
        return ("object", int(others[0])) if len(others) else ("", None)

    # Phases -------------------------------------------------------------------------------
    def _initial_flight(self, events: list[Event], surface: str) -> int:
        """Dropped or thrown objects start in the air; returns the frame of first contact (0 if none)."""
        if self.supported[0]:
            return 0
        hit = np.flatnonzero(self.supported)
        end = int(hit[0]) if len(hit) else self.t_count - 1
        if self.pos[0, 2] - self.pos[end, 2] < MIN_DROP and len(hit):
            return end  # placed a hair above the surface: not a fall
        travel = float(np.linalg.norm(self.pos[end, :2] - self.pos[0, :2]))
        thrown = travel > 0.1 or self.hspeed[0] > 0.4 or self.pos[min(1, end), 2] > self.pos[0, 2] + 0.005
        if not len(hit):
            events.append(Event(0, "airborne", self.i, detail="throw" if thrown else "drop"))
            return self.t_count
        where, other = self._where(end)
        events.append(Event(end, "throw" if thrown else "drop", self.i, other, where))
        return end

    def _fall_off(self, table_top: float | None) -> int | None:
        """Frame the object leaves the table for good, when it ends up below the table top.

        "On the table" includes lying on another object that is on the table.
        """
        if table_top is None:
            return None
        table_frames = np.flatnonzero(self.on_table | (self.supported & (self.pos[:, 2] > table_top)))
        if not len(table_frames):
            return None
        below = (self.pos[:, 2] < table_top - 0.02) | self.on_floor
        last = int(table_frames[-1])
        after = np.flatnonzero(below[last + 1 :])
        if not len(after):
            return None
        return last + 1 if last + 1 < self.t_count else None

    def _bounces(self, events: list[Event], start: int, fall: int | None) -> None:
        """Air phases after the first landing that rise and land back on the same level."""
        t = start + 1
        while t < self.t_count:
            if self.supported[t] or (fall is not None and t >= fall):
                t += 1
                continue
            end = t
            while end < self.t_count and not self.supported[end]:
                end += 1
            rise = float(self.pos[t:end, 2].max() - self.pos[t - 1, 2])
            if end < self.t_count and rise > 0.01:
                events.append(Event(t, "bounce", self.i))
            t = end + 1

    def _motion_kind(self, t: int) -> str:
        """Rolling, tumbling or sliding in frame t, from spin about horizontal axes vs speed."""
        w_h = float(np.linalg.norm(self.angvel[t, :2]))
        v = max(float(self.hspeed[t]), 1e-6)
        if self.obj.shape == "sphere":
            rolls = True
        elif self.obj.shape in ("cylinder", "capsule"):
            rolls = abs(float(self.axes[t, 2, 2])) < 0.4  # axis lying flat
        else:
            rolls = False
        size = self.obj.radius if rolls else float(max(self.obj.size))
        if w_h * size > ROLL_RATIO * v:
            return "roll" if rolls else "tumble"
        return "slide"

    def _motions(self, events: list[Event], fall: int | None) -> None:
        """Runs of frames moving along a support that travel far enough: roll, slide or tumble."""
        end_at = self.t_count if fall is None else fall
        moving = self.supported & (self.hspeed > V_MOVE)
        last_kind = None
        t = 0
        while t < end_at:
            if not moving[t]:
                t += 1
                continue
            end = t
            while end < end_at and (moving[end] or (end + 1 < end_at and moving[end + 1])):
                end += 1
            travel = float(np.linalg.norm(self.pos[end - 1, :2] - self.pos[t, :2]))
            if end - t >= 2 and travel >= MIN_TRAVEL:
                kinds = [self._motion_kind(k) for k in range(t, end) if moving[k]]
                kind = max(("roll", "tumble", "slide"), key=kinds.count)
                where, _ = self._where(t)
                if kind != last_kind:
                    events.append(Event(t, kind, self.i, detail=where if where != "object" else ""))
                last_kind = kind
            t = end + 1

    def _add_fall_off(self, events: list[Event], fall: int) -> None:
        before = range(max(0, fall - 3), fall)
        kinds = [self._motion_kind(k) for k in before if self.hspeed[k] > V_MOVE and self.supported[k]]
        mode = max(("roll", "slide", "tumble"), key=kinds.count) if kinds else "fall"
        # "rolls across the table ... rolls off the table" says the same thing twice.
        if events and events[-1].kind == mode and events[-1].subject == self.i:
            events.pop()
        events.append(Event(fall, "fall_off", self.i, detail=mode))

    def _orientation_class(self, t: int) -> int:
        """Which way up: box -> face pointing up (0..5); cylinder/capsule -> 0 upright, 1 lying, -1 between."""
        up = self.axes[t, 2]  # z components of the body's x, y, z axes
        if self.obj.shape == "box":
            k = int(np.argmax(np.abs(up)))
            return 2 * k + int(up[k] < 0)
        if abs(up[2]) > 0.8:
            return 0
        return 1 if abs(up[2]) < 0.4 else -1

    def _tip(self, events: list[Event], fall: int | None) -> None:
        """A box, cylinder or capsule settled on one side ends up on another while on a support."""
        if self.obj.shape == "sphere":
            return
        settled = np.flatnonzero(self.supported & (self.spin < W_REST) & (self.speed < 0.2))
        if not len(settled):
            return
        t0 = int(settled[0])
        ref = self._orientation_class(t0)
        if ref < 0:
            return
        end_at = self.t_count if fall is None else max(t0, fall - 1)
        for t in range(t0 + 1, end_at):
            cls = self._orientation_class(t)
            if cls not in (ref, -1) and all(
                self._orientation_class(k) not in (ref,) for k in range(t, min(t + 3, end_at))
            ):
                events.append(Event(t, "tip", self.i))
                return

    def _rest_or_still(self, events: list[Event]) -> None:
        displacement = float(np.linalg.norm(self.pos - self.pos[0], axis=-1).max())
        if displacement < 0.01 and float(self.speed.max()) < V_MOVE:
            events.append(Event(self.t_count, "still", self.i))
            return
        at_rest = self.supported & (self.speed < V_REST) & (self.spin < W_REST)
        if at_rest[-1] and self.speed.max() > 0.1:
            t = self.t_count - 1
            while t > 0 and at_rest[t - 1]:
                t -= 1
            if self.t_count - t >= 3 and t > 0:
                where, other = self._where(t)
                events.append(Event(t, "rest", self.i, other, where))


def _collisions(
    contacts: np.ndarray,
    speed: np.ndarray,
    tips: dict[int, int],
    landed_on: dict[int, tuple[int, int]],
    n: int,
    window: int,
) -> list[Event]:
    """New object-object contacts at a relative speed; the faster object is the subject.

    `window` frames: a tip of the hit object this soon after is a knock-over; a new contact of the
    same pair this soon after the last is the same collision.
    """
    events = []
    for i in range(n):
        for j in range(i + 1, n):
            touch = contacts[:, i, j] | contacts[:, j, i]
            for t in np.flatnonzero(touch[1:] & ~touch[:-1]) + 1:
                t = int(t)
                if touch[max(0, t - window) : t].any():
                    continue  # the same contact flickering, or pushing on
                a, b = (i, j) if speed[t - 1, i] >= speed[t - 1, j] else (j, i)
                if abs(speed[t - 1, a] - speed[t - 1, b]) < V_HIT and speed[t - 1, a] < V_HIT:
                    continue
                if b in tips and t - 1 <= tips[b] <= t + window:
                    kind = "knock_over"
                elif landed_on.get(a) == (b, t):
                    continue  # already told as "falls onto" / "is thrown onto"
                elif speed[t - 1, b] < V_REST and speed[t : t + 4, b].max() > 0.15:
                    kind = "push"
                else:
                    kind = "hit"
                events.append(Event(t, kind, a, b))
    # Only the first hit of each target knocks it over.
    seen: set[int] = set()
    out = []
    for e in sorted(events, key=lambda e: (e.frame, e.subject)):
        if e.kind == "knock_over":
            if e.other in seen:
                e = Event(e.frame, "hit", e.subject, e.other)
            seen.add(e.other)
        out.append(e)
    return out


def _rotation_matrices(quat: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3, 3) rotation matrices."""
    q = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def _infer_table_top(objects: list[TrackedObject], pos: np.ndarray, contacts: np.ndarray) -> float | None:
    """Lowest (centre height - smallest half-size) over frames where an object touches the table."""
    n = len(objects)
    tops = [
        float(pos[contacts[:, i, n], i, 2].min()) - min(objects[i].size)
        for i in range(n)
        if contacts[:, i, n].any()
    ]
    return min(tops) if tops else None


# ----------------------------------------------------------------------------------------------
# Captions


def compose_caption(events: list[Event], labels: list[str], surface: str = "table") -> str:
    """One sentence telling the events in time order, naming objects by `labels` ("red sphere").

    Consecutive events of one object share a clause ("a red sphere rolls across the table and
    knocks over a blue box"); clauses are joined with semicolons; objects that never move are
    gathered at the end ("the green cylinder stays still").
    """
    mentioned: set[int] = set()

    def name(k: int) -> str:
        article = "the" if k in mentioned else "an" if labels[k][:1] in "aeiou" else "a"
        mentioned.add(k)
        return f"{article} {labels[k]}"

    ordered = sorted(events, key=lambda e: (e.frame, _PRIORITY[e.kind], e.subject))
    moving = [e for e in ordered if e.kind != "still"]
    still = sorted({e.subject for e in ordered if e.kind == "still"})
    clauses: list[str] = []
    k = 0
    while k < len(moving):
        subject = moving[k].subject
        group = [moving[k]]
        k += 1
        while k < len(moving) and moving[k].subject == subject:
            group.append(moving[k])
            k += 1
        subject_name = name(subject)
        phrases = _phrases(group, name, surface)
        clauses.append(f"{subject_name} {_join(phrases)}")
    if still:
        names = [name(s) for s in still]
        verb = "stays" if len(names) == 1 else "stay"
        clauses.append(f"{_join(names)} {verb} still")
    if not clauses:
        return "Nothing moves."
    text = "; ".join(clauses)
    return text[0].upper() + text[1:] + "."


def _phrases(group: list[Event], name: Callable[[int], str], surface: str) -> list[str]:
    phrases: list[str] = []
    bounces = 0
    for idx, e in enumerate(group):
        if e.kind == "bounce":
            bounces += 1
            if idx + 1 < len(group) and group[idx + 1].kind == "bounce":
                continue
            phrases.append({1: "bounces", 2: "bounces twice"}.get(bounces, f"bounces {bounces} times"))
            bounces = 0
            continue
        phrases.append(_phrase(e, name, surface))
    return phrases


def _phrase(e: Event, name: Callable[[int], str], surface: str) -> str:
    if e.kind in ("drop", "throw"):
        onto = f"onto {name(e.other)}" if e.other is not None else f"onto the {e.detail or surface}"
        if e.kind == "throw":
            return f"is thrown {onto}"
        return "falls to the floor" if e.detail == "floor" and surface == "table" else f"falls {onto}"
    if e.kind == "airborne":
        return "is thrown through the air" if e.detail == "throw" else "falls through the air"
    if e.kind in ("roll", "slide", "tumble"):
        verb = {"roll": "rolls", "slide": "slides", "tumble": "tumbles"}[e.kind]
        where = e.detail or surface
        return f"{verb} across the table" if where == "table" else f"{verb} along the floor"
    if e.kind == "fall_off":
        verb = {"roll": "rolls", "slide": "slides", "tumble": "tumbles"}.get(e.detail, "falls")
        return f"{verb} off the table"
    if e.kind == "hit":
        return f"hits {name(e.other)}"
    if e.kind == "push":
        return f"pushes {name(e.other)}"
    if e.kind == "knock_over":
        return f"knocks over {name(e.other)}"
    if e.kind == "tip":
        return "tips over"
    if e.kind == "rest":
        if e.detail == "floor" and surface == "table":
            return "comes to rest on the floor"
        if e.other is not None:
            return f"comes to rest on {name(e.other)}"
        return "comes to rest"
    raise ConfigError(f"unknown event kind {e.kind!r}")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
