"""An Assistants API program as it was written for OpenAI's hosted API (openai SDK, beta v2).

Nothing in it knows about threadrun: it reads ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` like
any program built on the SDK. It makes an assistant with a function tool, a thread, messages,
runs one turn with ``create_and_poll`` and ``submit_tool_outputs_and_poll``, a second with
``runs.stream`` and an ``AssistantEventHandler`` then ``submit_tool_outputs_stream``, lists
the run steps and messages, and prints what it saw as one JSON line (for the test that runs it).
"""
from __future__ import annotations

import json
import warnings

from openai import AssistantEventHandler, OpenAI

warnings.simplefilter("ignore", DeprecationWarning)  # the Assistants API is deprecated upstream

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def get_weather(arguments: str) -> str:
    """The program's tool."""
    args = json.loads(arguments or "{}")
    return f"22 C and sunny in {args.get('city') or args.get('query') or 'the city'}"


class Handler(AssistantEventHandler):
    """Records what the SDK calls back, and answers tool calls when the run asks."""

    def __init__(self, client: OpenAI, thread_id: str, log: list) -> None:
        super().__init__()
        self.client, self.thread_id, self.log = client, thread_id, log
        self.text = ""

    def on_event(self, event) -> None:
        self.log.append(event.event)
        if event.event == "thread.run.requires_action":
            calls = event.data.required_action.submit_tool_outputs.tool_calls
            outputs = [{"tool_call_id": c.id, "output": get_weather(c.function.arguments)} for c in calls]
            with self.client.beta.threads.runs.submit_tool_outputs_stream(
                    thread_id=self.thread_id, run_id=event.data.id, tool_outputs=outputs,
                    event_handler=Handler(self.client, self.thread_id, self.log)) as stream:
                stream.until_done()
                self.text += stream.text

    def on_tool_call_created(self, tool_call) -> None:
        self.log.append(f"on_tool_call_created:{tool_call.function.name}")

    def on_tool_call_done(self, tool_call) -> None:
        self.log.append(f"on_tool_call_done:{tool_call.function.name}")

    def on_text_delta(self, delta, snapshot) -> None:
        self.text += delta.value or ""


def main() -> dict:
    client = OpenAI(max_retries=0)
    assistant = client.beta.assistants.create(model="gpt-4o", name="Weather bot", tools=[WEATHER],
                                              instructions="Use get_weather for weather questions.")
    thread = client.beta.threads.create(metadata={"user": "legacy"})
    client.beta.threads.messages.create(thread.id, role="user", content="What does get_weather say for Paris?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   poll_interval_ms=20)
    polled = [run.status]
    while run.status == "requires_action":
        calls = run.required_action.submit_tool_outputs.tool_calls
        outputs = [{"tool_call_id": c.id, "output": get_weather(c.function.arguments)} for c in calls]
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=thread.id, run_id=run.id, tool_outputs=outputs, poll_interval_ms=20)
        polled.append(run.status)
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    client.beta.threads.messages.create(thread.id, role="user", content="And get_weather for Rome?")
    log: list = []
    handler = Handler(client, thread.id, log)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=handler) as stream:
        stream.until_done()
    messages = client.beta.threads.messages.list(thread.id, order="asc")
    runs = client.beta.threads.runs.list(thread.id)
    return {"assistant_id": assistant.id, "thread_id": thread.id, "polled": polled,
            "usage": run.usage.total_tokens if run.usage else None,
            "steps": [[s.type, s.status, s.usage.total_tokens if s.usage else None] for s in steps.data],
            "events": log, "streamed_text": handler.text,
            "messages": [[m.role, m.content[0].text.value] for m in messages.data],
            "runs": [[r.id, r.status] for r in runs.data]}


if __name__ == "__main__":
    print(json.dumps(main()))
