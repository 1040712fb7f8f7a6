"""The batching engine: continuous batching at the decode-step level over one transformers model.

One engine thread owns the model. Requests wait in a bounded queue; at every decode step the
engine admits waiting requests into the running batch (up to ``max_batch_size``): they are
prefilled together (left padding, images packed the way the model wants them) and their KV cache
is merged into the running batch's cache. Every step then decodes one token for every running
row, so a short request never waits for the longest one, and a finished, cancelled or
disconnected row leaves the batch at once.

Positions: GLM-4.1V uses 3D M-RoPE; the engine computes the prefill positions with the model's own
``get_rope_index`` and keeps one "next position" per row, passing explicit ``position_ids`` at every
step (the model's own ``rope_deltas`` state is never used, so rows can come and go freely).
Models without M-RoPE get ordinary 1D positions.

Tokens go to each request through its own queue (an asyncio queue when the request came from an
event loop). ``EngineStats`` records what ran (batch-size histograms) so tests can assert batching
without relying on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import BaseModel, Field, computed_field

from autoglm_agent.server.errors import APIError, EngineClosedError, QueueFullError
from autoglm_agent.server.loading import LoadedModel

log = logging.getLogger(__name__)

#: Processor outputs laid out one value per token (padded on the left in a batch).
PER_TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")

#: Temperatures below this sample greedily (dividing logits by less can overflow to inf/nan).
MIN_TEMPERATURE = 1e-5


class SamplingParams(BaseModel):
    """Per-request decoding parameters (temperature 0 = greedy)."""

    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)  # what torch.Generator.manual_seed takes
    stop: list[str] = Field(default_factory=list)
    stop_token_ids: list[int] = Field(default_factory=list)
    ignore_eos: bool = False
    min_tokens: int = Field(0, ge=0)
    #: OpenAI's penalties over the tokens generated so far: ``logit -= count * frequency_penalty
    #: + (count > 0) * presence_penalty`` before sampling (greedy decoding included).
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    presence_penalty: float = Field(0.0, ge=-2, le=2)

    @property
    def penalized(self) -> bool:
        return bool(self.frequency_penalty or self.presence_penalty)


@dataclass
class PreparedPrompt:
    """One request's model inputs, as the processor made them (batch dimension removed)."""

    input_ids: torch.Tensor  # (L,) long
    per_token: dict[str, torch.Tensor] = field(default_factory=dict)  # (L,) tensors, e.g. mm_token_type_ids
    per_item: dict[str, torch.Tensor] = field(default_factory=dict)  # packed tensors, e.g. pixel_values
    prompt_text: str = ""
    num_images: int = 0

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    def item_shapes(self) -> dict[str, tuple[Any, ...]]:
        """Trailing shapes of the packed inputs: rows that agree on them can be prefilled together."""
        return {k: (tuple(v.shape[1:]), v.dtype) for k, v in self.per_item.items()}


@dataclass
class GenerationEvent:
    """What a request receives: new text, and at the end a finish reason (or an error)."""

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    finish_reason: str | None = None  # "stop" | "length" | "cancelled" | "error"
    error: APIError | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class GenerationResult:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int]


class RequestRecord(BaseModel):
    """What the engine remembers of a recent request (for tests and debugging)."""

    id: str
    prompt_text: str
    prompt_tokens: int
    num_images: int
    completion_tokens: int = 0
    finish_reason: str | None = None
    cancelled: bool = False


class EngineStats(BaseModel):
    """Counters of what the engine ran."""

    requests_submitted: int = 0
    requests_finished: int = 0
    requests_cancelled: int = 0
    requests_failed: int = 0
    rejected_queue_full: int = 0
    rows_dropped: int = 0  # cancelled/disconnected while running
    prefill_batches: int = 0
    prefill_batch_sizes: dict[int, int] = Field(default_factory=dict)
    decode_steps: int = 0
    decode_batch_sizes: dict[int, int] = Field(default_factory=dict)
    max_batch_size_seen: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    running: int = 0
    waiting: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def batches_run(self) -> int:
        """Model calls: prefill batches plus decode steps."""
        return self.prefill_batches + self.decode_steps


