"""Face enrolment and checks with real dlib models on the fixture frames (no mocks)."""

import io
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from tests.support.fakecam import make_y4m
from tests.support.paths import FACES
from xuetang.face import analysis
from xuetang.face.analysis import ImageRejected, Limits

GOOD = ["a_enroll", "a_webcam", "b_enroll", "b_webcam"]


def raw(name: str) -> bytes:
    return (FACES / f"{name}.jpg").read_bytes()


def image(name: str) -> Image.Image:
    return Image.open(FACES / f"{name}.jpg")


def jpeg(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=90, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good():
    """Analyses of the four good fixtures, computed once for the module."""
    return {name: analysis.analyse(raw(name)) for name in GOOD}


# --- quality -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD)
def test_good_fixtures_pass_quality(good, name):
    result = good[name]
    assert result.ok, result.problems
    assert result.face_count == 1 and result.problems == ()
    assert result.descriptor.shape == (128,) and result.descriptor.dtype == np.float64
    assert 50 < result.luminance < 220
    assert result.sharpness > Limits().min_sharpness


def test_small_frame_is_scaled_up_so_its_face_is_found(good):
    # a_webcam is 320x240 with a 76 px face: below the detector's 80 px window, found at the
    # level of dlib's doubled pyramid that finds 60 px faces (2 * 5/6 * 5/6).
    assert good["a_webcam"].detect_scale == pytest.approx(2 * (5 / 6) ** 2)
    assert good["a_webcam"].image_size == (320, 240)


def assert_only(result, code):
    assert result.codes == [code]
    assert result.descriptor is None and not result.ok
    assert result.problems[0].message == analysis.PROBLEM_MESSAGES[code]


def test_no_face():
    result = analysis.analyse(raw("no_face_cat"))
    assert_only(result, "no_face")
    assert result.face_count == 0
    assert result.problems[0].message.startswith("未检测到人脸")


def test_multiple_faces():
    result = analysis.analyse(raw("two_faces"))
    assert_only(result, "multiple_faces")
    assert result.face_count == 2 and len(result.boxes) == 2 and result.box is None


def test_too_dark():
    result = analysis.analyse(raw("a_dark"))
    assert_only(result, "too_dark")
    assert result.face_count == 1 and result.luminance < 30


def test_too_bright():
    result = analysis.analyse(jpeg(ImageEnhance.Brightness(image("a_enroll")).enhance(1.7)))
    assert_only(result, "too_bright")
    assert result.luminance > 220


def test_blurred_fixture_is_reported_as_blurred_not_as_no_face():
    # a_blurred.jpg is so soft that the HOG detector finds nothing, even doubled: issue 9 asks
    # for the hint that helps (hold still, wipe the lens), not "no face".
    result = analysis.analyse(raw("a_blurred"))
    assert_only(result, "blurred")
    assert result.detect_scale == 2.0 and result.face_count == 0


@pytest.mark.parametrize(("name", "radius"), [("a_enroll", 2), ("a_webcam", 1), ("b_webcam", 2)])
def test_blurred_face_is_found_but_rejected(name, radius):
    result = analysis.analyse(jpeg(image(name).filter(ImageFilter.GaussianBlur(radius))))
    assert_only(result, "blurred")
    assert result.face_count == 1 and result.sharpness < Limits().min_sharpness


def test_face_too_small():
    frame = image("a_webcam")
    small = frame.resize((frame.width // 2, frame.height // 2), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", frame.size, (128, 128, 128))
    canvas.paste(small, (frame.width // 4, frame.height // 4))
    result = analysis.analyse(jpeg(canvas))
    assert_only(result, "face_too_small")  # not also "blurred": the size hint is the useful one
    assert result.box[2] - result.box[0] < 60


@pytest.mark.parametrize(("side", "faces"), [(36, 1), (56, 2)])
def test_a_second_face_counts_from_about_the_smallest_accepted_size(side, faces):
    # b's face (136 px in b_webcam) pasted at `side` px into a corner of a_webcam (76 px face).
    # The frame is scaled for the detector to find min_face_px (60) faces, which finds some
    # smaller ones too; a face far smaller than any the rules accept is not a second face.
    head = image("b_webcam").crop((40, 40, 236, 236))
    px = round(196 * side / 136)
    frame = image("a_webcam")
    frame.paste(head.resize((px, px), Image.Resampling.LANCZOS), (frame.width - px, 10))
    result = analysis.analyse(jpeg(frame))
    assert result.face_count == faces
    assert result.codes == ([] if faces == 1 else ["multiple_faces"])


def test_face_size_limit_is_configurable(good):
    assert good["a_webcam"].ok
    result = analysis.analyse(raw("a_webcam"), limits=Limits(min_face_px=100))
    assert result.codes == ["face_too_small"]


def test_large_photo_is_downsized_before_detection():
    big = image("a_enroll").resize((1920, 1440), Image.Resampling.LANCZOS)
    result = analysis.analyse(jpeg(big))
    assert result.ok and result.image_size == (640, 480) and result.detect_scale == 1.0
    assert analysis.analyse(raw("a_enroll"), max_side=320).image_size == (320, 240)


def test_exif_orientation_is_applied():
    # Phones store photos sideways plus an EXIF Orientation tag (6: rotate 90° clockwise to view).
    sideways = image("a_enroll").rotate(90, expand=True)
    assert analysis.analyse(jpeg(sideways)).codes == ["no_face"]
    exif = Image.Exif()
    exif[0x0112] = 6
    result = analysis.analyse(jpeg(sideways, exif=exif))
    assert result.ok and result.image_size == (480, 360)


# --- rejected input ------------------------------------------------------------------------------


def rejected(data: bytes, **kwargs) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        analysis.analyse(data, **kwargs)
    assert str(info.value) == analysis.REJECT_MESSAGES[info.value.code]
    return info.value


def test_png_is_rejected():
    buf = io.BytesIO()
    image("a_enroll").save(buf, "PNG")
    err = rejected(buf.getvalue())
    assert err.code == "not_jpeg" and "JPEG" in str(err)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"GIF89a not really", "not_jpeg"),
        (bytes(range(256)) * 8, "not_jpeg"),
        (b"\xff\xd8\xff\xe0" + b"\x00garbage" * 100, "corrupt"),
    ],
)
def test_garbage_is_rejected(data, code):
    assert rejected(data).code == code


def test_truncated_jpeg_is_rejected():
    data = raw("b_enroll")
    assert rejected(data[: len(data) // 2]).code == "corrupt"


def test_oversized_bytes_are_rejected_before_decoding():
    assert rejected(raw("a_enroll"), limits=Limits(max_bytes=10_000)).code == "too_large"
    padded = raw("a_webcam") + b"\x00" * (Limits().max_bytes)
    assert rejected(padded).code == "too_large"


def with_header_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its SOF header claiming another size (a decompression bomb, cheaply)."""
    pos = 2
    while pos < len(data):
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            sof = data[pos + 5 : pos + 9]
            assert sof != b"\x00" * 4
            return data[: pos + 5] + struct.pack(">HH", height, width) + data[pos + 9 :]
        pos += 2 + length
    raise AssertionError("no SOF marker")


@pytest.mark.parametrize("side", [7_000, 10_000, 20_000])  # ours, Pillow's warning, Pillow's error
def test_oversized_pixel_dimensions_are_rejected(side):
    bomb = with_header_size(raw("a_webcam"), side, side)
    assert rejected(bomb).code == "too_many_pixels"


def test_pixel_limit_is_configurable():
    assert rejected(raw("a_enroll"), limits=Limits(max_pixels=100_000)).code == "too_many_pixels"


def test_non_bytes_is_a_type_error():
    with pytest.raises(TypeError):
        analysis.analyse(str(FACES / "a_enroll.jpg"))


# --- matching ------------------------------------------------------------------------------------


def test_same_person_passes(good):
    match = analysis.compare(good["a_webcam"].descriptor, [good["a_enroll"].descriptor])
    assert match.passed and not match.suspicious_replay
    assert 0.1 < match.distance < 0.3  # fixture README: 0.18
    assert analysis.compare(good["b_webcam"].descriptor, [good["b_enroll"].descriptor]).passed


@pytest.mark.parametrize(("probe", "ref"), [("b_webcam", "a_enroll"), ("a_webcam", "b_enroll")])
def test_other_person_fails(good, probe, ref):
    match = analysis.compare(good[probe].descriptor, [good[ref].descriptor])
    assert not match.passed
    assert match.distance > 0.6  # fixture README: 0.70
    assert match.threshold == analysis.DEFAULT_THRESHOLD == 0.5


def test_compare_takes_the_closest_reference(good):
    refs = [good["b_enroll"].descriptor, good["a_enroll"].descriptor]
    match = analysis.compare(good["a_webcam"].descriptor, refs)
    assert match.best_index == 1 and match.passed


def test_threshold_is_configurable(good):
    match = analysis.compare(good["a_webcam"].descriptor, [good["a_enroll"].descriptor], threshold=0.1)
    assert not match.passed


def test_replayed_enrolment_photo_is_suspicious(good):
    again = analysis.analyse(raw("a_enroll"))
    match = analysis.compare(again.descriptor, [good["a_enroll"].descriptor])
    assert match.distance < 1e-6 and match.passed and match.suspicious_replay


def test_compare_rejects_bad_descriptors(good):
    with pytest.raises(ValueError):
        analysis.compare(good["a_webcam"].descriptor, [])
    with pytest.raises(ValueError):
        analysis.compare(np.zeros(64), [good["a_enroll"].descriptor])
    with pytest.raises(ValueError):
        analysis.compare(np.full(128, np.nan), [good["a_enroll"].descriptor])


def test_descriptor_bytes_round_trip(good):
    descriptor = good["a_enroll"].descriptor
    data = analysis.descriptor_to_bytes(descriptor)
    assert isinstance(data, bytes) and len(data) == 512
    assert data[:4] == struct.pack("<f", descriptor[0])
    back = analysis.descriptor_from_bytes(data)
    assert back.shape == (128,) and back.dtype == np.float64
    np.testing.assert_allclose(back, descriptor, atol=1e-6)
    assert analysis.descriptor_to_bytes(back) == data
    probe = good["a_webcam"].descriptor
    distances = [analysis.compare(probe, [d]).distance for d in (back, descriptor)]
    assert abs(distances[0] - distances[1]) < 1e-6
    with pytest.raises(ValueError):
        analysis.descriptor_from_bytes(data[:-1])


# --- concurrency and packaging -------------------------------------------------------------------


def test_engine_is_a_singleton_across_threads():
    engines = []
    threads = [threading.Thread(target=lambda: engines.append(analysis.get_engine())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(engines) == 4 and all(e is analysis.get_engine() for e in engines)


def test_analyse_from_four_threads_gives_identical_descriptors(good):
    names = ["a_webcam", "b_webcam", "a_enroll", "b_enroll"]
    start = threading.Barrier(4)
    results: dict[tuple[int, str], np.ndarray] = {}
    errors = []

    def work(worker: int):
        try:
            start.wait()
            for name in names[worker:] + names[:worker]:  # different order in each thread
                results[worker, name] = analysis.analyse(raw(name)).descriptor
        except Exception as err:  # reported in the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 16
    for (_, name), descriptor in results.items():
        assert np.array_equal(descriptor, good[name].descriptor), name


def test_face_module_imports_without_flask_or_peewee():
    # The xuetang package __init__ builds the Flask app, so stand in a bare package for it.
    code = (
        "import sys, types\n"
        "sys.modules['flask'] = None\n"
        "sys.modules['peewee'] = None\n"
        "pkg = types.ModuleType('xuetang')\n"
        f"pkg.__path__ = [{str(Path(analysis.__file__).parents[1])!r}]\n"
        "sys.modules['xuetang'] = pkg\n"
        "import xuetang.face.analysis as f\n"
        "assert f.compare([0.0] * 128, [[0.0] * 128]).suspicious_replay\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- fake camera ---------------------------------------------------------------------------------


def test_make_y4m_writes_a_640x480_yuv420_stream(tmp_path):
    out = make_y4m(FACES / "a_enroll.jpg", tmp_path / "a.y4m")
    assert out.is_absolute() and out.exists()
    data = out.read_bytes()
    header = data[: data.index(b"\n")].split(b" ")
    assert header[0] == b"YUV4MPEG2"
    assert b"W640" in header and b"H480" in header and b"F15:1" in header
    assert any(field.startswith(b"C420") for field in header)
    frames = data.count(b"FRAME\n")
    assert frames == 15
    assert len(data) == len(b" ".join(header)) + 1 + frames * (6 + 640 * 480 * 3 // 2)
