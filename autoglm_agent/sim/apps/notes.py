"""Notes: a list of notes, an editor (title + body) that saves on Save or Back, and delete dialogs."""

from __future__ import annotations

import random
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx, app_bar, empty_state, fab, screen
from autoglm_agent.sim.phone import Note, PhoneState
from autoglm_agent.sim.ui import Node, button, col, icon_button, spacer, text


class Notes(App):
    package = "com.android.notes"
    activity = "com.android.notes.NotesListActivity"
    label = "Notes"
    label_zh = "笔记"
    pages: ClassVar[dict[str, str]] = {"editor": "com.android.notes.NoteEditorActivity"}
    aliases: ClassVar[dict[str, str]] = {"com.android.notes.NoteEditorActivity": "editor"}

    def seed(self, st: PhoneState, zh: bool, rng: random.Random) -> None:
        if zh:
            st.notes.append(Note(id=st.new_id(), title="购物清单", body="牛奶、鸡蛋、面包"))
        else:
            st.notes.append(Note(id=st.new_id(), title="Shopping list", body="Milk, eggs, bread"))

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        notes = list(reversed(ctx.st.notes))
        cards: list[Node | None] = []
        for n in notes:
            cards.append(
                col(
                    text(n.title, 16, bold=True, id="note_title") if n.title else None,
                    text(n.body, 14, fg="text2", lines=3, id="note_text") if n.body else None,
                    bg="card",
                    radius=16,
                    pad=(16, 12, 16, 12),
                    gap=4,
                    margin=(0, 0, 0, 0),
                    on_tap=ctx.go("editor", note_id=n.id, fields={"title": n.title, "body": n.body}),
                    on_long=self._ask_delete(ctx, n.id),
                    id="note_item",
                )
            )
        body = (
            ctx.scroll("list", *cards, pad=(16, 8, 16, 96), gap=12, id="notes_list")
            if cards
            else empty_state(s("No notes yet. Tap + to write one.", "还没有笔记，点按 + 新建。"), "notes")
        )
        return screen(
            app_bar(ctx, s("Notes", "笔记"), back=False),
            body,
            fab(
                "plus",
                s("New note", "新建笔记"),
                ctx.go("editor", focus="body", fields={"title": "", "body": ""}),
                "new_note",
            ),
        )

    def _ask_delete(self, ctx: Ctx, note_id: int):  # type: ignore[no-untyped-def]
        s = ctx.s
        return ctx.dialog(
            "delete_note",
            s("Delete this note?", "要删除这条笔记吗？"),
            s("This can't be undone.", "此操作无法撤消。"),
            confirm=s("Delete", "删除"),
            note_id=note_id,
        )

    def page_editor(self, ctx: Ctx) -> Node:
        s = ctx.s
        note_id = ctx.page.args.get("note_id")
        actions: list[Node] = []
        if note_id is not None:
            actions.append(
                icon_button("delete", s("Delete", "删除"), self._ask_delete(ctx, int(note_id)), id="delete")
            )
        actions.append(button(s("Save", "保存"), lambda: self._save(ctx), "text", id="save"))
        return screen(
            app_bar(
                ctx,
                s("Edit note", "编辑笔记") if note_id is not None else s("New note", "新建笔记"),
                actions=actions,
            ),
            col(
                ctx.field("title", s("Title", "标题"), size=22, border=None, h=56),
                spacer(h=8),
                ctx.field("body", s("Note", "笔记内容"), lines=0, weight=1, valign="top"),
                pad=(16, 8, 16, 8),
                weight=1,
            ),
        )

    def _save(self, ctx: Ctx) -> None:
        s = ctx.s
        title = ctx.value("title").strip()
        body = ctx.value("body")
        note_id = ctx.page.args.get("note_id")
        st = ctx.st
        if note_id is not None:
            for n in st.notes:
                if n.id == int(note_id):
                    if title or body.strip():
                        n.title, n.body = title, body
                    else:
                        st.notes.remove(n)
                        ctx.toast(s("Empty note deleted", "已删除空白笔记"))
                    break
        elif title or body.strip():
            st.notes.append(Note(id=st.new_id(), title=title, body=body))
            ctx.toast(s("Note saved", "笔记已保存"))
        else:
            ctx.toast(s("Empty note discarded", "已舍弃空白笔记"))
        ctx.phone.pop()

    def on_back(self, ctx: Ctx) -> bool:
        if ctx.page.name == "editor":
            self._save(ctx)
            return True
        return False

    def confirm_delete_note(self, ctx: Ctx, note_id: int = -1) -> None:
        st = ctx.st
        st.notes = [n for n in st.notes if n.id != note_id]
        if ctx.page.name == "editor":
            ctx.phone.pop()
        ctx.toast(ctx.s("Note deleted", "笔记已删除"))
