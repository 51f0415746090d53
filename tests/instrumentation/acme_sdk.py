"""A throw-away "framework" for the example plugin (``example_plugin.py``): a model client and an agent.

Deliberately shaped like the real ones: a sync and an async model call that may stream, an agent turn that is
an async generator, a tool run, and a base class whose classmethod/staticmethod subclasses inherit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass


@dataclass
class Completion:
    id: str
    model: str
    text: str
    input_tokens: int
    output_tokens: int


class BaseClient:
    calls = 0

    @classmethod
    def connect(cls, model: str = "acme-1") -> BaseClient:
        return cls(model)

    @staticmethod
    def count_tokens(text: str) -> int:
        return len(text.split())

    def __init__(self, model: str = "acme-1") -> None:
        self.model = model


class Client(BaseClient):
    def complete(self, prompt: str, *, stream: bool = False) -> Completion | Iterator[str]:
        BaseClient.calls += 1
        answer = f"echo {prompt}"
        if stream:
            return iter(answer.split())
        return Completion(f"cmp-{BaseClient.calls}", self.model, answer, self.count_tokens(prompt), 2)

    async def acomplete(self, prompt: str) -> Completion:
        await asyncio.sleep(0)
        result = self.complete(prompt)
        assert isinstance(result, Completion)
        return result


class Agent:
    def __init__(self, name: str, client: Client) -> None:
        self.name = name
        self.client = client

    def run_tool(self, tool: str, argument: str) -> str:
        if tool == "fail":
            raise ValueError("the tool failed")
        return argument.upper()

    async def run_stream(self, task: str) -> AsyncIterator[str]:
        completion = await self.client.acomplete(task)
        yield completion.text
        yield self.run_tool("shout", completion.text)
