"""Export the text decoder of a glm4v checkpoint to ONNX and check it in onnxruntime against torch.

    python tools/export_onnx.py --model PATH --out DIR                # inputs_embeds graph (images work)
    python tools/export_onnx.py --model PATH --out DIR --inputs ids   # input_ids graph (text only)

The exported graph is the language model part (decoder layers, final norm, LM head) with its KV cache as
explicit tensors, exported with ``torch.onnx.export(..., dynamo=True)``; batch, sequence and past lengths
are dynamic, so one graph serves both the prefill (past length 0) and every decode step:

    inputs:  inputs_embeds (B, S, hidden) float32   | input_ids (B, S) int64 with --inputs ids
             attention_mask (B, P + S) int64        (1 = attend, 0 = left padding)
             position_ids (3, B, S) int64           (M-RoPE: temporal, height, width)
             past_key.{i}, past_value.{i} (B, kv_heads, P, head_dim) float32, for every layer i
    outputs: logits (B, S, vocab) float32
             present_key.{i}, present_value.{i} (B, kv_heads, P + S, head_dim)

The vision tower stays in torch: with ``inputs_embeds`` the caller merges the image features into the
token embeddings and computes the M-RoPE positions (``get_rope_index``), as the model does before its
decoder runs; ``embed_tokens.npy`` (the token embedding matrix) lets a pure onnxruntime loop embed each
generated token. ``export_info.json`` describes the graph.

The check (skipped with ``--no-verify``) feeds the same inputs to torch and onnxruntime: text and image
prompts, a left-padded batch, and a greedy generation that runs the ONNX graph with its KV cache, step
by step, against ``model.generate``. It prints the largest logit difference, argmax agreement, and the
latency of one prefill and one decode step in torch and in onnxruntime.

Needs ``onnx``, ``onnxruntime`` and ``onnxscript`` (``pip install onnx onnxruntime onnxscript``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from autoglm_agent.errors import AutoGLMError, ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from autoglm_agent.server.loading import LoadedModel

ONNX_FILE = "decoder.onnx"
EMBED_FILE = "embed_tokens.npy"
INFO_FILE = "export_info.json"
InputsMode = Literal["embeds", "ids"]


def _sibling(name: str) -> Any:
    """Another script of this folder, imported by path (``tools/`` is not a package)."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def require_onnx() -> None:
    """Raise a one-line ``ConfigError`` when the ONNX packages are missing."""
    missing = []
    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"ONNX export needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed",
            hint="pip install onnx onnxruntime onnxscript",
        )


class ExportInfo(BaseModel):
    """What ``export_decoder`` wrote, and how to drive the graph."""

    model: str
    inputs: InputsMode
    onnx_file: str = ONNX_FILE
    embed_file: str | None = None
    num_layers: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int
    input_names: list[str]
    output_names: list[str]
    opset: int
    external_data: bool
    file_bytes: int
    export_s: float
    versions: dict[str, str] = Field(default_factory=dict)


def _text_config(model: Any) -> Any:
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def _language_model(model: Any) -> Any:
    inner = getattr(model, "model", model)
    lm = getattr(inner, "language_model", None)
    if lm is None:
        raise ConfigError(
            f"{type(model).__name__} has no language_model part to export",
            hint="export_onnx.py exports the text decoder of glm4v-style image-text-to-text models",
        )
    return lm


