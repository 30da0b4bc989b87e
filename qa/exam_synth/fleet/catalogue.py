"""The scanners of a synthetic fleet and the names its exams are written with.

Models, collimations, kernels and slice thicknesses follow the vendors' cardiac and calcium-score
modes as the built-in protocols expect them (``procedures/cac-*.toml``); the median calcium-score
CTDIvol of each model is our proposal, within the 1-5 mGy usual for prospective calcium scoring
at 120 kV.  Every value is illustrative, not a vendor specification.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.records.serialize import Record


@dataclass(frozen=True)
class ScannerModel(Record):
    """A CT model as a synthetic fleet writes it (lengths in mm, times in s, doses in mGy)."""

    vendor: str  # the header writer's vendor key (qa.dicom.write.VENDORS): siemens | ge | philips | canon
    manufacturer: str
    model: str
    software: str
    collimation_mm: float  # nominal total collimation of the cardiac axial mode (one rotation's coverage)
    single_collimation_mm: float
    rotation_s: float
    cac_thickness_mm: float
    cac_kernel: str
    wrong_kernel: str  # a kernel the calcium-score protocol refuses
    thin_mm: float  # a slice thickness the protocol refuses
    cta_kernel: str
    chest_kernel: str
    cac_ctdivol_mgy: float  # median calcium-score CTDIvol at 120 kV (our proposal)
    cardiac_style: str  # where the heart rate and phase are written (qa.dicom.write_vendor.CARDIAC_STYLES)
    region_scheme: str  # SNOMED generation of the dose report's codes: SRT (older software) or SCT
    localizers: tuple[str, ...]  # the localizers of a study (one per entry, by this name)
    cac_protocol: str  # the dose report's acquisition protocol of the calcium score
    cac_description: str  # the series description ({t}: thickness, {k}: kernel)


MODELS: tuple[ScannerModel, ...] = (
    ScannerModel("siemens", "SIEMENS", "SOMATOM Force", "syngo CT VB20A", 57.6, 0.6, 0.25, 3.0, "Qr36d", "Bv40d", 1.5, "Bv40d",
                 "Br40d", 2.0, "standard", "SCT", ("Topogram",), "CaScore", "CaSc {t:g} {k}"),
    ScannerModel("ge", "GE MEDICAL SYSTEMS", "Revolution CT", "revo_ct_22", 160.0, 0.625, 0.28, 2.5, "STANDARD", "BONE", 1.25,
                 "STANDARD", "LUNG", 2.6, "ge", "SCT", ("Scout AP", "Scout LAT"), "SmartScore", "SmartScore {t:g}mm"),
    ScannerModel("philips", "Philips", "iCT 256", "4.1.6", 80.0, 0.625, 0.27, 3.0, "B", "C", 1.5, "XCB", "YA", 2.8, "philips", "SRT",
                 ("Surview",), "CaScoring", "CaScoring {t:g}mm {k}"),
    ScannerModel("canon", "TOSHIBA", "Aquilion ONE", "V8.9", 160.0, 0.5, 0.275, 3.0, "FC12", "FC03", 1.0, "FC43", "FC52", 3.0,
                 "canon", "SRT", ("Scanogram AP", "Scanogram LAT"), "Calcium Score", "Calcium Score {t:g} {k}"),
    ScannerModel("siemens", "SIEMENS", "SOMATOM Definition AS+", "syngo CT VA48A", 38.4, 0.6, 0.3, 3.0, "B35f", "B46f", 1.5, "B26f",
                 "B70f", 3.2, "siemens", "SRT", ("Topogram",), "CaScore", "CaSc {t:g} {k}"),
    ScannerModel("ge", "GE MEDICAL SYSTEMS", "Discovery CT750 HD", "gmp_vct.42", 40.0, 0.625, 0.35, 2.5, "STANDARD", "DETAIL", 1.25,
                 "STANDARD", "LUNG", 3.4, "standard", "SRT", ("Scout AP", "Scout LAT"), "SmartScore", "SmartScore {t:g}mm"),
    ScannerModel("philips", "Philips", "Brilliance 64", "3.2.5", 40.0, 0.625, 0.4, 3.0, "B", "D", 1.5, "XCB", "YB", 3.8, "standard",
                 "SRT", ("Surview",), "CaScoring", "CaScoring {t:g}mm {k}"),
    ScannerModel("canon", "CANON_MEC", "Aquilion ONE GENESIS", "V10.2", 160.0, 0.5, 0.275, 3.0, "FC12", "FC18", 1.0, "FC43",
                 "FC52", 2.4, "standard", "SCT", ("Scanogram AP",), "Calcium Score", "Calcium Score {t:g} {k}"),
)

STATIONS = ("CT1-CARDIO", "CT2-MAIN", "CT3-ER", "CT4-ONCO", "CT5-OUTPT", "CT6-NORTH", "CT7-SOUTH", "CT8-RESEARCH",
            "CT9-PAEDS", "CT10-TRAUMA", "CT11-WEST", "CT12-EAST")
INSTITUTION = "QA Synthetic Heart Centre"


@dataclass(frozen=True)
class Scanner(Record):
    """One scanner of the fleet: its model and identity as its images and dose reports give it."""

    index: int
    model: ScannerModel
    station_name: str
    device_serial_number: str | None  # None: the scanner writes none (its station name identifies it)
    volume_weight: float  # its share of the fleet's patient exams, relative to the others
    drifts: bool
    technologists: tuple[str, ...]

    @property
    def identity(self) -> str:
        """manufacturer + model + serial number, or the station name where the serial is missing."""
        name = f"serial {self.device_serial_number}" if self.device_serial_number else f"station {self.station_name}"
        return f"{self.model.manufacturer} {self.model.model} {name}"


# Relative patient volume of the scanners, in fleet order (our proposal: a busy cardiac scanner, a
# general one, an emergency one...).
VOLUME_WEIGHTS = (1.0, 0.8, 0.55, 0.7, 0.65, 0.5, 0.6, 0.35, 0.45, 0.4, 0.5, 0.3)
_SERIAL_STYLE = {"siemens": "{:05d}", "ge": "GE{:06d}", "philips": "PH{:05d}", "canon": "TSB{:07d}"}


def fleet_scanners(n: int) -> tuple[Scanner, ...]:
    """The first ``n`` scanners: the models in turn; the first drifts; with two or more, the last
    writes no serial number.  Identities depend only on ``n`` (the same fleet for every seed)."""
    out = []
    for k in range(n):
        model = MODELS[k % len(MODELS)]
        serial = None if (n >= 2 and k == n - 1) else _SERIAL_STYLE[model.vendor].format(71_000 + 1_237 * k)
        techs = tuple(f"{TECH_FAMILY[(3 * k + j) % len(TECH_FAMILY)]}^{GIVEN_NAMES[(5 * k + 2 * j) % len(GIVEN_NAMES)]}"
                      for j in range(4))
        out.append(Scanner(k, model, STATIONS[k], serial, VOLUME_WEIGHTS[k], k == 0, techs))
    return tuple(out)


# Names for synthetic patients, technologists and referrers (invented; any likeness is chance).
FAMILY_NAMES = ("ABBOTT", "BAKER", "CARTER", "DIAZ", "EVANS", "FISCHER", "GARCIA", "HUGHES", "IVANOVA", "JANSEN", "KOWALSKI",
                "LAMBERT", "MARTIN", "NOVAK", "OKAFOR", "PETERS", "QUINN", "ROSSI", "SCHMIDT", "TANAKA", "UDDIN", "VARGA",
                "WALSH", "XU", "YILMAZ", "ZIMMER", "BERG", "COSTA", "DUBOIS", "ERIKSSON", "FORD", "GRANT", "HOLM", "INGRAM",
                "JONES", "KING", "LOPEZ", "MEYER", "NILSSON", "OWEN")
GIVEN_NAMES = ("ANNA", "BEN", "CLARA", "DAVID", "ELENA", "FRANK", "GRACE", "HENRY", "IDA", "JONAS", "KATE", "LUKAS", "MARIA",
               "NOAH", "OLGA", "PAUL", "RUTH", "SAM", "TINA", "VICTOR", "WANDA", "YUSUF", "ZOE", "ALI", "BEA", "CARL")
TECH_FAMILY = ("MORGAN", "RILEY", "PATEL", "SOKOLOV", "BRENNAN", "AHMED", "LINDQVIST", "FERREIRA", "O'NEILL", "HARTMANN")
REFERRERS = ("DR^HALL^SUSAN", "DR^NGUYEN^MINH", "DR^WEBER^KLAUS", "DR^SINGH^PRIYA", "DR^MOREAU^LUC", "DR^EDWARDS^JANE")
