"""User programs for the fault tests: each makes real calls against a fresh scripted server and returns what
the user saw (a JSON-able value, or ``("raises", type, message)``), so a traced run and an untraced run of the
same program can be compared exactly.

A scenario names the plugins it instruments and the framework module it needs; the fault test finds out by
recording which guarded blocks each scenario reaches, so no list of sites is kept here.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

Outcome = Any


@dataclass(frozen=True)
class Scenario:
    name: str
    plugins: tuple[str, ...]
    needs: str
    """A module the scenario imports (its framework); the scenario is unavailable without it."""
    run: Callable[[ScriptedOpenAIServer], Outcome]
    replies: tuple[Reply, ...] = ()

    @property
    def available(self) -> bool:
        return importlib.util.find_spec(self.needs) is not None


def outcome(call: Callable[[], Any]) -> Outcome:
    """``call()``'s value, or the exception it raised as ``("raises", type, message)``."""
    try:
        return call()
    except Exception as exc:
        return ("raises", f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))


def _dump(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if dump is not None else value


# ---- openai ------------------------------------------------------------------------------------------------
def _client(server: ScriptedOpenAIServer) -> Any:
    import openai

    return openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)


def _aclient(server: ScriptedOpenAIServer) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)


MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def chat(server: ScriptedOpenAIServer) -> Outcome:
    with _client(server) as client:
        return outcome(lambda: _dump(client.chat.completions.create(model="m", messages=MESSAGES)))


def chat_async(server: ScriptedOpenAIServer) -> Outcome:
    async def main() -> Any:
        async with _aclient(server) as client:
            return _dump(await client.chat.completions.create(model="m", messages=MESSAGES))

    return outcome(lambda: asyncio.run(main()))


def chat_stream(server: ScriptedOpenAIServer) -> Outcome:
    def run() -> Any:
        with _client(server) as client:
            stream = client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            return [_dump(chunk) for chunk in stream]

    return outcome(run)


def chat_stream_left_early(server: ScriptedOpenAIServer) -> Outcome:
    def run() -> Any:
        with _client(server) as client:
            seen = []
            with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
                for chunk in stream:
                    seen.append(_dump(chunk))
                    break
            return seen

    return outcome(run)


def chat_stream_async(server: ScriptedOpenAIServer) -> Outcome:
    async def main() -> Any:
        async with _aclient(server) as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            return [_dump(chunk) async for chunk in stream]

    return outcome(lambda: asyncio.run(main()))


def chat_stream_by_next(server: ScriptedOpenAIServer) -> Outcome:
    """``next(stream)`` called directly, not a ``for`` loop: the proxy's own ``__next__``."""

    def run() -> Any:
        with _client(server) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            seen = []
            while True:
                try:
                    seen.append(_dump(next(stream)))
                except StopIteration:
                    return seen

    return outcome(run)


def chat_stream_by_anext(server: ScriptedOpenAIServer) -> Outcome:
    """``await stream.__anext__()`` called directly, not ``async for``: the proxy's own ``__anext__``."""

    async def main() -> Any:
        async with _aclient(server) as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            seen = []
            while True:
                try:
                    seen.append(_dump(await stream.__anext__()))
                except StopAsyncIteration:
                    return seen

    return outcome(lambda: asyncio.run(main()))


def chat_error(server: ScriptedOpenAIServer) -> Outcome:
    with _client(server) as client:
        return outcome(lambda: client.chat.completions.create(model="m", messages=MESSAGES))


def chat_raw(server: ScriptedOpenAIServer) -> Outcome:
    def run() -> Any:
        with _client(server) as client:
            raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
            return [raw.headers.get("x-request-id"), raw.status_code, _dump(raw.parse())]

    return outcome(run)


def chat_streaming_response(server: ScriptedOpenAIServer) -> Outcome:
    def run() -> Any:
        with _client(server) as client:
            with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES) as raw:
                return [raw.headers.get("x-request-id"), _dump(raw.parse())]

    return outcome(run)


