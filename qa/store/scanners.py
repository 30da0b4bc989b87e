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

import sqlalchemy as sa

from qa.errors import UsageError
from qa.records.identity import ScannerIdentity, normalised
from qa.records.serialize import Record
from qa.store.schema import audit_events, scanners
from qa.store.timestamps import utc_now


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


def _lookup(connection: sa.Connection, scanner: ScannerIdentity):
    """(row, how) of the stored scanner this one is: ``exact``, ``by_station`` (a row keyed by the
    station name that this scanner's serial or UID now identifies), ``station_of_serial`` (a
    serial-less image of a station stored under a serial); (None, None) when new."""
    rows = connection.execute(sa.select(scanners)).all()
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


def find_id(connection: sa.Connection, scanner: ScannerIdentity) -> int | None:
    row, _ = _lookup(connection, scanner)
    return None if row is None else int(row.id)


def get_or_create_id(connection: sa.Connection, scanner: ScannerIdentity) -> int:
    """The id of the scanner, inserted on first sight; a new station name replaces the label of a
    scanner identified by serial or UID; a station-keyed row is re-keyed (audited) when its
    serial number or Device UID appears."""
    row, how = _lookup(connection, scanner)
    columns = _columns(scanner)
    if row is None:
        result = connection.execute(scanners.insert().values(**columns, station_name=scanner.station_name, first_seen=utc_now()))
        return int(result.inserted_primary_key[0])
    if how == "by_station":
        connection.execute(scanners.update().where(scanners.c.id == row.id).values(**columns, station_name=scanner.station_name))
        details = {"from": {"identity_basis": row.identity_basis, "identity_key": row.identity_key},
                   "to": {"identity_basis": columns["identity_basis"], "identity_key": columns["identity_key"]}}
        connection.execute(audit_events.insert().values(at=utc_now(), actor="qa", event="scanner_identity_strengthened",
                                                        scanner_id=row.id, details=json.dumps(details, sort_keys=True)))
    elif how == "exact" and scanner.station_name and row.station_name != scanner.station_name:
        connection.execute(scanners.update().where(scanners.c.id == row.id).values(station_name=scanner.station_name))
    return int(row.id)


def all_rows(connection: sa.Connection) -> list[ScannerRow]:
    rows = connection.execute(sa.select(scanners).order_by(scanners.c.id)).all()
    return [as_row(r) for r in rows]


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
