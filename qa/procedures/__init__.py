"""QA procedures and protocols: load and validate procedures/*.toml.

A procedure is site-editable data.  Loading checks every key and names the file and the key of
any mistake; the file's SHA-256 travels with every stored result (provenance).  Built-in
procedures are found by id (``daily-phantom-qa``); a user can pass a path to their own.
"""


from qa.procedures.common import SEVERITIES
from qa.procedures.exam import EXAM_CHECKS, ExamProtocol, ProtocolRule, available_protocols, load_protocol
from qa.procedures.phantom import (
    ACQUISITION_KEYS,
    GLOBAL_METRICS,
    INSERT_METRICS,
    AcquisitionRule,
    MetricRule,
    PhantomProcedure,
    available_procedures,
    load_procedure,
    metric_key,
)

__all__ = [
    "ACQUISITION_KEYS", "EXAM_CHECKS", "GLOBAL_METRICS", "INSERT_METRICS", "SEVERITIES", "AcquisitionRule", "ExamProtocol",
    "MetricRule", "PhantomProcedure", "ProtocolRule", "available_procedures", "available_protocols", "load_procedure",
    "load_protocol", "metric_key",
]
