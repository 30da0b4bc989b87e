"""Philips "Dose Info" screen captures of scanners older than RDSR (Brilliance, Elscint heritage).

The capture (Secondary Capture, Modality CT, ImageType DERIVED\\SECONDARY\\DOSE_INFO) carries its
dose data in the header: one Exposure Dose Sequence (0040,030E) item per acquisition with the
standard CTDIvol (0018,9345), KVP, X-Ray Tube Current in uA, Exposure Time (ms), Scan Length,
collimation and pitch, and the Philips private DLP (00E1,xx21) of creator ELSCINT1; the
study's total DLP is the same private tag at the top level.  The CTDI phantom is not recorded.
"""

from __future__ import annotations

import math

from qa.dicom import attributes as attr
from qa.dicom import rdsr_codes as C
from qa.dicom.rdsr_common import finish_report
from qa.records.dose import DoseEvent, DoseReport
from qa.records.plausibility import ImpossibleValue
from qa.records.identity import Pseudonymiser
from qa.dicom.datetimes import iso_datetime
from qa.dicom.sr_content import Context


def _header_number(item, keyword, where: str, ctx: Context, factor: float = 1.0) -> float | None:
    """A number from a header attribute (keyword or tag), times ``factor``; None when absent or unusable."""
    value = item[keyword].value if keyword in item else None
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        ctx.warn(f"{where}: {keyword} value {value!r} is not a number; left empty")
        return None
    if not math.isfinite(number):
        raise ImpossibleValue(ctx.label, f"{where}: {keyword if isinstance(keyword, str) else _hex(keyword)}",
                              f"value {value!r} is not a finite number",
                              hint="the capture is corrupt or was edited; export it again from the scanner")
    return float(f"{number * factor:.12g}")


def _hex(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _elscint_dlp(item, where: str, ctx: Context) -> tuple[float | None, str | None]:
    """Philips (Elscint) private DLP (00E1,xx21), in mGy.cm: the screen's own Comments on
    Radiation Dose text prints the same numbers as 'DLP=196.0'."""
    try:
        tag = item.private_block(0x00E1, "ELSCINT1").get_tag(0x21)
    except KeyError:
        return None, None
    if tag not in item:
        return None, None
    source = f"({tag >> 16:04X},{tag & 0xFFFF:04X}) ELSCINT1 DLP"
    return _header_number(item, tag, where, ctx), source


def _tag_name(keyword: str) -> str:
    tag = attr.tag(keyword)
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _event(item, where: str, ds, ctx: Context) -> DoseEvent:
    """One Exposure Dose Sequence item: one acquisition of the exam."""
    src: dict[str, str] = {}

    def take(keyword: str, name: str, factor: float = 1.0) -> float | None:
        value = _header_number(item, keyword, where, ctx, factor)
        if value is not None:
            src[name] = f"{where} {_tag_name(keyword)}"
        return value

    dlp, dlp_source = _elscint_dlp(item, where, ctx)
    if dlp is not None:
        src["dlp_mgycm"] = f"{where} {dlp_source}"
    protocol = attr.text(item, "SeriesDescription")
    src["acquisition_protocol"] = f"{where} SeriesDescription" if protocol else "ProtocolName"
    current_ma = take("XRayTubeCurrentInuA", "tube_current_ma", 1e-3)  # (0018,8151) is in uA
    if current_ma is None:
        current_ma = take("XRayTubeCurrent", "tube_current_ma")
    term = (attr.raw_text(item, "AcquisitionType") or "").upper()
    if term:
        src["acquisition_type"] = f"{where} {_tag_name('AcquisitionType')}"
    return DoseEvent(
        irradiation_event_uid=None,
        acquisition_type=C.ACQUISITION_TYPE_TERMS.get(term),
        acquisition_protocol=protocol or attr.text(ds, "ProtocolName"),
        target_region=None,
        target_region_code=None,
        target_region_scheme=None,
        xray_source_ids=(None,),
        kvp=(take("KVP", "kvp"),),
        tube_current_ma=(current_ma,),
        max_tube_current_ma=(None,),
        exposure_time_per_rotation_s=(None,),
        n_xray_sources_reported=None,
        exposure_time_s=take("ExposureTime", "exposure_time_s", 1e-3),  # PS3.3: Exposure Time (0018,1150) in ms
        scanning_length_mm=take("ScanLength", "scanning_length_mm"),  # PS3.3: Scan Length (0018,1302) in mm
        single_collimation_mm=take("SingleCollimationWidth", "single_collimation_mm"),
        total_collimation_mm=take("TotalCollimationWidth", "total_collimation_mm"),
        pitch=take("SpiralPitchFactor", "pitch"),
        ctdivol_mgy=take("CTDIvol", "ctdivol_mgy"),
        dlp_mgycm=dlp,
        phantom=None,
        ssde_mgy=None,
        comment=None,
        start_datetime=iso_datetime(attr.raw_text(item, "AcquisitionDateTime")),
        sources=src,
    )


def _count(value, keyword: str, ctx: Context) -> int | None:
    """A count from the header, or None (with a warning naming the field) when it is not one."""
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        ctx.warn(f"{keyword} {str(value)!r} is not a count of exposures: the report's own count is not compared")
        return None
    return number


def report_from_philips(ds, label: str, pseudonymise: Pseudonymiser) -> DoseReport:
    """The DoseReport of a Philips dose info capture (``ds``, read from ``label``)."""
    ctx = Context(ds, label)
    events = tuple(_event(item, f"ExposureDoseSequence[{n}]", ds, ctx)
                   for n, item in enumerate(ds.ExposureDoseSequence, 1))
    if any(e.dlp_mgycm is not None for e in events):
        ctx.warn("a Philips dose info capture does not name the CTDI phantom: its DLP is counted as 'unknown'")
    total, total_source = _elscint_dlp(ds, "header", ctx)
    n_reported = attr.lookup(ds, "TotalNumberOfExposures")
    return finish_report(
        ctx, events,
        path=label,
        sop_instance_uid=attr.raw_text(ds, "SOPInstanceUID"),
        sop_class="philips_dose_info",
        manufacturer=attr.text(ds, "Manufacturer"),
        model=attr.text(ds, "ManufacturerModelName"),
        device_serial_number=attr.text(ds, "DeviceSerialNumber"),
        station_name=attr.text(ds, "StationName"),
        irradiation_start_datetime=None,
        irradiation_end_datetime=None,
        dlp_total_mgycm=total,
        dlp_total_source=total_source if total is not None else None,
        n_events_reported=_count(n_reported, "TotalNumberOfExposures", ctx),
        header=ds,
        pseudonymise=pseudonymise,
        event_where="ExposureDoseSequence[{n}]",
    )
