"""Code tables for CT radiation dose reports: (CodeValue, CodingSchemeDesignator) pairs.

Content items are matched on these pairs, never on Code Meaning text: vendors spell meanings
differently ("X-Ray" / "X-ray", "CTDIvol" / "CTDIVol").  Both SNOMED generations are listed where
the standard changed them: SRT (SNOMED-RT style identifiers, DICOM up to 2019) and SCT (SNOMED CT
numeric identifiers; the SRT -> SCT mapping is the one in pydicom's ``sr._snomed_dict``).
Beware: pydicom's ``codes.DCM.StationaryAcquisition`` is 113611 (projection X-ray, CID 10002);
the CT code is DCM 113806 (``codes.DCM.StationaryAcquisitionCT``).
"""

from __future__ import annotations

from qa.records.dose import PHANTOM_KEYS as DOSE_PHANTOM_KEYS

Code = tuple[str, str]  # (CodeValue, CodingSchemeDesignator)

# ---- document level ---------------------------------------------------------------------
X_RAY_RADIATION_DOSE_REPORT: Code = ("113701", "DCM")  # PS3.16 TID 10001 / TID 10011 document title
PROCEDURE_REPORTED: Code = ("121058", "DCM")  # PS3.16 TID 10001 / TID 10011 (HAS CONCEPT MOD of the title)
# PS3.16 TID 10011 Procedure reported value "Computed Tomography X-Ray": SRT P5-08000 = SCT 77477000
CT_PROCEDURES = frozenset({("P5-08000", "SRT"), ("77477000", "SCT")})
# PS3.16 TID 10001 Procedure reported values: Projection X-Ray (DCM 113704), Mammography (SRT P5-40010 = SCT 71651007)
PROJECTION_PROCEDURES = frozenset({("113704", "DCM"), ("P5-40010", "SRT"), ("71651007", "SCT")})
PROJECTION_TEMPLATE = "10001"  # PS3.16 TID 10001 "Projection X-Ray Radiation Dose"
# PS3.16 TID 10002 "Accumulated X-Ray Dose" and TID 10003 "Irradiation Event X-Ray Data" containers
PROJECTION_CONTAINERS = frozenset({("113702", "DCM"), ("113706", "DCM")})
START_OF_IRRADIATION: Code = ("113809", "DCM")  # PS3.16 TID 10011 Start of X-Ray Irradiation
END_OF_IRRADIATION: Code = ("113810", "DCM")  # PS3.16 TID 10011 End of X-Ray Irradiation

# ---- TID 10012 CT Accumulated Dose Data -------------------------------------------------
CT_ACCUMULATED_DOSE_DATA: Code = ("113811", "DCM")  # PS3.16 TID 10012 container
TOTAL_NUMBER_OF_EVENTS: Code = ("113812", "DCM")  # PS3.16 TID 10012 Total Number of Irradiation Events
CT_DLP_TOTAL: Code = ("113813", "DCM")  # PS3.16 TID 10012 CT Dose Length Product Total

