"""Messages: conversations (received + sent), a new-conversation screen (To + text + Send), threads."""

from __future__ import annotations

import random
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx, app_bar, empty_state, fab, list_item, screen
from autoglm_agent.sim.apps.contacts import avatar
from autoglm_agent.sim.phone import PhoneState, ReceivedMessage, SentMessage
from autoglm_agent.sim.render import text_width
from autoglm_agent.sim.ui import Node, col, icon_button, row, text


class Messages(App):
    package = "com.android.messaging"
    activity = "com.android.messaging.ui.conversationlist.ConversationListActivity"
    label = "Messages"
    label_zh = "信息"
    pages: ClassVar[dict[str, str]] = {
        "compose": "com.android.messaging.ui.conversation.ConversationActivity",
        "thread": "com.android.messaging.ui.conversation.ConversationActivity",
    }
    aliases: ClassVar[dict[str, str]] = {
        "com.android.messaging.ui.conversation.ConversationActivity": "compose"
    }

    def seed(self, st: PhoneState, zh: bool, rng: random.Random) -> None:
        if zh:
            st.inbox.append(ReceivedMessage(sender="10086", text="您的流量套餐余额为 5.2 GB。", time="08:03"))
            st.inbox.append(ReceivedMessage(sender="李娜", text="晚上七点见？", time="09:12"))
        else:
            st.inbox.append(
                ReceivedMessage(sender="SimCell", text="Your data balance is 5.2 GB.", time="08:03")
            )
            st.inbox.append(ReceivedMessage(sender="Bob Smith", text="See you at 7?", time="09:12"))

    def _threads(self, ctx: Ctx) -> list[tuple[str, str, str]]:
        """(who, last text, time) per conversation, most recent first."""
        events: list[tuple[int, str, str, str]] = []
        for i, m in enumerate(ctx.st.inbox):
            events.append((i, m.sender, m.text, m.time))
        base = len(ctx.st.inbox)
        for i, sm in enumerate(ctx.st.sent_messages):
            events.append((base + i, sm.to, sm.text, sm.time))
        latest: dict[str, tuple[int, str, str]] = {}
        for order, who, msg, time in events:
            latest[who] = (order, msg, time)
        return [(w, m, t) for w, (o, m, t) in sorted(latest.items(), key=lambda kv: -kv[1][0])]

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        rows = [
            list_item(
                who,
                msg,
                lead=avatar(who),
                trailing=text(time, 12, fg="text2"),
                on_tap=ctx.go("thread", who=who),
                ids="conversation_",
            )
            for who, msg, time in self._threads(ctx)
        ]
        body = (
            ctx.scroll("list", *rows, pad=(0, 0, 0, 96), id="conversation_list")
            if rows
            else empty_state(s("No conversations", "没有对话"), "message")
        )
        return screen(
            app_bar(ctx, s("Messages", "信息"), back=False),
            body,
            fab(
                "message",
                s("Start chat", "发起聊天"),
                ctx.go("compose", focus="to"),
                "start_new_conversation_button",
            ),
        )

    def _composer(self, ctx: Ctx) -> Node:
        s = ctx.s
        can_send = bool(ctx.value("text").strip())
        return row(
            ctx.field(
                "text",
                s("Text message", "短信"),
                weight=1,
                bg="card",
                radius=24,
                pad=(16, 0, 16, 0),
                h=48,
                id="compose_message_text",
            ),
            icon_button(
                "send",
                s("Send SMS", "发送短信"),
                (lambda: self._send(ctx)) if can_send else None,
                fg="primary" if can_send else "hint",
                id="send_message_button",
                enabled=can_send,
            ),
            h=72,
            pad=(12, 12, 8, 12),
            gap=8,
            bg="bar",
        )

    def page_compose(self, ctx: Ctx) -> Node:
        s = ctx.s
        query = ctx.value("to").strip().lower()
        matches = [
            c
            for c in sorted(ctx.st.contacts, key=lambda c: c.name.lower())
            if not query or query in c.name.lower() or query in c.phone
        ]
        page = ctx.page
        phone = ctx.phone

        def pick(name: str):  # type: ignore[no-untyped-def]
            def go() -> None:
                page.fields["to"] = name
                phone.focus_field(page, "text")

            return go

        suggestions = [
            list_item(c.name, c.phone, lead=avatar(c.name), on_tap=pick(c.name), ids="contact_")
            for c in matches
        ]
        return screen(
            app_bar(ctx, s("New conversation", "新对话")),
            col(
                row(
                    text(s("To", "收件人"), 16, fg="text2", w=56),
                    ctx.field(
                        "to",
                        s("Type a name, phone number or email", "输入姓名、电话号码或电子邮件地址"),
                        weight=1,
                        id="recipient_text_view",
                    ),
                    h=64,
                    pad=(16, 0, 16, 0),
                ),
                ctx.scroll("contacts", *suggestions, id="contact_picker"),
                self._composer(ctx),
                weight=1,
            ),
        )

    def page_thread(self, ctx: Ctx) -> Node:
        who = str(ctx.page.args.get("who", ""))
        items: list[tuple[int, bool, str]] = [
            (i, False, m.text) for i, m in enumerate(ctx.st.inbox) if m.sender == who
        ]
        base = len(ctx.st.inbox)
        items += [(base + i, True, m.text) for i, m in enumerate(ctx.st.sent_messages) if m.to == who]
        items.sort()
        bubbles = [
            col(
                text(
                    msg,
                    15,
                    lines=0,
                    bg="primary" if mine else "card",
                    fg="on_primary" if mine else "text",
                    radius=18,
                    pad=(14, 10, 14, 10),
                    id="message_text",
                    w=min(ctx.width_dp * 0.72, self._text_dp(ctx, msg) + 30),
                ),
                align="right" if mine else "left",
                a11y=False,
            )
            for _, mine, msg in items
        ]
        return screen(
            app_bar(ctx, who),
            col(
                ctx.scroll("thread", *bubbles, pad=(12, 12, 12, 12), gap=8, id="message_list"),
                self._composer(ctx),
                weight=1,
            ),
        )

    @staticmethod
    def _text_dp(ctx: Ctx, msg: str) -> float:
        px = round(15 * ctx.phone.scale)
        return max(text_width(line, px) for line in msg.split("\n")) / ctx.phone.scale

    def _send(self, ctx: Ctx) -> None:
        st = ctx.st
        body = ctx.value("text")
        if not body.strip():
            return
        if ctx.page.name == "compose":
            to = ctx.value("to").strip()
            if not to:
                ctx.toast(ctx.s("Add a recipient first", "请先添加收件人"))
                return
            match = next((c for c in st.contacts if c.name.lower() == to.lower() or c.phone == to), None)
            who = match.name if match else to
            number = match.phone if match else ""
            st.sent_messages.append(
                SentMessage(to=who, text=body, phone=number, time=ctx.now().strftime("%H:%M"))
            )
            ctx.phone.pop()
            ctx.phone.push("thread", who=who)
        else:
            who = str(ctx.page.args.get("who", ""))
            match = next((c for c in st.contacts if c.name == who), None)
            number = match.phone if match else ""
            st.sent_messages.append(
                SentMessage(to=who, text=body, phone=number, time=ctx.now().strftime("%H:%M"))
            )
            ctx.page.fields["text"] = ""
            ctx.page.cursor = 0

    def on_enter(self, ctx: Ctx) -> bool:
        if ctx.page.focus == "text":
            self._send(ctx)
            return True
        if ctx.page.focus == "to":
            ctx.phone.focus_field(ctx.page, "text")
            return True
        return False
