"""The Assistants v2 endpoints threadrun uses, over one pooled, retrying session.

One ``Endpoints`` (``Client``) holds one ``requests.Session`` (pooled keep-alive connections,
shared by threads). The API key lives only in the session's headers: it is never in a repr, a log
line or an error. A run's lifecycle over these endpoints is ``runs``.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .. import __version__, config, notify, scrub
from ..errors import APIConnectionError, APIError, ValidationError
from ..http import failures
from ..http.failures import BodyCutOff
from ..http.gate import Gate
from ..http.retry import BACKOFF_BASE, CREATE_PATH, RETRY_AFTER_MAX, make_retry, resend_cut_off
from ..http.session import WatchedAdapter, make_session
from ..http.sse import MAX_EVENT_BYTES
from ..rows.result import message_text
from .answers import api_error, json_object, redirect_error

DEFAULT_POLL_S = 0.5


class Endpoints:
    """A pooled, retrying client for the Assistants v2 endpoints threadrun uses."""

    #: The largest stream line or event accepted; a bigger one fails that run (see ``sse``).
    max_event_bytes = MAX_EVENT_BYTES

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = config.TIMEOUT_S, max_retries: int = config.MAX_RETRIES,
                 pool_size: int = 32,
                 backoff: float = BACKOFF_BASE, poll_interval: float = DEFAULT_POLL_S,
                 rpm: float | None = None):
        url = config.base_url(base_url)
        if url is None:
            raise ValidationError("no Assistants server: give base_url= or set $THREADRUN_BASE_URL "
                                  "(threadrun.run and the magic use the embedded runtime)")
        self.base_url = normalize_base_url(url)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.poll_interval = poll_interval
        self.backoff = backoff
        self.gate = Gate(rpm)
        key = (api_key if api_key is not None else config.api_key()).strip()
        if any(not 33 <= ord(ch) <= 126 for ch in key):
            raise ValidationError("the API key contains spaces or characters that cannot go in an "
                                  "HTTP header; check THREADRUN_API_KEY (or the --api-key-env variable)")
        self._key = key  # only to scrub it from error texts; never shown
        scrub.remember(key, "the API key")  # and from replies, run objects and the log
        # one policy for every request: it never re-sends a createThreadAndRun that may have
        # arrived, telling it by method and path (see retry.is_create)
        adapter = WatchedAdapter(pool_connections=4, pool_maxsize=pool_size,
                                 max_retries=make_retry(max_retries, resend_after_send=True,
                                                        backoff=backoff, gate=self.gate))
        # never ~/.netrc, even on a redirect; this machine never through HTTP(S)_PROXY
        self.session = make_session(adapter, loopback=config.is_loopback(urlsplit(self.base_url).hostname))
        self.session.headers.update({
            "OpenAI-Beta": "assistants=v2",
            "User-Agent": f"threadrun/{__version__} python-requests/{requests.__version__}",
            "Content-Type": "application/json",
        })
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
            _warn_plain_http(self.base_url)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    # -- low level -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, body: Any = None, params: dict | None = None,
                 stream: bool = False, gated: bool = False,
                 headers: dict[str, str] | None = None) -> requests.Response:
        """Send one request (urllib3 retries included); raise APIError on an error answer.

        urllib3 retries only until the headers arrive; a GET whose body is cut off afterwards is
        sent again here (it is idempotent), up to ``max_retries`` times. ``gated`` = the caller
        already passed the gate (rate cap, 429 pause) for the first attempt.
        """
        resends = self.max_retries if method == "GET" and not stream else 0
        try:
            return resend_cut_off(
                lambda attempt: self._send(method, path, body, params, stream,
                                           gated and attempt == 0, headers),
                resends, self.backoff, f"{method} {path}")
        except BodyCutOff as cut:
            raise self.masked(APIConnectionError(f"{method} {path}: {cut}")) from None
        except APIError as exc:
            raise self.masked(exc) from None

    def _send(self, method: str, path: str, body: Any, params: dict | None, stream: bool,
              gated: bool, headers: dict[str, str] | None = None) -> requests.Response:
        """One attempt (with urllib3's own retries) → the response, or an APIError.

        A POST never follows a redirect: requests would send it again to the new address.
        """
        data = json.dumps(body) if body is not None else None
        if not gated:
            self.gate.acquire()
        try:
            response = self.session.request(method, self.base_url + path, data=data, params=params,
                                            headers=headers, stream=stream,
                                            allow_redirects=method != "POST",
                                            timeout=(config.CONNECT_TIMEOUT_S, self.timeout))
        except requests.exceptions.ChunkedEncodingError as exc:
            raise BodyCutOff(failures.reason(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise APIConnectionError(f"{method} {path}: {failures.reason(exc)}",
                                     sent=failures.may_have_arrived(exc)) from None
        if response.status_code >= 400:
            raise api_error(response)
        if method == "POST" and response.is_redirect:
            raise redirect_error(path, response)
        return response

    def masked(self, exc: APIError) -> APIError:
        """The same error with the key masked, should a server or library ever echo it."""
        message = scrub.mask(exc.message, self._key)
        if message != exc.message:
            exc.message = message
            exc.args = (exc._describe(),)
        return exc

    def get_json(self, path: str, params: dict | None = None,
                 gated: bool = False) -> tuple[dict, requests.Response]:
        """GET a JSON object (``gated``: past the rate gate already, or exempt from it)."""
        response = self._request("GET", path, params=params, gated=gated)
        return json_object(response), response

    def post_json(self, path: str, body: Any) -> dict:
        """POST a JSON body, answer a JSON object."""
        return json_object(self._request("POST", path, body=body))

    # -- endpoints -------------------------------------------------------------------------------

    def count_input_tokens(self, body: dict) -> dict:
        """``POST /threads/runs/input_tokens`` (threadrun's runtime): the input tokens of a
        createThreadAndRun body's prompt, counted by its model's provider; nothing runs."""
        return self.post_json("/threads/runs/input_tokens", body)

    def create_assistant(self, model: str, name: str = "threadrun scratch assistant",
                         reasoning_effort: str | None = None) -> dict:
        body = {"model": model, "name": name, "metadata": {"created_by": "threadrun"}}
        if reasoning_effort is not None:
            body["reasoning_effort"] = reasoning_effort
        return self.post_json("/assistants", body)

    def get_assistant(self, assistant_id: str) -> dict:
        return self.get_json(f"/assistants/{assistant_id}")[0]

    def retrieve_run(self, thread_id: str, run_id: str,
                     gated: bool = False) -> tuple[dict, float | None]:
        """The run, and the server's ``openai-poll-after-ms`` in seconds (None if absent)."""
        run, response = self.get_json(f"/threads/{thread_id}/runs/{run_id}", gated=gated)
        return run, _poll_after(response)

    def cancel_run(self, thread_id: str, run_id: str) -> dict:
        """POST cancelRun, with no body (it takes none; a validating proxy refuses ``{}``).

        Never held back by the rate gate: a cancel stops spending, and a queue of runs waiting
        for slots (or a 429 pause) must not keep it from being sent.
        """
        return json_object(self._request("POST", f"/threads/{thread_id}/runs/{run_id}/cancel",
                                         gated=True))

    def create_run(self, body: dict, key: dict[str, str], stream: bool) -> requests.Response:
        """POST createThreadAndRun (gated by the run itself) with the run's Idempotency-Key; the
        response is returned unread (a stream, or the run object)."""
        headers = {**key, config.TIMEOUT_HEADER: f"{self.timeout:g}"}  # our runtime's read bound
        return self._request("POST", CREATE_PATH, body={**body, "stream": stream}, stream=stream,
                             gated=True, headers=headers)

    def create_run_on(self, thread_id: str, body: dict, key: dict[str, str],
                      stream: bool) -> requests.Response:
        """POST createRun on an existing thread (a continued conversation), like ``create_run``."""
        headers = {**key, config.TIMEOUT_HEADER: f"{self.timeout:g}"}
        return self._request("POST", f"/threads/{quote(thread_id, safe='')}/runs",
                             body={**body, "stream": stream}, stream=stream, gated=True,
                             headers=headers)

    def add_message(self, thread_id: str, message: dict) -> dict:
        """POST createMessage: one message added to an existing thread."""
        return self.post_json(f"/threads/{quote(thread_id, safe='')}/messages", message)

    def submit_tool_outputs(self, thread_id: str, run_id: str, outputs: list[dict],
                            stream: bool) -> requests.Response:
        """POST submitToolOutputs: every output of the calls a run asked for, in one request; the
        response unread (a stream of the run's events, or the run object)."""
        path = f"/threads/{quote(thread_id, safe='')}/runs/{quote(run_id, safe='')}/submit_tool_outputs"
        return self._request("POST", path, body={"tool_outputs": outputs, "stream": stream},
                             stream=stream, gated=True,
                             headers={config.TIMEOUT_HEADER: f"{self.timeout:g}"})

    def reply_text(self, thread_id: str, run_id: str) -> str:
        """The text of this run's assistant messages, oldest first, parts joined."""
        # The query string written out: requests' encoding of a params dict cost ~7% of a polled run.
        page, _ = self.get_json(f"/threads/{thread_id}/messages?run_id={quote(str(run_id), safe='')}"
                                "&order=asc&limit=100")
        texts = [message_text(m) for m in page.get("data") or []
                 if m.get("role") == "assistant" and m.get("run_id") in (run_id, None)]
        return "\n\n".join(t for t in texts if t)


_warned_hosts: set[str] = set()


def normalize_base_url(url: str) -> str:
    """The base URL as requests sends it (dot segments resolved, ``%31`` decoded), no trailing ``/``."""
    try:
        prepared = requests.Request("GET", url).prepare().url or url
    except (requests.exceptions.RequestException, ValueError):
        return url.rstrip("/")  # unusable: the first request says why
    return prepared.rstrip("/")


def _warn_plain_http(base_url: str) -> None:
    """Warn once per host when the key would travel unencrypted to another machine."""
    url = urlsplit(base_url)
    if url.scheme == "http" and not config.is_loopback(url.hostname) and url.hostname not in _warned_hosts:
        _warned_hosts.add(url.hostname or "")
        notify.warn(f"the API key goes over plain http to {url.hostname}; "
                    "use https for anything but this machine")





def _poll_after(response: requests.Response) -> float | None:
    """``openai-poll-after-ms`` in seconds, capped like Retry-After (at most 60 s)."""
    value = response.headers.get("openai-poll-after-ms")
    try:
        return min(max(float(value) / 1000.0, 0.0), RETRY_AFTER_MAX) if value is not None else None
    except ValueError:
        return None


__all__ = ["Endpoints", "normalize_base_url"]
