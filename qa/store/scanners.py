"""Scanners in the store, one row per identity (:attr:`qa.records.identity.ScannerIdentity.key`).

The identity is the serial number when the images carry one, else the Device UID, else the
station name, else the institution (each with manufacturer and model): two scanners of one model
exported without serial numbers stay apart by their station names, and the same station name
across runs is one scanner.  A scanner first stored by its station name and later seen with a
serial number (or Device UID) keeps its row: the row is re-keyed to the stronger identity, and
the change is audited.  A serial-less image of a station that is stored under a serial number
joins that scanner when exactly one scanner of that manufacturer and model has the station name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from qa.errors import UsageError
from qa.records.identity import ScannerIdentity, normalised
from qa.records.serialize import Record
from qa.store.sql import bind_instant, session_of
from qa.store.timestamps import utc_now

# The columns of a scanner row (the table: qa.store.schema.scanners).
_SCANNER_COLUMNS = "id, manufacturer, model, serial, station_name, identity_basis, identity_key"


@dataclass(frozen=True)
class ScannerRow(Record):
    """A scanner as the store knows it: its id, identity and station name (a label unless it is the identity)."""

    id: int
    manufacturer: str
    model: str
    serial: str
    station_name: str | None
    identity_basis: str = "serial"  # qa.records.identity.IDENTITY_BASES
    identity_key: str = ""  # the normalised identity (ScannerIdentity.key)

    @property
    def key(self) -> str:
        """The scanner key a baseline names: manufacturer|model|serial (as qa 0.1.0 wrote it) for a
        scanner identified by its serial number, else the identity key."""
        if self.identity_basis == "serial":
            return f"{self.manufacturer}|{self.model}|{self.serial}"
        return self.identity_key

    def label(self) -> str:
        name = self.station_name or "?"
        return (f"#{self.id} {name} ({self.manufacturer} {self.model}, serial {self.serial or '?'}, "
                f"identified by {self.identity_basis.replace('_', ' ')})")


def as_row(r) -> ScannerRow:
    """A ``scanners`` table row as a :class:`ScannerRow`."""
    return ScannerRow(r.id, r.manufacturer, r.model, r.serial, r.station_name, r.identity_basis, r.identity_key)


def _columns(scanner: ScannerIdentity) -> dict:
    """The stored columns of a scanner's identity."""
    return {
        "manufacturer": " ".join((scanner.manufacturer or "unknown").split()),
        "model": " ".join((scanner.model or "unknown").split()),
        "serial": " ".join((scanner.device_serial_number or "").split()) if normalised(scanner.device_serial_number) else "",
        "device_uid": (scanner.device_uid or "").strip() or None if normalised(scanner.device_uid) else None,
        "identity_basis": scanner.identity_basis,
        "identity_key": scanner.key,
    }


def _lookup(session, scanner: ScannerIdentity):
    """(row, how) of the stored scanner this one is: ``exact``, ``by_station`` (a row keyed by the
    station name that this scanner's serial or UID now identifies), ``station_of_serial`` (a
    serial-less image of a station stored under a serial); (None, None) when new."""
    rows = session.rows(f"SELECT {_SCANNER_COLUMNS} FROM scanners")
    key = scanner.key
    for r in rows:
        if r.identity_key == key:
            return r, "exact"
    station = scanner.station_key
    if station is None:
        return None, None
    if scanner.identity_basis in ("serial", "device_uid"):
        for r in rows:
            if r.identity_key == station:
                return r, "by_station"
        return None, None
    if scanner.identity_basis == "station_name":
        head = station.rsplit("|", 1)[0] + "|"
        same = [r for r in rows if r.identity_key.startswith(head) and r.identity_basis in ("serial", "device_uid")
                and normalised(r.station_name) == normalised(scanner.station_name)]
        if len(same) == 1:
            return same[0], "station_of_serial"
    return None, None


def find_id(connection, scanner: ScannerIdentity) -> int | None:
    """The id of a known scanner, else None (``connection``: a SQLAlchemy connection or a
    :class:`qa.store.sql.Session`); never writes."""
    row, _ = _lookup(session_of(connection), scanner)
    return None if row is None else int(row.id)


