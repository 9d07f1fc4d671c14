"""Randomised set-up of one `driving` episode: road, traffic layout and the ego driver's plan.

Each episode draws a primary manoeuvre and arranges the traffic so that it can happen (a lead car
to follow, a slow truck to overtake or to brake behind, a free gap in the target lane), then lets
the traffic flow. Long episodes get further random events (speed changes, lane changes) every
5-10 s. Whether the manoeuvre really happens is up to the traffic; captions are measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worldfm.errors import ConfigError
from worldfm.sim.driving_driver import DriverPlan
from worldfm.sim.driving_traffic import PlacedVehicle, VehicleSpec, random_spec, sample_traffic

MANOEUVRES = ("follow", "accelerate", "brake", "lane_change_left", "lane_change_right", "overtake")
# Traffic density label -> vehicles per lane per 100 m of road.
DENSITIES = {"light": 0.45, "moderate": 0.9, "heavy": 1.5}
TRAFFIC_BEHIND = 60.0  # m of traffic spawned behind the ego


@dataclass(frozen=True)
class DrivingSetup:
    """Everything the simulation needs, plus `params` (JSON-serialisable) for the episode record."""

    lanes: int
    ego_spec: VehicleSpec
    ego_lane: int
    ego_speed: float
    traffic: list[PlacedVehicle]
    plan: DriverPlan
    params: dict[str, Any]


def sample_setup(rng: np.random.Generator, duration: float, manoeuvre: str | None = None) -> DrivingSetup:
    """Draw a road, a primary manoeuvre that fits it, the traffic and the driver's plan.

    duration: episode length in seconds; sets how far ahead traffic is spawned and how many
    follow-up events a long episode gets.
    manoeuvre: one of `MANOEUVRES` to force it (the ego's start lane is then drawn so that it is
    possible), or None to draw it.
    """
    if manoeuvre is not None and manoeuvre not in MANOEUVRES:
        raise ConfigError(f"manoeuvre must be one of {MANOEUVRES} or None, got {manoeuvre!r}")
    lanes = int(rng.choice([2, 3, 4], p=[0.25, 0.45, 0.3]))
    density = str(rng.choice(list(DENSITIES)))
    per_100m = DENSITIES[density] * float(rng.uniform(0.85, 1.15))
    truck_fraction = float(rng.uniform(0.05, 0.3))
    ego_spec = random_spec(rng, "car")
    if manoeuvre is None:
        ego_lane = int(rng.integers(lanes))
        options = [
            m
            for m in MANOEUVRES
            if not (m == "lane_change_left" and ego_lane == 0)
            and not (m == "lane_change_right" and ego_lane == lanes - 1)
        ]
        manoeuvre = str(rng.choice(options))
    else:
        low = 1 if manoeuvre == "lane_change_left" else 0
        high = lanes - 1 if manoeuvre == "lane_change_right" else lanes
        ego_lane = int(rng.integers(low, high))
    t0 = float(rng.uniform(0.4, max(0.5, min(2.0, 0.3 * duration))))
    half_ego = 0.5 * ego_spec.length
    keep_clear = [(ego_lane, -20.0, 20.0)]
    fixed: list[PlacedVehicle] = []
    events: list[tuple[float, str, float]] = []
    overtake = manoeuvre != "follow" and bool(rng.random() < 0.5)

    if manoeuvre == "follow":
        lead_speed = float(rng.uniform(19.0, 25.0))
        ego_speed = lead_speed + float(rng.uniform(-1.0, 3.0))
        desired = float(rng.uniform(27.0, 32.0))
        spec = random_spec(rng, "truck" if rng.random() < 0.3 else "car", exclude=(ego_spec.color,))
        # Start near the driver's preferred headway so it follows rather than brakes hard.
        offset = half_ego + 0.5 * spec.length + ego_speed * float(rng.uniform(1.0, 1.8))
        fixed.append(PlacedVehicle(spec, ego_lane, offset, lead_speed, lead_speed, lane_changes=False))
        keep_clear.append((ego_lane, 0.0, offset))
    elif manoeuvre == "accelerate":
        ego_speed = float(rng.uniform(14.0, 20.0))
        desired = ego_speed
        events.append((t0, "speed", float(rng.uniform(28.0, 33.0))))
        keep_clear.append((ego_lane, 0.0, 130.0))
    elif manoeuvre == "brake":
        ego_speed = float(rng.uniform(24.0, 30.0))
        desired = ego_speed
        if rng.random() < 0.5:
            # Brake for a slow vehicle ahead in the lane (and stay behind it).
            slow_speed = float(rng.uniform(8.0, 15.0))
            spec = random_spec(rng, "truck" if rng.random() < 0.4 else "car", exclude=(ego_spec.color,))
            offset = half_ego + 0.5 * spec.length + float(rng.uniform(45.0, 70.0))
            fixed.append(PlacedVehicle(spec, ego_lane, offset, slow_speed, slow_speed, lane_changes=False))
            keep_clear.append((ego_lane, -45.0, offset))
            overtake = False
        else:
            # Slow down on a free road (an exit ahead, a speed limit).
            events.append((t0, "speed", float(rng.uniform(8.0, 16.0))))
            keep_clear.append((ego_lane, -45.0, 90.0))
    elif manoeuvre in ("lane_change_left", "lane_change_right"):
        ego_speed = float(rng.uniform(21.0, 28.0))
        desired = ego_speed + float(rng.uniform(0.0, 3.0))
        target = ego_lane + (-1 if manoeuvre == "lane_change_left" else 1)
        events.append((t0, "lane_left" if manoeuvre == "lane_change_left" else "lane_right", 0.0))
        keep_clear += [(target, -30.0, 35.0), (ego_lane, 0.0, 45.0)]
    else:  # overtake a slow vehicle ahead in the ego's lane
        # Close enough and slow enough that the pass fits in ~5 s (a 32-frame episode).
        slow_speed = float(rng.uniform(10.0, 15.0))
        ego_speed = slow_speed + float(rng.uniform(6.0, 9.0))
        desired = float(rng.uniform(28.0, 33.0))
        spec = random_spec(rng, "truck" if rng.random() < 0.5 else "car", exclude=(ego_spec.color,))
        offset = half_ego + 0.5 * spec.length + float(rng.uniform(12.0, 22.0))
        fixed.append(PlacedVehicle(spec, ego_lane, offset, slow_speed, slow_speed, lane_changes=False))
        keep_clear.append((ego_lane, 0.0, offset))
        keep_clear += [(lane, -30.0, 100.0) for lane in (ego_lane - 1, ego_lane + 1) if 0 <= lane < lanes]
        overtake = True

    # Follow-up events keep long episodes eventful.
    t = t0 + float(rng.uniform(5.0, 10.0))
    while t < duration - 2.0:
        kind = str(rng.choice(["speed", "lane_left", "lane_right"]))
        value = float(rng.uniform(18.0, 32.0)) if kind == "speed" else 0.0
        if manoeuvre != "follow" or kind == "speed":
            events.append((t, kind, value))
        t += float(rng.uniform(5.0, 10.0))

    ahead = 220.0 + 8.0 * duration  # the ego may gain ~8 m/s on the traffic
    traffic = sample_traffic(
        rng, lanes, per_100m, (-TRAFFIC_BEHIND, ahead), truck_fraction, keep_clear, fixed
    )
    plan = DriverPlan(
        manoeuvre=manoeuvre,
        desired_speed=desired,
        events=events,
        overtake=overtake,
        return_after_overtake=bool(rng.random() < 0.5),
        max_brake=float(rng.uniform(2.5, 5.0)),
        time_gap=float(rng.uniform(1.0, 1.6)),
        noise=float(rng.uniform(0.5, 1.5)),
        lateral_time=float(rng.uniform(0.6, 1.4)),
        max_lateral_speed=float(rng.uniform(1.3, 3.0)),
    )
    params = {
        "lanes": lanes,
        "traffic_density": density,
        "vehicles_per_100m_per_lane": round(per_100m, 3),
        "truck_fraction": round(truck_fraction, 3),
        "num_vehicles": len(traffic),
        "ego_lane": ego_lane,
        "ego_speed": round(ego_speed, 3),
        "manoeuvre": manoeuvre,
        "manoeuvre_time": round(t0, 3),
        "desired_speed": round(desired, 3),
        "overtake": plan.overtake,
        "return_after_overtake": plan.return_after_overtake,
        "max_brake": round(plan.max_brake, 3),
        "time_gap": round(plan.time_gap, 3),
        "driver_noise": round(plan.noise, 3),
        "lateral_time": round(plan.lateral_time, 3),
        "max_lateral_speed": round(plan.max_lateral_speed, 3),
        "events": [[round(t, 3), k, round(v, 3)] for t, k, v in events],
    }
    return DrivingSetup(lanes, ego_spec, ego_lane, ego_speed, traffic, plan, params)
