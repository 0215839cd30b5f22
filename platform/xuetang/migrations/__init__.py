"""Versioned schema upgrades, applied in order and recorded in the schema_version table.

Each step is a module `mNNNN_<name>.py` with `upgrade(db, migrator)`. A step runs inside one
transaction and is recorded with it, so a crash leaves the previous version intact. New tables
are created from their model classes; changes to existing tables use playhouse.migrate and check
the current columns first, because a fresh database gets the tables at their newest shape.
"""

import importlib
import pkgutil

from peewee import CharField, DateTimeField, IntegerField, Model
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator

from xuetang.clock import utcnow
from xuetang.db import database, is_sqlite


class SchemaVersion(Model):
    version = IntegerField(primary_key=True)
    name = CharField()
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "schema_version"


def steps() -> list[tuple[int, str, object]]:
    """All migration modules as (version, name, module), ordered."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append((int(info.name[1:5]), info.name[6:], module))
    found.sort()
    return found


def current_version() -> int:
    if not database.table_exists("schema_version"):
        return 0
    last = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return last.version if last else 0


def head_version() -> int:
    return steps()[-1][0]


def upgrade(target: int | None = None) -> list[str]:
    """Apply every pending step up to target (default: all). Returns the names applied."""
    database.create_tables([SchemaVersion], safe=True)
    migrator = SqliteMigrator(database.obj) if is_sqlite() else PostgresqlMigrator(database.obj)
    applied = []
    for version, name, module in steps():
        if version <= current_version() or (target is not None and version > target):
            continue
        with database.atomic():
            module.upgrade(database, migrator)
            SchemaVersion.create(version=version, name=name)
        applied.append(f"{version:04d}_{name}")
    return applied


def column_names(table: str) -> set[str]:
    return {col.name for col in database.get_columns(table)}
