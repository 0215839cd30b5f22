"""Probe, transcode and faststart check against real ffmpeg runs on short synthetic videos."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import imageio_ffmpeg
import pytest

from tests.support.paths import ROOT
from tests.support.videos import make_video, stalling_ffmpeg
from xuetang.video import probe as probing
from xuetang.video import transcode as transcoding
from xuetang.video.probe import NotAVideo, TranscodeError, ffmpeg_binary, moov_before_mdat, probe
from xuetang.video.transcode import remove_partials, transcode

FINAL_NAMES = {"360p.mp4", "240p.mp4", "poster.jpg"}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "main": make_video(d / "main.mp4", seconds=3, size="640x480"),
        "silent": make_video(d / "silent.mp4", seconds=2, size="480x360", audio=False),
        "small": make_video(d / "small.mkv", seconds=2.5, size="320x240"),
        "faststart": make_video(d / "fast.mp4", seconds=2, size="320x240", faststart=True),
    }


@pytest.fixture(scope="module")
def transcoded(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    seen: list[float] = []
    result = transcode(media["main"], out, seen.append)
    return result, out, seen


# --- ffmpeg_binary ---------------------------------------------------------------------------


def test_ffmpeg_binary_prefers_configured_then_path_then_bundled(monkeypatch):
    assert ffmpeg_binary("/opt/ffmpeg/bin/ffmpeg") == "/opt/ffmpeg/bin/ffmpeg"
    monkeypatch.setattr(probing.shutil, "which", lambda name: "/usr/bin/ffmpeg")
    assert ffmpeg_binary(None) == "/usr/bin/ffmpeg"
    assert ffmpeg_binary("") == "/usr/bin/ffmpeg"
    monkeypatch.setattr(probing.shutil, "which", lambda name: None)
    import imageio_ffmpeg

    assert ffmpeg_binary(None) == imageio_ffmpeg.get_ffmpeg_exe()


# --- probe -----------------------------------------------------------------------------------


def test_probe_reads_duration_size_codecs(media):
    info = probe(media["main"])
    assert info.duration == Decimal("3.00") and info.duration_ms == 3000
    assert (info.width, info.height) == (640, 480)
    assert info.has_video and info.has_audio
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.fps == 25.0 and info.rotation == 0

    silent = probe(media["silent"])
    assert silent.has_video and not silent.has_audio and silent.audio_codec is None
    assert silent.duration == Decimal("2.00")

    small = probe(media["small"])
    assert small.container.startswith("matroska")
    assert abs(small.duration - Decimal("2.5")) <= Decimal("0.05")


def test_probe_swaps_size_for_rotated_video(media, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    # -display_rotation needs ffmpeg >= 6 (Debian 12's is 5.1): make the file with the bundled
    # one, then probe it with whichever ffmpeg the app finds, as the app would.
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error",
                    "-display_rotation", "90", "-i", str(media["faststart"]), "-c", "copy",
                    str(rotated)], check=True)
    info = probe(rotated)
    assert info.rotation == 90 and (info.width, info.height) == (240, 320)


def test_probe_measures_duration_when_container_has_none(tmp_path):
    # WebM written to a pipe has no duration in its header ("Duration: N/A").
    webm = tmp_path / "live.webm"
    with webm.open("wb") as f:
        subprocess.run([ffmpeg_binary(None), "-nostdin", "-loglevel", "error", "-f", "lavfi",
                        "-i", "testsrc=size=160x120:rate=25:duration=2", "-c:v", "libvpx",
                        "-deadline", "realtime", "-f", "webm", "pipe:1"], stdout=f, check=True)  # fmt: skip
    info = probe(webm)
    assert abs(info.duration - 2) <= Decimal("0.1")


def test_text_file_renamed_mp4_is_not_a_video(tmp_path):
    fake = tmp_path / "lecture.mp4"
    fake.write_text("这不是视频，只是一段文字。\n" * 50, encoding="utf-8")
    with pytest.raises(NotAVideo) as err:
        probe(fake)
    assert "不是有效的视频文件" in err.value.message


def test_empty_file_is_not_a_video(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(NotAVideo, match="文件为空"):
        probe(empty)


@pytest.mark.parametrize("which", ["main", "faststart"])
def test_truncated_mp4_is_not_a_video(media, tmp_path, which):
    """Cut in half: without faststart the moov index is lost; with it the media data is cut."""
    data = media[which].read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotAVideo, match="不完整"):
        probe(half)


def test_audio_only_is_not_a_video(tmp_path):
    m4a = tmp_path / "talk.mp4"
    subprocess.run([ffmpeg_binary(None), "-nostdin", "-loglevel", "error", "-f", "lavfi",
                    "-i", "sine=duration=1", "-c:a", "aac", str(m4a)], check=True)  # fmt: skip
    with pytest.raises(NotAVideo, match="没有视频画面"):
        probe(m4a)


def test_zero_duration_is_not_a_video(tmp_path):
    # One frame in a streamed Matroska file: no declared duration, nothing measurable.
    one = tmp_path / "one.mkv"
    with one.open("wb") as f:
        subprocess.run([ffmpeg_binary(None), "-nostdin", "-loglevel", "error", "-f", "lavfi",
                        "-i", "testsrc=size=160x120:rate=25", "-frames:v", "1", "-c:v", "libx264",
                        "-f", "matroska", "pipe:1"], stdout=f, check=True)  # fmt: skip
    with pytest.raises(NotAVideo, match="时长为 0"):
        probe(one)


def test_playlist_disguised_as_video_is_refused(media, tmp_path):
    """An HLS playlist would let ffmpeg read other files; the demuxer whitelist refuses it."""
    playlist = tmp_path / "lecture.m3u8"
    playlist.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{media['main']}\n#EXT-X-ENDLIST\n"
    )
    with pytest.raises(NotAVideo, match="不支持的文件格式"):
        probe(playlist)


def test_image_renamed_mp4_is_refused(tmp_path):
    png = tmp_path / "slide.png"
    subprocess.run([ffmpeg_binary(None), "-nostdin", "-loglevel", "error", "-f", "lavfi",
                    "-i", "testsrc=size=160x120", "-frames:v", "1", str(png)], check=True)  # fmt: skip
    renamed = tmp_path / "slide.mp4"
    png.rename(renamed)
    with pytest.raises(NotAVideo):
        probe(renamed)


def test_parse_ignores_cover_art_and_forged_metadata_lines():
    stderr = textwrap.dedent(
        """\
        Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':
          Metadata:
            title           : hello
                            :   Stream #0:9: Video: h264, 9999x9999, 25 fps
          Duration: 00:01:02.50, start: 0.000000, bitrate: 212 kb/s
          Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s
          Stream #0:1[0x0]: Video: mjpeg (Baseline), yuvj420p(pc), 64x64 [SAR 1:1], 90k tbn (attached pic)
        At least one output file must be specified
        """
    )
    found = probing._parse(stderr)
    assert found["duration"] == Decimal("62.50")
    assert [s["kind"] for s in found["streams"]] == ["Audio", "Video"]
    assert found["streams"][1]["attached_pic"] and found["streams"][1]["size"] == (64, 64)


# --- moov_before_mdat ------------------------------------------------------------------------


def _box(kind: bytes, payload: bytes = b"", *, large: bool = False) -> bytes:
    if large:
        return (1).to_bytes(4, "big") + kind + (16 + len(payload)).to_bytes(8, "big") + payload
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def test_moov_before_mdat_walks_boxes(tmp_path, media):
    f = tmp_path / "boxes.mp4"
    f.write_bytes(_box(b"ftyp", b"isom\0\0\2\0") + _box(b"free", b"x" * 40, large=True)
                  + _box(b"moov", b"\0" * 8) + _box(b"mdat", b"\0" * 100))  # fmt: skip
    assert moov_before_mdat(f)
    # 64-bit mdat first, then moov; and a size-0 (to end of file) last box
    f.write_bytes(_box(b"ftyp", b"isom") + _box(b"mdat", b"\1" * 64, large=True)
                  + (0).to_bytes(4, "big") + b"moov" + b"\0" * 20)  # fmt: skip
    assert not moov_before_mdat(f)
    f.write_bytes(b"plain text, not boxes")
    assert not moov_before_mdat(f)
    assert moov_before_mdat(media["faststart"])
    assert not moov_before_mdat(media["main"])


# --- transcode -------------------------------------------------------------------------------


def test_transcode_makes_two_faststart_renditions_and_poster(transcoded):
    result, out, _seen = transcoded
    assert {p.name for p in out.iterdir()} == FINAL_NAMES
    assert [r.name for r in result.renditions] == ["360p", "240p"]
    for rendition, height in zip(result.renditions, (360, 240), strict=True):
        info = probe(rendition.path)
        assert info.height == rendition.height == height
        assert info.width == rendition.width == height * 4 // 3
        assert info.video_codec == "h264" and info.audio_codec == "aac" and info.has_audio
        assert abs(info.duration - 3) <= Decimal("0.3")
        assert moov_before_mdat(rendition.path)
        assert rendition.size_bytes == rendition.path.stat().st_size
    assert result.get("360p").bitrate_kbps > result.get("240p").bitrate_kbps
    assert abs(result.duration - 3) <= Decimal("0.3") and result.duration_ms == int(result.duration * 1000)
    assert result.poster == out / "poster.jpg"
    assert result.poster.read_bytes()[:2] == b"\xff\xd8"
    assert (result.poster_width, result.poster_height) == (320, 240)
    assert result.source.width == 640


def test_transcode_progress_is_monotone_and_reaches_one(transcoded):
    _result, _out, seen = transcoded
    assert seen and seen[-1] == 1.0
    assert all(0.0 <= x <= 1.0 for x in seen)
    assert all(a <= b for a, b in zip(seen, seen[1:], strict=False))
    assert seen.count(1.0) == 1


def test_transcode_without_audio(media, tmp_path):
    result = transcode(media["silent"], tmp_path / "out")
    for rendition in result.renditions:
        info = probe(rendition.path)
        assert not info.has_audio and info.height == rendition.height
    assert [r.height for r in result.renditions] == [360, 240]


def test_small_source_is_not_upscaled(media, tmp_path):
    result = transcode(media["small"], tmp_path / "out")
    assert [(r.width, r.height) for r in result.renditions] == [(320, 240), (320, 240)]


def test_plan_builds_the_expected_ffmpeg_arguments(media, tmp_path):
    info = probe(media["main"])
    jobs = transcoding.plan(media["main"], tmp_path, info, binary="ffmpeg")
    assert [j.name for j in jobs] == ["360p", "240p", "poster"]
    assert abs(sum(j.weight for j in jobs) - 1) < 1e-9
    args = jobs[0].args
    expected = [("-c:v", "libx264"), ("-maxrate", "400k"), ("-b:a", "48k"), ("-ac", "1"),
                ("-preset", "veryfast"),
                ("-movflags", "+faststart"), ("-force_key_frames", "expr:gte(t,n_forced*3)"),
                ("-protocol_whitelist", "file")]  # fmt: skip
    for flag, value in expected:
        assert args[args.index(flag) + 1] == value
    assert "scale=-2:360" in " ".join(args) and "scale=-2:240" in " ".join(jobs[1].args)
    assert jobs[1].args[jobs[1].args.index("-maxrate") + 1] == "180k"
    assert "-crf" in args and "-b:v" not in args
    assert all(j.temp.parent == tmp_path and j.temp.name.endswith(".part") for j in jobs)


def test_callback_that_raises_stops_ffmpeg_and_leaves_no_files(media, tmp_path):
    out = tmp_path / "out"

    class Stop(Exception):
        pass

    def stop_midway(fraction):
        if fraction > 0.3:
            raise Stop

    with pytest.raises(Stop):
        transcode(media["main"], out, stop_midway)
    assert list(out.iterdir()) == []


def test_failing_ffmpeg_raises_transcode_error_with_stderr(media, tmp_path):
    """A wrapper that lets probes through but fails every encode (they carry -progress)."""
    wrapper = tmp_path / "ffmpeg-fails"
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        for a in "$@"; do
          if [ "$a" = "-progress" ]; then echo "Conversion failed: simulated disk error" >&2; exit 1; fi
        done
        exec "{ffmpeg_binary(None)}" "$@"
        """))  # fmt: skip
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "out"
    with pytest.raises(TranscodeError) as err:
        transcode(media["main"], out, binary=str(wrapper))
    assert "simulated disk error" in err.value.stderr_tail
    assert "simulated disk error" in str(err.value)
    assert list(out.iterdir()) == []