class RequestHandle:
    """A submitted request: iterate its events, or cancel it (a disconnected client does)."""

    def __init__(
        self, prompt: PreparedPrompt, params: SamplingParams, loop: asyncio.AbstractEventLoop | None
    ):
        self.id = uuid.uuid4().hex
        self.prompt = prompt
        self.params = params
        self.arrival = time.monotonic()
        self._loop = loop
        self._aqueue: asyncio.Queue[GenerationEvent] | None = asyncio.Queue() if loop is not None else None
        self._tqueue: queue.SimpleQueue[GenerationEvent] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self.finished = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop generating for this request; the engine drops its row at the next step."""
        self._cancelled.set()

    def _push(self, event: GenerationEvent, outbox: _Outbox | None = None) -> None:
        if event.finish_reason is not None:
            self.finished = True
        if self._loop is not None and self._aqueue is not None:
            if outbox is not None:
                outbox.add(self._loop, self._aqueue, event)
                return
            with contextlib.suppress(RuntimeError):  # loop closed: nobody listens any more
                self._loop.call_soon_threadsafe(self._aqueue.put_nowait, event)
        else:
            self._tqueue.put(event)

    async def events(self) -> AsyncIterator[GenerationEvent]:
        """Events until (and including) the final one; cancels the request if the consumer stops early."""
        assert self._aqueue is not None, "events() needs a handle submitted from an event loop"
        done = False
        try:
            while True:
                event = await self._aqueue.get()
                yield event
                if event.finish_reason is not None:
                    done = True
                    return
        finally:
            if not done:
                self.cancel()

    def iter_events(self, timeout: float | None = None) -> Iterator[GenerationEvent]:
        while True:
            event = self._tqueue.get(timeout=timeout)
            yield event
            if event.finish_reason is not None:
                return


class _Outbox:
    """Events of one decode step, handed to each event loop in one thread-safe call (not one per token)."""

    def __init__(self) -> None:
        self._by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Queue[GenerationEvent], GenerationEvent]]
        ] = {}

    def add(
        self, loop: asyncio.AbstractEventLoop, q: asyncio.Queue[GenerationEvent], event: GenerationEvent
    ) -> None:
        self._by_loop.setdefault(loop, []).append((q, event))

    def flush(self) -> None:
        for loop, items in self._by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed: nobody listens any more
                loop.call_soon_threadsafe(_deliver, items)
        self._by_loop = {}


def _deliver(items: list[tuple[asyncio.Queue[GenerationEvent], GenerationEvent]]) -> None:
    for q, event in items:
        q.put_nowait(event)


class _Detokenizer:
    """Incremental decoding that never emits half a UTF-8 character."""

    def __init__(self, tokenizer: Any, skip_ids: set[int]):
        self.tokenizer = tokenizer
        self.skip_ids = skip_ids
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def add(self, token_id: int) -> str:
        if token_id in self.skip_ids:
            return ""
        self.ids.append(token_id)
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        full = self._decode(self.ids[self.prefix_offset :])
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
            return full[len(prefix) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back at the end (a trailing partial character)."""
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        full = self._decode(self.ids[self.prefix_offset :])
        self.prefix_offset = self.read_offset = len(self.ids)
        return full[len(prefix) :] if len(full) > len(prefix) else ""


class _Row:
    """One running request inside the batch."""

    def __init__(self, handle: RequestHandle, engine: Engine):
        self.handle = handle
        p = handle.params
        self.max_tokens = p.max_tokens
        self.generated: list[int] = []
        self.detok = _Detokenizer(engine.lm.tokenizer, engine.lm.skip_token_ids)
        self.text = ""  # decoded text so far (before stop truncation)
        self.emitted = 0  # characters of ``text`` already sent
        self.stop = [s for s in p.stop if s]
        self.stop_ids = set(p.stop_token_ids)
        self.generator: torch.Generator | None = None
        if p.seed is not None and p.temperature > 0:
            self.generator = torch.Generator(device="cpu")
            self.generator.manual_seed(p.seed)
        self.last_token = -1
        self.next_pos = 0
        self.unsent_ids: list[int] = []  # tokens not yet reported in an event
        #: how often each vocabulary token was generated (only for requests with penalties)
        self.counts: torch.Tensor | None = None
        self.record = RequestRecord(
            id=handle.id,
            prompt_text=handle.prompt.prompt_text,
            prompt_tokens=handle.prompt.num_tokens,
            num_images=handle.prompt.num_images,
        )


