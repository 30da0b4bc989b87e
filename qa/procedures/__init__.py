"""Definition files -> validated records: phantoms, phantom-QA procedures, exam protocols, dose tables.

Every definition is site-editable data.  Loading checks every key and names the file and the key
of any mistake; the file's SHA-256 travels with every stored result (provenance).  Built-in
definitions are found by id (``daily-phantom-qa``, ``qrm-cci``, ``cac-ge``, ``dose-reference``)
from a checkout or an installed wheel; a user passes a path to their own.
"""

from qa.procedures.common import SEVERITIES
from qa.procedures.dose_tables import load_dose_tables
from qa.procedures.exam import available_protocols, load_protocol
from qa.procedures.phantom import available_procedures, load_procedure
from qa.procedures.phantoms import available_phantoms, load_phantom

__all__ = [
    "SEVERITIES", "available_phantoms", "available_procedures", "available_protocols", "load_dose_tables", "load_phantom",
    "load_procedure", "load_protocol",
]
