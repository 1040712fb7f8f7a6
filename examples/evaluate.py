"""Evaluate a model on the simulator's task suite, as a script.

The same steps as ``05_evaluate_a_model.ipynb``: every (task, language, seed) runs on a fresh
simulated phone and success is read from the phone's state. Without ``--base-url`` the demo
checkpoint (or ``--model-path``) is served by the embedded server with its own agent settings.

    python examples/evaluate.py --tasks open-settings,go-home,wifi-on --lang both
    python examples/evaluate.py --base-url http://GPU_HOST:8000/v1 --lang both --seeds 0,1,2 --shuffle
    python examples/evaluate.py --list

It prints a line per run and a summary table, and writes ``report.json`` and ``report.md`` to
``--out``. Exit status: 0 when the evaluation ran (whatever the score), 2 for a set-up error.
The CLI equivalent is ``autoglm-agent eval``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoglm_agent.endpoint import open_endpoint as embedded_or_given
from autoglm_agent.errors import AutoGLMError, ConfigError
from autoglm_agent.eval.runner import EvalReport, TaskResult, run_eval, write_report
from autoglm_agent.eval.tasks import Lang, default_suite, select
from autoglm_agent.llm import ChatAutoGLM

DEMO_MODEL = Path(__file__).resolve().parent.parent / "model"
LANGS: dict[str, list[Lang]] = {"en": ["en"], "zh": ["zh"], "both": ["en", "zh"]}


def open_endpoint(args: argparse.Namespace) -> contextlib.AbstractContextManager[tuple[str, dict[str, Any]]]:
    """(base URL, agent settings): ``--base-url`` as given, or an embedded server over a checkpoint."""
    return embedded_or_given(
        args.base_url,
        Path(args.model_path).expanduser().resolve(),
        model=args.model,
        api_key=args.api_key,
        log=lambda text: print(text, file=sys.stderr),
    )


def show(r: TaskResult) -> None:
    mark = "pass" if r.success else "FAIL"
    print(
        f"{mark} {r.task_id:16} [{r.lang}] seed {r.seed}: {r.steps:2} steps, {r.total_s:5.1f} s  {r.message[:60]}"
    )


def print_summary(report: EvalReport) -> None:
    s = report.summary
    print(
        f"\n{report.model} at {report.endpoint}: {s.successes}/{s.runs} runs succeeded ({s.success_rate:.0%})"
    )
    print(
        f"{'group':16} {'runs':>4} {'success':>8} {'steps':>6} {'s/step':>7} {'model s':>8} {'device s':>9}"
    )
    groups = [("all", s), *report.by_category.items(), *(("lang " + k, v) for k, v in report.by_lang.items())]
    for name, g in groups:
        print(
            f"{name:16} {g.runs:>4} {g.success_rate:>8.0%} {g.mean_steps:>6.1f} {g.mean_step_s:>7.2f} "
            f"{g.mean_model_s_per_step:>8.2f} {g.mean_device_s_per_step:>9.2f}"
        )


def run(args: argparse.Namespace) -> int:
    suite = select(default_suite(), args.tasks)
    if args.list:
        for task in suite:
            print(f"{task.id:18} {task.category:12} {task.en}  /  {task.zh}")
        return 0
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds must be integers separated by commas, not {args.seeds!r}") from None
    out = Path(args.out) if args.out else Path("runs") / time.strftime("eval-%Y%m%d-%H%M%S")
    with open_endpoint(args) as (base_url, settings):
        llm = ChatAutoGLM(
            base_url=base_url,
            model=args.model,
            api_key=args.api_key,
            max_tokens=args.max_tokens,
            enable_thinking=not args.no_thinking,
            max_retries=0,
        )
        report = run_eval(
            llm,
            suite,
            langs=LANGS[args.lang],
            seeds=seeds,
            shuffle=args.shuffle,
            agent_settings=settings,
            trajectory_dir=out / "runs",
            on_result=show,
        )
    write_report(report, out)
    print_summary(report)
    print(f"report: {out / 'report.md'}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog="Without --base-url the demo checkpoint is served locally.",
    )
    ap.add_argument(
        "--base-url",
        default=os.environ.get("AUTOGLM_BASE_URL"),
        help="OpenAI-compatible endpoint (…/v1) to score instead of the embedded demo model [$AUTOGLM_BASE_URL]",
    )
    ap.add_argument("--model", default=os.environ.get("AUTOGLM_MODEL", "autoglm-phone-9b"), help="model name")
    ap.add_argument("--api-key", default=os.environ.get("AUTOGLM_API_KEY"), help="API key of the endpoint")
    ap.add_argument(
        "--model-path",
        default=os.environ.get("AUTOGLM_MODEL_PATH", str(DEMO_MODEL)),
        help="checkpoint for the embedded server [$AUTOGLM_MODEL_PATH, default: the repo's model/]",
    )
    ap.add_argument(
        "--tasks", default=None, help="task ids, id prefixes or categories, comma-separated (default: all)"
    )
    ap.add_argument("--lang", choices=sorted(LANGS), default="en", help="task wording: en, zh or both")
    ap.add_argument("--seeds", default="0", help="simulator seeds, comma-separated")
    ap.add_argument("--shuffle", action="store_true", help="shuffle the home-screen layouts")
    ap.add_argument(
        "--max-tokens",
        type=int,
        default=int(os.environ.get("AUTOGLM_MAX_TOKENS", "256")),
        help="cap on the tokens of one answer [$AUTOGLM_MAX_TOKENS, default 256]",
    )
    ap.add_argument("--no-thinking", action="store_true", help="turn the model's thinking mode off")
    ap.add_argument("--out", default=None, help="report folder (default: runs/eval-TIMESTAMP)")
    ap.add_argument("--list", action="store_true", help="list the selected tasks and exit")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except AutoGLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
