"""Video building blocks for weak connections: no Flask, no peewee.

- `ffmpeg`: find the binary, probe an upload (`probe`, `NotAVideo`), transcode it into small
  faststart H.264/AAC renditions plus a poster (`transcode`, `TranscodeError`), check that the
  MP4 index comes first (`moov_before_mdat`).
- `ranges`: HTTP Range / If-Range evaluation (RFC 9110), pure functions.
- `chunks`: resumable chunked upload assembly on the filesystem.

Each module stands alone (no imports between them) and imports only the standard library, and
`ffmpeg` additionally ffmpeg-python and imageio-ffmpeg.
"""
