"""The upstream POST every HTTP engine shares: key, proxies, retries, and one-line errors.

Keys are read from the provider's variable for each call and sent only to that provider's base
URL. ``requests`` keeps honouring ``HTTPS_PROXY``/``NO_PROXY`` and CA bundles, but never takes
credentials from ``~/.netrc``. 429, 5xx and connection failures before the upstream answered
are retried with the client's policy (``threadrun.http.retry``); a POST that may have reached the
upstream is never sent twice. Each call runs under its own clock (``calls``): the retry count
is the client's, and a cancel or the call's budget ends every wait and read at once.
"""
from __future__ import annotations

import json
import threading
import zlib
from typing import Any, Callable, Iterator

import requests

from ... import config
from ...http import failures
from ...http import watch as clock
from ...http.retry import make_retry, retries_used
from ...http.session import WatchedAdapter, make_session
from ...http.sse import EventTooLarge, iter_events
from ...http.watch import Stopped
from ...providers import Provider
from ...scrub import mask
from . import Emit, EngineReply, Request, UpstreamError, Watch, calls, sent_settings
from .reading import ACCEPT_ENCODING, CappedEmit, body_chunks, check_reply, read_body

READ_TIMEOUT_S = 300.0
MODELS_CAP = 4 << 20  # bytes of a GET /models answer read at most
_sessions: dict[str, requests.Session] = {}
_lock = threading.Lock()


class EngineAdapter(WatchedAdapter):
    """Watched connections (a stop shuts the socket down); the retry count of the current call."""

    @property
    def max_retries(self) -> Any:
        return make_retry(calls.retries(), resend_after_send=False)

    @max_retries.setter
    def max_retries(self, value: Any) -> None:
        pass  # per call, see the getter


def session_for(provider: Provider) -> requests.Session:
    """One pooled session per provider (connections are reused across runs)."""
    with _lock:
        if provider.name not in _sessions:
            _sessions[provider.name] = make_session(EngineAdapter(pool_connections=2, pool_maxsize=32),
                                                    follow_redirects=False)
        return _sessions[provider.name]


