"""The tables of the results store as the code uses them, and the migration revision they match.

The layout of a database is made and changed only by the Alembic migrations in
``qa/store/migrations`` (an empty database runs them all); these definitions are what the
queries are written against.  A test checks that the migrated schema and this metadata agree
(``alembic.autogenerate.compare_metadata`` finds no difference) on SQLite and PostgreSQL, and that
:data:`HEAD_REVISION` (:mod:`qa.store.revision`, re-exported here) is the migration scripts' head.
Keeping the head in code lets opening an up-to-date database check its revision without importing
Alembic (or, for a phantom run on a SQLite file, SQLAlchemy: :mod:`qa.store.sqlite_file`).
"""

from __future__ import annotations

import sqlalchemy as sa

from qa.store.revision import HEAD_REVISION, SCHEMA_VERSION, SCHEMA_VERSION_0_1_0  # noqa: F401 - re-exported
from qa.store.utc_column import UtcDateTime

metadata = sa.MetaData()

scanners = sa.Table(
    "scanners", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("manufacturer", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("serial", sa.Text, nullable=False),  # "" when the images carry none (or a placeholder)
    sa.Column("station_name", sa.Text),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    # What identifies the scanner (qa.records.identity.IDENTITY_BASES) and its normalised key
    # (ScannerIdentity.key): one row per key (revision 0003).
    sa.Column("identity_basis", sa.Text, nullable=False),
    sa.Column("identity_key", sa.Text, nullable=False),
    sa.Column("device_uid", sa.Text),
    sa.UniqueConstraint("identity_key", name="uq_scanner_identity_key"),
)

phantom_runs = sa.Table(
    "phantom_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
    sa.Column("series_instance_uid", sa.Text, nullable=False),
    sa.Column("acquired_at", UtcDateTime),
    sa.Column("analysed_at", UtcDateTime, nullable=False),
    sa.Column("qa_version", sa.Text, nullable=False),
    sa.Column("procedure_id", sa.Text, nullable=False),
    sa.Column("procedure_sha256", sa.Text, nullable=False),
    sa.Column("phantom_id", sa.Text, nullable=False),
    sa.Column("settings_key", sa.Text, nullable=False),
    sa.Column("configuration_key", sa.Text, nullable=False),
    sa.Column("protocol_ok", sa.Boolean, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    # One run per series and configuration: re-analysing replaces (a new procedure file or toolkit
    # version included), other scoring settings make another configuration.
    sa.UniqueConstraint("scanner_id", "series_instance_uid", "configuration_key", name="uq_phantom_run"),
)

# The dashboard's phantom runs in a window, and a scanner's last run before it (revision 0005).
sa.Index("ix_phantom_runs_acquired", phantom_runs.c.acquired_at)
sa.Index("ix_phantom_runs_scanner_acquired", phantom_runs.c.scanner_id, phantom_runs.c.acquired_at)

phantom_metrics = sa.Table(
    "phantom_metrics", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("value", sa.Float),
)

phantom_checks = sa.Table(
    "phantom_checks", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("check_id", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("measured", sa.Text),
    sa.Column("expected", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("source", sa.Text),
)

baselines = sa.Table(
    "baselines", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
    sa.Column("configuration_key", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("run_ids", sa.Text, nullable=False),
    sa.Column("stats", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.UniqueConstraint("scanner_id", "configuration_key", "version", name="uq_baseline_version"),
)

qa_meta = sa.Table(
    "qa_meta", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("scanner_id", sa.Integer),
    sa.Column("details", sa.Text),
)

# ---------------------------------------------------------------------------------- studies (revision 0004)
# The manager's view (``qa ingest``, ``qa check --db``, ``qa dose --db``): one row per study, its
# dose events and its exam checklists.  No identifier is stored in clear: studies, patients,
# accessions and operators only as keyed pseudonyms (qa.privacy).  Written through
# qa.store.studies (Store.save_study); read by the trends and the dashboard.

studies = sa.Table(
    "studies", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Keyed pseudonym (HMAC, qa.privacy) of the StudyInstanceUID: one row per study.
    sa.Column("study_key", sa.Text, nullable=False),
    # The scanner (qa.store.scanners: serial, else Device UID, else station name, ...), as for phantom runs.
    sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
    # When the study started: the scanner's StudyDate + StudyTime (its local wall clock) as an instant, UTC.
    sa.Column("study_datetime", UtcDateTime),
    # 'YYYY-MM' of the study date as the scanner wrote it (local, not converted): the month a trend groups by.
    sa.Column("study_month", sa.Text),
    # The scanner's protocol name as written: the calcium-score (else the largest) event's Acquisition
    # Protocol, else the images' ProtocolName, else the StudyDescription.
    sa.Column("protocol", sa.Text),
    # The qa exam protocol id the checklist used (procedures/cac-*.toml), when the study was checked.
    sa.Column("qa_protocol", sa.Text),
    # Keyed pseudonyms of the PatientID, the AccessionNumber and the operator (OperatorsName); the
    # operator's name is kept in clear only when the site configures it (QA_OPERATOR_NAMES=clear).
    sa.Column("patient_key", sa.Text),
    sa.Column("accession_key", sa.Text),
    sa.Column("operator_key", sa.Text),
    # A calcium-score exam (an image series or dose event named as one by the qa protocols).
    sa.Column("is_calcium_score", sa.Boolean, nullable=False),
    # A phantom QA study (images of a phantom, described as QA): counted in n_studies, flagged.
    sa.Column("is_qa", sa.Boolean, nullable=False),
    # The study came with a CT dose report (RDSR, Enhanced SR, Philips dose info).
    sa.Column("has_dose_report", sa.Boolean, nullable=False),
    # Where the dose values come from: 'rdsr' (a dose report), 'dose_screen' (a Philips Dose Info screen capture),
    # 'headers' (image headers), NULL (none).
    sa.Column("dose_source", sa.Text),
    # CTDIvol (mGy) of the calcium-score event, else the largest CTDIvol of the scan events (localizers left out).
    sa.Column("ctdivol_mgy", sa.Float),
    # The study's total DLP (mGy cm) over all its events, head and body phantoms alike (never less than the sum of
    # its events; the one the effective dose is computed over).  A mixed head/body study's body subtotal, compared
    # with body reference levels, stays in the document (compared.dlp_mgycm), never here.
    sa.Column("dlp_total_mgycm", sa.Float),
    # Effective dose (mSv) = k x DLP, event by event (qa.dose); k and where it came from beside it.
    sa.Column("dose_msv", sa.Float),
    sa.Column("k_msv_per_mgycm", sa.Float),  # one k for the whole study, NULL when its events have different k
    sa.Column("k_source", sa.Text),
    sa.Column("n_events", sa.Integer, nullable=False),  # irradiation events stored (rows of dose_events)
    sa.Column("ingested_at", UtcDateTime, nullable=False),  # when this row was last written
    sa.Column("qa_version", sa.Text, nullable=False),  # the qa that wrote it
    # SHA-256 of the record as saved (ingested_at left out): an unchanged study is not written again.
    sa.Column("fingerprint", sa.Text, nullable=False),
    # The study's qa.dose/1 report item (or the checklist's dose) as JSON, without identifiers.
    sa.Column("document", sa.Text),
    sa.UniqueConstraint("study_key", name="uq_study_key"),
)
sa.Index("ix_studies_scanner_month", studies.c.scanner_id, studies.c.study_month)
sa.Index("ix_studies_datetime", studies.c.study_datetime)
sa.Index("ix_studies_protocol", studies.c.protocol)

dose_events = sa.Table(
    "dose_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    # Irradiation Event UID (DCM 113769): events of re-sent reports are merged by it.  An event
    # without one (a Philips dose info capture) gets "<report SOP Instance UID>#<position>".
    sa.Column("irradiation_event_uid", sa.Text, nullable=False),
    sa.Column("acquisition_type", sa.Text),  # spiral | sequenced | constant_angle | stationary | free | cone_beam
    sa.Column("protocol", sa.Text),  # Acquisition Protocol (DCM 125203) as written
    sa.Column("target_region", sa.Text),  # code meaning, for display
    sa.Column("target_region_code", sa.Text),  # CodeValue of the target region (chooses the k-factor)
    sa.Column("target_region_scheme", sa.Text),  # its CodingSchemeDesignator
    sa.Column("phantom", sa.Text),  # CTDI phantom: head16 | body32 | NULL
    sa.Column("ctdivol_mgy", sa.Float),  # Mean CTDIvol (DCM 113830)
    sa.Column("dlp_mgycm", sa.Float),  # DLP (DCM 113838)
    sa.Column("kvp", sa.Float),  # of the first X-ray source (all sources in `sources`)
    sa.Column("tube_current_ma", sa.Float),  # of the first X-ray source
    sa.Column("exposure_time_s", sa.Float),  # Exposure Time (DCM 113824)
    sa.Column("pitch", sa.Float),  # Pitch Factor (DCM 113828)
    sa.Column("total_collimation_mm", sa.Float),  # Nominal Total Collimation Width (DCM 113827)
    sa.Column("scanning_length_mm", sa.Float),  # Scanning Length (DCM 113825)
    # Per-X-ray-source values as JSON ({"ids", "kvp", "tube_current_ma", "max_tube_current_ma",
    # "exposure_time_per_rotation_s"}: lists, one value per source), NULL for a single source.
    sa.Column("sources", sa.Text),
    # CT Dose Check Details (TID 10015) as JSON when the report has them: alert and notification
    # values configured and reached (CTDIvol, DLP), with the reasons given.
    sa.Column("dose_check", sa.Text),
    sa.UniqueConstraint("irradiation_event_uid", name="uq_dose_event_uid"),
)
sa.Index("ix_dose_events_study", dose_events.c.study_id)

exam_checks = sa.Table(
    "exam_checks", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    # The checked series' SeriesInstanceUID, in clear as in qa.check/1 and phantom_runs: a series
    # UID names a reconstruction, not a patient (the study's UID is never stored).
    sa.Column("series_key", sa.Text, nullable=False),
    sa.Column("protocol_id", sa.Text, nullable=False),  # qa exam protocol id
    sa.Column("protocol_sha256", sa.Text, nullable=False),  # the protocol file's content hash
    sa.Column("verdict", sa.String(16), nullable=False),  # pass | incomplete | warn | fail (earlier versions: pass for incomplete)
    sa.Column("qa_version", sa.Text, nullable=False),
    sa.Column("analysed_at", UtcDateTime, nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # the qa.check/1 document, without identifiers
    # One checklist per series and protocol: checking again replaces it.
    sa.UniqueConstraint("study_id", "series_key", "protocol_id", name="uq_exam_check"),
)

exam_check_results = sa.Table(
    "exam_check_results", metadata,
    sa.Column("exam_check_id", sa.Integer, sa.ForeignKey("exam_checks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("check_id", sa.Text, primary_key=True),  # kvp, slice_thickness, heart_rate, ...
    sa.Column("status", sa.String(16), nullable=False),  # pass | warn | fail | not_available | not_applicable
    sa.Column("measured", sa.Text),  # JSON, display units
    sa.Column("expected", sa.Text),  # JSON, display units
    sa.Column("message", sa.Text),
)
sa.Index("ix_exam_check_results_check_status", exam_check_results.c.check_id, exam_check_results.c.status)

ingested_objects = sa.Table(
    "ingested_objects", metadata,
    # Every DICOM object qa ingest stored (or looked at and found nothing to store in), so that a
    # second ingest of the same files skips them.
    sa.Column("sop_instance_uid", sa.Text, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE")),  # NULL: not part of a stored study
    sa.Column("kind", sa.Text, nullable=False),  # image | dose_report | other
    sa.Column("ingested_at", UtcDateTime, nullable=False),
)

# The tables qa 0.1.0 made (revision 0001): what a qa 0.1.0 database must hold.
TABLES_0_1_0 = frozenset({"scanners", "phantom_runs", "phantom_metrics", "phantom_checks", "baselines", "qa_meta", "audit_events"})

# The tables qa has ever created: a database holding any of them is a qa database.
QA_TABLES = frozenset(metadata.tables)
