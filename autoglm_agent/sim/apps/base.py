"""What every simulated app shares: the ``App`` base class, the build context and common widgets.

An app is a stateless object: each page is a method ``page_<name>(ctx) -> Node`` that builds the
widget tree from ``ctx.st`` (the phone state) and ``ctx.page`` (its back-stack entry), with
closures that change the state when tapped. ``build_screen`` wraps the app's tree in the system
chrome (status bar, keyboard, navigation bar, dialogs, toasts).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from autoglm_agent.sim import ui
from autoglm_agent.sim.phone import LAUNCHER, SYSTEMUI, Dialog, Page, PhoneState, SimApp
from autoglm_agent.sim.render import wallpaper
from autoglm_agent.sim.ui import Node, col, divider, glyph, icon_button, row, spacer, stack, text

if TYPE_CHECKING:
    from autoglm_agent.sim.phone import Phone

Action = Callable[[], None]


class App:
    """Base class of a simulated app. Subclasses set the class attributes and ``page_*`` methods."""

    package: ClassVar[str]
    activity: ClassVar[str]
    label: ClassVar[str]
    label_zh: ClassVar[str]
    launcher: ClassVar[bool] = True
    #: page name -> activity class reported by ``current_focus`` (default: the main activity)
    pages: ClassVar[dict[str, str]] = {}
    #: extra activity classes ``am start`` accepts -> page name
    aliases: ClassVar[dict[str, str]] = {}
    main_page: ClassVar[str] = "main"
    secure: ClassVar[bool] = False
    #: status/navigation bar style: "light" (theme colours), "dark" (black) or "wallpaper"
    chrome: ClassVar[str] = "light"

    def __init__(self) -> None:
        self.info = SimApp(
            package=self.package,
            activity=self.activity,
            label=self.label,
            label_zh=self.label_zh,
            launcher=self.launcher,
        )

    def page_activity(self, name: str) -> str:
        return self.pages.get(name, self.activity)

    def entry_page(self, cls: str) -> str | None:
        if cls == self.activity:
            return self.main_page
        if cls in self.aliases:
            return self.aliases[cls]
        return None

    def build(self, ctx: Ctx) -> Node:
        fn = getattr(self, f"page_{ctx.page.name}", None) or getattr(self, f"page_{self.main_page}")
        return fn(ctx)

    def seed(self, st: PhoneState, zh: bool, rng: random.Random) -> None:
        """Put the app's initial data into a fresh state."""

    def on_back(self, ctx: Ctx) -> bool:
        """Back / navigate up on this page; True when handled (default: the phone pops the page)."""
        return False

    def on_enter(self, ctx: Ctx) -> bool:
        """KEYCODE_ENTER in a focused field; True when handled."""
        return False

    def on_text(self, ctx: Ctx, text: str) -> bool:
        """Text typed while no field is focused (hardware keyboard input); True when used."""
        return False

    def on_dialog(self, ctx: Ctx, dialog: Dialog) -> None:
        """The dialog's confirm button was pressed: calls ``confirm_<kind>(ctx, **args)``."""
        fn = getattr(self, f"confirm_{dialog.kind}", None)
        if fn is not None:
            fn(ctx, **dialog.args)

    def bar_style(self, ctx: Ctx) -> str:
        return self.chrome


