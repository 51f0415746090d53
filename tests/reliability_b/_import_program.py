"""A user program for the import-time fault tests, run in a fresh interpreter by test_guard_faults.py.

``python _import_program.py PLUGIN BASE_URL``: when ``AL_TRACED=1`` it instruments ``PLUGIN`` *before* the
framework is imported (so the instrumentation patches from its import hooks), makes one call against the
scripted server at ``BASE_URL`` and prints what the user got as JSON on the last line. ``AL_FAULT`` (a JSON
GuardSite) makes that guarded block fail; ``AL_RECORD`` names a file that receives the ids of the blocks that ran.
"""

from __future__ import annotations

import json
import os
import sys

from agentlightning.testing.faults import FaultInjector, GuardSite

fault = GuardSite(*json.loads(os.environ["AL_FAULT"])) if os.environ.get("AL_FAULT") else None
injector = FaultInjector(fault, record=bool(os.environ.get("AL_RECORD")))
injector.__enter__()

plugin, base_url = sys.argv[1], sys.argv[2]
if os.environ.get("AL_TRACED") == "1":
    from agentlightning.instrumentation import instrument

    instrument(plugin)


def call() -> object:
    if plugin == "openai":
        import openai

        client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
        return client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]).model_dump(
            mode="json"
        )
    if plugin == "langchain":
        from langchain_openai import ChatOpenAI

        model = ChatOpenAI(model="m", base_url=base_url, api_key="test-key", max_retries=0)  # type: ignore[arg-type]
        return model.invoke("hi").content
    if plugin == "autogen":  # the model clients are patched as autogen_ext defines them (__init_subclass__)
        import asyncio

        from autogen_core.models import ModelFamily, ModelInfo, UserMessage
        from autogen_ext.models.openai import OpenAIChatCompletionClient

        info = ModelInfo(
            vision=False, function_calling=False, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
        )
        client = OpenAIChatCompletionClient(
            model="scripted-model", base_url=base_url, api_key="test-key", model_info=info, max_retries=0
        )

        async def create() -> object:
            try:
                result = await client.create([UserMessage(content="hi", source="user")])
                return result.content
            finally:
                await client.close()

        return asyncio.run(create())
    if plugin == "agentops":  # its patches go on at instrument and come off at uninstrument
        from agentops.sdk.decorators import operation

        @operation
        def double(value: int) -> int:
            return 2 * value

        value = double(21)
        if os.environ.get("AL_TRACED") == "1":
            from agentlightning.instrumentation import uninstrument_all

            uninstrument_all()
        return value
    raise SystemExit(f"unknown plugin {plugin!r}")


result = call()
injector.__exit__()
if os.environ.get("AL_RECORD"):
    with open(os.environ["AL_RECORD"], "w", encoding="utf-8") as file:
        json.dump(sorted(site.id for site in injector.reached), file)
print(json.dumps({"result": result, "fired": injector.fired}))
