"""Resumable chunked uploads, assembled on the filesystem (no web framework, no database).

The caller owns `staging_root`, a directory outside anything served publicly. Each upload gets a
directory named by a server-generated token (32 lowercase hex characters; any other token is
refused before a path is built, so no user string ever becomes a path):

    staging_root/<token>/manifest.json   small JSON: sizes, received bytes, next index, filename
    staging_root/<token>/chunks.sha256   the SHA-256 of every received chunk, fixed-width lines
    staging_root/<token>/data.part       the bytes received so far, in order
    staging_root/<token>/data            the assembled file, after finish()
    staging_root/<token>/.lock           flock, so concurrent requests for one upload serialise

Chunks are numbered from 0 and have exactly `chunk_size` bytes, except the last, which has the
rest. They must arrive in order; a client that lost its connection asks `status` for
`next_index` and continues from there. Re-sending an already received chunk with the same
checksum is acknowledged without writing anything (the client may not have seen the answer).

Crash safety: the manifest is the only truth. A chunk is appended to data.part and its checksum
to chunks.sha256, both fsynced, and only then is the manifest replaced atomically (temp file,
fsync, os.replace). If the process dies in between, the extra bytes past what the manifest says
are cut off by the next receive, so a chunk is never counted twice or half.

A full disk (ENOSPC, EDQUOT) while starting or receiving removes the upload's directory and
raises DiskFull: its space is given back and no half-received file stays behind to resume from.

The chunk checksums live in a sidecar file rather than in the JSON so that a 2 GB upload in
small chunks costs O(1) work per chunk instead of rewriting a growing manifest each time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from xuetang.video.media_store import is_disk_full

MANIFEST = "manifest.json"
HASHES = "chunks.sha256"
PART = "data.part"
ASSEMBLED = "data"
LOCK = ".lock"
HASH_LINE = 65  # 64 hex digits and a newline
MAX_CHUNKS = 100_000
MAX_FILENAME = 255
_TOKEN_RE = re.compile(r"[0-9a-f]{32}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


class UploadError(Exception):
    """The request cannot be accepted; `message` is Chinese and fit to show to the uploader."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class DiskFull(UploadError):
    """The disk under staging_root is full: the upload was removed to give its space back."""

    def __init__(self):
        super().__init__("服务器存储空间不足，本次上传未能保存，已接收的部分已清理。"
                         "请联系管理员释放空间后重新上传。")


