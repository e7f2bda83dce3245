"""Text from the outcome store made safe to show: route and model names, validator kinds and other fields that a
caller (or anyone who can write the store) chose. Every renderer passes such text through these before printing it.
"""

from __future__ import annotations

import re

# C0 controls (tab and newline included), DEL and C1 controls: ESC and CSI start terminal escape sequences, and the
# others move the cursor, ring, or end a line inside a table cell. Also the bidirectional overrides and isolates,
# which reorder what a terminal or a page shows ("Trojan Source").
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """``text`` with every control character and bidirectional override shown as a visible escape (``\\x1b``,
    ``\\u202e``), so that printing it cannot drive a terminal or reorder a line."""
    return _UNPRINTABLE.sub(_visible_escape, text)


def spreadsheet_cell(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows as text: one that would start a formula gets a leading ``'``,
    as OWASP advises for CSV injection. Only for text; numbers the report writes are never passed here."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _visible_escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
