"""DICOM ECG waveforms (12-lead, General or Ambulatory ECG Waveform Storage) -> EcgTrace.

The rhythm multiplex group (ORIGINAL, the longest) is read with pydicom's ``waveform_array``
(channel sensitivity applied); the lead is chosen by name ("II" by default) from the channel
sources ("Lead II (Einthoven)" -> "II"); values are converted to mV by the sensitivity unit code.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np

from qa.errors import InputError
from qa.records.ecg import EcgTrace, TimeBase, require_sampling_rate, validate_trace


# UCUM codes of ChannelSensitivityUnitsSequence -> factor to mV.
_UNITS_TO_MV = {"uV": 1e-3, "mV": 1.0, "V": 1e3, "nV": 1e-6}


def _lead_name(channel) -> str:
    """"II" out of "Lead II (Einthoven)", "aVR" out of "Lead aVR", else the label or meaning as is."""
    meaning = ""
    seq = channel.get("ChannelSourceSequence")
    if seq:
        meaning = str(seq[0].get("CodeMeaning", ""))
    text = meaning or str(channel.get("ChannelLabel", ""))
    match = re.match(r"^\s*Lead\s+([A-Za-z0-9\-]+)", text)
    return match.group(1) if match else text.strip()


def read_dicom_ecg(path: str | os.PathLike, *, lead: str = "II") -> EcgTrace:
    """One lead of a DICOM ECG waveform as an :class:`~qa.ecg.trace.EcgTrace`."""
    from qa.dicom.files import read_whole

    label = str(path)
    ds = read_whole(label)  # bounded: never a pipe, nothing parsed past the dataset
    if ds is None:
        raise InputError(label, None, "is not a DICOM file", hint="pass a DICOM ECG, a CSV or a WFDB trace")
    groups = ds.get("WaveformSequence")
    if not groups:
        modality = ds.get("Modality", "?")
        raise InputError(label, "WaveformSequence", f"holds no waveform (Modality {modality}): not a DICOM ECG",
                         hint="pass a DICOM ECG waveform, a CSV or a WFDB trace")
    # The rhythm strip: an ORIGINAL group, the longest one.
    candidates = sorted(range(len(groups)), key=lambda i: (str(groups[i].get("WaveformOriginality", "")) != "ORIGINAL",
                                                          -int(groups[i].get("NumberOfWaveformSamples", 0))))
    index = candidates[0]
    group = groups[index]
    channels = list(group.ChannelDefinitionSequence)
    names = [_lead_name(c) for c in channels]
    wanted = [i for i, n in enumerate(names) if n.upper() == lead.strip().upper()]
    if not wanted:
        raise InputError(label, "ChannelSourceSequence", f"has no lead {lead!r}; it holds {', '.join(names)}",
                         hint="pick one of those leads (--lead)")
    channel = channels[wanted[0]]
    units_seq = channel.get("ChannelSensitivityUnitsSequence")
    unit = str(units_seq[0].CodeValue) if units_seq else ""
    if unit not in _UNITS_TO_MV:
        raise InputError(label, "ChannelSensitivityUnitsSequence", f"unit {unit!r} of lead {lead} is not a voltage unit",
                         hint="pass an ECG whose channels are in uV or mV")
    try:
        values = ds.waveform_array(index)[:, wanted[0]].astype(np.float32) * np.float32(_UNITS_TO_MV[unit])
    except Exception as exc:  # pydicom raises several kinds on malformed waveform data
        raise InputError(label, "WaveformData", f"cannot be decoded ({exc})", hint="re-export the ECG from the recorder") from exc
    fs = require_sampling_rate(group.get("SamplingFrequency"), label, "SamplingFrequency", "the waveform's SamplingFrequency")
    start = _start_time(ds, group)
    trace = EcgTrace(fs_hz=fs, time_base=TimeBase.uniform(values.size, fs), ecg_mv=values, lead=names[wanted[0]],
                     source=f"{Path(label).name} (DICOM ECG, {group.get('MultiplexGroupLabel', 'group ' + str(index))})",
                     start_time=start)
    return validate_trace(trace, label)


def _start_time(ds, group) -> dt.datetime | None:
    """Time of the group's first sample: Acquisition DateTime (else Content Date + Time) plus the
    group's Multiplex Group Time Offset (ms); None when the file gives no usable time."""
    from qa.dicom.datetimes import iso_datetime

    text = str(ds.get("AcquisitionDateTime", "") or "")
    if not text and ds.get("ContentDate") and ds.get("ContentTime"):
        text = f"{ds.ContentDate}{ds.ContentTime}"
    iso = iso_datetime(text)
    if iso is None:
        return None
    start = dt.datetime.fromisoformat(iso)
    offset_ms = group.get("MultiplexGroupTimeOffset")
    if offset_ms not in (None, ""):
        start += dt.timedelta(milliseconds=float(offset_ms))
    return start
