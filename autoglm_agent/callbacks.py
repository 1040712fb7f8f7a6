"""Ready-made ``AgentCallbacks``: a bridge to LangChain callbacks/tracing, console output, logging.

``LangChainEventsCallbacks`` makes a ``PhoneAgent`` run visible to whatever LangChain run it
happens inside (typically the ``phone_run_task`` tool of :mod:`autoglm_agent.tools`, called by
an outer agent):

* every step becomes a child run named ``autoglm_step`` (run type ``chain``; inputs: step index,
  foreground app, screen size; outputs: the step record with reasoning, action and outcome),
  and the phone model's own chat-model run is nested inside it. This is what LangSmith records
  (LangSmith's tracer ignores custom events, so the child runs are how the steps reach it);
* custom events, which ``astream_events(version="v2")`` yields as ``on_custom_event``:
  ``autoglm_run_start``, ``autoglm_step_start``, ``autoglm_thinking`` (the model's reasoning as it
  streams), ``autoglm_action``, ``autoglm_parse_error``, ``autoglm_retry``, ``autoglm_step_end``,
  ``autoglm_run_end``. Their ``data`` is a JSON-able dict that always has ``"step"`` (0 for the
  run-level events) and ``"task"``.

Which LangChain run is the parent: the ``run_manager`` given (a tool's ``_run`` receives one),
else the runnable ``config`` given, else the run the current code executes in (LangChain keeps
it in a context variable inside tools and ``RunnableLambda``). Outside any run the bridge does
nothing, so the same agent code works in plain scripts.

``PrintCallbacks`` writes a compact, streamed transcript of each step to a text stream;
``LoggingCallbacks`` writes one log record a step; ``MultiCallbacks`` fans out to several.
"""

from __future__ import annotations

import logging
import sys
from contextvars import Token
from typing import Any, Literal, TextIO
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    AsyncCallbackManagerForToolRun,
    BaseCallbackManager,
    CallbackManager,
    CallbackManagerForChainRun,
    CallbackManagerForToolRun,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_callback_manager_for_config,
    patch_config,
    var_child_runnable_config,
)

from autoglm_agent import actions as A
from autoglm_agent.agent import AgentCallbacks, AgentResult, StepRecord
from autoglm_agent.device.base import Screenshot
from autoglm_agent.multimodal import image_part

__all__ = [
    "EVENT_ACTION",
    "EVENT_NAMES",
    "EVENT_PARSE_ERROR",
    "EVENT_RETRY",
    "EVENT_RUN_END",
    "EVENT_RUN_START",
    "EVENT_STEP_END",
    "EVENT_STEP_START",
    "EVENT_THINKING",
    "STEP_RUN_NAME",
    "LangChainEventsCallbacks",
    "LoggingCallbacks",
    "MultiCallbacks",
    "PrintCallbacks",
]

logger = logging.getLogger(__name__)

EVENT_RUN_START = "autoglm_run_start"
EVENT_STEP_START = "autoglm_step_start"
EVENT_THINKING = "autoglm_thinking"
EVENT_ACTION = "autoglm_action"
EVENT_PARSE_ERROR = "autoglm_parse_error"
EVENT_RETRY = "autoglm_retry"
EVENT_STEP_END = "autoglm_step_end"
EVENT_RUN_END = "autoglm_run_end"
#: Every custom event name the bridge dispatches, in the order they occur in a run.
EVENT_NAMES = (
    EVENT_RUN_START,
    EVENT_STEP_START,
    EVENT_THINKING,
    EVENT_ACTION,
    EVENT_PARSE_ERROR,
    EVENT_RETRY,
    EVENT_STEP_END,
    EVENT_RUN_END,
)
#: Name of the child run each phone step becomes (LangSmith, ``astream_events``' on_chain_*).
STEP_RUN_NAME = "autoglm_step"
#: Pixel budget of the optional screenshot thumbnails attached to ``autoglm_step_start``.
THUMBNAIL_MAX_PIXELS = 224 * 476

ThinkingMode = Literal["stream", "step", "off"]
RunManagerLike = (
    CallbackManagerForToolRun
    | CallbackManagerForChainRun
    | AsyncCallbackManagerForToolRun
    | AsyncCallbackManagerForChainRun
)


