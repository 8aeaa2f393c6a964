"""A server that cannot be used at all says what to do, once (the stderr line), not a riddle."""
from __future__ import annotations

import threadrun


def first_error(df) -> str:
    assert (df["status"] == "error").all() and df["assistant_id"].isna().all()  # no made-up id
    return df["error"][0]


def test_connection_refused_names_the_url_and_what_to_do(capfd):
    df = threadrun.run("user: hi", model="gpt-4o,gpt-4o-mini", base_url="http://127.0.0.1:9/v1",
                       log=False, progress=False, max_retries=0)
    error = first_error(df)
    assert "nothing answers at http://127.0.0.1:9/v1: start `threadrun serve` there, or unset " \
           "THREADRUN_BASE_URL (and drop --base-url) to use the embedded runtime" in error
    assert capfd.readouterr().err.count("nothing answers at") == 1  # said once, not per row


def test_a_404_on_a_base_url_without_v1_suggests_it(server):
    bare = server.url.removesuffix("/v1")
    error = first_error(threadrun.run("user: hi", model="gpt-4o", base_url=bare, log=False,
                                      progress=False))
    assert error.endswith(f"; the base URL has no /v1: try {bare}/v1")


def test_a_401_without_a_key_names_the_variable_it_is_read_from(keyed_server):
    error = first_error(threadrun.run("user: hi", model="gpt-4o", base_url=keyed_server.url,
                                      log=False, progress=False))
    assert error.endswith("; no key was sent: set $THREADRUN_API_KEY (or name another variable "
                          "with --api-key-env)")
