"""The one error the client raises for a failed call."""

from __future__ import annotations

from typing import Any

import grpc

from semroute.errors import SemrouteError
from semroute.wire import REQUEST_ID_KEY


class ServiceError(SemrouteError, RuntimeError):
    """A call to the routing service failed.

    Attributes:
        code: The gRPC status code (INVALID_ARGUMENT: ``details`` starts with the offending field; UNAVAILABLE:
            the retries of the channel's retry policy were spent, and for Route and RouteBatch the client's own).
        details: The server's message.
        request_id: The call's request id, to find its line in the server's log (empty when no server answered).
    """

    def __init__(self, code: grpc.StatusCode, details: str, request_id: str = "") -> None:
        self.code = code
        self.details = details
        self.request_id = request_id
        self.exit_code = 2 if code is grpc.StatusCode.INVALID_ARGUMENT else 1
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"{code.name}: {details}{suffix}")

    @classmethod
    def from_rpc_error(cls, error: Any) -> ServiceError:
        """Translate a ``grpc.RpcError`` (blocking) or ``grpc.aio.AioRpcError`` (asyncio)."""
        code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
        details = error.details() if callable(getattr(error, "details", None)) else str(error)
        trailing = error.trailing_metadata() if callable(getattr(error, "trailing_metadata", None)) else None
        request_id = next((str(value) for key, value in trailing or () if key == REQUEST_ID_KEY), "")
        return cls(code, details or "", request_id)