class Ctx:
    """Everything a page builder needs: the phone, its state, this page and helpers."""

    def __init__(self, phone: Phone, app: App, page: Page) -> None:
        self.phone = phone
        self.st: PhoneState = phone.state
        self.app = app
        self.page = page
        self.pkg = app.package
        self.zh = phone.locale == "zh"
        self.width_dp = phone.width / phone.scale
        self.height_dp = phone.height / phone.scale

    def s(self, en: str, zh: str) -> str:
        return zh if self.zh else en

    def now(self) -> datetime:
        return self.phone.now()

    # ---- navigation, as closures for on_tap

    def go(self, name: str, /, focus: str | None = None, **args: Any) -> Action:
        """A closure that opens page ``name`` (with field ``focus`` focused)."""
        return lambda: self.phone.push(name, focus=focus, **args)

    def up(self) -> None:
        self.phone.up()

    def pop(self) -> None:
        self.phone.pop()

    def toast(self, message: str) -> None:
        self.st.toast = message

    def dialog(
        self,
        kind: str,
        title: str,
        message: str = "",
        confirm: str | None = None,
        cancel: str | None = None,
        **args: Any,
    ) -> Action:
        d = Dialog(
            kind=kind,
            package=self.pkg,
            title=title,
            message=message,
            confirm=confirm or self.s("OK", "确定"),
            cancel=cancel or self.s("Cancel", "取消"),
            args=args,
        )
        return lambda: self.phone.show_dialog(d.model_copy(deep=True))

    # ---- widgets bound to the page

    def field(
        self,
        key: str,
        hint: str,
        *,
        lines: int = 1,
        input_type: str = "",
        max_length: int = 0,
        size: float = 16,
        **kw: Any,
    ) -> Node:
        """An EditText bound to ``page.fields[key]``; tapping it focuses it (and shows the keyboard)."""
        page = self.page
        focused = page.focus == key and self.st.dialog is None
        phone = self.phone
        kw.setdefault("pad", (4, 8, 4, 8))
        kw.setdefault("id", key)
        return Node(
            cls="android.widget.EditText",
            kind="edit",
            field_key=key,
            text=page.fields.get(key, ""),
            hint=hint,
            focused=focused,
            focusable=True,
            cursor=page.cursor if focused else 0,
            select_all=focused and page.select_all,
            lines=lines,
            size=size,
            input_type=input_type,
            max_length=max_length,
            on_tap=lambda: phone.focus_field(page, key),
            **kw,
        )

    def scroll(self, key: str, *children: Node | None, **kw: Any) -> Node:
        return ui.scroll(key, self.page.scroll.get(key, 0), *children, **kw)

    def value(self, key: str) -> str:
        return self.page.fields.get(key, "")


# --------------------------------------------------------------------------------------------- widgets


def app_bar(
    ctx: Ctx, title: str, *, back: bool = True, actions: Sequence[Node] = (), bg: str = "bar"
) -> Node:
    lead = (
        icon_button("back", ctx.s("Navigate up", "向上导航"), ctx.up, id="navigate_up")
        if back
        else spacer(w=12)
    )
    return row(
        lead,
        text(title, 22, id="toolbar_title", weight=1, pad=(8 if back else 4, 0, 0, 0)),
        *actions,
        h=64,
        pad=(4, 0, 4, 0),
        bg=bg,
        id="toolbar",
        cls="android.view.ViewGroup",
    )


def list_item(
    title: str,
    summary: str = "",
    *,
    icon: str = "",
    icon_fg: str = "text2",
    on_tap: Action | None = None,
    on_long: Action | None = None,
    trailing: Node | None = None,
    lead: Node | None = None,
    ids: str = "",
    h: float | None = None,
    title_size: float = 16,
    summary_lines: int = 1,
) -> Node:
    """A one/two-line list row: optional icon, title, summary, trailing widget (switch, chevron...)."""
    tid = f"{ids}title" if ids else "title"
    sid = f"{ids}summary" if ids else "summary"
    if lead is None and icon:
        lead = glyph(icon, 24, fg=icon_fg, w=24, id="icon")
    body = col(
        text(title, title_size, id=tid),
        text(summary, 14, fg="text2", id=sid, lines=summary_lines) if summary else None,
        weight=1,
        cls="android.widget.RelativeLayout",
    )
    return row(
        lead,
        body,
        trailing,
        h=h if h is not None else (72 if summary else 56),
        pad=(16, 0, 16, 0),
        gap=16,
        on_tap=on_tap,
        on_long=on_long,
    )


def fab(glyph_name: str, desc: str, on_tap: Action, fid: str = "fab") -> Node:
    return Node(
        cls="android.widget.ImageButton",
        kind="glyph",
        glyph=glyph_name,
        size=24,
        desc=desc,
        id=fid,
        w=56,
        h=56,
        radius=16,
        bg="tonal",
        fg="on_tonal",
        shadow=True,
        gravity="bottom right",
        margin=(0, 0, 16, 16),
        on_tap=on_tap,
    )


