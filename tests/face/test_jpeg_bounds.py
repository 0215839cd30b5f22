"""Decoding work is bounded before and during the decode: pixels, scans, pixel-scans, time."""

import io

import pytest
from PIL import Image

from tests.support.faces import raw, repeated_scans
from xuetang.face.quality import ImageRejected, Limits, count_scans, decode_jpeg


def progressive(side: int) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(raw("a_enroll"))).resize((side, side)).save(
        buf, "JPEG", progressive=True)
    return buf.getvalue()


def test_repeated_progressive_scans_are_refused_before_decoding():
    data = repeated_scans(1000, 500)
    assert len(data) < 60 * 1024  # fits even the snapshot size limit
    with pytest.raises(ImageRejected) as err:
        decode_jpeg(data, 640, Limits())
    assert err.value.code == "too_many_scans" and "扫描" in str(err.value)


def test_a_few_extra_scans_stay_under_the_limit():
    assert decode_jpeg(repeated_scans(200, 5), 640, Limits()).shape == (200, 200, 3)


@pytest.mark.parametrize(("data", "scans"), [
    (raw("a_enroll"), 1),  # baseline, interleaved
    (progressive(300), 10),  # libjpeg's progressive script for colour
    (repeated_scans(100, 40), 50),
])
def test_scans_are_counted_by_walking_the_markers(data, scans):
    assert count_scans(data) == scans


def test_a_scan_hidden_in_an_app_segment_is_not_counted():
    data = raw("a_enroll")
    fake = b"\xff\xda" * 200
    app = b"\xff\xe9" + (len(fake) + 2).to_bytes(2, "big") + fake
    assert count_scans(data[:2] + app + data[2:]) == 1


def test_pixels_times_scans_is_bounded():
    data = progressive(1000)  # 10 scans of 1 MP
    assert decode_jpeg(data, 640, Limits()).shape[0] == 640
    with pytest.raises(ImageRejected) as err:
        decode_jpeg(data, 640, Limits(max_scan_pixels=5_000_000))
    assert err.value.code == "too_many_scans"


def test_a_decode_past_its_time_budget_is_refused():
    with pytest.raises(ImageRejected) as err:
        decode_jpeg(progressive(1000), 640, Limits(max_decode_seconds=-1))
    assert err.value.code == "too_slow" and "耗时" in str(err.value)
