"""Command line: `flask --app wsgi db upgrade | create-admin | demo`."""

import click
from flask.cli import AppGroup

from xuetang import migrations
from xuetang.db import database
from xuetang.models import Account
from xuetang.services import organizations

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


def init_app(app):
    app.cli.add_command(db_cli)
    app.cli.add_command(create_admin)
    app.cli.add_command(demo)