def test_missing_binary_is_a_transcode_error(media, tmp_path):
    with pytest.raises(TranscodeError, match="找不到 ffmpeg"):
        transcode(media["main"], tmp_path, binary=str(tmp_path / "no-such-ffmpeg"))


def test_killed_worker_leaves_nothing_under_final_names(tmp_path):
    """SIGKILL the whole worker (Python and its ffmpeg) while the first rendition is encoding."""
    src = make_video(tmp_path / "long.mp4", seconds=20, size="640x480")
    out = tmp_path / "out"
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "from xuetang.video.transcode import transcode\n"
        "transcode(sys.argv[2], sys.argv[3])\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", script, str(ROOT / "platform"), str(src), str(out)],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            partials = list(out.glob(".xt-*.part")) if out.exists() else []
            if any(p.stat().st_size > 0 for p in partials if p.exists()):
                break
            assert worker.poll() is None, "the worker finished before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("no partial output appeared")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    time.sleep(0.1)
    names = {p.name for p in out.iterdir()}
    assert not names & FINAL_NAMES
    assert names and all(n.startswith(".xt-") and n.endswith(".part") for n in names)
    assert remove_partials(out)
    assert list(out.iterdir()) == []


def test_modules_import_without_flask_or_peewee():
    """Import the video package with a stub `xuetang` (whose real __init__ builds the Flask app)."""
    code = textwrap.dedent(
        """\
        import sys, types, warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        stub = types.ModuleType("xuetang")
        stub.__path__ = [sys.argv[1]]
        sys.modules["xuetang"] = stub
        import xuetang.video.chunks, xuetang.video.probe, xuetang.video.ranges, xuetang.video.transcode
        bad = [m for m in ("flask", "peewee", "werkzeug") if m in sys.modules]
        assert not bad, bad
        """
    )
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "platform" / "xuetang")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_box_walk_is_bounded_on_crafted_files(tmp_path):
    crafted = tmp_path / "many.mp4"
    crafted.write_bytes(_box(b"ftyp", b"isom") + _box(b"free") * 20_000 + _box(b"moov") + _box(b"mdat"))
    assert not moov_before_mdat(crafted)  # gave up before reaching moov
    with pytest.raises(NotAVideo):
        probe(crafted)


def test_ffmpeg_past_its_time_budget_is_killed(media, tmp_path):
    """Issue 10, Low 11: a budget proportional to the duration; past it ffmpeg dies."""
    pid_file = tmp_path / "ffmpeg.pid"
    out = tmp_path / "out"
    budget = transcoding.TimeBudget(base_s=0.2, per_s=0)
    with pytest.raises(transcoding.TranscodeTimeout, match="转码超时"):
        transcode(media["main"], out, binary=stalling_ffmpeg(tmp_path, pid_file), budget=budget)
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)
    assert list(out.iterdir()) == []


def test_time_budget_grows_with_the_duration():
    budget = transcoding.TimeBudget(base_s=120, per_s=4)
    assert budget.seconds(Decimal(0)) == 120 and budget.seconds(Decimal("3600")) == 120 + 14400