def get_or_create_id(connection, scanner: ScannerIdentity) -> int:
    """The id of the scanner, inserted on first sight; a new station name replaces the label of a
    scanner identified by serial or UID; a station-keyed row is re-keyed (audited) when its
    serial number or Device UID appears.  ``connection``: a SQLAlchemy connection or a
    :class:`qa.store.sql.Session`, inside its write transaction."""
    session = session_of(connection)
    row, how = _lookup(session, scanner)
    columns = _columns(scanner)
    if row is None:
        return session.insert(
            "INSERT INTO scanners (manufacturer, model, serial, device_uid, identity_basis, identity_key, station_name, "
            "first_seen) VALUES (:manufacturer, :model, :serial, :device_uid, :identity_basis, :identity_key, :station_name, "
            ":first_seen)", {**columns, "station_name": scanner.station_name, "first_seen": bind_instant(utc_now(), session.dialect)})
    if how == "by_station":
        session.run("UPDATE scanners SET manufacturer = :manufacturer, model = :model, serial = :serial, device_uid = :device_uid, "
                    "identity_basis = :identity_basis, identity_key = :identity_key, station_name = :station_name WHERE id = :id",
                    {**columns, "station_name": scanner.station_name, "id": row.id})
        details = {"from": {"identity_basis": row.identity_basis, "identity_key": row.identity_key},
                   "to": {"identity_basis": columns["identity_basis"], "identity_key": columns["identity_key"]}}
        audit(session, actor="qa", event="scanner_identity_strengthened", scanner_id=row.id, details=details)
    elif how == "exact" and scanner.station_name and row.station_name != scanner.station_name:
        session.run("UPDATE scanners SET station_name = :station_name WHERE id = :id",
                    {"station_name": scanner.station_name, "id": row.id})
    return int(row.id)


def audit(session, *, actor: str, event: str, scanner_id: int | None, details: dict) -> None:
    """One audit event, now (``details`` as sorted JSON)."""
    session.run("INSERT INTO audit_events (at, actor, event, scanner_id, details) VALUES (:at, :actor, :event, :scanner_id, "
                ":details)", {"at": bind_instant(utc_now(), session.dialect), "actor": actor, "event": event,
                              "scanner_id": scanner_id, "details": json.dumps(details, sort_keys=True)})


def all_rows(connection) -> list[ScannerRow]:
    """Every scanner, by id (``connection``: a SQLAlchemy connection or a :class:`qa.store.sql.Session`)."""
    return [as_row(r) for r in session_of(connection).rows(f"SELECT {_SCANNER_COLUMNS} FROM scanners ORDER BY id")]


def match(all_scanners: list[ScannerRow], query: str) -> ScannerRow:
    """A scanner by id (``3`` or ``#3``), station name, serial number, identity key or model (case
    and padding ignored); several matches are refused, listing them."""
    if not all_scanners:
        raise UsageError("the database holds no scanners yet", hint="run qa phantom on a phantom series first")
    listing = "\n".join("  " + s.label() for s in all_scanners)
    q = " ".join(query.split()).lstrip("#").strip().upper()
    if not q:
        raise UsageError(f"--scanner {query!r} names no scanner; the database holds:\n{listing}",
                         hint="give an id, station name or serial number")
    matches = [s for s in all_scanners if str(s.id) == q]
    if not matches:
        matches = [s for s in all_scanners if q in {normalised(s.station_name), normalised(s.serial), s.identity_key.upper()} - {None}]
    if not matches:
        matches = [s for s in all_scanners if q == normalised(s.model)]
    if not matches:
        raise UsageError(f"no scanner matches {query!r}; the database holds:\n{listing}", hint="give an id, station name or serial number")
    if len(matches) > 1:
        raise UsageError(f"{query!r} matches several scanners:\n" + "\n".join("  " + s.label() for s in matches),
                         hint="give the id (e.g. --scanner 3) or the serial number")
    return matches[0]
