"""Turn a parsed ``Action`` into calls on a ``Device``.

The executor knows the action space and the ``Device`` protocol, nothing about ADB or models.
Sensitive taps, takeovers and questions to the user go through callbacks; when nobody is there
to answer (no callback), they fail closed: nothing is done on the phone and the run stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from autoglm_agent import actions as A
from autoglm_agent.device.base import AppNotFoundError, Device
from autoglm_agent.profiles import Timings

#: Asked before a sensitive tap: (message the model gave, the action) -> allowed?
ConfirmCallback = Callable[[str, A.Action], bool]
#: Asked when the model hands control to the user (login, captcha...): message -> user done?
TakeoverCallback = Callable[[str], bool]
#: Asked when the model needs the user to choose or answer: prompt -> the user's answer or None.
InteractCallback = Callable[[str], str | None]

Outcome = Literal["done", "finished", "stop", "feedback"]


@dataclass
class ExecResult:
    """What happened when an action was performed.

    ``outcome``: ``done`` (performed), ``finished`` (the task is over), ``stop`` (the run must
    stop, e.g. a sensitive action was refused), ``feedback`` (nothing was done on the phone, and
    ``message`` is shown to the model on the next turn, e.g. an app that is not installed).
    """

    outcome: Outcome
    message: str = ""
    #: Whether the screen may have changed (the agent then waits for it to settle).
    touched_screen: bool = False
    #: The bare value behind ``message`` (the user's answer to an Interact), for rewording.
    detail: str = ""


class ActionExecutor:
    """Performs actions on one device."""

    def __init__(
        self,
        device: Device,
        *,
        confirm: ConfirmCallback | None = None,
        takeover: TakeoverCallback | None = None,
        interact: InteractCallback | None = None,
        max_wait_s: float = 10.0,
        timings: Timings | None = None,
        app_packages: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.device = device
        self.confirm = confirm
        self.takeover = takeover
        self.interact = interact
        self.max_wait_s = max_wait_s
        #: Gesture durations (the profile's).
        self.timings = timings or Timings()
        #: Extra app names -> packages tried first by Launch (the reference client's table).
        self.app_packages = app_packages or {}
        self._sleep = sleep

    def execute(self, action: A.Action, screen_size: tuple[int, int]) -> ExecResult:
        width, height = screen_size

        def px(point: A.Point) -> tuple[int, int]:
            return A.to_pixels(point, width, height)

        d = self.device
        match action:
            case A.Finish(message=message):
                return ExecResult("finished", message)
            case A.Tap(element=element, message=message):
                if message is not None:
                    if self.confirm is None:
                        return ExecResult(
                            "stop",
                            f"sensitive action needs confirmation and nobody can confirm: {message}",
                        )
                    if not self.confirm(message, action):
                        return ExecResult("stop", f"the user declined the sensitive action: {message}")
                d.tap(*px(element))
                return ExecResult("done", touched_screen=True)
            case A.DoubleTap(element=element):
                d.double_tap(*px(element))
                return ExecResult("done", touched_screen=True)
            case A.LongPress(element=element):
                d.long_press(*px(element), duration_ms=self.timings.long_press_ms)
                return ExecResult("done", touched_screen=True)
            case A.Swipe(start=start, end=end):
                (x1, y1), (x2, y2) = px(start), px(end)
                d.swipe(x1, y1, x2, y2, duration_ms=self.timings.swipe_duration(x1, y1, x2, y2))
                return ExecResult("done", touched_screen=True)
            case A.Type(text=text) | A.TypeName(text=text):
                d.clear_text()
                d.type_text(text)
                return ExecResult("done", touched_screen=True)
            case A.Launch(app=app):
                try:
                    package = self._launch(app)
                except AppNotFoundError as exc:
                    return ExecResult(
                        "feedback",
                        f"Launch failed: {exc.message}. Open the app from the home screen instead.",
                    )
                return ExecResult("done", f"launched {package}", touched_screen=True)
            case A.Back():
                d.back()
                return ExecResult("done", touched_screen=True)
            case A.Home():
                d.home()
                return ExecResult("done", touched_screen=True)
            case A.Wait(seconds=seconds):
                self._sleep(min(seconds, self.max_wait_s))
                return ExecResult("done", touched_screen=True)
            case A.TakeOver(message=message):
                if self.takeover is None:
                    return ExecResult("stop", f"the model asked the user to take over: {message}")
                if not self.takeover(message):
                    return ExecResult("stop", f"the user did not complete the takeover: {message}")
                return ExecResult("done", "the user finished the manual step", touched_screen=True)
            case A.Interact():
                if self.interact is None:
                    return ExecResult("stop", "the model needs the user to choose, and nobody can answer")
                answer = self.interact("The agent needs your choice to continue.")
                if answer is None:
                    return ExecResult("stop", "the user gave no answer")
                return ExecResult("feedback", f"The user answered: {answer}", detail=answer)
            case A.Note(message=message):
                return ExecResult("done", f"noted: {message}")
            case A.CallAPI(instruction=instruction):
                return ExecResult("feedback", f"Call_API is not available in this agent: {instruction}")
        raise TypeError(f"unhandled action {action!r}")  # pragma: no cover - the union is exhaustive

    def _launch(self, app: str) -> str:
        """Launch by the extra table's package when it names one that is installed, else by name."""
        package = self.app_packages.get(app.strip())
        if package is not None:
            try:
                return self.device.launch(package)
            except AppNotFoundError:
                pass  # not installed here: the device's own resolution may still find the app
        return self.device.launch(app)
