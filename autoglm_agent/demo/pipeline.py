"""From agent messages to model inputs and back, with the embedded server's own code.

Training samples are the exact requests ``ChatAutoGLM`` would send (built with its own
``_get_request_payload``, i.e. langchain-openai's message conversion plus the thinking switch),
turned into tensors by the server's ``prepare_prompt`` (chat template + processor + image
decoding) over a checkpoint loaded by the server's ``load_model``. ``LocalChat`` runs a loaded
checkpoint the same way in-process (no HTTP) for fast evaluation; the CLI and the tests run the
same checkpoint through ``EmbeddedServer`` + ``ChatAutoGLM``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict, Field

from autoglm_agent import actions as A
from autoglm_agent.agent import AgentConfig, PhoneAgent
from autoglm_agent.demo.oracle import DemoTask, OracleChat, expert_step
from autoglm_agent.demo.settings import AGENT_FILE, DemoSettings, load_settings
from autoglm_agent.prompts import format_date
from autoglm_agent.sim.direct import DirectDevice
from autoglm_agent.sim.phone import Phone

__all__ = [
    "AGENT_FILE",
    "DemoSettings",
    "EpisodeResult",
    "LocalChat",
    "Sample",
    "encode_sample",
    "load_settings",
    "oracle_episode",
    "prepare",
    "request_body",
    "run_episode",
]

SERVED_NAME = "autoglm-phone-9b"


# --------------------------------------------------------------------------- requests -> inputs
_PAYLOAD_LLM: Any = None


def request_body(messages: list[BaseMessage]) -> dict[str, Any]:
    """The JSON body ``ChatAutoGLM`` (thinking on, streaming) would POST for ``messages``."""
    global _PAYLOAD_LLM
    if _PAYLOAD_LLM is None:
        from autoglm_agent.llm import ChatAutoGLM

        _PAYLOAD_LLM = ChatAutoGLM(
            base_url="http://127.0.0.1:9/v1",
            model=SERVED_NAME,
            api_key="unused",
            enable_thinking=True,
            streaming=True,
        )
    payload = dict(_PAYLOAD_LLM._get_request_payload(messages, stream=True))
    extra = payload.pop("extra_body", None) or {}
    payload.update(extra)
    return payload


def server_state(lm: Any) -> Any:
    """What the server's ``prepare_prompt`` reads (config, model, image shrinker), without an engine."""
    from autoglm_agent.server.app import PromptContext, model_shrinker
    from autoglm_agent.server.config import ServerConfig

    config = ServerConfig(model=lm.path, api_key=None)
    return PromptContext(config=config, lm=lm, shrink=model_shrinker(lm, config))


def prepare(state: Any, body: dict[str, Any]) -> Any:
    """The server's own preprocessing: body -> ``PreparedPrompt`` (input ids, mm types, pixels)."""
    from autoglm_agent.server.app import prepare_prompt
    from autoglm_agent.server.schemas import ChatCompletionRequest

    return prepare_prompt(state, ChatCompletionRequest.model_validate(body))


@dataclass
class Sample:
    """One training example: a request body and the expert's answer text."""

    body: dict[str, Any]
    answer: str
    kind: str
    step: int
    #: launcher icons visible in the screenshot (dense targets for the vision tower), with the
    #: phone's screen size
    icons: list[Any] | None = None
    screen: tuple[int, int] | None = None


def encode_sample(state: Any, sample: Sample) -> dict[str, Any]:
    """Model inputs of one sample: prompt + answer + eos, labels only on the answer tokens."""
    import torch

    prep = prepare(state, sample.body)
    tok = state.lm.tokenizer
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    answer_ids = tok(sample.answer, add_special_tokens=False)["input_ids"] + [eos]
    prompt_ids = prep.input_ids
    ids = torch.cat([prompt_ids, torch.tensor(answer_ids, dtype=prompt_ids.dtype)])
    labels = torch.full_like(ids, -100)
    labels[len(prompt_ids) :] = torch.tensor(answer_ids)
    out: dict[str, Any] = {"input_ids": ids, "labels": labels}
    for k, v in prep.per_token.items():
        out[k] = torch.cat([v, torch.zeros(len(answer_ids), dtype=v.dtype)])
    out.update(prep.per_item)
    return out


