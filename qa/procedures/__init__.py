"""Definition files -> validated records: phantoms, phantom-QA procedures, exam protocols, dose tables.

Every definition is site-editable data.  One loader (:mod:`qa.procedures.loader`) reads them all:
it finds a built-in definition by id (``daily-phantom-qa``, ``qrm-cci``, ``cac-ge``,
``dose-reference``) in a checkout or an installed wheel, or a site's own file by path, validates
it against the pydantic model of its kind (:mod:`qa.procedures.models`), names the file and the
key of any mistake, and returns the frozen record with the file's path and SHA-256 (provenance).
"""

from qa.procedures.loader import (
    SEVERITIES, available_phantoms, available_procedures, available_protocols, load_dose_tables, load_phantom, load_procedure,
    load_protocol,
)

__all__ = [
    "SEVERITIES", "available_phantoms", "available_procedures", "available_protocols", "load_dose_tables", "load_phantom",
    "load_procedure", "load_protocol",
]
