"""``PhoneAgent``: screenshot -> model -> one action -> perform -> record, until done.

The agent talks to the phone only through the ``Device`` protocol and to the model only through
a LangChain chat model (``ChatAutoGLM`` or any other). Everything it does is reported through
``AgentCallbacks`` and written by a ``TrajectoryRecorder`` step by step.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai.chat_models.base import BaseChatOpenAI
from PIL import ImageChops
from pydantic import BaseModel, ConfigDict, Field

from autoglm_agent import actions as A
from autoglm_agent.device.base import AppInfo, Device, DeviceError, Screenshot
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.executor import (
    ActionExecutor,
    ConfirmCallback,
    ExecResult,
    InteractCallback,
    TakeoverCallback,
)
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.multimodal import image_part
from autoglm_agent.profiles import Profile, discover_profile, select_profile
from autoglm_agent.prompts.builder import ProfilePrompts
from autoglm_agent.safetext import well_formed
from autoglm_agent.trajectory import TrajectoryRecorder

logger = logging.getLogger(__name__)

Status = Literal["success", "failure", "stopped"]

_CJK = re.compile(r"[\u3400-\u9fff]")


#: Step limit when neither the agent's settings nor the profile give one.
DEFAULT_MAX_STEPS = 30


class AgentConfig(BaseModel):
    """How a ``PhoneAgent`` runs. Every field has a default that suits the simulator and real phones.

    ``profile`` decides how requests are built for the model (see :mod:`autoglm_agent.profiles`):
    a built-in name, a ``Profile``, a JSON file, or None to choose by what the endpoint advertises
    and the model's name. The fields below that default to None override the profile's value.
    """

    model_config = ConfigDict(extra="forbid")

    profile: Profile | str | None = None
    max_steps: int | None = Field(None, ge=1, le=500)
    #: Prompt language; ``auto`` picks Chinese when the task contains Chinese characters.
    lang: Literal["auto", "zh", "en"] | None = None
    #: A full custom system prompt (``{date}`` is filled at each run), replacing the profile's.
    system_prompt: str | None = None
    #: Screenshot pixel budget sent to the model (the image is downscaled to fit, never upscaled).
    image_max_pixels: int | None = Field(None, ge=28 * 28)
    image_format: Literal["jpeg", "png"] | None = None
    #: How many times a malformed answer is shown its parse error and asked again.
    parse_retries: int = Field(2, ge=0, le=10)
    #: Endpoint failures (connection, timeout, 5xx) retried with exponential backoff.
    llm_retries: int = Field(2, ge=0, le=10)
    llm_backoff_s: float = Field(1.0, ge=0)
    #: Text of earlier turns kept within this many (estimated) tokens; images are never kept.
    history_token_budget: int | None = Field(None, ge=200)
    #: Waiting for the screen to settle after an action: stop when two captures in a row agree.
    settle_timeout_s: float = Field(3.0, ge=0)
    settle_interval_s: float = Field(0.05, ge=0)
    #: If the screen still shows the pre-action frame, keep looking at least this long.
    settle_min_change_s: float = Field(0.4, ge=0)
    #: The same action on an unchanged screen this many times in a row ends the run.
    loop_limit: int = Field(3, ge=2)
    #: Where trajectories go (one folder per run); None records nothing.
    trajectory_dir: Path | None = None
    max_wait_s: float = Field(10.0, ge=0)


class StepTimings(BaseModel):
    screenshot_s: float = 0.0
    model_s: float = 0.0
    action_s: float = 0.0
    settle_s: float = 0.0
    total_s: float = 0.0

    @property
    def device_s(self) -> float:
        return self.screenshot_s + self.action_s + self.settle_s


class StepRecord(BaseModel):
    """One step of a run, as written to the trajectory's JSONL."""

    index: int
    app: str | None = None
    screen_size: tuple[int, int] | None = None
    secure_screen: bool = False
    reasoning: str | None = None
    answer: str = ""
    action: dict[str, Any] | None = None
    action_call: str | None = None
    outcome: str = ""
    message: str = ""
    parse_errors: list[str] = Field(default_factory=list)
    error: str | None = None
    timings: StepTimings = Field(default_factory=StepTimings)
    screenshot: str | None = None


