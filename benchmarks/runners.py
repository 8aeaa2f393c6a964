"""The ways of doing one run that the benchmarks compare, all against the same server."""
from __future__ import annotations

import warnings
from typing import Any, Callable

from .common import MESSAGES, THREAD

MODEL, TEMPERATURE = "gpt-4o-mini", 0.5


class Runners:
    """One threadrun Client, one openai SDK client (its defaults), one assistant, on ``url``."""

    def __init__(self, url: str) -> None:
        import openai
        from threadrun.client import Client
        self.url = url
        self.client = Client(url)
        self.assistant_id = self.client.create_assistant(MODEL, name="benchmark")["id"]
        self.sdk = openai.OpenAI(base_url=url, api_key="sk-benchmark-not-a-key")
        self.body = {"assistant_id": self.assistant_id, "model": MODEL, "temperature": TEMPERATURE,
                     "thread": {"messages": MESSAGES}}

    def close(self) -> None:
        self.client.close()
        self.sdk.close()

    def client_stream(self) -> dict:
        """``Client.run(body, stream=True)`` → row."""
        from threadrun.rows.row import to_row
        return _check(to_row(self.client.run(self.body, stream=True)))

    def client_poll(self) -> dict:
        """``Client.run(body, stream=False)`` → row."""
        from threadrun.rows.row import to_row
        return _check(to_row(self.client.run(self.body, stream=False)))

    def api_run(self, stream: bool = True) -> Any:
        """``threadrun.run(..., log=False, progress=False)`` → one-row DataFrame."""
        import threadrun
        df = threadrun.run(THREAD, model=MODEL, temperature=TEMPERATURE, base_url=self.url,
                           stream=stream, log=False, progress=False)
        if df["status"].iloc[0] != "completed":
            raise RuntimeError(f"run did not complete: {df['error'].iloc[0]}")
        return df

    def sdk_poll(self) -> str:
        """The SDK's ``create_and_run_poll`` (default polling) + ``messages.list``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            run = self.sdk.beta.threads.create_and_run_poll(
                assistant_id=self.assistant_id, model=MODEL, temperature=TEMPERATURE,
                thread={"messages": MESSAGES})
            if run.status != "completed":
                raise RuntimeError(f"SDK run ended {run.status}")
            page = self.sdk.beta.threads.messages.list(run.thread_id)
        return "".join(p.text.value for m in page.data if m.role == "assistant"
                       for p in m.content if p.type == "text")

    def variants(self) -> dict[str, Callable[[], Any]]:
        return {"threadrun Client.run stream": self.client_stream,
                "threadrun Client.run poll": self.client_poll,
                "threadrun.run() stream, log=False": self.api_run,
                "threadrun.run() poll, log=False": lambda: self.api_run(stream=False),
                "openai SDK create_and_run_poll + messages.list": self.sdk_poll}


def _check(row: dict) -> dict:
    if row["status"] != "completed":
        raise RuntimeError(f"run did not complete: {row['error']}")
    return row
