"""Store v5: indexes on phantom runs by acquisition time, and by scanner and acquisition time (no layout change).

Revision ID: 0005
Revises: 0004

The dashboard asks, per scanner, for its phantom runs in a date window and for its last run
before the window (qa.store.fleet); without an index both scan every run ever stored, so their
time grew with the history (5-13x for 10x the history, benchmarks/bench_dashboard.py).  The data
and their meaning do not change: ``qa_meta.schema_version`` stays "5".
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_phantom_runs_acquired", "phantom_runs", ["acquired_at"])
    op.create_index("ix_phantom_runs_scanner_acquired", "phantom_runs", ["scanner_id", "acquired_at"])


def downgrade() -> None:
    op.drop_index("ix_phantom_runs_scanner_acquired", table_name="phantom_runs")
    op.drop_index("ix_phantom_runs_acquired", table_name="phantom_runs")
