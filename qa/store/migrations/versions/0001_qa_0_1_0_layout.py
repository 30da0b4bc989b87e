"""The qa 0.1.0 layout, exactly as qa 0.1.0 created it (``metadata.create_all``).

Revision ID: 0001
Revises: (none)

Timestamps are text here, as 0.1.0 wrote them: ISO 8601, the acquisition time as the scanner
wrote it (no UTC offset), the others in UTC with "+00:00".  ``qa_meta.schema_version`` is "2",
the value qa 0.1.0 writes and accepts.  A database made by qa 0.1.0 is stamped with this
revision instead of running it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scanners",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("manufacturer", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("serial", sa.Text, nullable=False),
        sa.Column("station_name", sa.Text),
        sa.Column("first_seen", sa.Text, nullable=False),
        sa.UniqueConstraint("manufacturer", "model", "serial", name="uq_scanner_identity"),
    )
    qa_meta = op.create_table(
        "qa_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("scanner_id", sa.Integer),
        sa.Column("details", sa.Text),
    )
    op.create_table(
        "phantom_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
        sa.Column("series_instance_uid", sa.Text, nullable=False),
        sa.Column("acquired_at", sa.Text),
        sa.Column("analysed_at", sa.Text, nullable=False),
        sa.Column("qa_version", sa.Text, nullable=False),
        sa.Column("procedure_id", sa.Text, nullable=False),
        sa.Column("procedure_sha256", sa.Text, nullable=False),
        sa.Column("phantom_id", sa.Text, nullable=False),
        sa.Column("settings_key", sa.Text, nullable=False),
        sa.Column("configuration_key", sa.Text, nullable=False),
        sa.Column("protocol_ok", sa.Boolean, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.UniqueConstraint("scanner_id", "series_instance_uid", "configuration_key", name="uq_phantom_run"),
    )
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
        sa.Column("configuration_key", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("run_ids", sa.Text, nullable=False),
        sa.Column("stats", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.UniqueConstraint("scanner_id", "configuration_key", "version", name="uq_baseline_version"),
    )
    op.create_table(
        "phantom_metrics",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("metric", sa.Text, primary_key=True),
        sa.Column("value", sa.Float),
    )
    op.create_table(
        "phantom_checks",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("check_id", sa.Text, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("measured", sa.Text),
        sa.Column("expected", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("source", sa.Text),
    )
    op.bulk_insert(qa_meta, [{"key": "schema_version", "value": "2"}])


def downgrade() -> None:
    for table in ("phantom_checks", "phantom_metrics", "baselines", "phantom_runs", "audit_events", "qa_meta", "scanners"):
        op.drop_table(table)
