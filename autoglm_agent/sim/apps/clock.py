"""Clock: Alarm tab (list, switches, add/edit with hour and minute fields and +/- buttons), Clock tab,
Timer and Stopwatch tabs (static faces)."""

from __future__ import annotations

import random
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx, app_bar, bottom_nav, empty_state, fab, form_row, screen
from autoglm_agent.sim.phone import Alarm, PhoneState
from autoglm_agent.sim.ui import Node, button, col, icon_button, row, spacer, switch, text


def _fmt(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


class Clock(App):
    package = "com.android.deskclock"
    activity = "com.android.deskclock.DeskClock"
    label = "Clock"
    label_zh = "时钟"
    pages: ClassVar[dict[str, str]] = {"alarm_edit": "com.android.deskclock.DeskClock"}
    aliases: ClassVar[dict[str, str]] = {"com.android.deskclock.AlarmClock": "main"}

    def seed(self, st: PhoneState, zh: bool, rng: random.Random) -> None:
        st.alarms.append(
            Alarm(id=st.new_id(), hour=6, minute=30, enabled=False, label="工作日" if zh else "Weekdays")
        )

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        tab = str(ctx.page.args.get("tab", "alarm"))
        page = ctx.page

        def select(t: str):  # type: ignore[no-untyped-def]
            def go() -> None:
                page.args["tab"] = t

            return go

        nav = bottom_nav(
            [
                ("alarm", s("Alarm", "闹钟"), tab == "alarm", select("alarm")),
                ("clock", s("Clock", "时钟"), tab == "clock", select("clock")),
                ("timer", s("Timer", "计时器"), tab == "timer", select("timer")),
                ("stopwatch", s("Stopwatch", "秒表"), tab == "stopwatch", select("stopwatch")),
            ]
        )
        body = getattr(self, f"_tab_{tab}", self._tab_alarm)(ctx)
        title = {
            "alarm": s("Alarm", "闹钟"),
            "clock": s("Clock", "时钟"),
            "timer": s("Timer", "计时器"),
            "stopwatch": s("Stopwatch", "秒表"),
        }[tab]
        floating = (
            fab(
                "plus",
                s("Add alarm", "添加闹钟"),
                ctx.go("alarm_edit", fields={"hour": "07", "minute": "00", "label": ""}),
                "fab",
            )
            if tab == "alarm"
            else None
        )
        if floating is not None:
            floating.margin = (0, 0, 16, 96)
        return screen(app_bar(ctx, title, back=False), col(body, nav, weight=1, a11y=False), floating)

    def _tab_alarm(self, ctx: Ctx) -> Node:
        s = ctx.s
        st = ctx.st
        if not st.alarms:
            return empty_state(s("No alarms", "没有闹钟"), "alarm")
        cards = []
        for a in sorted(st.alarms, key=lambda a: (a.hour, a.minute, a.id)):

            def toggle(alarm: Alarm = a) -> None:
                alarm.enabled = not alarm.enabled
                if alarm.enabled:
                    ctx.toast(self._until(ctx, alarm.hour, alarm.minute))

            cards.append(
                col(
                    row(
                        text(
                            _fmt(a.hour, a.minute),
                            44,
                            fg="text" if a.enabled else "text2",
                            weight=1,
                            id="digital_clock",
                        ),
                        switch(a.enabled, toggle, id="onoff"),
                        h=64,
                    ),
                    text(
                        (a.label + " · " if a.label else "")
                        + (s("Scheduled", "已设置") if a.enabled else s("Not scheduled", "未设置")),
                        14,
                        fg="text2",
                        id="label",
                    ),
                    bg="card",
                    radius=20,
                    pad=(20, 8, 16, 12),
                    on_tap=ctx.go(
                        "alarm_edit",
                        alarm_id=a.id,
                        fields={"hour": f"{a.hour:02d}", "minute": f"{a.minute:02d}", "label": a.label},
                    ),
                    on_long=ctx.dialog(
                        "delete_alarm",
                        s("Delete alarm?", "要删除闹钟吗？"),
                        confirm=s("Delete", "删除"),
                        alarm_id=a.id,
                    ),
                    id="alarm_item",
                )
            )
        return ctx.scroll("alarms", *cards, pad=(16, 8, 16, 96), gap=12, id="alarm_recycler_view")

    def _tab_clock(self, ctx: Ctx) -> Node:
        now = ctx.now()
        date = f"{now.month}月{now.day}日" if ctx.zh else now.strftime("%a, %b ") + str(now.day)
        return col(
            text(now.strftime("%H:%M"), 72, align="center", id="digital_clock"),
            text(date, 18, fg="text2", align="center", id="date"),
            weight=1,
            pad=(16, 80, 16, 16),
            gap=8,
        )

    def _tab_timer(self, ctx: Ctx) -> Node:
        return col(
            text("00:05:00", 56, align="center", id="timer_setup_time"),
            row(
                button(
                    ctx.s("Start", "开始"),
                    lambda: ctx.toast(ctx.s("Timer started", "计时器已启动")),
                    "filled",
                    w=140,
                    h=56,
                    radius=28,
                ),
                align="center",
                h=96,
                pad=(0, 24, 0, 0),
            ),
            weight=1,
            pad=(16, 80, 16, 16),
        )

    def _tab_stopwatch(self, ctx: Ctx) -> Node:
        return col(
            text("00:00.00", 56, align="center", id="stopwatch_time_text"),
            row(
                button(ctx.s("Start", "开始"), None, "filled", w=140, h=56, radius=28),
                align="center",
                h=96,
                pad=(0, 24, 0, 0),
            ),
            weight=1,
            pad=(16, 80, 16, 16),
        )

    def _until(self, ctx: Ctx, hour: int, minute: int) -> str:
        now = ctx.now()
        mins = (hour * 60 + minute - (now.hour * 60 + now.minute)) % (24 * 60) or 24 * 60
        h, m = divmod(mins, 60)
        if ctx.zh:
            return f"闹钟将在 {h} 小时 {m} 分钟后响铃。"
        return f"Alarm set for {h} hours and {m} minutes from now."

    def page_alarm_edit(self, ctx: Ctx) -> Node:
        s = ctx.s
        page = ctx.page
        editing = page.args.get("alarm_id") is not None

        def bump(key: str, delta: int, mod: int):  # type: ignore[no-untyped-def]
            def go() -> None:
                try:
                    v = int(page.fields.get(key, "0") or 0)
                except ValueError:
                    v = 0
                page.fields[key] = f"{(v + delta) % mod:02d}"
                if page.focus == key:
                    page.cursor = len(page.fields[key])

            return go

        def spinner(key: str, mod: int, desc: str) -> Node:
            return col(
                icon_button("plus", s(f"Increase {desc}", f"增加{desc}"), bump(key, 1, mod), id=f"{key}_up"),
                ctx.field(
                    key,
                    "00",
                    size=48,
                    input_type="number",
                    max_length=2,
                    h=80,
                    align="center",
                    id=key,
                    desc=desc,
                ),
                icon_button(
                    "minus", s(f"Decrease {desc}", f"减少{desc}"), bump(key, -1, mod), id=f"{key}_down"
                ),
                w=110,
                align="center",
                a11y=False,
            )

        actions = [button(s("Save", "保存"), lambda: self._save(ctx), "text", id="save")]
        if editing:
            actions.insert(
                0,
                icon_button(
                    "delete",
                    s("Delete", "删除"),
                    ctx.dialog(
                        "delete_alarm",
                        s("Delete alarm?", "要删除闹钟吗？"),
                        confirm=s("Delete", "删除"),
                        alarm_id=page.args["alarm_id"],
                    ),
                    id="delete",
                ),
            )
        return screen(
            app_bar(
                ctx, s("Edit alarm", "修改闹钟") if editing else s("Add alarm", "添加闹钟"), actions=actions
            ),
            col(
                row(
                    spinner("hour", 24, s("hour", "小时")),
                    text(":", 48, w=28, align="center"),
                    spinner("minute", 60, s("minute", "分钟")),
                    align="center",
                    h=200,
                    pad=(0, 16, 0, 0),
                ),
                form_row(s("Label", "标签"), ctx.field("label", s("Alarm name", "闹钟名称"))),
                spacer(weight=1),
                row(
                    button(s("Cancel", "取消"), ctx.up, "outlined", weight=1),
                    button(s("Save", "保存"), lambda: self._save(ctx), "filled", weight=1, id="save_button"),
                    h=72,
                    gap=12,
                    pad=(16, 8, 16, 16),
                ),
                weight=1,
            ),
        )

    def _save(self, ctx: Ctx) -> None:
        s = ctx.s
        try:
            hour = int(ctx.value("hour") or "-1")
            minute = int(ctx.value("minute") or "-1")
        except ValueError:
            hour = minute = -1
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            ctx.toast(s("Enter a valid time (00:00 - 23:59)", "请输入有效时间（00:00 - 23:59）"))
            return
        st = ctx.st
        label = ctx.value("label").strip()
        alarm_id = ctx.page.args.get("alarm_id")
        alarm = next((a for a in st.alarms if a.id == alarm_id), None) if alarm_id is not None else None
        if alarm is None:
            st.alarms.append(Alarm(id=st.new_id(), hour=hour, minute=minute, enabled=True, label=label))
        else:
            alarm.hour, alarm.minute, alarm.label, alarm.enabled = hour, minute, label, True
        ctx.phone.pop()
        ctx.toast(self._until(ctx, hour, minute))

    def on_enter(self, ctx: Ctx) -> bool:
        if ctx.page.name == "alarm_edit" and ctx.page.focus == "label":
            self._save(ctx)
            return True
        return False

    def confirm_delete_alarm(self, ctx: Ctx, alarm_id: int = -1) -> None:
        ctx.st.alarms = [a for a in ctx.st.alarms if a.id != alarm_id]
        if ctx.page.name == "alarm_edit":
            ctx.phone.pop()
