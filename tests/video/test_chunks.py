"""Resumable chunked uploads: order, idempotent retries, checksums, sizes, crash leftovers."""

import hashlib
import json
import os

import pytest

from xuetang.video import chunks
from xuetang.video.chunks import UploadError, discard, finish, receive, start, status

MB = 1024 * 1024
CHUNK = 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pieces(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture
def payload():
    return os.urandom(4500)  # 4 full chunks and a 500-byte tail


@pytest.fixture
def root(tmp_path):
    return tmp_path / "staging"


def test_upload_interrupted_then_resumed_is_byte_exact(root, payload):
    token = start(root, len(payload), max_bytes=MB, chunk_size=CHUNK, filename="第1讲 导论.mp4")
    assert len(token) == 32 and int(token, 16) >= 0
    parts = pieces(payload)
    for i, part in enumerate(parts[:2]):
        progress = receive(root, token, i, part, sha(part))
        assert progress.next_index == i + 1 and not progress.complete
    # the connection drops; later the client asks where to continue
    resumed = status(root, token)
    assert (resumed.received_bytes, resumed.next_index, resumed.chunk_count) == (2000, 2, 5)
    assert resumed.filename == "第1讲 导论.mp4" and resumed.fraction == pytest.approx(2000 / 4500)
    for i in range(resumed.next_index, len(parts)):
        progress = receive(root, token, i, parts[i], sha(parts[i]))
    assert progress.complete and progress.next_index == 5 and progress.received_bytes == 4500
    assembled = finish(root, token)
    assert assembled.read_bytes() == payload
    assert finish(root, token) == assembled  # idempotent
    assert chunks.chunk_hashes(root, token) == [sha(p) for p in parts]


def test_out_of_order_chunk_is_refused_and_nothing_written(root, payload):
    token = start(root, len(payload), MB, CHUNK)
    parts = pieces(payload)
    receive(root, token, 0, parts[0], sha(parts[0]))
    with pytest.raises(UploadError, match="分片顺序错误") as err:
        receive(root, token, 2, parts[2], sha(parts[2]))
    assert "第 1 片" in err.value.message
    assert status(root, token).received_bytes == 1000
    assert (root / token / "data.part").stat().st_size == 1000


def test_duplicate_chunk_is_acknowledged_without_writing_twice(root, payload):
    token = start(root, len(payload), MB, CHUNK)
    parts = pieces(payload)
    receive(root, token, 0, parts[0], sha(parts[0]))
    receive(root, token, 1, parts[1], sha(parts[1]))
    again = receive(root, token, 0, parts[0], sha(parts[0]))  # the answer to chunk 0 was lost
    assert again.duplicate and again.next_index == 2 and again.received_bytes == 2000
    assert (root / token / "data.part").stat().st_size == 2000
    with pytest.raises(UploadError, match="已接收，但内容与之前不同"):
        receive(root, token, 1, parts[2], sha(parts[2]))
    for i in range(2, len(parts)):
        receive(root, token, i, parts[i], sha(parts[i]))
    assert receive(root, token, 4, parts[4], sha(parts[4])).duplicate  # retried last chunk
    assert finish(root, token).read_bytes() == payload
    assert receive(root, token, 4, parts[4], sha(parts[4])).duplicate  # even after finish


def test_wrong_checksum_is_refused_and_nothing_appended(root, payload):
    token = start(root, len(payload), MB, CHUNK)
    part = pieces(payload)[0]
    corrupted = bytes([part[0] ^ 1]) + part[1:]
    with pytest.raises(UploadError, match="校验失败"):
        receive(root, token, 0, corrupted, sha(part))
    with pytest.raises(UploadError, match="校验值格式错误"):
        receive(root, token, 0, part, "not-a-sha")
    assert status(root, token).received_bytes == 0
    assert (root / token / "data.part").stat().st_size == 0
    assert receive(root, token, 0, part, sha(part).upper()).received_bytes == 1000


def test_sizes_are_enforced(root, payload):
    with pytest.raises(UploadError, match="文件过大"):
        start(root, MB + 1, max_bytes=MB, chunk_size=CHUNK)
    for bad in (0, -1):
        with pytest.raises(UploadError, match="文件大小无效"):
            start(root, bad, MB, CHUNK)
    with pytest.raises(UploadError, match="分片过小"):
        start(root, 10**9, 2 * 10**9, chunk_size=1)
    assert not root.exists() or list(root.iterdir()) == []

    token = start(root, len(payload), MB, CHUNK)
    parts = pieces(payload)
    with pytest.raises(UploadError, match="大小错误"):
        receive(root, token, 0, parts[0][:999], sha(parts[0][:999]))
    for i in range(4):
        receive(root, token, i, parts[i], sha(parts[i]))
    too_long = parts[4] + b"extra"  # the last chunk runs past the declared size
    with pytest.raises(UploadError, match="超出声明的文件大小"):
        receive(root, token, 4, too_long, sha(too_long))
    with pytest.raises(UploadError, match="超出声明的文件大小"):
        receive(root, token, 5, b"x", sha(b"x"))
    assert status(root, token).received_bytes == 4000


def test_finish_before_complete_is_refused(root, payload):
    token = start(root, len(payload), MB, CHUNK)
    part = pieces(payload)[0]
    receive(root, token, 0, part, sha(part))
    with pytest.raises(UploadError, match="上传尚未完成") as err:
        finish(root, token)
    assert "第 1 片" in err.value.message


@pytest.mark.parametrize("token", ["../../etc", "ABCDEF" * 6, "0" * 31, "0" * 33, "g" * 32, "", None, 7])
def test_tokens_that_are_not_ours_never_become_paths(root, token):
    for call in (lambda: status(root, token), lambda: receive(root, token, 0, b"x", sha(b"x")),
                 lambda: finish(root, token), lambda: discard(root, token)):  # fmt: skip
        with pytest.raises(UploadError, match="上传会话无效"):
            call()


def test_unknown_token_and_discard(root, payload):
    with pytest.raises(UploadError, match="不存在或已过期"):
        status(root, "0" * 32)
    token = start(root, len(payload), MB, CHUNK)
    discard(root, token)
    assert not (root / token).exists()
    discard(root, token)  # already gone: fine
    with pytest.raises(UploadError, match="不存在或已过期"):
        receive(root, token, 0, payload[:CHUNK], sha(payload[:CHUNK]))


def test_crash_between_append_and_manifest_is_repaired(root, payload):
    """Bytes appended by a process that died before updating the manifest are not counted."""
    token = start(root, len(payload), MB, CHUNK)
    parts = pieces(payload)
    receive(root, token, 0, parts[0], sha(parts[0]))
    with (root / token / "data.part").open("ab") as f:
        f.write(parts[1][:700])  # half-written chunk 1, manifest still says 1000 bytes
    with (root / token / "chunks.sha256").open("ab") as f:
        f.write(sha(parts[1])[:20].encode())
    assert status(root, token).next_index == 1
    for i in range(1, len(parts)):
        receive(root, token, i, parts[i], sha(parts[i]))
    assert finish(root, token).read_bytes() == payload
    assert chunks.chunk_hashes(root, token) == [sha(p) for p in parts]


def test_manifest_is_small_json_and_filename_is_display_only(root):
    token = start(root, 10, MB, 4, filename="../../evil\x00\n name.mp4")
    manifest = json.loads((root / token / "manifest.json").read_text())
    assert manifest["filename"] == "../../evil name.mp4"  # kept as text, control chars dropped
    assert manifest["total_size"] == 10 and manifest["chunk_size"] == 4 and manifest["received"] == 0
    assert sorted(p.name for p in (root / token).iterdir()) == ["chunks.sha256", "data.part", "manifest.json"]
    assert [p.name for p in root.iterdir()] == [token]


def test_single_chunk_upload_and_exact_multiple(root):
    data = b"abcd" * 3
    token = start(root, len(data), MB, chunk_size=4)
    for i, part in enumerate(pieces(data, 4)):
        receive(root, token, i, part, sha(part))
    assert finish(root, token).read_bytes() == data
    token = start(root, 3, MB, chunk_size=4)
    assert receive(root, token, 0, b"xyz", sha(b"xyz")).complete
    assert finish(root, token).read_bytes() == b"xyz"


def test_expire_removes_abandoned_uploads(root):
    old = start(root, 10, MB, 4)
    new = start(root, 10, MB, 4)
    manifest = root / old / "manifest.json"
    data = json.loads(manifest.read_text())
    data["created"] -= 7200
    manifest.write_text(json.dumps(data))
    (root / "not-a-token").mkdir()
    assert chunks.expire(root, max_age_seconds=3600) == [old]
    assert sorted(p.name for p in root.iterdir()) == sorted([new, "not-a-token"])


def test_concurrent_retries_of_one_chunk_append_it_once(root, payload):
    from concurrent.futures import ThreadPoolExecutor

    token = start(root, len(payload), MB, CHUNK)
    part = pieces(payload)[0]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: receive(root, token, 0, part, sha(part)), range(8)))
    assert sum(not a.duplicate for a in answers) == 1
    assert (root / token / "data.part").read_bytes() == part