class AgentResult(BaseModel):
    status: Status
    message: str
    task: str
    steps: int
    records: list[StepRecord] = Field(default_factory=list)
    total_s: float = 0.0
    model_s: float = 0.0
    device_s: float = 0.0
    trajectory_dir: Path | None = None

    @property
    def success(self) -> bool:
        return self.status == "success"


class AgentCallbacks:
    """Hooks for progress; override what you need. All are called on the agent's thread."""

    def on_transcript(self, text: str) -> None:
        """The transcript of a spoken command, before the run starts."""

    def on_run_start(self, task: str) -> None: ...

    def on_step_start(self, index: int, screenshot: Screenshot, app: str | None) -> None: ...

    def on_thinking(self, text: str) -> None:
        """A piece of the model's reasoning as it streams."""

    def on_answer(self, text: str) -> None:
        """A piece of the model's answer as it streams."""

    def on_parse_error(self, index: int, error: str, answer: str) -> None: ...

    def on_retry(self, index: int, attempt: int, error: str) -> None: ...

    def on_action(self, index: int, action: A.Action) -> None: ...

    def on_step_end(self, record: StepRecord) -> None: ...

    def on_run_end(self, result: AgentResult) -> None: ...


class ScreenSignature:
    """A grey thumbnail of a screenshot (about 360x800), compared for any visible change.

    Two frames count as the same screen when no thumbnail pixel differs by more than
    ``threshold`` grey levels, or when the pixels that do all lie within one thin vertical band
    (``cursor_width`` thumbnail pixels: a blinking text cursor). Anything wider is a change: a
    toggled switch, a new page, one character edited in a text field at 1080x2400.
    """

    __slots__ = ("thumb",)
    threshold = 24

    def __init__(self, image: Any) -> None:
        factor = max(1, min(image.width // 360, image.height // 800))
        self.thumb = image.convert("L").reduce(factor)

    @property
    def cursor_width(self) -> int:
        return max(2, self.thumb.width // 120)

    def same_as(self, other: ScreenSignature | None) -> bool:
        if other is None or other.thumb.size != self.thumb.size:
            return False
        changed = ImageChops.difference(self.thumb, other.thumb).point(
            lambda v: 255 if v > self.threshold else 0
        )
        box = changed.getbbox()
        return box is None or box[2] - box[0] <= self.cursor_width


def estimate_tokens(text: str) -> int:
    """Rough token count: about 3 characters a token for Latin text, 1 for CJK."""
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk) // 3 + 1


class _ModelError(Exception):
    """Internal: the chat model raised while producing an answer (callbacks' errors are not wrapped)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _StepFailed(Exception):
    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PhoneAgent:
    """Runs tasks on one device with one chat model."""

    def __init__(
        self,
        device: Device,
        llm: BaseChatModel,
        config: AgentConfig | None = None,
        *,
        callbacks: AgentCallbacks | None = None,
        confirm: ConfirmCallback | None = None,
        takeover: TakeoverCallback | None = None,
        interact: InteractCallback | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.device = device
        self.llm = llm
        self.config = config or AgentConfig()
        self.callbacks = callbacks or AgentCallbacks()
        self.profile = self._select_profile()
        self._prompts = ProfilePrompts(self.profile)
        self.executor = ActionExecutor(
            device,
            confirm=confirm,
            takeover=takeover,
            interact=interact,
            max_wait_s=self.config.max_wait_s,
            timings=self.profile.timings,
            app_packages=self._prompts.app_packages,
            sleep=sleep,
        )
        self._clock = clock
        self._sleep = sleep
        self._task: str | None = None
        self._reset_state()

    # ------------------------------------------------------------------ profile
    def _select_profile(self) -> Profile:
        """The configured profile; with none, what the endpoint advertises, else by model name."""
        requested = self.config.profile
        model = getattr(self.llm, "model_name", None)
        advertised = None
        if (
            requested in (None, "", "auto")
            and isinstance(self.llm, BaseChatOpenAI)
            and self.llm.openai_api_base
        ):
            key = self.llm.openai_api_key
            advertised = discover_profile(
                self.llm.openai_api_base, str(model), key.get_secret_value() if key is not None else None
            )
        return select_profile(requested, model=model, advertised=advertised)

    @property
    def max_steps(self) -> int:
        return self.config.max_steps or self.profile.max_steps or DEFAULT_MAX_STEPS

    def _request_params(self, attempt: int = 0) -> dict[str, Any]:
        """Per-request settings from the profile, for the ones the chat model was not given itself."""
        if not isinstance(self.llm, BaseChatOpenAI):
            return {}
        own = self.llm.model_fields_set
        params = {k: v for k, v in self.profile.sampling.request_params().items() if k not in own}
        if attempt and self.profile.parse_retry == "resample" and "temperature" not in own:
            params["temperature"] = min(1.0, (params.get("temperature") or 0.0) + 0.3 * attempt)
        if (
            isinstance(self.llm, ChatAutoGLM)
            and not self.profile.thinking_params
            and not (own & {"enable_thinking", "return_reasoning", "send_thinking_params"})
        ):
            params["send_thinking_params"] = False
        return params

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self._turns: list[tuple[str, str]] = []  # (user text, assistant answer) of finished steps
        self._records: list[StepRecord] = []
        self._pending_feedback: str | None = None
        self._next_screenshot: Screenshot | None = None
        self._next_signature: ScreenSignature | None = None
        self._last_action: str | None = None
        self._repeats = 0
        self._result: AgentResult | None = None
        self._finalized = False
        self._recorder: TrajectoryRecorder | None = None
        self._started_at = 0.0
        self._system = ""
        self._lang: Literal["zh", "en"] = "en"

    @property
    def records(self) -> list[StepRecord]:
        return list(self._records)

    @property
    def result(self) -> AgentResult | None:
        """The result once the run has ended (finish, failure or stop), else None."""
        return self._result

    def reset(self, task: str) -> None:
        """Start a new task without running it; then call ``step()`` until ``result`` is set."""
        if not task.strip():
            raise AutoGLMError("the task is empty; say what the phone should do, e.g. 'open settings'")
        self._reset_state()
        self._task = well_formed(task.strip())
        lang = self.config.lang or self.profile.lang
        if lang == "auto":
            lang = "zh" if _CJK.search(self._task) else "en"
        self._lang = lang
        self._system = self._prompts.system_prompt(lang, override=self.config.system_prompt)
        self._started_at = self._clock()
        if self.config.trajectory_dir is not None:
            self._recorder = TrajectoryRecorder.create(self.config.trajectory_dir, self._task)
            self._recorder.write_meta(
                {
                    "task": self._task,
                    "lang": lang,
                    "profile": self.profile.model_dump(mode="json"),
                    "config": self.config.model_dump(mode="json", exclude={"profile"}),
                }
            )
        self.callbacks.on_run_start(self._task)

    def run(
        self,
        task: str | None = None,
        *,
        audio: str | Path | bytes | None = None,
        asr_model: str | Path | None = None,
    ) -> AgentResult:
        """Run ``task`` to the end and return the result (never raises for expected failures).

        With ``audio`` (a wav/mp3 path or bytes) instead of ``task``, the spoken command is first
        transcribed with a local speech-recognition checkpoint (``asr_model``; default: the
        repo's demo ``model/asr``) and the transcript becomes the task.
        """
        if audio is not None:
            if task is not None:
                raise AutoGLMError("give either a task or audio, not both")
            from autoglm_agent.voice import transcribe

            task = transcribe(audio, model=asr_model)
            self.callbacks.on_transcript(task)
        if task is None:
            raise AutoGLMError("no task: pass the task text, or audio= with a spoken command")
        self.reset(task)
        try:
            while self._result is None:
                self.step()
        except KeyboardInterrupt:
            self._interrupted()
            raise
        return self._result

    def _interrupted(self) -> None:
        """Ctrl-C (``KeyboardInterrupt``) mid-run: end the run as ``stopped``, write its result and
        finish its report, so that the run folder says what happened. The caller re-raises."""
        if self._task is None:
            return
        if self._result is None:
            done = len(self._records)
            self._end("stopped", f"interrupted (Ctrl-C) after {done} step(s), during step {done + 1}")
        elif self._finalized:
            return
        try:
            self._finalize()
        except AutoGLMError as exc:  # the trajectory folder could not be written: still re-raise
            logger.warning("could not record the interrupted run: %s", exc)

    # ------------------------------------------------------------------ one step
    def step(self) -> StepRecord:
        """Perform one step of the current task and return its record."""
        if self._task is None:
            raise AutoGLMError("no task: call reset(task) or run(task) first")
        if self._result is not None:
            raise AutoGLMError("this run has ended; call reset(task) or run(task) to start another")
        index = len(self._records) + 1
        record = StepRecord(index=index)
        t0 = self._clock()
        shot: Screenshot | None = None
        try:
            shot, app = self._observe(record)
            self.callbacks.on_step_start(index, shot, str(app))
            user_text = self._user_text(self._prompts.app_name(app, self._lang), shot)
            action = self._decide(record, user_text, shot)
            self.callbacks.on_action(index, action)
            record.action = action.model_dump(mode="json")
            record.action_call = action.to_call()
            pre = self._next_signature or ScreenSignature(shot.image)
            self._next_signature = None
            t = self._clock()
            outcome = self.executor.execute(action, shot.size)
            record.timings.action_s = self._clock() - t
            record.outcome, record.message = outcome.outcome, outcome.message
            self._turns.append((user_text, self._prompts.assistant_text(record.reasoning, record.answer)))
            self._after_action(record, action, outcome, pre)
        except _StepFailed as exc:
            record.outcome = exc.status
            record.error = exc.message
            self._end(exc.status, exc.message)
        except DeviceError as exc:
            record.outcome = "failure"
            record.error = str(exc)
            self._end("failure", f"device error: {exc}")
        record.timings.total_s = self._clock() - t0
        self._records.append(record)
        if self._recorder is not None and shot is not None:
            record.screenshot = self._recorder.save_screenshot(index, shot.image, record.action)
        if self._recorder is not None:
            self._recorder.append_step(record.model_dump(mode="json"))
        self.callbacks.on_step_end(record)
        if self._result is None and index >= self.max_steps:
            self._end("stopped", f"reached the step limit ({self.max_steps}) before the task finished")
        if self._result is not None:
            self._finalize()
        return record

    def _observe(self, record: StepRecord) -> tuple[Screenshot, AppInfo]:
        t = self._clock()
        shot = self._next_screenshot or self.device.screenshot()
        self._next_screenshot = None
        info = self.device.current_app()
        record.timings.screenshot_s = self._clock() - t
        record.app, record.screen_size, record.secure_screen = str(info), shot.size, shot.secure
        return shot, info

    def _user_text(self, app: str | None, shot: Screenshot) -> str:
        feedback, self._pending_feedback = self._pending_feedback, None
        return self._prompts.user_text(
            self._task or "",
            app,
            first=not self._turns,
            lang=self._lang,
            feedback=feedback,
            secure=shot.secure,
        )

    def _history(self) -> list[BaseMessage]:
        """Earlier turns as text, newest kept first, within the token budget; the task always stays."""
        budget = self.config.history_token_budget or self.profile.history_token_budget
        kept: list[tuple[str, str]] = []
        first = self._turns[:1]
        used = sum(estimate_tokens(u) + estimate_tokens(a) for u, a in first)
        for user, answer in reversed(self._turns[1:]):
            cost = estimate_tokens(user) + estimate_tokens(answer)
            if used + cost > budget:
                break
            kept.append((user, answer))
            used += cost
        messages: list[BaseMessage] = []
        for user, answer in first + list(reversed(kept)):
            # the reference keeps an earlier turn as its list of parts, the image taken out
            content: Any = [{"type": "text", "text": user}] if self.profile.layout == "autoglm" else user
            messages.append(HumanMessage(content=content))
            messages.append(AIMessage(content=answer))
        return messages

    def _decide(self, record: StepRecord, user_text: str, shot: Screenshot) -> A.Action:
        image_opts: dict[str, Any] = {
            "format": self.config.image_format or self.profile.image_format,
            "max_pixels": self.config.image_max_pixels or self.profile.image_max_pixels,
        }
        # media first, then text: the order GLM-4.1V models are trained on
        current = HumanMessage(
            content=[image_part(shot.image, **image_opts), {"type": "text", "text": user_text}]
        )
        messages: list[BaseMessage] = [SystemMessage(content=self._system), *self._history(), current]
        for attempt in range(self.config.parse_retries + 1):
            t = self._clock()
            reasoning, answer = self._call_model(record.index, messages, self._request_params(attempt))
            record.timings.model_s += self._clock() - t
            record.reasoning, record.answer = reasoning, answer
            try:
                return A.parse_action(answer)
            except A.ActionParseError as exc:
                error = str(exc)
                record.parse_errors.append(error)
                self.callbacks.on_parse_error(record.index, error, answer)
                if attempt == self.config.parse_retries:
                    raise _StepFailed(
                        "failure",
                        f"the model gave no valid action after {attempt + 1} tries; last error: {error}",
                    ) from None
                if self.profile.parse_retry == "explain":
                    messages = [*messages, AIMessage(content=answer), HumanMessage(content=error)]
        raise AssertionError("unreachable")

    def _call_model(
        self, index: int, messages: list[BaseMessage], params: dict[str, Any]
    ) -> tuple[str | None, str]:
        attempts = self.config.llm_retries + 1
        for attempt in range(attempts):
            try:
                return self._stream_once(messages, params)
            except _ModelError as wrapped:  # raised by the chat model, not by a callback
                exc = wrapped.cause
                retryable, text = _classify_endpoint_error(exc)
                if text is None:  # an answer that is not a chat completion (an HTML page, bad JSON)
                    logger.warning("the chat model raised an unexpected error", exc_info=exc)
                    retryable, text = False, _unreadable_answer(exc)
                if not retryable or attempt == attempts - 1:
                    raise _StepFailed("failure", text) from None
                self.callbacks.on_retry(index, attempt + 1, text)
                self._sleep(self.config.llm_backoff_s * (2**attempt))
        raise AssertionError("unreachable")

    def _stream_once(self, messages: list[BaseMessage], params: dict[str, Any]) -> tuple[str | None, str]:
        reasoning_parts: list[str] = []
        content_parts: list[str] = []
        stream = iter(_stream(self.llm, messages, params))
        while True:
            try:
                chunk = next(stream)
            except StopIteration:
                break
            except Exception as exc:
                raise _ModelError(exc) from exc
            piece = chunk.additional_kwargs.get("reasoning_content") or chunk.additional_kwargs.get(
                "reasoning"
            )
            if isinstance(piece, str) and piece:
                reasoning_parts.append(piece)
                self.callbacks.on_thinking(well_formed(piece))
            text = chunk.content if isinstance(chunk.content, str) else _text_of(chunk.content)
            if text:
                content_parts.append(text)
                self.callbacks.on_answer(well_formed(text))
        # a JSON "\ud800" from the endpoint is a lone surrogate here: no file, terminal or phone
        # can take it (a pair split over two chunks is joined again)
        content = well_formed("".join(content_parts))
        reasoning = well_formed("".join(reasoning_parts)) or None
        tag_reasoning, answer = A.split_response(content)
        if reasoning is None:
            reasoning = tag_reasoning
        return reasoning, answer.strip()

    def _after_action(
        self, record: StepRecord, action: A.Action, outcome: ExecResult, pre: ScreenSignature
    ) -> None:
        if outcome.outcome == "finished":
            self._end("success", outcome.message or "task finished")
            return
        if outcome.outcome == "stop":
            self._end("stopped", outcome.message)
            return
        if outcome.outcome == "feedback":
            self._pending_feedback = self._prompts.feedback(action, outcome, self._lang)
        unchanged = True
        if outcome.touched_screen:
            t = self._clock()
            shot, post = self._settle(pre)
            record.timings.settle_s = self._clock() - t
            self._next_screenshot, self._next_signature = shot, post
            unchanged = post.same_as(pre)
        # loop detection: the same action again on a screen it did not change
        if unchanged and record.action_call == self._last_action:
            self._repeats += 1
        else:
            self._repeats = 1 if unchanged else 0
        self._last_action = record.action_call
        if self._repeats >= self.config.loop_limit:
            self._end(
                "stopped",
                f"loop detected: {record.action_call} repeated {self._repeats} times on an unchanged screen",
            )

    def _settle(self, pre: ScreenSignature) -> tuple[Screenshot, ScreenSignature]:
        """Capture until two successive frames agree (bounded); the last capture is reused next step.

        A frame identical to the pre-action screen is only accepted after ``settle_min_change_s``,
        since a real phone may not have reacted yet.
        """
        cfg = self.config
        start = self._clock()
        last = self.device.screenshot()
        last_sig = ScreenSignature(last.image)
        last_at = start
        while self._clock() - start < cfg.settle_timeout_s:
            gap = cfg.settle_interval_s - (self._clock() - last_at)
            if gap > 0:
                self._sleep(gap)
            last_at = self._clock()
            shot = self.device.screenshot()
            sig = ScreenSignature(shot.image)
            if sig.same_as(last_sig) and (
                not sig.same_as(pre) or self._clock() - start >= cfg.settle_min_change_s
            ):
                return shot, sig
            last, last_sig = shot, sig
        return last, last_sig

    # ------------------------------------------------------------------ end of run
    def _end(self, status: Status, message: str) -> None:
        if status != "success":  # a status line: one line, whatever the server or the model sent
            message = " ".join(message.split())
        if self._result is None:  # the first reason to end wins
            self._result = AgentResult(
                status=status,
                message=message,
                task=self._task or "",
                steps=0,
                trajectory_dir=self._recorder.path if self._recorder else None,
            )

    def _finalize(self) -> None:
        assert self._result is not None
        result = self._result
        result.records = list(self._records)
        result.steps = len(self._records)
        result.total_s = self._clock() - self._started_at
        result.model_s = sum(r.timings.model_s for r in self._records)
        result.device_s = sum(r.timings.device_s for r in self._records)
        if self._recorder is not None:
            self._recorder.finish(result.model_dump(mode="json", exclude={"records"}))
        self._finalized = True
        self.callbacks.on_run_end(result)


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) and part.get("type") == "text" else ""
            for part in content
        )
    return str(content or "")


def _stream(llm: BaseChatModel, messages: list[BaseMessage], params: dict[str, Any]) -> Iterator[Any]:
    yield from llm.stream(messages, **params)


def _classify_endpoint_error(exc: Exception) -> tuple[bool, str | None]:
    """(retryable, one-line message) for endpoint failures; (False, None) for anything else."""
    import openai

    base = "the model endpoint"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return False, f"{base} refused the API key (HTTP {exc.status_code}); pass the right --api-key"
    if isinstance(exc, openai.NotFoundError):
        return (
            False,
            f"{base} does not know this model or path (HTTP 404): {_api_message(exc)}; check --model and --base-url",
        )
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return False, f"{base} rejected the request (HTTP {exc.status_code}): {_api_message(exc)}"
    if isinstance(exc, openai.APITimeoutError):
        return True, f"{base} timed out; check that it is running and not overloaded"
    if isinstance(exc, openai.APIConnectionError | ConnectionError):
        return True, f"{base} is not reachable ({exc}); start it (autoglm-agent serve) or check --base-url"
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return True, f"{base} failed (HTTP {exc.status_code}): {_api_message(exc)}"
    if isinstance(exc, openai.APIStatusError):
        return False, f"{base} failed (HTTP {exc.status_code}): {_api_message(exc)}"
    if isinstance(exc, openai.APIError):  # an error event inside a streamed answer
        return True, f"{base} reported an error: {_api_message(exc)}"
    return False, None


def _unreadable_answer(exc: Exception) -> str:
    detail = " ".join(str(exc).split())[:200] or "no details"
    return (
        f"the model endpoint sent an answer that is not a chat completion ({type(exc).__name__}: {detail}); "
        "check that --base-url points at an OpenAI-compatible /v1 endpoint"
    )


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))
