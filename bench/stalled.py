"""Stalled range readers against sign-in, in the `make run` gunicorn configuration.

Run from the repo root: python bench/stalled.py [--readers 50] [--size-mb 32] [--tries 5]

Starts gunicorn with the argv of `make run` (read from the Makefile, so the bench measures what
ships), signs in once, then opens N connections that each ask for `Range: bytes=0-` of a 32 MB
lecture and never read a byte (a tiny receive buffer, so the kernel buffers fill at once). With
those readers stalled it times the sign-in page plus a sign-in POST, `--tries` times, each with a
5 s client timeout (a timeout counts as 5 s), and prints the figures next to the anchor: the same
sign-in with no stalled reader, in the same run. Issue 10 (Medium 6) asks for under 1 s with 50.
Everything listens on 127.0.0.1 and lives in a temporary folder.
"""

import argparse
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from stream import free_port, prepare, sign_in, stop, wait_port  # noqa: E402

CLIENT_TIMEOUT_S = 5.0


def make_run_gunicorn_args(port: int) -> list[str]:
    """gunicorn's arguments exactly as `make run` passes them, with this run's address."""
    makefile = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+)\s*\?=\s*(\S+)", makefile, re.MULTILINE))
    variables.update(HOST="127.0.0.1", PORT=str(port))
    line = next(line for line in makefile.splitlines() if "$(BIN)/gunicorn" in line)
    args = shlex.split(line.split("$(BIN)/gunicorn", 1)[1])
    args = [re.sub(r"\$\((\w+)\)", lambda m: variables[m.group(1)], a) for a in args]
    return [a for a in args if a not in ("--access-logfile", "-")]


def start(env: dict, port: int, tmp: Path) -> subprocess.Popen:
    full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *make_run_gunicorn_args(port), "--log-level", "error"],
        cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=(tmp / "gunicorn.log").open("wb"), start_new_session=True)
    wait_port(port)
    return proc


def stalled_reader(port: int, path: str, cookie: str) -> socket.socket:
    """A connection that asks for the whole lecture and then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-\r\n"
                 f"Cookie: {cookie}\r\n\r\n".encode())
    return sock


def timed_sign_in(port: int) -> float:
    started = time.perf_counter()
    socket.setdefaulttimeout(CLIENT_TIMEOUT_S)
    try:
        sign_in(port)
    except (TimeoutError, OSError):
        return CLIENT_TIMEOUT_S
    finally:
        socket.setdefaulttimeout(None)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--size-mb", type=int, default=32)
    parser.add_argument("--tries", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xt-stalled-") as folder:
        tmp = Path(folder)
        setup = prepare(tmp, options.size_mb)
        port = free_port()
        proc = start(setup["env"], port, tmp)
        readers = []
        try:
            cookie = sign_in(port)
            path = f"/media/lessons/{setup['lesson']}/360p"
            anchor = [timed_sign_in(port) for _ in range(options.tries)]
            readers = [stalled_reader(port, path, cookie) for _ in range(options.readers)]
            time.sleep(1.0)  # let every reader reach a thread and fill its buffers
            loaded = [timed_sign_in(port) for _ in range(options.tries)]
        finally:
            for sock in readers:
                sock.close()
            stop(proc)
    print(f"gunicorn as `make run`: {' '.join(make_run_gunicorn_args(port))}")
    print(f"sign-in (page + POST), {options.tries} tries, client timeout {CLIENT_TIMEOUT_S:g} s")
    print(f"  anchor, no stalled reader:   median {statistics.median(anchor):.3f} s, "
          f"max {max(anchor):.3f} s")
    print(f"  with {options.readers} stalled readers: median {statistics.median(loaded):.3f} s, "
          f"max {max(loaded):.3f} s, timed out {sum(t >= CLIENT_TIMEOUT_S for t in loaded)}")


if __name__ == "__main__":
    main()
