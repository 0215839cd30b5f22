"""Command line: `flask --app wsgi db upgrade | create-admin | demo | backup | restore`."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from xuetang import migrations
from xuetang.db import database
from xuetang.models import Account
from xuetang.services import backups, organizations

db_cli = AppGroup("db", help="Database schema.")


@db_cli.command("upgrade")
def db_upgrade():
    """Apply pending schema migrations."""
    with database.connection_context():
        applied = migrations.upgrade()
        version = migrations.current_version()
    if applied:
        click.echo("applied: " + ", ".join(applied))
    click.echo(f"schema version {version}")


@click.command("create-admin")
@click.option("--username", required=True)
@click.password_option()
def create_admin(username, password):
    """Create a city admin account (for a fresh installation without demo data)."""
    with database.connection_context():
        organizations.create_city_admin(username, password)
    click.echo(f"city admin {username} created")


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Only when the database has no accounts yet.")
def demo(if_empty):
    """Load the demo data (idempotent) and print the demo logins."""
    from xuetang.seed import demo as demo_data

    with database.connection_context():
        if if_empty and Account.select().exists():
            click.echo("database has data; demo data not loaded")
        else:
            demo_data.load(city=True)
    click.echo(demo_data.logins_text())


@click.command("backup")
@with_appcontext
@click.option("--to", "destination", type=click.Path(file_okay=False),
              help="Directory for the backup (default: BACKUP_ROOT).")
def backup(destination):
    """Back up the database and media while the server runs (SQLite installations)."""
    config = current_app.config
    with database.connection_context():
        try:
            path = backups.backup(destination or config["BACKUP_ROOT"], config["MEDIA_ROOT"])
        except backups.BackupError as error:
            raise click.ClickException(str(error)) from error
    manifest = backups.read_manifest(path)
    click.echo(f"backup {path}: schema {manifest.schema_version}, "
               f"{manifest.ledger_lines} ledger lines, {len(manifest.files)} files")


@click.command("restore")
@with_appcontext
@click.argument("backup_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an installation that has data (stop it first).")
def restore(backup_dir, force):
    """Restore a backup into this installation's (empty) database file and MEDIA_ROOT."""
    config = current_app.config
    url = config["DATABASE_URL"]
    if not url.startswith("sqlite:///"):
        raise click.ClickException("restore writes a SQLite file; for PostgreSQL use pg_restore.")
    if not database.is_closed():
        database.close()
    try:
        manifest = backups.restore(backup_dir, Path(url.removeprefix("sqlite:///")),
                                   config["MEDIA_ROOT"], force=force)
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"restored schema {manifest.schema_version}, {manifest.ledger_lines} ledger lines; "
               "run `flask --app wsgi db upgrade` before starting the server")


def init_app(app):
    app.cli.add_command(db_cli)
    app.cli.add_command(create_admin)
    app.cli.add_command(demo)
    app.cli.add_command(backup)
    app.cli.add_command(restore)
