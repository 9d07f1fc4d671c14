"""Video I/O (PyAV), transforms between file and model layouts, and quality metrics."""

from worldfm.video.io import (
    VideoInfo,
    decode_video_bytes,
    encode_video_bytes,
    iter_frames,
    probe_video,
    read_video,
    write_video,
)

__all__ = [
    "VideoInfo",
    "decode_video_bytes",
    "encode_video_bytes",
    "iter_frames",
    "probe_video",
    "read_video",
    "write_video",
]
