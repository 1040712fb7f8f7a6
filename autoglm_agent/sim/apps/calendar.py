"""Calendar: a month grid (tap a day to select it, arrows change month), the day's events and a
"+" page that adds an event with a title."""

from __future__ import annotations

import calendar as _cal
import random
from datetime import date
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx, app_bar, fab, form_row, list_item, screen
from autoglm_agent.sim.phone import CalendarEvent, PhoneState
from autoglm_agent.sim.ui import Node, button, col, grid, icon_button, spacer, stack, text

MONTHS_ZH = [f"{i}月" for i in range(1, 13)]


def _shift_month(y: int, m: int, delta: int) -> tuple[int, int]:
    k = y * 12 + (m - 1) + delta
    return k // 12, k % 12 + 1


class Calendar(App):
    package = "com.android.calendar"
    activity = "com.android.calendar.AllInOneActivity"
    label = "Calendar"
    label_zh = "日历"
    pages: ClassVar[dict[str, str]] = {"event": "com.android.calendar.event.EditEventActivity"}
    aliases: ClassVar[dict[str, str]] = {"com.android.calendar.event.EditEventActivity": "event"}

    def seed(self, st: PhoneState, zh: bool, rng: random.Random) -> None:
        del st, zh, rng  # no events until the user (or a task) adds them

    def _selected(self, ctx: Ctx) -> date:
        raw = ctx.page.args.get("selected")
        if raw:
            try:
                return date.fromisoformat(str(raw))
            except ValueError:
                pass
        return ctx.now().date()

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        page = ctx.page
        today = ctx.now().date()
        sel = self._selected(ctx)
        offset = int(page.args.get("month_offset", 0))
        y, m = _shift_month(today.year, today.month, offset)
        title = f"{y}年{MONTHS_ZH[m - 1]}" if ctx.zh else f"{_cal.month_name[m]} {y}"
        events = ctx.st.events
        days_with_events = {e.date for e in events}

        def shift(delta: int):  # type: ignore[no-untyped-def]
            def go() -> None:
                page.args["month_offset"] = offset + delta

            return go

        def pick(d: date):  # type: ignore[no-untyped-def]
            def go() -> None:
                page.args["selected"] = d.isoformat()

            return go

        heads = "日一二三四五六" if ctx.zh else "SMTWTFS"
        cells: list[Node] = [text(h, 12, fg="text2", align="center", h=32, a11y=False) for h in heads]
        first_wd = (date(y, m, 1).weekday() + 1) % 7  # Sunday first
        for _ in range(first_wd):
            cells.append(spacer(h=52))
        for d in range(1, _cal.monthrange(y, m)[1] + 1):
            day = date(y, m, d)
            is_sel, is_today = day == sel, day == today
            cells.append(
                stack(
                    text(
                        str(d),
                        15,
                        align="center",
                        w=40,
                        h=40,
                        radius=20,
                        gravity="center",
                        bg="primary" if is_sel else None,
                        border="primary" if is_today and not is_sel else None,
                        fg="on_primary" if is_sel else "text",
                        a11y=False,
                    ),
                    Node(
                        kind="divider",
                        fg="primary",
                        w=6,
                        h=6,
                        radius=3,
                        bg="primary",
                        gravity="bottom hcenter",
                        a11y=False,
                    )
                    if day.isoformat() in days_with_events
                    else None,
                    h=52,
                    on_tap=pick(day),
                    selected=is_sel,
                    text=str(d),
                    desc=day.isoformat(),
                    cls="android.widget.TextView",
                    id="day",
                )
            )
        day_events = [e for e in events if e.date == sel.isoformat()]
        label = f"{sel.month}月{sel.day}日" if ctx.zh else sel.strftime("%a, %b ") + str(sel.day)
        rows: list[Node | None] = [
            grid(7, *cells, pad=(8, 0, 8, 8), id="month_grid"),
            text(label, 14, fg="primary", bold=True, pad=(20, 8, 20, 4)),
        ]
        if day_events:
            rows += [
                list_item(e.title, icon="calendar", icon_fg="primary", ids="event_", h=56) for e in day_events
            ]
        else:
            rows.append(text(s("No events", "没有活动"), 14, fg="text2", pad=(20, 8, 20, 8)))
        return screen(
            app_bar(
                ctx,
                title,
                back=False,
                actions=[
                    icon_button("chevron_left", s("Previous month", "上个月"), shift(-1), id="prev"),
                    icon_button("chevron_right", s("Next month", "下个月"), shift(1), id="next"),
                ],
            ),
            ctx.scroll("month", *rows, pad=(0, 0, 0, 96), id="month_view"),
            fab(
                "plus",
                s("Create event", "创建活动"),
                ctx.go("event", focus="title", date=sel.isoformat()),
                "floating_action_button",
            ),
        )

    def page_event(self, ctx: Ctx) -> Node:
        s = ctx.s
        d = str(ctx.page.args.get("date") or ctx.now().date().isoformat())
        return screen(
            app_bar(
                ctx,
                s("New event", "新建活动"),
                actions=[button(s("Save", "保存"), lambda: self._save(ctx), "filled", id="save", h=36)],
            ),
            col(
                form_row(s("Title", "标题"), ctx.field("title", s("Add title", "添加标题"), size=20)),
                list_item(s("Date", "日期"), d, icon="calendar", ids="date_"),
                spacer(weight=1),
                weight=1,
            ),
        )

    def _save(self, ctx: Ctx) -> None:
        title = ctx.value("title").strip()
        if not title:
            ctx.toast(ctx.s("Add a title first", "请先添加标题"))
            return
        d = str(ctx.page.args.get("date") or ctx.now().date().isoformat())
        ctx.st.events.append(CalendarEvent(id=ctx.st.new_id(), title=title, date=d))
        ctx.phone.pop()
        main = ctx.st.top()
        if main is not None:
            main.args["selected"] = d
        ctx.toast(ctx.s("Event saved", "活动已保存"))

    def on_enter(self, ctx: Ctx) -> bool:
        if ctx.page.name == "event":
            self._save(ctx)
            return True
        return False


