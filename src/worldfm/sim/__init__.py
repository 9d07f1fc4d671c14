"""Physics data engine: simulated episodes (RGB, depth, segmentation, states, actions, captions).

Scenarios live one per module (`objects`, `robot`, `driving`) and are looked up by name through
`worldfm.sim.registry`, which imports them lazily so that `import worldfm.sim` stays cheap.
"""

import os

# Headless rendering defaults; set before any simulator is imported. Users can override them.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

from worldfm.sim.episode import Camera, Episode
from worldfm.sim.registry import SCENARIOS, episode_seed, generate_episode, get_scenario

__all__ = ["SCENARIOS", "Camera", "Episode", "episode_seed", "generate_episode", "get_scenario"]
