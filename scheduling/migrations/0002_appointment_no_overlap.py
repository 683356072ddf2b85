"""No double booking of a clinician, enforced by the database itself.

PostgreSQL: an exclusion constraint over (clinician, [starts_at, ends_at)) for appointments
that hold their slot. SQLite has no exclusion constraints, so two triggers abort any insert
or update that would overlap; with BEGIN IMMEDIATE transactions (settings) they are as safe.
Both raise an error whose text contains "appointment_no_overlap", which
scheduling.services turns into a field-level double-booking message.

The list of slot-holding statuses must match scheduling.models.SLOT_HOLDING_STATUSES.
Caution: when a later migration makes Django rebuild this table on SQLite, the triggers are
dropped with the old table; tests/scheduling/test_double_booking.py fails if that happens,
and the fix is to re-run this migration's SQLite statements in that migration.
"""

from django.db import migrations

HOLDING = "('scheduled', 'confirmed', 'in_progress')"

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    f"""
    ALTER TABLE scheduling_appointment ADD CONSTRAINT appointment_no_overlap
    EXCLUDE USING gist (clinician_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
    WHERE (status IN {HOLDING})
    """,
]
POSTGRES_BACKWARD = ["ALTER TABLE scheduling_appointment DROP CONSTRAINT appointment_no_overlap"]


def _sqlite_trigger(event: str) -> str:
    exclude_self = "AND other.id <> NEW.id" if event == "UPDATE" else ""
    return f"""
    CREATE TRIGGER appointment_no_overlap_{event.lower()}
    BEFORE {event} ON scheduling_appointment
    WHEN NEW.status IN {HOLDING}
    BEGIN
        SELECT RAISE(ABORT, 'appointment_no_overlap: clinician already booked')
        WHERE EXISTS (
            SELECT 1 FROM scheduling_appointment AS other
            WHERE other.clinician_id = NEW.clinician_id
              AND other.status IN {HOLDING}
              AND julianday(other.starts_at) < julianday(NEW.ends_at)
              AND julianday(other.ends_at) > julianday(NEW.starts_at)
              {exclude_self}
        );
    END
    """


SQLITE_FORWARD = [_sqlite_trigger("INSERT"), _sqlite_trigger("UPDATE")]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS appointment_no_overlap_insert",
    "DROP TRIGGER IF EXISTS appointment_no_overlap_update",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
