"""The simulated phone's apps. ``build_registry()`` gives one instance of each, keyed by package."""

from __future__ import annotations

import random

from autoglm_agent.sim.apps.base import App, Ctx
from autoglm_agent.sim.apps.browser import Browser
from autoglm_agent.sim.apps.calculator import Calculator, evaluate
from autoglm_agent.sim.apps.calendar import Calendar, Files
from autoglm_agent.sim.apps.clock import Clock
from autoglm_agent.sim.apps.contacts import Contacts
from autoglm_agent.sim.apps.launcher import Launcher
from autoglm_agent.sim.apps.media import Camera, Gallery, Music, Wallet
from autoglm_agent.sim.apps.messages import Messages
from autoglm_agent.sim.apps.notes import Notes
from autoglm_agent.sim.apps.settings import Settings
from autoglm_agent.sim.phone import PhoneState, SimApp

#: Launcher apps in their default home-screen order, then the launcher itself.
APP_CLASSES: tuple[type[App], ...] = (
    Clock,
    Calendar,
    Gallery,
    Camera,
    Notes,
    Calculator,
    Files,
    Music,
    Contacts,
    Messages,
    Browser,
    Settings,
    Wallet,
    Launcher,
)

#: Installed packages without a launcher activity (besides the launcher).
SYSTEM_PACKAGES: tuple[SimApp, ...] = (
    SimApp(
        package="com.android.systemui",
        activity="com.android.systemui.SystemUIService",
        label="System UI",
        label_zh="系统界面",
        launcher=False,
    ),
    SimApp(
        package="com.android.inputmethod.latin",
        activity="com.android.inputmethod.latin.LatinIME",
        label="Android Keyboard (AOSP)",
        label_zh="Android 键盘 (AOSP)",
        launcher=False,
    ),
    SimApp(
        package="com.android.adbkeyboard",
        activity="com.android.adbkeyboard.AdbIME",
        label="ADB Keyboard",
        label_zh="ADB Keyboard",
        launcher=False,
    ),
    SimApp(
        package="com.android.shell",
        activity="com.android.shell.BugreportWarningActivity",
        label="Shell",
        label_zh="Shell",
        launcher=False,
    ),
    SimApp(
        package="com.android.providers.settings",
        activity="com.android.providers.settings.SettingsProvider",
        label="Settings Storage",
        label_zh="设置存储",
        launcher=False,
    ),
    SimApp(
        package="android",
        activity="com.android.internal.app.ResolverActivity",
        label="Android System",
        label_zh="Android 系统",
        launcher=False,
    ),
)


def build_registry() -> dict[str, App]:
    return {cls.package: cls() for cls in APP_CLASSES}


def initial_data(st: PhoneState, locale: str, seed: int) -> None:
    """Seed every app's data (contacts, a note, two messages, an alarm, three photos)."""
    rng = random.Random(f"sim-data-{seed}")
    zh = locale == "zh"
    for cls in APP_CLASSES:
        cls().seed(st, zh, rng)


__all__ = ["APP_CLASSES", "SYSTEM_PACKAGES", "App", "Ctx", "build_registry", "evaluate", "initial_data"]
