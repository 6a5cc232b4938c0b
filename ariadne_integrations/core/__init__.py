"""The framework-neutral core both integrations stand on.

Why: routing, per-call settings, routing metadata, message conversion and the construction of the
router + backend must behave the same in LangChain and LlamaIndex. They live here once; the
``langchain`` and ``llama_index`` packages only translate to and from their framework's types.

- :mod:`.prompts`: prompt validation, the text a prompt is routed on, one chat-message conversion;
- :mod:`.generator`: :class:`RoutedGenerator` (route a batch once, generate it in one mixed-adapter
  call), :class:`RoutedResult` / :class:`RoutedStream` with one ``metadata()``;
- :mod:`.coalescing`: concurrent calls on one backend routed and generated as one mixed batch;
- :mod:`.shared`: the process-wide caches of loaded routers and runtimes;
- :mod:`.options`: :class:`RoutedModelOptions`, the options every wrapper accepts, the one factory
  that builds a generator from them, and per-call overrides;
- :mod:`.async_bridge`: a blocking iterator consumed from an event loop.

Nothing here imports LangChain, LlamaIndex or torch at import time.
"""
