"""Contacts: an alphabetical list, a create form (Name, Phone) and a detail page with delete."""

from __future__ import annotations

import random
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx, app_bar, empty_state, fab, form_row, list_item, screen
from autoglm_agent.sim.phone import Contact, PhoneState
from autoglm_agent.sim.ui import Node, button, col, glyph, icon_button, row, text

AVATAR_COLORS = ((30, 136, 229), (67, 160, 71), (229, 57, 53), (142, 36, 170), (0, 137, 123), (251, 140, 0))

SEED_EN = (
    ("Alice Chen", "+1 555-0101"),
    ("Bob Smith", "+1 555-0102"),
    ("Carol Wang", "+1 555-0103"),
    ("David Lee", "+1 555-0104"),
)
SEED_ZH = (
    ("张伟", "138 0013 8001"),
    ("李娜", "139 0013 9002"),
    ("王芳", "137 0013 7003"),
    ("刘洋", "136 0013 6004"),
)


def avatar_color(name: str) -> tuple[int, int, int]:
    return AVATAR_COLORS[sum(ord(c) for c in name) % len(AVATAR_COLORS)]


def avatar(name: str, size: float = 40) -> Node:
    return Node(kind="avatar", text=name or "?", fg=avatar_color(name), w=size, h=size, a11y=False)


class Contacts(App):
    package = "com.android.contacts"
    activity = "com.android.contacts.activities.PeopleActivity"
    label = "Contacts"
    label_zh = "联系人"
    pages: ClassVar[dict[str, str]] = {
        "edit": "com.android.contacts.activities.ContactEditorActivity",
        "detail": "com.android.contacts.activities.QuickContactActivity",
    }
    aliases: ClassVar[dict[str, str]] = {"com.android.contacts.activities.ContactEditorActivity": "edit"}

    def seed(self, st: PhoneState, zh: bool, rng: random.Random) -> None:
        for name, phone in SEED_ZH if zh else SEED_EN:
            st.contacts.append(Contact(id=st.new_id(), name=name, phone=phone))

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        people = sorted(ctx.st.contacts, key=lambda c: c.name.lower())
        rows = [
            list_item(
                c.name, lead=avatar(c.name), on_tap=ctx.go("detail", contact_id=c.id), ids="contact_", h=64
            )
            for c in people
        ]
        body = (
            ctx.scroll("list", *rows, pad=(0, 0, 0, 96), id="contact_list")
            if rows
            else empty_state(s("No contacts yet", "还没有联系人"), "person")
        )
        return screen(
            app_bar(ctx, s("Contacts", "联系人"), back=False),
            body,
            fab(
                "plus",
                s("Create contact", "新建联系人"),
                ctx.go("edit", focus="name"),
                "floating_action_button",
            ),
        )

    def page_edit(self, ctx: Ctx) -> Node:
        s = ctx.s
        ok = bool(ctx.value("name").strip() or ctx.value("phone").strip())
        return screen(
            app_bar(
                ctx,
                s("Create contact", "新建联系人"),
                actions=[
                    button(
                        s("Save", "保存"),
                        lambda: self._save(ctx),
                        "filled",
                        id="editor_menu_save_button",
                        enabled=ok,
                        h=36,
                    )
                ],
            ),
            col(
                col(
                    glyph("person", 56, fg="on_tonal", bg="tonal", w=96, h=96, radius=48),
                    align="center",
                    pad=(0, 16, 0, 16),
                    a11y=False,
                ),
                form_row(s("Name", "姓名"), ctx.field("name", s("Name", "姓名"))),
                form_row(s("Phone", "电话"), ctx.field("phone", s("Phone", "电话"), input_type="phone")),
                weight=1,
            ),
        )

    def _save(self, ctx: Ctx) -> None:
        name = ctx.value("name").strip()
        phone = ctx.value("phone").strip()
        if not name and not phone:
            return
        st = ctx.st
        c = Contact(id=st.new_id(), name=name or phone, phone=phone)
        st.contacts.append(c)
        ctx.phone.pop()
        ctx.phone.push("detail", contact_id=c.id)
        ctx.toast(ctx.s(f"{c.name} saved", f"已保存{c.name}"))

    def on_back(self, ctx: Ctx) -> bool:
        if ctx.page.name == "edit" and (ctx.value("name").strip() or ctx.value("phone").strip()):
            s = ctx.s
            ctx.dialog(
                "discard",
                s("Discard changes?", "要舍弃更改吗？"),
                confirm=s("Discard", "舍弃"),
                cancel=s("Keep editing", "继续修改"),
            )()
            return True
        return False

    def confirm_discard(self, ctx: Ctx) -> None:
        ctx.phone.pop()

    def page_detail(self, ctx: Ctx) -> Node:
        s = ctx.s
        cid = ctx.page.args.get("contact_id")
        c = next((x for x in ctx.st.contacts if x.id == cid), None)
        if c is None:
            return screen(app_bar(ctx, ""), empty_state(s("Contact not found", "未找到联系人")))
        phone = ctx.phone

        def message() -> None:
            phone.launch("com.android.messaging")
            phone.push("thread", who=c.name)

        return screen(
            app_bar(
                ctx,
                "",
                actions=[
                    icon_button(
                        "delete",
                        s("Delete", "删除"),
                        ctx.dialog(
                            "delete_contact",
                            s(f"Delete {c.name}?", f"要删除{c.name}吗？"),
                            confirm=s("Delete", "删除"),
                            contact_id=c.id,
                        ),
                        id="menu_delete",
                    )
                ],
            ),
            col(
                col(avatar(c.name, 96), align="center", pad=(0, 8, 0, 8), a11y=False),
                text(c.name, 28, align="center", id="large_title"),
                row(
                    button(s("Message", "发信息"), message, "tonal", weight=1, id="message_button"),
                    h=72,
                    pad=(24, 16, 24, 16),
                ),
                list_item(c.phone or "-", s("Mobile", "手机"), icon="message", ids="phone_"),
                weight=1,
            ),
        )

    def confirm_delete_contact(self, ctx: Ctx, contact_id: int = -1) -> None:
        ctx.st.contacts = [c for c in ctx.st.contacts if c.id != contact_id]
        if ctx.page.name == "detail":
            ctx.phone.pop()
