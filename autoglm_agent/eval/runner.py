"""Run the evaluation suite against any OpenAI-compatible endpoint, on fresh simulated phones.

Each (task, language, seed) gets a new simulator reached through the real adb server, a new
``AdbDevice`` and a new ``PhoneAgent``; success is read from the simulator's state afterwards.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from autoglm_agent.agent import AgentCallbacks, AgentConfig, PhoneAgent
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.eval.tasks import EvalTask, Lang


class TaskResult(BaseModel):
    task_id: str
    category: str
    lang: Lang
    seed: int
    shuffle: bool
    prompt: str
    success: bool
    status: str
    message: str
    steps: int
    total_s: float
    model_s: float
    device_s: float
    trajectory_dir: str | None = None


class EvalSummary(BaseModel):
    runs: int
    successes: int
    success_rate: float
    mean_steps: float
    mean_step_s: float
    mean_model_s_per_step: float
    mean_device_s_per_step: float


class EvalReport(BaseModel):
    model: str
    endpoint: str
    started_at: str
    duration_s: float
    summary: EvalSummary
    by_category: dict[str, EvalSummary] = Field(default_factory=dict)
    by_lang: dict[str, EvalSummary] = Field(default_factory=dict)
    results: list[TaskResult]


def summarize(results: Sequence[TaskResult]) -> EvalSummary:
    steps = sum(r.steps for r in results)
    return EvalSummary(
        runs=len(results),
        successes=sum(r.success for r in results),
        success_rate=(sum(r.success for r in results) / len(results)) if results else 0.0,
        mean_steps=statistics.fmean(r.steps for r in results) if results else 0.0,
        mean_step_s=(sum(r.total_s for r in results) / steps) if steps else 0.0,
        mean_model_s_per_step=(sum(r.model_s for r in results) / steps) if steps else 0.0,
        mean_device_s_per_step=(sum(r.device_s for r in results) / steps) if steps else 0.0,
    )


def _group(results: Sequence[TaskResult], key: Callable[[TaskResult], str]) -> dict[str, EvalSummary]:
    groups: dict[str, list[TaskResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def run_eval(
    llm: BaseChatModel,
    tasks: Sequence[EvalTask],
    *,
    langs: Sequence[Lang] = ("en",),
    seeds: Sequence[int] = (0,),
    shuffle: bool = False,
    agent_settings: dict[str, Any] | None = None,
    trajectory_dir: Path | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
    callbacks: AgentCallbacks | None = None,
    device_timeout: float = 10.0,
) -> EvalReport:
    """Run every task in every language on every seed; return the report (nothing printed)."""
    from autoglm_agent.device import AdbDevice
    from autoglm_agent.sim.runner import Simulator

    started = time.time()
    results: list[TaskResult] = []
    settings = dict(agent_settings or {})
    settings.pop("max_steps", None)
    for seed in seeds:
        for task in tasks:
            for lang in langs:
                prompt = task.prompt(lang)
                config = AgentConfig(
                    **{**settings, "max_steps": task.max_steps, "trajectory_dir": trajectory_dir}
                )
                with Simulator(seed=seed, shuffle=shuffle) as sim:
                    if task.setup is not None:
                        task.setup(sim.phone)
                    with AdbDevice(sim.serial, timeout=device_timeout) as device:
                        agent = PhoneAgent(device, llm, config, callbacks=callbacks)
                        try:
                            result = agent.run(prompt)
                        except AutoGLMError as exc:  # a broken run is a failed task, not a crashed suite
                            results.append(_failed(task, lang, seed, shuffle, prompt, str(exc)))
                            continue
                    success = bool(task.check(sim.phone))
                record = TaskResult(
                    task_id=task.id,
                    category=task.category,
                    lang=lang,
                    seed=seed,
                    shuffle=shuffle,
                    prompt=prompt,
                    success=success,
                    status=result.status,
                    message=result.message,
                    steps=result.steps,
                    total_s=result.total_s,
                    model_s=result.model_s,
                    device_s=result.device_s,
                    trajectory_dir=str(result.trajectory_dir) if result.trajectory_dir else None,
                )
                results.append(record)
                if on_result is not None:
                    on_result(record)
    model = str(getattr(llm, "model_name", None) or getattr(llm, "model", None) or type(llm).__name__)
    endpoint = str(getattr(llm, "openai_api_base", None) or "")
    return EvalReport(
        model=model,
        endpoint=endpoint,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        duration_s=time.time() - started,
        summary=summarize(results),
        by_category=_group(results, lambda r: r.category),
        by_lang=_group(results, lambda r: r.lang),
        results=results,
    )


def _failed(task: EvalTask, lang: Lang, seed: int, shuffle: bool, prompt: str, error: str) -> TaskResult:
    return TaskResult(
        task_id=task.id,
        category=task.category,
        lang=lang,
        seed=seed,
        shuffle=shuffle,
        prompt=prompt,
        success=False,
        status="failure",
        message=error,
        steps=0,
        total_s=0.0,
        model_s=0.0,
        device_s=0.0,
    )


def write_report(report: EvalReport, out_dir: Path) -> Path:
    """Write ``report.json`` and a Markdown table ``report.md`` into ``out_dir``; return the folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    s = report.summary
    lines = [
        f"# Evaluation of {report.model}",
        "",
        f"Endpoint: {report.endpoint or '(in-process)'} · started {report.started_at} · {report.duration_s:.0f} s",
        "",
        f"**Success rate {s.success_rate:.0%}** ({s.successes}/{s.runs}) · mean steps {s.mean_steps:.1f} · "
        f"per step {s.mean_step_s:.2f} s (model {s.mean_model_s_per_step:.2f} s, device {s.mean_device_s_per_step:.2f} s)",
        "",
        "| group | runs | success | mean steps | s/step | model s/step | device s/step |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, g in [*report.by_category.items(), *(("lang " + k, v) for k, v in report.by_lang.items())]:
        lines.append(
            f"| {name} | {g.runs} | {g.success_rate:.0%} | {g.mean_steps:.1f} | {g.mean_step_s:.2f} | "
            f"{g.mean_model_s_per_step:.2f} | {g.mean_device_s_per_step:.2f} |"
        )
    lines += ["", "| task | lang | seed | result | steps | message |", "|---|---|---|---|---|---|"]
    for r in report.results:
        msg = r.message.replace("|", "\\|").replace("\n", " ")[:80]
        lines.append(
            f"| {r.task_id} | {r.lang} | {r.seed} | {'✅' if r.success else '❌'} {r.status} | {r.steps} | {msg} |"
        )
    (out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_dir


def load_report(path: Path) -> EvalReport:
    return EvalReport.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
