"""Scripted ego driver for the `driving` scenario: manoeuvres turned into acceleration and steering.

The driver sees the traffic snapshot in the world frame (x along the road, y to the left, lane k
centred on y = -4 k; see `driving_traffic`) and returns one normalised action per frame:
acceleration in [-1, 1] (times `ACCEL_MAX` m/s^2) and steering in [-1, 1] (times `STEER_MAX` rad of
front-wheel angle, positive to the left). Longitudinal control is IDM towards a desired speed
behind the nearest vehicle in the ego's corridor; lateral control tracks the target lane's centre
with a heading loop inverted through the kinematic bicycle model. Ornstein-Uhlenbeck noise on both
channels and a slow in-lane wander make the recorded actions cover more of the action space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldfm.sim.driving_traffic import ACCEL_MAX, LANE_WIDTH, STEER_MAX, Snapshot

# IDM parameters of the ego driver.
IDM_ACCEL = 2.5  # m/s^2, maximum comfortable acceleration
IDM_DECEL = 3.0  # m/s^2, comfortable deceleration in the interaction term
IDM_JAM_GAP = 4.0  # m, bumper-to-bumper gap at standstill
# Heading loop time constant (s); the lateral time constant and speed cap are per plan.
TAU_HEADING = 0.45
LANE_CHANGE_COOLDOWN = 3.0  # s between two lane changes
SETTLED = 0.6  # m from the target lane's centre at which a lane change counts as done
MERGE_HORIZON = 1.5  # s ahead that other vehicles' lateral motion is extrapolated for gap checks
RETRY_AFTER = 1.0  # s before an aborted lane change is tried again


@dataclass
class DriverPlan:
    """What the ego driver intends.

    events: (time s, kind, value), kind "speed" (value: new desired speed m/s), "lane_left" or
        "lane_right" (value unused; waits until the target lane has a safe gap).
    overtake: change lane on its own when a slower vehicle blocks the lane.
    return_after_overtake: move back to the original lane once the overtaken vehicle is behind.
    max_brake: strongest deceleration (m/s^2) used to reach a lower desired speed on a free road.
    time_gap: IDM desired time headway (s).
    noise: scale of the action noise (1 = default).
    lateral_time: time constant (s) of closing the gap to the target lane centre; with
        max_lateral_speed (m/s) it sets how brisk lane changes are (and how hard they steer).
    """

    manoeuvre: str
    desired_speed: float
    events: list[tuple[float, str, float]] = field(default_factory=list)
    overtake: bool = False
    return_after_overtake: bool = False
    max_brake: float = 3.0
    time_gap: float = 1.3
    noise: float = 1.0
    lateral_time: float = 1.0
    max_lateral_speed: float = 2.0


class EgoDriver:
    """Stateful policy: `act(snapshot, t, dt)` -> (2,) float32 [acceleration, steering] in [-1, 1].

    lengths, widths: (1 + N,) vehicle sizes in metres, ego first, in snapshot order.
    """

    def __init__(
        self,
        plan: DriverPlan,
        lanes: int,
        lengths: np.ndarray,
        widths: np.ndarray,
        rng: np.random.Generator,
        start_lane: int,
    ) -> None:
        self.plan, self.lanes, self.rng = plan, lanes, rng
        self.lengths, self.widths = np.asarray(lengths, np.float64), np.asarray(widths, np.float64)
        self.desired = plan.desired_speed
        self.events = sorted(plan.events)
        self.target_lane = start_lane
        self.pending: int | None = None  # requested lane, waiting for a gap
        self.last_change = -np.inf
        self.retry_at = -np.inf  # an aborted lane change is retried from this time on
        self.overtaking: tuple[int, int] | None = None  # (vehicle index, lane to return to)
        self.noise = np.zeros(2)
        self.wander = 0.0

    def act(self, snap: Snapshot, t: float, dt: float) -> np.ndarray:
        _, y, heading, v, lane = snap.ego
        lane = int(lane)
        self._handle_events(t)
        self._decide_overtake(snap, t, lane)
        if self.target_lane != lane and not self._gap_is_safe(snap, self.target_lane):
            # Someone moved into the gap before we crossed the line: go back, retry in a while.
            self.pending, self.target_lane, self.retry_at = self.target_lane, lane, t + RETRY_AFTER
        if (
            self.pending is not None
            and self.pending != self.target_lane
            and t >= self.retry_at
            and self._gap_is_safe(snap, self.pending)
        ):
            self.target_lane, self.pending, self.last_change = self.pending, None, t
        elif self.pending == self.target_lane:
            self.pending = None

        accel = self._longitudinal(snap)
        steer = self._lateral(y, heading, v)
        # OU noise in normalised units; stronger on acceleration than on steering.
        sigma = np.array([0.12, 0.05]) * self.plan.noise
        self.noise += -0.3 * self.noise + sigma * self.rng.standard_normal(2)
        action = np.array([accel / ACCEL_MAX, steer / STEER_MAX]) + self.noise
        action = np.clip(action, -1.0, 1.0)
        # Never reverse: brake at most to standstill within this frame.
        action[0] = max(action[0], -v / (dt * ACCEL_MAX))
        return action.astype(np.float32)

    def _handle_events(self, t: float) -> None:
        while self.events and self.events[0][0] <= t:
            _, kind, value = self.events.pop(0)
            if kind == "speed":
                self.desired = float(value)
            elif kind in ("lane_left", "lane_right"):
                new = self.target_lane + (-1 if kind == "lane_left" else 1)
                if 0 <= new < self.lanes:
                    self.pending = new
            else:
                raise ValueError(f"unknown driver event {kind!r}")

    def _decide_overtake(self, snap: Snapshot, t: float, lane: int) -> None:
        busy = (
            self.pending is not None
            or self.target_lane != lane
            or t - self.last_change < LANE_CHANGE_COOLDOWN
        )
        if busy:
            return
        if self.overtaking is not None:
            idx, home = self.overtaking
            passed = snap.others[idx, 0] < snap.ego[0] - 0.5 * (self.lengths[0] + self.lengths[idx + 1]) - 8.0
            if passed:
                self.overtaking = None
                if self.plan.return_after_overtake and home != lane:
                    self.pending = home
            return
        if not self.plan.overtake:
            return
        lead = self._lead(snap, -lane * LANE_WIDTH, 2.5)
        if lead is None:
            return
        idx, gap = lead
        if gap < 45.0 and snap.others[idx, 3] < self.desired - 2.5:
            for cand in (lane - 1, lane + 1):  # pass on the left where possible
                if 0 <= cand < self.lanes and self._gap_is_safe(snap, cand):
                    self.pending, self.overtaking = cand, (idx, lane)
                    return

    def _lead(self, snap: Snapshot, y_centre: float, half_width: float) -> tuple[int, float] | None:
        """Nearest vehicle ahead whose centre lies within `half_width` of `y_centre`: (index, bumper gap)."""
        ego = snap.ego
        others = snap.others
        if len(others) == 0:
            return None
        gaps = others[:, 0] - ego[0] - 0.5 * (self.lengths[0] + self.lengths[1:])
        mask = (others[:, 0] > ego[0]) & (np.abs(others[:, 1] - y_centre) < half_width)
        if not mask.any():
            return None
        idx = int(np.flatnonzero(mask)[np.argmin(gaps[mask])])
        return idx, float(gaps[idx])

    def _gap_is_safe(self, snap: Snapshot, lane: int) -> bool:
        """Whether lane `lane` has room to merge: front and rear bumper gaps grow with closing speed.

        Vehicles count as in the lane if they are, or will be in `MERGE_HORIZON` s at their
        current heading (they may be changing into it too).
        """
        ego, others = snap.ego, snap.others
        if len(others) == 0:
            return True
        v = ego[3]
        lane_y = -lane * LANE_WIDTH
        later = others[:, 1] + others[:, 3] * np.sin(others[:, 2]) * MERGE_HORIZON
        near = (np.abs(others[:, 1] - lane_y) < 2.8) | (np.abs(later - lane_y) < 2.8)
        dx = others[:, 0] - ego[0]
        gaps = np.abs(dx) - 0.5 * (self.lengths[0] + self.lengths[1:])
        front = near & (dx >= 0)
        rear = near & (dx < 0)
        need_front = np.maximum(6.0, 0.5 * v + 2.0 * np.maximum(v - others[:, 3], 0.0))
        need_rear = np.maximum(6.0, 0.4 * others[:, 3] + 2.5 * np.maximum(others[:, 3] - v, 0.0))
        return not (np.any(front & (gaps < need_front)) or np.any(rear & (gaps < need_rear)))

    def _longitudinal(self, snap: Snapshot) -> float:
        """IDM acceleration (m/s^2) towards the desired speed behind the vehicles in our way.

        While moving over to another lane (more than `SETTLED` m from its centre), a vehicle that
        is being left behind in the old lane is ignored if the ego will be clear of it sideways
        before it could reach it, and otherwise gets a short headway (as drivers accept when
        pulling out to overtake); the target lane's lead gets the full headway throughout.
        """
        v, y = snap.ego[3], snap.ego[1]
        free = IDM_ACCEL * (1.0 - (v / max(self.desired, 1.0)) ** 4)
        accel = max(free, -self.plan.max_brake)
        corridor = 0.5 * (self.widths[0] + self.widths[1:].max(initial=2.0)) + 0.3
        target_y = -self.target_lane * LANE_WIDTH
        moving_over = abs(y - target_y) > SETTLED
        leads = []
        lead = self._lead(snap, y, corridor)
        if lead is not None:
            idx, gap = lead
            leaving = moving_over and abs(snap.others[idx, 1] - target_y) > 0.5 * LANE_WIDTH
            if not leaving:
                leads.append((lead, self.plan.time_gap))
            elif not self._clears(snap, idx, gap):
                leads.append((lead, 0.4))
        if moving_over:
            leads.append((self._lead(snap, target_y, 2.5), self.plan.time_gap))
        for lead, time_gap in leads:
            if lead is None:
                continue
            idx, gap = lead
            dv = v - snap.others[idx, 3]
            wanted = IDM_JAM_GAP + max(0.0, v * time_gap + v * dv / (2.0 * np.sqrt(IDM_ACCEL * IDM_DECEL)))
            accel = min(accel, free - IDM_ACCEL * (wanted / max(gap, 0.5)) ** 2)
        return float(np.clip(accel, -ACCEL_MAX, ACCEL_MAX))

    def _clears(self, snap: Snapshot, idx: int, gap: float) -> bool:
        """Whether the ego gets sideways clear of vehicle `idx` (bumper gap `gap` m ahead) before
        closing that gap, at about 70% of its lane-change lateral speed, with 2 m to spare."""
        clearance = 0.5 * (self.widths[0] + self.widths[idx + 1]) + 0.3
        dy = abs(snap.others[idx, 1] - snap.ego[1])
        closing = snap.ego[3] - snap.others[idx, 3]
        if dy >= clearance or closing <= 0.0:
            return True
        t_clear = (clearance - dy) / (0.7 * self.plan.max_lateral_speed)
        return gap - closing * t_clear > 2.0

    def _lateral(self, y: float, heading: float, v: float) -> float:
        """Front-wheel angle (rad, + left) steering towards the target lane centre plus a slow wander."""
        self.wander = float(np.clip(0.92 * self.wander + 0.08 * self.rng.standard_normal(), -0.5, 0.5))
        y_ref = -self.target_lane * LANE_WIDTH + self.wander * self.plan.noise
        speed = max(v, 1.0)
        cap = self.plan.max_lateral_speed
        lateral_speed = np.clip(-(y - y_ref) / self.plan.lateral_time, -cap, cap)
        heading_ref = np.arcsin(np.clip(lateral_speed / speed, -1.0, 1.0))
        yaw_rate = (heading_ref - heading) / TAU_HEADING
        # Kinematic bicycle (highway-env): yaw rate = v sin(beta) / (L / 2), tan(beta) = tan(delta) / 2.
        beta = np.arcsin(np.clip(0.5 * self.lengths[0] * yaw_rate / speed, -1.0, 1.0))
        return float(np.arctan(2.0 * np.tan(beta)))
