"""A Chromium fake camera: turn a fixture image into a looping .y4m file (see RECIPES.md)."""

import subprocess
from pathlib import Path

import imageio_ffmpeg


def make_y4m(
    image_path, out_path, width: int = 640, height: int = 480, seconds: float = 1, fps: int = 15
) -> Path:
    """Write a y4m video of the image, letterboxed to width x height; returns the absolute path.

    Chromium needs an absolute path for --use-file-for-fake-video-capture and loops the file, so
    one second is plenty.
    """
    out = Path(out_path).resolve()
    scale = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,format=yuv420p"
    )
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
            "-loop", "1", "-i", str(image_path), "-vf", scale,
            "-t", str(seconds), "-r", str(fps), str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out
