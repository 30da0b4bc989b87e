"""Typed records: the neutral vocabulary every layer shares (frozen dataclasses, units in names).

Records hold data and small derived properties; they never read files, open databases or compute
scores.  Readers (``qa.dicom``, ``qa.ecg.trace``) return them, analysis takes and returns them,
workflows store and print them.  Serialisation is derived from the dataclass fields
(:mod:`qa.records.serialize`).  Patient and study identifiers are never held in clear: readers
pseudonymise them when they read (:mod:`qa.records.identity`).
"""
