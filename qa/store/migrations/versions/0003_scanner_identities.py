"""Store v3: scanners told apart without a serial number; ``qa_meta.schema_version`` "4".

Revision ID: 0003
Revises: 0002

Up to revision 0002 a scanner was manufacturer + model + serial number, so every scanner of one
model exported without a serial number (anonymised exports, a blank or placeholder serial such as
"0" or "unknown") was ONE scanner: their runs shared one trend and one baseline.  From this
revision a scanner is identified by the most stable attribute its images carry
(:class:`qa.records.identity.ScannerIdentity`: serial, else Device UID, else station name, else
institution), stored as ``identity_basis`` and a unique, normalised ``identity_key``; the old
unique key (manufacturer, model, serial) goes.

Existing rows are kept correct:

* a scanner with a real serial number keeps its row, runs and baselines (basis "serial");
* a scanner without one is split by the station name each of its runs recorded (the run's
  stored ``document``): the runs of each station become one scanner.  The station the row was
  labelled with keeps the row (its id, so ``--scanner ID`` still finds it); every other station
  gets a new row (its ``first_seen``: its first run's analysis time);
* a baseline built only from runs of one station moves with them; a baseline that mixes
  stations belonged to no real scanner: it stays on the old row, is made inactive and its
  withdrawal is audited (a new baseline must be set from one scanner's runs);
* every split is recorded in ``audit_events`` (``scanner_split``, actor "qa upgrade");
* two old rows that now have the same identity (serials differing only in case or padding) are
  not merged silently: the later keeps its own key with "#<id>" appended.

There is no downgrade: keep a copy of the database if you may need to go back.
"""

import json

import sqlalchemy as sa
from alembic import op

