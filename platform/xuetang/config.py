"""Settings: documented defaults, overridden by environment variables, then by a test config."""

import os
import secrets
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# name -> (default, parser). Every setting can be overridden from the environment.
ENV_SETTINGS = {
    "DATABASE_URL": (None, str),  # default: sqlite file under instance/
    "MEDIA_ROOT": (str(REPO_ROOT / "media"), str),
    "BACKUP_ROOT": (None, str),  # default: instance/backups (`flask backup`)
    "SESSION_COOKIE_SECURE": (False, lambda v: v.lower() in ("1", "true", "yes")),
    "RATELIMIT_STORAGE_URI": ("memory://", str),
    "SIGNIN_RATE_LIMIT": ("10 per minute", str),  # per client address
    # Per typed identifier (any address): this many failures free, then a lock that doubles.
    "SIGNIN_FREE_FAILURES": (5, int),
    "SIGNIN_LOCK_BASE_S": (30, int),
    "SIGNIN_LOCK_MAX_S": (900, int),
    "ACTIVATION_CODE_DAYS": (30, int),  # an imported person's one-time first sign-in code
    # Per account: opening lecture uploads, their chunks (1 MB each), roster files checked.
    "UPLOAD_START_RATE_LIMIT": ("30 per hour", str),
    "UPLOAD_CHUNK_RATE_LIMIT": ("1200 per minute", str),
    "ROSTER_IMPORT_RATE_LIMIT": ("30 per hour", str),
    # Per client address: public certificate verifications (/verify/<code>); codes are 80 random
    # bits, so the limit is against scraping and load, not against guessing.
    "VERIFY_RATE_LIMIT": ("30 per minute", str),
    "NOTICE_ATTACHMENT_MAX_BYTES": (10 * 1024**2, int),  # a notice's PDF/DOCX/XLSX attachment
    "NOTICE_UPLOAD_RATE_LIMIT": ("30 per hour", str),  # per account
    # A person-by-person export of more registered people than this runs as a background job
    # with a progress page (services/exports.py); its file is kept this many hours; a job that
    # reports no progress for EXPORT_STALE_S is shown as interrupted.
    "EXPORT_BACKGROUND_ROWS": (20_000, int),
    "EXPORT_KEEP_HOURS": (24, int),
    "EXPORT_STALE_S": (900, int),
    "FFMPEG_BINARY": (None, str),
    "MAX_UPLOAD_BYTES": (2 * 1024**3, int),
    # A lecture longer or larger than this is refused at upload (renditions are 360p at most).
    "MAX_LECTURE_SECONDS": (3 * 3600, int),
    "MAX_LECTURE_PIXELS": (3840 * 2160, int),
    # ffmpeg is killed past TRANSCODE_BASE_S + TRANSCODE_S_PER_S × the lecture's seconds.
    "TRANSCODE_BASE_S": (120, int),
    "TRANSCODE_S_PER_S": (4, int),  # ~0.2 s/s measured at 640x480 (docs/performance.md)
    # A transcode whose worker runs on another host and has not reported progress for this long
    # is taken to be dead, and a job worker that starts then runs it again (jobs.transcode).
    "TRANSCODE_STALE_S": (600, int),
    "UPLOAD_CHUNK_BYTES": (1024**2, int),  # one chunk per request; a dropped link loses at most one
    # A media response whose reader takes nothing for this long is dropped (frees the thread).
    "MEDIA_SEND_TIMEOUT_S": (20, int),
    "MEDIA_ACCEL_REDIRECT": ("", str),
    # The player's rendition links are signed and expire (xuetang.video.links): checked by the
    # app without a database query, or by nginx's secure_link with the same secret (set it
    # explicitly then; empty: derived from SECRET_KEY). A player refreshes an expired link.
    "MEDIA_LINK_SECRET": ("", str),
    "MEDIA_LINK_SECONDS": (4 * 3600, int),  # e.g. /_media/: nginx serves the files (X-Accel-Redirect)
    "HUEY_BACKEND": ("sqlite", str),  # sqlite (a file, no server) | redis
    "HUEY_SQLITE_PATH": (str(REPO_ROOT / "instance" / "huey.sqlite3"), str),
    "HUEY_REDIS_URL": ("redis://127.0.0.1:6379/0", str),
    "HUEY_IMMEDIATE": (False, lambda v: v.lower() in ("1", "true", "yes")),  # run jobs inline (tests)
    "DEMO_MEDIA": (True, lambda v: v.lower() in ("1", "true", "yes")),  # make demo lectures with ffmpeg
    "PUBLIC_URL": ("", str),  # the address the home-screen QR code opens; default: this request's
    # Host names this site answers to, comma-separated (Flask refuses any other Host with 400);
    # unset, the QR code uses this request's address only for localhost or an IP address.
    # Reverse proxies in front of the app (nginx: 1) whose X-Forwarded-For/-Proto are believed.
    "TRUSTED_PROXIES": (0, int),
    "TRUSTED_HOSTS": (None, lambda v: [h.strip() for h in v.split(",") if h.strip()]),
    # Why 0.5 and not dlib's customary 0.6: 0.6 is known to accept different East-Asian faces
    # (dlib issues #480 and #2816), and our trainees are overwhelmingly Chinese. On the fixtures
    # the same person lands at 0.11-0.18 and different people at 0.69-0.72; different photos of
    # one real person typically land at 0.3-0.5, so 0.5 still admits them while refusing the
    # 0.5-0.6 band where look-alikes get in. Not validated on a real East-Asian data set: revisit
    # with the calibration page's distances. This is the installation default: the city admin
    # sets the threshold in force on the calibration page (services.face_settings).
    "FACE_MATCH_THRESHOLD": (0.5, float),
    "FACE_CHECK_DEADLINE_S": (60, int),  # seconds to post a snapshot after "check now"
    # A snapshot taken before the deadline but queued in the page while the link was down is
    # still accepted this long after the deadline.
    "FACE_CHECK_LATE_S": (180, int),
    "FACE_CHECK_MEAN_INTERVAL_S": (600, int),  # mean play time between random checks
    "FACE_SNAPSHOT_RETENTION_DAYS": (30, int),  # then snapshot images are deleted, rows kept
    "FACE_SNAPSHOT_MAX_BYTES": (60 * 1024, int),  # a 320x240 snapshot is 6-20 KB
    "FACE_CHECKS_FOR_PUBLIC": (False, lambda v: v.lower() in ("1", "true", "yes")),
    # Snapshots are analysed in this many processes beside each web worker (face/pool.py: dlib
    # holds the GIL, which stalled the worker's heartbeats); 0: in the web worker's own thread.
    # Beyond processes + FACE_ANALYSIS_WAITING snapshots in flight, or past the timeout, the
    # answer is a 503 that leaves the check open (the player sends the snapshot again).
    "FACE_ANALYSIS_PROCESSES": (1, int),
    "FACE_ANALYSIS_WAITING": (16, int),
    "FACE_ANALYSIS_TIMEOUT_S": (30.0, float),
    # The player's report interval while playing (also on pause, seek, end and page close). 30 s
    # halves the beats of 15 s and loses nothing the server acknowledged: each beat's step is
    # credited in full (PLAYBACK_TOLERANCE_MS + 10 % of the step absorb jitter), the open stretch
    # is committed with every beat, a face check rides on the answer of the beat that issues it,
    # and a face-checked session counts as silent only after two missed beats.
    "HEARTBEAT_SECONDS": (30, int),
    "PLAYBACK_MAX_RATE": ("1", str),  # fastest playback rate that still counts as watching
    "PLAYBACK_TOLERANCE_MS": (2000, int),  # network jitter allowed per heartbeat step
    "PASSWORD_HASH_METHOD": ("scrypt", str),  # werkzeug's method string; tests use a cheap one
    "PLAY_SESSIONS_PER_MINUTE": (10, int),  # a person opening more players than this is refused
    "TIMEZONE": ("Asia/Shanghai", str),  # the zone every page shows times in (stored in UTC)
}


