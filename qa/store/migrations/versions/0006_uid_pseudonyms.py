"""Store v6: the UIDs of stored studies only as keyed pseudonyms; ``qa_meta.schema_version`` "6".

Revision ID: 0006
Revises: 0005

Scanners build SOP Instance, Series Instance and Irradiation Event UIDs from the root of the
StudyInstanceUID, so a store that kept them in clear kept the study's identifier (issue 13).  qa
now stores them only as their site pseudonym (:mod:`qa.records.uid_keys`); this revision
pseudonymises, in place and with the site secret, the values a store written before holds:
``ingested_objects.sop_instance_uid``, ``dose_events.irradiation_event_uid``,
``exam_checks.series_key``, and the UIDs inside the studies' and checklists' documents (by key, and
every clear UID of the study wherever it occurs in their text).  Phantom runs (not patient data)
keep their series UID.  Pseudonyms are deterministic per site, so a later ingest of the same files
finds them stored; a store moved to a site with another secret would read them again.  The
layout does not change; a qa that knows only revision 0005 refuses the store (it would compare
clear UIDs with pseudonyms).  No downgrade: a pseudonym cannot be turned back into its UID.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from qa.privacy import site_pseudonymiser
    from qa.records.uid_keys import keyed_document, uid_key

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # the clear values' old pages are overwritten with zeros, not left in the file
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    meta = sa.MetaData()
    objects = sa.Table("ingested_objects", meta, sa.Column("sop_instance_uid", sa.Text), sa.Column("study_id", sa.Integer))
    events = sa.Table("dose_events", meta, sa.Column("id", sa.Integer), sa.Column("study_id", sa.Integer),
                      sa.Column("irradiation_event_uid", sa.Text))
    checks = sa.Table("exam_checks", meta, sa.Column("id", sa.Integer), sa.Column("study_id", sa.Integer),
                      sa.Column("series_key", sa.Text), sa.Column("document", sa.Text))
    studies = sa.Table("studies", meta, sa.Column("id", sa.Integer), sa.Column("document", sa.Text))
    meta_table = sa.table("qa_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    if bind.execute(meta_table.update().where(meta_table.c.key == "schema_version").values(value="6")).rowcount == 0:
        bind.execute(meta_table.insert().values(key="schema_version", value="6"))
    if not any(bind.execute(sa.select(t).limit(1)).first() for t in (objects, events, checks, studies)):
        return  # nothing stored: the site secret is not needed (nor made) to upgrade an empty store
    p = site_pseudonymiser()
    clear: dict[int | None, set[str]] = {}  # study id -> its clear UIDs
    for uid, study_id in bind.execute(sa.select(objects.c.sop_instance_uid, objects.c.study_id)).all():
        key = uid_key(p, uid)
        if key != uid:
            clear.setdefault(study_id, set()).add(uid)
            bind.execute(objects.update().where(objects.c.sop_instance_uid == uid).values(sop_instance_uid=key))
    for row in bind.execute(sa.select(events.c.id, events.c.study_id, events.c.irradiation_event_uid)).all():
        key = uid_key(p, row.irradiation_event_uid)
        if key != row.irradiation_event_uid:
            clear.setdefault(row.study_id, set()).add(row.irradiation_event_uid)
            bind.execute(events.update().where(events.c.id == row.id).values(irradiation_event_uid=key))
    rows = bind.execute(sa.select(checks.c.id, checks.c.study_id, checks.c.series_key)).all()
    for row in rows:
        key = uid_key(p, row.series_key)
        if key != row.series_key:
            clear.setdefault(row.study_id, set()).add(row.series_key)
            bind.execute(checks.update().where(checks.c.id == row.id).values(series_key=key))

    def keyed_text(text: str | None, study_id) -> str | None:
        if text is None:
            return None
        out = json.dumps(keyed_document(json.loads(text), p), sort_keys=True)
        for uid in sorted(clear.get(study_id, ()), key=len, reverse=True):  # a UID named in a message, longest first
            out = out.replace(uid, p(uid))
        return out

    for row in bind.execute(sa.select(checks.c.id, checks.c.study_id, checks.c.document)).all():
        bind.execute(checks.update().where(checks.c.id == row.id).values(document=keyed_text(row.document, row.study_id)))
    for row in bind.execute(sa.select(studies.c.id, studies.c.document)).all():
        bind.execute(studies.update().where(studies.c.id == row.id).values(document=keyed_text(row.document, row.id)))


def downgrade() -> None:
    raise NotImplementedError("a pseudonym cannot be turned back into its UID: restore the store from a backup")