def chat_raw_stream(server: ScriptedOpenAIServer) -> Outcome:
    def run() -> Any:
        with _client(server) as client:
            raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
            return [_dump(chunk) for chunk in raw.parse()]

    return outcome(run)


def responses(server: ScriptedOpenAIServer) -> Outcome:
    with _client(server) as client:
        return outcome(lambda: _dump(client.responses.create(model="m", input="hello")))


def responses_stream(server: ScriptedOpenAIServer) -> Outcome:
    def run() -> Any:
        with _client(server) as client:
            return [_dump(event) for event in client.responses.create(model="m", input="hello", stream=True)]

    return outcome(run)


def chat_stream_helper(server: ScriptedOpenAIServer) -> Outcome:
    def run() -> Any:
        with _client(server) as client:
            with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
                events = [event.type for event in stream]
                return [events, _dump(stream.get_final_completion())]

    return outcome(run)


# ---- langchain ----------------------------------------------------------------------------------------------
def _model(server: ScriptedOpenAIServer) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="gpt-test", base_url=server.base_url, api_key="test-key", max_retries=0)  # type: ignore[arg-type]


def _message(message: Any) -> Any:
    return [message.content, message.tool_calls, message.usage_metadata, message.response_metadata.get("model_name")]


def lc_chain(server: ScriptedOpenAIServer) -> Outcome:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | _model(server) | StrOutputParser()
    return outcome(lambda: chain.invoke({"q": "2 + 2?"}))


def lc_chain_error(server: ScriptedOpenAIServer) -> Outcome:
    from langchain_core.runnables import RunnableLambda

    def broken(text: str) -> str:
        raise ValueError(f"cannot use {text!r}")

    chain = RunnableLambda(lambda q: q.upper()) | RunnableLambda(broken)
    return outcome(lambda: chain.invoke("x"))


def lc_model_error(server: ScriptedOpenAIServer) -> Outcome:
    return outcome(lambda: _model(server).invoke("hello"))


def lc_model_stream(server: ScriptedOpenAIServer) -> Outcome:
    return outcome(lambda: [chunk.content for chunk in _model(server).stream("hello")])


def lc_completion_model(server: ScriptedOpenAIServer) -> Outcome:
    from langchain_openai import OpenAI

    model = OpenAI(model="gpt-test", base_url=server.base_url, api_key="test-key", max_retries=0)  # type: ignore[arg-type]
    return outcome(lambda: model.invoke("hello"))


def lc_tools(server: ScriptedOpenAIServer) -> Outcome:
    from langchain_core.tools import tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool
    def fail(a: int) -> int:
        """Always fails."""
        raise RuntimeError(f"no {a}")

    return [outcome(lambda: add.invoke({"a": 2, "b": 3})), outcome(lambda: fail.invoke({"a": 1}))]