def _decoder_module(model: Any, inputs: InputsMode) -> torch.nn.Module:
    """The language model and its LM head as one module whose KV cache is explicit tensors."""
    import torch
    from transformers.cache_utils import DynamicCache

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lm = _language_model(model)
            self.head = model.lm_head

        def forward(
            self,
            x: torch.Tensor,
            attention_mask: torch.Tensor,
            position_ids: torch.Tensor,
            past: list[tuple[torch.Tensor, torch.Tensor]],
        ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
            cache = DynamicCache(ddp_cache_data=[(k, v) for k, v in past])
            embeds = self.lm.embed_tokens(x) if inputs == "ids" else x
            out = self.lm(
                inputs_embeds=embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=True,
            )
            present = [(layer.keys, layer.values) for layer in out.cache.layers]
            return self.head(out.last_hidden_state), present

    return Decoder().eval()


def _shapes(model: Any) -> tuple[int, int, int, int, int]:
    tc = _text_config(model)
    heads = int(tc.num_attention_heads)
    head_dim = int(getattr(tc, "head_dim", None) or tc.hidden_size // heads)
    return (
        int(tc.num_hidden_layers),
        int(getattr(tc, "num_key_value_heads", None) or heads),
        head_dim,
        int(tc.hidden_size),
        int(tc.vocab_size),
    )


def export_decoder(
    model_path: Path,
    out_dir: Path,
    *,
    inputs: InputsMode = "embeds",
    opset: int | None = None,
    lm: LoadedModel | None = None,
) -> ExportInfo:
    """Export the text decoder of ``model_path`` (fp32, CPU) to ``out_dir/decoder.onnx``."""
    require_onnx()
    import numpy as np
    import onnx
    import torch

    lm = lm or load(model_path)
    model = lm.model
    num_layers, kv_heads, head_dim, hidden, vocab = _shapes(model)
    decoder = _decoder_module(model, inputs)
    out_dir.mkdir(parents=True, exist_ok=True)

    # Sample sizes that equal no static dimension, so torch.export keeps them symbolic.
    b, s, p = 3, 5, 7
    x = (
        torch.randint(0, vocab, (b, s))
        if inputs == "ids"
        else torch.randn(b, s, hidden) * float(model.get_input_embeddings().weight.detach().std())
    )
    mask = torch.ones(b, p + s, dtype=torch.long)
    mask[0, :2] = 0
    pos = ((mask.cumsum(-1) - 1).clamp(min=0)[:, p:]).unsqueeze(0).expand(3, b, s).contiguous()
    past = [
        (torch.randn(b, kv_heads, p, head_dim), torch.randn(b, kv_heads, p, head_dim))
        for _ in range(num_layers)
    ]

    max_len = int(getattr(_text_config(model), "max_position_embeddings", 0) or 32768)
    dim = torch.export.Dim
    batch = dim("batch", min=1, max=1024)
    seq = dim("seq", min=1, max=max_len)
    past_len = dim("past", min=0, max=max_len)
    total = dim("total", min=1, max=2 * max_len)
    x_name = "input_ids" if inputs == "ids" else "inputs_embeds"
    layer_names = [f"{kind}.{i}" for i in range(num_layers) for kind in ("key", "value")]
    input_names = [x_name, "attention_mask", "position_ids", *(f"past_{n}" for n in layer_names)]
    output_names = ["logits", *(f"present_{n}" for n in layer_names)]
    dynamic_shapes = {
        "x": {0: batch, 1: seq},
        "attention_mask": {0: batch, 1: total},
        "position_ids": {1: batch, 2: seq},
        "past": [({0: batch, 2: past_len}, {0: batch, 2: past_len}) for _ in range(num_layers)],
    }
    weight_bytes = sum(t.numel() * t.element_size() for t in decoder.parameters())
    external = weight_bytes > 1_500_000_000  # the protobuf limit is 2 GB
    target = out_dir / ONNX_FILE
    t0 = time.perf_counter()
    try:
        torch.onnx.export(
            decoder,
            (x, mask, pos, past),
            str(target),
            dynamo=True,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            opset_version=opset,
            external_data=external,
            verbose=False,
        )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AutoGLMError(f"torch.onnx.export of the decoder of {model_path} failed: {first}") from exc
    export_s = time.perf_counter() - t0

    embed_file = None
    if inputs == "embeds":
        embed_file = EMBED_FILE
        np.save(out_dir / EMBED_FILE, model.get_input_embeddings().weight.detach().float().numpy())
    proto = onnx.load(str(target), load_external_data=False)
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    versions = {
        n: importlib.metadata.version(n)
        for n in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime")
    }
    info = ExportInfo(
        model=str(model_path),
        inputs=inputs,
        embed_file=embed_file,
        num_layers=num_layers,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        hidden_size=hidden,
        vocab_size=vocab,
        input_names=input_names,
        output_names=output_names,
        opset=int(opset_used),
        external_data=external,
        file_bytes=sum(f.stat().st_size for f in out_dir.glob(ONNX_FILE + "*")),
        export_s=export_s,
        versions=versions,
    )
    (out_dir / INFO_FILE).write_text(info.model_dump_json(indent=2), encoding="utf-8")
    return info


def load(model_path: Path) -> LoadedModel:
    """The checkpoint through the server's own loading path, fp32 on CPU."""
    from autoglm_agent.server.config import ServerConfig
    from autoglm_agent.server.loading import load_model

    return load_model(ServerConfig(model=model_path, device="cpu", dtype="float32", api_key=None))


# ----------------------------------------------------------------------------- onnxruntime side


class OnnxDecoder:
    """An exported decoder in onnxruntime, with a greedy loop over its KV cache."""

    def __init__(self, out_dir: Path, *, threads: int | None = None) -> None:
        require_onnx()
        import numpy as np
        import onnxruntime as ort

        info_file = out_dir / INFO_FILE
        if not info_file.is_file():
            raise ConfigError(
                f"{out_dir} holds no exported decoder ({INFO_FILE} is missing)", hint="run export first"
            )
        self.info = ExportInfo.model_validate_json(info_file.read_text(encoding="utf-8"))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # No busy-waiting between runs: spinning threads would steal the CPU from torch (and other jobs).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(out_dir / self.info.onnx_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.embed = np.load(out_dir / self.info.embed_file) if self.info.embed_file else None

    def empty_past(self, batch: int) -> list[np.ndarray]:
        import numpy as np

        shape = (batch, self.info.num_kv_heads, 0, self.info.head_dim)
        return [np.zeros(shape, dtype=np.float32) for _ in range(2 * self.info.num_layers)]

    def run(
        self,
        x: np.ndarray,
        attention_mask: np.ndarray,
        position_ids: np.ndarray,
        past: list[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One forward: (logits, present key/value tensors in ``output_names`` order)."""
        past = past if past is not None else self.empty_past(int(x.shape[0]))
        names = self.info.input_names
        feed = {names[0]: x, names[1]: attention_mask, names[2]: position_ids}
        feed |= dict(zip(names[3:], past, strict=True))
        logits, *present = self.session.run(None, feed)
        return logits, present

    def token_input(self, tokens: np.ndarray) -> np.ndarray:
        """What the graph takes for newly generated token ids (B,): ids or their embeddings, shape (B, 1, ...)."""
        if self.info.inputs == "ids":
            return tokens.reshape(-1, 1).astype("int64")
        assert self.embed is not None
        return self.embed[tokens].reshape(len(tokens), 1, -1)

    def greedy(
        self,
        x: np.ndarray,
        attention_mask: np.ndarray,
        position_ids: np.ndarray,
        new_tokens: int,
        *,
        suppress: Sequence[int] = (),
    ) -> tuple[list[list[int]], list[np.ndarray]]:
        """Greedy decoding with the KV cache: the new tokens per row and each step's raw last-position logits.

        ``suppress`` token ids are never chosen (pass the EOS ids to decode a fixed number of tokens).
        """
        import numpy as np

        banned = np.asarray(list(suppress), dtype=np.int64)

        def pick(last: np.ndarray) -> np.ndarray:
            if banned.size:
                last = last.copy()
                last[:, banned] = -np.inf
            return last.argmax(-1)

        logits, past = self.run(x, attention_mask, position_ids)
        next_pos = position_ids.max(axis=(0, 2)) + 1
        mask = attention_mask
        steps = [logits[:, -1]]
        tokens = [pick(logits[:, -1])]
        for _ in range(new_tokens - 1):
            mask = np.concatenate([mask, np.ones((mask.shape[0], 1), dtype=mask.dtype)], axis=1)
            pos = np.broadcast_to(next_pos.reshape(1, -1, 1), (3, len(next_pos), 1)).astype(np.int64)
            logits, past = self.run(self.token_input(tokens[-1]), mask, pos, past)
            next_pos = next_pos + 1
            steps.append(logits[:, -1])
            tokens.append(pick(logits[:, -1]))
        return np.stack(tokens, axis=1).tolist(), steps


# ----------------------------------------------------------------------------- verification


class CaseResult(BaseModel):
    """ONNX vs torch on one input (padding positions excluded)."""

    name: str
    batch: int
    seq: int
    past: int = 0
    max_abs_diff: float
    max_abs_logit: float
    argmax_agreement: float


class Latency(BaseModel):
    name: str
    torch_ms: float
    onnx_ms: float

    @property
    def speedup(self) -> float:
        return self.torch_ms / self.onnx_ms if self.onnx_ms else 0.0


class VerifyReport(BaseModel):
    model: str
    inputs: InputsMode
    threads: int
    cases: list[CaseResult]
    greedy_torch: list[int]
    greedy_onnx: list[int]
    latency: list[Latency]

    @property
    def greedy_match(self) -> bool:
        return self.greedy_torch == self.greedy_onnx

    @property
    def max_abs_diff(self) -> float:
        return max(c.max_abs_diff for c in self.cases)

    @property
    def min_argmax_agreement(self) -> float:
        return min(c.argmax_agreement for c in self.cases)


def decoder_inputs(
    model: Any, batch: Any, inputs: InputsMode
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(graph input, attention mask, 3D positions, full-model logits) for processor outputs ``batch``.

    The embeddings (image features merged in) and positions are captured from the language model's
    input during one forward of the whole torch model, so they are exactly what torch's decoder sees.
    """
    import torch

    seen: dict[str, torch.Tensor] = {}

    def hook(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        seen["inputs_embeds"] = kwargs["inputs_embeds"]
        seen["position_ids"] = kwargs["position_ids"]

    handle = _language_model(model).register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.inference_mode():
            logits = model(**batch).logits
    finally:
        handle.remove()
    pos = seen["position_ids"]
    emb = seen["inputs_embeds"]
    if pos is None:  # text only: the language model counts positions from 0 over the whole row
        pos = torch.arange(emb.shape[1]).expand(emb.shape[0], -1)
    if pos.ndim == 2:
        pos = pos.unsqueeze(0).expand(3, -1, -1)
    x = batch["input_ids"] if inputs == "ids" else seen["inputs_embeds"]
    return x, batch["attention_mask"].long(), pos.long().contiguous(), logits


def compare(
    name: str, onnx_logits: np.ndarray, torch_logits: torch.Tensor, mask: np.ndarray, past: int = 0
) -> CaseResult:
    """Max |diff| and argmax agreement over the real (unpadded) query positions."""
    import numpy as np

    ref = torch_logits.float().numpy()
    keep = mask[:, -ref.shape[1] :].astype(bool)
    diff = np.abs(onnx_logits - ref)[keep]
    agree = (onnx_logits.argmax(-1) == ref.argmax(-1))[keep]
    return CaseResult(
        name=name,
        batch=int(ref.shape[0]),
        seq=int(ref.shape[1]),
        past=past,
        max_abs_diff=float(diff.max()),
        max_abs_logit=float(np.abs(ref[keep]).max()),
        argmax_agreement=float(agree.mean()),
    )


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def verify_export(
    model_path: Path,
    out_dir: Path,
    *,
    new_tokens: int = 8,
    repeats: int = 5,
    threads: int | None = None,
    lm: LoadedModel | None = None,
) -> VerifyReport:
    """Run the exported decoder in onnxruntime against the torch model on several inputs."""
    import numpy as np
    import torch

    bench = _sibling("bench_model")

    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    lm = lm or load(model_path)
    model, processor = lm.model, lm.processor
    onnx_dec = OnnxDecoder(out_dir, threads=threads)
    mode = onnx_dec.info.inputs
    images = mode == "embeds" and lm.supports_images

    def as_np(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy()

    def batch_of(tasks: list[str], with_images: bool) -> Any:
        shots = [bench.make_screenshot(i) for i in range(len(tasks))] if with_images else None
        return bench.build_batch(processor, tasks, shots)

    cases: list[CaseResult] = []
    prompts: list[tuple[str, Any]] = [
        ("text, batch 1", batch_of(["open settings"], False)),
        (
            "text, batch 3, left-padded",
            batch_of(["turn on wifi", "search for coffee nearby please", "打开微信给张三发消息"], False),
        ),
    ]
    if images:
        prompts += [
            ("image, batch 1", batch_of(["open settings"], True)),
            ("image, batch 2, left-padded", batch_of(["take a photo", "send a message to Alice"], True)),
        ]
    for name, batch in prompts:
        x, mask, pos, ref = decoder_inputs(model, batch, mode)
        logits, _ = onnx_dec.run(as_np(x), as_np(mask), as_np(pos))
        cases.append(compare(name, logits, ref, as_np(mask)))

    # Greedy generation through the KV cache: every decode step's logits against model.generate's.
    gen_batch = prompts[-2][1] if images else prompts[0][1]
    x, mask, pos, _ = decoder_inputs(model, gen_batch, mode)
    with torch.inference_mode():
        out = model.generate(
            **gen_batch,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
    prompt_len = int(gen_batch["input_ids"].shape[1])
    torch_tokens = [int(t) for t in out.sequences[0, prompt_len:]]
    # model.generate with min_new_tokens never picks EOS: neither does the ONNX loop.
    onnx_tokens, step_logits = onnx_dec.greedy(
        as_np(x), as_np(mask), as_np(pos), new_tokens, suppress=sorted(lm.eos_token_ids)
    )
    if len(out.logits) > 1 and onnx_tokens[0] == torch_tokens:
        ort_steps = np.stack(step_logits[1:], axis=1)
        ref_steps = torch.stack(list(out.logits[1:]), dim=1)
        cases.append(
            compare(
                f"decode steps 2..{new_tokens} with KV cache",
                ort_steps,
                ref_steps,
                np.ones(ort_steps.shape[:2], dtype=np.int64),
                past=prompt_len,
            )
        )

    # Latency: the same decoder computation in torch (eager) and in onnxruntime.
    decoder = _decoder_module(model, mode)
    _, kv_heads, head_dim = onnx_dec.info.num_layers, onnx_dec.info.num_kv_heads, onnx_dec.info.head_dim
    empty = [
        (torch.zeros(x.shape[0], kv_heads, 0, head_dim), torch.zeros(x.shape[0], kv_heads, 0, head_dim))
        for _ in range(onnx_dec.info.num_layers)
    ]
    with torch.inference_mode():
        _, present = decoder(x, mask, pos, empty)
    x1 = x[:, -1:] if mode == "ids" else x[:, -1:, :]
    mask1 = torch.cat([mask, torch.ones(mask.shape[0], 1, dtype=mask.dtype)], dim=1)
    pos1 = pos.amax(dim=2, keepdim=True) + 1
    np_present = [as_np(t) for kv in present for t in kv]

    def torch_prefill() -> object:
        with torch.inference_mode():
            return decoder(x, mask, pos, empty)

    def torch_step() -> object:
        with torch.inference_mode():
            return decoder(x1, mask1, pos1, [(k, v) for k, v in present])

    latency = [
        Latency(
            name=f"prefill ({int(x.shape[1])} tokens)",
            torch_ms=_median_ms(torch_prefill, repeats),
            onnx_ms=_median_ms(lambda: onnx_dec.run(as_np(x), as_np(mask), as_np(pos)), repeats),
        ),
        Latency(
            name=f"decode step (past {int(x.shape[1])})",
            torch_ms=_median_ms(torch_step, repeats),
            onnx_ms=_median_ms(
                lambda: onnx_dec.run(as_np(x1), as_np(mask1), as_np(pos1), np_present), repeats
            ),
        ),
    ]
    return VerifyReport(
        model=str(model_path),
        inputs=mode,
        threads=threads,
        cases=cases,
        greedy_torch=torch_tokens,
        greedy_onnx=onnx_tokens[0],
        latency=latency,
    )


def format_report(info: ExportInfo, report: VerifyReport) -> str:
    format_table = _sibling("bench_model").format_table

    head = (
        f"ONNX decoder of {info.model}: {info.inputs} inputs, {info.num_layers} layers, opset {info.opset}, "
        f"{info.file_bytes / 2**20:.1f} MB, exported in {info.export_s:.1f} s "
        f"(onnxruntime {info.versions.get('onnxruntime', '?')}, {report.threads} threads)"
    )
    rows = [
        [
            c.name,
            f"{c.batch}x{c.seq}",
            str(c.past),
            f"{c.max_abs_diff:.2e}",
            f"{c.max_abs_logit:.3f}",
            f"{100 * c.argmax_agreement:.1f}%",
        ]
        for c in report.cases
    ]
    agreement = format_table(["input", "BxS", "past", "max |diff|", "max |logit|", "argmax agree"], rows)
    greedy = (
        f"greedy {len(report.greedy_torch)} tokens: torch {report.greedy_torch} / onnx {report.greedy_onnx} -> "
        f"{'identical' if report.greedy_match else 'DIFFERENT'}"
    )
    lat = format_table(
        ["forward (median)", "torch ms", "onnxruntime ms", "torch/onnx"],
        [[r.name, f"{r.torch_ms:.2f}", f"{r.onnx_ms:.2f}", f"{r.speedup:.2f}x"] for r in report.latency],
    )
    return "\n".join([head, agreement, greedy, lat])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="local glm4v checkpoint folder")
    ap.add_argument("--out", type=Path, required=True, help="folder for decoder.onnx and export_info.json")
    ap.add_argument(
        "--inputs", choices=["embeds", "ids"], default="embeds", help="graph input: embeddings or ids"
    )
    ap.add_argument("--opset", type=int, default=None, help="ONNX opset (default: torch's)")
    ap.add_argument("--no-verify", action="store_true", help="export only, skip the onnxruntime check")
    ap.add_argument("--new-tokens", type=int, default=8, help="greedy tokens compared with KV cache")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per latency figure")
    ap.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads")
    args = ap.parse_args(argv)
    try:
        require_onnx()
        lm = load(args.model)
        info = export_decoder(args.model, args.out, inputs=args.inputs, opset=args.opset, lm=lm)
        print(
            f"wrote {args.out / info.onnx_file} ({info.file_bytes / 2**20:.1f} MB) in {info.export_s:.1f} s"
        )
        if not args.no_verify:
            report = verify_export(
                args.model,
                args.out,
                new_tokens=args.new_tokens,
                repeats=args.repeats,
                threads=args.threads,
                lm=lm,
            )
            print(format_report(info, report))
    except AutoGLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