# ---- TID 10013 CT Irradiation Event Data ------------------------------------------------
CT_ACQUISITION: Code = ("113819", "DCM")  # PS3.16 TID 10013 container "CT Acquisition"
ACQUISITION_PROTOCOL: Code = ("125203", "DCM")  # PS3.16 TID 10013 Acquisition Protocol
TARGET_REGION: Code = ("123014", "DCM")  # PS3.16 TID 10013 Target Region (CID 4030 CT, MR and PET Anatomy Imaged)
CT_ACQUISITION_TYPE: Code = ("113820", "DCM")  # PS3.16 TID 10013 CT Acquisition Type (CID 10013)
IRRADIATION_EVENT_UID: Code = ("113769", "DCM")  # PS3.16 TID 10013 Irradiation Event UID
DATETIME_STARTED: Code = ("111526", "DCM")  # PS3.16 TID 10013 DateTime Started (recent editions)
COMMENT: Code = ("121106", "DCM")  # PS3.16 TID 10013 Comment
CT_ACQUISITION_PARAMETERS: Code = ("113822", "DCM")  # PS3.16 TID 10013 container "CT Acquisition Parameters"
EXPOSURE_TIME: Code = ("113824", "DCM")  # PS3.16 TID 10013 Exposure Time
SCANNING_LENGTH: Code = ("113825", "DCM")  # PS3.16 TID 10013 / TID 10014 Scanning Length
SINGLE_COLLIMATION: Code = ("113826", "DCM")  # PS3.16 TID 10013 Nominal Single Collimation Width
TOTAL_COLLIMATION: Code = ("113827", "DCM")  # PS3.16 TID 10013 Nominal Total Collimation Width
PITCH_FACTOR: Code = ("113828", "DCM")  # PS3.16 TID 10013 Pitch Factor
NUMBER_OF_SOURCES: Code = ("113823", "DCM")  # PS3.16 TID 10013 Number of X-Ray Sources
CT_XRAY_SOURCE_PARAMETERS: Code = ("113831", "DCM")  # PS3.16 TID 10013 container, one per X-ray source
SOURCE_ID: Code = ("113832", "DCM")  # PS3.16 TID 10013 Identification of the X-Ray Source
KVP: Code = ("113733", "DCM")  # PS3.16 TID 10013 KVP
MAX_TUBE_CURRENT: Code = ("113833", "DCM")  # PS3.16 TID 10013 Maximum X-Ray Tube Current
TUBE_CURRENT: Code = ("113734", "DCM")  # PS3.16 TID 10013 X-Ray Tube Current
EXPOSURE_TIME_PER_ROTATION: Code = ("113834", "DCM")  # PS3.16 TID 10013 Exposure Time per Rotation
CT_DOSE: Code = ("113829", "DCM")  # PS3.16 TID 10013 container "CT Dose"
MEAN_CTDIVOL: Code = ("113830", "DCM")  # PS3.16 TID 10013 Mean CTDIvol
CTDIW_PHANTOM_TYPE: Code = ("113835", "DCM")  # PS3.16 TID 10013 CTDIw Phantom Type (CID 4052)
DLP: Code = ("113838", "DCM")  # PS3.16 TID 10013 DLP
SSDE: Code = ("113930", "DCM")  # PS3.16 TID 10013 Size Specific Dose Estimation (recent editions)

# PS3.16 CID 10013 "CT Acquisition Type"; UMLS C0860888 (spiral) is written by older PixelMed/OpenREM tools
ACQUISITION_TYPES: dict[Code, str] = {
    ("113804", "DCM"): "sequenced",
    ("P5-08001", "SRT"): "spiral",
    ("116152004", "SCT"): "spiral",
    ("C0860888", "UMLS"): "spiral",
    ("113805", "DCM"): "constant_angle",
    ("113806", "DCM"): "stationary",
    ("113807", "DCM"): "free",
    ("702569007", "SCT"): "cone_beam",
}
# PS3.16 CID 4052 "Phantom Devices": the two CTDI phantoms of IEC 60601-2-44 (16 cm head, 32 cm body)
PHANTOMS: dict[Code, str] = {("113690", "DCM"): "head16", ("113691", "DCM"): "body32"}
PHANTOM_KEYS = DOSE_PHANTOM_KEYS  # head16, body32, unknown (qa.records.dose)

# PS3.3 CT Acquisition Type Macro: Acquisition Type (0018,9302) enumerated values -> our short names
ACQUISITION_TYPE_TERMS = {
    "SEQUENCED": "sequenced", "SPIRAL": "spiral", "CONSTANT_ANGLE": "constant_angle",
    "STATIONARY": "stationary", "FREE": "free",
}

# UCUM unit codes (PS3.16 CID 82 uses UCUM) -> factor to our unit, per quantity.  "mGycm" is
# a non-UCUM spelling that GE, Siemens and Spectrum Dynamics write for mGy.cm.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "mGy": {"mGy": 1.0, "Gy": 1000.0, "cGy": 10.0, "uGy": 1e-3},
    "mGy.cm": {"mGy.cm": 1.0, "mGycm": 1.0, "mGy*cm": 1.0, "Gy.cm": 1000.0, "cGy.cm": 10.0,
               "uGy.cm": 1e-3, "mGy.mm": 0.1, "uGy.m": 0.1, "mGy.m": 100.0},
    "mm": {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 1e-3},
    "s": {"s": 1.0, "ms": 1e-3, "min": 60.0, "us": 1e-6},
    "mA": {"mA": 1.0, "A": 1000.0, "uA": 1e-3},
    "kV": {"kV": 1.0, "V": 1e-3},
    "1": {"{ratio}": 1.0, "1": 1.0, "{pitch}": 1.0},
    "count": {"{events}": 1.0, "{X-Ray sources}": 1.0, "{X-ray sources}": 1.0, "X-ray sources": 1.0,
              "X-Ray sources": 1.0, "1": 1.0, "{sources}": 1.0},
}

