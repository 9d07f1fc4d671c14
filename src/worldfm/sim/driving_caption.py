"""Captions for `driving` episodes, measured from the recorded trajectories (not from the plan).

Everything said is read off the states: lane changes from the ego's lane index, passes and being
passed from the sign changes of relative longitudinal positions, following (or braking behind a
slower vehicle) from the nearest vehicle ahead in the ego's lane, speed changes from the phases of
the ego's speed profile, and traffic density from the number of vehicles near the ego.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from worldfm.sim.driving_traffic import VehicleSpec

LANE_NAMES = {
    1: ["only lane"],
    2: ["left lane", "right lane"],
    3: ["left lane", "middle lane", "right lane"],
    4: ["leftmost lane", "second lane from the left", "second lane from the right", "rightmost lane"],
}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
SPEED_CHANGE = 2.5  # m/s: a smaller rise or fall of the ego's speed is not worth a clause
HARD_BRAKE = -3.5  # m/s^2 over 1 s: stronger deceleration is "braking hard"
NEAR_BEHIND, NEAR_AHEAD = 50.0, 150.0  # m window for the traffic density


@dataclass
class DrivingSummary:
    """What the ego did, measured from the trajectory.

    lane_changes: (frame, from lane, to lane). passed: (frame, vehicle index, side, was in the
    ego's lane ahead of it) for vehicles the ego passed; passed_by: (frame, vehicle index, side)
    for vehicles that passed the ego; side is "left" or "right" of the ego. alongside: (vehicle
    index, side) for a vehicle that started ahead and is level with the ego at the end. lead:
    (vehicle index, mean bumper gap m, its mean speed m/s) when one vehicle stayed ahead in the
    ego's lane for most of the episode. Speeds in m/s; min_accel is the strongest 1-second mean
    deceleration (m/s^2, negative); speed_phases: (first frame, last frame, speed there, speed
    there, strongest 1-second deceleration within) for each rise or fall of the ego's speed by more
    than `SPEED_CHANGE`, in time order (empty: steady speed); density in vehicles per lane per
    100 m around the ego.
    """

    lane_changes: list[tuple[int, int, int]] = field(default_factory=list)
    passed: list[tuple[int, int, str, bool]] = field(default_factory=list)
    alongside: tuple[int, str] | None = None
    passed_by: list[tuple[int, int, str]] = field(default_factory=list)
    lead: tuple[int, float, float] | None = None
    start_speed: float = 0.0
    end_speed: float = 0.0
    min_accel: float = 0.0
    speed_phases: list[tuple[int, int, float, float, float]] = field(default_factory=list)
    density: float = 0.0
    crashed_frame: int | None = None


def summarize(
    ego: np.ndarray, others: np.ndarray, specs: list[VehicleSpec], lanes: int, fps: float, crashed: np.ndarray
) -> DrivingSummary:
    """Measure the manoeuvres.

    ego: (T, 5) world x, y, heading, speed, lane; others: (T, N, 5) the same per traffic vehicle;
    specs: (1 + N) vehicle specs, ego first; crashed: (T,) bool ego collision flags.
    """
    t_len = ego.shape[0]
    s = DrivingSummary(start_speed=float(ego[0, 3]), end_speed=float(ego[-1, 3]))
    lane = ego[:, 4].astype(int)
    s.lane_changes = [(t, int(lane[t - 1]), int(lane[t])) for t in range(1, t_len) if lane[t] != lane[t - 1]]
    speed = ego[:, 3]
    if t_len > 1:
        k = int(np.clip(round(fps), 1, t_len - 1))  # 1 s window: a noisy single step is not braking
        accel = (speed[k:] - speed[:-k]) * fps / k  # (T - k,), window starting at each frame
        s.min_accel = float(accel.min())
        pivots = speed_pivots(speed, SPEED_CHANGE)
        tol = 0.1 * SPEED_CHANGE
        for p, q in itertools.pairwise(pivots):
            # Trim plateaus: the phase runs from where the speed leaves its start value to where
            # it reaches its end value.
            a = p + int(np.flatnonzero(np.abs(speed[p : q + 1] - speed[p]) > tol)[0]) - 1
            b = p + int(np.flatnonzero(np.abs(speed[p : q + 1] - speed[q]) <= tol)[0])
            # A phase starting within the last second has no full window of its own: take the last.
            lo = min(a, len(accel) - 1)
            window = accel[lo : max(lo + 1, min(b - k + 1, len(accel)))]
            s.speed_phases.append((a, b, float(speed[a]), float(speed[b]), float(window.min())))
    if crashed.any():
        s.crashed_frame = int(np.argmax(crashed))
    if others.shape[1] == 0:
        return s
    rel = others[:, :, 0] - ego[:, None, 0]  # (T, N) longitudinal offsets, + ahead
    half = 0.5 * (specs[0].length + np.array([sp.length for sp in specs[1:]]))  # (N,)
    for j in range(others.shape[1]):
        r = rel[:, j]
        cross = np.flatnonzero(np.sign(r[1:]) != np.sign(r[:-1]))
        if len(cross) == 0:
            continue
        t = int(cross[-1]) + 1
        side = "left" if others[t, j, 1] > ego[t, 1] else "right"
        # Count only clear passes: fully ahead before and fully behind after (or the reverse).
        if r[:t].max() > half[j] and r[t:].min() < -half[j] and r[-1] < 0:
            same_lane_ahead = (np.abs(others[:t, j, 1] - ego[:t, 1]) < 2.0) & (r[:t] > 0)
            s.passed.append((t, j, side, bool(same_lane_ahead.any())))
        elif r[:t].min() < -half[j] and r[t:].max() > half[j] and r[-1] > 0:
            s.passed_by.append((t, j, side))
    # A vehicle that started clearly ahead and is level with the ego in a neighbouring lane at the
    # end: the ego is in the middle of passing it.
    lateral = np.abs(others[-1, :, 1] - ego[-1, 1])
    level = (np.abs(rel[-1]) < half + 4.0) & (rel[0] > half + 5.0) & (lateral > 2.0) & (lateral < 6.0)
    level[[p[1] for p in s.passed]] = False
    if level.any():
        j = int(np.flatnonzero(level)[np.argmin(np.abs(rel[-1][level]))])
        s.alongside = (j, "left" if others[-1, j, 1] > ego[-1, 1] else "right")
    same_lane = np.abs(others[:, :, 1] - ego[:, None, 1]) < 2.0
    gaps = np.where(same_lane & (rel > 0), rel - half, np.inf)  # (T, N) bumper gaps ahead
    lead = np.argmin(gaps, axis=1)
    has_lead = np.isfinite(gaps[np.arange(t_len), lead]) & (gaps[np.arange(t_len), lead] < 60.0)
    if has_lead.mean() > 0.6:
        j = int(np.bincount(lead[has_lead]).argmax())
        frames = has_lead & (lead == j)
        if frames.mean() > 0.6:
            s.lead = (j, float(gaps[frames, j].mean()), float(others[frames, j, 3].mean()))
    near = (rel > -NEAR_BEHIND) & (rel < NEAR_AHEAD)
    s.density = float(near.sum(axis=1).mean() / lanes * 100.0 / (NEAR_BEHIND + NEAR_AHEAD))
    return s


def speed_pivots(speed: np.ndarray, threshold: float) -> list[int]:
    """Frames where the speed profile turns, keeping only rises and falls larger than `threshold`.

    A zig-zag filter: returns [start of the first significant change, each turning point, end of
    the last significant change] (ascending frame indices; on a plateau, its last frame), or []
    for a profile that never moves by more than `threshold` in one direction. speed: (T,) m/s.
    """
    lo = hi = 0
    trend, ext, pivots = 0, 0, []
    for t in range(1, len(speed)):
        if trend == 0:
            lo = t if speed[t] < speed[lo] else lo
            hi = t if speed[t] > speed[hi] else hi
            if speed[hi] - speed[lo] > threshold:
                trend = 1 if hi > lo else -1
                pivots, ext = [min(lo, hi)], max(lo, hi)
        elif (speed[t] - speed[ext]) * trend >= 0:
            ext = t  # the current rise or fall goes on
        elif abs(speed[ext] - speed[t]) > threshold:
            pivots.append(ext)
            trend, ext = -trend, t
    return [*pivots, ext] if trend else []


def density_label(per_100m: float) -> str:
    """Light / moderate / heavy traffic from vehicles per lane per 100 m."""
    if per_100m < 0.05:
        return "empty"
    return "light" if per_100m < 0.55 else "moderate" if per_100m < 1.1 else "heavy"


def caption(summary: DrivingSummary, specs: list[VehicleSpec], lanes: int, start_lane: int, view: str) -> str:
    """One or a few sentences about the episode, e.g. "Chase-camera view of a white car in the right
    lane of a three-lane highway in moderate traffic. The white car changes to the middle lane and
    overtakes a slower red truck on the left, speeding up from 65 to 95 km/h."
    """
    ego = specs[0]
    names = LANE_NAMES.get(lanes, [f"lane {k + 1} from the left" for k in range(lanes)])
    road = f"{NUMBER_WORDS.get(lanes, str(lanes))}-lane highway"
    label = density_label(summary.density)
    traffic = "with no other traffic nearby" if label == "empty" else f"in {label} traffic"
    intro = "Chase-camera view of" if view == "chase" else "Dash-camera view from"
    text = [f"{intro} a {ego.color} car in the {names[start_lane]} of a {road} {traffic}."]

    events: list[tuple[int, str]] = []
    for t, a, b in summary.lane_changes:
        events.append((t, f"changes to the {names[b]}" if abs(b - a) == 1 else f"moves into the {names[b]}"))
    for t, j, side, was_ahead_in_lane in summary.passed[:2]:
        # Whatever the ego passes was slower than it over the pass, by construction.
        verb = "overtakes" if was_ahead_in_lane else "passes"
        # `side` is where the other vehicle is; the ego passes it on the other side.
        on = "left" if side == "right" else "right"
        events.append((t, f"{verb} a slower {_vehicle(specs[j + 1])} on the {on}"))
    if len(summary.passed) > 2:
        extra = len(summary.passed) - 2
        events.append(
            (summary.passed[-1][0], f"passes {_number(extra)} more vehicle{'s' if extra > 1 else ''}")
        )
    if summary.alongside is not None:
        j, side = summary.alongside
        # Measured at the last frame, so it sorts after every other event.
        events.append((1 << 30, f"draws level with a slower {_vehicle(specs[j + 1])} on its {side}"))
    events.sort(key=lambda e: e[0])
    clauses = [e[1] for e in events]
    phases = list(summary.speed_phases)
    speed = _speed_clause(phases, summary.end_speed)
    if not summary.lane_changes:
        if summary.lead is not None:
            j, gap, lead_speed = summary.lead
            v = specs[j + 1]
            first = phases[0] if phases else None
            if first is not None and first[3] < first[2] and lead_speed < first[2] - SPEED_CHANGE:
                # Slowing down for a slower vehicle ahead: say so, and why.
                verb = "brakes hard" if first[4] < HARD_BRAKE else "slows down"
                clauses.insert(0, f"{verb} behind a slower {_vehicle(v)} in its lane")
                speed = _speed_clause(phases, summary.end_speed, first_verb="dropping")
            else:
                clauses.insert(
                    0, f"stays in its lane behind {_a(v.color)} {_vehicle(v)} about {_round5(gap)} m ahead"
                )
        else:
            clauses.insert(0, "stays in its lane")
    sentence = f"The {ego.color} car " + _join(clauses)
    text.append(f"{sentence}, {speed}.")
    for side in ("left", "right"):
        by = [_vehicle(specs[j + 1]) for _, j, sd in summary.passed_by if sd == side]
        if by:
            groups = list(dict.fromkeys(by))  # distinct labels, in order of passing
            names = [_count(label, by.count(label)) for label in groups[:2]]
            rest = sum(by.count(label) for label in groups[2:])
            if rest:
                names.append(f"{_number(rest)} more vehicle{'s' if rest > 1 else ''}")
            who = _join_and(names)
            verb = "overtakes" if len(by) == 1 else "overtake"
            text.append(f"{who[0].upper()}{who[1:]} {verb} it on the {side}.")
    if summary.crashed_frame is not None:
        text.append("The car collides with another vehicle.")
    return " ".join(text)


def _speed_clause(
    phases: list[tuple[int, int, float, float, float]], end_speed: float, first_verb: str | None = None
) -> str:
    """'speeding up from 60 to 95 km/h', 'braking hard from 100 to 40 km/h, then speeding up to
    70 km/h', or 'keeping a steady speed of about 90 km/h'; `first_verb` replaces the first verb."""
    if not phases:
        return f"keeping a steady speed of about {_kmh(end_speed)} km/h"
    parts = []
    for k, (_, _, a, b, decel) in enumerate(phases):
        verb = "speeding up" if b > a else "braking hard" if decel < HARD_BRAKE else "slowing down"
        if k == 0 and first_verb is not None:
            verb = first_verb
        parts.append(f"{verb} from {_kmh(a)} to {_kmh(b)} km/h" if k == 0 else f"{verb} to {_kmh(b)} km/h")
    return ", then ".join(parts)


def _kmh(speed: float) -> int:
    return _round5(speed * 3.6)


def _round5(x: float) -> int:
    return int(5 * round(x / 5))


def _vehicle(spec: VehicleSpec) -> str:
    return f"{spec.color} {spec.kind}"


def _number(n: int) -> str:
    return NUMBER_WORDS.get(n, str(n))


def _count(label: str, n: int) -> str:
    """'a red truck', 'two red trucks'."""
    return f"{_a(label)} {label}" if n == 1 else f"{_number(n)} {label}s"


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _join_and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", then ".join(parts[:-1]) + " and " + parts[-1]
