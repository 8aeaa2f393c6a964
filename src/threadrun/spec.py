"""Facts of the Assistants v2 spec that both sides check (stdlib only, no logic).

The client's validator (``body``, ``checks``) and the server's (``server.validate``) stay two
implementations on purpose — each cross-checks the other in the tests — but they read their
limits from here, as do the run statuses of ``result`` and ``server.objects``.
Source: openai/openai-openapi, spec version 2.3.0 (``CreateThreadAndRunRequest``,
``RunObject``, ``Metadata``, ``ReasoningEffort``).
"""
from __future__ import annotations

#: Run statuses after which nothing changes.
TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete", "expired"})
TOOL_TYPES = ("code_interpreter", "file_search", "function")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

REQUEST_FIELDS = ("assistant_id", "thread", "model", "instructions", "tools", "tool_resources",
                  "metadata", "temperature", "top_p", "stream", "max_prompt_tokens",
                  "max_completion_tokens", "truncation_strategy", "tool_choice",
                  "parallel_tool_calls", "response_format", "x_threadrun")
#: ``x_threadrun`` in a request body: threadrun's own settings for its runtime, which the
#: Assistants spec has no field for (the run object answers with an ``x_threadrun`` too).
EXTENSION_FIELDS = ("service_tier",)
#: The service tiers the upstream APIs name (chat completions and responses, ``service_tier``).
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast")
THREAD_FIELDS = ("messages", "tool_resources", "metadata")
MESSAGE_FIELDS = ("role", "content", "attachments", "metadata")

METADATA_PAIRS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512
MIN_TOKEN_CAP = 256          # max_prompt_tokens, max_completion_tokens
FUNCTION_NAME_CHARS = 64
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
#: An assistant's temperature and top_p when none is set (the Assistants API's defaults): what
#: a run on threadrun's scratch assistant reports when its body chose neither.
SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0}