def collate(items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-padded batch; packed image tensors concatenated in order."""
    import torch

    n = max(int(it["input_ids"].shape[0]) for it in items)
    batch: dict[str, Any] = {}
    per_token = [k for k in items[0] if k not in ("pixel_values", "image_grid_thw")]
    for k in per_token:
        fill = -100 if k == "labels" else (pad_id if k == "input_ids" else 0)
        rows = []
        for it in items:
            v = it[k]
            rows.append(torch.cat([v, torch.full((n - v.shape[0],), fill, dtype=v.dtype)]))
        batch[k] = torch.stack(rows)
    mask = torch.zeros(len(items), n, dtype=torch.long)
    for i, it in enumerate(items):
        mask[i, : it["input_ids"].shape[0]] = 1
    batch["attention_mask"] = mask
    for k in ("pixel_values", "image_grid_thw"):
        if k in items[0]:
            batch[k] = torch.cat([it[k] for it in items])
    return batch


# --------------------------------------------------------------------------- a loaded model as a chat model
class LocalChat(BaseChatModel):
    """A loaded checkpoint as a LangChain chat model, through the server's preprocessing (greedy)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    state: Any
    max_new_tokens: int = 96

    @property
    def _llm_type(self) -> str:
        return "autoglm-demo-local"

    def complete(self, messages: list[BaseMessage]) -> str:
        import torch

        lm = self.state.lm
        prep = prepare(self.state, request_body(messages))
        ids = prep.input_ids[None]
        kwargs: dict[str, Any] = {k: v[None] for k, v in prep.per_token.items()}
        kwargs.update(prep.per_item)
        with torch.no_grad():
            out = lm.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                eos_token_id=sorted(lm.eos_token_ids),
                pad_token_id=lm.pad_token_id,
                **kwargs,
            )
        new = [int(t) for t in out[0, ids.shape[1] :] if int(t) not in lm.skip_token_ids]
        return lm.tokenizer.decode(new, skip_special_tokens=False)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.complete(messages)))])


# --------------------------------------------------------------------------- episodes
def random_clock(rng: random.Random) -> Callable[[], datetime]:
    """A fixed, random phone time (the status bar and the home clock show it)."""
    when = datetime(2025, 1, 1) + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
    return lambda: when


def dated_config(settings: DemoSettings, rng: random.Random | None, **overrides: Any) -> AgentConfig:
    """The checkpoint's agent config; with ``rng`` the prompt's date is a random day (training)."""
    cfg = settings.agent_config(**overrides)
    if rng is not None:
        day = datetime(2025, 1, 1) + timedelta(days=rng.randrange(3 * 365))
        lang = "zh" if settings.lang == "zh" else "en"
        cfg = cfg.model_copy(
            update={"system_prompt": settings.system_prompt.replace("{date}", format_date(day, lang))}
        )
    return cfg


def make_phone(seed: int, shuffle: bool, rng: random.Random | None = None) -> Phone:
    return Phone(seed=seed, shuffle=shuffle, clock=random_clock(rng) if rng is not None else None)


def oracle_episode(
    task: DemoTask, seed: int, shuffle: bool, settings: DemoSettings, rng: random.Random, noise: float = 0.0
) -> tuple[list[Sample], bool]:
    """Run the real agent loop with the expert; return its samples and whether the task got done."""
    phone = make_phone(seed, shuffle, rng)
    task.setup(phone)
    llm = OracleChat(phone=phone, task=task, noise=noise, seed=rng.randrange(1 << 30))
    agent = PhoneAgent(DirectDevice(phone), llm, dated_config(settings, rng), sleep=lambda s: None)
    result = agent.run(task.text)
    samples = [
        Sample(request_body(m), a, task.kind, i, icons=icons, screen=(phone.width, phone.height))
        for i, ((m, a), icons) in enumerate(zip(llm.records, llm.icons, strict=True))
    ]
    return samples, result.success and task.done(phone)


