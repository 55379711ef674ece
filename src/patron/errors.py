"""Patron's one error base: a code, an HTTP status and a message a user can act on."""

from __future__ import annotations

from typing import Any


class PatronError(Exception):
    """Base of every error Patron reports to a user; never raised bare."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail if detail is not None else message


class InvalidInput(PatronError):
    code = "invalid_input"
    status = 422


class NotFound(PatronError):
    code = "not_found"
    status = 404


class Conflict(PatronError):
    code = "conflict"
    status = 409


class Unauthorized(PatronError):
    code = "unauthorized"
    status = 401


class Forbidden(PatronError):
    code = "forbidden"
    status = 403


class ConfigError(PatronError):
    code = "config_error"
    status = 500


class DatabaseUnavailable(PatronError):
    code = "database_unavailable"
    status = 503


class FileUnreadable(InvalidInput):
    """An import file that cannot be read at all: nothing is written."""

    code = "file_unreadable"


class ModelFitError(PatronError):
    """A model fit that failed or gave parameters that make its predictions meaningless."""

    code = "model_fit_failed"
    status = 422


class RuleError(InvalidInput):
    """A rule expression or rulebook that fails its checks."""

    code = "invalid_rule"