def screen(bar: Node | None, body: Node, *overlays: Node | None, bg: str = "bg") -> Node:
    """An app page: app bar over a body (which should have ``weight=1``), plus floating widgets."""
    return stack(col(bar, body, weight=1, a11y=False), *overlays, bg=bg, id="android:id/content")


def section(title: str) -> Node:
    return text(title, 14, fg="primary", bold=True, h=40, pad=(16, 12, 16, 0), valign="center")


def empty_state(message: str, icon: str = "") -> Node:
    return col(
        glyph(icon, 48, fg="hint", h=64) if icon else None,
        text(message, 16, fg="text2", align="center", lines=3, pad=(32, 8, 32, 8)),
        weight=1,
        pad=(0, 120, 0, 0),
    )


def chevron() -> Node:
    return glyph("chevron_right", 20, fg="text2", w=20)


def bottom_nav(items: Sequence[tuple[str, str, bool, Action]], nid: str = "bottom_navigation") -> Node:
    """A bottom navigation bar of (glyph, label, selected, on_tap) items."""
    cells = [
        col(
            stack(
                glyph(
                    g,
                    22,
                    fg="on_tonal" if sel else "text2",
                    w=56,
                    h=30,
                    radius=15,
                    bg="tonal" if sel else None,
                    gravity="center",
                ),
                h=32,
                a11y=False,
            ),
            text(label, 12, fg="text" if sel else "text2", align="center", bold=sel),
            weight=1,
            on_tap=tap,
            selected=sel,
            desc=label,
            pad=(0, 10, 0, 8),
            cls="android.widget.FrameLayout",
        )
        for g, label, sel, tap in items
    ]
    return row(*cells, h=80, bg="card", id=nid, cross="stretch")


def form_row(label: str, field: Node) -> Node:
    return col(text(label, 12, fg="text2", pad=(4, 0, 0, 0)), field, pad=(16, 8, 16, 8))


# --------------------------------------------------------------------------------------------- screen


def _status_bar(phone: Phone, fg: str, bg: str | None) -> Node:
    st = phone.state
    now = phone.now()
    icons: list[Node | None] = []
    if st.bluetooth and not st.airplane:
        icons.append(glyph("bluetooth", 15, fg=fg, desc=phone.s("Bluetooth on.", "蓝牙已开启。"), w=18))
    if st.airplane:
        icons.append(
            glyph("airplane", 15, fg=fg, desc=phone.s("Airplane mode on.", "飞行模式已开启。"), w=18)
        )
    else:
        if st.wifi:
            icons.append(glyph("wifi", 16, fg=fg, desc=phone.s("Wifi signal full.", "WLAN信号满格。"), w=18))
        icons.append(glyph("signal", 14, fg=fg, desc=phone.s("Phone signal full.", "手机信号满格。"), w=16))
    desc = phone.s(f"Battery {st.battery} percent.", f"电池电量为百分之{st.battery}。")
    icons.append(
        Node(
            kind="battery",
            value=st.battery / 100,
            w=22,
            h=16,
            fg=fg,
            desc=desc,
            cls="android.widget.ImageView",
        )
    )
    icons.append(text(f"{st.battery}%", 13, fg=fg, id="battery_percentage_view"))
    return row(
        text(now.strftime("%H:%M"), 14, fg=fg, id="clock", bold=True),
        spacer(weight=1),
        *icons,
        h=28,
        pad=(20, 0, 16, 0),
        gap=5,
        bg=bg,
        package=SYSTEMUI,
        id="status_bar",
        cls="android.widget.FrameLayout",
    )