class EpisodeResult(BaseModel):
    task: DemoTask
    seed: int
    shuffle: bool
    success: bool
    status: str
    steps: int
    step_correct: list[bool] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    seconds: float = 0.0


def judge(phone: Phone, expert_call: str, answer: str) -> bool:
    """Whether the model's answer does what the expert's action does on the current screen."""
    want = A.parse_action(expert_call)
    try:
        got = A.parse_action(A.split_response(answer)[1])
    except A.ActionParseError:
        return False
    if type(got) is not type(want):
        return False
    if isinstance(want, A.Tap):
        assert isinstance(got, A.Tap)
        a = phone.node_at(*A.to_pixels(want.element, phone.width, phone.height))
        b = phone.node_at(*A.to_pixels(got.element, phone.width, phone.height))
        return a is not None and a is b
    if isinstance(want, A.Launch):
        assert isinstance(got, A.Launch)
        return got.app.strip().lower() == want.app.strip().lower()
    if isinstance(want, A.Type):
        assert isinstance(got, A.Type)
        return got.text == want.text
    return True


class _Teacher(BaseChatModel):
    """Asks the student at every step, scores it against the expert, then answers the expert's action."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    phone: Any
    task: DemoTask
    student: Any
    correct: list[bool] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "autoglm-demo-teacher"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        thought, call = expert_step(self.task, self.phone)
        self.correct.append(judge(self.phone, call, self.student.complete(messages)))
        text = f"<think>{thought}</think><answer>{call}</answer>"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def run_episode(
    student: LocalChat,
    task: DemoTask,
    seed: int,
    shuffle: bool,
    settings: DemoSettings,
    rng: random.Random | None = None,
    teacher_forced: bool = False,
) -> EpisodeResult:
    """Run ``task`` on a fresh phone with the student model (closed loop), or score each of the
    student's steps along the expert's trajectory (``teacher_forced``)."""
    t0 = time.perf_counter()
    phone = make_phone(seed, shuffle, rng)
    task.setup(phone)
    llm: BaseChatModel = _Teacher(phone=phone, task=task, student=student) if teacher_forced else student
    cfg = dated_config(settings, rng)
    agent = PhoneAgent(DirectDevice(phone), llm, cfg, sleep=lambda s: None)
    result = agent.run(task.text)
    return EpisodeResult(
        task=task,
        seed=seed,
        shuffle=shuffle,
        success=result.success and task.done(phone),
        status=result.status,
        steps=result.steps,
        step_correct=list(llm.correct) if isinstance(llm, _Teacher) else [],
        actions=[r.action_call or r.answer for r in result.records],
        seconds=time.perf_counter() - t0,
    )


def summarize(results: Iterable[EpisodeResult]) -> dict[str, dict[str, float]]:
    """Per task kind: episodes, success rate, per-step accuracy (when teacher-forced)."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        row = out.setdefault(r.task.kind, {"episodes": 0, "success": 0, "steps": 0, "steps_correct": 0})
        row["episodes"] += 1
        row["success"] += int(r.success)
        row["steps"] += len(r.step_correct)
        row["steps_correct"] += sum(r.step_correct)
    table: dict[str, dict[str, float]] = {}
    for kind, row in sorted(out.items()):
        table[kind] = {
            "episodes": row["episodes"],
            "success_rate": round(row["success"] / row["episodes"], 3),
        }
        if row["steps"]:
            table[kind]["step_accuracy"] = round(row["steps_correct"] / row["steps"], 3)
    return table


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


__all__ += [
    "collate",
    "dated_config",
    "dump_json",
    "judge",
    "make_phone",
    "random_clock",
    "server_state",
    "summarize",
]
