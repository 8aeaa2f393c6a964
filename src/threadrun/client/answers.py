"""How the client reads an answer: JSON objects and the spec's error objects (a failed request's
reason is ``http.failures``'; no key is ever part of these texts)."""
from __future__ import annotations

import requests

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
