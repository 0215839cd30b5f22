"""Short synthetic test videos made with the ffmpeg binary (lavfi testsrc + sine)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from xuetang.video.probe import ffmpeg_binary


def make_video(
    path: str | Path,
    seconds: float = 4,
    size: str = "320x240",
    audio: bool = True,
    *,
    rate: int = 25,
    faststart: bool = False,
    extra: tuple[str, ...] = (),
) -> Path:
    """Write an H.264 (+ AAC) test video; the container follows the file extension.

    faststart=False (the ffmpeg default) puts the moov index after the media data, like many
    cameras and editors do, so cutting the file in half loses the index.
    """
    path = Path(path)
    args = [ffmpeg_binary(None), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]  # fmt: skip
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    if faststart:
        args += ["-movflags", "+faststart"]
    args += [*extra, str(path)]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, timeout=60)
    return path


def stalling_ffmpeg(tmp_path: Path, pid_file: Path) -> str:
    """An ffmpeg that probes fine but whose encodes hang silently (a pathological source)."""
    wrapper = tmp_path / "ffmpeg-stalls"
    wrapper.write_text(f"""#!/bin/sh
for a in "$@"; do
  if [ "$a" = "-progress" ]; then echo $$ > "{pid_file}"; exec sleep 300; fi
done
exec "{ffmpeg_binary(None)}" "$@"
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper)
