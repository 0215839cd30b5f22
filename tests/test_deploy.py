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


# ---------------------------------------------------------------- docs/deploy: nginx, env, units

DEPLOY = REPO / "docs" / "deploy"


def top_level_blocks(conf: str, name: str) -> list[str]:
    """The text of each unindented `name { ... }` block of an nginx file."""
    blocks = []
    for match in re.finditer(rf"^{name}\b[^{{;\n]*\{{", conf, re.MULTILINE):
        depth, i = 0, match.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(conf[i], 0)
            i += 1
            if depth == 0:
                break
        blocks.append(conf[match.start():i])
    return blocks


def test_nginx_redirects_plain_http_to_https():
    """The checklist's `http://` redirects: port 80 only redirects (and serves ACME challenges)."""
    servers = top_level_blocks((DEPLOY / "nginx.conf").read_text(), "server")
    plain = [s for s in servers if re.search(r"^\s*listen 80;", s, re.MULTILINE)]
    tls = [s for s in servers if re.search(r"^\s*listen 443 ssl", s, re.MULTILINE)]
    assert len(plain) == 1 and len(tls) == 1
    assert "return 301 https://$host$request_uri;" in plain[0]
    assert "proxy_pass" not in plain[0] and "alias" not in plain[0]
    assert "proxy_pass http://xuetang;" in tls[0]
    assert "ssl_certificate " in tls[0] and "ssl_certificate_key " in tls[0]


def test_nginx_opens_a_fresh_upstream_connection_per_request():
    """Kept-alive upstream connections gave 502s on POSTs under load (bench/city.py): a request
    sent on one just as gunicorn closed it. The deploy file and the city bench agree."""
    deploy = (DEPLOY / "nginx.conf").read_text()
    (upstream,) = top_level_blocks(deploy, "upstream")
    bench = re.search(r"upstream xuetang \{\{.*?\}\}", (REPO / "bench" / "city.py").read_text(),
                      re.DOTALL).group(0)
    for block in (upstream, bench):
        assert not re.search(r"^\s*keepalive\b", block, re.MULTILINE), block


def env_lines(text: str) -> tuple[dict, set]:
    """The env example's settings, and the names of its commented city lines."""
    active = dict(re.findall(r"^([A-Z_]+)=(.*)$", text, re.MULTILINE))
    city_part = text.split("# A city", 1)[1]
    return active, set(re.findall(r"^# ([A-Z_]+)=", city_part, re.MULTILINE))


def test_the_env_file_names_only_real_settings_without_inline_comments():
    from xuetang.config import ENV_SETTINGS

    active, city = env_lines((DEPLOY / "xuetang.env.example").read_text())
    unit_only = {"SECRET_KEY", "XUETANG_BIND"}  # read by the factory / by xuetang-web.service
    assert set(active) | city <= set(ENV_SETTINGS) | unit_only
    # systemd's EnvironmentFile keeps a trailing "# ..." as part of the value.
    assert not [name for name, value in active.items() if "#" in value]
    assert "--bind ${XUETANG_BIND}" in (DEPLOY / "xuetang-web.service").read_text()


def test_the_city_differs_from_the_district_by_configuration_only():
    """The city lines of the env file are what bench/city.py sets to run a city (and the app
    server's bind address, which the bench gives on the command line)."""
    import ast

    _, city = env_lines((DEPLOY / "xuetang.env.example").read_text())
    source = (REPO / "bench" / "city.py").read_text()
    bench = ast.literal_eval(re.search(r"^CITY_SETTINGS = (\(.*?\))", source,
                                       re.MULTILINE | re.DOTALL).group(1))
    assert city - {"XUETANG_BIND"} == set(bench)
    for name in bench:
        assert f"{name}=" in source.split("def env(self)", 1)[1].split("def start", 1)[0], name