class LangChainEventsCallbacks(AgentCallbacks):
    """Report a ``PhoneAgent`` run to LangChain: step child runs plus ``autoglm_*`` custom events.

    Args:
        run_manager: the run the phone agent works for (a tool's ``run_manager``); sync or async.
        config: a ``RunnableConfig`` whose callbacks name the parent run (used without run_manager).
        thinking: ``"stream"`` sends each reasoning piece as it arrives (one ``autoglm_thinking``
            event per streamed chunk), ``"step"`` one event per model answer with the whole
            reasoning, ``"off"`` none (the reasoning is still in ``autoglm_step_end``).
        step_runs: make each step a child run (``autoglm_step``) and nest the phone model's run
            in it; off, only the custom events are sent.
        screenshots: attach a small JPEG data URL of the screen (``"thumbnail"``) to
            ``autoglm_step_start``; off by default because it makes every event stream heavy.
        record_events: also keep every event in :attr:`sent` (tests, notebooks, debugging).

    Call :meth:`close` when the run is over (or abandoned): it ends a step run left open by an
    unexpected exception. ``PhoneToolkit``'s run-task tool does that for you.
    """

    def __init__(
        self,
        run_manager: RunManagerLike | None = None,
        *,
        config: RunnableConfig | None = None,
        thinking: ThinkingMode = "stream",
        step_runs: bool = True,
        screenshots: bool = False,
        record_events: bool = False,
    ) -> None:
        if thinking not in ("stream", "step", "off"):
            raise ValueError(f"thinking must be 'stream', 'step' or 'off', not {thinking!r}")
        if isinstance(run_manager, AsyncCallbackManagerForToolRun | AsyncCallbackManagerForChainRun):
            run_manager = run_manager.get_sync()
        self._run_manager = run_manager
        self._config = config
        self.thinking: ThinkingMode = thinking
        self.step_runs = step_runs
        self.screenshots = screenshots
        self._parent: CallbackManager | None = None
        self._base_config: RunnableConfig | None = None
        self._task = ""
        self._step = 0
        self._step_run: CallbackManagerForChainRun | None = None
        self._token: Token[RunnableConfig | None] | None = None
        self._thinking_parts: list[str] = []
        self.record_events = record_events
        #: With ``record_events``: every event so far as ``(name, data)``, dispatched or not.
        self.sent: list[tuple[str, dict[str, Any]]] = []

    # ------------------------------------------------------------------ plumbing
    def _resolve_parent(self) -> CallbackManager | None:
        """The callback manager whose parent run receives our events (None: no run around us)."""
        if self._run_manager is not None:
            self._base_config = patch_config(
                ensure_config(self._config), callbacks=self._run_manager.get_child()
            )
            return self._run_manager.get_child()
        config = ensure_config(self._config)  # without a config: the run this code executes in
        manager = get_callback_manager_for_config(config)
        if manager.parent_run_id is None:
            logger.debug("no parent LangChain run: autoglm events are not dispatched")
            return None
        self._base_config = config
        return manager

    @property
    def parent_run_id(self) -> UUID | None:
        """The run the events are attached to (after the run started; None outside LangChain)."""
        return self._parent.parent_run_id if self._parent is not None else None

    def _current(self) -> tuple[BaseCallbackManager, UUID] | None:
        if self._step_run is not None:
            return self._step_run.get_child(), self._step_run.run_id
        if self._parent is not None and self._parent.parent_run_id is not None:
            return self._parent, self._parent.parent_run_id
        return None

    def _send(self, name: str, data: dict[str, Any]) -> None:
        payload = {"task": self._task, "step": self._step, **data}
        if self.record_events:
            self.sent.append((name, payload))
        target = self._current()
        if target is None:
            return
        manager, run_id = target
        assert isinstance(manager, CallbackManager)
        manager.on_custom_event(name, payload, run_id=run_id)

    def _open_step_run(self, inputs: dict[str, Any]) -> None:
        if not self.step_runs or self._parent is None:
            return
        self._step_run = self._parent.on_chain_start(None, inputs, name=STEP_RUN_NAME)
        # The agent calls its chat model right after on_step_start, on this thread and in this
        # context: point the "current run" at the step so that the model's run nests inside it.
        step_config = patch_config(self._base_config, callbacks=self._step_run.get_child())
        self._token = var_child_runnable_config.set(step_config)

    def _close_step_run(self, outputs: dict[str, Any] | None, error: BaseException | None = None) -> None:
        if self._token is not None:
            try:
                var_child_runnable_config.reset(self._token)
            except ValueError:  # reset from another context: restore the parent config instead
                var_child_runnable_config.set(self._base_config)
            self._token = None
        run, self._step_run = self._step_run, None
        if run is None:
            return
        if error is not None:
            run.on_chain_error(error)
        else:
            run.on_chain_end(outputs or {})

    def _flush_thinking(self) -> None:
        if self.thinking == "step" and self._thinking_parts:
            text = "".join(self._thinking_parts)
            self._thinking_parts = []
            self._send(EVENT_THINKING, {"text": text})

    def close(self) -> None:
        """End a step run left open (the run raised mid-step). Safe to call more than once."""
        if self._step_run is not None or self._token is not None:
            self._close_step_run(None, RuntimeError("the phone agent stopped in the middle of a step"))

    # ------------------------------------------------------------------ AgentCallbacks
    def on_run_start(self, task: str) -> None:
        self.close()
        self._task = task
        self._step = 0
        self._parent = self._resolve_parent()
        self._send(EVENT_RUN_START, {})

    def on_step_start(self, index: int, screenshot: Screenshot, app: str | None) -> None:
        self._close_step_run(None, RuntimeError("a new step started before the last one ended"))
        self._step = index
        self._thinking_parts = []
        inputs: dict[str, Any] = {
            "step": index,
            "app": app,
            "screen_size": [screenshot.width, screenshot.height],
            "secure_screen": screenshot.secure,
        }
        self._open_step_run({"task": self._task, **inputs})
        data = dict(inputs)
        if self.screenshots:
            data["thumbnail"] = image_part(screenshot.image, max_pixels=THUMBNAIL_MAX_PIXELS)["image_url"][
                "url"
            ]
        self._send(EVENT_STEP_START, data)

    def on_thinking(self, text: str) -> None:
        if self.thinking == "stream":
            self._send(EVENT_THINKING, {"text": text})
        elif self.thinking == "step":
            self._thinking_parts.append(text)

    def on_parse_error(self, index: int, error: str, answer: str) -> None:
        self._flush_thinking()
        self._send(EVENT_PARSE_ERROR, {"error": error, "answer": answer})

    def on_retry(self, index: int, attempt: int, error: str) -> None:
        self._thinking_parts = []
        self._send(EVENT_RETRY, {"attempt": attempt, "error": error})

    def on_action(self, index: int, action: A.Action) -> None:
        self._flush_thinking()
        self._send(EVENT_ACTION, {"action": action.model_dump(mode="json"), "call": action.to_call()})

    def on_step_end(self, record: StepRecord) -> None:
        self._step = record.index
        self._flush_thinking()
        data = record.model_dump(mode="json")
        self._send(EVENT_STEP_END, data)
        self._close_step_run(data)

    def on_run_end(self, result: AgentResult) -> None:
        self._close_step_run(None)
        self._step = 0
        self._send(
            EVENT_RUN_END,
            {
                "status": result.status,
                "message": result.message,
                "steps": result.steps,
                "total_s": round(result.total_s, 3),
                "trajectory_dir": str(result.trajectory_dir) if result.trajectory_dir else None,
            },
        )


