"""The pydantic models of the definition files, one module per kind (an internal detail of qa.procedures).

``base`` holds what they share; ``phantom``, ``procedure``, ``protocol`` and ``dose`` each end in a
``...File`` model whose ``record(path, sha256)`` returns the frozen record the analysis uses.
Only the loader imports these modules (pydantic is never imported by ``import qa``).
"""
