"""Vendor conventions written back: where each vendor's CT images carry the heart rate and trigger phase.

:mod:`qa.dicom.private_tags` says where the header reader looks for them (standard attributes
first, then each vendor's private elements or text conventions).  A synthetic fleet writes them
the way each vendor does, so that reading a year of exams exercises every row: ``standard``
writes Heart Rate (0018,1088) and Nominal Percentage of Cardiac Phase (0020,9241); the vendor
styles write no standard cardiac attribute but the vendor's own, at the place the reader's table
gives (found there by field and vendor, never copied), in the text form the table's notes describe.
"""

from __future__ import annotations

from qa.dicom.private_tags import VENDOR_TAGS, PrivateTag

CARDIAC_STYLES = ("standard", "ge", "siemens", "canon", "philips")

# The standard cardiac attributes ct_image writes; a vendor style removes them (the reader would take them first).
_STANDARD = ("HeartRate", "NominalPercentageOfCardiacPhase", "NominalCardiacTriggerDelayTime", "TriggerTime",
             "CardiacRRIntervalSpecified")
# VR of each vendor element we write (pydicom's private dictionary, as noted in qa.dicom.private_tags).
_VR = {("ge", "heart_rate_bpm"): "CS", ("ge", "trigger_phase_pct"): "CS", ("ge", "trigger_delay_ms"): "IS",
       ("canon", "heart_rate_bpm"): "SH", ("canon", "trigger_phase_pct"): "SH", ("canon", "trigger_delay_ms"): "SH",
       ("philips", "heart_rate_bpm"): "IS", ("philips", "trigger_phase_pct"): "LO"}


def rr_text(heart_rate_bpm: float) -> str:
    """The mean RR interval (ms, one decimal) Canon / Toshiba write instead of a heart rate."""
    return f"{60000.0 / heart_rate_bpm:.1f}"


def heart_rate_as_read(style: str, heart_rate_bpm: float) -> float:
    """The heart rate the header reader gets back from what ``style`` writes for ``heart_rate_bpm``
    (whole beats per minute; Canon's RR interval in ms converted back)."""
    if style == "canon":
        return 60000.0 / float(rr_text(heart_rate_bpm))
    return float(round(heart_rate_bpm))


def _row(vendor: str, field: str) -> PrivateTag:
    for row in VENDOR_TAGS:
        if isinstance(row, PrivateTag) and row.vendor == vendor and row.field == field and row.within is None:
            return row
    raise KeyError(f"no private element for {field} of {vendor} in qa.dicom.private_tags")


def _private(ds, vendor: str, field: str, value: str) -> None:
    row = _row(vendor, field)
    block = ds.private_block(row.group, row.creator, create=True)
    block.add_new(row.element, _VR[(vendor, field)], value)


def write_cardiac_tags(ds, style: str, *, heart_rate_bpm: float, phase_pct: float) -> None:
    """Write the heart rate (bpm) and trigger phase (% RR) of a gated image the way ``style`` does
    (one of :data:`CARDIAC_STYLES`; module doc).  ``ds`` is changed in place."""
    if style not in CARDIAC_STYLES:
        raise ValueError(f"cardiac style must be one of {', '.join(CARDIAC_STYLES)}")
    delay_ms = phase_pct / 100.0 * 60000.0 / heart_rate_bpm
    if style == "standard":
        ds.HeartRate = int(round(heart_rate_bpm))
        ds.NominalPercentageOfCardiacPhase = float(phase_pct)
        return
    for keyword in _STANDARD:
        if keyword in ds:
            delattr(ds, keyword)
    if style == "siemens":  # ImageComments '72 bpm, 55 %, 153 ms' (the Siemens rows of the table)
        ds.ImageComments = f"{round(heart_rate_bpm):d} bpm, {round(phase_pct):d} %, {round(delay_ms):d} ms"
    elif style == "ge":
        _private(ds, "ge", "heart_rate_bpm", f"{round(heart_rate_bpm):d}")
        _private(ds, "ge", "trigger_phase_pct", f"{round(phase_pct):d}")
        _private(ds, "ge", "trigger_delay_ms", f"{round(delay_ms):d}")
    elif style == "canon":
        _private(ds, "canon", "heart_rate_bpm", rr_text(heart_rate_bpm))
        _private(ds, "canon", "trigger_phase_pct", f"{round(phase_pct):d}%")
        _private(ds, "canon", "trigger_delay_ms", f"{round(delay_ms):d}ms")
    else:  # philips
        _private(ds, "philips", "heart_rate_bpm", f"{round(heart_rate_bpm):d}")
        _private(ds, "philips", "trigger_phase_pct", f"{round(phase_pct):d}%")
