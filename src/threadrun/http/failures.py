"""What became of a request that failed, read once for the client and the engines alike: the
one-line reason, whether it may have reached the server, and the spec's error code for it.

No key or header is ever part of these texts: they are built from the exception's reason.
"""
from __future__ import annotations

import re

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from ..errors import one_line


class BodyCutOff(Exception):
    """The answer's headers arrived but its body broke off."""


def reason(exc: BaseException) -> str:
    """A short one-line reason for a failed request (no URL repeats, no headers)."""
    args = getattr(exc, "args", ())
    text = str(getattr(args[0], "reason", None) or exc) if args else str(exc)
    if isinstance(exc, requests.exceptions.RetryError):
        return f"gave up after retries: {_words(text)}"
    return _words(text)


def _words(text: str) -> str:
    """The plain words for what an exception's text says went wrong."""
    host = re.search(r"Failed to resolve '([^']+)'", text)
    if host or "NameResolutionError" in text or "Name or service not known" in text:
        return f"could not resolve the host{f' {host.group(1)}' if host else ''} (DNS)"
    if "Connection refused" in text:
        return "connection refused (is the server running?)"
    if "Read timed out" in text:
        return "read timed out (the server may still be running it)"
    if "IncompleteRead" in text or "Connection broken" in text:
        return "connection dropped by the server mid-answer"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection dropped by the server"
    if "timed out" in text.lower():
        return "timed out"
    return one_line(text)


def may_have_arrived(exc: BaseException) -> bool:
    """False only when the request surely never reached the server (no connection was made)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidHeader,
                        requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return False
    reason_ = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason_, (NewConnectionError, ConnectTimeoutError, NameResolutionError))


def timed_out(exc: BaseException) -> bool:
    """Whether a failed read was a timeout (requests wraps urllib3's in a ConnectionError)."""
    return isinstance(exc, (requests.exceptions.Timeout, TimeoutError)) or "timed out" in str(exc).lower()


def code(exc: BaseException) -> str:
    """``connection_error`` when the connection failed (DNS, refused, reset, dropped mid-stream,
    connect timeout); ``server_error`` otherwise (a read timeout: it was reached, then silent)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection_error"
    if isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
        return "server_error"
    broken = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError, OSError)
    return "connection_error" if isinstance(exc, broken) else "server_error"
