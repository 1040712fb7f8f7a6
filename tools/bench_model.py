"""Model-side benchmarks on CPU: INT8 dynamic quantization, and offloaded loading of a larger checkpoint.

Every checkpoint here is random (``autoglm_agent.server.tiny.build_tiny_glm4v``) and is built into
``/tmp/autoglm-bench`` (reused on the next run), unless ``--model`` names one of your own.

    python tools/bench_model.py int8                         # demo-size (~4M) and ~50M random glm4v
    python tools/bench_model.py int8 --sizes 50m --model PATH  # plus a local checkpoint (e.g. the trained demo)
    python tools/bench_model.py offload --bound-mb 800       # ~300M random glm4v: offloaded vs in memory
    python tools/bench_model.py all

``int8``: each checkpoint is loaded twice through the server's own loading path
(``loading.load_model``, fp32 and ``quantize="int8"``, i.e. ``torch.ao.quantization.quantize_dynamic`` of
every ``nn.Linear``). Measured: decode tokens/s (one prompt with a phone screenshot, greedy, a fixed
number of new tokens, EOS ignored; the rate counts decode steps only, after the first token, median of
interleaved repeats), serialized ``state_dict`` bytes, the share of greedy tokens that agree over N
prompts (position-wise, up to the first divergence, and whole sequences) and the largest logit difference
of one forward pass over the same prompts.

``offload``: the larger checkpoint is loaded in two child processes, once fully in memory (the baseline)
and once with accelerate's big-model loading (``from_pretrained(device_map="auto", max_memory={"cpu":
BUDGET}, offload_folder=DIR)``: modules that do not fit the budget stay on disk and are read in layer by
layer while the model runs). ``--bound-mb`` bounds the child's whole peak resident memory (Python, torch
and the processor included): the weight budget is the bound minus what the process holds before loading
minus a reserve for the offloaded layer being run. Each child reports its load time, prefill time, decode
tokens/s, greedy tokens, the kernel's peak (``VmHWM``) and a 10 ms ``VmRSS`` sampler; the parent reads the
child's ``ru_maxrss`` from ``os.wait4`` as a cross-check. The server has no offload option yet, so this
calls transformers/accelerate directly.

Timings depend on what else runs on the machine; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from autoglm_agent.errors import AutoGLMError, ConfigError

if TYPE_CHECKING:
    from PIL import Image

#: Where built benchmark checkpoints live (never inside the repository).
BENCH_ROOT = Path(tempfile.gettempdir()) / "autoglm-bench"

#: ``build_tiny_glm4v`` arguments of each named size (parameter counts are for the random build).
SIZES: dict[str, dict[str, int]] = {
    # ~1.1M: the tests' tiny checkpoint (build_tiny_glm4v's defaults)
    "tiny": {},
    # ~4M: the architecture of the trained demo checkpoint (tools/train_demo.py, size "small")
    "demo": {
        "vocab_size": 3000,
        "hidden_size": 192,
        "layers": 4,
        "heads": 4,
        "kv_heads": 2,
        "intermediate_size": 512,
        "vision_hidden_size": 128,
        "vision_layers": 4,
        "vision_heads": 2,
    },
    # ~48M
    "50m": {
        "hidden_size": 512,
        "layers": 10,
        "heads": 8,
        "kv_heads": 4,
        "intermediate_size": 2048,
        "vision_hidden_size": 256,
        "vision_layers": 4,
        "vision_heads": 4,
    },
    # ~305M
    "300m": {
        "hidden_size": 1024,
        "layers": 18,
        "heads": 16,
        "kv_heads": 4,
        "intermediate_size": 4096,
        "vision_hidden_size": 512,
        "vision_layers": 4,
        "vision_heads": 8,
    },
}

TASKS: tuple[str, ...] = (
    "open settings",
    "turn on wifi",
    "search for coffee nearby",
    "send a message to Alice saying hello",
    "set an alarm for 7 am",
    "打开微信给张三发消息",
    "在淘宝搜索无线耳机",
    "check the weather in Beijing",
    "play some music",
    "take a photo",
    "查看今天的天气",
    "turn off bluetooth",
)

MB = 1024 * 1024


# ----------------------------------------------------------------------------- checkpoints and prompts


def build_checkpoint(size: str, root: Path = BENCH_ROOT, *, rebuild: bool = False) -> Path:
    """A random glm4v checkpoint of a named size under ``root`` (built once, reused while its sizes match)."""
    if size not in SIZES:
        raise ConfigError(f"unknown checkpoint size {size!r}", hint=f"use one of {', '.join(SIZES)}")
    from autoglm_agent.server.tiny import build_tiny_glm4v

    out = root / f"glm4v-{size}"
    marker = out / "bench_size.json"
    wanted = json.dumps(SIZES[size], sort_keys=True)
    if not rebuild and marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return out
    build_tiny_glm4v(out, **SIZES[size])
    marker.write_text(wanted, encoding="utf-8")
    return out


def make_screenshot(seed: int, size: tuple[int, int] = (720, 1600)) -> Image.Image:
    """A synthetic phone screen: status bar, a grid of labelled app icons, a dock (different per seed)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, tuple(rng.randrange(20, 90) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, 48), fill=(10, 10, 10))
    draw.text((16, 14), f"{rng.randrange(0, 24):02d}:{rng.randrange(0, 60):02d}", fill=(240, 240, 240))
    cols, rows, icon = 4, 5, w // 6
    for r in range(rows):
        for c in range(cols):
            x = (c + 0.5) * w / cols - icon / 2
            y = 140 + r * (icon + 80)
            color = tuple(rng.randrange(40, 250) for _ in range(3))
            draw.rounded_rectangle((x, y, x + icon, y + icon), radius=icon // 5, fill=color)
            draw.text(
                (x + 4, y + icon + 10), f"App {r * cols + c + rng.randrange(100)}", fill=(255, 255, 255)
            )
    draw.rectangle((0, h - 180, w, h), fill=(30, 30, 40))
    return img


def build_batch(processor: Any, tasks: Sequence[str], images: Sequence[Image.Image] | None = None) -> Any:
    """Processor inputs for user turns with a task text each and, when given, one image each.

    Rows of different lengths are padded on the left (the tokenizer's padding side is set to left).
    """
    if images is not None and len(images) != len(tasks):
        raise ConfigError(f"{len(tasks)} tasks but {len(images)} images", hint="give one image per task")
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    texts = []
    for task in tasks:
        content: list[dict[str, Any]] = [{"type": "image"}] if images is not None else []
        content.append({"type": "text", "text": f"Task: {task}"})
        texts.append(
            processor.apply_chat_template(
                [{"role": "user", "content": content}],
                add_generation_prompt=True,
                tokenize=False,
                enable_thinking=False,
            )
        )
    if images is None:
        return processor(text=texts, padding=True, return_tensors="pt")
    return processor(text=texts, images=list(images), padding=True, return_tensors="pt")


def build_inputs(processor: Any, task: str, image: Image.Image | None) -> Any:
    """Processor inputs (batch of one) for a user turn with the task text and, optionally, one image."""
    return build_batch(processor, [task], None if image is None else [image])


def make_prompts(processor: Any, n: int, *, image: bool = True, seed: int = 0) -> list[Any]:
    """``n`` different prompts (task text and screenshot vary)."""
    return [
        build_inputs(processor, TASKS[(seed + i) % len(TASKS)], make_screenshot(seed + i) if image else None)
        for i in range(n)
    ]


# ----------------------------------------------------------------------------- measuring


class GreedyRun(BaseModel):
    """One greedy generation with its timing."""

    tokens: list[int]
    total_s: float
    prefill_s: float = Field(description="time to the first new token (prefill + first sampling)")
    decode_tokens_per_s: float = Field(description="new tokens after the first, per second of decoding")


def greedy(model: Any, inputs: Any, new_tokens: int) -> GreedyRun:
    """Greedy decoding of exactly ``new_tokens`` tokens (EOS ignored), timed step by step."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Clock(StoppingCriteria):
        def __init__(self) -> None:
            self.times: list[float] = []

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            self.times.append(time.perf_counter())
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    clock = _Clock()
    prompt_len = int(inputs["input_ids"].shape[1])
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            stopping_criteria=StoppingCriteriaList([clock]),
        )
    total = time.perf_counter() - t0
    times = clock.times or [t0 + total]
    decode_s = times[-1] - times[0]
    steps = len(times) - 1
    return GreedyRun(
        tokens=[int(t) for t in out[0, prompt_len:]],
        total_s=total,
        prefill_s=times[0] - t0,
        decode_tokens_per_s=steps / decode_s if steps > 0 and decode_s > 0 else 0.0,
    )


def state_dict_bytes(model: Any) -> int:
    """Bytes of ``torch.save(model.state_dict())`` (quantized Linear layers save their packed int8 weights)."""
    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell()


def count_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def agreement(a: Sequence[int], b: Sequence[int]) -> tuple[int, int]:
    """(tokens equal at the same position, length of the common prefix)."""
    same = sum(1 for x, y in zip(a, b, strict=False) if x == y)
    prefix = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        prefix += 1
    return same, prefix


# ----------------------------------------------------------------------------- INT8


class Int8Row(BaseModel):
    """fp32 vs INT8 (dynamic quantization of Linear layers) on one checkpoint."""

    name: str
    params: int
    prompt_tokens: int
    new_tokens: int
    prompts: int
    fp32_decode_tps: float
    int8_decode_tps: float
    fp32_prefill_ms: float
    int8_prefill_ms: float
    fp32_state_bytes: int
    int8_state_bytes: int
    token_agreement: float = Field(description="share of greedy tokens equal at the same position")
    prefix_agreement: float = Field(description="share of greedy tokens before the first divergence")
    exact_sequences: int = Field(description="prompts whose whole greedy continuation is identical")
    max_logit_diff: float = Field(description="largest |fp32 - int8| logit over every prompt position")
    max_abs_logit: float = Field(description="largest |fp32| logit, the scale of the difference")
    forward_argmax_agreement: float = Field(description="share of prompt positions whose argmax agrees")

    @property
    def speedup(self) -> float:
        return self.int8_decode_tps / self.fp32_decode_tps if self.fp32_decode_tps else 0.0

    @property
    def size_ratio(self) -> float:
        return self.fp32_state_bytes / self.int8_state_bytes if self.int8_state_bytes else 0.0


def compare_int8(
    path: Path,
    *,
    name: str | None = None,
    prompts: int = 8,
    new_tokens: int = 32,
    repeats: int = 3,
    threads: int | None = None,
) -> Int8Row:
    """Load ``path`` fp32 and INT8 through the server's loading path and compare them."""
    import torch

    from autoglm_agent.server.config import ServerConfig
    from autoglm_agent.server.loading import load_model

    if prompts < 1 or new_tokens < 2 or repeats < 0:
        raise ConfigError("prompts must be >= 1, repeats >= 0 (0: no speed figures) and new tokens >= 2")
    base = {"model": path, "device": "cpu", "dtype": "float32", "api_key": None, "torch_threads": threads}
    fp = load_model(ServerConfig(**base))
    q = load_model(ServerConfig(**base, quantize="int8"))
    inputs = make_prompts(fp.processor, prompts)

    same = prefix = total = exact = 0
    for inp in inputs:
        a = greedy(fp.model, inp, new_tokens).tokens
        b = greedy(q.model, inp, new_tokens).tokens
        s, p = agreement(a, b)
        same, prefix, total = same + s, prefix + p, total + len(a)
        exact += int(a == b)

    max_diff = max_abs = 0.0
    agree = positions = 0
    with torch.inference_mode():
        for inp in inputs:
            la = fp.model(**inp).logits.float()
            lb = q.model(**inp).logits.float()
            max_diff = max(max_diff, float((la - lb).abs().max()))
            max_abs = max(max_abs, float(la.abs().max()))
            agree += int((la.argmax(-1) == lb.argmax(-1)).sum())
            positions += la.shape[0] * la.shape[1]

    # Speed: one warm-up each, then fp32 and int8 interleaved so load from other jobs hits both alike.
    fp_runs: list[GreedyRun] = []
    q_runs: list[GreedyRun] = []
    if repeats:
        greedy(fp.model, inputs[0], 2)
        greedy(q.model, inputs[0], 2)
    else:
        fp_runs = q_runs = [GreedyRun(tokens=[], total_s=0.0, prefill_s=0.0, decode_tokens_per_s=0.0)]
    for _ in range(repeats):
        fp_runs.append(greedy(fp.model, inputs[0], new_tokens))
        q_runs.append(greedy(q.model, inputs[0], new_tokens))

    return Int8Row(
        name=name or path.name,
        params=count_params(fp.model),
        prompt_tokens=int(inputs[0]["input_ids"].shape[1]),
        new_tokens=new_tokens,
        prompts=prompts,
        fp32_decode_tps=statistics.median(r.decode_tokens_per_s for r in fp_runs),
        int8_decode_tps=statistics.median(r.decode_tokens_per_s for r in q_runs),
        fp32_prefill_ms=1000 * statistics.median(r.prefill_s for r in fp_runs),
        int8_prefill_ms=1000 * statistics.median(r.prefill_s for r in q_runs),
        fp32_state_bytes=state_dict_bytes(fp.model),
        int8_state_bytes=state_dict_bytes(q.model),
        token_agreement=same / total,
        prefix_agreement=prefix / total,
        exact_sequences=exact,
        max_logit_diff=max_diff,
        max_abs_logit=max_abs,
        forward_argmax_agreement=agree / positions,
    )


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table: first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def format_int8(rows: Sequence[Int8Row]) -> str:
    header = ["", *(r.name for r in rows)]
    table: list[list[str]] = [
        ["parameters", *(f"{r.params / 1e6:.1f}M" for r in rows)],
        ["prompt tokens (with image)", *(str(r.prompt_tokens) for r in rows)],
        ["decode tok/s fp32", *(f"{r.fp32_decode_tps:.1f}" for r in rows)],
        ["decode tok/s int8", *(f"{r.int8_decode_tps:.1f}" for r in rows)],
        ["decode speedup int8/fp32", *(f"{r.speedup:.2f}x" for r in rows)],
        ["prefill ms fp32", *(f"{r.fp32_prefill_ms:.0f}" for r in rows)],
        ["prefill ms int8", *(f"{r.int8_prefill_ms:.0f}" for r in rows)],
        ["state_dict MB fp32", *(f"{r.fp32_state_bytes / MB:.1f}" for r in rows)],
        ["state_dict MB int8", *(f"{r.int8_state_bytes / MB:.1f}" for r in rows)],
        ["size ratio fp32/int8", *(f"{r.size_ratio:.2f}x" for r in rows)],
        ["greedy tokens equal (position)", *(f"{100 * r.token_agreement:.1f}%" for r in rows)],
        ["greedy tokens before divergence", *(f"{100 * r.prefix_agreement:.1f}%" for r in rows)],
        ["identical sequences", *(f"{r.exact_sequences}/{r.prompts}" for r in rows)],
        ["forward argmax agreement", *(f"{100 * r.forward_argmax_agreement:.2f}%" for r in rows)],
        ["max |logit diff|", *(f"{r.max_logit_diff:.4f}" for r in rows)],
        ["max |logit| (scale)", *(f"{r.max_abs_logit:.3f}" for r in rows)],
    ]
    return format_table(header, table)


# ----------------------------------------------------------------------------- offload


class RssSampler:
    """Samples this process's ``VmRSS`` in a thread; ``peak_mb`` is the largest value seen."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, proc_status_mb("VmRSS"))
            self._stop.wait(self.interval)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, proc_status_mb("VmRSS"))
        return self.peak_mb


def proc_status_mb(field: str) -> float:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``...) in MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise ConfigError(f"/proc/self/status has no {field} field", hint="this measurement needs Linux")


def largest_block_bytes(path: Path) -> int:
    """Bytes of the largest module that accelerate will not split (a decoder layer or a vision block)."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    with init_empty_weights():
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    names = set(getattr(model, "_no_split_modules", None) or [])
    sizes = [
        sum(p.numel() * p.element_size() for p in m.parameters())
        for m in model.modules()
        if type(m).__name__ in names
    ]
    sizes.append(max(p.numel() * p.element_size() for p in model.parameters()))
    return max(sizes)


def load_for_bench(
    path: Path,
    mode: Literal["memory", "offload"],
    *,
    max_memory: int | None = None,
    offload_folder: Path | None = None,
) -> Any:
    """Load a checkpoint fp32 on CPU, fully in memory or offloaded (``max_memory`` bytes of CPU, rest on disk)."""
    import torch
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": torch.float32}
    if mode == "offload":
        if max_memory is None or offload_folder is None:
            raise ConfigError("offloaded loading needs a CPU memory budget and an offload folder")
        offload_folder.mkdir(parents=True, exist_ok=True)
        kwargs |= {
            "device_map": "auto",
            "max_memory": {"cpu": max_memory},
            "offload_folder": str(offload_folder),
        }
    all_on_disk = ConfigError(
        f"a CPU budget of {max_memory or 0} bytes holds no part of {path}, so the whole model was put on disk",
        hint="raise the memory bound above the size of the largest layer",
    )
    try:
        model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    except ValueError as exc:  # older accelerate (1.1) refuses instead of placing everything on disk
        if "whole model to the disk" in str(exc):
            raise all_on_disk from None
        raise
    device_map: dict[str, Any] = getattr(model, "hf_device_map", None) or {}
    if device_map.get("") == "disk":
        raise all_on_disk
    return model.eval()


def placement(model: Any) -> dict[str, int]:
    """Parameter bytes per device of an accelerate ``hf_device_map`` (everything on "cpu" without one)."""
    device_map: dict[str, Any] | None = getattr(model, "hf_device_map", None)
    if not device_map:
        return {"cpu": sum(p.numel() * p.element_size() for p in model.parameters())}
    out: dict[str, int] = {}
    for name, device in device_map.items():
        module = model.get_submodule(name) if name else model
        nbytes = sum(p.numel() * p.element_size() for p in module.parameters())
        out[str(device)] = out.get(str(device), 0) + nbytes
    return out


class ChildResult(BaseModel):
    """What one load-and-generate child process measured."""

    mode: Literal["memory", "offload"]
    threads: int
    bound_mb: float | None = Field(None, description="the whole-process RSS bound (offload only)")
    rss_before_load_mb: float
    max_memory_mb: float | None = None
    reserve_mb: float | None = None
    placement_mb: dict[str, float]
    load_s: float
    rss_after_load_mb: float
    prompt_tokens: int
    generation: GreedyRun
    peak_vmhwm_mb: float = Field(description="the kernel's peak resident set (VmHWM)")
    peak_sampled_mb: float = Field(description="largest VmRSS seen by a 10 ms sampler")
    ru_maxrss_mb: float | None = Field(None, description="the parent's view: ru_maxrss from os.wait4")

    @property
    def peak_mb(self) -> float:
        return max(self.peak_vmhwm_mb, self.peak_sampled_mb, self.ru_maxrss_mb or 0.0)

    @property
    def within_bound(self) -> bool:
        return self.bound_mb is None or self.peak_mb <= self.bound_mb


def child_main(args: argparse.Namespace) -> int:
    """Load and generate in this process (run by the parent as a child), write a ``ChildResult`` as JSON."""
    sampler = RssSampler().start()
    try:
        return _child(args, sampler)
    finally:
        sampler.stop()


def _child(args: argparse.Namespace, sampler: RssSampler) -> int:
    import torch

    from autoglm_agent.server.loading import load_processor

    if args.threads:
        torch.set_num_threads(args.threads)
    path: Path = args.model
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    processor, _ = load_processor(path, str(config.get("model_type", "glm4v")))
    inputs = build_inputs(processor, TASKS[0], make_screenshot(0))
    max_memory: int | None = None
    reserve: int | None = None
    block = 0
    if args.mode == "offload":
        block = largest_block_bytes(path)
        reserve = 2 * block + args.activation_reserve_mb * MB
    rss_before = proc_status_mb("VmRSS")
    if args.mode == "offload" and args.max_memory_mb:
        max_memory = int(args.max_memory_mb * MB)
    elif args.mode == "offload":
        assert reserve is not None
        max_memory = int(args.bound_mb * MB - rss_before * MB - reserve)
        # accelerate keeps room for the largest layer inside the CPU budget once anything is offloaded
        if max_memory <= block:
            needed = rss_before + (reserve + block) / MB
            raise ConfigError(
                f"the bound of {args.bound_mb:.0f} MB leaves no room for weights: the process already holds "
                f"{rss_before:.0f} MB and running offloaded layers needs {(reserve + block) / MB:.0f} MB more",
                hint=f"raise --bound-mb above {needed:.0f}",
            )
    t0 = time.perf_counter()
    model = load_for_bench(path, args.mode, max_memory=max_memory, offload_folder=args.offload_folder)
    load_s = time.perf_counter() - t0
    rss_after = proc_status_mb("VmRSS")
    gen = greedy(model, inputs, args.new_tokens)
    peak_sampled = sampler.stop()
    result = ChildResult(
        mode=args.mode,
        threads=torch.get_num_threads(),
        bound_mb=args.bound_mb if args.mode == "offload" else None,
        rss_before_load_mb=rss_before,
        max_memory_mb=None if max_memory is None else max_memory / MB,
        reserve_mb=None if reserve is None else reserve / MB,
        placement_mb={k: v / MB for k, v in placement(model).items()},
        load_s=load_s,
        rss_after_load_mb=rss_after,
        prompt_tokens=int(inputs["input_ids"].shape[1]),
        generation=gen,
        peak_vmhwm_mb=proc_status_mb("VmHWM"),
        peak_sampled_mb=peak_sampled,
    )
    args.result.write_text(result.model_dump_json(), encoding="utf-8")
    return 0


def run_child(
    path: Path,
    mode: Literal["memory", "offload"],
    *,
    bound_mb: float = 0.0,
    new_tokens: int = 8,
    threads: int | None = None,
    offload_folder: Path | None = None,
    activation_reserve_mb: int = 96,
    max_memory_mb: float | None = None,
    timeout: float = 600.0,
) -> ChildResult:
    """Run one load-and-generate child process; its peak RSS is its own, not this process's.

    The offloaded child derives its CPU weight budget from ``bound_mb`` unless ``max_memory_mb`` sets it.
    """
    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        result = Path(tmp) / "result.json"
        log = Path(tmp) / "child.log"
        folder = offload_folder or Path(tmp) / "offload"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "_child",
            "--model",
            str(path),
            "--mode",
            mode,
            "--bound-mb",
            str(bound_mb),
            "--new-tokens",
            str(new_tokens),
            "--offload-folder",
            str(folder),
            "--activation-reserve-mb",
            str(activation_reserve_mb),
            "--result",
            str(result),
        ]
        if threads:
            cmd += ["--threads", str(threads)]
        if max_memory_mb:
            cmd += ["--max-memory-mb", str(max_memory_mb)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise AutoGLMError(f"the {mode} benchmark child ran past {timeout:.0f} s and was stopped")
                time.sleep(0.05)
        if proc.returncode != 0 or not result.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [
                "no output"
            ]
            raise AutoGLMError(f"the {mode} benchmark child failed (exit {proc.returncode}): {tail[0]}")
        child = ChildResult.model_validate_json(result.read_text(encoding="utf-8"))
        child.ru_maxrss_mb = usage.ru_maxrss / 1024  # kB on Linux
        return child


class OffloadReport(BaseModel):
    """One checkpoint fully in memory and offloaded under one or more RSS bounds."""

    model: str
    params: int
    checkpoint_mb: float
    memory: ChildResult
    offloaded: list[ChildResult]

    def same_tokens(self, run: ChildResult) -> bool:
        return run.generation.tokens == self.memory.generation.tokens

    @property
    def all_same_tokens(self) -> bool:
        return all(self.same_tokens(r) for r in self.offloaded)

    @property
    def all_within_bound(self) -> bool:
        return all(r.within_bound for r in self.offloaded)


def checkpoint_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def checkpoint_params(path: Path) -> int:
    """Parameters stored in a checkpoint's safetensors files (read from their headers)."""
    from math import prod

    from safetensors import safe_open

    total = 0
    for f in path.glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as st:
            total += sum(prod(st.get_slice(k).get_shape()) for k in st.keys())  # noqa: SIM118
    return total


def bench_offload(
    path: Path,
    *,
    bounds_mb: Sequence[float],
    new_tokens: int = 8,
    threads: int | None = None,
    activation_reserve_mb: int = 96,
) -> OffloadReport:
    """The same checkpoint offloaded under each bound and fully in memory, each load in its own child."""
    offloaded = [
        run_child(
            path,
            "offload",
            bound_mb=bound,
            new_tokens=new_tokens,
            threads=threads,
            activation_reserve_mb=activation_reserve_mb,
        )
        for bound in bounds_mb
    ]
    memory = run_child(path, "memory", new_tokens=new_tokens, threads=threads)
    return OffloadReport(
        model=str(path),
        params=checkpoint_params(path),
        checkpoint_mb=checkpoint_bytes(path) / MB,
        memory=memory,
        offloaded=offloaded,
    )


def format_offload(r: OffloadReport) -> str:
    runs = [r.memory, *r.offloaded]

    def place(c: ChildResult) -> str:
        return " + ".join(f"{v:.0f} {k}" for k, v in sorted(c.placement_mb.items()))

    def mb(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    rows = [
        ["RSS bound (whole process)", *(mb(c.bound_mb) for c in runs)],
        ["CPU weight budget (max_memory)", *(mb(c.max_memory_mb) for c in runs)],
        ["reserve (2 blocks + activations)", *(mb(c.reserve_mb) for c in runs)],
        ["weights placed", *(place(c) for c in runs)],
        ["RSS before loading", *(mb(c.rss_before_load_mb) for c in runs)],
        ["RSS after loading", *(mb(c.rss_after_load_mb) for c in runs)],
        ["peak RSS (VmHWM)", *(mb(c.peak_vmhwm_mb) for c in runs)],
        ["peak RSS (10 ms sampler)", *(mb(c.peak_sampled_mb) for c in runs)],
        ["peak RSS (parent's ru_maxrss)", *(mb(c.ru_maxrss_mb) for c in runs)],
        ["peak within bound", "-", *("yes" if c.within_bound else "NO" for c in r.offloaded)],
        ["load time s", *(f"{c.load_s:.2f}" for c in runs)],
        ["prefill s (prompt with image)", *(f"{c.generation.prefill_s:.2f}" for c in runs)],
        ["load + first token s", *(f"{c.load_s + c.generation.prefill_s:.2f}" for c in runs)],
        ["decode tok/s", *(f"{c.generation.decode_tokens_per_s:.2f}" for c in runs)],
        ["greedy tokens = in memory", "-", *("yes" if r.same_tokens(c) else "NO" for c in r.offloaded)],
    ]
    m = r.memory
    head = (
        f"checkpoint {r.model}: {r.params / 1e6:.0f}M params, {r.checkpoint_mb:.0f} MB safetensors; "
        f"prompt {m.prompt_tokens} tokens, {len(m.generation.tokens)} greedy new tokens, "
        f"{m.threads} torch threads (MB unless stated)"
    )
    header = ["", "in memory", *(f"offloaded, bound {c.bound_mb:.0f}" for c in r.offloaded)]
    return "\n".join([head, format_table(header, rows)])


# ----------------------------------------------------------------------------- CLI


def _int8_command(args: argparse.Namespace) -> None:
    rows: list[Int8Row] = []
    targets: list[tuple[str, Path]] = [(s, build_checkpoint(s)) for s in args.sizes]
    targets += [(p.name, p) for p in args.model or []]
    for name, path in targets:
        print(f"int8: {name} ({path}) ...", file=sys.stderr, flush=True)
        rows.append(
            compare_int8(
                path,
                name=name,
                prompts=args.prompts,
                new_tokens=args.new_tokens,
                repeats=args.repeats,
                threads=args.threads,
            )
        )
    import torch

    print(
        f"INT8 dynamic quantization (torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.prompts} prompts x {args.new_tokens} greedy tokens, random weights unless named)"
    )
    print(format_int8(rows))
    if args.json:
        args.json.write_text(json.dumps([r.model_dump() for r in rows], indent=2), encoding="utf-8")


def _offload_command(args: argparse.Namespace) -> None:
    path = args.model[0] if args.model else build_checkpoint(args.size)
    print(f"offload: {path} ...", file=sys.stderr, flush=True)
    report = bench_offload(
        path,
        bounds_mb=args.bound_mb,
        new_tokens=args.new_tokens,
        threads=args.threads,
        activation_reserve_mb=args.activation_reserve_mb,
    )
    print("Offloaded loading (accelerate device_map + max_memory + disk offload) vs fully in memory")
    print(format_offload(report))
    if args.json:
        args.json.write_text(report.model_dump_json(indent=2), encoding="utf-8")


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model", type=Path, action="append", help="a local checkpoint to include (repeatable)"
    )
    common.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    common.add_argument("--json", type=Path, default=None, help="also write the figures here as JSON")

    p8 = sub.add_parser("int8", parents=[common], help="fp32 vs INT8 dynamic quantization")
    p8.add_argument("--sizes", type=lambda s: [x for x in s.split(",") if x], default=["demo", "50m"])
    p8.add_argument("--prompts", type=int, default=8)
    p8.add_argument("--new-tokens", type=int, default=32)
    p8.add_argument("--repeats", type=int, default=3)

    po = sub.add_parser("offload", parents=[common], help="offloaded loading vs fully in memory")
    po.add_argument("--size", choices=list(SIZES), default="300m")
    po.add_argument(
        "--bound-mb",
        type=_floats,
        default=[640.0, 800.0, 1000.0],
        help="peak RSS bounds of the offloaded process, comma-separated (one child each)",
    )
    po.add_argument("--new-tokens", type=int, default=8)
    po.add_argument("--activation-reserve-mb", type=int, default=96)

    pa = sub.add_parser("all", parents=[common], help="int8 then offload with default settings")
    pa.add_argument("--bound-mb", type=_floats, default=[640.0, 800.0, 1000.0])

    pc = sub.add_parser("_child", help=argparse.SUPPRESS)
    pc.add_argument("--model", type=Path, required=True)
    pc.add_argument("--mode", choices=["memory", "offload"], required=True)
    pc.add_argument("--bound-mb", type=float, default=0.0)
    pc.add_argument("--new-tokens", type=int, default=8)
    pc.add_argument("--offload-folder", type=Path, required=True)
    pc.add_argument("--activation-reserve-mb", type=int, default=96)
    pc.add_argument("--threads", type=int, default=None)
    pc.add_argument("--max-memory-mb", type=float, default=None)
    pc.add_argument("--result", type=Path, required=True)

    args = ap.parse_args(argv)
    try:
        if args.command == "_child":
            return child_main(args)
        if args.command == "int8":
            _int8_command(args)
        elif args.command == "offload":
            _offload_command(args)
        else:
            extra = args.model
            ns = argparse.Namespace(
                sizes=["demo", "50m"],
                model=extra,
                prompts=8,
                new_tokens=32,
                repeats=3,
                threads=args.threads,
                json=None,
            )
            _int8_command(ns)
            print()
            ns = argparse.Namespace(
                size="300m",
                model=None,
                bound_mb=args.bound_mb,
                new_tokens=8,
                threads=args.threads,
                activation_reserve_mb=96,
                json=None,
            )
            _offload_command(ns)
    except AutoGLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