class Files(App):
    package = "com.android.documentsui"
    activity = "com.android.documentsui.files.FilesActivity"
    label = "Files"
    label_zh = "文件"
    aliases: ClassVar[dict[str, str]] = {"com.android.documentsui.LauncherActivity": "main"}

    FOLDERS: ClassVar[dict[str, tuple[str, str, tuple[str, ...]]]] = {
        "Download": ("下载", "download", ("boarding_pass.pdf", "invoice_2024_02.pdf", "setup.apk")),
        "Documents": ("文档", "file", ("resume.docx", "notes.txt")),
        "Pictures": ("图片", "image", ()),
        "Music": ("音乐", "music", ("morning_light.mp3",)),
        "Movies": ("影片", "play", ()),
    }

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        rows = []
        for name, (zh, icon, files) in self.FOLDERS.items():
            count = len(ctx.st.photos) if name == "Pictures" else len(files)
            rows.append(
                list_item(
                    zh if ctx.zh else name,
                    s(f"{count} items", f"{count} 项"),
                    icon=icon,
                    icon_fg="primary",
                    on_tap=ctx.go("folder", name=name),
                    ids="folder_",
                )
            )
        return screen(app_bar(ctx, s("Files", "文件"), back=False), ctx.scroll("list", *rows, id="dir_list"))

    def page_folder(self, ctx: Ctx) -> Node:
        s = ctx.s
        name = str(ctx.page.args.get("name", "Download"))
        zh, icon, files = self.FOLDERS.get(name, (name, "folder", ()))
        items = list(files)
        if name == "Pictures":
            items = [f"IMG_{p.taken_at[:10].replace('-', '')}_{p.id}.jpg" for p in ctx.st.photos]
        rows = [list_item(f, icon="file" if icon != "image" else "image", ids="file_") for f in items]
        body = (
            ctx.scroll("list", *rows, id="dir_list")
            if rows
            else text(s("No items", "没有任何项目"), 16, fg="text2", align="center", weight=1)
        )
        return screen(app_bar(ctx, zh if ctx.zh else name), body)
