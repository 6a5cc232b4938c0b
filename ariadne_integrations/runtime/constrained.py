"""Grammar-constrained decoding to a JSON schema, per row, inside ONE batched ``generate``.

Why: a 135M backbone does not reliably write valid JSON by itself, but it always does when every step
may only pick tokens that keep the text a valid prefix of an answer to the schema. Each row of a
mixed-adapter batch gets its own grammar matcher (or none: that row decodes freely), so structured and
free-text requests, and requests with different schemas, share one ``generate`` call.

Library: xgrammar (extra ``structured``). Chosen over lm-format-enforcer and outlines-core because it
compiles a JSON schema to a pushdown automaton in milliseconds, fills a per-row token bitmask in C++
(lm-format-enforcer walks its parser in Python for every row and step, and its transformers integration
fails to import under transformers 5), applies the mask with a CPU kernel, takes nested / recursive
schemas, ``$ref`` and ``anyOf``, handles byte-level BPE vocabularies itself (outlines-core needs the
vocabulary converted by hand, or all of outlines), and is the structured-output engine vLLM and SGLang
use, so a schema behaves the same on the local runtime and on such a server. Imported on first use only.
``benchmarks/bench_structured.py`` measures the cost per decoding step against free decoding.

The answer is compact JSON (``{"a": 1, "b": "x"}``: no free whitespace, which a small model would
otherwise fill with newlines) and ends with the end-of-sequence token as soon as the JSON is complete.

Where the grammar leaves only one possible text (``{"sentiment": "`` at the start, ``", "product": "``
between two values), the row writes that text in its ordinary tokenization: only the first token the
tokenizer itself would use for it stays allowed. Otherwise a model that does not expect JSON spells
forced keys a character at a time (``{`` ``"`` ``pro`` ``d`` ``u`` ``ct``): more decoding steps for the
same answer, and a context that reads unlike anything the model was trained on.

Where the model would end its answer (its top token is end-of-sequence) but the grammar cannot end
yet, the row is steered to close the value it is writing: only tokens that start with ``"`` (inside a
string: its closing quote) or, failing that, with ``,`` ``}`` ``]`` stay allowed. Without this a small
model, and even more a LoRA adapter trained to answer a bare label and stop, keeps writing inside a
JSON string ("positive}user negative negative ...") until the token limit cuts the JSON.

Two gaps of xgrammar 0.2.9 are closed here, by clearing tokens from every constrained row's mask:
it reads SmolLM2's special tokens (``<|im_start|>`` ...) as literal text that may appear inside a JSON
string (decoding then drops them), and its rule for strings with ``maxLength`` lets raw control
characters through, which makes the JSON invalid. No token with a control byte can be part of compact
JSON (inside strings they must be escaped), and no special token but the stop token belongs in it.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from ariadne_integrations.errors import InvalidInputError, MissingDependencyError

logger = logging.getLogger(__name__)

__all__ = ["require_xgrammar", "compile_schemas", "RowGrammars", "STRUCTURED_EXTRA_HINT"]

STRUCTURED_EXTRA_HINT = (
    "structured output (json_schema, with_structured_output, bind_tools, structured_predict) needs xgrammar: "
    "pip install 'ariadne-integrations[structured]'"
)

_LOCK = threading.Lock()


@dataclass(frozen=True)
class TokenSets:
    """Per-tokenizer token bitmask rows (int32, xgrammar's layout) the processor combines with the grammar's."""

    allowed: Any
    """Tokens a compact JSON answer may ever use."""
    quote: Any
    """Tokens starting with ``"``: inside a string, the ones that close it."""
    closers: Any
    """Tokens starting with ``,`` ``}`` or ``]``: the ones that close a number, literal, object or array."""
    stop_ids: frozenset[int]
    tokenizer: Any
    """Encodes the text the grammar forces, to write it in the tokenizer's own tokenization."""


_COMPILERS: dict[int, tuple[Any, Any, TokenSets]] = {}
"""id(tokenizer) -> (tokenizer, xgrammar.GrammarCompiler, TokenSets); the tokenizer is kept so its id
stays unique."""


def require_xgrammar() -> Any:
    """The ``xgrammar`` module, or MissingDependencyError naming the extra to install."""
    try:
        import xgrammar
    except ImportError as exc:
        raise MissingDependencyError(STRUCTURED_EXTRA_HINT) from exc
    return xgrammar


def _stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end generation (the model's generation config, else the tokenizer's EOS)."""
    ids: list[int] = []
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (gen_eos, tokenizer.eos_token_id):
        if value is None:
            continue
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if int(i) not in ids:
                ids.append(int(i))
    return ids


def _never_in_json(info: Any, tokenizer: Any, stop_ids: Sequence[int]) -> list[int]:
    """Token ids no compact JSON answer may use: special tokens other than the stop tokens, and tokens
    holding a control byte (0x00-0x1f)."""
    special = set(getattr(tokenizer, "all_special_ids", None) or [])
    for tid, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            special.add(int(tid))
    banned = {i for i in special if i not in stop_ids}
    for i, raw in enumerate(info.decoded_vocab):
        if i not in stop_ids and any(b < 0x20 for b in bytes(raw)):
            banned.add(i)
    return sorted(banned)


def _bits(vocab_size: int, ids: Any, *, invert: bool = False) -> Any:
    """An int32 bitmask row in xgrammar's layout (bit ``k % 32`` of word ``k // 32`` is token ``k``) with
    the bits of ``ids`` set, or with ``invert`` all bits but those."""
    import numpy as np
    import torch

    flags = np.zeros(((vocab_size + 31) // 32) * 32, dtype=bool)
    flags[np.asarray(list(ids), dtype=np.int64)] = True
    if invert:
        flags = ~flags
    words = np.frombuffer(np.packbits(flags, bitorder="little").tobytes(), dtype="<i4").astype(np.int32)
    return torch.from_numpy(words)


def _compiler(model: Any, tokenizer: Any) -> tuple[Any, TokenSets]:
    """(GrammarCompiler, TokenSets) for a tokenizer, built once."""
    key = id(tokenizer)
    with _LOCK:
        hit = _COMPILERS.get(key)
        if hit is not None and hit[0] is tokenizer:
            return hit[1], hit[2]
        xgr = require_xgrammar()
        vocab = int(getattr(model.config, "vocab_size", 0) or len(tokenizer))
        stop_ids = _stop_token_ids(model, tokenizer)
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab, stop_token_ids=stop_ids)
        compiler = xgr.GrammarCompiler(info)  # caches compiled schemas itself
        size = info.vocab_size
        raw = [bytes(t) for t in info.decoded_vocab]
        sets = TokenSets(
            allowed=_bits(size, _never_in_json(info, tokenizer, stop_ids), invert=True),
            quote=_bits(size, [i for i, t in enumerate(raw) if t.startswith(b'"')]),
            closers=_bits(size, [i for i, t in enumerate(raw) if t[:1] in (b",", b"}", b"]")]),
            stop_ids=frozenset(stop_ids),
            tokenizer=tokenizer,
        )
        _COMPILERS[key] = (tokenizer, compiler, sets)
        return compiler, sets


def compile_schemas(model: Any, tokenizer: Any, schemas: Sequence[str | None]) -> RowGrammars | None:
    """The processor for one batched ``generate``: one compiled grammar per row (None for rows without
    a schema; equal schemas compile once), or None when no row has a schema."""
    if all(s is None for s in schemas):
        return None
    compiler, sets = _compiler(model, tokenizer)
    done: dict[str, Any] = {}
    for s in schemas:
        if s is not None and s not in done:
            try:
                done[s] = compiler.compile_json_schema(s, any_whitespace=False, strict_mode=True)
            except Exception as exc:  # xgrammar raises RuntimeError / ValueError subclasses
                raise InvalidInputError(f"json_schema cannot be turned into a decoding grammar: {exc}") from exc
    return RowGrammars([None if s is None else done[s] for s in schemas], sets)


class RowGrammars:
    """A logits processor for one batched ``generate``: row ``i`` may only continue its grammar.

    Rows whose grammar is None decode freely; a row whose JSON is complete may only end (EOS), after
    which its (padding) steps are left alone. With ``sets`` (see :class:`TokenSets`), tokens never valid
    in compact JSON are masked, text the grammar forces is written in the tokenizer's own tokenization,
    and a row that would end early is steered to close its value. Build a new one per ``generate`` call.
    """

    def __init__(self, compiled: Sequence[Any | None], sets: TokenSets | None = None) -> None:
        xgr = require_xgrammar()
        self._xgr = xgr
        self.matchers = [xgr.GrammarMatcher(c) if c is not None else None for c in compiled]
        self.constrained = [i for i, m in enumerate(self.matchers) if m is not None]
        first = next(c for c in compiled if c is not None)
        self._mask = xgr.allocate_token_bitmask(len(compiled), first.tokenizer_info.vocab_size)
        self._sets = sets
        self._seen: int | None = None
        self.rejected: set[int] = set()

    def is_constrained(self, row: int) -> bool:
        return self.matchers[row] is not None

    def completed(self, sequences: Any) -> list[bool]:
        """After ``generate``: per row, whether its answer is a complete JSON value of its schema (rows
        without a schema: True). The last token sampled was never seen by the processor, so the tokens
        after the last step are fed first; an answer that reaches ``max_new_tokens`` exactly as its JSON
        closes is complete though no end-of-sequence token fitted."""
        done = [True] * len(self.matchers)
        start = self._seen if self._seen is not None else int(sequences.shape[1])
        for i in self.constrained:
            m = self.matchers[i]
            if m is None or i in self.rejected:
                done[i] = False
                continue
            for tok in sequences[i, start:].tolist():
                if m.is_terminated() or not m.accept_token(int(tok)):
                    break
            done[i] = bool(m.is_terminated() or m.is_completed())
        return done

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        length = int(input_ids.shape[1])
        if self._seen is not None and length > self._seen:
            for i in self.constrained:
                m = self.matchers[i]
                if m is None or m.is_terminated() or i in self.rejected:
                    continue
                for tok in input_ids[i, self._seen:length].tolist():
                    if not m.accept_token(int(tok)):  # cannot happen with the mask applied; never mask that row again
                        logger.warning("row %d: token %d rejected by its grammar; the row is no longer constrained", i, tok)
                        self.rejected.add(i)
                        break
        self._seen = length
        active = []
        for i in self.constrained:
            m = self.matchers[i]
            if m is not None and not m.is_terminated() and i not in self.rejected:
                m.fill_next_token_bitmask(self._mask, i)
                active.append(i)
        if active:
            if self._sets is not None:
                self._mask[active] &= self._sets.allowed
                free = self._force_canonical(active)
                if free:
                    self._steer_to_close(free, scores)
            mask = self._mask if self._mask.device == scores.device else self._mask.to(scores.device)
            self._xgr.apply_token_bitmask_inplace(scores, mask, indices=active)
        return scores

    def _force_canonical(self, active: list[int]) -> list[int]:
        """Rows where the grammar forces a text: allow only the first token of the tokenizer's own encoding
        of it (when the grammar allows that token). Returns the rows left free."""
        sets = self._sets
        assert sets is not None
        free = []
        for i in active:
            m = self.matchers[i]
            forced = m.find_jump_forward_string() if m is not None else ""
            ids = sets.tokenizer.encode(forced, add_special_tokens=False) if forced else []
            first = int(ids[0]) if ids else -1
            if first < 0 or not (int(self._mask[i, first // 32]) >> (first % 32)) & 1:
                free.append(i)
                continue
            self._mask[i] = 0
            self._mask[i, first // 32] = _word_bit(first % 32)
        return free

    def _steer_to_close(self, active: list[int], scores: Any) -> None:
        """Rows whose top token is a stop token the grammar forbids: keep only the tokens that close the
        value being written (``"`` first, else ``,`` ``}`` ``]``), when the grammar allows any."""
        sets = self._sets
        assert sets is not None
        for i, top in zip(active, scores[active].argmax(dim=-1).tolist()):
            if top not in sets.stop_ids or (int(self._mask[i, top // 32]) >> (top % 32)) & 1:
                continue
            for closing in (sets.quote, sets.closers):
                narrowed = self._mask[i] & closing
                if bool(narrowed.any()):
                    self._mask[i] = narrowed
                    break


def _word_bit(bit: int) -> int:
    """The int32 value with only ``bit`` set (bit 31 is the sign bit)."""
    return (1 << bit) - (1 << 32) if bit == 31 else 1 << bit