# ---- written by the synthetic report writer (qa.dicom.write_rdsr) beside the codes above -----
# PS3.16 TID 1002 Observer Context / TID 1004 Device Observer Identifying Attributes
OBSERVER_TYPE: Code = ("121005", "DCM")  # value DEVICE (DCM 121007)
DEVICE: Code = ("121007", "DCM")
DEVICE_OBSERVER_UID: Code = ("121012", "DCM")
DEVICE_OBSERVER_NAME: Code = ("121013", "DCM")
DEVICE_OBSERVER_MANUFACTURER: Code = ("121014", "DCM")
DEVICE_OBSERVER_MODEL: Code = ("121015", "DCM")
DEVICE_OBSERVER_SERIAL: Code = ("121016", "DCM")
SCOPE_OF_ACCUMULATION: Code = ("113705", "DCM")  # PS3.16 TID 10011, value Study (DCM 113014)
STUDY: Code = ("113014", "DCM")
STUDY_INSTANCE_UID: Code = ("110180", "DCM")  # PS3.16 TID 10011, HAS PROPERTIES of the scope
SOURCE_OF_DOSE_INFORMATION: Code = ("113854", "DCM")  # PS3.16 TID 10011, value Automated Data Collection (DCM 113856)
AUTOMATED_DATA_COLLECTION: Code = ("113856", "DCM")
XRAY_MODULATION_TYPE: Code = ("113842", "DCM")  # PS3.16 TID 10013 X-Ray Modulation Type (TEXT)
# PS3.16 TID 10015 CT Dose Check Details (inside CT Dose)
DOSE_CHECK_ALERT_DETAILS: Code = ("113900", "DCM")
DLP_ALERT_VALUE_CONFIGURED: Code = ("113901", "DCM")
CTDIVOL_ALERT_VALUE_CONFIGURED: Code = ("113902", "DCM")
DLP_ALERT_VALUE: Code = ("113903", "DCM")
CTDIVOL_ALERT_VALUE: Code = ("113904", "DCM")
DOSE_CHECK_NOTIFICATION_DETAILS: Code = ("113908", "DCM")
DLP_NOTIFICATION_VALUE_CONFIGURED: Code = ("113909", "DCM")
CTDIVOL_NOTIFICATION_VALUE_CONFIGURED: Code = ("113910", "DCM")
DLP_NOTIFICATION_VALUE: Code = ("113911", "DCM")
CTDIVOL_NOTIFICATION_VALUE: Code = ("113912", "DCM")
ACCUMULATED_DLP_FORWARD_ESTIMATE: Code = ("113905", "DCM")  # PS3.16 TID 10015 row 6 (alert details)
ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE: Code = ("113906", "DCM")  # PS3.16 TID 10015 row 7
DLP_FORWARD_ESTIMATE: Code = ("113913", "DCM")  # PS3.16 TID 10015 row 15 (notification details)
CTDIVOL_FORWARD_ESTIMATE: Code = ("113914", "DCM")  # PS3.16 TID 10015 row 16
REASON_FOR_PROCEEDING: Code = ("113907", "DCM")  # PS3.16 TID 10015 rows 8 and 17
PERSON_NAME: Code = ("113870", "DCM")  # PS3.16 TID 1020 Person Participant: Person Name (PNAME)
PERSON_ROLE_IN_PROCEDURE: Code = ("113875", "DCM")  # PS3.16 TID 1020, HAS PROPERTIES of the Person Name
IRRADIATION_AUTHORIZING: Code = ("113850", "DCM")  # PS3.16 CID 7453: the role TID 10015 gives the person
YES: Code = ("373066001", "SCT")  # PS3.16 CID 230 Yes-No
NO: Code = ("373067005", "SCT")
# The same answers in the SNOMED-RT identifiers of DICOM editions before 2019 (CID 230), still written by scanners.
YES_SRT: Code = ("R-0038D", "SRT")
NO_SRT: Code = ("R-00339", "SRT")
# PS3.16 CID 4030 target regions the synthesiser writes (both SNOMED generations, as the k-factor table lists them)
TARGET_REGIONS: dict[str, dict[str, Code]] = {
    "heart": {"SRT": ("T-32000", "SRT"), "SCT": ("80891009", "SCT")},
    "chest": {"SRT": ("T-D3000", "SRT"), "SCT": ("51185008", "SCT")},
}
