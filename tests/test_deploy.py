"""How the server is started: two instances on one machine must not share a control socket."""

import re
import shlex

from gunicorn.config import Config

from tests.support.paths import ROOT as REPO


def gunicorn_commands() -> list[list[str]]:
    makefile = (REPO / "Makefile").read_text()
    commands = [shlex.split(line.split("$(BIN)/gunicorn", 1)[1])
                for line in makefile.splitlines() if "$(BIN)/gunicorn" in line]
    for script in sorted((REPO / "bench").glob("*.py")):  # the benches start two at once
        commands += [re.findall(r'"(--[a-z-]+)"', line)
                     for line in script.read_text().splitlines()
                     if '"--workers"' in line and "huey" not in line]  # huey's --workers is its own
    return commands


MAKE_RUN_FLAGS = re.compile(r"make_run_flags|make_run_gunicorn_args")


def test_every_gunicorn_started_here_has_no_shared_control_socket():
    commands = gunicorn_commands()
    assert commands
    for args in commands:
        assert "--no-control-socket" in args, args
    # A bench that starts gunicorn spells its flags out (checked above) or takes `make run`'s
    # from the Makefile (checked above too).
    for script in sorted((REPO / "bench").glob("*.py")):
        text = script.read_text()
        if "gunicorn" in text and "Popen" in text:
            assert '"--workers"' in text or MAKE_RUN_FLAGS.search(text), script.name


def test_gunicorn_understands_the_flag():
    config = Config()
    parsed = config.parser().parse_args(["--no-control-socket", "wsgi:app"])
    assert parsed.control_socket_disable is True


def test_make_run_has_threads_to_spare_beside_fifty_stalled_media_readers():
    """Issue 10, Medium 6: each gunicorn worker of `make run` keeps threads free with 50 readers
    stalled on it (bench/stalled.py measures it; MEDIA_SEND_TIMEOUT_S then frees them)."""
    makefile = (REPO / "Makefile").read_text()
    (command,) = [line for line in makefile.splitlines() if "$(BIN)/gunicorn" in line]
    assert "--threads $(THREADS)" in command
    threads = int(re.search(r"^THREADS \?= (\d+)", makefile, re.MULTILINE).group(1))
    assert threads > 50