@dataclass(frozen=True)
class UploadSession:
    """The manifest of one upload."""

    token: str
    total_size: int
    chunk_size: int
    received: int  # bytes appended and confirmed
    next_index: int  # the chunk expected next
    filename: str  # as the uploader's browser named it: display only, never a path
    created: float  # epoch seconds
    finished: bool = False

    @property
    def chunk_count(self) -> int:
        return -(-self.total_size // self.chunk_size)

    def chunk_length(self, index: int) -> int:
        if index < self.chunk_count - 1:
            return self.chunk_size
        return self.total_size - self.chunk_size * (self.chunk_count - 1)


@dataclass(frozen=True)
class Progress:
    token: str
    total_size: int
    chunk_size: int
    chunk_count: int
    received_bytes: int
    next_index: int  # == chunk_count when every chunk has arrived
    filename: str
    duplicate: bool = False  # this answer acknowledges a chunk that had already been received

    @property
    def complete(self) -> bool:
        return self.received_bytes == self.total_size

    @property
    def fraction(self) -> float:
        return self.received_bytes / self.total_size


def _session_dir(staging_root: str | os.PathLike, token: str) -> Path:
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise UploadError("上传会话无效，请重新开始上传。")
    return Path(staging_root) / token


def _clean_filename(filename: str | None) -> str:
    text = unicodedata.normalize("NFC", filename or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    return text.strip()[:MAX_FILENAME]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_manifest(directory: Path, session: UploadSession) -> None:
    data = {
        "version": 1,
        "total_size": session.total_size,
        "chunk_size": session.chunk_size,
        "received": session.received,
        "next_index": session.next_index,
        "filename": session.filename,
        "created": session.created,
        "finished": session.finished,
    }
    temp = directory / f".{MANIFEST}.{secrets.token_hex(4)}.tmp"
    with temp.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, directory / MANIFEST)
    _fsync_dir(directory)


def _read_manifest(directory: Path, token: str) -> UploadSession:
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return UploadSession(
            token=token,
            total_size=int(data["total_size"]),
            chunk_size=int(data["chunk_size"]),
            received=int(data["received"]),
            next_index=int(data["next_index"]),
            filename=str(data["filename"]),
            created=float(data["created"]),
            finished=bool(data.get("finished", False)),
        )
    except FileNotFoundError:
        raise UploadError("上传会话不存在或已过期，请重新开始上传。") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UploadError("上传会话记录已损坏，请重新开始上传。") from exc


def _progress(session: UploadSession, duplicate: bool = False) -> Progress:
    return Progress(
        token=session.token,
        total_size=session.total_size,
        chunk_size=session.chunk_size,
        chunk_count=session.chunk_count,
        received_bytes=session.received,
        next_index=session.next_index,
        filename=session.filename,
        duplicate=duplicate,
    )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    if not directory.is_dir():
        raise UploadError("上传会话不存在或已过期，请重新开始上传。")
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def start(
    staging_root: str | os.PathLike,
    total_size: int,
    max_bytes: int,
    chunk_size: int,
    filename: str | None = None,
) -> str:
    """Open an upload of total_size bytes in chunks of chunk_size; return its token."""
    if type(total_size) is not int or total_size <= 0:
        raise UploadError("文件大小无效：文件不能为空。")
    if total_size > max_bytes:
        raise UploadError(
            f"文件过大：{total_size / 1024**2:.1f} MB，上限为 {max_bytes / 1024**2:.0f} MB。"
        )
    if type(chunk_size) is not int or chunk_size <= 0:
        raise ValueError("chunk_size must be a positive int")
    if -(-total_size // chunk_size) > MAX_CHUNKS:
        raise UploadError("分片过小：分片数量超过上限，请使用更大的分片。")
    token = secrets.token_hex(16)
    directory = Path(staging_root) / token
    with _space_given_back(directory):
        directory.mkdir(parents=True, mode=0o700)
        (directory / PART).touch(mode=0o600)
        (directory / HASHES).touch(mode=0o600)
        session = UploadSession(
            token=token,
            total_size=total_size,
            chunk_size=chunk_size,
            received=0,
            next_index=0,
            filename=_clean_filename(filename),
            created=time.time(),
        )
        _write_manifest(directory, session)
    return token


@contextlib.contextmanager
def _space_given_back(directory: Path):
    """On a full disk, remove the upload and raise DiskFull: a full disk stays full for a while,
    so a half-received upload that cannot finish only holds the space; the uploader starts again
    later."""
    try:
        yield
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        shutil.rmtree(directory, ignore_errors=True)
        raise DiskFull() from exc


def load(staging_root: str | os.PathLike, token: str) -> UploadSession:
    """The manifest of an upload (UploadError if the token is invalid or unknown)."""
    directory = _session_dir(staging_root, token)
    return _read_manifest(directory, token)


def chunk_hashes(staging_root: str | os.PathLike, token: str) -> list[str]:
    """SHA-256 (hex) of each received chunk, in order."""
    directory = _session_dir(staging_root, token)
    session = _read_manifest(directory, token)
    with (directory / HASHES).open("rb") as f:
        raw = f.read(session.next_index * HASH_LINE)
    return [raw[i : i + 64].decode("ascii") for i in range(0, len(raw), HASH_LINE)]


def _stored_hash(directory: Path, index: int) -> str:
    with (directory / HASHES).open("rb") as f:
        f.seek(index * HASH_LINE)
        return f.read(64).decode("ascii", "replace")


def _append(path: Path, keep: int, data: bytes) -> None:
    """Cut path to `keep` bytes (dropping anything a crash left past it), append data, fsync."""
    with path.open("r+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < keep:
            raise UploadError("上传数据不完整（服务器端文件短于记录），请重新开始上传。")
        f.truncate(keep)
        f.seek(keep)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def receive(
    staging_root: str | os.PathLike, token: str, index: int, data: bytes, sha256_hex: str
) -> Progress:
    """Accept chunk `index` (bytes `data`, whose SHA-256 the client computed as sha256_hex).

    It must be the next expected chunk; an earlier one with the same checksum is acknowledged
    (Progress.duplicate) without writing. Errors (nothing is written): a later chunk than
    expected, a checksum that does not match the data, a chunk of the wrong length or past the
    declared size, an upload already finished.
    """
    directory = _session_dir(staging_root, token)
    if type(index) is not int or index < 0:
        raise UploadError("分片序号无效。")
    if not isinstance(sha256_hex, str) or not _SHA256_RE.fullmatch(sha256_hex):
        raise UploadError("分片校验值格式错误（应为 64 位十六进制 SHA-256）。")
    digest = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(digest, sha256_hex.lower()):
        raise UploadError(f"分片 {index} 校验失败（SHA-256 不一致），数据可能在传输中损坏，请重传该分片。")
    with _locked(directory):
        session = _read_manifest(directory, token)
        if index < session.next_index:
            if hmac.compare_digest(_stored_hash(directory, index), digest):
                return _progress(session, duplicate=True)
            raise UploadError(f"分片 {index} 已接收，但内容与之前不同，请从第 {session.next_index} 片继续。")
        if session.finished:
            raise UploadError("该上传已完成，不能再追加分片。")
        if index >= session.chunk_count:
            raise UploadError("分片超出声明的文件大小。")
        if index > session.next_index:
            raise UploadError(f"分片顺序错误：应上传第 {session.next_index} 片，收到第 {index} 片。")
        expected = session.chunk_length(index)
        if session.received + len(data) > session.total_size:
            raise UploadError("分片超出声明的文件大小。")
        if len(data) != expected:
            raise UploadError(f"分片 {index} 大小错误：应为 {expected} 字节，收到 {len(data)} 字节。")
        with _space_given_back(directory):
            _append(directory / PART, session.received, data)
            _append(directory / HASHES, index * HASH_LINE, (digest + "\n").encode("ascii"))
            session = replace(session, received=session.received + len(data), next_index=index + 1)
            _write_manifest(directory, session)
        return _progress(session)


def status(staging_root: str | os.PathLike, token: str) -> Progress:
    """Where an upload stands, so a client can resume from Progress.next_index."""
    directory = _session_dir(staging_root, token)
    return _progress(_read_manifest(directory, token))


def finish(staging_root: str | os.PathLike, token: str) -> Path:
    """The assembled file (staging_root/<token>/data) once every chunk has arrived.

    Idempotent. The caller probes it and moves it away (or calls discard) when done with it.
    """
    directory = _session_dir(staging_root, token)
    with _locked(directory):
        session = _read_manifest(directory, token)
        assembled = directory / ASSEMBLED
        if session.finished:
            return assembled
        if session.received != session.total_size:
            raise UploadError(
                f"上传尚未完成：已接收 {session.received} / {session.total_size} 字节，"
                f"请从第 {session.next_index} 片继续。"
            )
        part = directory / PART
        with part.open("r+b") as f:
            f.truncate(session.total_size)  # drop bytes a crash may have left past the end
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, assembled)
        _write_manifest(directory, replace(session, finished=True))
        return assembled


def discard(staging_root: str | os.PathLike, token: str) -> None:
    """Remove an upload and everything in its staging directory (no error if already gone)."""
    directory = _session_dir(staging_root, token)
    shutil.rmtree(directory, ignore_errors=True)


def expire(staging_root: str | os.PathLike, max_age_seconds: float, now: float | None = None) -> list[str]:
    """Discard uploads created more than max_age_seconds ago (abandoned ones); return their tokens.

    Only directories whose names are valid tokens are considered."""
    now = time.time() if now is None else now
    root = Path(staging_root)
    if not root.is_dir():
        return []
    removed = []
    for entry in root.iterdir():
        if not (entry.is_dir() and _TOKEN_RE.fullmatch(entry.name)):
            continue
        try:
            created = _read_manifest(entry, entry.name).created
        except UploadError:
            created = entry.stat().st_mtime
        if now - created > max_age_seconds:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed
