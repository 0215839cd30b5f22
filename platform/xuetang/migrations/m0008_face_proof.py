"""Issue 11: face checks that hold up. Chip signatures and descriptors for replay detection, the
lesson position and capture time of a check, the other person a held reference matched, and the
city's audited match threshold."""

from peewee import BlobField, DateTimeField, FloatField, ForeignKeyField, IntegerField
from playhouse.migrate import migrate

from xuetang.models import FaceThreshold, Person

COLUMNS = {
    "face_reference": [("signature", lambda: BlobField(null=True))],
    "face_check": [
        ("likeness", lambda: FloatField(null=True)),
        ("descriptor", lambda: BlobField(null=True)),
        ("signature", lambda: BlobField(null=True)),
        ("frame", lambda: BlobField(null=True)),
        ("position_ms", lambda: IntegerField(null=True)),
        ("captured_at", lambda: DateTimeField(null=True)),
    ],
    "face_reference_change": [
        ("signature", lambda: BlobField(null=True)),
        ("conflict_distance", lambda: FloatField(null=True)),
    ],
}


def upgrade(db, migrator):
    for table, columns in COLUMNS.items():
        have = {c.name for c in db.get_columns(table)}
        for name, make in columns:
            if name not in have:
                migrate(migrator.add_column(table, name, make()))
    if "conflict_person_id" not in {c.name for c in db.get_columns("face_reference_change")}:
        migrate(migrator.add_column("face_reference_change", "conflict_person_id", ForeignKeyField(
            Person, null=True, on_delete="SET NULL", field=Person.id)))
    db.create_tables([FaceThreshold], safe=True)
