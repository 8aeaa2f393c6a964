"""Wire compatibility with the unmodified official ``openai`` SDK (a client we did not write)."""
from __future__ import annotations

import warnings

import pytest

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(srv):
    with openai.OpenAI(api_key="sk-test", base_url=srv.url, max_retries=0) as c:
        yield c


def test_sdk_create_and_run_poll_completes_with_usage_and_lists_the_reply(client, srv):
    from threadrun.server import echo_reply
    srv.latency = 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assistant = client.beta.assistants.create(model="gpt-4o", instructions="Be brief.")
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hello SDK"}]},
            model="gpt-4o-mini", temperature=0.2)
        messages = client.beta.threads.messages.list(run.thread_id)
    assert run.status == "completed" and run.usage.total_tokens > 0
    reply = messages.data[0].content[0].text.value
    assert reply == echo_reply([{"role": "user", "content": "Hello SDK"}], "Be brief.", "gpt-4o-mini", 0.2)
    assert srv.counts["GET /threads/{thread_id}/runs/{run_id}"] >= 1
    assert all(r.headers.get("openai-beta") == "assistants=v2" for r in srv.requests)


def test_sdk_streaming_helper_yields_the_reply_text(client, srv):
    from threadrun.server import echo_reply
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assistant = client.beta.assistants.create(model="gpt-4o")
        with client.beta.threads.create_and_run_stream(
                assistant_id=assistant.id, temperature=1.0,
                thread={"messages": [{"role": "user", "content": "Stream SDK"}]}) as stream:
            text = "".join(stream.text_deltas)
            stream.until_done()
            final = stream.get_final_messages()
            run = stream.get_final_run()
    expected = echo_reply([{"role": "user", "content": "Stream SDK"}], None, "gpt-4o", 1.0)
    assert text == expected and final[0].content[0].text.value == expected
    assert run.status == "completed"


def test_sdk_sees_rate_limit_errors_as_its_own_exception(client, srv):
    srv.faults.script(["429"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(openai.RateLimitError):
            client.beta.assistants.create(model="gpt-4o")
