"""The ``Instrumentor`` base class: deferred, idempotent, removable patches on wrapt.

A plugin subclasses :class:`Instrumentor`, names its framework and lists its patches::

    class AcmeInstrumentor(Instrumentor):
        name = "acme"
        instruments = ("acme-sdk>=2.1",)        # distribution requirements, checked before patching

        def _patches(self, config):
            tracer = trace.get_tracer("agentlightning.acme")
            return [
                # Acme 2.1-2.4: every completion goes through Client.complete.
                Patch("acme.client", "Client.complete", lambda switch: complete_wrapper(tracer, config, switch)),
            ]

and registers it under the entry-point group ``agentlightning.instrumentors``.

What the base does:

- **Deferred patching.** Each patch names the module that defines its target. ``instrument()`` registers
  a wrapt post-import hook for that module: a module imported later is patched the moment it is imported,
  one already imported is patched at once, and nothing is imported just to patch it.
- **Cheap until the framework arrives.** A plugin that names its framework's top-level modules
  (:attr:`Instrumentor.trigger_modules`) is only *armed* by ``instrument()`` while none of them is imported:
  a small import trigger (``_imports``) waits for the first, and only then are ``_patches()`` built and the
  wrapt hooks registered. So ``instrument_all()`` at start-up imports neither wrapt, ``packaging``,
  ``importlib.metadata``, OpenTelemetry nor the plugins' wrappers. The requirement check still happens in
  ``instrument()`` (read from the installed metadata folders, ``packaging`` only for unusual requirements).
- **Idempotent, under a lock.** Instrumenting twice patches once (new options update the running config
  in place). A class reachable under two module names is patched once.
- **Removable, surgically.** ``uninstrument()`` restores each original. When another library wrapped the
  same method on top of ours, our layer is spliced out of the chain of wrapt wrappers and theirs stays.
  Behind a non-wrapt wrapper our layer cannot be reached; it is switched off instead (a switched-off
  wrapper calls the original straight through).
- **Never breaks an import.** A hook that fails is reported by the guard, never raised into ``import``.

A wrapper built by a patch factory receives a :class:`Switch` and must call the original untouched when
``switch.on`` is false. Checked with wrapt 1.17 and 2.5.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from agentlightning._lazylog import lazy_logger
from agentlightning._record import FrozenRecord

from . import _dists
from ._config import InstrumentationConfig, Option
from ._guard import guard
from ._imports import when_imported

if TYPE_CHECKING:
    BaseProxy: type

__all__ = [
    "BaseProxy",
    "InstrumentationUnavailableError",
    "Instrumentor",
    "Patch",
    "Switch",
    "WrapperFunction",
    "check_requirement",
    "resolve_target",
]

logger = lazy_logger("agentlightning.instrumentation")

WrapperFunction = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]
"""``wrapper(wrapped, instance, args, kwargs)``, wrapt's wrapper signature."""


def _proxy_base() -> type:
    """wrapt 2.x: FunctionWrapper derives from BaseObjectProxy; wrapt 1.x: from ObjectProxy."""
    import wrapt

    base: type = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)
    return base


def __getattr__(name: str) -> Any:
    # ``BaseProxy``: base of proxies that stand in for a framework object: wrapt's ``BaseObjectProxy`` (2.x: no
    # ``__iter__`` of its own, so a non-iterable object stays non-iterable), ``ObjectProxy`` on wrapt 1.x.
    # Resolved on first use so that importing this module does not import wrapt.
    if name == "BaseProxy":
        value = globals()["BaseProxy"] = _proxy_base()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_IMPORT_HOOK = guard("instrumentation.import_hook")


class InstrumentationUnavailableError(ImportError):
    """The framework an instrumentor patches is not installed, or is older than the instrumentor supports."""


