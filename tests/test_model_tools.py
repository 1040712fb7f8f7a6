"""The model-side performance tools (tools/bench_model.py, tools/export_onnx.py) on tiny checkpoints.

No timing is asserted: INT8 must keep greedy outputs mostly identical, the ONNX decoder must match
torch, and the offloaded model must generate exactly what the in-memory model generates.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from autoglm_agent.errors import ConfigError
from autoglm_agent.server.loading import load_processor
from autoglm_agent.server.tiny import build_tiny_glm4v

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "model"


def _tool(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = _tool("bench_model")
export = _tool("export_onnx")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: tiny models gain nothing from more, and a busy CPU makes OpenMP barriers crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_glm4v(tmp_path_factory.mktemp("model-tools") / "tiny-glm4v")


@pytest.fixture(scope="module")
def tiny_inputs(tiny: Path) -> Any:
    processor, _ = load_processor(tiny, "glm4v")
    return bench.build_inputs(processor, "open settings", bench.make_screenshot(0))


# ----------------------------------------------------------------------------- INT8


def test_int8_keeps_greedy_outputs_mostly_identical(tiny: Path) -> None:
    row = bench.compare_int8(tiny, prompts=4, new_tokens=8, repeats=0, threads=1)
    assert row.prompts == 4 and row.new_tokens == 8
    assert row.prompt_tokens > 100  # the prompt carries the screenshot's image tokens
    # Random weights give near-flat logits (the hardest case for agreement); still most tokens agree.
    assert row.token_agreement >= 0.6, row
    assert row.exact_sequences >= 1, row
    assert row.forward_argmax_agreement >= 0.6, row
    assert 0 < row.max_logit_diff < 0.25 * row.max_abs_logit, row
    # The server's quantize_int8 path really packed the Linear weights as int8.
    assert row.int8_state_bytes < 0.75 * row.fp32_state_bytes, row
    table = bench.format_int8([row])
    assert "decode tok/s int8" in table and "greedy tokens equal" in table


@pytest.mark.skipif(
    not (DEMO_MODEL / "config.json").is_file(), reason="the trained demo checkpoint is not in model/ (yet)"
)
def test_int8_on_the_trained_demo_checkpoint() -> None:
    row = bench.compare_int8(DEMO_MODEL, prompts=3, new_tokens=8, repeats=0, threads=1)
    # Position by position under the same prefix (teacher forced), INT8 picks the same token almost
    # always; free-running greedy sequences drift apart after the first differing token, so their
    # agreement is lower (0.71 on this checkpoint: one early difference in one of three prompts).
    assert row.forward_argmax_agreement >= 0.95, row
    assert row.token_agreement >= 0.6 and row.exact_sequences >= 1, row


# ----------------------------------------------------------------------------- offload


def test_offloaded_model_generates_the_same_greedy_tokens(
    tiny: Path, tiny_inputs: Any, tmp_path: Path
) -> None:
    full = bench.load_for_bench(tiny, "memory")
    off = bench.load_for_bench(tiny, "offload", max_memory=1_000_000, offload_folder=tmp_path / "offload")
    placed = bench.placement(off)
    assert 0 < placed["cpu"] < placed["disk"], placed  # most weights stay on disk under a 1 MB budget
    assert bench.placement(full).keys() == {"cpu"}

    a = bench.greedy(full, tiny_inputs, 6)
    b = bench.greedy(off, tiny_inputs, 6)
    assert len(a.tokens) == 6
    assert a.tokens == b.tokens
    with torch.inference_mode():
        la = full(**tiny_inputs).logits
        lb = off(**tiny_inputs).logits
    torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-5)


def test_offload_budget_that_holds_nothing_is_a_clear_error(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="raise the memory bound"):
        bench.load_for_bench(tiny, "offload", max_memory=16, offload_folder=tmp_path / "offload")


def test_offload_child_process_reports_its_peak_memory(tiny: Path, tiny_inputs: Any) -> None:
    child = bench.run_child(tiny, "offload", bound_mb=4096, max_memory_mb=1.0, new_tokens=4, threads=1)
    assert child.mode == "offload"
    assert child.placement_mb["disk"] > child.placement_mb["cpu"] > 0
    # The three views of the child's peak RSS agree that it is real and above its pre-load size.
    assert child.peak_vmhwm_mb >= child.rss_before_load_mb > 50
    assert child.ru_maxrss_mb is not None and child.ru_maxrss_mb > 50
    assert child.peak_sampled_mb <= child.peak_vmhwm_mb + 1
    full = bench.load_for_bench(tiny, "memory")
    assert child.generation.tokens == bench.greedy(full, tiny_inputs, 4).tokens

    assert child.bound_mb == 4096 and child.within_bound
    report = bench.OffloadReport(
        model=str(tiny),
        params=bench.checkpoint_params(tiny),
        checkpoint_mb=1.0,
        memory=child,
        offloaded=[child],
    )
    assert report.all_same_tokens and report.all_within_bound
    assert 0.5e6 < report.params < 2e6
    assert "peak RSS (VmHWM)" in bench.format_offload(report)


def test_offload_bound_below_the_process_size_is_one_clear_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the child process runs, called in this process (its RSS is already far above 10 MB).
    argv = ["_child", "--model", str(tiny), "--mode", "offload", "--bound-mb", "10"]
    argv += ["--offload-folder", str(tmp_path / "offload"), "--result", str(tmp_path / "result.json")]
    assert bench.main(argv) == ConfigError.exit_code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the bound of 10 MB leaves no room for weights") and "\n" not in err
    assert "raise --bound-mb" in err
    assert not (tmp_path / "result.json").exists()


# ----------------------------------------------------------------------------- ONNX


def test_onnx_decoder_matches_torch(tiny: Path, tmp_path: Path) -> None:
    for name in ("onnx", "onnxruntime", "onnxscript"):
        pytest.importorskip(name, reason=f"{name} is not installed (pip install onnx onnxruntime onnxscript)")
    lm = export.load(tiny)
    out = tmp_path / "onnx"
    info = export.export_decoder(tiny, out, lm=lm)
    assert (out / "decoder.onnx").is_file() and (out / "embed_tokens.npy").is_file()
    assert info.num_layers == 2 and info.inputs == "embeds"
    assert info.input_names[:3] == ["inputs_embeds", "attention_mask", "position_ids"]

    report = export.verify_export(tiny, out, new_tokens=6, repeats=1, threads=1, lm=lm)
    names = [c.name for c in report.cases]
    assert any(n.startswith("image") for n in names) and any("left-padded" in n for n in names)
    assert any("KV cache" in n for n in names), names  # decode steps went through the exported cache
    assert report.max_abs_diff < 1e-3, report.cases
    assert report.min_argmax_agreement == 1.0, report.cases
    assert report.greedy_match and len(report.greedy_onnx) == 6
    assert len(report.latency) == 2 and all(r.onnx_ms > 0 and r.torch_ms > 0 for r in report.latency)
    assert "argmax agree" in export.format_report(info, report)