def _nav_bar(phone: Phone, fg: str, bg: str | None) -> Node:
    def cell(g: str, desc: str, nid: str, tap: Action) -> Node:
        return stack(
            icon_button(g, desc, tap, size=22, box=48, fg=fg, id=nid, gravity="center"),
            weight=1,
            a11y=False,
        )

    def recents() -> None:
        if phone.state.overlay == "recents":
            phone.state.overlay = None
        else:
            phone.open_recents()

    return row(
        cell("nav_back", phone.s("Back", "返回"), "back", phone.back),
        cell("nav_home", phone.s("Home", "主屏幕"), "home", phone.go_home),
        cell("nav_recents", phone.s("Overview", "概览"), "recent_apps", recents),
        h=48,
        bg=bg,
        pad=(40, 0, 40, 0),
        package=SYSTEMUI,
        id="navigation_bar_frame",
        cls="android.widget.FrameLayout",
    )


def _dialog_layer(phone: Phone) -> Node:
    d = phone.state.dialog
    assert d is not None
    width = min(phone.width / phone.scale - 48, 340)
    box = col(
        text(d.title, 22, id="android:id/alertTitle", lines=3),
        text(d.message, 14, fg="text2", id="android:id/message", lines=0, pad=(0, 16, 0, 0))
        if d.message
        else None,
        row(
            ui.button(d.cancel, lambda: phone.dismiss_dialog(False), "text", id="android:id/button2"),
            ui.button(d.confirm, lambda: phone.dismiss_dialog(True), "text", id="android:id/button1"),
            align="right",
            h=64,
            pad=(0, 24, 0, 0),
            gap=8,
        ),
        w=width,
        bg="dialog",
        radius=28,
        pad=(24, 24, 24, 20),
        gravity="center",
        blocks_touch=True,
        package=d.package,
        id="android:id/parentPanel",
        cls="android.widget.LinearLayout",
    )
    return stack(
        Node(kind="scrim", value=0.4, on_tap=lambda: phone.dismiss_dialog(False), a11y=False, clickable=True),
        box,
        a11y=False,
    )


def build_screen(phone: Phone) -> Node:
    """The whole screen's laid-out widget tree: chrome + the foreground app (or recents)."""
    from autoglm_agent.sim.apps.keyboard import keyboard
    from autoglm_agent.sim.apps.launcher import recents_view

    st = phone.state
    app = phone.apps[st.foreground]
    page = st.top() or Page(name=app.main_page)
    ctx = Ctx(phone, app, page)
    if st.overlay == "recents":
        content = recents_view(Ctx(phone, phone.apps[LAUNCHER], st.tasks[LAUNCHER][0]))
        style = "dark"
        pkg = LAUNCHER
    else:
        content = app.build(ctx)
        style = app.bar_style(ctx)
        pkg = app.package
    content.weight = 1
    ime = (
        keyboard(phone, page)
        if (page.focus is not None and st.overlay is None and st.dialog is None)
        else None
    )
    fg, bg = {"light": ("text", "bar"), "dark": ("white", "black"), "wallpaper": ("white", None)}[style]
    nav_bg = "kbd" if ime is not None else bg
    back_layer: Node | None = None
    if style == "wallpaper":
        w = st.wallpaper
        back_layer = Node(
            kind="image", image=wallpaper(phone.width, phone.height, w.top, w.bottom, w.glow), a11y=False
        )
    main = col(
        _status_bar(phone, fg, bg),
        content,
        ime,
        _nav_bar(phone, "text" if ime is not None else fg, nav_bg),
        a11y=False,
    )
    toast = (
        text(
            st.toast,
            14,
            fg=(240, 240, 240),
            bg=(60, 60, 64),
            radius=20,
            pad=(16, 10, 16, 10),
            gravity="bottom hcenter",
            margin=(24, 0, 24, 120),
            lines=3,
            align="center",
            a11y=False,
        )
        if st.toast
        else None
    )
    root = stack(
        back_layer,
        main,
        toast,
        _dialog_layer(phone) if st.dialog is not None and st.dialog.package == pkg else None,
        package=pkg,
        bg="bg" if back_layer is None else None,
    )
    return ui.layout(root, (0, 0, phone.width, phone.height), phone.scale)


__all__ = [
    "App",
    "Ctx",
    "app_bar",
    "bottom_nav",
    "build_screen",
    "chevron",
    "divider",
    "empty_state",
    "fab",
    "form_row",
    "list_item",
    "screen",
    "section",
]