def default(name: str):
    """A setting's documented default (for code that may run without an app)."""
    return ENV_SETTINGS[name][0]


def _secret_key(instance_path: Path) -> str:
    """Generate the secret key once and keep it in instance/, so restarts keep sessions."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load(instance_path: Path, test_config: dict | None) -> dict:
    """Build the config dict for create_app."""
    cfg: dict = {
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # token lives as long as the session
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,  # one request; big files arrive in chunks
        "MAX_JSON_BYTES": 64 * 1024,  # a heartbeat or a check request is well under 1 KB
        "RATELIMIT_HEADERS_ENABLED": True,
        # Flask-Compress (web/assets.py): brotli where offered (HTTPS), else gzip, which every
        # browser offers on plain HTTP too; pages, styles, scripts, JSON and SVG only.
        "COMPRESS_ALGORITHM": ["br", "gzip"],
        "COMPRESS_STREAMS": False,  # static files are buffered first (web/assets.py)
        "COMPRESS_BR_LEVEL": 6,  # 9 ms for htmx, 6 % smaller than gzip (4: larger than gzip)
        "COMPRESS_MIMETYPES": ["text/html", "text/css", "text/javascript", "application/javascript",
                               "application/json", "application/manifest+json", "image/svg+xml"],
    }
    for name, (default, parse) in ENV_SETTINGS.items():
        raw = os.environ.get(name)
        cfg[name] = parse(raw) if raw not in (None, "") else default
    if test_config:
        cfg.update(test_config)
    if not cfg.get("DATABASE_URL"):
        instance_path.mkdir(parents=True, exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{instance_path / 'xuetang.sqlite3'}"
    if not cfg.get("BACKUP_ROOT"):
        cfg["BACKUP_ROOT"] = str(instance_path / "backups")
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = os.environ.get("SECRET_KEY") or _secret_key(instance_path)
    cfg["SESSION_COOKIE_SECURE"] = bool(cfg["SESSION_COOKIE_SECURE"])
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
    return cfg
