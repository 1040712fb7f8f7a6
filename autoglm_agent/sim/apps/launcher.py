"""Launcher3: the home screen grid, the app drawer (swipe up) and the recents overview."""

from __future__ import annotations

from typing import ClassVar

from PIL import Image

from autoglm_agent.sim import ui
from autoglm_agent.sim.apps.base import App, Ctx
from autoglm_agent.sim.phone import HOME_COLS, HOME_ROWS, LAUNCHER, LAUNCHER_ACTIVITY, Page
from autoglm_agent.sim.render import Painter
from autoglm_agent.sim.ui import Node, col, glyph, grid, row, spacer, stack, text

WEEKDAYS_ZH = "一二三四五六日"


def _label(ctx: Ctx, app: App) -> str:
    return app.label_zh if ctx.zh else app.label


def _icon_cell(ctx: Ctx, app: App, icon: float, h: float, fg: str | tuple[int, int, int] = "white") -> Node:
    label = _label(ctx, app)
    phone = ctx.phone

    def launch() -> None:
        phone.launch(app.package)

    return col(
        Node(kind="appicon", glyph=app.package, text=label, w=icon, h=icon, a11y=False),
        text(label, 12, fg=fg, align="center", pad=(2, 6, 2, 0), a11y=False, shadow=fg == "white"),
        h=h,
        cls="android.widget.TextView",
        text=label,
        desc=label,
        align="center",
        on_tap=launch,
        on_long=launch,
        id="icon",
        pad=(0, 4, 0, 0),
    )


class Launcher(App):
    package = LAUNCHER
    activity = LAUNCHER_ACTIVITY
    label = "Launcher"
    label_zh = "启动器"
    launcher = False
    aliases: ClassVar[dict[str, str]] = {"com.android.launcher3.uioverview.QuickstepLauncher": "home"}
    main_page = "home"
    chrome = "wallpaper"

    def entry_page(self, cls: str) -> str | None:
        return "home" if cls in (self.activity, *self.aliases) else None

    def page_home(self, ctx: Ctx) -> Node:
        phone = ctx.phone
        st = ctx.st
        now = ctx.now()
        avail = ctx.height_dp - 28 - 48
        glance_h = min(170.0, avail * 0.22)
        search_h = 52 + 28
        cell_h = min(112.0, (avail - glance_h - search_h - 8) / HOME_ROWS)
        icon = max(28.0, min(58.0, cell_h - 36))
        by_cell = {(s.row, s.col): s.package for s in st.home}
        cells: list[Node] = []
        for r in range(HOME_ROWS):
            for c in range(HOME_COLS):
                pkg = by_cell.get((r, c))
                app = phone.apps.get(pkg) if pkg else None
                cells.append(_icon_cell(ctx, app, icon, cell_h) if app else spacer(h=cell_h))
        if ctx.zh:
            date = f"{now.month}月{now.day}日 星期{WEEKDAYS_ZH[now.weekday()]}"
        else:
            date = now.strftime("%A, %B ") + str(now.day)
        clock_app = phone.apps.get("com.android.deskclock")
        glance = col(
            text(now.strftime("%H:%M"), 64, fg="white", id="clock_time", align="center", shadow=True),
            text(date, 16, fg="white", id="date", align="center", shadow=True),
            h=glance_h,
            pad=(16, 24, 16, 0),
            id="smartspace",
            on_tap=(lambda: phone.launch(clock_app.package)) if clock_app else None,
            cls="android.widget.LinearLayout",
        )
        browser = phone.apps.get("com.android.browser")

        def search() -> None:
            if browser is not None:
                phone.launch(browser.package)
                page = st.top()
                if page is not None:
                    phone.focus_field(page, "url")
                    page.select_all = True

        search_bar = row(
            glyph("search", 22, fg=(90, 94, 104), w=24),
            text(ctx.s("Search", "搜索"), 16, fg=(90, 94, 104), weight=1),
            h=52,
            radius=26,
            bg=(236, 239, 245),
            pad=(18, 0, 18, 0),
            gap=12,
            on_tap=search,
            id="search_container_hotseat",
            desc=ctx.s("Search", "搜索"),
        )
        return col(
            glance,
            grid(HOME_COLS, *cells, weight=1, pad=(8, 8, 8, 0), id="workspace", cls="android.view.ViewGroup"),
            col(search_bar, pad=(20, 8, 20, 20), h=search_h, a11y=False),
            id="launcher",
        )

    def page_drawer(self, ctx: Ctx) -> Node:
        phone = ctx.phone
        query = ctx.value("search").strip().lower()
        apps = sorted(
            (a for a in phone.apps.values() if a.launcher),
            key=lambda a: _label(ctx, a).lower(),
        )
        if query:
            apps = [
                a
                for a in apps
                if query in a.label.lower() or query in a.label_zh or query in a.package.lower()
            ]
        cells = [_icon_cell(ctx, a, 54, 104, fg="white") for a in apps]
        search = ctx.field(
            "search",
            ctx.s("Search apps", "搜索应用"),
            fg=(30, 30, 34),
            bg=(236, 239, 245),
            radius=26,
            h=52,
            pad=(20, 0, 20, 0),
        )
        body = (
            ctx.scroll("apps", grid(HOME_COLS, *cells, pad=(8, 8, 8, 8)), id="apps_list_view")
            if cells
            else text(ctx.s("No apps found", "未找到应用"), 16, fg="white", align="center", weight=1)
        )
        return stack(
            Node(kind="scrim", value=0.55, a11y=False),
            col(col(search, pad=(20, 16, 20, 8), a11y=False), body, a11y=False),
            id="apps_view",
        )

    def on_enter(self, ctx: Ctx) -> bool:
        if ctx.page.name != "drawer":
            return False
        query = ctx.value("search").strip().lower()
        for a in sorted(
            (a for a in ctx.phone.apps.values() if a.launcher), key=lambda a: _label(ctx, a).lower()
        ):
            if query and (query in a.label.lower() or query in a.label_zh):
                ctx.phone.launch(a.package)
                return True
        ctx.page.focus = None
        return True


