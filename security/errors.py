"""Domain errors raised by services and turned into HTTP answers by the API.

Messages are Spanish source strings (the product speaks Spanish first) with %-style
parameters; the API translates them for the caller's language.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark a message for translation (it is translated where it is shown)."""
    return message


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class ValidationProblem(DomainError):
    """A request field whose value the domain refuses (HTTP 422)."""

    status = 422
    code = "validation_error"

    def __init__(self, field: str | tuple[str, ...], message: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.fields = (field,) if isinstance(field, str) else field


class Forbidden(DomainError):
    """The caller's role or zone may not do this (HTTP 403)."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """No such thing (HTTP 404)."""

    status = 404
    code = "not_found"


class Hidden(NotFound):
    """Something that exists but that the caller may not know of (another zone's incident, say):
    answered exactly like a missing one (HTTP 404, same message), so ids cannot be probed; the
    refusal still goes on the audit record."""


class Unknown(ValidationProblem):
    """A field naming something the caller may not know of (another zone's committee or alarm
    device, say): answered exactly like a field naming nothing (HTTP 422); recorded as a refusal."""


REFUSALS = (Forbidden, Hidden, Unknown)  # what goes on the record as `access.denied`


class Conflict(DomainError):
    """The request clashes with the current state, e.g. an illegal status change (HTTP 409).

    `details={"retry": True}` marks a clash with a simultaneous request: the same request sent
    again will go through (phones retry those by themselves).
    """

    status = 409
    code = "conflict"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.details = details or {}
