"""Highway traffic for the `driving` scenario, simulated with highway-env's vehicle models.

The road is highway-env's straight multi-lane `RoadNetwork`; traffic vehicles are its `IDMVehicle`
(IDM car-following + MOBIL lane changes) and the ego is its kinematic bicycle `Vehicle`, driven
by the actions we record. The gym environment itself is not used: its pandas observation and
reward cost more than the traffic, and we need control over where vehicles spawn.

Frames. highway-env's frame has x along the road and y to the driver's *right* (lane 0 is the
leftmost lane, lane k is centred on y = 4 k) with headings growing clockwise seen from above. The
episode's world frame is right-handed with z up: x along the road measured from the ego's start,
y to the left. So world (x, y, heading) = (x_hw - x0, -y_hw, -heading_hw) and lane k is centred on
world y = -4 k.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np
from highway_env.road.lane import StraightLane
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.kinematics import Vehicle

LANE_WIDTH = float(StraightLane.DEFAULT_WIDTH)  # metres
ROAD_START_X = 200.0  # ego start in highway-env coordinates, leaving room for traffic behind it
ACCEL_MAX = 5.0  # m/s^2 applied for a normalised acceleration action of +1
# rad of front-wheel angle for a normalised steering action of +1 (to the left): at highway speed
# a brisk lane change needs about this much, a gentle one a third of it.
STEER_MAX = 0.05

# Vehicle colours by name (captions use the names), linear RGB in [0, 1].
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.78, 0.08, 0.08),
    "blue": (0.10, 0.25, 0.80),
    "white": (0.93, 0.93, 0.93),
    "black": (0.07, 0.07, 0.08),
    "silver": (0.62, 0.64, 0.68),
    "yellow": (0.95, 0.80, 0.10),
    "green": (0.12, 0.55, 0.20),
    "orange": (0.95, 0.45, 0.05),
}


@dataclass(frozen=True)
class VehicleSpec:
    """What a vehicle looks like: kind ("car" or "truck"), colour name, size in metres."""

    kind: str
    color: str
    length: float
    width: float

    @property
    def rgb(self) -> tuple[float, float, float]:
        return PALETTE[self.color]


@dataclass(frozen=True)
class PlacedVehicle:
    """A traffic vehicle to spawn: lane index, longitudinal offset from the ego (m), speeds (m/s)."""

    spec: VehicleSpec
    lane: int
    offset: float
    speed: float
    target_speed: float
    lane_changes: bool = True


@dataclass(frozen=True)
class Snapshot:
    """Traffic state at one instant in the world frame.

    ego: (5,) float64 x, y, heading (rad), speed (m/s), lane index.
    others: (N, 5) float64, the same columns for each traffic vehicle (spawn order).
    ego_crashed: whether highway-env registered a collision of the ego.
    """

    ego: np.ndarray
    others: np.ndarray
    ego_crashed: bool


class Truck(IDMVehicle):
    """A heavier IDM vehicle: longer, wider, gentler acceleration, larger jam distance."""

    LENGTH = 10.0
    WIDTH = 2.5
    COMFORT_ACC_MAX = 1.5
    DISTANCE_WANTED = 8.0 + LENGTH


class StraightHighway(RoadNetwork):
    """highway-env's straight multi-lane road network with a fast `get_closest_lane_index`.

    Every vehicle asks for its closest lane after every integration step; the library computes a
    distance to each lane through numpy calls on 2-vectors. For parallel lanes along +x that start
    and end at the same x this is a few float operations per lane, done here with the library's
    own formula (L1 distance plus heading difference) and tie-break (the first lane), so the
    answers are the same. Any other geometry falls back to the library.
    """

    def lane_table(
        self,
    ) -> tuple[float, float, list[tuple[tuple[str, str, int], float, StraightLane]]] | None:
        """(start x, length, [(lane index, centre y, lane)]) when every lane is straight along +x
        over the same span, else None."""
        if (
            getattr(self, "_table_of", None) is not self.graph
            or getattr(self, "_table_size", -1) != self._size()
        ):
            self._table = self._build_table()
            self._table_of, self._table_size = self.graph, self._size()
        return self._table

    def _size(self) -> int:
        return sum(len(group) for to in self.graph.values() for group in to.values())

    def _build_table(self) -> tuple[float, float, list] | None:
        rows = [
            ((a, b, k), lane)
            for a, to in self.graph.items()
            for b, group in to.items()
            for k, lane in enumerate(group)
        ]
        if not rows:
            return None
        x0, length = float(rows[0][1].start[0]), float(rows[0][1].length)
        for _, lane in rows:
            if not (
                type(lane) is StraightLane
                and lane.direction[0] == 1.0
                and lane.direction[1] == 0.0
                and float(lane.start[0]) == x0
                and float(lane.length) == length
            ):
                return None
        return x0, length, [(index, float(lane.start[1]), lane) for index, lane in rows]

    def get_closest_lane_index(self, position: np.ndarray, heading: float | None = None) -> tuple:
        table = self.lane_table()
        if table is None:
            return super().get_closest_lane_index(position, heading)
        x0, length, lanes = table
        s = float(position[0]) - x0
        best, best_d = None, None
        for index, y, lane in lanes:
            # Summed in the library's order, so that rounding (and hence ties) come out the same.
            d = abs(float(position[1]) - y) + max(s - length, 0) + max(0 - s, 0)
            if heading is not None:
                d = d + 1.0 * np.abs(lane.local_angle(heading, s))
            if best_d is None or d < best_d:
                best, best_d = index, d
        return best


class StraightRoad(Road):
    """highway-env's `Road` with a fast neighbour search on a `StraightHighway` (same answers).

    `neighbour_vehicles` (every IDM/MOBIL decision asks it, several times per vehicle) loops over
    all vehicles in Python. Positions do not change while `act` runs, so `act` sorts each lane's
    vehicles by longitudinal position once and each query becomes a bisection. The on-lane test
    (1 m lateral margin, a vehicle length beyond the lane's ends) and the tie-breaks (the last of
    equally near fronts, the first of equally near rears) are the library's.
    """

    def __init__(self, network: StraightHighway, np_random: np.random.Generator) -> None:
        super().__init__(network=network, np_random=np_random)
        self._lanes: dict[tuple, tuple[list[float], list[int]]] | None = None  # while `act` runs
        self._index: dict[int, int] = {}

    def act(self) -> None:
        table = self.network.lane_table() if isinstance(self.network, StraightHighway) else None
        if self.objects or table is None or self.neighbour_vehicles_connected_lanes:
            super().act()
            return
        x0, length, lanes = table
        xs = [float(v.position[0]) - x0 for v in self.vehicles]
        ys = [float(v.position[1]) for v in self.vehicles]
        self._index = {id(v): k for k, v in enumerate(self.vehicles)}
        self._lanes = {}
        for index, y_lane, lane in lanes:
            half = lane.width / 2 + 1
            tol = lane.VEHICLE_LENGTH
            on = sorted(
                (s_v, k)
                for k, (s_v, y) in enumerate(zip(xs, ys, strict=True))
                if abs(y - y_lane) <= half and -tol <= s_v < length + tol
            )
            self._lanes[index] = ([s_v for s_v, _ in on], [k for _, k in on])
        self._x0 = x0
        try:
            super().act()
        finally:
            self._lanes, self._index = None, {}

    def neighbour_vehicles(
        self, vehicle: Vehicle, lane_index: tuple[str, str, int] | None = None
    ) -> tuple[Vehicle | None, Vehicle | None]:
        lane_index = lane_index or vehicle.lane_index
        if self._lanes is None or not lane_index or lane_index not in self._lanes:
            return super().neighbour_vehicles(vehicle, lane_index)
        keys, ids = self._lanes[lane_index]
        s = float(vehicle.position[0]) - self._x0
        me = self._index.get(id(vehicle), -1)
        n = len(keys)
        front = rear = None
        j = bisect_left(keys, s)
        while j < n and ids[j] == me:
            j += 1
        if j < n:  # nearest at or ahead of s; of equals, the last in road order
            best, front = keys[j], ids[j]
            j += 1
            while j < n and keys[j] == best:
                if ids[j] != me:
                    front = ids[j]
                j += 1
        j = bisect_left(keys, s) - 1
        if j >= 0:  # nearest behind s; of equals, the first in road order
            best = keys[j]
            while j > 0 and keys[j - 1] == best:
                j -= 1
            rear = ids[j]
        vehicles = self.vehicles
        return (None if front is None else vehicles[front]), (None if rear is None else vehicles[rear])


class Traffic:
    """An ego vehicle among IDM/MOBIL traffic on a straight highway (highway-env dynamics).

    `step` applies one normalised ego action (acceleration, steering), both in [-1, 1], and
    advances `substeps` integration steps of `dt / substeps` seconds each.
    """

    def __init__(
        self,
        lanes: int,
        ego_spec: VehicleSpec,
        ego_lane: int,
        ego_speed: float,
        traffic: list[PlacedVehicle],
        rng: np.random.Generator,
        road_length: float,
    ) -> None:
        if not 0 <= ego_lane < lanes:
            raise ValueError(f"ego lane {ego_lane} outside 0..{lanes - 1}")
        self.lanes = lanes
        network = RoadNetwork.straight_road_network(
            lanes, length=road_length, speed_limit=33.0, net=StraightHighway()
        )
        # highway-env draws behaviour randomness (IDM exponents) from road.np_random.
        self.road = StraightRoad(network, rng)
        self.ego = Vehicle(self.road, [ROAD_START_X, ego_lane * LANE_WIDTH], heading=0.0, speed=ego_speed)
        _set_size(self.ego, ego_spec)
        self.road.vehicles.append(self.ego)
        self.specs = [ego_spec] + [p.spec for p in traffic]
        self.others: list[IDMVehicle] = []
        for p in traffic:
            cls = Truck if p.spec.kind == "truck" else IDMVehicle
            position = [ROAD_START_X + p.offset, p.lane * LANE_WIDTH]
            v = cls(self.road, position, heading=0.0, speed=p.speed, target_speed=p.target_speed)
            _set_size(v, p.spec)
            v.randomize_behavior()
            v.enable_lane_change = p.lane_changes
            # As in highway-fast: only the ego checks collisions (IDM keeps traffic apart).
            v.check_collisions = False
            self.road.vehicles.append(v)
            self.others.append(v)

    def step(self, action: np.ndarray, dt: float, substeps: int) -> None:
        """Apply normalised `action` = (acceleration, steering) for `dt` seconds.

        acceleration * ACCEL_MAX is m/s^2; steering * STEER_MAX is the front-wheel angle in rad,
        positive to the left (highway-env's steering sign is the opposite).
        """
        accel = float(action[0]) * ACCEL_MAX
        steer = -float(action[1]) * STEER_MAX
        self.ego.act({"acceleration": accel, "steering": steer})
        sub = dt / substeps
        for _ in range(substeps):
            # Braking stops the car; it never drives it backwards (highway-env's kinematics would).
            if self.ego.speed + self.ego.action["acceleration"] * sub < 0.0:
                self.ego.action["acceleration"] = -self.ego.speed / sub
            self.road.act()
            self.road.step(sub)

    def snapshot(self) -> Snapshot:
        """Current ego and traffic states in the world frame (see module docstring)."""
        return Snapshot(
            ego=_state(self.ego),
            others=np.array([_state(v) for v in self.others], np.float64).reshape(-1, 5),
            ego_crashed=bool(self.ego.crashed),
        )


def _set_size(vehicle: Vehicle, spec: VehicleSpec) -> None:
    """Give one vehicle its own footprint (instance attributes shadow highway-env's class sizes)."""
    vehicle.LENGTH, vehicle.WIDTH = spec.length, spec.width
    vehicle.diagonal = float(np.hypot(spec.length, spec.width))


def _state(v: Vehicle) -> np.ndarray:
    return np.array(
        [v.position[0] - ROAD_START_X, -v.position[1], -v.heading, v.speed, v.lane_index[2]],
        np.float64,
    )


def sample_traffic(
    rng: np.random.Generator,
    lanes: int,
    per_100m: float,
    span: tuple[float, float],
    truck_fraction: float,
    keep_clear: list[tuple[int, float, float]],
    fixed: list[PlacedVehicle],
) -> list[PlacedVehicle]:
    """Random traffic around the ego: about `per_100m` vehicles per lane per 100 m over `span`.

    span: (behind, ahead) offsets from the ego in metres, e.g. (-60, 250).
    keep_clear: (lane, lo, hi) offset intervals where no random vehicle may spawn (the ego's own
        spot and whatever room the planned manoeuvre needs).
    fixed: vehicles the manoeuvre needs (a lead car, a slow truck); random ones keep clear of them.
    Left lanes (low index) are faster, as on a keep-right highway; trucks prefer the right lanes.
    """
    occupied = [(p.lane, p.offset, p.spec.length) for p in fixed]
    placed = list(fixed)
    base = 30.0 - 2.0 * np.arange(lanes) + rng.normal(0.0, 1.0, lanes)  # m/s per lane
    mean_gap = 100.0 / per_100m
    for lane in range(lanes):
        s = span[0] + rng.uniform(0.0, mean_gap)
        while s < span[1]:
            is_truck = rng.random() < truck_fraction * (0.4 + 1.2 * lane / max(lanes - 1, 1))
            spec = random_spec(rng, "truck" if is_truck else "car")
            free = all(
                not (lo - spec.length <= s <= hi + spec.length) for ln, lo, hi in keep_clear if ln == lane
            )
            free = free and all(
                abs(s - o) > 0.5 * (spec.length + length) + 12.0 for ln, o, length in occupied if ln == lane
            )
            if free:
                speed = float(rng.uniform(19.0, 24.0) if is_truck else base[lane] + rng.normal(0.0, 1.5))
                placed.append(PlacedVehicle(spec, lane, float(s), speed, speed))
                occupied.append((lane, s, spec.length))
            s += 0.6 * mean_gap + rng.exponential(0.4 * mean_gap) + spec.length
    return placed


def random_spec(rng: np.random.Generator, kind: str, exclude: tuple[str, ...] = ()) -> VehicleSpec:
    """A car (4.4-5 m x 1.9-2 m) or truck (9-12 m x 2.5 m) with a random palette colour."""
    colors = [c for c in PALETTE if c not in exclude]
    color = str(colors[rng.integers(len(colors))])
    if kind == "truck":
        return VehicleSpec("truck", color, round(float(rng.uniform(9.0, 12.0)), 2), 2.5)
    if kind != "car":
        raise ValueError(f"unknown vehicle kind {kind!r}; expected 'car' or 'truck'")
    return VehicleSpec(
        "car", color, round(float(rng.uniform(4.4, 5.0)), 2), round(float(rng.uniform(1.85, 2.0)), 2)
    )
