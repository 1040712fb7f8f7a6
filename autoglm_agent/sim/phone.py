"""The simulated Android phone: state, apps, input, screen and UI hierarchy.

``Phone`` is what the simulated adbd's command layer drives (``input tap`` -> ``tap()``,
``screencap -p`` -> ``screencap_png()``, ``uiautomator dump`` -> ``ui_hierarchy_xml()``...). Every
visible thing is a pure function of ``Phone.state`` (a pydantic model the tests and the evaluation
harness read), the screen size, the seed and the clock's minute. Each input rebuilds nothing
eagerly: the widget tree, the image and the PNG are built on demand and cached per ``version``,
which increases whenever the state changes.
"""

from __future__ import annotations

import io
import random
import threading
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, computed_field

from autoglm_agent.errors import ConfigError
from autoglm_agent.sim import ui
from autoglm_agent.sim.render import DARK, LIGHT, Painter, Theme

if TYPE_CHECKING:
    from autoglm_agent.sim.apps.base import App

LAUNCHER = "com.android.launcher3"
LAUNCHER_ACTIVITY = "com.android.launcher3.Launcher"
SYSTEMUI = "com.android.systemui"
LATIN_IME = "com.android.inputmethod.latin/.LatinIME"
ADB_IME = "com.android.adbkeyboard/.AdbIME"


class PhoneConfigError(ConfigError, ValueError):
    """Bad arguments for ``Phone`` (screen size, locale)."""


# ------------------------------------------------------------------------------------------- models


class SimApp(BaseModel):
    """An installed package."""

    model_config = ConfigDict(frozen=True)

    package: str
    activity: str
    label: str
    label_zh: str
    launcher: bool = True


class Note(BaseModel):
    id: int
    title: str = ""
    body: str = ""


class Contact(BaseModel):
    id: int
    name: str
    phone: str


class SentMessage(BaseModel):
    to: str  # the contact's name when the recipient matched a contact, else what was typed
    text: str
    phone: str = ""  # the contact's number ("" when the recipient is not a contact)
    time: str = ""


class ReceivedMessage(BaseModel):
    sender: str
    text: str
    time: str = ""


class Alarm(BaseModel):
    id: int
    hour: int
    minute: int
    enabled: bool = True
    label: str = ""


class BrowserState(BaseModel):
    url: str = "about:home"
    title: str = "Home"
    history: list[str] = Field(default_factory=lambda: ["about:home"])  # back stack, current page last
    visited: list[str] = Field(default_factory=list)  # every page loaded, in order


class CalculatorState(BaseModel):
    expression: str = ""
    display: str = ""  # the result shown after "=" ("" before; "Error" on a bad expression)
    evaluated: bool = False


class Photo(BaseModel):
    id: int
    seed: int
    taken_at: str = ""


class CalendarEvent(BaseModel):
    id: int
    title: str
    date: str  # YYYY-MM-DD


class MusicState(BaseModel):
    track: int = 0
    playing: bool = False


class HomeSlot(BaseModel):
    package: str
    row: int
    col: int


class Wallpaper(BaseModel):
    name: str
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    glow: tuple[int, int, int] | None = None


class Dialog(BaseModel):
    kind: str
    package: str
    title: str
    message: str = ""
    confirm: str = "OK"
    cancel: str = "Cancel"
    args: dict[str, Any] = Field(default_factory=dict)


