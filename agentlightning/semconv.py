"""Every span name and attribute key agentlightning writes or reads, in one place.

LLM, agent and tool spans follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``);
agentlightning's own annotations live under ``agentlightning.*``.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

# ---- agentlightning span names -------------------------------------------------------------------
AGL_ANNOTATION: Final = "agentlightning.annotation"
"""A reward (or other annotation) emitted by :func:`agentlightning.emit_reward`."""
AGL_MESSAGE: Final = "agentlightning.message"
AGL_OBJECT: Final = "agentlightning.object"
AGL_EXCEPTION: Final = "agentlightning.exception"
AGL_OPERATION: Final = "agentlightning.operation"
AGL_ROLLOUT: Final = "agentlightning.rollout"
"""The root span of every trace context (one rollout attempt): each span of the context nests under it, so a
rollout attempt is one trace. Carries ``agentlightning.rollout_id``, ``agentlightning.attempt_id`` and, when the
context has a name, ``agentlightning.trace.name``; an exception that ends the context (or the runner's agent
call) marks it ERROR with ``error.type``."""

# Older agent-lightning emitted rewards as a span named "reward" (AgentOps' operation name) or
# "agentlightning.reward"; the reward helpers still read them.
LEGACY_REWARD_SPAN_NAMES: Final = ("reward", "agentlightning.reward")

# ---- agentlightning attribute keys ---------------------------------------------------------------
AGL_REWARD_PREFIX: Final = "agentlightning.reward"
"""``agentlightning.reward.{i}.name`` / ``agentlightning.reward.{i}.value``: reward ``i`` of an annotation."""


def reward_name_key(index: int) -> str:
    return f"{AGL_REWARD_PREFIX}.{index}.name"


def reward_value_key(index: int) -> str:
    return f"{AGL_REWARD_PREFIX}.{index}.value"


REWARD_PRIMARY_NAME: Final = "primary"
AGL_MESSAGE_BODY: Final = "agentlightning.message.body"
AGL_OBJECT_TYPE: Final = "agentlightning.object.type"
AGL_OBJECT_JSON: Final = "agentlightning.object.json"
AGL_OBJECT_LITERAL: Final = "agentlightning.object.literal"
AGL_OPERATION_NAME: Final = "agentlightning.operation.name"
AGL_OPERATION_INPUT: Final = "agentlightning.operation.input"
AGL_OPERATION_OUTPUT: Final = "agentlightning.operation.output"
AGL_ROLLOUT_ID: Final = "agentlightning.rollout_id"
AGL_ATTEMPT_ID: Final = "agentlightning.attempt_id"
AGL_TRACE_NAME: Final = "agentlightning.trace.name"

# AgentOps' own reward payload, read by the reward helpers: attribute "agentops.task.output" or
# "agentops.entity.output" holding JSON {"type": "reward", "value": x}.
AGENTOPS_OUTPUT_KEYS: Final = ("agentops.task.output", "agentops.entity.output")

# ---- OpenTelemetry GenAI semantic conventions ----------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"
"""Deprecated name of ``gen_ai.provider.name``; still read, never written."""
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"

# Operation names (values of gen_ai.operation.name); a span is named "{operation} {model or name}".
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_RETRIEVAL: Final = "retrieval"
LLM_OPERATIONS: Final = frozenset({OP_CHAT, OP_TEXT_COMPLETION, "generate_content"})

# Training data: token ids returned by vLLM-style servers.
AGL_PROMPT_TOKEN_IDS: Final = "agentlightning.prompt_token_ids"
AGL_RESPONSE_TOKEN_IDS: Final = "agentlightning.response_token_ids"
AGL_LANGGRAPH_NODE: Final = "agentlightning.langgraph.node"
"""On the span of a LangGraph node: the node's name (the triplet adapter's ``agent_match`` also tries it)."""

CAPTURE_CONTENT_ENV: Final = "AGENTLIGHTNING_CAPTURE_CONTENT"
OTEL_CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
DISABLED_INSTRUMENTATIONS_ENV: Final = "AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS"
STORE_ENV: Final = "AGENTLIGHTNING_STORE"

# ---- instrumentation plugins (provider names are the plugins' own) --------------------------------
AGL_TOOL_CALLS: Final = "agentlightning.tool_calls"
"""JSON list of the tool calls a model answered with: ``[{"id", "name"}]``, plus ``"arguments"`` when content
capture is on (the full calls are also in ``gen_ai.output.messages`` then)."""
STRICT_ENV: Final = "AGENTLIGHTNING_STRICT"
"""``1``: the instrumentation guard re-raises our own failures instead of logging them (the project's tests)."""


# ---- agent-lightning 0.3 names (used by its minimal trace writers) ---------------------------------
class LightningSpanAttributes(Enum):
    """agent-lightning 0.3's attribute names of agentlightning spans (``.value`` is the key)."""

    REWARD = AGL_REWARD_PREFIX
    LINK = "agentlightning.link"
    TAG = "agentlightning.tag"
    MESSAGE_BODY = AGL_MESSAGE_BODY
    OBJECT_TYPE = AGL_OBJECT_TYPE
    OBJECT_JSON = AGL_OBJECT_JSON
    OBJECT_LITERAL = AGL_OBJECT_LITERAL
    OPERATION_NAME = AGL_OPERATION_NAME
    OPERATION_INPUT = AGL_OPERATION_INPUT
    OPERATION_OUTPUT = AGL_OPERATION_OUTPUT


class LinkAttributes(Enum):
    """Keys of one link in ``agentlightning.link.{i}.*`` (see :mod:`agentlightning.utils.otel`)."""

    KEY_MATCH = "key_match"
    VALUE_MATCH = "value_match"


RUN_ID_ENV: Final = "AGENTLIGHTNING_RUN_ID"
"""The run id of a Trainer's runs and of ``agentlightning worker`` when ``run_id=`` / ``--run-id`` are not given."""
AUTO_INSTRUMENT_ENV: Final = "AGENTLIGHTNING_AUTO_INSTRUMENT"
"""``0``/``false``/``no``/``off``: runners and trainers do not call ``instrument_all()`` when they start."""
