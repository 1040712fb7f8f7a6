"""``DirectDevice``: the ``Device`` protocol over an in-process simulated ``Phone`` (no adb).

It behaves like ``AdbDevice`` talking to the simulator, minus the transport: the same pixels
(``Phone.render``; all black on secure screens, detected with the same check), the same
``current_app`` string (the simulator's ``dumpsys window`` line parsed by the adb device's own
parser), apps launched by package, component, label or known name through the same resolver
(``device.apps.resolve_app`` over the phone's packages and launcher labels), text typed with
``Phone.input_text``. Fast enough to generate training data and to evaluate a model: a step costs
a render, not an adb round trip and a PNG encode.
"""

from __future__ import annotations

import time

from PIL import Image

from autoglm_agent.device.adb import is_secure_capture, parse_current_app
from autoglm_agent.device.apps import LauncherEntry, resolve_app
from autoglm_agent.device.base import AppInfo, AppNotFoundError, Screenshot
from autoglm_agent.sim.commands import long_component
from autoglm_agent.sim.phone import Phone

__all__ = ["DirectDevice"]


class DirectDevice:
    """A ``Device`` over ``phone`` in this process. Coordinates are screen pixels."""

    def __init__(self, phone: Phone, serial: str | None = None) -> None:
        self.phone = phone
        self.serial = serial or f"direct-{phone.seed}"

    # ------------------------------------------------------------------ screen
    def screenshot(self) -> Screenshot:
        t0 = time.perf_counter()
        phone = self.phone
        with phone.lock:
            if phone.is_secure():
                image = Image.new("RGB", (phone.width, phone.height), (0, 0, 0))
            else:
                image = phone.render().copy()
        return Screenshot(
            image=image,
            width=image.width,
            height=image.height,
            secure=is_secure_capture(image),
            duration_s=time.perf_counter() - t0,
        )

    def screen_size(self) -> tuple[int, int]:
        return (self.phone.width, self.phone.height)

    def current_app(self) -> AppInfo:
        pkg, act = self.phone.current_focus()
        line = f"  mCurrentFocus=Window{{0 u0 {long_component(pkg, act)}}}\n"
        return parse_current_app(line) or AppInfo(package=pkg, activity=act)

    def ui_tree(self) -> str:
        return self.phone.ui_hierarchy_xml()

    # ------------------------------------------------------------------ input
    def tap(self, x: int, y: int) -> None:
        self.phone.tap(max(0, x), max(0, y))

    def double_tap(self, x: int, y: int) -> None:
        self.tap(x, y)
        self.tap(x, y)

    def long_press(self, x: int, y: int, duration_ms: int = 800) -> None:
        self.phone.long_press(max(0, x), max(0, y))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self.phone.swipe(x1, y1, x2, y2, duration_ms)

    def type_text(self, text: str) -> None:
        self.phone.input_text(text)

    def clear_text(self) -> None:
        self.phone.clear_text()

    def back(self) -> None:
        self.phone.keyevent("BACK")

    def home(self) -> None:
        self.phone.keyevent("HOME")

    # ------------------------------------------------------------------ apps
    def installed_packages(self) -> list[str]:
        return [p.package for p in self.phone.packages()]

    def launch(self, app: str) -> str:
        """Start ``app`` (package, component, label or known name); returns the package."""
        apps = self.phone.packages()
        launcher = [
            LauncherEntry(a.package, long_component(a.package, a.activity), a.label)
            for a in apps
            if a.launcher
        ]
        res = resolve_app(app, [a.package for a in apps], launcher, serial=self.serial)
        if not self.phone.launch_package(res.package):
            raise AppNotFoundError(
                f"{res.package} is installed on {self.serial} but has no launcher activity",
                hint="open it from the home screen instead",
            )
        return res.package