def lc_retriever(server: ScriptedOpenAIServer) -> Outcome:
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class Finder(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            if query == "fail":
                raise LookupError("index offline")
            return [Document(page_content=f"about {query}")]

    finder = Finder()
    return [
        outcome(lambda: [d.page_content for d in finder.invoke("cats")]),
        outcome(lambda: finder.invoke("fail")),
    ]


def lc_async_model(server: ScriptedOpenAIServer) -> Outcome:
    import openai
    from langchain_openai import ChatOpenAI

    async def main() -> Any:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
            model = ChatOpenAI(
                model="gpt-test",
                base_url=server.base_url,
                api_key="test-key",  # type: ignore[arg-type]
                max_retries=0,
                root_async_client=client,
                async_client=client.chat.completions,
            )
            return _message(await model.ainvoke("hello"))

    return outcome(lambda: asyncio.run(main()))


# ---- autogen ------------------------------------------------------------------------------------------------
def _agent(server: ScriptedOpenAIServer, **kwargs: Any) -> tuple[Any, Any]:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_core.models import ModelFamily, ModelInfo
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    info = ModelInfo(
        vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
    )
    client = OpenAIChatCompletionClient(
        model="scripted-model", base_url=server.base_url, api_key="test-key", model_info=info, max_retries=0
    )
    return AssistantAgent("solver", model_client=client, **kwargs), client


def _autogen_messages(messages: Any) -> Any:
    return [m.model_dump(mode="json", exclude={"id", "created_at"}) for m in messages]


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def ag_run(server: ScriptedOpenAIServer) -> Outcome:
    async def main() -> Any:
        agent, client = _agent(server, tools=[weather])
        try:
            result = await agent.run(task="Weather in Paris?")
            return [_autogen_messages(result.messages), result.stop_reason]
        finally:
            await client.close()

    return outcome(lambda: asyncio.run(main()))


def ag_run_stream(server: ScriptedOpenAIServer) -> Outcome:
    async def main() -> Any:
        agent, client = _agent(server)
        try:
            items = [item async for item in agent.run_stream(task="Capital of France?")]
            return [type(item).__name__ for item in items]
        finally:
            await client.close()

    return outcome(lambda: asyncio.run(main()))


def ag_error(server: ScriptedOpenAIServer) -> Outcome:
    async def main() -> Any:
        agent, client = _agent(server)
        try:
            return await agent.run(task="hi")
        finally:
            await client.close()

    return outcome(lambda: asyncio.run(main()))


_TOOL_THEN_TEXT = (Reply(tool_calls=[ToolCall("weather", '{"city": "Paris"}')]), Reply("Sunny."))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("openai.chat", ("openai",), "openai", chat),
    Scenario("openai.chat_async", ("openai",), "openai", chat_async),
    Scenario("openai.chat_stream", ("openai",), "openai", chat_stream),
    Scenario("openai.chat_stream_left_early", ("openai",), "openai", chat_stream_left_early),
    Scenario("openai.chat_stream_async", ("openai",), "openai", chat_stream_async),
    Scenario("openai.chat_stream_by_next", ("openai",), "openai", chat_stream_by_next),
    Scenario("openai.chat_stream_by_anext", ("openai",), "openai", chat_stream_by_anext),
    Scenario("openai.chat_error", ("openai",), "openai", chat_error, (Reply.error(429, "slow down"),)),
    Scenario("openai.chat_raw", ("openai",), "openai", chat_raw),
    Scenario("openai.chat_streaming_response", ("openai",), "openai", chat_streaming_response),
    Scenario("openai.chat_raw_stream", ("openai",), "openai", chat_raw_stream),
    Scenario("openai.responses", ("openai",), "openai", responses),
    Scenario("openai.responses_stream", ("openai",), "openai", responses_stream),
    Scenario("openai.chat_stream_helper", ("openai",), "openai", chat_stream_helper),
    Scenario("langchain.chain", ("langchain", "openai"), "langchain_openai", lc_chain),
    Scenario("langchain.chain_error", ("langchain",), "langchain_core", lc_chain_error),
    Scenario("langchain.model_error", ("langchain",), "langchain_openai", lc_model_error, (Reply.error(500, "down"),)),
    Scenario("langchain.model_stream", ("langchain",), "langchain_openai", lc_model_stream),
    Scenario("langchain.completion_model", ("langchain",), "langchain_openai", lc_completion_model),
    Scenario("langchain.tools", ("langchain",), "langchain_core", lc_tools),
    Scenario("langchain.retriever", ("langchain",), "langchain_core", lc_retriever),
    Scenario("langchain.async_model", ("langchain", "openai"), "langchain_openai", lc_async_model),
    Scenario("autogen.run", ("autogen", "openai"), "autogen_agentchat", ag_run, _TOOL_THEN_TEXT),
    Scenario("autogen.run_stream", ("autogen",), "autogen_agentchat", ag_run_stream),
    Scenario("autogen.error", ("autogen",), "autogen_agentchat", ag_error, (Reply.error(429, "slow down"),)),
)
