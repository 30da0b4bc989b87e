"""Reading SR content items by code: concept names, coded values, numbers in a given unit, text.

Items are matched on (CodeValue, CodingSchemeDesignator) pairs, never on Code Meaning.  Numbers
are taken from the raw NumericValue text and converted by their UCUM unit code
(:data:`qa.dicom.rdsr_codes.UNIT_FACTORS`); anything unusable is None plus a warning in the
report's :class:`Context`, never a guessed value.
"""

from __future__ import annotations

import decimal
import math
import warnings

from qa.dicom import attributes as attr
from qa.dicom import rdsr_codes as C
from qa.dicom.datetimes import iso_datetime
from qa.records.identity import identifier_words
from qa.records.plausibility import ImpossibleValue

Children = dict  # concept name code -> content items with that concept name, in document order

_TEXT_VALUE = 0x0040A160
_PERSON_NAME = 0x0040A123  # PS3.3 Person Name of a PNAME content item


class Context:
    """The warnings of one report, and how its text values are decoded."""

    def __init__(self, ds, label: str | None = None) -> None:
        self.label = label  # the file, for errors that refuse the report
        self.warnings: list[str] = []
        charsets = ds.get("SpecificCharacterSet") or "ISO_IR 6"
        self.charsets = [charsets] if isinstance(charsets, str) else list(charsets)
        self.utf8 = "ISO_IR 192" in self.charsets
        # The words that would name the patient in typed text (name components, IDs, accession number).
        self.patient_words = identifier_words(*(str(ds.get(k) or "") for k in ("PatientName", "PatientID", "OtherPatientIDs",
                                                                                   "AccessionNumber")))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def decode(self, raw: bytes) -> str:
        """The declared character set, unless the bytes are UTF-8 while another one is declared
        (a common vendor fault: latin-1 declared, UTF-8 written)."""
        if raw.isascii():
            return raw.decode("ascii")
        if not self.utf8:
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                self.warn(f"text values are UTF-8 although SpecificCharacterSet declares "
                          f"{'/'.join(self.charsets)}; read as UTF-8")
                return decoded
        from pydicom.charset import convert_encodings, decode_bytes

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return decode_bytes(raw, convert_encodings(self.charsets), set())


def code_of(code_item) -> C.Code | None:
    """(CodeValue, CodingSchemeDesignator) of a code sequence item."""
    value = attr.raw_text(code_item, "CodeValue") or attr.text(code_item, "LongCodeValue")
    scheme = attr.raw_text(code_item, "CodingSchemeDesignator")
    return (value, scheme) if value and scheme else None


def concept(item) -> C.Code | None:
    """The concept name of a content item (or the document title of the dataset)."""
    seq = item.get("ConceptNameCodeSequence")
    return code_of(seq[0]) if seq else None


def code_value(item) -> C.Code | None:
    """The value of a CODE content item."""
    seq = item.get("ConceptCodeSequence") if item is not None else None
    return code_of(seq[0]) if seq else None


def children(container) -> Children:
    """The children of a container by concept name; private (99...) concepts are left out."""
    out: Children = {}
    for item in container.get("ContentSequence") or ():
        code = concept(item)
        if code and not code[1].startswith("99"):
            out.setdefault(code, []).append(item)
    return out


def first(items: Children, code: C.Code):
    found = items.get(code)
    return found[0] if found else None


def label(item, code: C.Code) -> str:
    seq = item.get("ConceptNameCodeSequence")
    meaning = attr.text(seq[0], "CodeMeaning") if seq else None
    return f"{meaning or 'concept'} ({code[1]} {code[0]})"