class Page(BaseModel):
    """One screen of an app's back stack, with its form fields, focus and scroll offsets."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)
    focus: str | None = None
    cursor: int = 0
    select_all: bool = False
    scroll: dict[str, int] = Field(default_factory=dict)


class PhoneState(BaseModel):
    """Everything the phone remembers. JSON-serialisable; ``Phone.snapshot()`` gives a plain dict."""

    locale: str = "en"
    foreground: str = LAUNCHER
    tasks: dict[str, list[Page]] = Field(default_factory=dict)
    recents: list[str] = Field(default_factory=list)  # most recent first
    overlay: str | None = None  # "recents"
    dialog: Dialog | None = None
    toast: str | None = None
    # connectivity and system settings
    wifi: bool = True
    wifi_network: str | None = "SimNet"
    bluetooth: bool = False
    bluetooth_paired: list[str] = Field(default_factory=list)
    airplane: bool = False
    brightness: int = 128
    auto_brightness: bool = False
    dark_theme: bool = False
    media_volume: int = 8
    do_not_disturb: bool = False
    location: bool = True
    battery: int = 85
    battery_saver: bool = False
    ime: str = LATIN_IME
    enabled_imes: list[str] = Field(default_factory=lambda: [LATIN_IME])
    ime_shift: bool = False
    ime_symbols: bool = False
    settings: dict[str, dict[str, str]] = Field(default_factory=dict)
    # app data
    notes: list[Note] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    sent_messages: list[SentMessage] = Field(default_factory=list)
    inbox: list[ReceivedMessage] = Field(default_factory=list)
    alarms: list[Alarm] = Field(default_factory=list)
    browser: BrowserState = Field(default_factory=BrowserState)
    calculator: CalculatorState = Field(default_factory=CalculatorState)
    photos: list[Photo] = Field(default_factory=list)
    events: list[CalendarEvent] = Field(default_factory=list)
    music: MusicState = Field(default_factory=MusicState)
    home: list[HomeSlot] = Field(default_factory=list)
    wallpaper: Wallpaper = Field(
        default_factory=lambda: Wallpaper(name="default", top=(33, 52, 96), bottom=(20, 110, 120))
    )
    next_id: int = 100

    def top(self, package: str | None = None) -> Page | None:
        stack = self.tasks.get(package or self.foreground)
        return stack[-1] if stack else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def screen(self) -> str:
        """The page on screen: "home", "recents", or the foreground app's page name ("main", "wifi", ...)."""
        if self.overlay:
            return self.overlay
        page = self.top()
        return page.name if page else "home"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def focused_field(self) -> str | None:
        page = None if self.overlay else self.top()
        return page.focus if page else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def focused_text(self) -> str | None:
        page = None if self.overlay else self.top()
        if page is None or page.focus is None:
            return None
        return page.fields.get(page.focus, "")

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


# ------------------------------------------------------------------------------------------- helpers

P = ParamSpec("P")
R = TypeVar("R")


