"""requests' Session and HTTPAdapter, as threadrun needs them: ``make_session`` is the one place
a session is made, for the client and for the engines alike.

``Session`` never takes credentials from ``~/.netrc``, not even when it follows a redirect (the
Bearer key is the only credential sent). ``WatchedAdapter``'s connections tell the run's
``Watch`` which socket it reads. Only that: every request still goes through urllib3's pools, retries, proxies and TLS. The
connection classes register themselves with the sending thread's watch in ``request()``, so the
watchdog can shut down exactly the socket of a run whose deadline passed (see ``watch``).
``Session.prepare_request`` makes requests' own prepared request, skipping the merges of empty
cookie jars and settings when there is nothing to merge (every client request, usually).
"""
from __future__ import annotations

from typing import Any, cast

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

from . import watch


class _Watched:
    """Mixed into urllib3's connection classes: each request tells the run's watch its socket."""

    watched_by: Any = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Connect, tell the run's watch about this connection, send, then hand it the socket.

        Connecting first (http.client would do it inside ``request``): a connection refused
        means nothing was sent, so a stopped create is not taken for one that may exist.
        """
        current = watch.current()
        if current is not None:
            if getattr(self, "sock", None) is None:
                self.connect()  # type: ignore[attr-defined]
            current.attach(self)
        super().request(*args, **kwargs)  # type: ignore[misc]
        if current is not None:
            current.attach_socket(self)


class _WatchedHTTP(_Watched, HTTPConnection):
    pass


class _WatchedHTTPS(_Watched, HTTPSConnection):
    pass


class _Released:
    """Mixed into the pools: a connection put back belongs to no run (``watch.release``)."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            watch.release(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPPool(_Released, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTP


class _HTTPSPool(_Released, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPS


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools (direct or through a proxy) use the watched connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """HTTP(S) proxies get the watched pools; a SOCKS proxy keeps its own connection classes
        (there a deadline ends every wait but cannot cut a blocked read)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):
            manager.pool_classes_by_scheme = POOLS
        return manager


class Session(requests.Session):
    """A requests Session that never sends ``~/.netrc`` credentials (proxies and CA bundles
    from the environment still apply)."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """requests' own preparation, with the session's settings merged in. When there is
        nothing to merge but headers (no cookie kept or given, no query params, the session's
        auth hook), they are merged here and the rest prepared by ``PreparedRequest.prepare``,
        as requests does: the same request, without merging empty cookie jars and settings
        (half the time; a polled run prepares three)."""
        if (request.cookies or len(self.cookies) or request.params or self.params
                or request.auth is not None or self.auth is None):
            return super().prepare_request(request)
        headers: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(self.headers)
        headers.update(request.headers)
        for name in [name for name, value in headers.items() if value is None]:
            del headers[name]  # as requests' merge_setting: None removes a header
        prepared = requests.PreparedRequest()
        prepared.prepare(method=cast(str, request.method).upper(), url=request.url, headers=headers,
                         files=request.files, data=request.data, json=request.json,
                         auth=self.auth, cookies=None, hooks=merge_hooks(request.hooks, self.hooks))
        return prepared

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        """On a redirect: drop Authorization when it leaves the host, as requests does; take
        nothing from netrc (requests would, with ``trust_env``)."""
        headers = prepared_request.headers
        if "Authorization" in headers and self.should_strip_auth(response.request.url,
                                                                 prepared_request.url):
            del headers["Authorization"]


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth hook that changes nothing: it stops requests from reading ``~/.netrc``."""
    return request


def make_session(adapter: BaseAdapter, *, loopback: bool = False,
                 follow_redirects: bool = True) -> Session:
    """A session with ``adapter`` (retries, pools, watched sockets) for both schemes.

    Proxies (``HTTPS_PROXY``/``NO_PROXY``) and CA bundles (``REQUESTS_CA_BUNDLE``,
    ``SSL_CERT_FILE``) come from the environment, as requests reads them; credentials never do
    (no ``~/.netrc``). ``loopback``: this machine, never through a proxy (a corporate proxy cannot
    reach our loopback) and nothing else from the environment. ``follow_redirects=False``: a
    redirect is an answer, never followed (a key is not sent to another address).
    """
    session = Session()
    session.auth = _no_auth
    if loopback:
        session.trust_env = False
    if not follow_redirects:
        session.max_redirects = 0
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
