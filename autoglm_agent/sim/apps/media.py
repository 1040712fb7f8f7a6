"""Camera (shutter adds a photo), Gallery (grid + viewer + delete) and Music (tracks + player)."""

from __future__ import annotations

import random
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx, app_bar, empty_state, list_item, screen
from autoglm_agent.sim.phone import PhoneState, Photo
from autoglm_agent.sim.ui import Node, col, glyph, grid, icon_button, row, slider, spacer, stack, text

GALLERY = "com.android.gallery3d"


def next_photo_seed(ctx: Ctx) -> int:
    return ctx.phone.seed * 1000 + len(ctx.st.photos) + ctx.st.next_id


class Camera(App):
    package = "com.android.camera2"
    activity = "com.android.camera.CameraLauncher"
    label = "Camera"
    label_zh = "相机"
    pages: ClassVar[dict[str, str]] = {"main": "com.android.camera.CameraActivity"}
    aliases: ClassVar[dict[str, str]] = {"com.android.camera.CameraActivity": "main"}
    chrome = "dark"

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        st = ctx.st
        phone = ctx.phone
        last = st.photos[-1] if st.photos else None

        def shoot() -> None:
            st.photos.append(
                Photo(
                    id=st.new_id(),
                    seed=next_photo_seed(ctx),
                    taken_at=ctx.now().isoformat(timespec="seconds"),
                )
            )

        def open_last() -> None:
            if last is not None:
                phone.launch(GALLERY)
                phone.push("viewer", photo_id=last.id)

        thumb = (
            Node(
                kind="photo",
                value=last.seed,
                w=52,
                h=52,
                radius=26,
                on_tap=open_last,
                desc=s("Latest photo", "最新照片"),
                id="thumbnail",
                cls="android.widget.ImageView",
            )
            if last
            else spacer(w=52, h=52)
        )
        shutter = Node(
            kind="glyph",
            glyph="shutter",
            size=76,
            fg=(255, 255, 255),
            w=84,
            h=84,
            on_tap=shoot,
            desc=s("Shutter", "快门"),
            id="shutter_button",
            cls="android.widget.ImageButton",
        )
        return col(
            row(
                icon_button("sun", s("Flash off", "闪光灯已关闭"), None, fg=(255, 255, 255)),
                spacer(weight=1),
                icon_button("tune", s("Settings", "设置"), None, fg=(255, 255, 255)),
                h=56,
                pad=(8, 0, 8, 0),
                bg=(0, 0, 0),
            ),
            Node(
                kind="photo",
                value=next_photo_seed(ctx),
                weight=1,
                id="preview",
                desc=s("Viewfinder", "取景器"),
                cls="android.view.TextureView",
            ),
            row(
                text(s("Video", "视频"), 14, fg=(200, 200, 200)),
                text(s("Photo", "拍照"), 14, fg=(255, 213, 79), bold=True),
                text(s("Portrait", "人像"), 14, fg=(200, 200, 200)),
                h=44,
                gap=28,
                align="center",
                bg=(0, 0, 0),
            ),
            row(
                stack(thumb, w=80, h=84, a11y=False),
                spacer(weight=1),
                shutter,
                spacer(weight=1),
                stack(
                    icon_button(
                        "flip", s("Switch camera", "切换相机"), None, fg=(255, 255, 255), gravity="center"
                    ),
                    w=80,
                    h=84,
                    a11y=False,
                ),
                h=124,
                pad=(16, 0, 16, 16),
                bg=(0, 0, 0),
            ),
            bg=(0, 0, 0),
            id="android:id/content",
        )