def _locked(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        with self.lock:  # type: ignore[attr-defined]
            return fn(*args, **kwargs)

    return inner


_KEY_ALIASES: dict[str, str] = {
    "3": "HOME",
    "4": "BACK",
    "66": "ENTER",
    "67": "DEL",
    "112": "FORWARD_DEL",
    "187": "APP_SWITCH",
    "123": "MOVE_END",
    "122": "MOVE_HOME",
    "21": "DPAD_LEFT",
    "22": "DPAD_RIGHT",
    "62": "SPACE",
    "61": "TAB",
    "24": "VOLUME_UP",
    "25": "VOLUME_DOWN",
    "111": "ESCAPE",
    "160": "NUMPAD_ENTER",
    "CTRL_A": "SELECT_ALL",
    "SELECT_ALL": "SELECT_ALL",
    "CTRL+A": "SELECT_ALL",
}
for _i in range(10):
    _KEY_ALIASES[str(7 + _i)] = str(_i)
for _i in range(26):
    _KEY_ALIASES[str(29 + _i)] = chr(ord("A") + _i)

#: Wallpapers ``shuffle=True`` picks from.
WALLPAPERS: tuple[Wallpaper, ...] = (
    Wallpaper(name="ocean", top=(33, 52, 96), bottom=(20, 110, 120), glow=(90, 160, 200)),
    Wallpaper(name="dusk", top=(60, 40, 100), bottom=(210, 110, 90), glow=(250, 170, 120)),
    Wallpaper(name="forest", top=(20, 60, 45), bottom=(90, 140, 80), glow=(170, 210, 140)),
    Wallpaper(name="slate", top=(40, 44, 52), bottom=(90, 98, 112), glow=None),
    Wallpaper(name="berry", top=(90, 20, 60), bottom=(40, 20, 80), glow=(200, 80, 140)),
    Wallpaper(name="sand", top=(140, 110, 80), bottom=(60, 50, 45), glow=(240, 200, 150)),
    Wallpaper(name="night", top=(8, 10, 30), bottom=(30, 40, 90), glow=(80, 90, 180)),
    Wallpaper(name="mint", top=(30, 90, 90), bottom=(150, 200, 170), glow=None),
)

HOME_ROWS = 5
HOME_COLS = 4


class Phone:
    """A simulated Android phone.

    Entry points (each takes ``lock`` and bumps ``version`` when the state changed): ``tap``,
    ``long_press``, ``swipe``, ``keyevent``, ``input_text``, ``clear_text``, ``start_activity``,
    ``launch_package``, ``put_setting``/``delete_setting``; queries: ``render``, ``screencap_png``,
    ``framebuffer_rgba``, ``ui_hierarchy_xml``, ``tree``, ``node_at``, ``current_focus``,
    ``is_secure``, ``packages``, ``get_setting``/``list_settings``, ``imes``, ``current_ime``,
    ``snapshot``. The images returned are cached: copy them before drawing on them.

    The other methods (``launch``, ``go_home``, ``push``, ``pop``, ``back``, ``up``,
    ``show_dialog``, ``insert_text``...) are the app side: widget handlers call them while an
    entry point holds the lock, and that entry point commits the change.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        shuffle: bool = False,
        width: int = 720,
        height: int = 1600,
        density: int = 320,
        clock: Callable[[], datetime] | None = None,
        locale: str = "en",
        adb_keyboard: bool = True,
    ) -> None:
        from autoglm_agent.sim.apps import build_registry, initial_data

        if width < 240 or height < 320 or density < 80 or width > height:
            raise PhoneConfigError(
                f"screen {width}x{height} at {density} dpi is not supported by the simulated phone",
                hint="use a portrait size of at least 240x320 and a density of 80 or more, e.g. 720x1600 at 320",
            )
        if locale not in ("en", "zh"):
            raise PhoneConfigError(
                f"unknown locale {locale!r} for the simulated phone", hint="use 'en' or 'zh'"
            )
        self.width = width
        self.height = height
        self.density = density
        self.scale = density / 160.0
        self.seed = seed
        self.shuffle = shuffle
        self.locale = locale
        #: Whether ADB Keyboard (``com.android.adbkeyboard``) is installed; most real phones lack it.
        self.adb_keyboard = adb_keyboard
        self.clock: Callable[[], datetime] = clock or datetime.now
        self.lock = threading.RLock()
        self.apps: dict[str, App] = build_registry()
        self.state = PhoneState(locale=locale)
        initial_data(self.state, locale, seed)
        self._layout_home(seed, shuffle)
        self.state.tasks[LAUNCHER] = [Page(name="home")]
        self.version = 0
        self._sig = self.state.model_dump_json()
        self._tree_key: tuple[int, str] | None = None
        self._tree: ui.Node | None = None
        self._img_key: tuple[int, str] | None = None
        self._img: Image.Image | None = None
        self._png_key: tuple[int, str, bool] | None = None
        self._png: bytes = b""
        self._fb_key: tuple[int, str, bool] | None = None
        self._fb: bytes = b""

    # ----------------------------------------------------------------------------- basics

    def _layout_home(self, seed: int, shuffle: bool) -> None:
        pkgs = [a.info.package for a in self.apps.values() if a.info.launcher]
        cells = [(r, c) for r in range(HOME_ROWS) for c in range(HOME_COLS)]
        if shuffle:
            rng = random.Random(seed)
            cells = rng.sample(cells, len(pkgs))
            cells.sort(key=lambda rc: (rc[0], rc[1]))
            order = pkgs[:]
            rng.shuffle(order)
            pkgs = order
            self.state.wallpaper = WALLPAPERS[rng.randrange(len(WALLPAPERS))].model_copy()
        else:
            # Fill the lowest rows first, like a launcher whose icons sit above the dock.
            start = HOME_ROWS * HOME_COLS - ((len(pkgs) + HOME_COLS - 1) // HOME_COLS) * HOME_COLS
            cells = cells[start : start + len(pkgs)]
        self.state.home = [HomeSlot(package=p, row=r, col=c) for p, (r, c) in zip(pkgs, cells, strict=False)]

    @property
    def theme(self) -> Theme:
        return DARK if self.state.dark_theme else LIGHT

    def now(self) -> datetime:
        return self.clock()

    def _minute(self) -> str:
        return self.clock().strftime("%Y-%m-%d %H:%M")

    def _commit(self) -> None:
        """Bump ``version`` when the state changed (called after every input)."""
        sig = self.state.model_dump_json()
        if sig != self._sig:
            self._sig = sig
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.state.model_dump(mode="json")

    def app(self, package: str) -> App | None:
        return self.apps.get(package)

    def s(self, en: str, zh: str) -> str:
        return zh if self.locale == "zh" else en

    # ----------------------------------------------------------------------------- packages

    @_locked
    def packages(self) -> list[SimApp]:
        from autoglm_agent.sim.apps import SYSTEM_PACKAGES

        pkgs = [a.info for a in self.apps.values()] + list(SYSTEM_PACKAGES)
        if not self.adb_keyboard:
            pkgs = [a for a in pkgs if a.package != ADB_IME.split("/")[0]]
        return pkgs

    def _resolve_component(self, component: str) -> tuple[str, str] | None:
        if "/" not in component:
            return None
        pkg, cls = component.split("/", 1)
        app = self.apps.get(pkg)
        if app is None:
            if pkg == LAUNCHER and cls in (".Launcher", LAUNCHER_ACTIVITY, "Launcher"):
                return (LAUNCHER, "home")
            return None
        candidates = [cls]
        if cls.startswith("."):
            candidates = [pkg + cls]
        elif "." not in cls:
            candidates = [cls, f"{pkg}.{cls}"]
        for c in candidates:
            page = app.entry_page(c)
            if page is not None:
                return (pkg, page)
        return None

    @_locked
    def start_activity(self, component: str) -> bool:
        target = self._resolve_component(component.strip())
        if target is None:
            return False
        pkg, page = target
        self.state.toast = None
        if pkg == LAUNCHER:
            self.go_home()
        else:
            self._leave_foreground()
            self.state.tasks[pkg] = [Page(name=page)]
            self._bring_front(pkg)
        self._commit()
        return True

    @_locked
    def launch_package(self, package: str) -> bool:
        app = self.apps.get(package)
        if app is None or not app.info.launcher:
            return False
        self.state.toast = None
        self.launch(package)
        self._commit()
        return True

    def launch(self, package: str) -> None:
        """Bring ``package``'s task to the front, starting it at its main page when it has none."""
        self._leave_foreground()
        if package not in self.state.tasks:
            self.state.tasks[package] = [Page(name=self.apps[package].main_page)]
        self._bring_front(package)

    def _bring_front(self, package: str) -> None:
        self.state.foreground = package
        self.state.overlay = None
        if package in self.state.recents:
            self.state.recents.remove(package)
        self.state.recents.insert(0, package)

    def _leave_foreground(self) -> None:
        st = self.state
        st.dialog = None
        st.overlay = None
        page = st.top()
        if page is not None and page.focus is not None:
            page.focus = None
        st.tasks[LAUNCHER] = [Page(name="home")]

    @_locked
    def current_focus(self) -> tuple[str, str]:
        st = self.state
        if st.overlay or st.foreground == LAUNCHER:
            return (LAUNCHER, LAUNCHER_ACTIVITY)
        page = st.top()
        app = self.apps[st.foreground]
        return (app.info.package, app.page_activity(page.name if page else app.main_page))

    @_locked
    def is_secure(self) -> bool:
        st = self.state
        if st.overlay or st.foreground == LAUNCHER:
            return False
        return self.apps[st.foreground].secure

    # ----------------------------------------------------------------------------- navigation

    def go_home(self) -> None:
        self._leave_foreground()
        self.state.foreground = LAUNCHER

    def open_recents(self) -> None:
        st = self.state
        st.dialog = None
        page = st.top()
        if page is not None:
            page.focus = None
        st.overlay = "recents"

    def push(
        self, name: str, /, focus: str | None = None, fields: dict[str, str] | None = None, **args: Any
    ) -> None:
        """Open page ``name`` of the foreground app, optionally with a field focused and pre-filled fields."""
        page = self.state.top()
        if page is not None:
            page.focus = None
        new = Page(name=name, args=args, fields=dict(fields or {}), focus=focus)
        if focus is not None:
            new.cursor = len(new.fields.get(focus, ""))
            self.state.ime_symbols = False
        self.state.tasks.setdefault(self.state.foreground, []).append(new)

    def pop(self) -> None:
        """Finish the top page; the root page sends the app to the background (Android 12+)."""
        st = self.state
        stack = st.tasks.get(st.foreground, [])
        if len(stack) > 1:
            stack.pop()
        else:
            if stack:
                stack[-1].focus = None
            self.go_home()

    def back(self) -> None:
        """KEYCODE_BACK: dialog, then overlay, then keyboard, then the app's own handling / page stack."""
        st = self.state
        if st.dialog is not None:
            self.dismiss_dialog(False)
            return
        if st.overlay is not None:
            st.overlay = None
            return
        page = st.top()
        if page is not None and page.focus is not None:
            page.focus = None
            return
        self.up()

    def up(self) -> None:
        """Navigate up (the app bar's arrow): the app's back hook, else pop the page."""
        st = self.state
        if st.foreground == LAUNCHER:
            st.tasks[LAUNCHER] = [Page(name="home")]
            return
        page = st.top()
        if page is not None:
            page.focus = None
        app = self.apps[st.foreground]
        if page is not None and app.on_back(self._ctx(app, page)):
            return
        self.pop()

    def show_dialog(self, dialog: Dialog) -> None:
        page = self.state.top()
        if page is not None:
            page.focus = None
        self.state.dialog = dialog

    def dismiss_dialog(self, confirmed: bool) -> None:
        st = self.state
        dialog = st.dialog
        st.dialog = None
        if dialog is None or not confirmed:
            return
        app = self.apps.get(dialog.package)
        page = st.top(dialog.package)
        if app is not None and page is not None:
            app.on_dialog(self._ctx(app, page), dialog)

    # ----------------------------------------------------------------------------- text

    def _focused(self) -> Page | None:
        st = self.state
        if st.overlay or st.dialog is not None:
            return None
        page = st.top()
        return page if page is not None and page.focus is not None else None

    def _field_node(self, page: Page) -> ui.Node | None:
        tree = self._tree_now()
        return tree.find(lambda n: n.kind == "edit" and n.field_key == page.focus)

    def insert_text(self, text: str) -> None:
        page = self._focused()
        if not text:
            return
        if page is None:
            st = self.state
            app = self.apps.get(st.foreground)
            top = st.top()
            if app is not None and top is not None and st.overlay is None and st.dialog is None:
                app.on_text(self._ctx(app, top), text)
            return
        key = page.focus or ""
        value = page.fields.get(key, "")
        node = self._field_node(page)
        inputtype = node.input_type if node is not None else ""
        maxlen = node.max_length if node is not None else 0
        if inputtype == "number":  # like DigitsKeyListener: other characters are dropped
            text = "".join(ch for ch in text if ch.isdigit())
        if page.select_all:
            value, page.cursor, page.select_all = "", 0, False
        cur = max(0, min(page.cursor, len(value)))
        new = value[:cur] + text + value[cur:]
        if maxlen and len(new) > maxlen:
            room = max(0, maxlen - len(value))
            text = text[:room]
            new = value[:cur] + text + value[cur:]
        page.fields[key] = new
        page.cursor = cur + len(text)

    def delete_text(self, forward: bool = False) -> None:
        page = self._focused()
        if page is None:
            return
        key = page.focus or ""
        value = page.fields.get(key, "")
        if page.select_all:
            page.fields[key], page.cursor, page.select_all = "", 0, False
            return
        cur = max(0, min(page.cursor, len(value)))
        if forward:
            if cur < len(value):
                page.fields[key] = value[:cur] + value[cur + 1 :]
        elif cur > 0:
            page.fields[key] = value[: cur - 1] + value[cur:]
            page.cursor = cur - 1

    def focus_field(self, page: Page, key: str) -> None:
        page.focus = key
        page.cursor = len(page.fields.get(key, ""))
        page.select_all = False
        self.state.ime_symbols = False

    def press_enter(self) -> None:
        page = self._focused()
        if page is None:
            return
        app = self.apps.get(self.state.foreground)
        if app is not None and app.on_enter(self._ctx(app, page)):
            return
        node = self._field_node(page)
        if node is not None and node.lines != 1:
            self.insert_text("\n")
            return
        # IME action "next": the next text field on screen, else hide the keyboard.
        tree = self._tree_now()
        edits = [n for n in tree.walk() if n.kind == "edit" and n.vis != ui.EMPTY]
        ids = [n.field_key for n in edits]
        if page.focus in ids and ids.index(page.focus) + 1 < len(ids):
            self.focus_field(page, ids[ids.index(page.focus) + 1])
        else:
            page.focus = None

    # ----------------------------------------------------------------------------- input

    @_locked
    def tap(self, x: int, y: int) -> None:
        self.state.toast = None
        tree = self._tree_now()
        node = ui.hit_test(tree, int(x), int(y))
        if node is not None and node.clickable and node.enabled:
            self._activate(node, int(x), int(y))
        self._commit()

    def _activate(self, node: ui.Node, x: int, y: int) -> None:
        if node.on_tap_at is not None:
            pl = round(node.pad[0] * self.scale)
            pr = round(node.pad[2] * self.scale)
            x0, y0, x1, y1 = node.rect
            fx = (x - x0 - pl) / max(1, x1 - x0 - pl - pr)
            fy = (y - y0) / max(1, y1 - y0)
            node.on_tap_at(min(1.0, max(0.0, fx)), min(1.0, max(0.0, fy)))  # type: ignore[arg-type]
        elif node.on_tap is not None:
            node.on_tap()

    @_locked
    def long_press(self, x: int, y: int) -> None:
        self.state.toast = None
        tree = self._tree_now()
        node = ui.hit_test(tree, int(x), int(y), lambda n: n.clickable or n.long_clickable or n.blocks_touch)
        if node is None or not node.enabled:
            pass
        elif node.on_long is not None:
            node.on_long()
        elif node.clickable:
            self._activate(node, int(x), int(y))
        self._commit()

    @_locked
    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        x1, y1, x2, y2 = int(x1), int(y1), int(x2), int(y2)
        dist = max(abs(x2 - x1), abs(y2 - y1))
        if dist <= 10:
            if duration_ms >= 500:
                self.long_press(x1, y1)
            else:
                self.tap(x1, y1)
            return
        self.state.toast = None
        st = self.state
        nav_h = round(48 * self.scale)
        # Gesture navigation: swipe up from the bottom edge goes home.
        if y1 >= self.height - nav_h and y1 - y2 > nav_h:
            self.go_home()
            self._commit()
            return
        tree = self._tree_now()
        start = ui.hit_test(
            tree, x1, y1, lambda n: n.enabled and n.on_tap_at is not None and n.kind == "slider"
        )
        if start is not None and st.dialog is None:
            self._activate(start, x2, start.center[1])
            self._commit()
            return
        if abs(y2 - y1) >= abs(x2 - x1):
            target = ui.scrollable_at(tree, x1, y1)
            if st.dialog is None and target is not None and target.scroll_max > 0:
                page = self._scroll_owner()
                if page is not None:
                    new = max(0, min(target.scroll_max, target.scroll_y + (y1 - y2)))
                    page.scroll[target.scroll_key] = new
            elif st.dialog is None and st.overlay is None and st.foreground == LAUNCHER and y2 < y1 - 100:
                page = st.top(LAUNCHER)
                if page is not None and page.name == "home":
                    self.push("drawer")
            elif st.dialog is None and st.overlay is None and st.foreground == LAUNCHER and y2 > y1 + 100:
                page = st.top(LAUNCHER)
                if page is not None and page.name == "drawer" and page.scroll.get("apps", 0) == 0:
                    self.pop()
        self._commit()

    def _scroll_owner(self) -> Page | None:
        st = self.state
        if st.overlay == "recents":
            return st.tasks[LAUNCHER][0]
        return st.top()

    @_locked
    def keyevent(self, key: str) -> None:
        name = str(key).strip().upper()
        if name.startswith("KEYCODE_"):
            name = name[len("KEYCODE_") :]
        name = _KEY_ALIASES.get(name, name)
        st = self.state
        st.toast = None
        if name == "BACK" or name == "ESCAPE":
            self.back()
        elif name == "HOME":
            self.go_home()
        elif name == "APP_SWITCH":
            if st.overlay == "recents":
                st.overlay = None
            else:
                self.open_recents()
        elif name == "DEL":
            self.delete_text()
        elif name == "FORWARD_DEL":
            self.delete_text(forward=True)
        elif name in ("ENTER", "NUMPAD_ENTER"):
            self.press_enter()
        elif name in ("MOVE_END", "MOVE_HOME", "DPAD_LEFT", "DPAD_RIGHT", "SELECT_ALL"):
            page = self._focused()
            if page is not None:
                length = len(page.fields.get(page.focus or "", ""))
                page.select_all = name == "SELECT_ALL"
                if name == "MOVE_END":
                    page.cursor = length
                elif name == "MOVE_HOME":
                    page.cursor = 0
                elif name == "DPAD_LEFT":
                    page.cursor = max(0, page.cursor - 1)
                elif name == "DPAD_RIGHT":
                    page.cursor = min(length, page.cursor + 1)
        elif name == "SPACE":
            self.insert_text(" ")
        elif name == "TAB":
            self.press_enter()
        elif len(name) == 1 and name.isalnum():
            self.insert_text(name.lower())
        elif name == "VOLUME_UP":
            st.media_volume = min(15, st.media_volume + 1)
        elif name == "VOLUME_DOWN":
            st.media_volume = max(0, st.media_volume - 1)
        self._commit()

    @_locked
    def input_text(self, text: str) -> None:
        self.state.toast = None
        self.insert_text(text)
        self._commit()

    @_locked
    def clear_text(self) -> None:
        page = self._focused()
        if page is not None and page.focus is not None:
            page.fields[page.focus] = ""
            page.cursor = 0
            page.select_all = False
        self._commit()

    # ----------------------------------------------------------------------------- settings / IME

    @_locked
    def imes(self) -> list[str]:
        return [LATIN_IME, ADB_IME] if self.adb_keyboard else [LATIN_IME]

    @_locked
    def current_ime(self) -> str:
        return self.state.ime

    @_locked
    def get_setting(self, namespace: str, key: str) -> str | None:
        from autoglm_agent.sim.apps.settings import read_setting

        if namespace not in ("system", "secure", "global"):
            raise ValueError(f"invalid namespace {namespace!r}: use system, secure or global")
        return read_setting(self.state, namespace, key)

    @_locked
    def put_setting(self, namespace: str, key: str, value: str) -> None:
        from autoglm_agent.sim.apps.settings import write_setting

        if namespace not in ("system", "secure", "global"):
            raise ValueError(f"invalid namespace {namespace!r}: use system, secure or global")
        write_setting(self.state, namespace, key, str(value))
        self._commit()

    @_locked
    def list_settings(self, namespace: str) -> dict[str, str]:
        """Every key of a namespace with its value (``settings list``)."""
        from autoglm_agent.sim.apps.settings import list_settings

        if namespace not in ("system", "secure", "global"):
            raise ValueError(f"invalid namespace {namespace!r}: use system, secure or global")
        return list_settings(self.state, namespace)

    @_locked
    def delete_setting(self, namespace: str, key: str) -> bool:
        """Remove a stored key (``settings delete``); keys backed by the phone's state stay. True if removed."""
        removed = self.state.settings.get(namespace, {}).pop(key, None) is not None
        self._commit()
        return removed

    # ----------------------------------------------------------------------------- screen

    def _ctx(self, app: App, page: Page) -> Any:
        from autoglm_agent.sim.apps.base import Ctx

        return Ctx(self, app, page)

    def _tree_now(self) -> ui.Node:
        key = (self.version, self._minute())
        if self._tree is None or self._tree_key != key:
            from autoglm_agent.sim.apps.base import build_screen

            self._tree = build_screen(self)
            self._tree_key = key
        return self._tree

    @_locked
    def tree(self) -> ui.Node:
        """The laid-out widget tree on screen (what ``render`` paints and ``tap`` hit-tests)."""
        return self._tree_now()

    @_locked
    def node_at(self, x: int, y: int) -> ui.Node | None:
        """The widget a tap at (x, y) would activate, or None."""
        node = ui.hit_test(self._tree_now(), int(x), int(y))
        return node if node is not None and node.clickable and node.enabled else None

    @_locked
    def render(self) -> Image.Image:
        key = (self.version, self._minute())
        if self._img is None or self._img_key != key:
            tree = self._tree_now()
            img = Image.new("RGB", (self.width, self.height), self.theme.bg)
            Painter(self.theme, self.scale).paint(img, tree)
            self._img = img
            self._img_key = key
        return self._img

    def _captured(self) -> Image.Image:
        if self.is_secure():
            return Image.new("RGB", (self.width, self.height), (0, 0, 0))
        return self.render()

    @_locked
    def screencap_png(self) -> bytes:
        key = (self.version, self._minute(), self.is_secure())
        if self._png_key != key:
            buf = io.BytesIO()
            self._captured().save(buf, format="PNG", compress_level=1)
            self._png = buf.getvalue()
            self._png_key = key
        return self._png

    @_locked
    def framebuffer_rgba(self) -> bytes:
        key = (self.version, self._minute(), self.is_secure())
        if self._fb_key != key:
            self._fb = self._captured().convert("RGBA").tobytes()
            self._fb_key = key
        return self._fb

    @_locked
    def ui_hierarchy_xml(self) -> str:
        """uiautomator-style XML of the active window (only the dialog while one is open)."""
        tree = self._tree_now()
        if self.state.dialog is not None:
            box = tree.by_id("android:id/parentPanel")
            if box is not None:
                return ui.to_xml(box, self.state.dialog.package)
        return ui.to_xml(tree, self.current_focus()[0])
