"""Pin every recipe's resolved mapping (after its `base:` chain) in tests/train/resolved_recipes.json.

Recipes inherit (`base:`), so editing one also changes every recipe built on it; the pinned digests make
such a change visible in the tests (tests/train/test_recipe_bases.py). After changing a recipe on
purpose, run `python tools/pin_recipes.py` and commit the updated file with it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "tests" / "train" / "resolved_recipes.json"


def resolved_digests() -> dict[str, str]:
    """{recipe path relative to the repository: sha256 (hex, 16 digits) of its resolved mapping as
    canonical JSON} over every configs/*/*.yaml."""
    from worldfm.train.recipes.common import load_yaml

    out = {}
    for path in sorted((ROOT / "configs").glob("*/*.yaml")):
        data = load_yaml(path)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        out[path.relative_to(ROOT).as_posix()] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def main() -> int:
    from worldfm.tokenizers.pretrained import atomic_file

    digests = resolved_digests()
    with atomic_file(PINS) as tmp:
        tmp.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"pinned {len(digests)} recipes in {PINS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
