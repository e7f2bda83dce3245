"""The blocking client's reporter: a report submitted after the reporter closed (a stream finalised late) is counted
as dropped and logged, not queued to a thread that has stopped."""

from __future__ import annotations

import logging

import pytest

from semroute.execution.reporting import PendingReport, ThreadReporter


def test_a_report_after_close_is_dropped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[str] = []
    reporter = ThreadReporter(lambda report: sent.append(report.decision_id))
    reporter.submit(PendingReport("d1", (), True))
    reporter.close()

    with caplog.at_level(logging.WARNING, logger="semroute"):
        reporter.submit(PendingReport("d2", (), False))

    assert sent == ["d1"]
    counters = reporter.counters
    assert (counters.sent, counters.dropped) == (1, 1)
    assert "d2" in caplog.text and "after the client was closed" in caplog.text