class MultiCallbacks(AgentCallbacks):
    """Forward every hook to each of ``callbacks`` in order (``PhoneAgent`` takes only one)."""

    def __init__(self, *callbacks: AgentCallbacks | None) -> None:
        self.callbacks: list[AgentCallbacks] = [cb for cb in callbacks if cb is not None]

    def _each(self, name: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, name)(*args)

    def on_run_start(self, task: str) -> None:
        self._each("on_run_start", task)

    def on_step_start(self, index: int, screenshot: Screenshot, app: str | None) -> None:
        self._each("on_step_start", index, screenshot, app)

    def on_thinking(self, text: str) -> None:
        self._each("on_thinking", text)

    def on_answer(self, text: str) -> None:
        self._each("on_answer", text)

    def on_parse_error(self, index: int, error: str, answer: str) -> None:
        self._each("on_parse_error", index, error, answer)

    def on_retry(self, index: int, attempt: int, error: str) -> None:
        self._each("on_retry", index, attempt, error)

    def on_action(self, index: int, action: A.Action) -> None:
        self._each("on_action", index, action)

    def on_step_end(self, record: StepRecord) -> None:
        self._each("on_step_end", record)

    def on_run_end(self, result: AgentResult) -> None:
        self._each("on_run_end", result)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PrintCallbacks(AgentCallbacks):
    """A compact transcript for scripts; the reasoning streams as it arrives::

        task: open settings
        [1] com.android.launcher3 (720x1600)
            thinking: The home screen is shown; I launch Settings.
            action: do(action="Launch", app="Settings") -> done (0.31 s)
        [2] com.android.settings/.Settings (720x1600)
            ...
        success: Settings is open (2 steps, 1.2 s)

    ``file`` defaults to ``sys.stdout`` at the time of each write (so pytest's capture works).
    """

    def __init__(
        self, file: TextIO | None = None, *, show_thinking: bool = True, indent: str = "    "
    ) -> None:
        self._file = file
        self.show_thinking = show_thinking
        self.indent = indent
        self._in_thinking = False

    def _write(self, text: str) -> None:
        out = self._file or sys.stdout
        out.write(text)
        out.flush()

    def _end_thinking(self) -> None:
        if self._in_thinking:
            self._write("\n")
            self._in_thinking = False

    def on_run_start(self, task: str) -> None:
        self._write(f"task: {task}\n")

    def on_step_start(self, index: int, screenshot: Screenshot, app: str | None) -> None:
        secure = ", secure screen" if screenshot.secure else ""
        self._write(f"[{index}] {app or 'unknown app'} ({screenshot.width}x{screenshot.height}{secure})\n")

    def on_thinking(self, text: str) -> None:
        if not self.show_thinking:
            return
        if not self._in_thinking:
            self._write(f"{self.indent}thinking: ")
            self._in_thinking = True
        self._write(text.replace("\n", "\n" + self.indent + "  "))

    def on_parse_error(self, index: int, error: str, answer: str) -> None:
        self._end_thinking()
        self._write(f"{self.indent}unparseable answer ({_one_line(error, 120)}): {_one_line(answer, 120)}\n")

    def on_retry(self, index: int, attempt: int, error: str) -> None:
        self._end_thinking()
        self._write(f"{self.indent}retry {attempt}: {_one_line(error)}\n")

    def on_action(self, index: int, action: A.Action) -> None:
        self._end_thinking()
        self._write(f"{self.indent}action: {action.to_call()}")

    def on_step_end(self, record: StepRecord) -> None:
        self._end_thinking()
        if record.action_call is None:  # no action was reached: say why on a line of its own
            self._write(f"{self.indent}{record.outcome or 'failed'}: {_one_line(record.error or '')}\n")
            return
        detail = f": {_one_line(record.message, 120)}" if record.message else ""
        self._write(f" -> {record.outcome or 'done'}{detail} ({record.timings.total_s:.2f} s)\n")

    def on_run_end(self, result: AgentResult) -> None:
        self._end_thinking()
        self._write(f"{result.status}: {result.message} ({result.steps} steps, {result.total_s:.1f} s)\n")


