"""idex: decode, fit, calibrate and export data of the IDEX dust-impact instrument (IMAP).

>>> import idex
>>> tree = idex.open_raw(idex.testing.sample_capture())
>>> sorted(tree.children)[:2]
['apid_1376', 'apid_1377']
"""

from idex import accessor as _accessor  # noqa: F401  (registers ds.idex)
from idex import exceptions, testing
from idex._version import __version__
from idex.lm import FitStatus
from idex.opening import open
from idex.products import open_cdf, open_products
from idex.quality import QualityFlag
from idex.raw import decode_bytes, open_raw
from idex.schema import Schema, available_schemas, load_schema, validate_schema
from idex.scope import open_trc

__all__ = [
    "FitStatus",
    "QualityFlag",
    "Schema",
    "__version__",
    "available_schemas",
    "decode_bytes",
    "exceptions",
    "load_schema",
    "open",
    "open_cdf",
    "open_products",
    "open_raw",
    "open_trc",
    "testing",
    "validate_schema",
]