class Gallery(App):
    package = GALLERY
    activity = "com.android.gallery3d.app.GalleryActivity"
    label = "Gallery"
    label_zh = "图库"
    pages: ClassVar[dict[str, str]] = {"viewer": "com.android.gallery3d.app.GalleryActivity"}

    def seed(self, st: PhoneState, zh: bool, rng: random.Random) -> None:
        for i in range(3):
            st.photos.append(
                Photo(id=st.new_id(), seed=rng.randrange(1 << 30) + i, taken_at=f"2024-03-01T10:0{i}:00")
            )

    def bar_style(self, ctx: Ctx) -> str:
        return "dark" if ctx.page.name == "viewer" else "light"

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        photos = list(reversed(ctx.st.photos))
        side = (ctx.width_dp - 8) / 3
        cells = [
            Node(
                kind="photo",
                value=p.seed,
                h=side,
                on_tap=ctx.go("viewer", photo_id=p.id),
                desc=s(f"Photo taken {p.taken_at[:10]}", f"拍摄于 {p.taken_at[:10]} 的照片"),
                id="photo",
                cls="android.widget.ImageView",
            )
            for p in photos
        ]
        body = (
            ctx.scroll("grid", grid(3, *cells, gap=2), pad=(2, 0, 2, 0), id="gallery_grid")
            if cells
            else empty_state(s("No photos yet", "还没有照片"), "image")
        )
        return screen(app_bar(ctx, s("Photos", "照片"), back=False), body)

    def page_viewer(self, ctx: Ctx) -> Node:
        s = ctx.s
        pid = ctx.page.args.get("photo_id")
        p = next((x for x in ctx.st.photos if x.id == pid), None)
        if p is None:
            return screen(app_bar(ctx, ""), empty_state(s("Photo not found", "找不到照片")))
        bar = row(
            icon_button("back", s("Navigate up", "向上导航"), ctx.up, fg=(255, 255, 255), id="navigate_up"),
            text(p.taken_at.replace("T", " ")[:16], 16, fg=(255, 255, 255), weight=1, pad=(8, 0, 0, 0)),
            icon_button("share", s("Share", "分享"), None, fg=(255, 255, 255)),
            icon_button(
                "delete",
                s("Delete", "删除"),
                ctx.dialog(
                    "delete_photo",
                    s("Delete this photo?", "要删除这张照片吗？"),
                    confirm=s("Delete", "删除"),
                    photo_id=p.id,
                ),
                fg=(255, 255, 255),
                id="delete",
            ),
            h=64,
            pad=(4, 0, 4, 0),
            bg=(0, 0, 0),
        )
        h = ctx.width_dp * 4 / 3
        return col(
            bar,
            stack(
                Node(
                    kind="photo",
                    value=p.seed,
                    h=h,
                    gravity="center",
                    id="photo_view",
                    cls="android.widget.ImageView",
                    desc=s("Photo", "照片"),
                ),
                weight=1,
                a11y=False,
            ),
            bg=(0, 0, 0),
            id="android:id/content",
        )

    def confirm_delete_photo(self, ctx: Ctx, photo_id: int = -1) -> None:
        ctx.st.photos = [p for p in ctx.st.photos if p.id != photo_id]
        if ctx.page.name == "viewer":
            ctx.phone.pop()
        ctx.toast(ctx.s("Photo deleted", "照片已删除"))


TRACKS: tuple[tuple[str, str], ...] = (
    ("Morning Light", "The Simulators"),
    ("City Lines", "Pixel Band"),
    ("Ocean Drive", "Neon Waves"),
    ("Quiet Room", "Lo Fidelity"),
    ("Night Train", "Echo Park"),
)


