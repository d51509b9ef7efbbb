"""The ISO-8601 duration grammar of every duration field (delivery backoffDelay, backoffMax,
timeout, retryAfterMax, ...), defined once for the CRDs, the validator and the runtime.

`PnYnMnWnDTnHnMnS`: whole numbers of years, months, weeks, days, hours and minutes, seconds with an
optional fraction (`.` or `,`), at least one component, no sign. Years count as 365 days and
months as 30 days. The CRDs carry `PATTERN` as the schema's `pattern` and `NOT_EMPTY_RULE` as a CEL
rule (the pattern alone also matches the empty `P` and `PT`); `parse_duration` accepts exactly
what both accept.
"""

from __future__ import annotations

import math
import re

_DATE_UNITS = (("Y", 365 * 86400.0), ("M", 30 * 86400.0), ("W", 7 * 86400.0), ("D", 86400.0))
_TIME_UNITS = (("H", 3600.0), ("M", 60.0))

# RE2 (the API server's CEL and schema patterns), ECMA and Python agree on this syntax.
PATTERN = (
    "^P"
    + "".join(f"([0-9]+{unit})?" for unit, _ in _DATE_UNITS)
    + "(T"
    + "".join(f"([0-9]+{unit})?" for unit, _ in _TIME_UNITS)
    + "([0-9]+([.,][0-9]+)?S)?)?$"
)
NOT_EMPTY_RULE = "!self.endsWith('P') && !self.endsWith('T')"
NOT_EMPTY_MESSAGE = "ISO-8601 duration needs at least one component, e.g. PT1S"
EXAMPLES = "PT0.2S, PT5M or P1DT2H"
MAX_LENGTH = 64

_GRAMMAR = re.compile(PATTERN)
_COMPONENT = re.compile(r"([0-9]+(?:[.,][0-9]+)?)([YMWDHS])")


def is_duration(text: object) -> bool:
    """Whether `text` is a duration of this grammar."""
    return (
        isinstance(text, str)
        and len(text) <= MAX_LENGTH
        and _GRAMMAR.match(text) is not None
        and not text.endswith(("P", "T"))
    )


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `PT0.2S`, `PT1M`, `P1DT2H` or `P1W`.

    Raises:
        ValueError: naming `text` when it is not a duration of this grammar.
    """
    if not isinstance(text, str):
        raise ValueError(f"duration must be an ISO-8601 string such as 'PT0.2S', got {text!r}")
    if not is_duration(text):
        raise ValueError(f"invalid ISO-8601 duration {text!r} (expected e.g. {EXAMPLES})")
    date, _, time = text[1:].partition("T")
    total = 0.0
    for part, units in ((date, dict(_DATE_UNITS)), (time, {**dict(_TIME_UNITS), "S": 1.0})):
        for number, unit in _COMPONENT.findall(part):
            total += float(number.replace(",", ".")) * units[unit]
    if not math.isfinite(total):
        raise ValueError(f"invalid ISO-8601 duration {text!r}: too large")
    return total
