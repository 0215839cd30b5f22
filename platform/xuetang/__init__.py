"""Xuetang (学堂): continuing education for professional technical personnel."""

from pathlib import Path

from xuetang import config as config_module

REPO_ROOT = config_module.REPO_ROOT


def create_app(test_config: dict | None = None):
    """The app factory: defaults, then environment, then test_config."""
    # Imported here so the domain packages (rules, face, video) load without Flask.
    from flask import Flask

    app = Flask(
        __name__,
        instance_path=str(REPO_ROOT / "instance"),
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
    )
    app.config.from_mapping(config_module.load(Path(app.instance_path), test_config))

    from xuetang import db, extensions, web, wiring

    db.init_app(app)
    extensions.htmx.init_app(app)
    extensions.csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    extensions.limiter.init_app(app)
    web.init_app(app)
    wiring.init_app(app)

    from xuetang import cli

    cli.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        # Behind nginx every request comes from 127.0.0.1: without this, the per-address sign-in
        # limit would be one limit for the whole city. Only as many hops as are really ours.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app
