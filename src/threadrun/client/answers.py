"""How the client reads an answer: JSON objects, the spec's error objects, and one-line reasons
for requests' failures (stdlib + requests; no key is ever part of these texts)."""
from __future__ import annotations

import re

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from ..errors import APIError, error_for_status


def json_object(response: requests.Response) -> dict:
    """The answer as a JSON object, or an APIError saying why it is not one."""
    try:
        data = response.json()
    except ValueError:
        raise APIError(f"the server answered {response.status_code} with a body that is not JSON",
                       status=response.status_code,
                       request_id=response.headers.get("x-request-id")) from None
    if not isinstance(data, dict):
        raise APIError("the server answered JSON that is not an object", status=response.status_code)
    return data


def api_error(response: requests.Response) -> APIError:
    """The APIError for an error answer (the spec's error object when there is one)."""
    try:
        err = response.json().get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    if not isinstance(err, dict):
        err = {"message": str(err)}
    message = err.get("message") or response.reason or "error"
    response.close()
    return error_for_status(response.status_code)(
        message, status=response.status_code, code=err.get("code") or err.get("type"),
        request_id=response.headers.get("x-request-id"), param=err.get("param"))


def redirect_error(path: str, response: requests.Response) -> APIError:
    """The error of a POST answered by a redirect, which threadrun does not follow."""
    location = response.headers.get("location", "")[:200]
    response.close()
    return APIError(f"POST {path} was redirected to {location}; threadrun does not follow redirects "
                    "for POST (the request would be sent again): set the base URL to where it points",
                    status=response.status_code, request_id=response.headers.get("x-request-id"))


def may_have_arrived(exc: requests.exceptions.RequestException) -> bool:
    """False only when the request surely never reached the server (no connection was made)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidHeader,
                        requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, (NewConnectionError, ConnectTimeoutError, NameResolutionError))


class BodyCutOff(Exception):
    """The answer's headers arrived but its body broke off."""


def short_reason(exc: BaseException) -> str:
    """A short one-line reason for a requests exception (no URL repeats, no headers)."""
    args = getattr(exc, "args", ())
    reason = getattr(args[0], "reason", None) if args else None
    text = str(reason or exc)
    if "Read timed out" in text:
        return "read timed out (the server may still be running it)"
    if "IncompleteRead" in text or "Connection broken" in text:
        return "connection dropped by the server mid-answer"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection dropped by the server"
    if "Connection refused" in text:
        return "connection refused"
    host = re.search(r"Failed to resolve '([^']+)'", text)
    if host:  # not urllib3's connection object: the host and what failed
        return f"could not resolve the host {host.group(1)} (DNS)"
    return " ".join(text.split())[:300]
