"""The one exception tree of semroute.

Every error a user can cause or meet derives from :class:`SemrouteError` and from the builtin it resembles, so
callers may catch either. The CLI maps the tree to exit codes and the gRPC service maps it to status codes, each in
exactly one place::

    SemrouteError
    ├── ConfigError (ValueError)              route files or settings are invalid          exit 2
    │   ├── RouteFileError                    names the file, route and field
    │   ├── ConstraintError                   the rules that fired together allow no model
    │   └── DatasetError                      a labelled data file is unreadable or malformed
    ├── ModelError (RuntimeError)             the embedding model is missing or corrupt    exit 3
    ├── IndexArtifactError (RuntimeError)     the index artifact is missing or corrupt     exit 4
    │   └── IndexModelMismatchError           the index was built with another model
    ├── RequestError (ValueError)             a routing request is invalid                 exit 2
    │   └── RecordLimitError                  a report would take its decision's stored record over a limit
    ├── NotReadyError (RuntimeError)          the router has no index loaded yet
    ├── UnknownDecisionError (LookupError)    an outcome names a decision the store has no record of
    ├── StoreError (RuntimeError)             the outcome store cannot be used
    │   ├── StoreVersionError                 it was written by a newer semroute (schema version)  exit 2
    │   ├── StoreUnavailableError             a write failed (locked file, unreachable database)
    │   └── StoreFullError                    its write queue is full
    └── MissingExtraError (ImportError)       a command needs an extra not installed here  exit 5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the lean client imports this module and need not pay for pathlib
    from pathlib import Path


class SemrouteError(Exception):
    """Base class of every semroute error."""

    exit_code: int = 1


class ConfigError(SemrouteError, ValueError):
    """Route files or router settings are invalid; ``problems`` lists each one when there are several."""

    exit_code = 2

    def __init__(self, message: str, problems: Sequence[RouteFileError] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message)


class RouteFileError(ConfigError):
    """One problem in one route file, located by file, route and field."""

    def __init__(self, file: Path | str, message: str, *, route: str | None = None, field: str | None = None):
        self.file = str(file)
        self.route = route
        self.field = field
        self.message = message
        where = [self.file]
        if route:
            where.append(f"route '{route}'")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}")


class ConstraintError(ConfigError):
    """The rules that fired restrict a decision to no model at all (``semroute check`` refuses route sets where rules
    that can fire together allow no common model)."""


class DatasetError(ConfigError):
    """A labelled data file (for ``eval``, ``fit`` or ``routes-from-dataset``) is unreadable or malformed."""


class ModelError(SemrouteError, RuntimeError):
    """The embedding model is missing, corrupt or cannot be loaded."""

    exit_code = 3


class IndexArtifactError(SemrouteError, RuntimeError):
    """The index artifact is missing, unreadable or inconsistent."""

    exit_code = 4


class IndexModelMismatchError(IndexArtifactError):
    """The index was built with a different embedding model than the one loaded."""


class RequestError(SemrouteError, ValueError):
    """A routing request is invalid: ``field`` names the offending request field, ``reason`` says what is wrong."""

    exit_code = 2

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class RecordLimitError(RequestError):
    """A report, valid on its own, would take its decision's stored record over a limit (labels merged across
    reports, :func:`semroute.limits.merged_labels`): that report alone is refused, found as the store writes it."""


class NotReadyError(SemrouteError, RuntimeError):
    """The router has no index loaded yet."""


class UnknownDecisionError(SemrouteError, LookupError):
    """An outcome or quality score names a decision_id that the outcome store has no record of."""


class StoreError(SemrouteError, RuntimeError):
    """The outcome store cannot be used."""


class StoreVersionError(StoreError):
    """The store's schema was written by a newer version of semroute; this one refuses to touch it."""

    exit_code = 2


class StoreUnavailableError(StoreError):
    """A write to the store failed: a locked or full SQLite file, an unreachable PostgreSQL."""


class StoreFullError(StoreError):
    """The store's write queue is full: the database cannot keep up (or is unavailable)."""


class MissingExtraError(SemrouteError, ImportError):
    """A command needs an optional part of semroute (an extra such as ``server``) that is not installed."""

    exit_code = 5
