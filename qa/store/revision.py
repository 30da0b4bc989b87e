"""The layout revision this code reads and writes (what :mod:`qa.store.schema` describes), without SQLAlchemy:
opening an up-to-date store checks its revision against :data:`HEAD_REVISION` before anything else is imported."""

# The newest migration revision: a database at this revision needs no upgrade.
HEAD_REVISION = "0006"

# ``qa_meta.schema_version`` written by the head revision.  qa 0.1.0 accepts only "2" and so
# refuses a database upgraded by this code instead of misreading its timestamps ("3": revision
# 0002, time-zone-aware timestamps; "4": revision 0003, scanner identities; "5": revision 0004,
# studies, dose events and exam checks; revision 0005 adds an index only; "6": revision 0006, the UIDs of
# studies, their objects, events and checklists only as keyed pseudonyms).
SCHEMA_VERSION = "6"

# The value qa 0.1.0 wrote (revision 0001): a database holding it and no ``alembic_version``
# is stamped 0001 and upgraded on first use.
SCHEMA_VERSION_0_1_0 = "2"