def headers_for(provider: Provider, key: str | None) -> dict[str, str]:
    """JSON headers plus the provider's own auth header (when it has a key)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Accept-Encoding": ACCEPT_ENCODING}
    if key:
        headers["api-key" if provider.auth == "api-key" else "Authorization"] = (
            key if provider.auth == "api-key" else f"Bearer {key}")
    return headers


def post(provider: Provider, path: str, body: dict, *, stream: bool,
         watch: Callable[[Callable[[], None]], None],
         read_timeout: float | None = None) -> requests.Response:
    """POST ``body`` to the provider; the response (its body not read yet), or an UpstreamError.

    The body is always read as a stream (``reading``), polled runs too, so a cap and a cancel
    apply while it arrives. ``stream`` is what the run asked (the body's ``stream`` says it).
    ``read_timeout`` bounds each read (None: ``READ_TIMEOUT_S``); a silent provider fails there.
    """
    key = provider.key()
    return send(provider, provider.endpoint() + path, body, headers_for(provider, key), key,
                read_timeout or READ_TIMEOUT_S)


def send(provider: Provider, url: str, body: dict, headers: dict[str, str], key: str | None,
         bound: float) -> requests.Response:
    """POST ``body`` to ``url`` (one of ``provider``'s own) with ``headers``; the response, its
    body not read yet, or an UpstreamError with the upstream's message (``key`` masked)."""
    try:
        clock.check()  # cancelled or out of budget before sending: nothing goes out
        response = session_for(provider).post(
            url, data=json.dumps(body), headers=headers, stream=True,
            timeout=(config.CONNECT_TIMEOUT_S, bound), allow_redirects=False)
    except Stopped as stopped:
        raise stopped_error(provider.name, stopped.why) from None
    except requests.exceptions.TooManyRedirects as exc:  # max_redirects = 0: never followed
        if exc.response is None:
            raise UpstreamError(f"{provider.name}: redirected, not followed ({url})") from None
        raise upstream_error(provider, exc.response, key) from None
    except requests.exceptions.RequestException as exc:
        if (why := _why_stopped()) is not None:
            raise stopped_error(provider.name, why) from None
        if failures.timed_out(exc) and not isinstance(exc, requests.exceptions.ConnectTimeout):
            raise UpstreamError(silent(provider.name, bound)) from None
        raise UpstreamError(mask(f"{provider.name}: {failures.reason(exc)} ({url})", key), failures.code(exc)) from None
    if response.status_code >= 300:
        raise upstream_error(provider, response, key)
    return response


def silent(name: str, bound: float) -> str:
    """The one line of a provider that sent nothing for ``bound`` seconds."""
    return (f"{name}: no answer for {bound:g} s, the read timeout (--timeout, or the provider's "
            "timeout in providers.toml)")



def _why_stopped() -> str | None:
    """``"stop"``/``"deadline"`` when this thread's engine call was ended, else None."""
    current = clock.current()
    return current.why() if current is not None else None


def stopped_error(name: str, why: str) -> UpstreamError:
    """The one line of a call ended by a cancel or by its budget."""
    if why == "stop":
        return UpstreamError(f"{name}: the call was stopped (the run was cancelled)")
    current = clock.current()
    budget = f" of {current.deadline_s:g} s" if current is not None and current.deadline_s else ""
    return UpstreamError(f"{name}: the call's time budget{budget} (connect, retries and read) ran out",
                         "server_error")


def upstream_error(provider: Provider, response: requests.Response, key: str | None) -> UpstreamError:
    """``"anthropic 400: temperature: must be ≤ 1"``: the upstream's own status and message."""
    status = response.status_code
    try:
        message = body_message(read_some(response), response.headers.get("content-type", ""))
    finally:
        response.close()
    retried = retries_used(response)
    tail = f" (after {retried} retries)" if retried else ""
    code = "rate_limit_exceeded" if status == 429 else "server_error"
    if 300 <= status < 400:  # never followed: a key is not sent to another address
        where = " ".join(response.headers.get("location", "").split())[:200] or "no Location"
        message = f"redirected to {where}, not followed (is base_url current?)"
    text = f"{provider.name} {status}: {message or response.reason or 'error'}{tail}"
    return UpstreamError(mask(text, key), code)


def read_some(response: requests.Response, limit: int = 1 << 16) -> bytes:
    """At most ``limit`` decoded bytes of an error answer (a streamed one may never end)."""
    data = b""
    try:
        for chunk in body_chunks(response, "", limit + 1):
            data += chunk
            if len(data) >= limit:
                break
    except (UpstreamError, requests.exceptions.RequestException, OSError, ValueError, zlib.error):
        pass
    return data[:limit]


def body_message(data: bytes, content_type: str = "") -> str:
    """The message of an error body: JSON, or the first JSON ``data:`` of an event stream.

    Some servers answer a streamed request's error as ``text/event-stream`` (``data: {"error":
    ...}``) even with a non-2xx status; its message is the upstream's, not the SSE framing.
    """
    text = data.decode("utf-8", errors="replace")
    try:
        return error_message(json.loads(text))
    except ValueError:
        pass
    if "event-stream" in content_type or text.lstrip().startswith(("data:", "event:")):
        for _, payload in iter_events([data]):
            try:
                return error_message(json.loads(payload))
            except ValueError:
                if payload.strip() and payload.strip() != "[DONE]":
                    return " ".join(payload.split())[:300]
    return " ".join(text.split())[:300]


def error_message(payload: Any) -> str:
    """The message of an error body: OpenAI's ``error.message``, FastAPI's ``detail``, or ``message``."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if not isinstance(payload, dict):
        return str(payload)[:300]
    err = payload.get("error", payload)
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        if isinstance(err.get("message"), (dict, list)):  # Mistral: {"message": {"detail": [...]}}
            return error_message(err["message"])
        if err.get("message"):
            return str(err["message"])
        detail = err.get("detail")
        if isinstance(detail, list):  # FastAPI validation errors
            return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
                             if isinstance(d, dict) else str(d) for d in detail[:3])
        if detail:
            return str(detail)
    return json.dumps(payload)[:300]


def events(response: requests.Response, name: str = "") -> Iterator[tuple[str, str]]:
    """The SSE events of a streaming upstream answer (decoded bytes capped, see ``reading``)."""
    return iter_events(body_chunks(response, name))


def drain(response: requests.Response, limit: int = 1 << 16) -> None:
    """Read what follows the last event (the chunked terminator), so the connection is reused.

    A stream read only to ``[DONE]`` leaves its last bytes unread, and the connection is then
    closed instead of returned to the pool; a few bytes more save a new connection (and a TLS
    handshake) per run. Anything longer than ``limit`` is not worth reading: close instead.
    """
    try:
        read = 0
        while chunk := response.raw.read1(8192, decode_content=False):
            read += len(chunk)
            if read > limit:
                break
    except (requests.exceptions.RequestException, OSError, ValueError):
        pass



def not_a_stream(response: requests.Response) -> bool:
    """Whether a streamed request was answered with a JSON or HTML body, not an event stream."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in ("application/json", "text/html") or kind.endswith("+json")


def list_models(provider: Provider, timeout: float = 5.0) -> list[str]:
    """The model ids the provider lists at ``GET /models`` (UpstreamError when it cannot)."""
    key = provider.key()
    url = provider.endpoint() + "/models"
    try:
        response = session_for(provider).get(url, headers=headers_for(provider, key),
                                              timeout=(config.CONNECT_TIMEOUT_S, timeout),
                                              allow_redirects=False, stream=True)
    except requests.exceptions.RequestException as exc:
        raise UpstreamError(mask(f"{provider.name}: {failures.reason(exc)} ({url})", key)) from None
    if response.status_code >= 300:
        raise upstream_error(provider, response, key)
    try:
        with response:
            data = json.loads(read_body(response, provider.name, MODELS_CAP)).get("data") or []
    except (requests.exceptions.RequestException, OSError, zlib.error) as exc:
        raise UpstreamError(mask(f"{provider.name}: GET /models broke off ({failures.reason(exc)})", key)) from None
    except (ValueError, AttributeError):
        raise UpstreamError(f"{provider.name}: GET /models answered a body that is not a model list") from None
    return [str(m["id"]) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]


class HTTPEngine:
    """What the HTTP engines share: POST the run's body, then fold the stream or parse the answer.

    A subclass names its ``path`` and three functions: ``build(request, provider)`` → body,
    ``fold(events, emit, provider_name)`` → reply of a stream, ``parse(payload, provider_name)``
    → reply of a whole answer.
    """

    path: str = ""
    build: Callable[[Request, Provider], dict]
    fold: Callable[[Iterator[tuple[str, str]], Emit, str], EngineReply]
    parse: Callable[[Any, str], EngineReply]

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.sent: dict | None = None

    def reply(self, request: Request, emit: Emit, watch: Watch) -> EngineReply:
        """Call the upstream; stream text pieces to ``emit`` when the run streams."""
        name = self.provider.name
        bound = request.timeout or READ_TIMEOUT_S
        body = type(self).build(request, self.provider)
        self.sent = sent_settings(body)
        response = post(self.provider, self.path, body, stream=request.stream, watch=watch,
                        read_timeout=bound)
        with response:
            try:
                if request.stream and not_a_stream(response):
                    return check_reply(self.whole_answer(response, emit), name)
                if request.stream:
                    try:
                        reply = type(self).fold(events(response, name), CappedEmit(emit, name), name)
                    except EventTooLarge as exc:
                        raise UpstreamError(f"{name}: {exc}") from None
                    drain(response)
                    return check_reply(reply, name)
                try:
                    payload = json.loads(read_body(response, name))
                except ValueError:
                    raise UpstreamError(f"{name}: answered a body that is not JSON") from None
            except (requests.exceptions.RequestException, OSError, zlib.error) as exc:
                if (why := _why_stopped()) is not None:
                    raise stopped_error(name, why) from None
                if failures.timed_out(exc):
                    raise UpstreamError(silent(name, bound)) from None
                raise UpstreamError(f"{name}: the {'stream' if request.stream else 'answer'} broke "
                                    f"off ({failures.reason(exc)})", failures.code(exc)) from None
        return check_reply(type(self).parse(payload, name), name)

    def whole_answer(self, response: requests.Response, emit: Emit) -> EngineReply:
        """A streamed request answered with one body: its JSON reply (or error), or what the
        HTML page says, rather than "the stream ended before the reply did"."""
        name = self.provider.name
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        data = read_body(response, name)
        try:
            payload = json.loads(data)
        except ValueError:
            text = body_message(data[:1 << 16], kind)
            raise UpstreamError(f"{name}: answered {response.status_code} {kind} instead of an "
                                f"event stream: {text or '(empty)'}") from None
        reply = type(self).parse(payload, name)  # an error body raises its own message
        if reply.text:
            emit(reply.text)
        return reply
