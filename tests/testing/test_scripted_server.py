"""The scripted server under the real openai client: many clients at once, and the Responses stream helper."""

from __future__ import annotations

import asyncio
import threading

import openai
import pytest

from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

CLIENTS = 50

MESSAGE_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]
CALL_EVENTS = [
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
]


@pytest.mark.slow
def test_fifty_concurrent_clients_stream_responses_with_the_helper() -> None:
    """Each of 50 threads opens its own connection at the same moment and streams with ``responses.stream()``."""
    results: list[tuple[list[str], str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    with ScriptedOpenAIServer(default=Reply(content="one two three")) as server:
        start = threading.Barrier(CLIENTS)

        def client_run() -> None:
            client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
            try:
                start.wait()
                with client.responses.stream(model="m", input="count to three") as stream:
                    events = list(stream)
                    final = stream.get_final_response()
                deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
                with lock:
                    results.append(([e.type for e in events], deltas, final.output_text))
            except BaseException as exc:  # collected and reported below, with the other clients' outcome
                with lock:
                    errors.append(exc)
            finally:
                client.close()

        threads = [threading.Thread(target=client_run) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"{len(errors)} of {CLIENTS} clients failed: {errors[:3]!r}"
        assert len(server.requests) == CLIENTS
    assert len(results) == CLIENTS
    for kinds, deltas, text in results:
        assert kinds == [*MESSAGE_EVENTS, "response.completed"]
        assert deltas == text == "one two three"


def test_stream_helper_with_text_and_tool_calls() -> None:
    reply = Reply(content="let me add", tool_calls=[ToolCall("add", '{"a": 2, "b": 2}'), ToolCall("noop")])
    with ScriptedOpenAIServer() as server:
        server.script(reply)
        with (
            openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0) as client,
            client.responses.stream(model="m", input="2 + 2?") as stream,
        ):
            events = list(stream)
            final = stream.get_final_response()
    assert [e.type for e in events] == [*MESSAGE_EVENTS, *CALL_EVENTS, *CALL_EVENTS, "response.completed"]
    assert final.output_text == "let me add"
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.name, c.arguments, c.call_id) for c in calls] == [
        ("add", '{"a": 2, "b": 2}', "call_1_0"),
        ("noop", "{}", "call_1_1"),
    ]
    argument_deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert argument_deltas[1].snapshot == '{"a": 2, "b": 2}'  # the helper accumulated the two halves


def test_async_stream_helper_with_fifty_concurrent_tasks() -> None:
    async def main(base_url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0) as client:

            async def one(i: int) -> str:
                async with client.responses.stream(model="m", input=f"task {i}") as stream:
                    return (await stream.get_final_response()).output_text

            return await asyncio.gather(*(one(i) for i in range(CLIENTS)))

    with ScriptedOpenAIServer(default=Reply(content="done")) as server:
        texts = asyncio.run(main(server.base_url))
    assert texts == ["done"] * CLIENTS
