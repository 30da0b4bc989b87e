"""Who and what a result is about: the scanner's identity, and pseudonyms instead of identifiers.

Patient and study identifiers (Patient ID, Study Instance UID, Accession Number, operator names)
are replaced by keyed pseudonyms *when they are read*: readers take a :class:`Pseudonymiser` and
records hold only its output (``study_key``, ``patient_key``).  The workflow layer gives readers the
site's pseudonymiser (:func:`qa.privacy.site_pseudonymiser`, keyed with the site secret) wherever a
pseudonym is stored or shown; :meth:`Pseudonymiser.ephemeral` (a random key that lives as long as
the process) serves readers that only need to tell studies apart, so they never touch the secret.
"""

from __future__ import annotations

import hashlib
import re
import hmac
import secrets
from dataclasses import dataclass

from qa.records.serialize import Record

# Length of a pseudonym's hex digest: 80 bits, far beyond any collision risk among a site's studies.
PSEUDONYM_HEX_DIGITS = 20


class Pseudonymiser:
    """A stable, non-reversible pseudonym for each identifier: keyed HMAC-SHA-256 (RFC 2104).

    ``prefix`` marks the key's scope: ``p-`` for the site secret (the same value gets the same
    pseudonym on every workstation that shares the secret), ``t-`` for an ephemeral key (this
    process only).  The key is never shown (not in ``repr``) and never serialised.
    """

    __slots__ = ("_key", "prefix")

    def __init__(self, key: bytes, *, prefix: str = "p-") -> None:
        if len(key) < 32:
            raise ValueError("a pseudonymisation key needs at least 32 bytes")
        self._key = bytes(key)
        self.prefix = prefix

    @classmethod
    def ephemeral(cls) -> Pseudonymiser:
        """A pseudonymiser with a random key for this process only (pseudonyms link nothing across runs)."""
        return cls(secrets.token_bytes(32), prefix="t-")

    def __call__(self, value: object) -> str | None:
        """The pseudonym of ``value`` (None and blank values give None)."""
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{self.prefix}{digest[:PSEUDONYM_HEX_DIGITS]}"

    def __repr__(self) -> str:
        return f"Pseudonymiser(prefix={self.prefix!r})"


def vendor_of(manufacturer: str | None) -> str | None:
    """The vendor family of a Manufacturer value: "ge", "siemens", "canon" (Toshiba too), "philips"."""
    text = (manufacturer or "").upper()
    words = re.findall(r"[A-Z]+", text)
    if words[:1] == ["GE"] or "GE MEDICAL" in text or "GE HEALTHCARE" in text:
        return "ge"
    if "SIEMENS" in text:
        return "siemens"
    if "TOSHIBA" in text or "CANON" in text:
        return "canon"
    if "PHILIPS" in text or "ELSCINT" in text:
        return "philips"
    return None


# What anonymising exports and service tools write in place of a removed serial number or station
# name: read as "not given" (compared after normalising: case, padding and inner blanks).
PLACEHOLDERS = frozenset({
    "", "0", "-", "--", "?", "X", "XX", "XXX", "NA", "N/A", "NONE", "NULL", "NIL", "UNKNOWN", "UNK", "ANONYMOUS",
    "ANONYMIZED", "ANONYMISED", "ANON", "REMOVED", "DELETED", "EMPTY", "NOT AVAILABLE", "SERIAL", "SN", "STATION",
})

# How a scanner was identified, most stable first (the first attribute present wins):
# Device Serial Number (0018,1000), Device UID (0018,1002), Station Name (0008,1010),
# Institution Name (0008,0080) (DICOM PS3.3 C.7.5.1 General Equipment Module); "model" when the
# images carry none of them (all such scanners of one model are one scanner, and the run says so).
IDENTITY_BASES = ("serial", "device_uid", "station_name", "institution", "model")


def normalised(value: str | None) -> str | None:
    """``value`` for comparing identities: upper case, padding and inner runs of blanks removed;
    None for placeholders (``"unknown"``, ``"0"``, ``"000000"``, ``"n/a"``, ...)."""
    if value is None:
        return None
    text = " ".join(str(value).replace("\x00", " ").split()).upper()
    if text in PLACEHOLDERS or set(text) <= set("0-.?*X "):
        return None
    return text


@dataclass(frozen=True)
class ScannerIdentity(Record):
    """A scanner as its images name it.

    Its identity (:attr:`identity_basis`, :attr:`key`) is the most stable attribute present: the
    serial number, else the Device UID, else the station name, else the institution (each with
    the manufacturer and model); the station name is only a label when a serial or UID is given.
    """

    manufacturer: str | None
    model: str | None
    device_serial_number: str | None
    station_name: str | None
    device_uid: str | None = None
    institution_name: str | None = None

    __json_properties__ = ("identity_basis", "identity")

    @property
    def identity_basis(self) -> str:
        """Which attribute identifies this scanner: one of :data:`IDENTITY_BASES`."""
        return self._identity()[0]

    @property
    def identity(self) -> str:
        """The identity in words, for people: "serial number A-001", "station name CT-1", ..."""
        basis, value = self._identity()
        words = {"serial": "serial number", "device_uid": "Device UID", "station_name": "station name",
                 "institution": "institution", "model": "manufacturer and model only"}[basis]
        return words if value is None else f"{words} {value}"

    @property
    def key(self) -> str:
        """The identity as stored and compared: manufacturer|model|basis:value, normalised."""
        basis, value = self._identity()
        head = f"{normalised(self.manufacturer) or 'UNKNOWN'}|{normalised(self.model) or 'UNKNOWN'}"
        return head if value is None else f"{head}|{basis}:{normalised(value)}"

    @property
    def station_key(self) -> str | None:
        """The key this scanner would have by its station name alone (None without one)."""
        if normalised(self.station_name) is None:
            return None
        return f"{normalised(self.manufacturer) or 'UNKNOWN'}|{normalised(self.model) or 'UNKNOWN'}|station_name:{normalised(self.station_name)}"

    def _identity(self) -> tuple[str, str | None]:
        for basis, value in (("serial", self.device_serial_number), ("device_uid", self.device_uid),
                             ("station_name", self.station_name), ("institution", self.institution_name)):
            if normalised(value) is not None:
                return basis, " ".join(str(value).split())
        return "model", None


# Placed where a free-text value named the patient (see :func:`redact_identifiers`).
REDACTED = "[patient identifier removed]"


def identifier_words(*values: str | None) -> tuple[str, ...]:
    """The words by which free text could name the patient: each identifier whole (a Patient ID,
    an accession number) and each component of a person name (``^``- and space-separated), two
    characters or more; upper and lower case alike."""
    words: set[str] = set()
    for value in values:
        text = (value or "").strip()
        if not text:
            continue
        words.add(text)
        words.update(w for w in re.split(r"[\^=\s,]+", text) if len(w) >= 2)
    return tuple(sorted(words, key=len, reverse=True))


def redact_identifiers(text: str | None, words: tuple[str, ...]) -> str | None:
    """``text`` with every whole-word occurrence of ``words`` (see :func:`identifier_words`) replaced
    by :data:`REDACTED`: typed text (a reason for proceeding) may name the patient, and leaves the
    reader only without it."""
    if not text or not words:
        return text
    pattern = "|".join(re.escape(w) for w in words)
    return re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", REDACTED, text, flags=re.IGNORECASE)
