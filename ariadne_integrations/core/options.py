"""The options every wrapper accepts, and the one factory that builds a generator from them.

Why: ``AriadneLLM``, ``ChatAriadne`` and ``AriadneLlamaLLM`` are pydantic models in their frameworks;
they all inherit these fields, validators and helpers, so a keyword means the same thing (and has the
same default) whichever framework the user is in. The wrappers add only their framework's
translation.
"""
from __future__ import annotations

import copy
import os
import threading
from typing import Any, Iterable, Literal, Mapping

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ariadne_integrations.constants import (
    BASE_ADAPTER,
    DEFAULT_BACKBONE_ID,
    DEFAULT_COALESCE_WINDOW_MS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_NEW_TOKENS,
)
from ariadne_integrations.core.generator import RoutedGenerator
from ariadne_integrations.core.prompts import check_stop
from ariadne_integrations.core.shared import bare_runtime, check_index
from ariadne_integrations.devices import check_device, check_dtype
from ariadne_integrations.errors import AriadneError, InvalidInputError, UnknownAdapterError
from ariadne_integrations.runtime.generation import GenerationConfig

__all__ = ["CALL_SETTINGS", "GenerationConfig", "RoutedModelOptions", "accepted_arguments", "typed_error"]

CALL_SETTINGS = ("max_new_tokens", "max_tokens", "temperature", "top_p", "top_k", "seed", "repetition_penalty", "json_schema")
"""Generation settings a single call may override (``json_schema``: constrain the answer to a JSON schema)."""

_ROUTE_ALIASES = ("auto", "router")
"""Per-call ``model=`` values that mean "route" (OpenAI-style clients always send a model)."""


def accepted_arguments(cls: type[BaseModel]) -> list[str]:
    """Every keyword a pydantic model accepts: field names and their aliases."""
    names: set[str] = set()
    for name, info in cls.model_fields.items():
        names.add(name)
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(a for a in alias.choices if isinstance(a, str))
        if info.alias:
            names.add(info.alias)
    return sorted(names)


def typed_error(exc: ValidationError, cls: type[BaseModel]) -> Exception:
    """The package's typed error for a failed construction: the check's own error when one of ours
    failed (an unknown adapter, a missing index), else InvalidInputError naming each bad argument
    (a misspelt keyword lists the accepted ones)."""
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, AriadneError):
            return cause
    unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden" and e["loc"]]
    if unknown:
        error = InvalidInputError(
            f"{cls.__name__} got unknown argument(s) {unknown}; accepted: {accepted_arguments(cls)}"
        )
    else:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        error = InvalidInputError(f"invalid {cls.__name__} arguments: {problems}")
    error.__cause__ = exc
    return error