class LoggingCallbacks(AgentCallbacks):
    """One ``logging`` record per step (INFO) and per run; reasoning at DEBUG."""

    def __init__(self, logger_: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        self.logger = logger_ or logging.getLogger("autoglm_agent.run")
        self.level = level
        self._thinking: list[str] = []

    def on_run_start(self, task: str) -> None:
        self.logger.log(self.level, "task started: %s", task)

    def on_step_start(self, index: int, screenshot: Screenshot, app: str | None) -> None:
        self._thinking = []

    def on_thinking(self, text: str) -> None:
        self._thinking.append(text)

    def on_parse_error(self, index: int, error: str, answer: str) -> None:
        self.logger.warning("step %d: unparseable answer (%s): %s", index, error, _one_line(answer, 300))

    def on_retry(self, index: int, attempt: int, error: str) -> None:
        self.logger.warning("step %d: endpoint retry %d: %s", index, attempt, error)

    def on_step_end(self, record: StepRecord) -> None:
        if self._thinking and self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("step %d thinking: %s", record.index, "".join(self._thinking))
        self.logger.log(
            self.level,
            "step %d [%s] %s -> %s%s (%.2f s)",
            record.index,
            record.app or "unknown app",
            record.action_call or "no action",
            record.outcome or "failed",
            f": {record.message or record.error}" if (record.message or record.error) else "",
            record.timings.total_s,
        )

    def on_run_end(self, result: AgentResult) -> None:
        self.logger.log(
            self.level,
            "task %s after %d steps (%.1f s): %s",
            result.status,
            result.steps,
            result.total_s,
            result.message,
        )