def _thumbnail(ctx: Ctx, package: str, width: int, height: int) -> Image.Image:
    """A small picture of ``package``'s current page (its content area, without system bars)."""
    from autoglm_agent.sim.apps.base import Ctx as PageCtx

    phone = ctx.phone
    app = phone.apps[package]
    stack_ = ctx.st.tasks.get(package) or [Page(name=app.main_page)]
    page = stack_[-1].model_copy(deep=True)
    page.focus = None
    tree = app.build(PageCtx(phone, app, page))
    sc = phone.scale
    full_w = phone.width
    full_h = round(phone.height - 76 * sc)
    ui.layout(tree, (0, 0, full_w, full_h), sc)
    img = Image.new("RGB", (full_w, full_h), phone.theme.bg)
    if app.secure:
        img.paste((0, 0, 0), (0, 0, full_w, full_h))
    else:
        Painter(phone.theme, sc).paint(img, tree)
    return img.resize((width, height), Image.Resampling.BILINEAR)


def recents_view(ctx: Ctx) -> Node:
    """The overview: one card per recent task (icon, label, thumbnail); tap to switch, or clear all."""
    phone = ctx.phone
    st = ctx.st
    recent = [p for p in st.recents if p in st.tasks and p in phone.apps]
    if not recent:
        return stack(
            text(
                ctx.s("No recent items", "没有最近使用的应用"),
                16,
                fg=(200, 200, 210),
                align="center",
                gravity="center",
                lines=2,
            ),
            bg=(24, 24, 28),
        )
    sc = phone.scale
    card_w = round(ctx.width_dp * 0.72)
    content_h = ctx.height_dp - 76
    thumb_h = round(card_w * content_h / ctx.width_dp)
    cards: list[Node] = []
    card_h = 44 + thumb_h + 20
    top = ctx.page.scroll.get("recents", 0) / sc
    view_h = ctx.height_dp - 28 - 48 - 64
    for i, pkg in enumerate(recent):
        app = phone.apps[pkg]
        label = _label(ctx, app)
        on_screen = i * card_h + 8 - top < view_h and (i + 1) * card_h + 8 - top > 0
        # Only cards in view get a (costly) snapshot; the others are plain until scrolled to.
        thumb = _thumbnail(ctx, pkg, round(card_w * sc), round(thumb_h * sc)) if on_screen else None

        def switch(p: str = pkg) -> None:
            phone.launch(p)

        def remove(p: str = pkg) -> None:
            st.tasks.pop(p, None)
            if p in st.recents:
                st.recents.remove(p)

        cards.append(
            col(
                row(
                    Node(kind="appicon", glyph=pkg, text=label, w=28, h=28, a11y=False),
                    text(label, 15, fg=(235, 235, 240), weight=1),
                    ui.icon_button(
                        "close",
                        ctx.s(f"Dismiss {label}", f"移除{label}"),
                        remove,
                        size=18,
                        box=36,
                        fg=(200, 200, 210),
                    ),
                    h=44,
                    gap=10,
                    pad=(4, 0, 0, 0),
                ),
                Node(
                    kind="image",
                    image=thumb,
                    bg=None if thumb is not None else (60, 60, 66),
                    h=thumb_h,
                    radius=16,
                    on_tap=switch,
                    desc=label,
                    id="snapshot",
                    cls="android.widget.ImageView",
                ),
                w=card_w,
                pad=(0, 0, 0, 20),
                id="task_view",
                desc=label,
                cls="android.widget.FrameLayout",
            )
        )

    def clear_all() -> None:
        for p in list(st.tasks):
            if p != LAUNCHER:
                st.tasks.pop(p)
        st.recents.clear()
        phone.go_home()

    return col(
        row(
            spacer(weight=1),
            ui.button(ctx.s("Clear all", "全部清除"), clear_all, "tonal", id="clear_all"),
            h=64,
            pad=(16, 0, 16, 0),
        ),
        ctx.scroll("recents", *cards, align="center", pad=(0, 8, 0, 8), id="overview_panel"),
        bg=(24, 24, 28),
    )