def num(items: Children, code: C.Code, unit: str, where: str, ctx: Context) -> float | None:
    """The NUM item ``code`` in ``unit`` (a key of UNIT_FACTORS); None when absent, empty or unusable."""
    item = first(items, code)
    values = item.get("MeasuredValueSequence") if item is not None else None
    if not values:
        return None
    raw = attr.raw_text(values[0], "NumericValue")
    if raw is None:
        return None
    what = f"{where}: {label(item, code)}"
    try:
        value = float(raw)
    except ValueError:
        ctx.warn(f"{what}: numeric value {raw!r} is not a number; left empty")
        return None
    units = values[0].get("MeasurementUnitsCodeSequence")
    unit_code = attr.raw_text(units[0], "CodeValue") if units else None
    factor = C.UNIT_FACTORS[unit].get(unit_code or "")
    if not math.isfinite(value):
        raise ImpossibleValue(ctx.label, what, f"numeric value {raw!r} is not a finite number",
                              hint="the report is corrupt or was edited; export it again from the scanner or PACS")
    if factor is None:
        ctx.warn(f"{what}: value {raw} in unit {unit_code!r} cannot be read as {unit}; left empty")
        return None
    value = _agreed_float(values[0], raw, value, what, ctx)
    return float(f"{value * factor:.12g}")


def _agreed_float(measured, raw: str, value: float, what: str, ctx: Context) -> float:
    """The value of a measurement that also carries a Floating Point Value (0040,A161): the same
    number more precisely, by the standard (PS3.3 C.18.1.1).  One that contradicts the Numeric Value
    beyond its rounding is flagged and the larger is used (for a dose, the conservative one)."""
    precise = measured.get("FloatingPointValue")
    if precise is None or precise == "":
        return value
    try:
        precise = float(precise) if isinstance(precise, (int, float)) else float(precise[0])
    except (TypeError, ValueError, IndexError):
        return value
    if not math.isfinite(precise):
        raise ImpossibleValue(ctx.label, f"{what}: Floating Point Value", f"{precise} is not a finite number",
                              hint="the report is corrupt or was edited; export it again from the scanner or PACS")
    exponent = decimal.Decimal(raw.strip()).as_tuple().exponent
    rounding = 0.5 * 10.0 ** exponent if isinstance(exponent, int) else 0.0
    if abs(precise - value) <= rounding * (1 + 1e-9) + 1e-12 * abs(value):
        return value
    ctx.warn(f"{what}: Numeric Value {raw} and Floating Point Value {precise:g} contradict each other; "
             f"the larger, {max(value, precise):g}, is used")
    return max(value, precise)


def text(items: Children, code: C.Code, ctx: Context) -> str | None:
    """The TEXT item ``code``, decoded from its raw bytes (see :meth:`Context.decode`)."""
    item = first(items, code)
    elem = item.get_item(_TEXT_VALUE) if item is not None else None
    if elem is None or elem.value is None:
        return None
    value = ctx.decode(elem.value) if isinstance(elem.value, bytes) else str(elem.value)
    return value.strip(" \x00\r\n") or None


def person_name(items: Children, code: C.Code, ctx: Context) -> str | None:
    """The PNAME item ``code``'s Person Name (0040,A123) as text (components joined by ``^`` as
    written), decoded like :func:`text`; None when absent or empty."""
    item = first(items, code)
    elem = item.get_item(_PERSON_NAME) if item is not None else None
    if elem is None or elem.value is None:
        return None
    value = ctx.decode(elem.value) if isinstance(elem.value, bytes) else str(elem.value)
    return value.strip(" \x00\r\n") or None


def uid(items: Children, code: C.Code) -> str | None:
    item = first(items, code)
    return attr.raw_text(item, "UID") if item is not None else None


def datetime_value(items: Children, code: C.Code, where: str, ctx: Context) -> str | None:
    """The DATETIME item ``code`` as ISO 8601."""
    item = first(items, code)
    raw = attr.raw_text(item, "DateTime") if item is not None else None
    iso = iso_datetime(raw)
    if raw and iso is None:
        ctx.warn(f"{where}: {label(item, code)}: {raw!r} is not a DICOM date-time; left empty")
    return iso


