"""Which served attempts teach the learner, against SQLite and a real PostgreSQL. On a route without validators
every answer is accepted: counted as successes, such acceptances made the model the router already picks look ever
better (60 unchecked completions raised deepseek's estimated success on code_change from 67.0 % to 68.8 %)."""

from __future__ import annotations

import sqlalchemy as sa

from semroute.store import OutcomeDatabase, PendingDecision, utc_now
from semroute.store._records import decision_row
from semroute.store._schema import attempts
from semroute.types import Attempt, AttemptOutcome, OutcomeReport, QualityReport
from tests.store.conftest import pending_decision

UNCHECKED = Attempt("deepseek-v3.2", AttemptOutcome.ACCEPTED, 300.0, 10, 10, 0.00001)
CHECKED = Attempt("deepseek-v3.2", AttemptOutcome.ACCEPTED, 300.0, 10, 10, 0.00001, passed_validators=("json",))
REFUSED = Attempt("gpt-5-mini", AttemptOutcome.INVALID, 200.0, 10, 10, 0.00001, "json", "not JSON")


def served(database: OutcomeDatabase, text: str, *attempts_made: Attempt, score: int | None = None) -> PendingDecision:
    pending = pending_decision(text)
    report = OutcomeReport(pending.decision.decision_id, attempts_made, True, score)
    with database.engine.begin() as connection:
        database.insert_decisions(connection, [decision_row(pending, store_text=False)])
        database.write_outcome(connection, report, utc_now())
    return pending


def qualities(database: OutcomeDatabase) -> list[tuple[str, float]]:
    return [(item.model, item.quality) for item in database.observations()]


def test_an_acceptance_nothing_checked_teaches_nothing(database: OutcomeDatabase) -> None:
    served(database, "rename the helper in utils.py", UNCHECKED)
    assert qualities(database) == []


def test_an_output_that_passed_a_validator_is_a_success(database: OutcomeDatabase) -> None:
    served(database, "return the config as JSON", CHECKED)
    assert qualities(database) == [("deepseek-v3.2", 1.0)]


def test_a_quality_score_makes_an_unchecked_acceptance_count(database: OutcomeDatabase) -> None:
    pending = served(database, "rename the helper in utils.py", UNCHECKED)
    assert qualities(database) == []
    with database.engine.begin() as connection:  # a person reads the output later and scores it
        database.write_quality(connection, QualityReport(pending.decision.decision_id, 5), utc_now())
    assert qualities(database) == [("deepseek-v3.2", 1.0)]


def test_a_refused_output_is_a_failure_even_when_the_next_acceptance_was_unchecked(database: OutcomeDatabase) -> None:
    served(database, "return the config as JSON", REFUSED, UNCHECKED)
    assert qualities(database) == [("gpt-5-mini", 0.0)]


def test_attempts_reported_before_schema_version_3_count_as_they_did(database: OutcomeDatabase) -> None:
    """Unknown is not unchecked: dropping the old acceptances but not the old refusals beside them turned a route's
    record of 6 accepted and 2 refused outputs into 2 failures."""
    served(database, "return the config as JSON", REFUSED, CHECKED)
    with database.engine.begin() as connection:  # as rows written before the column existed read
        connection.execute(sa.update(attempts).values(passed_validators=None))
    assert qualities(database) == [("gpt-5-mini", 0.0), ("deepseek-v3.2", 1.0)]


def test_the_passed_validators_round_trip_through_the_store(database: OutcomeDatabase) -> None:
    both = Attempt("deepseek-v3.2", AttemptOutcome.ACCEPTED, 1.0, passed_validators=("json", "max_chars"))
    pending = served(database, "return the config as JSON", both)
    with database.engine.connect() as connection:
        stored = connection.execute(sa.select(attempts.c.passed_validators)).scalar_one()
    assert stored == "json,max_chars"
    assert database.outcome(pending.decision.decision_id) is not None