class Music(App):
    package = "com.android.music"
    activity = "com.android.music.MusicBrowserActivity"
    label = "Music"
    label_zh = "音乐"
    pages: ClassVar[dict[str, str]] = {"player": "com.android.music.MediaPlaybackActivity"}

    def _play(self, ctx: Ctx, i: int) -> None:
        ctx.st.music.track = i
        ctx.st.music.playing = True

    def _toggle(self, ctx: Ctx) -> None:
        ctx.st.music.playing = not ctx.st.music.playing

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        m = ctx.st.music
        phone = ctx.phone

        def opener(i: int):  # type: ignore[no-untyped-def]
            def go() -> None:
                self._play(ctx, i)
                phone.push("player")

            return go

        rows = [
            list_item(
                t,
                a,
                lead=Node(kind="photo", value=9000 + i, w=48, h=48, radius=8, a11y=False),
                on_tap=opener(i),
                ids="track_",
                h=68,
                trailing=glyph("volume", 20, fg="primary", w=20) if (m.playing and m.track == i) else None,
            )
            for i, (t, a) in enumerate(TRACKS)
        ]
        mini = None
        if m.playing or m.track:
            title, artist = TRACKS[m.track]
            mini = row(
                Node(kind="photo", value=9000 + m.track, w=44, h=44, radius=8, a11y=False),
                col(text(title, 15, bold=True), text(artist, 13, fg="text2"), weight=1, a11y=False),
                icon_button(
                    "pause" if m.playing else "play",
                    s("Pause", "暂停") if m.playing else s("Play", "播放"),
                    lambda: self._toggle(ctx),
                    id="pause",
                ),
                h=68,
                pad=(12, 0, 8, 0),
                gap=12,
                bg="card",
                on_tap=ctx.go("player"),
                id="nowplaying",
            )
        return screen(
            app_bar(ctx, s("Music", "音乐"), back=False),
            col(ctx.scroll("tracks", *rows, id="track_list"), mini, weight=1, a11y=False),
        )

    def page_player(self, ctx: Ctx) -> Node:
        s = ctx.s
        m = ctx.st.music
        title, artist = TRACKS[m.track]
        side = min(ctx.width_dp - 64, 320)
        n = len(TRACKS)
        return screen(
            app_bar(ctx, s("Now playing", "正在播放")),
            col(
                Node(kind="photo", value=9000 + m.track, w=side, h=side, radius=16, a11y=False),
                text(title, 24, bold=True, align="center", id="trackname", pad=(0, 16, 0, 0)),
                text(artist, 16, fg="text2", align="center", id="artistname"),
                slider(0.3, None, pad=(24, 0, 24, 0), desc=s("Progress", "进度")),
                row(
                    icon_button(
                        "prev", s("Previous", "上一首"), lambda: self._play(ctx, (m.track - 1) % n), id="prev"
                    ),
                    icon_button(
                        "pause" if m.playing else "play",
                        s("Pause", "暂停") if m.playing else s("Play", "播放"),
                        lambda: self._toggle(ctx),
                        size=36,
                        box=72,
                        bg="primary",
                        fg="on_primary",
                        id="pause",
                    ),
                    icon_button(
                        "next", s("Next", "下一首"), lambda: self._play(ctx, (m.track + 1) % n), id="next"
                    ),
                    h=96,
                    gap=28,
                    align="center",
                ),
                align="center",
                pad=(16, 16, 16, 16),
                gap=8,
                weight=1,
            ),
        )


class Wallet(App):
    """A payment app whose window is FLAG_SECURE: screenshots of it are black."""

    package = "com.android.wallet"
    activity = "com.android.wallet.WalletActivity"
    label = "Wallet"
    label_zh = "钱包"
    secure = True

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        card = col(
            text("SimBank", 18, fg=(255, 255, 255), bold=True),
            spacer(weight=1),
            text("•••• 4242", 20, fg=(255, 255, 255)),
            text("VISA", 16, fg=(230, 230, 240), align="right", bold=True),
            h=200,
            radius=20,
            bg=(40, 60, 140),
            pad=(24, 20, 24, 20),
            id="card",
            desc=s("Visa card ending in 4242", "尾号为 4242 的 Visa 卡"),
        )
        return screen(
            app_bar(ctx, s("Wallet", "钱包"), back=False),
            col(
                card,
                text(
                    s("Hold to reader to pay", "靠近读卡器即可付款"),
                    16,
                    fg="text2",
                    align="center",
                    pad=(0, 24, 0, 8),
                ),
                list_item(s("Balance", "余额"), "$1,024.50", icon="wallet", ids="balance_"),
                list_item(
                    s("Transactions", "交易记录"),
                    s("Coffee Shop  -$4.50", "咖啡店  -$4.50"),
                    icon="history",
                    ids="tx_",
                ),
                pad=(16, 16, 16, 16),
                gap=8,
                weight=1,
            ),
        )
