"""Semroute errors -> gRPC status codes: the one table the service answers with (applied by its interceptor).

==============================  ===================  =========================================================
error                           status code          when
==============================  ===================  =========================================================
RequestError                    INVALID_ARGUMENT     a request field is wrong, or the message does not parse; the
                                                     message starts with the field
NotReadyError                   UNAVAILABLE          no index loaded yet (shutdown: the library answers UNAVAILABLE)
StoreUnavailableError           UNAVAILABLE          the outcome store could not commit a report (retry later)
OverloadedError                 RESOURCE_EXHAUSTED   the work already admitted is all the server takes on
StoreFullError                  RESOURCE_EXHAUSTED   the outcome store's write queue, or the reports waiting for
                                                     it, are at their bound
UnknownDecisionError            NOT_FOUND            a report names a decision the outcome store has no record of
DeadlineExpiredError            DEADLINE_EXCEEDED    the deadline passed before the work started
CallCancelledError              CANCELLED            the caller went away while the call waited its turn
AdminOnlyError                  PERMISSION_DENIED    ReloadIndex without the admin token
IndexArtifactError              FAILED_PRECONDITION  a reload found a corrupt artifact or one built for another model
ModelError, ConfigError         FAILED_PRECONDITION  the server's own model or settings are unusable
StoreError                      FAILED_PRECONDITION  a report sent to a server without an outcome store
anything else                   INTERNAL             a bug: fixed message to the caller, traceback to the log
==============================  ===================  =========================================================
"""

from __future__ import annotations

import grpc

from semroute.errors import (
    ConfigError,
    IndexArtifactError,
    ModelError,
    NotReadyError,
    RequestError,
    SemrouteError,
    StoreError,
    StoreFullError,
    StoreUnavailableError,
    UnknownDecisionError,
)

INTERNAL_MESSAGE = "internal error; the server log has the details under this call's x-request-id"


class DeadlineExpiredError(SemrouteError, TimeoutError):
    """The call's deadline passed before the server started the expensive part; nobody would read the answer."""


class MalformedRequestError(RequestError):
    """The request bytes are not a valid message of the method's request type."""


class OverloadedError(SemrouteError, RuntimeError):
    """The server has admitted all the work it can finish in time; the call is refused at once (retry later)."""


class CallCancelledError(SemrouteError, RuntimeError):
    """The caller cancelled (or went away) while the call waited its turn."""


class AdminOnlyError(SemrouteError, PermissionError):
    """The call needs the admin token (ReloadIndex, when the server requires tokens)."""


# First match wins, so subclasses come before their parents.
_STATUS_TABLE: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (RequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotReadyError, grpc.StatusCode.UNAVAILABLE),
    (StoreUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StoreFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnknownDecisionError, grpc.StatusCode.NOT_FOUND),
    (DeadlineExpiredError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (CallCancelledError, grpc.StatusCode.CANCELLED),
    (AdminOnlyError, grpc.StatusCode.PERMISSION_DENIED),
    (IndexArtifactError, grpc.StatusCode.FAILED_PRECONDITION),
    (ModelError, grpc.StatusCode.FAILED_PRECONDITION),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (StoreError, grpc.StatusCode.FAILED_PRECONDITION),
)


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and caller-facing message for an error raised while answering a call.

    Unexpected errors get INTERNAL and a fixed message: their text may hold internals the caller must not see.
    """
    for error_type, code in _STATUS_TABLE:
        if isinstance(error, error_type):
            return code, str(error)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE
