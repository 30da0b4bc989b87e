"""Scanners in the store: identified by manufacturer + model + serial number, the station name a label."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from qa.errors import UsageError
from qa.records.identity import ScannerIdentity
from qa.records.serialize import Record
from qa.store.schema import scanners
from qa.store.timestamps import utc_now


@dataclass(frozen=True)
class ScannerRow(Record):
    """A scanner as the store knows it: its id, identity (manufacturer + model + serial) and station name."""

    id: int
    manufacturer: str
    model: str
    serial: str
    station_name: str | None

    @property
    def key(self) -> str:
        return f"{self.manufacturer}|{self.model}|{self.serial}"

    def label(self) -> str:
        name = self.station_name or "?"
        return f"#{self.id} {name} ({self.manufacturer} {self.model}, serial {self.serial or '?'})"


def identity(scanner: ScannerIdentity) -> dict:
    """The identifying columns of a scanner."""
    return {
        "manufacturer": (scanner.manufacturer or "unknown").strip(),
        "model": (scanner.model or "unknown").strip(),
        "serial": (scanner.device_serial_number or "").strip(),
    }


def find_id(connection: sa.Connection, scanner: ScannerIdentity) -> int | None:
    row = connection.execute(sa.select(scanners.c.id).filter_by(**identity(scanner))).first()
    return None if row is None else int(row.id)


def get_or_create_id(connection: sa.Connection, scanner: ScannerIdentity) -> int:
    """The id of the scanner, inserted on first sight; a new station name replaces the label."""
    ident = identity(scanner)
    row = connection.execute(sa.select(scanners.c.id, scanners.c.station_name).filter_by(**ident)).first()
    if row is not None:
        if scanner.station_name and row.station_name != scanner.station_name:
            connection.execute(scanners.update().where(scanners.c.id == row.id).values(station_name=scanner.station_name))
        return int(row.id)
    result = connection.execute(scanners.insert().values(**ident, station_name=scanner.station_name, first_seen=utc_now()))
    return int(result.inserted_primary_key[0])


def all_rows(connection: sa.Connection) -> list[ScannerRow]:
    rows = connection.execute(sa.select(scanners).order_by(scanners.c.id)).all()
    return [ScannerRow(r.id, r.manufacturer, r.model, r.serial, r.station_name) for r in rows]


def match(all_scanners: list[ScannerRow], query: str) -> ScannerRow:
    """A scanner by id (``3`` or ``#3``), station name, serial number or model (case-insensitive)."""
    if not all_scanners:
        raise UsageError("the database holds no scanners yet", hint="run qa phantom on a phantom series first")
    q = query.strip().lstrip("#").lower()
    matches = [s for s in all_scanners if str(s.id) == q]
    if not matches:
        matches = [s for s in all_scanners if q in {(s.station_name or "").lower(), s.serial.lower(), s.key.lower()}]
    if not matches:
        matches = [s for s in all_scanners if q == s.model.lower()]
    listing = "\n".join("  " + s.label() for s in all_scanners)
    if not matches:
        raise UsageError(f"no scanner matches {query!r}; the database holds:\n{listing}", hint="give an id, station name or serial number")
    if len(matches) > 1:
        raise UsageError(f"{query!r} matches several scanners:\n" + "\n".join("  " + s.label() for s in matches),
                         hint="give the id (e.g. --scanner 3) or the serial number")
    return matches[0]
