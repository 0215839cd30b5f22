"""The browser tests' fake camera must look live to the server's repeated-frame rule: no two of
its frames a second or more apart may be "the same frame" (face/likeness.same_frame). The drift
it had before crossed its own path, and a check seconds after another was flagged at random."""

import subprocess

import imageio_ffmpeg
import numpy as np
from PIL import Image

from tests.support.faces import live_image, make_live_y4m
from xuetang.face.likeness import FRAME_SIZE, SAME_FRAME_DIFFERENCE

FPS = 6


def frame_signatures(y4m, width=320, height=240):
    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(y4m),
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width)
    return np.stack([np.asarray(Image.fromarray(f).resize(FRAME_SIZE, Image.Resampling.BILINEAR),
                                dtype=np.int16).ravel() for f in frames])


def test_no_two_frames_a_second_apart_are_the_same_frame(tmp_path):
    signatures = frame_signatures(make_live_y4m(live_image("a", tmp_path), tmp_path / "a.y4m",
                                                fps=FPS))
    assert len(signatures) == 100 * FPS
    closest = min(float(np.abs(signatures[i + FPS:] - signatures[i]).mean(axis=1).min())
                  for i in range(len(signatures) - FPS))
    assert closest > 2 * SAME_FRAME_DIFFERENCE, closest
