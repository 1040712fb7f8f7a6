"""The evaluation suite: tasks on the simulated phone, each judged from the simulator's state.

A task never trusts what the model claims: success is read off ``Phone.state`` (and the app in
focus) after the run. Every task has an English and a Chinese wording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from autoglm_agent.sim.phone import Phone

Lang = Literal["en", "zh"]


@dataclass(frozen=True)
class EvalTask:
    """One task: its wordings, an optional set-up of the phone, and the success check."""

    id: str
    en: str
    zh: str
    check: Callable[[Phone], bool]
    setup: Callable[[Phone], None] | None = None
    category: str = "app"
    max_steps: int = 15
    tags: tuple[str, ...] = field(default_factory=tuple)

    def prompt(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


def _in_app(package: str) -> Callable[[Phone], bool]:
    def check(phone: Phone) -> bool:
        return phone.current_focus()[0] == package

    return check


def _on_home(phone: Phone) -> bool:
    return phone.state.screen == "home"


def _set_state(**values: object) -> Callable[[Phone], None]:
    def setup(phone: Phone) -> None:
        with phone.lock:
            for key, value in values.items():
                setattr(phone.state, key, value)
            phone.version += 1

    return setup


def _open_app_first(package: str) -> Callable[[Phone], None]:
    def setup(phone: Phone) -> None:
        phone.launch_package(package)

    return setup


#: The launcher apps the suite opens, by English label (packages are read from the simulator).
_APPS: tuple[str, ...] = (
    "settings",
    "clock",
    "calculator",
    "contacts",
    "messages",
    "notes",
    "browser",
    "camera",
    "gallery",
    "calendar",
)


def _packages_from_phone() -> dict[str, tuple[str, str]]:
    """English label (lower case) -> (package, Chinese label), read from the simulator's own registry."""
    from autoglm_agent.sim.phone import Phone

    phone = Phone(seed=0)
    return {app.label.lower(): (app.package, app.label_zh) for app in phone.packages() if app.launcher}


def default_suite() -> list[EvalTask]:
    """The standard suite: open each app, go home, toggles, notes, contacts, alarm, calculator, browser."""
    apps = _packages_from_phone()
    tasks: list[EvalTask] = []
    for name in _APPS:
        if name not in apps:
            continue
        package, label_zh = apps[name]
        tasks.append(
            EvalTask(
                id=f"open-{name}",
                en=f"open {name}",
                zh=f"打开{label_zh}",
                check=_in_app(package),
                category="open-app",
                max_steps=6,
            )
        )
    tasks += [
        EvalTask(
            id="go-home",
            en="go back to the home screen",
            zh="回到主屏幕",
            check=_on_home,
            setup=_open_app_first(apps["settings"][0]),
            category="navigation",
            max_steps=4,
        ),
        EvalTask(
            id="wifi-on",
            en="turn on Wi-Fi",
            zh="打开WiFi",
            check=lambda p: p.state.wifi,
            setup=_set_state(wifi=False),
            category="settings",
            max_steps=8,
        ),
        EvalTask(
            id="wifi-off",
            en="turn off Wi-Fi",
            zh="关闭WiFi",
            check=lambda p: not p.state.wifi,
            setup=_set_state(wifi=True),
            category="settings",
            max_steps=8,
        ),
        EvalTask(
            id="bluetooth-on",
            en="turn on Bluetooth",
            zh="打开蓝牙",
            check=lambda p: p.state.bluetooth,
            setup=_set_state(bluetooth=False),
            category="settings",
            max_steps=8,
        ),
        EvalTask(
            id="note-milk",
            en="create a note saying buy milk",
            zh="新建一条笔记：买牛奶",
            check=lambda p: any(n.body.strip() in ("buy milk", "买牛奶") for n in p.state.notes),
            category="text",
            max_steps=10,
        ),
        EvalTask(
            id="contact-alice",
            en="add a contact named Alice with phone number 5551234",
            zh="添加联系人Alice，电话5551234",
            check=lambda p: any(
                c.name == "Alice" and c.phone.replace(" ", "") == "5551234" for c in p.state.contacts
            ),
            category="text",
            max_steps=12,
        ),
        EvalTask(
            id="alarm-7",
            en="set an alarm for 7:00",
            zh="设置一个7点的闹钟",
            check=lambda p: any(a.hour == 7 and a.minute == 0 and a.enabled for a in p.state.alarms),
            category="multi-step",
            max_steps=14,
        ),
        EvalTask(
            id="calc-12-30",
            en="use the calculator to compute 12+30",
            zh="用计算器算12+30",
            check=lambda p: p.state.calculator.display.strip() == "42",
            category="multi-step",
            max_steps=12,
        ),
        EvalTask(
            id="browser-example",
            en="open example.com in the browser",
            zh="在浏览器中打开example.com",
            check=lambda p: "example.com" in p.state.browser.url,
            category="text",
            max_steps=10,
        ),
    ]
    return tasks


def select(tasks: list[EvalTask], spec: str | None) -> list[EvalTask]:
    """Filter by comma-separated ids, id prefixes or categories (``open-``, ``settings``...)."""
    if not spec:
        return tasks
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    chosen = [t for t in tasks if any(t.id == w or t.id.startswith(w) or t.category == w for w in wanted)]
    if not chosen:
        from autoglm_agent.errors import ConfigError

        raise ConfigError(
            f"no evaluation task matches {spec!r}", hint="ids: " + ", ".join(t.id for t in tasks)
        )
    return chosen
