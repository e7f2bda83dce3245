"""How many reports (ReportOutcome, ReportQuality) may wait for their commit at once: per caller, and in all.

A report holds a slot from the moment it is queued until its transaction commits (milliseconds; longer while the
database is slow). The bound per caller is checked first: a caller that floods the server with valid reports fills its
own slots and gets RESOURCE_EXHAUSTED, while other callers find theirs free. The bound in all stays as the last line
(many callers at once, or one that opens many connections), and with it the threads reports may hold.

A caller is a connection, gRPC's peer (``ipv4:10.0.0.7:53412``): a client process holds one per server address,
shared by its channels (gRPC pools them), and a flood from many connections meets the bound in all. The bearer token
cannot tell callers apart: a server takes one token, which all its clients present.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from semroute.errors import StoreFullError


class ReportSlots:
    """Counts the reports waiting for their commit, per caller and in all, refusing one beyond either bound."""

    def __init__(self, total: int, per_caller: int) -> None:
        """At most ``total`` reports waiting at once, and at most ``per_caller`` of one caller."""
        self._total = total
        self._per_caller = per_caller
        self._lock = threading.Lock()
        self._waiting: dict[str, int] = {}  # callers with reports waiting only: it holds at most `total` entries
        self._waiting_total = 0

    @contextmanager
    def hold(self, caller: str) -> Iterator[None]:
        """Hold a slot of ``caller`` while the block runs.

        Raises:
            StoreFullError: ``caller`` already holds its share, or every slot is held.
        """
        with self._lock:
            mine = self._waiting.get(caller, 0)
            if mine >= self._per_caller:
                raise StoreFullError(
                    f"this caller already has {mine} reports waiting for the outcome store, its limit; retry later"
                )
            if self._waiting_total >= self._total:
                raise StoreFullError("too many reports are waiting for the outcome store; retry later")
            self._waiting[caller] = mine + 1
            self._waiting_total += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting_total -= 1
                left = self._waiting[caller] - 1
                if left:
                    self._waiting[caller] = left
                else:
                    del self._waiting[caller]