class Switch:
    """On while the wrapper layer it belongs to is installed; wrappers pass straight through when off."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True


class Patch(FrozenRecord):
    """Wrap ``module.path`` (``"Class.method"`` or ``"function"``) with ``factory(switch)``.

    ``module`` is the module whose import triggers the patch. A target missing from it (another version
    of the framework) is skipped with a debug line, unless ``required`` is set. Immutable, compared by value.
    """

    __slots__ = ("factory", "module", "path", "required")

    module: str
    path: str
    factory: Callable[[Switch], WrapperFunction]
    required: bool

    def __init__(
        self, module: str, path: str, factory: Callable[[Switch], WrapperFunction], required: bool = False
    ) -> None:
        self._set(module=module, path=path, factory=factory, required=required)


class _Applied:
    __slots__ = ("attribute", "original", "owned", "owner", "switch", "wrapper")

    def __init__(self, owner: Any, attribute: str, wrapper: Any, original: Any, owned: bool, switch: Switch) -> None:
        self.owner = owner
        self.attribute = attribute
        self.wrapper = wrapper
        self.original = original
        self.owned = owned  # the original lived in owner.__dict__ (else it was inherited)
        self.switch = switch


def check_requirement(requirement: str) -> str | None:
    """``None`` when ``requirement`` (``"dist>=1.2,<3; python_version >= '3.11'"``) is met, else a sentence
    saying what is installed and what is needed. A requirement whose marker does not apply here is met.

    The usual shape (a name, comparisons with plain release numbers, a plain installed version) is decided
    here without ``packaging``, with the same answer; anything else goes through ``packaging``."""
    decided = _check_plain(requirement)
    return _check_with_packaging(requirement) if decided is _UNDECIDED else decided


_UNDECIDED: Any = object()
_PLAIN_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(.*)$", re.DOTALL)
_PLAIN_CLAUSE = re.compile(r"\s*(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)*)\s*$")
_PLAIN_VERSION = re.compile(r"\d+(?:\.\d+)*$")


def _release(text: str, length: int) -> tuple[int, ...]:
    parts = tuple(int(part) for part in text.split("."))
    return parts + (0,) * (length - len(parts))


def _check_plain(requirement: str) -> Any:
    """:func:`check_requirement`'s answer for a plain requirement, else ``_UNDECIDED``.

    Plain: ``name`` and comma-separated ``< <= > >= == !=`` clauses on release numbers (no marker, extra,
    URL, wildcard, ``~=``, pre-release), and an installed version of release numbers only. For those, PEP 440
    comparison is comparison of the zero-padded release tuples (the pre-, post- and local-release rules of
    the exclusive comparisons cannot apply to a plain installed version)."""
    match = _PLAIN_NAME.match(requirement)
    if match is None:
        return _UNDECIDED
    name, rest = match.groups()
    clauses: list[tuple[str, str]] = []
    if rest.strip():
        for text in rest.split(","):
            clause = _PLAIN_CLAUSE.match(text)
            if clause is None:
                return _UNDECIDED
            clauses.append((clause.group(1), clause.group(2)))
    installed = _dists.version(name)
    if installed is None:
        return _UNDECIDED  # a layout the metadata reader does not know: ask importlib.metadata
    if installed == "":
        return f"{name} is not installed; {requirement} is required (pip install '{requirement}')"
    if not _PLAIN_VERSION.match(installed):
        return _UNDECIDED
    met = True
    newer = False
    for operator, bound in clauses:
        length = max(installed.count("."), bound.count(".")) + 1
        have, want = _release(installed, length), _release(bound, length)
        ok = {
            "<": have < want,
            "<=": have <= want,
            ">": have > want,
            ">=": have >= want,
            "==": have == want,
            "!=": have != want,
        }[operator]
        met = met and ok
        if operator in ("<", "<=") and have >= want:
            newer = True
    if met:
        return None
    hint = "newer than this plugin supports" if newer else "too old"
    return f"{name} {installed} is installed ({hint}), but {requirement} is required"


def _check_with_packaging(requirement: str) -> str | None:
    import importlib.metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import Version

    try:
        parsed = Requirement(requirement)
    except InvalidRequirement as exc:
        return f"the plugin's requirement {requirement!r} is not a valid requirement ({exc})"
    if parsed.marker is not None and not parsed.marker.evaluate():
        return None
    try:
        installed = importlib.metadata.version(parsed.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{parsed.name} is not installed; {requirement} is required (pip install '{requirement}')"
    if not parsed.specifier or parsed.specifier.contains(installed, prereleases=True):
        return None
    newer = any(
        spec.operator in ("<", "<=") and Version(installed) >= Version(spec.version)
        for spec in parsed.specifier
        if spec.operator in ("<", "<=")
    )
    hint = "newer than this plugin supports" if newer else "too old"
    return f"{parsed.name} {installed} is installed ({hint}), but {requirement} is required"


#: A classmethod written in C (``object.__init_subclass__``; ``typing.Generic``'s from Python 3.12): wrapt
#: binds such a descriptor like a plain function, so its wrapper would get ``instance=None`` and never learn
#: the class it was called for.
_C_CLASSMETHOD = type(vars(object)["__init_subclass__"])


def _inherited_classmethod(owner: type, attribute: str) -> classmethod[Any, Any, Any]:
    """A classmethod that does what Python does for ``owner`` without the attribute: go on along the MRO."""

    def inherited(cls: type, *args: Any, **kwargs: Any) -> Any:
        return getattr(super(owner, cls), attribute)(*args, **kwargs)

    inherited.__name__ = inherited.__qualname__ = attribute
    return classmethod(inherited)


def resolve_target(owner: Any, path: str) -> tuple[Any, str, Any, bool] | None:
    """``(parent, attribute, original, owned)`` for ``path`` under ``owner``, as wrapt resolves it.

    Each step below a class walks the MRO and takes the raw attribute from the first class ``__dict__`` that
    has it (so an inherited ``classmethod``/``staticmethod`` is wrapped as the descriptor it is, keeping ``cls``
    and working on instances), never ``getattr`` on the class; one written in C is wrapped as a Python
    ``classmethod`` that goes on along the MRO, so the wrapper still gets the class. ``owned``: the attribute
    lives in the parent's own ``__dict__``. ``None`` when a step is missing.
    """
    *steps, attribute = path.split(".")
    parent = owner
    try:
        for step in steps:
            parent = getattr(parent, step)
    except AttributeError:
        return None
    if isinstance(parent, type):
        for klass in parent.__mro__:
            if attribute in vars(klass):
                raw = vars(klass)[attribute]
                if klass is not parent and type(raw) is _C_CLASSMETHOD:
                    raw = _inherited_classmethod(parent, attribute)
                return parent, attribute, raw, klass is parent
        return None
    namespace = getattr(parent, "__dict__", None)
    if namespace is not None and attribute in namespace:
        return parent, attribute, namespace[attribute], True
    original = getattr(parent, attribute, None)
    return None if original is None else (parent, attribute, original, False)


class Instrumentor:
    """Base class of every framework instrumentation. See the module docstring."""

    name: ClassVar[str] = ""
    instruments: ClassVar[tuple[str, ...]] = ()
    """Distribution requirements (``packaging`` syntax, markers and upper bounds checked), e.g.
    ``("langchain-core>=1.0,<2",)``; a missing or unsupported version gives a sentence, no patching."""
    options: ClassVar[tuple[Option, ...]] = ()
    """The plugin's own options (rows like the core table's); their values land in ``config.extra``."""
    trigger_modules: ClassVar[tuple[str, ...]] = ()
    """Top-level modules of the framework (``("openai",)``): while none is imported, ``instrument()`` only
    checks the requirements and waits; the first one imported builds the patches (``_patches``) and arms
    them. Must name the top-level module of every ``Patch.module`` (and of any hook the plugin registers in
    :meth:`_armed`). Empty (the default): armed at once by ``instrument()``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._active = False
        self._armed_now = False  # _patches() built and their hooks registered, for the current instrument()
        self._waiting = False  # an import trigger for trigger_modules is registered and has not fired
        self._config: InstrumentationConfig | None = None
        self._pending: dict[str, list[Patch]] = {}
        self._hooked: set[str] = set()
        self._applied: dict[tuple[int, str], _Applied] = {}

    # ---- to override ----------------------------------------------------------------------------

    def _patches(self, config: InstrumentationConfig) -> Iterable[Patch]:
        raise NotImplementedError

    def _armed(self) -> None:
        """Called (under the lock) right after the patches are armed, for hooks of the plugin's own."""

    # ---- public ---------------------------------------------------------------------------------

    @property
    def is_instrumented(self) -> bool:
        return self._active

    @property
    def config(self) -> InstrumentationConfig | None:
        return self._config

    def dependency_problem(self) -> str | None:
        """``None`` when the framework can be instrumented, else why not."""
        for requirement in self.instruments:
            problem = check_requirement(requirement)
            if problem is not None:
                return problem
        return None

    def instrument(self, **options: Any) -> None:
        """Patch the framework now (if imported) or when it is imported. Idempotent."""
        config = InstrumentationConfig.resolve(options, plugin_options=self.options)
        with self._lock:
            if self._active:
                assert self._config is not None
                self._config.update_from(config)
                return
            problem = self.dependency_problem()
            if problem is not None:
                raise InstrumentationUnavailableError(
                    f"Cannot instrument {self.name or type(self).__name__}: {problem}."
                )
            self._config = config
            self._pending = {}
            self._active = True
            self._armed_now = False
            if not self.trigger_modules or any(name in sys.modules for name in self.trigger_modules):
                self._arm()
            elif not self._waiting:  # else a trigger from an earlier instrument() is still waiting
                self._waiting = True
                when_imported(self.trigger_modules, self._on_trigger)

    def uninstrument(self) -> None:
        """Remove every wrapper layer this instrumentor installed. Idempotent."""
        with self._lock:
            self._active = False
            self._armed_now = False
            self._pending = {}
            applied, self._applied = self._applied, {}
            for record in applied.values():
                self._remove(record)

    # ---- machinery ------------------------------------------------------------------------------

    def _on_trigger(self) -> None:
        with self._lock:
            self._waiting = False
            if self._active and not self._armed_now:
                self._arm()

    def _arm(self) -> None:
        """Build the patches and register a wrapt post-import hook per module (applied at once if imported)."""
        import wrapt

        assert self._config is not None
        self._armed_now = True
        try:
            for patch in self._patches(self._config):
                self._pending.setdefault(patch.module, []).append(patch)
        except BaseException:
            self._active = self._armed_now = False  # as if instrument() had failed
            self._pending = {}
            raise
        for module_name in self._pending:
            if module_name in self._hooked:
                continue  # a hook from an earlier instrument() is still waiting for this module
            self._hooked.add(module_name)
            wrapt.register_post_import_hook(functools.partial(self._on_import, module_name), module_name)
        self._armed()

    def _on_import(self, module_name: str, module: ModuleType) -> None:
        with _IMPORT_HOOK, self._lock:
            self._hooked.discard(module_name)
            if not self._active:
                return
            for patch in self._pending.get(module_name, ()):
                self._apply(module, patch)

    def _apply(self, module: ModuleType, patch: Patch) -> None:
        head, _, rest = patch.path.partition(".")
        # The first step reads the module's namespace, not getattr(): a lazy package (PEP 562, as openai
        # 3.x has) must not be made to import a submodule from inside an import hook. That submodule gets
        # its own hook when it is listed as a patch module.
        if rest:
            first = vars(module).get(head)
            resolved = resolve_target(first, rest) if first is not None else None
        else:
            resolved = resolve_target(module, head)
        if resolved is None:
            self._missing(patch)
            return
        owner, attribute, original, owned = resolved
        key = (id(owner), attribute)
        if key in self._applied:
            return  # same class re-exported under another module name
        switch = Switch()
        import wrapt

        wrapper = wrapt.FunctionWrapper(original, patch.factory(switch))
        setattr(owner, attribute, wrapper)
        self._applied[key] = _Applied(owner, attribute, wrapper, original, owned, switch)
        logger.debug("agentlightning: patched %s.%s", patch.module, patch.path)

    def _missing(self, patch: Patch) -> None:
        message = f"{patch.module}.{patch.path} not found; this version of the framework is not patched there"
        if patch.required:
            logger.warning("agentlightning (%s): %s.", self.name, message)
        else:
            logger.debug("agentlightning (%s): %s.", self.name, message)

    @staticmethod
    def _remove(record: _Applied) -> None:
        record.switch.on = False
        owner, attribute, ours = record.owner, record.attribute, record.wrapper
        current = owner.__dict__.get(attribute) if hasattr(owner, "__dict__") else None
        if current is ours:
            if record.owned:
                setattr(owner, attribute, record.original)
            else:
                delattr(owner, attribute)
            return
        # Someone wrapped on top of us: find the wrapt wrapper directly above ours and splice ours out.
        parent: Any = current
        for _ in range(64):
            child = getattr(parent, "__wrapped__", None)
            if child is None:
                break
            if child is ours:
                if isinstance(parent, _proxy_base()):
                    parent.__wrapped__ = record.original  # type: ignore[attr-defined]
                    return
                break  # a plain decorator closes over us: the switched-off layer stays, inert
            parent = child
        logger.debug(
            "agentlightning: %s.%s is wrapped by a non-wrapt wrapper; our layer stays in place, switched off",
            getattr(owner, "__name__", owner),
            attribute,
        )


def loaded(module_name: str) -> ModuleType | None:
    """The module if it is already imported (never imports it)."""
    return sys.modules.get(module_name)
