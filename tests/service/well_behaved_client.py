"""A well-behaved client in a process of its own: it routes a task and reports its outcome, in turn, and prints what
every report was answered as one JSON object (``{"OK": 25}``).

A process of its own, because gRPC shares one connection among the channels a process opens to the same address, and
the server tells callers apart by their connection. Run as ``python -m tests.service.well_behaved_client TARGET
ROUNDS NAME`` from the repository.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from semroute.client import Attempt, AttemptOutcome, RouterClient, ServiceError

ATTEMPTS = [Attempt("gpt-5-mini", AttemptOutcome.ACCEPTED, 640.0, 100, 20, 0.0001, passed_validators=("json",))]
GENEROUS_SECONDS = 20.0  # only a refusal may fail a call, not a busy test machine


def main(target: str, rounds: int, name: str) -> Counter[str]:
    """Route and report ``rounds`` times; count the reports' answers by status code."""
    answers: Counter[str] = Counter()
    with RouterClient(target) as client:
        for round_ in range(rounds):
            decision = client.route(f"write unit tests for module {name}-{round_}", timeout=GENEROUS_SECONDS)
            try:
                client.report_outcome(
                    decision.decision_id, ATTEMPTS, accepted=True, quality_score=4, timeout=GENEROUS_SECONDS
                )
                answers["OK"] += 1
            except ServiceError as error:
                answers[error.code.name] += 1
    return answers


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
