"""One place that imports jsonschema, cheaply, with only the formats our schemas use.

`import jsonschema` eagerly imports every optional format library that is
installed; `rfc3987_syntax` alone compiles an IRI grammar at import time (about
a second, tens of MB), `isoduration` pulls in `arrow`. Our schemas use only
formats the standard library checks, so those libraries are kept out while
jsonschema loads; a pre-commit hook scanning one file then starts in a fraction
of a second.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from functools import lru_cache

# every "format" keyword that appears in auditor's JSON Schemas (tests/test_ci_integrations.py keeps this honest)
USED_FORMATS = ("date", "date-time", "regex")
_STDLIB_FORMATS = ("date", "regex")  # jsonschema checks these without optional libraries
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# jsonschema._format's optional imports, each only for formats we do not use
_FORMAT_ONLY_MODULES = (
    "rfc3987", "rfc3987_syntax", "rfc3339_validator", "rfc3986_validator", "fqdn", "idna",
    "webcolors", "jsonpointer", "uri_template", "isoduration",
)


def _import_jsonschema():
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    blocked = [m for m in _FORMAT_ONLY_MODULES if m not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # `import name` now raises ImportError, which jsonschema tolerates
    try:
        import jsonschema
    finally:
        for name in blocked:  # others may import them normally later
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return jsonschema


def is_datetime(value: object) -> bool:
    """RFC 3339 date-time with an explicit offset (what `datetime.isoformat()` gives for aware times)."""
    if not isinstance(value, str):
        return True  # type errors are reported by "type"
    if not _RFC3339.match(value):
        return False
    try:
        _dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def format_checker():
    """A FormatChecker for exactly USED_FORMATS, none of which needs an optional library."""
    checker = _import_jsonschema().FormatChecker(formats=_STDLIB_FORMATS)
    checker.checks("date-time")(is_datetime)
    return checker


def draft202012(schema: dict, checker=None):
    """A Draft 2020-12 validator for one of auditor's shipped schemas.

    The schemas themselves are checked against the meta-schema by the test suite
    (tests/test_ci_integrations.py), not on every run: that check alone cost a
    third of a second per start.
    """
    cls = _import_jsonschema().Draft202012Validator
    return cls(schema, format_checker=checker if checker is not None else format_checker())
