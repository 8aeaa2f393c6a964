"""The tool loop of a run: rounds, each one upstream call (or echo reply) and one run step.

A round ends with text (a ``message_creation`` step, the run ends) or with tool calls (a
``tool_calls`` step, the run ``requires_action``). ``submit_tool_outputs`` closes that round:
its step completes with the outputs and its own usage, kept in ``run.history``; its usage is
added to ``run.used``; the conversation goes on in ``run.transcript``, in the chat shape (an
assistant message with ``tool_calls``, then one ``tool`` message per call, ``tool_call_id``
naming it), which each engine turns into its upstream's words; and a new round starts. A
model that asks for tools more than ``run.max_rounds`` times ends the run ``incomplete``. A
round that writes text, then asks for tools, is two steps, as the API shows it: the text's
message (completed), then the calls (``split_text``).
"""
from __future__ import annotations

import math
from typing import Any

from .objects import Run, Thread, add_usage, new_id
from .validate import ErrorAnswer, fail

#: Tool rounds a run may take by default (``threadrun serve --max-steps``).
MAX_ROUNDS = 10
OUTPUT_CHARS = 256_000  # characters of one tool output at most (longer: a 400, never cut)


def check_outputs(run: Run, outputs: Any) -> list[dict]:
    """The outputs in call order: each pending call answered once, no unknown call ids (400)."""
    calls = {call["id"]: call for call in run.calls()}
    seen: dict[str, str] = {}
    for index, item in enumerate(outputs):
        call_id = item.get("tool_call_id")
        if call_id not in calls:
            fail(f"tool_outputs[{index}].tool_call_id",
                 f"Invalid 'tool_outputs[{index}].tool_call_id': no pending tool call "
                 f"'{str(call_id)[:80]}' in run {run.id}; pending: {', '.join(calls)}.")
        if call_id in seen:
            fail(f"tool_outputs[{index}].tool_call_id", f"Tool call '{call_id}' was answered twice.")
        output = str(item.get("output") or "")
        if len(output) > OUTPUT_CHARS:
            fail(f"tool_outputs[{index}].output", f"Invalid 'tool_outputs[{index}].output': string too "
                 f"long ({len(output)} characters); this runtime takes at most {OUTPUT_CHARS} per output.",
                 "string_above_max_length")
        seen[call_id] = output
    missing = [call_id for call_id in calls if call_id not in seen]
    if missing:
        fail("tool_outputs", f"Missing tool outputs for tool calls: {', '.join(missing)}; every "
                             "call of the run's required_action needs one.")
    return [{"call": calls[call_id], "output": seen[call_id]} for call_id in calls]


def check_waiting(run: Run, status: str) -> None:
    """A 400 unless the run waits for tool outputs."""
    if status != "requires_action":
        raise ErrorAnswer(400, f"Runs in status \"{status}\" do not accept tool outputs; run "
                               f"{run.id} does not require action.", None, None)


def round_tool_choice(run: Run) -> Any:
    """The ``tool_choice`` sent for this round: a forced one (``"required"``, a named function)
    holds until the model has called tools once, then ``"auto"``. The reference: "required means
    the model must call one or more tools before responding to the user"; forced on every round,
    the model could only call again until the step cap."""
    choice = run.params.tool_choice
    return "auto" if run.history and choice not in (None, "auto", "none") else choice


def tool_turns(run: Run, answered: list[dict]) -> list[dict]:
    """The round's turns in the chat shape: the assistant's calls, then each call's output."""
    calls = [{"id": a["call"]["id"], "type": "function",
              "function": {"name": a["call"]["function"]["name"],
                           "arguments": a["call"]["function"]["arguments"]}} for a in answered]
    said = "".join(run.pieces) or run.reply or None
    return [{"role": "assistant", "content": said, "tool_calls": calls},
            *({"role": "tool", "tool_call_id": a["call"]["id"], "content": a["output"]} for a in answered)]


def close_round(run: Run, answered: list[dict], now: float) -> dict:
    """Complete the round's tool_calls step with its outputs; start a new round (the caller
    schedules it). Return the completed step (the caller holds the store's lock)."""
    run.end_mono = min(run.end_mono if run.end_mono is not None else now, now)
    outcome = run.outcome
    run.outcome = "completed"  # the step's own status, for its RunStepObject
    step = run.step_dict("completed")
    run.outcome = outcome
    step["type"] = "tool_calls"
    outputs = {a["call"]["id"]: a["output"] for a in answered}
    step["step_details"] = {"type": "tool_calls", "tool_calls": [
        {**call, "function": {**call["function"], "output": outputs.get(call["id"])}}
        for call in run.calls()]}
    run.history.append(step)
    run.used = add_usage(run.used, step["usage"])
    run.transcript += tool_turns(run, answered)
    new_round(run)
    return step


def new_round(run: Run) -> None:
    """Forget the closed round's reply and calls; new step, message and call ids."""
    run.step_id, run.message_id, run.call_id = new_id("step_"), new_id("msg_"), new_id("call_")
    run.outcome, run.forced, run.reply, run.tool_calls, run.pieces = "completed", None, None, [], []
    run.completion_tokens, run.reasoning_tokens, run.cached_tokens, run.total_tokens = 0, None, None, None
    run.incomplete_reason, run.incomplete_note, run.last_error = None, None, None
    run.message_added, run.message_reason = False, "max_tokens"
    run.start_mono, run.end_mono = math.inf, None


def split_text(run: Run, thread: Thread | None) -> None:
    """A round that wrote text, then asked for tools, as the API shows it: the text is a message
    of its own (added to the thread; its message_creation step completed, in ``history``), the
    calls are the round's step (a new step id; the round's usage stays with it)."""
    message = run.reply_message("completed", run.reply)
    if thread is not None:
        thread.messages.append(message)
    step = run.step_dict("completed")
    step.update(type="message_creation", usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                step_details={"type": "message_creation", "message_creation": {"message_id": message.id}})
    run.history.append(step)
    run.step_id = new_id("step_")


def over_cap(run: Run) -> bool:
    """Whether a round asking for tools now would pass the run's tool-round cap."""
    return sum(step["type"] == "tool_calls" for step in run.history) >= run.max_rounds


def stop_at_cap(run: Run) -> None:
    """End a round that asked for tools past the cap: ``incomplete``, saying so."""
    run.outcome, run.tool_calls, run.reply = "incomplete", [], None  # no message: the details say why
    run.incomplete_note = (f"max_steps: the model asked for tool calls again after {run.max_rounds} "
                           "tool rounds, the most this runtime runs for one run (threadrun serve "
                           "--max-steps)")


def steps(run: Run, status: str) -> list[dict]:
    """Every step of the run, oldest first: earlier rounds', then this round's once started."""
    from .stream import STEP_STATUS  # the step status of a run status
    done = list(run.history)
    if status == "queued" or math.isinf(run.start_mono):
        return done
    if status in STEP_STATUS:
        return done + [run.step_dict(STEP_STATUS[status])]
    return done + [run.step_dict("in_progress")]


def delta_events(run: Run) -> list[tuple[str, dict]]:
    """One ``thread.run.step.delta`` per tool call of the round (the SDK's on_tool_call_created)."""
    events = []
    for index, call in enumerate(run.calls()):
        item = {"index": index, "id": call["id"], "type": "function",
                "function": {**call["function"], "output": None}}
        events.append(("thread.run.step.delta", {
            "id": run.step_id, "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [item]}}}))
    return events