class Engine:
    """Owns the model; runs the scheduler loop in its own thread."""

    def __init__(
        self,
        lm: LoadedModel,
        *,
        max_batch_size: int = 16,
        max_queue_size: int = 64,
        batch_window_ms: float = 10.0,
        max_prefill_tokens: int = 16384,
        max_new_tokens: int = 1024,
        record_last: int = 64,
        torch_threads: int | None = None,
    ):
        self.lm = lm
        self.model = lm.model
        self.max_batch_size = max_batch_size
        self.max_queue_size = max_queue_size
        self.batch_window_s = batch_window_ms / 1000.0
        self.max_prefill_tokens = max_prefill_tokens
        self.max_new_tokens = max_new_tokens
        self._cv = threading.Condition()
        self._waiting: deque[RequestHandle] = deque()
        self._rows: list[_Row] = []
        self._stats = EngineStats()
        self._recent: deque[RequestRecord] = deque(maxlen=record_last)
        self._paused = False
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._forced: list[int] | None = None
        # running batch state
        self._cache: Any = None
        self._mask: torch.Tensor | None = None
        inner = getattr(self.model, "model", None)
        self._rope_index = getattr(inner, "get_rope_index", None)
        self._rope_params = set(inspect.signature(self._rope_index).parameters) if self._rope_index else set()
        self._device = lm.device
        text_config = (
            self.model.config.get_text_config() if hasattr(self.model.config, "get_text_config") else None
        )
        self._sdpa = getattr(text_config or self.model.config, "_attn_implementation", None) == "sdpa"
        self.torch_threads = torch_threads

    # ----- lifecycle -----

    def start(self) -> Engine:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="autoglm-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new requests, end waiting and running ones with 503, and join the thread."""
        with self._cv:
            self._closed = True
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._cv:
            for h in self._waiting:
                h._push(GenerationEvent(finish_reason="error", error=EngineClosedError()))
            self._waiting.clear()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----- test and admin hooks -----

    def pause(self) -> None:
        """Stop admitting waiting requests (running rows go on). For tests and maintenance."""
        with self._cv:
            self._paused = True

    def resume(self) -> None:
        with self._cv:
            self._paused = False
            self._cv.notify_all()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def set_forced_output(self, text: str | None) -> None:
        """Test hook: every row's sampled tokens are replaced by ``text``'s tokens, then an end token.

        The model still runs every prefill and decode step; only the choice of token is forced, so
        tests can check reasoning splitting and clients deterministically with a random model.
        """
        if text is None:
            self._forced = None
            return
        ids = list(self.lm.tokenizer.encode(text, add_special_tokens=False))
        end = min(self.lm.eos_token_ids) if self.lm.eos_token_ids else self.lm.pad_token_id
        self._forced = [*ids, end]

    def stats(self) -> EngineStats:
        with self._cv:
            s = self._stats.model_copy(deep=True)
            s.running = len(self._rows)
            s.waiting = len(self._waiting)
            return s

    def recent_requests(self) -> list[RequestRecord]:
        with self._cv:
            return [r.model_copy() for r in self._recent]

    def reset_stats(self) -> None:
        with self._cv:
            self._stats = EngineStats()
            self._recent.clear()

    # ----- submission -----

    def submit(
        self, prompt: PreparedPrompt, params: SamplingParams, loop: asyncio.AbstractEventLoop | None = None
    ) -> RequestHandle:
        """Queue a request. Raises ``QueueFullError`` (429), ``EngineClosedError`` (503) or ``APIError`` (400)."""
        n = prompt.num_tokens
        if n == 0:
            raise APIError(400, "the prompt is empty", code="empty_prompt")
        if n >= self.lm.max_model_len:
            raise APIError(
                400,
                f"the prompt has {n} tokens, the model's context is {self.lm.max_model_len}; send less",
                code="context_length_exceeded",
                param="messages",
            )
        cap = min(params.max_tokens, self.max_new_tokens, self.lm.max_model_len - n)
        if cap != params.max_tokens:
            params = params.model_copy(update={"max_tokens": cap})
        handle = RequestHandle(prompt, params, loop)
        with self._cv:
            if self._closed or not self.running:
                raise EngineClosedError()
            if len(self._waiting) >= self.max_queue_size:
                self._stats.rejected_queue_full += 1
                raise QueueFullError(self.max_queue_size)
            self._waiting.append(handle)
            self._stats.requests_submitted += 1
            self._cv.notify_all()
        return handle

    def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, timeout: float = 300.0
    ) -> GenerationResult:
        """Blocking helper: submit and wait for the whole result."""
        handle = self.submit(prompt, params)
        text: list[str] = []
        ids: list[int] = []
        final = GenerationEvent()
        for ev in handle.iter_events(timeout=timeout):
            text.append(ev.text)
            ids += ev.token_ids
            final = ev
        if final.error is not None:
            raise final.error
        return GenerationResult(
            text="".join(text),
            finish_reason=final.finish_reason or "stop",
            prompt_tokens=final.prompt_tokens,
            completion_tokens=final.completion_tokens,
            token_ids=ids,
        )

    # ----- the loop -----

    def _run(self) -> None:
        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)  # OpenMP settings are per thread: set them here
        with torch.inference_mode():
            while True:
                admit = self._next_admission()
                if admit is None:
                    break
                if admit:
                    try:
                        self._prefill(admit)
                    except Exception as exc:  # a broken batch must not kill the engine
                        log.exception("prefill failed")
                        self._drop_rows_of(admit)
                        for h in admit:
                            self._fail(h, exc)
                if self._rows:
                    try:
                        self._decode_step()
                    except Exception as exc:
                        log.exception("decode step failed")
                        rows, self._rows = self._rows, []
                        self._cache = self._mask = None
                        for r in rows:
                            self._fail(r.handle, exc, r)
            self._abort_running()

    def _next_admission(self) -> list[RequestHandle] | None:
        """Wait for work; return the requests to admit now ([] = just decode), None = stop."""
        with self._cv:
            while True:
                if self._stopping:
                    return None
                self._drop_cancelled_waiting()
                if self._rows or (self._waiting and not self._paused):
                    break
                self._cv.wait(timeout=0.5)
            if self._paused or not self._waiting:
                return []
            free = self.max_batch_size - len(self._rows)
            if free <= 0:
                return []
            if not self._rows and self.batch_window_s > 0:
                # idle engine: give a burst of requests a moment to arrive together
                deadline = self._waiting[0].arrival + self.batch_window_s
                while (
                    not self._stopping
                    and len(self._waiting) < free
                    and (left := deadline - time.monotonic()) > 0
                ):
                    self._cv.wait(timeout=left)
                if self._stopping:
                    return None
                self._drop_cancelled_waiting()
            admit: list[RequestHandle] = []
            shapes: dict[str, tuple[Any, ...]] = {}
            budget = self.max_prefill_tokens
            longest = 0
            for h in list(self._waiting):
                if len(admit) >= free:
                    break
                mine = h.prompt.item_shapes()
                if any(k in shapes and shapes[k] != v for k, v in mine.items()):
                    continue  # packed inputs of another shape (e.g. another image size): next prefill
                new_longest = max(longest, h.prompt.num_tokens)
                if admit and new_longest * (len(admit) + 1) > budget:
                    break
                shapes.update(mine)
                longest = new_longest
                admit.append(h)
            for h in admit:
                self._waiting.remove(h)
            return admit

    def _drop_cancelled_waiting(self) -> None:
        for h in [h for h in self._waiting if h.cancelled]:
            self._waiting.remove(h)
            self._stats.requests_cancelled += 1
            h._push(GenerationEvent(finish_reason="cancelled"))

    # ----- model steps -----

    def _positions(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        per_token: dict[str, torch.Tensor],
        per_item: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefill position ids and each row's next position."""
        if self._rope_index is not None and "mm_token_type_ids" in per_token:
            kwargs: dict[str, Any] = {"attention_mask": mask}
            for name, value in (*per_token.items(), *per_item.items()):
                if name in self._rope_params:
                    kwargs[name] = value
            pos, _ = self._rope_index(input_ids, **kwargs)
            # padded positions are 0; the next text position is one past the row's largest position
            next_pos = pos.amax(dim=(0, 2)) + 1
            return pos, next_pos
        pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
        next_pos = mask.long().sum(-1)
        if self._rope_index is not None:
            pos = pos.unsqueeze(0).expand(3, -1, -1)
        return pos, next_pos

    def _prefill(self, handles: list[RequestHandle]) -> None:
        lm = self.lm
        prompts = [h.prompt for h in handles]
        length = max(p.num_tokens for p in prompts)
        b = len(prompts)
        dev = self._device
        input_ids = torch.full((b, length), lm.pad_token_id, dtype=torch.long)
        mask = torch.zeros((b, length), dtype=torch.long)
        per_token: dict[str, torch.Tensor] = {}
        for key in {k for p in prompts for k in p.per_token}:
            ref = next(p.per_token[key] for p in prompts if key in p.per_token)
            per_token[key] = torch.zeros((b, length), dtype=ref.dtype)
        for i, p in enumerate(prompts):
            n = p.num_tokens
            input_ids[i, length - n :] = p.input_ids
            mask[i, length - n :] = 1
            for key, value in p.per_token.items():
                per_token[key][i, length - n :] = value
        per_item: dict[str, torch.Tensor] = {}
        for key in {k for p in prompts for k in p.per_item}:
            parts = [p.per_item[key] for p in prompts if key in p.per_item]
            per_item[key] = torch.cat(parts, dim=0)
        pos, next_pos = self._positions(input_ids, mask, per_token, per_item)
        kwargs: dict[str, Any] = {k: v.to(dev) for k, v in per_token.items()}
        for k, v in per_item.items():
            kwargs[k] = v.to(dev, dtype=lm.dtype) if v.is_floating_point() else v.to(dev)
        from transformers import DynamicCache

        cache = DynamicCache()
        out = self.model(
            input_ids=input_ids.to(dev),
            attention_mask=mask.to(dev),
            position_ids=pos.to(dev),
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
            **kwargs,
        )
        logits = out.logits[:, -1, :].float()
        rows = [_Row(h, self) for h in handles]
        for r, np_ in zip(rows, next_pos.tolist(), strict=True):
            r.next_pos = int(np_)
        with self._cv:
            self._stats.prefill_batches += 1
            self._stats.prefill_batch_sizes[b] = self._stats.prefill_batch_sizes.get(b, 0) + 1
            self._stats.prompt_tokens += sum(p.num_tokens for p in prompts)
        self._merge(rows, out.cache, mask.to(dev))
        self._emit(rows, logits)

    def _merge(self, rows: list[_Row], cache: Any, mask: torch.Tensor) -> None:
        """Join freshly prefilled rows (and their cache) to the running batch."""
        from transformers import DynamicCache

        if self._cache is None or not self._rows:
            self._rows = rows
            self._cache, self._mask = cache, mask
            self._update_batch_stats()
            return
        old_len, new_len = self._mask.shape[1], mask.shape[1]
        length = max(old_len, new_len)

        def lpad(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
            if n == 0:
                return t
            shape = list(t.shape)
            shape[dim] = n
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        layers = []
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            k = torch.cat([lpad(old.keys, length - old_len, 2), lpad(new.keys, length - new_len, 2)], dim=0)
            v = torch.cat(
                [lpad(old.values, length - old_len, 2), lpad(new.values, length - new_len, 2)], dim=0
            )
            layers.append((k, v))
        self._cache = DynamicCache(ddp_cache_data=layers)
        self._mask = torch.cat(
            [lpad(self._mask, length - old_len, 1), lpad(mask, length - new_len, 1)], dim=0
        )
        self._rows = self._rows + rows
        self._update_batch_stats()

    def _update_batch_stats(self) -> None:
        with self._cv:
            self._stats.max_batch_size_seen = max(self._stats.max_batch_size_seen, len(self._rows))

    def _decode_step(self) -> None:
        rows = self._rows
        dev = self._device
        b = len(rows)
        last = torch.tensor([[r.last_token] for r in rows], dtype=torch.long, device=dev)
        pos = torch.tensor([[r.next_pos] for r in rows], dtype=torch.long, device=dev)
        if self._rope_index is not None:
            pos = pos.unsqueeze(0).expand(3, -1, -1)
        mask = torch.cat([self._mask, self._mask.new_ones((b, 1))], dim=1)
        # one query token per row: with SDPA the 4D mask is just the padding mask, given ready-made so
        # transformers does not rebuild a causal mask every step
        attn = mask[:, None, None, :].bool() if self._sdpa else mask
        out = self.model(
            input_ids=last, attention_mask=attn, position_ids=pos, cache=self._cache, use_cache=True
        )
        self._cache = out.cache
        self._mask = mask
        for r in rows:
            r.next_pos += 1
        with self._cv:
            self._stats.decode_steps += 1
            self._stats.decode_batch_sizes[b] = self._stats.decode_batch_sizes.get(b, 0) + 1
        self._emit(rows, out.logits[:, -1, :].float())

    # ----- sampling and output -----

    def _sample(self, rows: list[_Row], logits: torch.Tensor) -> list[int]:
        eos = list(self.lm.eos_token_ids)
        for i, r in enumerate(rows):
            p = r.handle.params
            if p.penalized:
                if r.counts is None or r.counts.shape[0] != logits.shape[-1]:
                    r.counts = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
                    for tok in r.generated:
                        if 0 <= tok < r.counts.shape[0]:
                            r.counts[tok] += 1
                penalty = (
                    r.counts * p.frequency_penalty + (r.counts > 0).to(logits.dtype) * p.presence_penalty
                )
                logits[i] -= penalty
            if eos and (p.ignore_eos or len(r.generated) < p.min_tokens):
                logits[i, eos] = float("-inf")
        greedy = logits.argmax(dim=-1).tolist()
        out: list[int] = []
        for i, r in enumerate(rows):
            p = r.handle.params
            if self._forced is not None:
                n = len(r.generated)
                out.append(self._forced[n] if n < len(self._forced) else self._forced[-1])
                continue
            if p.temperature < MIN_TEMPERATURE:  # tinier ones overflow logits / temperature to inf
                out.append(int(greedy[i]))
                continue
            row = logits[i] / p.temperature
            if p.top_k > 0 and p.top_k < row.shape[-1]:
                kth = torch.topk(row, p.top_k).values[-1]
                row = row.masked_fill(row < kth, float("-inf"))
            probs = torch.softmax(row, dim=-1)
            if p.top_p < 1.0:
                sorted_p, idx = torch.sort(probs, descending=True)
                cum = sorted_p.cumsum(-1)
                drop = cum - sorted_p > p.top_p
                sorted_p = sorted_p.masked_fill(drop, 0.0)
                probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
            tok = torch.multinomial(probs.cpu(), 1, generator=r.generator)
            out.append(int(tok.item()))
        return out

    def _emit(self, rows: list[_Row], logits: torch.Tensor) -> None:
        tokens = self._sample(rows, logits)
        keep: list[int] = []
        finished = 0
        outbox = _Outbox()
        for i, (r, tok) in enumerate(zip(rows, tokens, strict=True)):
            if r.handle.cancelled:
                self._finish(r, "cancelled", outbox)
                continue
            r.generated.append(tok)
            if r.counts is not None and 0 <= tok < r.counts.shape[0]:
                r.counts[tok] += 1
            r.unsent_ids.append(tok)
            r.last_token = tok
            p = r.handle.params
            reason: str | None = None
            is_end = (tok in self.lm.eos_token_ids and not p.ignore_eos) or tok in r.stop_ids
            if not is_end:
                r.text += r.detok.add(tok)
            if is_end:
                reason = "stop"
            elif len(r.generated) >= r.max_tokens:
                reason = "length"
            if reason is not None:
                r.text += r.detok.flush()
            cut = self._find_stop(r)
            if cut is not None:
                r.text = r.text[:cut]
                reason = "stop"
            if reason is None:
                safe = len(r.text) - self._held_back(r)
                delta = r.text[r.emitted : safe]
                if delta:
                    r.handle._push(GenerationEvent(text=delta, token_ids=r.unsent_ids), outbox)
                    r.unsent_ids = []
                r.emitted = max(r.emitted, safe)
                keep.append(i)
            else:
                self._finish(r, reason, outbox)
                finished += 1
        outbox.flush()
        with self._cv:
            self._stats.generated_tokens += len(tokens)
        if len(keep) != len(rows):
            self._select(keep)

    def _find_stop(self, r: _Row) -> int | None:
        if not r.stop:
            return None
        start = max(0, r.emitted - max(len(s) for s in r.stop))
        hits = [i for s in r.stop if (i := r.text.find(s, start)) >= 0]
        return min(hits) if hits else None

    @staticmethod
    def _held_back(r: _Row) -> int:
        """Characters at the end of the text that may begin a stop string (not sent yet)."""
        hold = 0
        for s in r.stop:
            for n in range(min(len(s) - 1, len(r.text)), 0, -1):
                if r.text.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        return hold

    def _finish(self, r: _Row, reason: str, outbox: _Outbox | None = None) -> None:
        rec = r.record
        rec.completion_tokens = len(r.generated)
        rec.finish_reason = reason
        with self._cv:
            if reason == "cancelled":
                rec.cancelled = True
                self._stats.requests_cancelled += 1
                self._stats.rows_dropped += 1
            else:
                self._stats.requests_finished += 1
            self._recent.append(rec)
        r.handle._push(
            GenerationEvent(
                text=r.text[r.emitted :] if reason != "cancelled" else "",
                token_ids=r.unsent_ids,
                finish_reason=reason,
                prompt_tokens=rec.prompt_tokens,
                completion_tokens=rec.completion_tokens,
            ),
            outbox,
        )
        r.emitted = len(r.text)
        r.unsent_ids = []

    def _select(self, keep: list[int]) -> None:
        """Keep only the rows ``keep`` in the batch and trim padding columns nobody needs."""
        if not keep:
            self._rows = []
            self._cache = self._mask = None
            return
        self._rows = [self._rows[i] for i in keep]
        idx = torch.tensor(keep, dtype=torch.long, device=self._device)
        assert self._mask is not None
        mask = self._mask.index_select(0, idx)
        used = mask.any(dim=0).nonzero()
        start = int(used[0].item()) if used.numel() else 0
        self._mask = mask[:, start:]
        for layer in self._cache.layers:
            layer.keys = layer.keys.index_select(0, idx)[:, :, start:, :]
            layer.values = layer.values.index_select(0, idx)[:, :, start:, :]

    def _drop_rows_of(self, handles: list[RequestHandle]) -> None:
        """Remove rows of ``handles`` a failed prefill may already have merged into the batch."""
        failed = {id(h) for h in handles}
        keep = [i for i, r in enumerate(self._rows) if id(r.handle) not in failed]
        if len(keep) == len(self._rows):
            return
        try:
            self._select(keep)
        except Exception:  # the batch state is inconsistent: end every running row
            log.exception("dropping the rows of a failed prefill failed")
            rows, self._rows = [r for i, r in enumerate(self._rows) if i in keep], []
            self._cache = self._mask = None
            for r in rows:
                self._fail(r.handle, EngineClosedError("the batch failed; retry the request"), r)

    def _fail(self, handle: RequestHandle, exc: BaseException, row: _Row | None = None) -> None:
        err = (
            exc
            if isinstance(exc, APIError)
            else APIError(
                500,
                f"generation failed: {type(exc).__name__}: {exc}",
                type="server_error",
                code="engine_error",
            )
        )
        with self._cv:
            self._stats.requests_failed += 1
        handle._push(GenerationEvent(finish_reason="error", error=err))

    def _abort_running(self) -> None:
        rows, self._rows = self._rows, []
        self._cache = self._mask = None
        for r in rows:
            r.handle._push(GenerationEvent(finish_reason="error", error=EngineClosedError()))