class RoutedModelOptions(BaseModel):
    """Where to route, what runs, and how to decode: shared by every wrapper.

    Give ``index`` (a routing index folder), or ``router`` (an ``AriadneRouter``); with neither, the
    bare backbone answers everything. ``backend`` / ``base_url`` replace the local runtime.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True, extra="forbid")
    """``extra="forbid"``: a misspelt keyword (``max_new_token=``) is an error, never silently ignored."""

    index: str | None = None
    """Routing index folder (``ariadne index build`` / ``AriadneRouter.save``); its adapter folders are used."""
    router: Any = Field(default=None, exclude=True)
    """An ``AriadneRouter`` object instead of ``index``."""
    backend: Any = Field(default=None, exclude=True)
    """A ``GenerationBackend``; default: an ``AdapterRuntime`` over ``backbone`` with the index's adapters."""
    backbone: str | None = None
    """Hub id or local path of the base causal LM; None = the embedded SmolLM2-135M-Instruct."""
    device: str = "auto"
    """Where the local runtime runs the backbone: "auto" (CUDA when available, else CPU), "cpu", "cuda",
    "cuda:N" or "mps". Checked for spelling at construction; a device that is not there fails at first use."""
    dtype: str = "auto"
    """The backbone's weights: "auto" (bfloat16 on a GPU that supports it, else float16 there; float32 on
    CPU and MPS), "float32", "bfloat16" or "float16" (fp32/bf16/fp16 too)."""
    base_url: str | None = None
    """OpenAI-compatible multi-LoRA server (vLLM, LoRAX, llama.cpp server) instead of the local runtime."""
    api_key: SecretStr | None = None
    adapter: str | None = None
    """Force this adapter for every call (``"__base__"`` = bare backbone); None = route each prompt."""
    threshold: float | None = None
    """Abstain (answer with the bare backbone) when the best adapter scores below this; None = the
    index's calibrated threshold; -1 = never abstain on score."""
    min_margin: float | None = None
    """Abstain when the best adapter leads the runner-up by less than this; None = the index's."""
    max_new_tokens: int = Field(default=DEFAULT_MAX_NEW_TOKENS, gt=0,
                                validation_alias=AliasChoices("max_new_tokens", "max_tokens"))
    temperature: float = Field(default=0.0, ge=0.0)
    """0 = greedy."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    """Stop strings: generation really stops there, and they are cut from the answer."""
    chat_template: bool = True
    """Wrap a text prompt as a user message and apply the backbone's chat template."""
    max_loaded_adapters: int = Field(default=8, ge=1)
    coalesce_window_ms: float = Field(default=DEFAULT_COALESCE_WINDOW_MS, ge=0.0, le=60_000.0)
    """Concurrent calls (threads, ``asyncio.gather`` of ``ainvoke``, LangGraph ``Send``) arriving within
    this many milliseconds of each other on the same backend are routed and generated as ONE mixed
    batch; each caller still gets its own answer, metadata and errors. 0 = off. Streams are never
    coalesced. The cost: a lone call waits this long before it starts."""
    max_batch_size: int = Field(default=DEFAULT_MAX_BATCH_SIZE, ge=1)
    """Most prompts in one coalesced batch (a single larger ``batch`` call still runs whole)."""
    on_adapter_error: Literal["raise", "base"] = "raise"
    """A prompt routed to an adapter that fails to load (missing folder, broken weights): "raise" fails
    that prompt alone with ``AdapterLoadError`` (the other prompts of a batch are answered); "base" answers
    it with the bare backbone and says so in its metadata (``fallback=True``, ``adapter_error``)."""
    timeout: float | None = Field(default=None, gt=0.0)
    """``base_url=`` only: seconds per request before ``ServerTimeoutError``; None = 60."""
    max_retries: int | None = Field(default=None, ge=0)
    """``base_url=`` only: retries of a failed request (connection errors, 408/409/429, 5xx; the openai SDK's
    exponential back-off); None = 2, the SDK's default."""

    _gen: RoutedGenerator | None = PrivateAttr(default=None)
    _gen_lock: Any = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise typed_error(exc, type(self)) from None

    # ------------------------------------------------------------------ copies and pickles
    # The lazily built generator (locks, loaded models) is process state, not part of the options:
    # a pickled or copied model carries its settings and rebuilds the generator on first use, where
    # the shared caches hand it the already loaded router and backbone.
    def __getstate__(self) -> dict[Any, Any]:
        state = BaseModel.__getstate__(self)  # pydantic's own: framework bases would probe every attribute
        state["__pydantic_private__"] = {**(state.get("__pydantic_private__") or {}), "_gen": None, "_gen_lock": None}
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        BaseModel.__setstate__(self, state)
        self._gen_lock = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        """A deep copy of the settings; ``router`` / ``backend`` objects are shared (they are heavy,
        thread-safe and meant to be shared), the generator is rebuilt on first use."""
        memo = {} if memo is None else memo
        for name in ("router", "backend"):
            value = getattr(self, name, None)
            if value is not None:
                memo[id(value)] = value
        state = self.__getstate__()
        clone = type(self).__new__(type(self))
        clone.__setstate__(copy.deepcopy(state, memo))
        return clone

    @field_validator("device", mode="before")
    @classmethod
    def _check_device(cls, v: Any) -> str:
        return check_device(v)

    @field_validator("dtype", mode="before")
    @classmethod
    def _check_dtype(cls, v: Any) -> str:
        return check_dtype(v)

    @field_validator("index", mode="before")
    @classmethod
    def _index_to_str(cls, v: Any) -> Any:
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @model_validator(mode="after")
    def _check_sources(self) -> RoutedModelOptions:
        """Construction-time checks that need no model weights: stop list, index folder, forced adapter."""
        check_stop(self.stop)
        if self.index is not None and self.router is not None:
            raise InvalidInputError("give either index= or router=, not both")
        names: list[str] | None = None
        if self.index is not None:
            meta = check_index(self.index)  # IndexNotFoundError / IndexFormatError with a clear message
            names = [a["name"] for a in meta["adapters"]]
        elif self.router is not None:
            names = list(self.router.adapters)
        if self.adapter not in (None, BASE_ADAPTER) and names is None and self.backend is None and not self.base_url:
            raise UnknownAdapterError(
                f"adapter {self.adapter!r} needs an index=, router=, backend= or base_url= that has it; "
                f"without them only the bare backbone ({BASE_ADAPTER!r}) answers"
            )
        if self.adapter not in (None, BASE_ADAPTER) and names is not None and self.adapter not in names:
            raise UnknownAdapterError(
                f"adapter {self.adapter!r} is not in the index; known adapters: {names} "
                f"(or {BASE_ADAPTER!r} for the bare backbone)"
            )
        return self

    # ------------------------------------------------------------------ the generator
    @property
    def generator(self) -> RoutedGenerator:
        """The router + backend these options describe (built on first use, heavy parts lazy and shared)."""
        if self._gen is None:
            with self._gen_lock:
                if self._gen is None:
                    self._gen = self._build_generator()
        return self._gen

    def _build_generator(self) -> RoutedGenerator:
        backend: Any = self.backend
        if backend is None and self.base_url:
            from ariadne_integrations.runtime.openai_backend import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, OpenAICompatibleBackend

            key = self.api_key.get_secret_value() if self.api_key is not None else None
            backend = OpenAICompatibleBackend(
                self.base_url, api_key=key, base_model_alias=self.backbone or "base",
                timeout=float(self.timeout if self.timeout is not None else DEFAULT_TIMEOUT),
                max_retries=int(self.max_retries if self.max_retries is not None else DEFAULT_MAX_RETRIES),
            )
        if self.index is not None:
            return RoutedGenerator.from_index(
                self.index, backbone=self.backbone, max_loaded_adapters=self.max_loaded_adapters, backend=backend,
                device=self.device, dtype=self.dtype, adapter=self.adapter, threshold=self.threshold, min_margin=self.min_margin,
                **self._coalescing(),
            )
        router, backbone, bound = self.router, self.backbone, self.max_loaded_adapters
        device, dtype = self.device, self.dtype
        if backend is None and router is not None:
            def make_runtime() -> Any:
                from ariadne_integrations.runtime.adapters import AdapterRuntime

                paths = {n: p for n in router.adapters if (p := router.adapter_path(n))}
                return AdapterRuntime(backbone=backbone, adapters=paths, max_loaded_adapters=bound, device=device, dtype=dtype)

            backend = make_runtime
        elif backend is None:
            backend = lambda: bare_runtime(backbone, bound, device, dtype)  # noqa: E731 - built on first use
        return RoutedGenerator(router, backend, adapter=self.adapter, threshold=self.threshold, min_margin=self.min_margin,
                               **self._coalescing())

    def _coalescing(self) -> dict[str, Any]:
        return {"coalesce_window_ms": float(self.coalesce_window_ms), "max_batch_size": int(self.max_batch_size),
                "on_adapter_error": self.on_adapter_error}

    @property
    def backbone_name(self) -> str:
        """The backbone's name as traces report it, known without loading anything."""
        return self.backbone or DEFAULT_BACKBONE_ID

    # ------------------------------------------------------------------ per call
    def generation_config(self, stop: Iterable[str] | None = None, **overrides: Any) -> GenerationConfig:
        """This model's decoding settings, with per-call ``overrides`` (unknown keys are an error)."""
        base = GenerationConfig(
            max_new_tokens=int(self.max_new_tokens),
            temperature=float(self.temperature),
            top_p=float(self.top_p),
            top_k=self.top_k,
            repetition_penalty=self.repetition_penalty,
            stop=check_stop(self.stop),
            seed=self.seed,
            apply_chat_template=bool(self.chat_template),
        )
        if stop is not None:
            overrides["stop"] = check_stop(list(stop) if not isinstance(stop, str) else stop)
        return base.override(**overrides)

    def call_settings(self, stop: Iterable[str] | None, kwargs: Mapping[str, Any],
                      ignore: Iterable[str] = ()) -> tuple[str | None, GenerationConfig]:
        """``(adapter, config)`` of one call from its keyword arguments.

        ``adapter=`` or ``model=`` (OpenAI-style: the model name picks the LoRA adapter; ``"auto"``
        routes; the backbone's own name means no adapter) force an adapter; the settings in
        :data:`CALL_SETTINGS` override decoding; keys in ``ignore`` (a framework's own extras) are
        dropped; anything else is an error that lists what is supported.
        """
        kw = {k: v for k, v in kwargs.items() if k not in set(ignore)}
        adapter = self._call_adapter(kw.pop("adapter", None), kw.pop("model", None))
        settings = {k: kw.pop(k) for k in list(kw) if k in CALL_SETTINGS}
        if kw:
            raise InvalidInputError(
                f"unsupported call argument(s) {sorted(kw)}; supported: {sorted(CALL_SETTINGS)}, adapter, model, stop"
            )
        return adapter, self.generation_config(stop, **settings)

    def _call_adapter(self, adapter: Any, model: Any) -> str | None:
        gen = self.generator
        if adapter is None and model is not None:
            if not isinstance(model, str):
                raise InvalidInputError(f"model must be an adapter name (string), got {type(model).__name__}")
            if model in _ROUTE_ALIASES:
                return None
            if model not in gen.adapters and model != BASE_ADAPTER and model in self._backbone_names(gen):
                return BASE_ADAPTER
            adapter = model
        if adapter is not None:
            gen.check_adapter(adapter)
        return adapter

    def _backbone_names(self, gen: RoutedGenerator) -> set[str]:
        names = {self.backbone_name, self.backbone_name.rsplit("/", 1)[-1]}
        if gen.loaded:
            names.add(gen.model_name)
        return names
