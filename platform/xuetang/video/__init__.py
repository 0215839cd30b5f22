"""Video building blocks for weak connections: no Flask, no peewee.

- `probe`: find the ffmpeg binary, check an upload by content and describe it (`probe`,
  `MediaInfo`, `NotAVideo`, `TranscodeError`), check that the MP4 index comes first
  (`moov_before_mdat`).
- `transcode`: turn a probed source into small faststart H.264/AAC renditions plus a poster
  (`transcode`, `plan`, `RENDITIONS`), safe against a worker killed midway (`remove_partials`).
- `ranges`: HTTP Range / If-Range evaluation (RFC 9110), pure functions.
- `chunks`: resumable chunked upload assembly on the filesystem.
- `media_store`: where lecture files live under MEDIA_ROOT, and the only way a name becomes a path.

The modules import only the standard library and each other (`transcode` builds on `probe`);
`transcode` additionally uses ffmpeg-python, and `probe` imageio-ffmpeg when no ffmpeg is on PATH.
"""
