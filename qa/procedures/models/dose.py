"""The dose tables (``kind = "dose-tables"``, ``procedures/dose-reference.toml``; schema in procedures/README.md) -> DoseTables."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, create_model, model_validator

from qa.dose import COMPARISONS, LEVEL_K_TOLERANCE, DoseTables, KFactor, ReferenceLevel
from qa.procedures.models.base import Code, RuleError, Table, Text, Unique, kind_first, within
from qa.records.dose import PHANTOM_KEYS

QUANTITIES = ("ctdivol_mgy", "dlp_mgycm", "dose_msv")


class TablesHead(Table):
    id: Text | None = None
    kind: Literal["dose-tables"]
    name: Text | None = None
    version: str = ""


class KFactorTable(Table):
    id: Text
    name: Text
    # E = k x DLP in mSv/(mGy cm): the shipped adult k-factors run from 0.0019 (head) to 0.028, each
    # with its source in dose-reference.toml; 1 or more is a unit mistake (uSv, or mGy cm per mSv).
    k_msv_per_mgycm: Annotated[float, Field(gt=0, lt=1)]
    icrp_basis: Literal[60, 103]  # the ICRP tissue weighting factors: Publication 60 (1990) or 103 (2007)
    source: Text
    regions: Annotated[list[Code], Unique] = []
    body_parts: Annotated[list[Text], Unique] = []  # BodyPartExamined defined terms (images without a dose report)
    name_patterns: Annotated[list[Text], Unique] = []  # words of a protocol or series name (case ignored)

    def record(self) -> KFactor:
        return KFactor(self.id, self.name, self.k_msv_per_mgycm, self.icrp_basis, self.source, tuple(self.regions),
                       tuple(p.strip().upper() for p in self.body_parts), tuple(p.lower() for p in self.name_patterns))


# [defaults]: the k-factor id for each CTDI phantom of qa.records.dose.PHANTOM_KEYS.
DefaultsTable = create_model("DefaultsTable", __base__=Table, **{phantom: (Text, ...) for phantom in PHANTOM_KEYS})


class ReferenceLevelTable(Table):
    id: Text
    name: Text
    kind: Literal["national", "site"]
    # a diagnostic reference level (compared with a group's median) or a per-exam alert level
    compares: Literal[COMPARISONS]
    source: Text
    # a reference level is positive and possible (qa.records.plausibility)
    ctdivol_mgy: Annotated[float, Field(gt=0), within("ctdivol_mgy")] | None = None
    dlp_mgycm: Annotated[float, Field(gt=0), within("dlp_mgycm")] | None = None
    dose_msv: Annotated[float, Field(gt=0), within("dose_msv")] | None = None
    protocols: Annotated[list[Text], Unique] = []
    name_patterns: Annotated[list[Text], Unique] = []
    regions: Annotated[list[Code], Unique] = []
    # the k-factor id the dose_msv level was derived with (dose_msv = dlp_mgycm x k); required when both are given
    k_factor: Text | None = None

    @model_validator(mode="after")
    def _gives_a_level(self) -> ReferenceLevelTable:
        if all(getattr(self, q) is None for q in QUANTITIES):
            raise RuleError(f"gives no level ({', '.join(QUANTITIES)})")
        if self.dlp_mgycm is not None and self.dose_msv is not None and self.k_factor is None:
            raise RuleError("gives a DLP and an effective-dose level: name the k-factor that converts one into the other "
                            "(dose_msv = dlp_mgycm x k)", "k_factor")
        return self

    def record(self) -> ReferenceLevel:
        return ReferenceLevel(
            id=self.id, name=self.name, kind=self.kind, compares=self.compares, source=self.source, ctdivol_mgy=self.ctdivol_mgy,
            dlp_mgycm=self.dlp_mgycm, dose_msv=self.dose_msv, protocols=tuple(self.protocols),
            name_patterns=tuple(p.lower() for p in self.name_patterns), regions=tuple(self.regions), k_factor=self.k_factor,
        )


class DoseTablesFile(Table):
    tables: TablesHead
    k_factors: Annotated[list[KFactorTable], Field(min_length=1)]
    defaults: DefaultsTable
    reference_levels: list[ReferenceLevelTable] = []

    @model_validator(mode="before")
    @classmethod
    def _kind_first(cls, data: Any) -> Any:
        return kind_first(data, "tables", "dose-tables", "qa dose")

    @model_validator(mode="after")
    def _ids(self) -> DoseTablesFile:
        for group in ("k_factors", "reference_levels"):
            seen: set[str] = set()
            for n, item in enumerate(getattr(self, group)):
                if item.id in seen:
                    raise RuleError(f"duplicate id {item.id!r}", group, n, "id")
                seen.add(item.id)
        k_ids = [k.id for k in self.k_factors]
        for phantom in PHANTOM_KEYS:
            if getattr(self.defaults, phantom) not in k_ids:
                raise RuleError(f"must name a k-factor id ({', '.join(k_ids)})", "defaults", phantom)
        for n, level in enumerate(self.reference_levels):
            if level.k_factor is None:
                continue
            if level.k_factor not in k_ids:
                raise RuleError(f"must name a k-factor id ({', '.join(k_ids)})", "reference_levels", n, "k_factor")
            if level.dlp_mgycm is not None and level.dose_msv is not None:
                k = next(f.k_msv_per_mgycm for f in self.k_factors if f.id == level.k_factor)
                implied = level.dlp_mgycm * k
                if abs(level.dose_msv - implied) > LEVEL_K_TOLERANCE * implied:
                    raise RuleError(f"{level.dose_msv:g} mSv disagrees with the DLP level: {level.dlp_mgycm:g} mGy cm x k {k:g} "
                                    f"({level.k_factor}) = {implied:.3g} mSv (more than {100 * LEVEL_K_TOLERANCE:g} % apart): an exam "
                                    "could pass one level and exceed the other", "reference_levels", n, "dose_msv")
        return self

    def record(self, path: str, sha256: str) -> DoseTables:
        return DoseTables(
            k_factors={k.id: k.record() for k in self.k_factors},
            defaults={phantom: getattr(self.defaults, phantom) for phantom in PHANTOM_KEYS},
            reference_levels=tuple(level.record() for level in self.reference_levels),
            path=path, sha256=sha256,
        )
