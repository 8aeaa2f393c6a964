"""Exception types shared by every part of threadrun.

Every message is one line and never contains the API key.
"""
from __future__ import annotations


class ThreadrunError(Exception):
    """Base class of every error threadrun raises on purpose."""


class ValidationError(ThreadrunError, ValueError):
    """Bad user input (cell, option, body), found before any request is sent."""

    def __init__(self, message: str, *, param: str | None = None, line: int | None = None):
        self.param = param
        self.line = line
        prefix = f"line {line}: " if line is not None else ""
        super().__init__(prefix + " ".join(str(message).split()))


class APIError(ThreadrunError):
    """The server answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 request_id: str | None = None, param: str | None = None):
        self.status = status
        self.code = code
        self.request_id = request_id
        self.param = param
        self.message = " ".join(str(message).split())
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"HTTP {self.status}" if self.status else type(self).__name__]
        if self.code:
            parts.append(f"({self.code})")
        text = " ".join(parts) + f": {self.message}"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class AuthenticationError(APIError):
    """401/403: a missing, wrong or forbidden API key."""


class BadRequestError(APIError):
    """400/409/413/422: the server refused the request as sent."""


class NotFoundError(APIError):
    """404: an unknown id or route."""


class RateLimitError(APIError):
    """429: too many requests or tokens."""


class ServerError(APIError):
    """5xx: the server failed."""


class APIConnectionError(APIError):
    """No answer: connection refused, dropped, or timed out.

    ``sent`` is False only when the request surely never reached the server (no connection was
    made), so it may be sent again; True when it may have arrived (never re-sent then).
    """

    def __init__(self, message: str, *, sent: bool = True, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.sent = sent


class RunLogError(ThreadrunError):
    """The run log cannot be opened, read or written (one line, naming the file)."""


def one_line(what: BaseException | str, limit: int = 300) -> str:
    """The one-line reason of any failure (an OSError's own words, whitespace folded, capped):
    the one spelling every error text builds on (HTTP failures add theirs in ``http.failures``)."""
    if isinstance(what, OSError) and what.strerror:
        text = what.strerror
    else:
        text = str(what)
    return " ".join(text.split())[:limit] or (type(what).__name__ if isinstance(what, BaseException) else "")


def error_for_status(status: int) -> type[APIError]:
    """The APIError subclass for an HTTP status code."""
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return BadRequestError
