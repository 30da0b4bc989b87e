"""Store v4: studies, their dose events and exam checklists; ``qa_meta.schema_version`` "5".

Revision ID: 0004
Revises: 0003

The manager's view (``qa ingest``, ``qa check --db``, ``qa dose --db``) adds five tables and
changes none (each column is documented in :mod:`qa.store.schema`):

* ``studies``: one row per study (``study_key``, the keyed pseudonym of its StudyInstanceUID), its
  scanner (the ``scanners`` row phantom runs use), date and month, protocol, pseudonymised patient,
  accession and operator, flags (calcium score, phantom QA, dose report) and the study's dose
  (CTDIvol, DLP, effective dose with its k and k source);
* ``dose_events``: its irradiation events, one per Irradiation Event UID (unique);
* ``exam_checks`` and ``exam_check_results``: its ``qa check`` checklists (one per series and
  protocol) and their checks, one row each, for failure rates in SQL;
* ``ingested_objects``: the SOP Instance UIDs ``qa ingest`` has stored, so that a second ingest
  skips them.

Indexes serve the trends: studies by (scanner, month), by date and by protocol; events by study;
check results by (check id, status).  The tables are written out here, not taken from the code's
metadata, so that this revision makes the same layout whatever later code says.  There is no
downgrade: keep a copy of the database if you may need to go back.
"""

import sqlalchemy as sa
from alembic import op

from qa.store.timestamps import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_key", sa.Text, nullable=False),
        sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
        sa.Column("study_datetime", UtcDateTime()),
        sa.Column("study_month", sa.Text),
        sa.Column("protocol", sa.Text),
        sa.Column("qa_protocol", sa.Text),
        sa.Column("patient_key", sa.Text),
        sa.Column("accession_key", sa.Text),
        sa.Column("operator_key", sa.Text),
        sa.Column("is_calcium_score", sa.Boolean, nullable=False),
        sa.Column("is_qa", sa.Boolean, nullable=False),
        sa.Column("has_dose_report", sa.Boolean, nullable=False),
        sa.Column("dose_source", sa.Text),
        sa.Column("ctdivol_mgy", sa.Float),
        sa.Column("dlp_total_mgycm", sa.Float),
        sa.Column("dose_msv", sa.Float),
        sa.Column("k_msv_per_mgycm", sa.Float),
        sa.Column("k_source", sa.Text),
        sa.Column("n_events", sa.Integer, nullable=False),
        sa.Column("ingested_at", UtcDateTime(), nullable=False),
        sa.Column("qa_version", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("document", sa.Text),
        sa.UniqueConstraint("study_key", name="uq_study_key"),
    )
    op.create_index("ix_studies_scanner_month", "studies", ["scanner_id", "study_month"])
    op.create_index("ix_studies_datetime", "studies", ["study_datetime"])
    op.create_index("ix_studies_protocol", "studies", ["protocol"])
    op.create_table(
        "dose_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("irradiation_event_uid", sa.Text, nullable=False),
        sa.Column("acquisition_type", sa.Text),
        sa.Column("protocol", sa.Text),
        sa.Column("target_region", sa.Text),
        sa.Column("target_region_code", sa.Text),
        sa.Column("target_region_scheme", sa.Text),
        sa.Column("phantom", sa.Text),
        sa.Column("ctdivol_mgy", sa.Float),
        sa.Column("dlp_mgycm", sa.Float),
        sa.Column("kvp", sa.Float),
        sa.Column("tube_current_ma", sa.Float),
        sa.Column("exposure_time_s", sa.Float),
        sa.Column("pitch", sa.Float),
        sa.Column("total_collimation_mm", sa.Float),
        sa.Column("scanning_length_mm", sa.Float),
        sa.Column("sources", sa.Text),
        sa.Column("dose_check", sa.Text),
        sa.UniqueConstraint("irradiation_event_uid", name="uq_dose_event_uid"),
    )
    op.create_index("ix_dose_events_study", "dose_events", ["study_id"])
    op.create_table(
        "exam_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("series_key", sa.Text, nullable=False),
        sa.Column("protocol_id", sa.Text, nullable=False),
        sa.Column("protocol_sha256", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("qa_version", sa.Text, nullable=False),
        sa.Column("analysed_at", UtcDateTime(), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.UniqueConstraint("study_id", "series_key", "protocol_id", name="uq_exam_check"),
    )
    op.create_table(
        "exam_check_results",
        sa.Column("exam_check_id", sa.Integer, sa.ForeignKey("exam_checks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("check_id", sa.Text, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("measured", sa.Text),
        sa.Column("expected", sa.Text),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_exam_check_results_check_status", "exam_check_results", ["check_id", "status"])
    op.create_table(
        "ingested_objects",
        sa.Column("sop_instance_uid", sa.Text, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE")),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ingested_at", UtcDateTime(), nullable=False),
    )
    bind = op.get_bind()
    meta = sa.table("qa_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    if bind.execute(meta.update().where(meta.c.key == "schema_version").values(value="5")).rowcount == 0:
        bind.execute(meta.insert().values(key="schema_version", value="5"))


def downgrade() -> None:
    raise NotImplementedError("qa store v4 (revision 0004) cannot be downgraded: restore the copy of the database")
