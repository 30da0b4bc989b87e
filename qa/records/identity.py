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


@dataclass(frozen=True)
class ScannerIdentity(Record):
    """A scanner as its images name it (the station name is a label, not part of the identity)."""

    manufacturer: str | None
    model: str | None
    device_serial_number: str | None
    station_name: str | None

    @property
    def key(self) -> str:
        return f"{self.manufacturer or 'unknown'}|{self.model or 'unknown'}|{self.device_serial_number or ''}"
