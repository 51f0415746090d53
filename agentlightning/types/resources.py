"""Resources a rollout runs with: an LLM endpoint, a proxied LLM endpoint, a prompt template.

``resource_type`` discriminates them, so a ``NamedResources`` dict survives a JSON round trip
through the store with each value back in its own class.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field

__all__ = [
    "LLM",
    "NamedResources",
    "PromptTemplate",
    "ProxyLLM",
    "Resource",
    "ResourceUnion",
    "ResourcesUpdate",
]


class Resource(BaseModel):
    """Base of all resources."""

    resource_type: str = "resource"


class LLM(Resource):
    """An OpenAI-compatible model endpoint."""

    resource_type: Literal["llm"] = "llm"  # type: ignore[assignment]
    endpoint: str
    model: str
    api_key: str | None = None
    sampling_parameters: dict[str, Any] = Field(default_factory=dict)

    def get_base_url(self, *args: Any, **kwargs: Any) -> str:
        """The URL to give an OpenAI client as ``base_url``."""
        return self.endpoint


class ProxyLLM(LLM):
    """An LLM behind a proxy that attributes each request to a rollout and attempt by URL path.

    ``get_base_url("ro-1", "at-1")`` on ``http://host/v1`` gives ``http://host/rollout/ro-1/attempt/at-1/v1``.
    """

    resource_type: Literal["proxy_llm"] = "proxy_llm"  # type: ignore[assignment]

    def get_base_url(self, rollout_id: str | None = None, attempt_id: str | None = None) -> str:  # type: ignore[override]
        if rollout_id is None and attempt_id is None:
            return self.endpoint
        if rollout_id is None or attempt_id is None:
            raise ValueError(
                "ProxyLLM.get_base_url needs both rollout_id and attempt_id, or neither; "
                f"got rollout_id={rollout_id!r}, attempt_id={attempt_id!r}"
            )
        prefix = self.endpoint.rstrip("/")
        suffix = ""
        if prefix.endswith("/v1"):
            prefix, suffix = prefix[: -len("/v1")], "/v1"
        return f"{prefix}/rollout/{rollout_id}/attempt/{attempt_id}{suffix}"

    def with_attempted_rollout(self, rollout: Any) -> LLM:
        """A plain :class:`LLM` whose endpoint already carries this rollout's path."""
        return LLM(
            endpoint=self.get_base_url(rollout.rollout_id, rollout.attempt.attempt_id),
            model=self.model,
            api_key=self.api_key,
            sampling_parameters=dict(self.sampling_parameters),
        )


class PromptTemplate(Resource):
    """A prompt template. ``engine="f-string"`` formats with :meth:`str.format`."""

    resource_type: Literal["prompt_template"] = "prompt_template"  # type: ignore[assignment]
    template: str
    engine: Literal["f-string", "jinja", "poml"] = "f-string"

    def format(self, **kwargs: Any) -> str:
        if self.engine == "f-string":
            return self.template.format(**kwargs)
        if self.engine == "jinja":
            try:
                import jinja2
            except ImportError:
                raise NotImplementedError(
                    "PromptTemplate(engine='jinja') needs the jinja2 package: pip install jinja2"
                ) from None
            return str(jinja2.Template(self.template).render(**kwargs))
        raise NotImplementedError(f"PromptTemplate engine {self.engine!r} is not supported; use 'f-string' or 'jinja'")


ResourceUnion = Annotated[Union[ProxyLLM, LLM, PromptTemplate], Field(discriminator="resource_type")]  # noqa: UP007
NamedResources = dict[str, ResourceUnion]
"""Resources by name, in insertion order: ``{"main_llm": LLM(...), "system_prompt": PromptTemplate(...)}``."""


class ResourcesUpdate(BaseModel):
    """A version of the resources, as the store keeps it."""

    resources_id: str
    create_time: float = Field(default_factory=time.time)
    update_time: float = Field(default_factory=time.time)
    version: int = 1
    resources: NamedResources