from qa.records.identity import ScannerIdentity
from qa.store.timestamps import UtcDateTime, utc_now

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTOR = "qa upgrade"


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("scanners") as batch:  # the old key goes first: split rows share it
        batch.add_column(sa.Column("identity_basis", sa.Text(), nullable=True))
        batch.add_column(sa.Column("identity_key", sa.Text(), nullable=True))
        batch.add_column(sa.Column("device_uid", sa.Text(), nullable=True))
        batch.drop_constraint("uq_scanner_identity", type_="unique")
    _identify_and_split(bind)
    with op.batch_alter_table("scanners") as batch:
        batch.alter_column("identity_basis", existing_type=sa.Text(), nullable=False)
        batch.alter_column("identity_key", existing_type=sa.Text(), nullable=False)
        batch.create_unique_constraint("uq_scanner_identity_key", ["identity_key"])
    meta = sa.table("qa_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    if bind.execute(meta.update().where(meta.c.key == "schema_version").values(value="4")).rowcount == 0:
        bind.execute(meta.insert().values(key="schema_version", value="4"))


def downgrade() -> None:
    raise NotImplementedError("qa store v3 (revision 0003) cannot be downgraded: restore the copy of the database")


_scanners = sa.table("scanners", sa.column("id", sa.Integer), sa.column("manufacturer", sa.Text), sa.column("model", sa.Text),
                     sa.column("serial", sa.Text), sa.column("station_name", sa.Text), sa.column("first_seen"),
                     sa.column("identity_basis", sa.Text), sa.column("identity_key", sa.Text))
_runs = sa.table("phantom_runs", sa.column("id", sa.Integer), sa.column("scanner_id", sa.Integer), sa.column("document", sa.Text),
                 sa.column("analysed_at"))
_baselines = sa.table("baselines", sa.column("id", sa.Integer), sa.column("scanner_id", sa.Integer), sa.column("run_ids", sa.Text),
                      sa.column("version", sa.Integer), sa.column("configuration_key", sa.Text), sa.column("active", sa.Boolean))
_audit = sa.table("audit_events", sa.column("at", UtcDateTime()), sa.column("actor", sa.Text), sa.column("event", sa.Text),
                  sa.column("scanner_id", sa.Integer), sa.column("details", sa.Text))


def _identify_and_split(bind) -> None:
    used: set[str] = set()
    for row in bind.execute(sa.select(_scanners).order_by(_scanners.c.id)).all():
        own = ScannerIdentity(row.manufacturer, row.model, row.serial, row.station_name)
        groups = {} if own.identity_basis == "serial" else _runs_by_identity(bind, row)
        if len(groups) <= 1:
            key = next(iter(groups), own.key)
            identity = groups[key][0] if groups else own
            _set_identity(bind, row.id, identity, _unique(key, row.id, used))
            continue
        keep = own.key if own.key in groups else next(iter(groups))
        scanner_of = {}
        for key, (identity, runs) in groups.items():
            if key == keep:
                scanner_id = row.id
                _set_identity(bind, row.id, identity, _unique(key, row.id, used))
            else:
                first_seen = min(r.analysed_at for r in runs)
                values = {"manufacturer": row.manufacturer, "model": row.model, "serial": row.serial,
                          "station_name": identity.station_name, "first_seen": first_seen,
                          "identity_basis": identity.identity_basis}
                pending = f"pending-{row.id}-{key}"
                bind.execute(_scanners.insert().values(**values, identity_key=pending))
                scanner_id = int(bind.execute(sa.select(_scanners.c.id).where(_scanners.c.identity_key == pending)).scalar_one())
                _set_identity(bind, scanner_id, identity, _unique(key, scanner_id, used))
                bind.execute(_runs.update().where(_runs.c.id.in_([r.id for r in runs])).values(scanner_id=scanner_id))
            scanner_of.update({r.id: scanner_id for r in runs})
            _audit_event(bind, scanner_id, "scanner_split", {
                "from_scanner_id": row.id, "identity_basis": identity.identity_basis, "identity_key": key,
                "station_name": identity.station_name, "run_ids": [r.id for r in runs],
                "why": "runs without a serial number from different stations had been stored as one scanner"})
        _move_baselines(bind, row.id, scanner_of)


def _runs_by_identity(bind, row) -> dict:
    """{identity key: (identity, [runs])} of a serial-less scanner's runs, by what each run's document recorded."""
    groups: dict = {}
    query = sa.select(_runs.c.id, _runs.c.document, _runs.c.analysed_at).where(_runs.c.scanner_id == row.id).order_by(_runs.c.id)
    for run in bind.execute(query).all():
        try:
            recorded = json.loads(run.document).get("scanner") or {}
        except (TypeError, ValueError):
            recorded = {}
        identity = ScannerIdentity(row.manufacturer, row.model, recorded.get("device_serial_number"),
                                   recorded.get("station_name"), recorded.get("device_uid"), recorded.get("institution_name"))
        entry = groups.setdefault(identity.key, [identity, []])
        entry[0] = identity  # the latest run's names label the scanner
        entry[1].append(run)
    return {k: (v[0], v[1]) for k, v in groups.items()}


def _unique(key: str, scanner_id: int, used: set[str]) -> str:
    if key in used:
        key = f"{key}#{scanner_id}"
    used.add(key)
    return key


def _set_identity(bind, scanner_id: int, identity: ScannerIdentity, key: str) -> None:
    bind.execute(_scanners.update().where(_scanners.c.id == scanner_id).values(
        identity_basis=identity.identity_basis, identity_key=key, station_name=identity.station_name or sa.null()))


def _move_baselines(bind, old_id: int, scanner_of: dict[int, int]) -> None:
    """Each baseline of the split row to the scanner whose runs it was built from; a mixed one withdrawn."""
    for baseline in bind.execute(sa.select(_baselines).where(_baselines.c.scanner_id == old_id).order_by(_baselines.c.id)).all():
        owners = {scanner_of.get(int(r)) for r in json.loads(baseline.run_ids)}
        if len(owners) == 1 and None not in owners:
            owner = owners.pop()
            if owner != old_id:
                bind.execute(_baselines.update().where(_baselines.c.id == baseline.id).values(scanner_id=owner))
            continue
        if baseline.active:
            bind.execute(_baselines.update().where(_baselines.c.id == baseline.id).values(active=False))
        _audit_event(bind, old_id, "baseline_withdrawn", {
            "version": baseline.version, "configuration": json.loads(baseline.configuration_key), "run_ids": json.loads(baseline.run_ids),
            "why": "built from runs of different scanners (no serial number, different station names): set a new baseline "
                   "for each scanner with qa baseline set"})


def _audit_event(bind, scanner_id: int, event: str, details: dict) -> None:
    bind.execute(_audit.insert().values(at=utc_now(), actor=ACTOR, event=event, scanner_id=scanner_id,
                                        details=json.dumps(details, sort_keys=True)))
