"""Drawing for the simulated phone: fonts, colours, vector glyphs, sprites and the widget painter.

Everything here is a pure function of its arguments (plus caches), so the same widget tree always
gives the same pixels. Shapes that need smooth edges (glyphs, app icons, switches) are drawn 4x
larger once and downsampled into cached masks; text is drawn straight with FreeType.
"""

from __future__ import annotations

import math
import os
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFilter, ImageFont

if TYPE_CHECKING:
    from autoglm_agent.sim.ui import Node

RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# --------------------------------------------------------------------------------------------- fonts

#: (path, face index) candidates, best first. Noto Sans CJK face 2 is the Simplified Chinese one.
_REGULAR_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallback.ttf", 0),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0),
)
_BOLD_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 2),
)
#: FreeType objects are shared between phones (fonts are cached per size): one thread at a time.
_font_lock = threading.RLock()


@lru_cache(maxsize=2)
def _font_source(bold: bool) -> tuple[str, int] | None:
    """The first font file that exists and loads (path probing only, no fontconfig)."""
    candidates = (*_BOLD_FONTS, *_REGULAR_FONTS) if bold else _REGULAR_FONTS
    for path, index in candidates:
        if os.path.exists(path):
            try:
                ImageFont.truetype(path, 12, index=index)
            except OSError:
                continue
            return path, index
    return None


@lru_cache(maxsize=128)
def font(size: int, bold: bool = False) -> Font:
    """A font of ``size`` pixels; falls back to PIL's built-in font when no system font exists."""
    size = max(4, int(size))
    with _font_lock:
        source = _font_source(bold)
        if source is not None:
            return ImageFont.truetype(source[0], size, index=source[1])
        try:
            return ImageFont.load_default(size)
        except TypeError:  # Pillow < 10.1 has only the bitmap font
            return ImageFont.load_default()


def font_name() -> str:
    """Which font file is in use (for reports and tests)."""
    source = _font_source(False)
    return source[0] if source else "PIL default"


_width_cache: dict[tuple[int, bool, str], float] = {}


def text_width(s: str, size: int, bold: bool = False) -> float:
    """Advance width of ``s`` in pixels; summed per character (kerning is ignored) and cached."""
    total = 0.0
    f = font(size, bold)
    for ch in s:
        key = (size, bold, ch)
        w = _width_cache.get(key)
        if w is None:
            try:
                with _font_lock:
                    w = float(f.getlength(ch))
            except Exception:  # a glyph the font cannot measure: treat it as a box
                w = size * 0.6
            if len(_width_cache) < 200_000:
                _width_cache[key] = w
        total += w
    return total


@lru_cache(maxsize=4096)
def text_sprite(s: str, size: int, bold: bool = False) -> tuple[Image.Image | None, int, int, float]:
    """(mask, dx, dy, advance) of one line of text; the mask's top-left is (dx, dy) from the
    left end of the baseline. Cached: repainting a screen mostly pastes known masks."""
    f = font(size, bold)
    advance = text_width(s, size, bold)
    with _font_lock:
        try:
            x0, y0, x1, y1 = f.getbbox(s, anchor="ls")
        except Exception:  # a bitmap font without anchors, or a glyph the font cannot handle
            return None, 0, 0, advance
        if x1 <= x0 or y1 <= y0:
            return None, 0, 0, advance
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        ImageDraw.Draw(mask).text((-x0, -y0), s, font=f, fill=255, anchor="ls")
        return mask, x0, y0, float(f.getlength(s))


@lru_cache(maxsize=256)
def _baseline_shift(size: int, bold: bool) -> float:
    """From the middle of the ascender/descender box to the baseline (what anchor "m" centres)."""
    try:
        with _font_lock:
            asc, desc = font(size, bold).getmetrics()
    except Exception:
        return size * 0.35
    return (asc - desc) / 2


def draw_line(
    img: Image.Image, s: str, size: int, bold: bool, color: RGB, x: float, y_mid: float, align: str
) -> None:
    """Draw one line vertically centred on ``y_mid``; ``x`` is its left, centre or right end."""
    if not s:
        return
    mask, dx, dy, adv = text_sprite(s, size, bold)
    if mask is None:
        try:
            anchor = {"center": "mm", "right": "rm"}.get(align, "lm")
            with _font_lock:
                ImageDraw.Draw(img).text((x, y_mid), s, font=font(size, bold), fill=color, anchor=anchor)
        except Exception:  # never let an unrenderable string break a frame
            pass
        return
    left = x - adv / 2 if align == "center" else x - adv if align == "right" else x
    base = y_mid + _baseline_shift(size, bold)
    img.paste(color, (round(left + dx), round(base + dy)), mask)


def line_height(size: int) -> int:
    return round(size * 1.36)


def _is_wide(ch: str) -> bool:
    o = ord(ch)
    return o >= 0x2E80 and not (0xFF61 <= o <= 0xFFDC)


def wrap(text: str, size: int, width: float, bold: bool = False, max_lines: int = 0) -> list[str]:
    """Greedy wrap: breaks Latin text at spaces and CJK/emoji text between any two characters.

    With ``max_lines`` the last line is ellipsized when text is left over.
    """
    lines: list[str] = []
    for para in text.split("\n"):
        cur = ""
        cur_w = 0.0
        for ch in para:
            w = text_width(ch, size, bold)
            if cur and cur_w + w > width:
                cut = cur.rfind(" ")
                if ch != " " and cut > 0 and not _is_wide(ch):
                    lines.append(cur[:cut])
                    cur = cur[cut + 1 :]
                else:
                    lines.append(cur.rstrip(" ") if ch == " " else cur)
                    cur = ""
                if ch == " ":
                    cur_w = text_width(cur, size, bold)
                    continue
                cur_w = text_width(cur, size, bold)
            cur += ch
            cur_w += w
        lines.append(cur)
    if max_lines and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = ellipsize(lines[-1] + "…", size, width, bold)
    return lines


def ellipsize(s: str, size: int, width: float, bold: bool = False) -> str:
    if text_width(s, size, bold) <= width:
        return s
    ell = text_width("…", size, bold)
    out = ""
    acc = 0.0
    for ch in s:
        w = text_width(ch, size, bold)
        if acc + w + ell > width:
            break
        out += ch
        acc += w
    return out.rstrip() + "…"


# --------------------------------------------------------------------------------------------- theme


@dataclass(frozen=True)
class Theme:
    """Colour roles (Material-like). Widget colours name a role, so dark mode is one switch."""

    dark: bool
    bg: RGB
    surface: RGB
    card: RGB
    bar: RGB
    text: RGB
    text2: RGB
    hint: RGB
    primary: RGB
    on_primary: RGB
    tonal: RGB
    on_tonal: RGB
    divider: RGB
    outline: RGB
    error: RGB
    track_off: RGB
    thumb_off: RGB
    dialog: RGB
    key: RGB
    key2: RGB
    kbd: RGB
    white: RGB = (255, 255, 255)
    black: RGB = (0, 0, 0)


LIGHT = Theme(
    dark=False,
    bg=(250, 250, 252),
    surface=(255, 255, 255),
    card=(240, 242, 247),
    bar=(250, 250, 252),
    text=(28, 28, 32),
    text2=(96, 98, 108),
    hint=(150, 152, 160),
    primary=(26, 101, 212),
    on_primary=(255, 255, 255),
    tonal=(214, 227, 250),
    on_tonal=(16, 52, 110),
    divider=(226, 228, 234),
    outline=(150, 154, 166),
    error=(200, 40, 40),
    track_off=(226, 228, 236),
    thumb_off=(122, 124, 134),
    dialog=(244, 244, 250),
    key=(255, 255, 255),
    key2=(200, 205, 215),
    kbd=(229, 231, 237),
)
DARK = Theme(
    dark=True,
    bg=(18, 19, 22),
    surface=(30, 31, 36),
    card=(38, 40, 46),
    bar=(18, 19, 22),
    text=(232, 232, 238),
    text2=(170, 172, 182),
    hint=(120, 122, 132),
    primary=(138, 180, 248),
    on_primary=(10, 40, 90),
    tonal=(44, 62, 96),
    on_tonal=(210, 226, 255),
    divider=(50, 52, 60),
    outline=(120, 124, 136),
    error=(242, 120, 120),
    track_off=(60, 62, 70),
    thumb_off=(150, 152, 162),
    dialog=(40, 42, 50),
    key=(66, 68, 76),
    key2=(48, 50, 58),
    kbd=(30, 31, 36),
)

ColorSpec = RGB | tuple[int, int, int, int] | str | None


def resolve(theme: Theme, c: ColorSpec) -> RGB | None:
    if c is None:
        return None
    if isinstance(c, str):
        if c.startswith("#"):
            return (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16))
        return getattr(theme, c)
    return (c[0], c[1], c[2])


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


# --------------------------------------------------------------------------------------------- glyphs
# Glyphs are drawn on a 24x24 unit grid (like Material icons) into a 4x supersampled "L" mask.

_SS = 4


class _Pen:
    def __init__(self, d: ImageDraw.ImageDraw, px: int) -> None:
        self.d = d
        self.k = px * _SS / 24.0

    def p(self, x: float, y: float) -> tuple[float, float]:
        return (x * self.k, y * self.k)

    def line(self, pts: Iterable[tuple[float, float]], w: float = 2.0, fill: int = 255) -> None:
        pp = [self.p(x, y) for x, y in pts]
        width = max(1, round(w * self.k))
        self.d.line(pp, fill=fill, width=width, joint="curve")
        r = width / 2
        for x, y in (pp[0], pp[-1]):
            self.d.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def poly(self, pts: Iterable[tuple[float, float]], fill: int = 255) -> None:
        self.d.polygon([self.p(x, y) for x, y in pts], fill=fill)

    def circle(self, cx: float, cy: float, r: float, w: float = 0, fill: int = 255) -> None:
        box = (*self.p(cx - r, cy - r), *self.p(cx + r, cy + r))
        if w:
            self.d.ellipse(box, outline=fill, width=max(1, round(w * self.k)))
        else:
            self.d.ellipse(box, fill=fill)

    def rect(
        self, x0: float, y0: float, x1: float, y1: float, r: float = 0, w: float = 0, fill: int = 255
    ) -> None:
        box = (*self.p(x0, y0), *self.p(x1, y1))
        rad = round(r * self.k)
        if w:
            self.d.rounded_rectangle(box, radius=rad, outline=fill, width=max(1, round(w * self.k)))
        else:
            self.d.rounded_rectangle(box, radius=rad, fill=fill)

    def arc(self, cx: float, cy: float, r: float, a0: float, a1: float, w: float = 2.0) -> None:
        box = (*self.p(cx - r, cy - r), *self.p(cx + r, cy + r))
        self.d.arc(box, a0, a1, fill=255, width=max(1, round(w * self.k)))


def _g_gear(g: _Pen) -> None:
    pts = []
    for i in range(16):
        a = math.pi * 2 * i / 16 + math.pi / 16
        r = 10.5 if i % 2 == 0 else 7.8
        pts.append((12 + r * math.cos(a - 0.12), 12 + r * math.sin(a - 0.12)))
        pts.append((12 + r * math.cos(a + 0.12), 12 + r * math.sin(a + 0.12)))
    g.poly(pts)
    g.circle(12, 12, 3.4, fill=0)


def _g_clock(g: _Pen) -> None:
    g.circle(12, 12, 9, w=2)
    g.line([(12, 7), (12, 12), (15.5, 14)], w=2)


def _g_alarm(g: _Pen) -> None:
    g.circle(12, 13, 8, w=2)
    g.line([(12, 9), (12, 13), (15, 15)], w=2)
    g.line([(3.5, 6), (7, 3)], w=2)
    g.line([(20.5, 6), (17, 3)], w=2)


def _g_calculator(g: _Pen) -> None:
    g.rect(5, 2.5, 19, 21.5, r=2.5, w=2)
    g.rect(8, 5.5, 16, 9, r=0.8)
    for cx in (9, 12, 15):
        for cy in (13, 16.5):
            g.circle(cx, cy, 1.1)


def _g_person(g: _Pen) -> None:
    g.circle(12, 8, 4)
    g.d.chord((*g.p(4, 13.5), *g.p(20, 29)), 180, 360, fill=255)


def _g_message(g: _Pen) -> None:
    g.rect(3, 4, 21, 17, r=3)
    g.poly([(6, 16), (6, 21.5), (11.5, 16)])
    for y in (8.3, 12.3):
        g.line([(7.5, y), (16.5 if y < 10 else 13.5, y)], w=1.6, fill=0)


def _g_notes(g: _Pen) -> None:
    g.rect(5, 3, 19, 21, r=2, w=2)
    for y in (8, 12, 16):
        g.line([(8.5, y), (15.5 if y < 16 else 12.5, y)], w=1.6)


def _g_globe(g: _Pen) -> None:
    g.circle(12, 12, 9, w=1.8)
    g.d.ellipse((*g.p(8, 3), *g.p(16, 21)), outline=255, width=max(1, round(1.6 * g.k)))
    g.line([(3.5, 12), (20.5, 12)], w=1.6)
    g.line([(5, 7.5), (19, 7.5)], w=1.4)
    g.line([(5, 16.5), (19, 16.5)], w=1.4)


def _g_camera(g: _Pen) -> None:
    g.rect(2.5, 6.5, 21.5, 19.5, r=2.5)
    g.poly([(8, 6.7), (9.5, 4), (14.5, 4), (16, 6.7)])
    g.circle(12, 13, 4.6, fill=0)
    g.circle(12, 13, 2.8)


def _g_image(g: _Pen) -> None:
    g.rect(3, 4, 21, 20, r=2, w=2)
    g.poly([(5, 18), (10, 11), (13.5, 15.5), (15.5, 13), (19, 18)])
    g.circle(15.5, 8.5, 1.8)


def _g_calendar(g: _Pen) -> None:
    g.rect(3.5, 5, 20.5, 21, r=2, w=2)
    g.rect(3.5, 5, 20.5, 9.5, r=2)
    g.line([(8, 3), (8, 6)], w=2)
    g.line([(16, 3), (16, 6)], w=2)
    for cx in (8, 12, 16):
        g.circle(cx, 13.5, 1.1)
        g.circle(cx, 17.2, 1.1)


def _g_folder(g: _Pen) -> None:
    g.poly([(2.5, 5), (9.5, 5), (11.5, 7.5), (21.5, 7.5), (21.5, 19.5), (2.5, 19.5)])


def _g_file(g: _Pen) -> None:
    g.poly([(5, 2.5), (14, 2.5), (19, 7.5), (19, 21.5), (5, 21.5)])
    g.poly([(14, 2.5), (14, 7.5), (19, 7.5)], fill=0)


def _g_music(g: _Pen) -> None:
    g.d.ellipse((*g.p(5, 14.5), *g.p(11.5, 20.5)), fill=255)
    g.line([(10.5, 17.5), (10.5, 4)], w=2)
    g.poly([(9.5, 3), (18.5, 5.5), (18.5, 9.5), (9.5, 7)])


def _g_wallet(g: _Pen) -> None:
    g.rect(2.5, 5.5, 21.5, 19.5, r=2.5)
    g.rect(2.5, 8.5, 21.5, 11, fill=0)
    g.rect(14, 14, 18.5, 16.5, r=0.8, fill=0)


def _g_back(g: _Pen) -> None:
    g.line([(20, 12), (4.5, 12)])
    g.line([(11, 5), (4, 12), (11, 19)])


def _g_plus(g: _Pen) -> None:
    g.line([(12, 4.5), (12, 19.5)])
    g.line([(4.5, 12), (19.5, 12)])


def _g_minus(g: _Pen) -> None:
    g.line([(5, 12), (19, 12)])


def _g_close(g: _Pen) -> None:
    g.line([(5.5, 5.5), (18.5, 18.5)])
    g.line([(18.5, 5.5), (5.5, 18.5)])


def _g_check(g: _Pen) -> None:
    g.line([(4.5, 12.5), (9.5, 17.5), (19.5, 6.5)])


def _g_search(g: _Pen) -> None:
    g.circle(10, 10, 6, w=2)
    g.line([(14.5, 14.5), (20, 20)], w=2.2)


def _g_more(g: _Pen) -> None:
    for y in (5, 12, 19):
        g.circle(12, y, 2)


def _g_delete(g: _Pen) -> None:
    g.rect(6, 7.5, 18, 21, r=1.5, w=2)
    g.line([(4, 6), (20, 6)], w=2)
    g.line([(9.5, 3), (14.5, 3)], w=2)
    g.line([(10, 10.5), (10, 18)], w=1.6)
    g.line([(14, 10.5), (14, 18)], w=1.6)


def _g_edit(g: _Pen) -> None:
    g.poly([(4, 20), (5, 15.5), (15.5, 5), (19, 8.5), (8.5, 19)])


def _g_send(g: _Pen) -> None:
    g.poly([(3, 20.5), (21.5, 12), (3, 3.5), (3, 10), (15, 12), (3, 14)])


def _g_wifi(g: _Pen) -> None:
    g.d.pieslice((*g.p(-4, 4), *g.p(28, 36)), 225, 315, fill=255)


def _g_wifi_off(g: _Pen) -> None:
    g.d.pieslice((*g.p(-4, 4), *g.p(28, 36)), 225, 315, fill=90)
    g.line([(3.5, 3.5), (20.5, 20.5)], w=2)


def _g_bluetooth(g: _Pen) -> None:
    g.line([(6.5, 7), (17, 16.5), (12, 21), (12, 3), (17, 7.5), (6.5, 17)], w=2)


def _g_airplane(g: _Pen) -> None:
    g.poly(
        [
            (12, 2),
            (13.6, 4),
            (13.6, 9),
            (21, 13.5),
            (21, 15.5),
            (13.6, 13.2),
            (13.6, 18.5),
            (16, 20.3),
            (16, 22),
            (12, 20.8),
            (8, 22),
            (8, 20.3),
            (10.4, 18.5),
            (10.4, 13.2),
            (3, 15.5),
            (3, 13.5),
            (10.4, 9),
            (10.4, 4),
        ]
    )


def _g_signal(g: _Pen) -> None:
    g.poly([(2.5, 21), (21, 21), (21, 2.5)])


def _g_sun(g: _Pen) -> None:
    g.circle(12, 12, 4.5)
    for i in range(8):
        a = math.pi * i / 4
        g.line(
            [(12 + 7 * math.cos(a), 12 + 7 * math.sin(a)), (12 + 9.5 * math.cos(a), 12 + 9.5 * math.sin(a))],
            w=1.8,
        )


def _g_moon(g: _Pen) -> None:
    g.circle(12, 12, 9)
    g.circle(16.5, 8.5, 7.5, fill=0)


def _g_volume(g: _Pen) -> None:
    g.poly([(3, 9), (7.5, 9), (13, 4), (13, 20), (7.5, 15), (3, 15)])
    g.arc(13, 12, 4.5, -55, 55, w=1.8)
    g.arc(13, 12, 8, -55, 55, w=1.8)


def _g_info(g: _Pen) -> None:
    g.circle(12, 12, 9.5, w=2)
    g.line([(12, 11), (12, 17)], w=2.2)
    g.circle(12, 7.5, 1.4)


def _g_lock(g: _Pen) -> None:
    g.rect(5, 10.5, 19, 21, r=2)
    g.arc(12, 10, 4.5, 180, 360, w=2)
    g.line([(7.5, 10), (7.5, 11)], w=2)
    g.line([(16.5, 10), (16.5, 11)], w=2)


def _g_bell(g: _Pen) -> None:
    g.d.chord((*g.p(5.5, 4), *g.p(18.5, 26)), 180, 360, fill=255)
    g.rect(5.5, 14, 18.5, 17.5)
    g.rect(3.5, 16.5, 20.5, 18.5, r=1)
    g.circle(12, 20.5, 2)
    g.circle(12, 3.5, 1.3)


def _g_apps(g: _Pen) -> None:
    for cx in (5.5, 12, 18.5):
        for cy in (5.5, 12, 18.5):
            g.circle(cx, cy, 2.2)


def _g_location(g: _Pen) -> None:
    g.circle(12, 9.5, 6.5)
    g.poly([(6.3, 12.5), (12, 22), (17.7, 12.5)])
    g.circle(12, 9.5, 2.4, fill=0)


def _g_battery(g: _Pen) -> None:
    g.rect(7, 4, 17, 22, r=1.5)
    g.rect(10, 2, 14, 4.5)


def _g_storage(g: _Pen) -> None:
    for y in (4, 10, 16):
        g.rect(4, y, 20, y + 4.5, r=1)


def _g_shield(g: _Pen) -> None:
    g.poly([(12, 2.5), (20, 6), (20, 11.5), (17, 18), (12, 21.5), (7, 18), (4, 11.5), (4, 6)])
    g.line([(8.5, 12), (11, 14.5), (15.5, 9.5)], w=1.8, fill=0)


def _g_phone_android(g: _Pen) -> None:
    g.rect(6.5, 2, 17.5, 22, r=2, w=2)
    g.line([(10.5, 18.5), (13.5, 18.5)], w=1.6)


def _g_keyboard(g: _Pen) -> None:
    g.rect(2.5, 6, 21.5, 18.5, r=2, w=1.8)
    for cx in (6.5, 10, 13.5, 17):
        g.circle(cx, 10, 0.9)
    g.line([(8, 14.5), (16, 14.5)], w=1.6)


def _g_refresh(g: _Pen) -> None:
    g.arc(12, 12, 7.5, 40, 330, w=2)
    g.poly([(14.5, 2.5), (21, 4.5), (17, 10)])


def _g_home(g: _Pen) -> None:
    g.poly([(12, 3.5), (21, 11.5), (18.5, 11.5), (18.5, 20.5), (5.5, 20.5), (5.5, 11.5), (3, 11.5)])


def _g_play(g: _Pen) -> None:
    g.poly([(7.5, 4.5), (19.5, 12), (7.5, 19.5)])


def _g_pause(g: _Pen) -> None:
    g.rect(6.5, 5, 10, 19, r=0.8)
    g.rect(14, 5, 17.5, 19, r=0.8)


def _g_next(g: _Pen) -> None:
    g.poly([(5.5, 5), (15, 12), (5.5, 19)])
    g.rect(15.5, 5, 18.5, 19)


def _g_prev(g: _Pen) -> None:
    g.poly([(18.5, 5), (9, 12), (18.5, 19)])
    g.rect(5.5, 5, 8.5, 19)


def _g_chevron_right(g: _Pen) -> None:
    g.line([(9, 5), (16, 12), (9, 19)])


def _g_chevron_left(g: _Pen) -> None:
    g.line([(15, 5), (8, 12), (15, 19)])


def _g_timer(g: _Pen) -> None:
    g.poly([(6, 3), (18, 3), (18, 5), (13.2, 12), (18, 19), (18, 21), (6, 21), (6, 19), (10.8, 12), (6, 5)])


def _g_stopwatch(g: _Pen) -> None:
    g.circle(12, 13.5, 8, w=2)
    g.line([(12, 13.5), (12, 9)], w=2)
    g.line([(9.5, 2.5), (14.5, 2.5)], w=2)


def _g_nav_back(g: _Pen) -> None:
    g.line([(17, 4.5), (6, 12), (17, 19.5), (17, 4.5)], w=1.9)


def _g_nav_home(g: _Pen) -> None:
    g.circle(12, 12, 8, w=1.9)


def _g_nav_recents(g: _Pen) -> None:
    g.rect(5, 5, 19, 19, r=2.5, w=1.9)


def _g_star(g: _Pen) -> None:
    pts = []
    for i in range(10):
        a = -math.pi / 2 + math.pi * i / 5
        r = 10 if i % 2 == 0 else 4.3
        pts.append((12 + r * math.cos(a), 12.8 + r * math.sin(a)))
    g.poly(pts)


def _g_shutter(g: _Pen) -> None:
    g.circle(12, 12, 11)
    g.circle(12, 12, 9.3, fill=0)
    g.circle(12, 12, 8.2)


def _g_flip(g: _Pen) -> None:
    g.arc(12, 12, 7.5, 200, 340, w=2)
    g.arc(12, 12, 7.5, 20, 160, w=2)
    g.poly([(17, 5), (21.5, 8.5), (16, 10)])
    g.poly([(7, 19), (2.5, 15.5), (8, 14)])


def _g_backspace(g: _Pen) -> None:
    g.poly([(8, 5), (21, 5), (21, 19), (8, 19), (2.5, 12)])
    g.line([(11, 8.5), (17, 15.5)], w=1.8, fill=0)
    g.line([(17, 8.5), (11, 15.5)], w=1.8, fill=0)


def _g_shift(g: _Pen) -> None:
    g.poly([(12, 3.5), (21, 12.5), (16, 12.5), (16, 20), (8, 20), (8, 12.5), (3, 12.5)])


def _g_enter(g: _Pen) -> None:
    g.line([(19, 5), (19, 14), (6, 14)], w=2)
    g.line([(10, 9.5), (5, 14), (10, 18.5)], w=2)


def _g_share(g: _Pen) -> None:
    g.circle(18, 5.5, 2.8)
    g.circle(6, 12, 2.8)
    g.circle(18, 18.5, 2.8)
    g.line([(6, 12), (18, 5.5)], w=1.6)
    g.line([(6, 12), (18, 18.5)], w=1.6)


def _g_card(g: _Pen) -> None:
    _g_wallet(g)


def _g_download(g: _Pen) -> None:
    g.line([(12, 3.5), (12, 15)])
    g.line([(7, 10.5), (12, 15.5), (17, 10.5)])
    g.line([(5, 20), (19, 20)])


def _g_history(g: _Pen) -> None:
    _g_clock(g)


def _g_bookmark(g: _Pen) -> None:
    g.poly([(6, 3), (18, 3), (18, 21), (12, 16.5), (6, 21)])


def _g_tune(g: _Pen) -> None:
    for y, x in ((6, 15), (12, 8), (18, 13)):
        g.line([(3.5, y), (20.5, y)], w=1.6)
        g.circle(x, y, 2.4)


GLYPHS: dict[str, Callable[[_Pen], None]] = {
    name[3:]: fn for name, fn in globals().items() if name.startswith("_g_") and callable(fn)
}


@lru_cache(maxsize=512)
def glyph_mask(name: str, px: int) -> Image.Image:
    """An antialiased 'L' mask of glyph ``name`` at ``px`` pixels (unknown names draw a box)."""
    px = max(4, int(px))
    big = Image.new("L", (px * _SS, px * _SS), 0)
    pen = _Pen(ImageDraw.Draw(big), px)
    fn = GLYPHS.get(name)
    if fn is None:
        pen.rect(4, 4, 20, 20, r=3, w=2)
    else:
        fn(pen)
    return big.resize((px, px), Image.Resampling.LANCZOS)


def paste_glyph(img: Image.Image, name: str, box: tuple[int, int, int, int], color: RGB) -> None:
    """Draw glyph ``name`` centred in ``box`` (its size is the box's smaller side)."""
    x0, y0, x1, y1 = box
    px = max(4, min(x1 - x0, y1 - y0))
    mask = glyph_mask(name, px)
    img.paste(color, (x0 + (x1 - x0 - px) // 2, y0 + (y1 - y0 - px) // 2), mask)


# --------------------------------------------------------------------------------------------- sprites


@lru_cache(maxsize=256)
def rounded_mask(w: int, h: int, radius: int) -> Image.Image:
    """Antialiased mask of a rounded rectangle (used for app icons, switches, cards)."""
    w, h = max(1, w), max(1, h)
    big = Image.new("L", (w * _SS, h * _SS), 0)
    ImageDraw.Draw(big).rounded_rectangle(
        (0, 0, w * _SS - 1, h * _SS - 1), radius=min(radius, w // 2, h // 2) * _SS, fill=255
    )
    return big.resize((w, h), Image.Resampling.LANCZOS)


@lru_cache(maxsize=64)
def circle_mask(d: int) -> Image.Image:
    return rounded_mask(d, d, d // 2)


def fill_rounded(img: Image.Image, box: tuple[int, int, int, int], radius: int, color: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        return
    if radius <= 0:
        img.paste(color, (x0, y0, x1, y1))
        return
    img.paste(color, (x0, y0), rounded_mask(w, h, radius))


#: Launcher icon colours and glyphs, per package.
APP_ICON_STYLE: dict[str, tuple[RGB, RGB, str]] = {
    "com.android.settings": ((96, 109, 128), (66, 78, 96), "gear"),
    "com.android.deskclock": ((40, 53, 147), (26, 35, 110), "clock"),
    "com.android.calculator2": ((255, 143, 0), (230, 100, 0), "calculator"),
    "com.android.contacts": ((30, 136, 229), (21, 101, 192), "person"),
    "com.android.messaging": ((0, 150, 136), (0, 110, 100), "message"),
    "com.android.notes": ((255, 193, 7), (240, 160, 0), "notes"),
    "com.android.browser": ((66, 133, 244), (25, 118, 210), "globe"),
    "com.android.camera2": ((55, 71, 79), (33, 43, 48), "camera"),
    "com.android.gallery3d": ((216, 27, 96), (170, 20, 80), "image"),
    "com.android.calendar": ((67, 160, 71), (46, 125, 50), "calendar"),
    "com.android.documentsui": ((121, 85, 72), (93, 64, 55), "folder"),
    "com.android.music": ((142, 36, 170), (106, 27, 154), "music"),
    "com.android.wallet": ((20, 20, 24), (60, 60, 70), "wallet"),
}


@lru_cache(maxsize=64)
def app_icon(package: str, size: int, label: str = "") -> Image.Image:
    """An RGBA launcher icon: a rounded square with a vertical gradient and a white glyph."""
    top, bottom, glyph = APP_ICON_STYLE.get(package, ((120, 120, 130), (90, 90, 100), ""))
    grad = Image.linear_gradient("L").resize((size, size))
    body = Image.composite(Image.new("RGB", (size, size), bottom), Image.new("RGB", (size, size), top), grad)
    icon = body.convert("RGBA")
    icon.putalpha(rounded_mask(size, size, round(size * 0.3)))
    inner = round(size * 0.58)
    off = (size - inner) // 2
    if glyph:
        icon.paste((255, 255, 255, 255), (off, off), glyph_mask(glyph, inner))
    else:
        letter = (label or package.rsplit(".", 1)[-1])[:1].upper()
        with _font_lock:
            ImageDraw.Draw(icon).text(
                (size / 2, size / 2),
                letter,
                font=font(round(size * 0.5), True),
                fill=(255, 255, 255),
                anchor="mm",
            )
    return icon


@lru_cache(maxsize=8)
def switch_sprite(on: bool, w: int, h: int, track: RGB, thumb: RGB, border: RGB | None) -> Image.Image:
    """A Material 3 style switch (RGBA)."""
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    img.paste((*track, 255), (0, 0), rounded_mask(w, h, h // 2))
    if border is not None:
        ring = rounded_mask(w, h, h // 2)
        inner = rounded_mask(w - 4, h - 4, (h - 4) // 2)
        hole = Image.new("L", (w, h), 0)
        hole.paste(inner, (2, 2))
        edge = Image.composite(Image.new("L", (w, h), 0), ring, hole)
        img.paste((*border, 255), (0, 0), edge)
    d = round(h * (0.72 if on else 0.5))
    cx = w - h // 2 if on else h // 2
    img.paste((*thumb, 255), (cx - d // 2, h // 2 - d // 2), circle_mask(d))
    return img


# --------------------------------------------------------------------------------------------- pictures


@lru_cache(maxsize=16)
def wallpaper(width: int, height: int, top: RGB, bottom: RGB, glow: RGB | None) -> Image.Image:
    """A vertical gradient wallpaper with an optional soft glow in the upper third."""
    mask = Image.linear_gradient("L").resize((width, height))
    img = Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask
    )
    if glow is not None:
        d = int(width * 1.3)
        radial = Image.radial_gradient("L").resize((d, d))
        # the gradient is 181 at the middle of an edge: fade to 0 before it, smoothly
        alpha = radial.point(lambda v: int(max(0.0, 1.0 - v / 176) ** 2 * 150))
        img.paste(glow, (width - d // 2 - width // 5, height // 5 - d // 2), alpha)
    return img


@lru_cache(maxsize=96)
def photo(seed: int, width: int, height: int) -> Image.Image:
    """A procedural landscape 'photo' (sky, sun, mountains); the same seed gives the same picture."""
    rng = random.Random(seed * 7919 + 17)
    skies = [
        ((120, 180, 240), (230, 240, 250)),
        ((250, 160, 90), (255, 220, 170)),
        ((40, 50, 110), (200, 120, 140)),
        ((150, 200, 230), (250, 250, 240)),
        ((90, 130, 200), (250, 200, 150)),
    ]
    top, horizon = skies[rng.randrange(len(skies))]
    w, h = max(8, width), max(8, height)
    grad = Image.linear_gradient("L").resize((w, h))
    img = Image.composite(Image.new("RGB", (w, h), horizon), Image.new("RGB", (w, h), top), grad)
    d = ImageDraw.Draw(img)
    sr = w * rng.uniform(0.06, 0.11)
    sx, sy = w * rng.uniform(0.2, 0.8), h * rng.uniform(0.15, 0.4)
    d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=(255, 245, 200))
    base = [(70, 110, 90), (50, 90, 120), (110, 90, 70), (60, 120, 60)][rng.randrange(4)]
    for layer in range(3):
        y0 = h * (0.45 + 0.13 * layer)
        pts = [(0.0, float(h))]
        x = 0.0
        while x <= w:
            pts.append((x, y0 + rng.uniform(-0.12, 0.08) * h))
            x += w * rng.uniform(0.12, 0.3)
        pts += [(float(w), y0), (float(w), float(h))]
        shade = mix(base, (20, 25, 30), 0.25 * layer)
        d.polygon(pts, fill=shade)
    if rng.random() < 0.5:
        d.rectangle((0, int(h * 0.86), w, h), fill=mix(base, (200, 210, 160), 0.4))
    return img.filter(ImageFilter.SMOOTH) if min(w, h) > 64 else img


# --------------------------------------------------------------------------------------------- painter


def _shift(r: tuple[int, int, int, int], ox: int, oy: int) -> tuple[int, int, int, int]:
    return (r[0] + ox, r[1] + oy, r[2] + ox, r[3] + oy)


class Painter:
    """Paints a laid-out widget tree (see ``ui.Node``) onto an RGB image."""

    def __init__(self, theme: Theme, scale: float) -> None:
        self.theme = theme
        self.scale = scale

    def c(self, spec: ColorSpec) -> RGB | None:
        return resolve(self.theme, spec)

    def paint(self, img: Image.Image, root: Node) -> None:
        self._node(img, ImageDraw.Draw(img), root, 0, 0)

    # One node, then its children. Scroll containers paint their children onto a cropped
    # sub-image so that rows sliding under the edges are clipped.
    def _node(self, img: Image.Image, d: ImageDraw.ImageDraw, n: Node, ox: int, oy: int) -> None:
        vx0, vy0, vx1, vy1 = n.vis
        if vx1 <= vx0 or vy1 <= vy0 or not n.visible:
            return
        self._draw(img, d, n, ox, oy)
        if not n.children:
            return
        if n.clips:
            box = _shift(n.vis, ox, oy)
            sub = img.crop(box)
            sd = ImageDraw.Draw(sub)
            for ch in n.children:
                self._node(sub, sd, ch, ox - box[0], oy - box[1])
            img.paste(sub, box[:2])
        else:
            for ch in n.children:
                self._node(img, d, ch, ox, oy)

    def _draw(self, img: Image.Image, d: ImageDraw.ImageDraw, n: Node, ox: int, oy: int) -> None:
        x0, y0, x1, y1 = _shift(n.rect, ox, oy)
        sc = self.scale
        bg = self.c(n.bg)
        radius = round(n.radius * sc)
        if n.kind == "scrim":
            box = _shift(n.vis, ox, oy)
            region = img.crop(box)
            img.paste(Image.blend(region, Image.new("RGB", region.size, (0, 0, 0)), n.value or 0.45), box[:2])
            return
        if bg is not None and not n.enabled and n.kind == "button":
            bg = mix(bg, self.theme.bg, 0.75)
        if bg is not None:
            if n.shadow:
                fill_rounded(
                    img,
                    (x0, y0 + max(1, round(sc)), x1, y1 + max(1, round(1.5 * sc))),
                    radius,
                    mix(bg, (0, 0, 0), 0.18),
                )
            fill_rounded(img, (x0, y0, x1, y1), radius, bg)
        border = self.c(n.border)
        if border is not None:
            d.rounded_rectangle(
                (x0, y0, x1 - 1, y1 - 1), radius=radius, outline=border, width=max(1, round(sc))
            )
        kind = n.kind
        if kind == "button" and not n.enabled:
            self._text(img, n, (x0, y0, x1, y1), self.theme.hint)
        elif kind == "text" or kind == "button":
            self._text(img, n, (x0, y0, x1, y1))
        elif kind == "edit":
            self._edit(img, d, n, (x0, y0, x1, y1))
        elif kind == "glyph":
            fg = self.c(n.fg) or self.theme.text
            px = round(n.size * sc) if n.size else min(x1 - x0, y1 - y0)
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            paste_glyph(img, n.glyph, (cx - px // 2, cy - px // 2, cx - px // 2 + px, cy - px // 2 + px), fg)
            if n.text and n.show_text:
                self._text(img, n, (x0, y0, x1, y1))
        elif kind == "appicon":
            size = min(x1 - x0, y1 - y0)
            icon = app_icon(n.glyph, size, n.text)
            img.paste(icon, (x0 + (x1 - x0 - size) // 2, y0 + (y1 - y0 - size) // 2), icon)
        elif kind == "switch":
            t = self.theme
            on = n.checked
            sprite = switch_sprite(
                on,
                x1 - x0,
                y1 - y0,
                t.primary if on else t.track_off,
                t.on_primary if on else t.thumb_off,
                None if on else t.outline,
            )
            img.paste(sprite, (x0, y0), sprite)
        elif kind == "slider":
            self._slider(img, n, (x0, y0, x1, y1))
        elif kind == "image" and n.image is not None:
            pic = n.image
            if pic.size != (x1 - x0, y1 - y0):
                pic = pic.resize((max(1, x1 - x0), max(1, y1 - y0)), Image.Resampling.BILINEAR)
            if radius:
                img.paste(pic, (x0, y0), rounded_mask(x1 - x0, y1 - y0, radius))
            else:
                img.paste(pic, (x0, y0))
        elif kind == "photo":
            pic = photo(int(n.value), x1 - x0, y1 - y0)
            if radius:
                img.paste(pic, (x0, y0), rounded_mask(x1 - x0, y1 - y0, radius))
            else:
                img.paste(pic, (x0, y0))
        elif kind == "avatar":
            dia = min(x1 - x0, y1 - y0)
            color = self.c(n.fg) or self.theme.primary
            ax, ay = x0 + (x1 - x0 - dia) // 2, y0 + (y1 - y0 - dia) // 2
            img.paste(color, (ax, ay), circle_mask(dia))
            draw_line(
                img,
                n.text[:1].upper(),
                round(dia * 0.45),
                False,
                (255, 255, 255),
                ax + dia / 2,
                ay + dia / 2,
                "center",
            )
        elif kind == "divider":
            d.rectangle((x0, y0, x1 - 1, y1 - 1), fill=self.c(n.fg) or self.theme.divider)
        elif kind == "cursor":
            d.rectangle((x0, y0, x1 - 1, y1 - 1), fill=self.c(n.fg) or self.theme.primary)
        elif kind == "radio":
            dia = min(x1 - x0, y1 - y0)
            ax, ay = x0 + (x1 - x0 - dia) // 2, y0 + (y1 - y0 - dia) // 2
            col = self.theme.primary if n.checked else self.theme.outline
            d.ellipse((ax, ay, ax + dia - 1, ay + dia - 1), outline=col, width=max(2, round(2 * sc)))
            if n.checked:
                k = dia // 4
                d.ellipse((ax + k, ay + k, ax + dia - 1 - k, ay + dia - 1 - k), fill=col)
        elif kind == "battery":
            self._battery(d, n, (x0, y0, x1, y1))

    def _text_lines(self, n: Node, width: int) -> list[str]:
        px = round(n.size * self.scale)
        if n.lines_cache is not None:
            return n.lines_cache
        s = n.display_text()
        if n.lines == 1:
            return [ellipsize(s.replace("\n", " "), px, width, n.bold)]
        return wrap(s, px, width, n.bold, n.lines)

    def _text(self, img: Image.Image, n: Node, box: tuple[int, int, int, int], fg: RGB | None = None) -> None:
        s = n.display_text()
        if not s:
            return
        sc = self.scale
        px = round(n.size * sc)
        x0, y0, x1, y1 = box
        pl, pt, pr, pb = (round(v * sc) for v in n.pad)
        x0, y0, x1, y1 = x0 + pl, y0 + pt, x1 - pr, y1 - pb
        lines = self._text_lines(n, x1 - x0)
        lh = line_height(px)
        total = lh * len(lines)
        if n.valign == "top":
            y = y0
        elif n.valign == "bottom":
            y = y1 - total
        else:
            y = y0 + (y1 - y0 - total) // 2
        color = fg or self.c(n.fg) or self.theme.text
        if n.shadow and n.bg is None:
            off = max(1, round(sc))
            shadow_y = y
            for line in lines:
                self._line(
                    img, line, px, n.bold, (20, 20, 24), n.align, x0 + off, x1 + off, shadow_y + off, lh
                )
                shadow_y += lh
        for line in lines:
            self._line(img, line, px, n.bold, color, n.align, x0, x1, y, lh)
            y += lh

    @staticmethod
    def _line(
        img: Image.Image,
        line: str,
        px: int,
        bold: bool,
        color: RGB,
        align: str,
        x0: int,
        x1: int,
        y: int,
        lh: int,
    ) -> None:
        x = (x0 + x1) / 2 if align == "center" else x1 if align == "right" else x0
        draw_line(img, line, px, bold, color, x, y + lh / 2, align)

    def _edit(
        self, img: Image.Image, d: ImageDraw.ImageDraw, n: Node, box: tuple[int, int, int, int]
    ) -> None:
        sc = self.scale
        t = self.theme
        x0, y0, x1, y1 = box
        underline = t.primary if n.focused else t.outline
        if n.border is None and n.bg is None and n.lines == 1:
            thick = max(1, round((2 if n.focused else 1) * sc))
            d.rectangle((x0, y1 - thick, x1 - 1, y1 - 1), fill=underline)
        pl, pt, pr, pb = (round(v * sc) for v in n.pad)
        tx0, ty0, tx1, ty1 = x0 + pl, y0 + pt, x1 - pr, y1 - pb
        px = round(n.size * sc)
        lh = line_height(px)
        width = max(1, tx1 - tx0)
        value = n.value_text
        shown = "•" * len(value) if n.password else value
        multiline = n.lines != 1
        if not shown:
            lines = [ellipsize(n.hint, px, width)] if n.hint else []
            color = t.hint
        else:
            lines = wrap(shown, px, width) if multiline else [shown]
            color = self.c(n.fg) or t.text
        max_lines = max(1, (ty1 - ty0) // lh) if multiline else 1
        cursor_line, cursor_x = 0, 0.0
        if n.focused:
            before = shown[: n.cursor] if shown else ""
            if multiline:
                bl = wrap(before, px, width) if before else [""]
                cursor_line, cursor_x = len(bl) - 1, text_width(bl[-1], px)
            else:
                cursor_x = text_width(before, px)
        first = 0
        if multiline and len(lines) > max_lines:
            first = max(0, min(len(lines) - max_lines, cursor_line - max_lines + 1)) if n.focused else 0
        # A single line scrolls horizontally so that the cursor stays in view.
        shift = 0.0
        if not multiline and shown and n.focused and cursor_x > width - 2:
            shift = cursor_x - width + 2
        y = ty0 if multiline else ty0 + (ty1 - ty0 - lh) // 2
        if n.select_all and shown and not multiline:
            sel_w = min(width, round(text_width(shown, px)))
            d.rectangle(
                (tx0, y + lh // 10, tx0 + sel_w, y + lh - lh // 10), fill=mix(t.primary, t.surface, 0.7)
            )
        for line in lines[first : first + max_lines]:
            if not multiline and shown:
                line = line if shift else ellipsize(line, px, width)
            if shift:  # scrolled sideways: clip the line to the field
                region = (tx0, y, tx1, y + lh)
                sub = img.crop(region)
                draw_line(sub, line, px, False, color, -shift, lh / 2, "left")
                img.paste(sub, region[:2])
            else:
                draw_line(img, line, px, False, color, tx0, y + lh / 2, "left")
            y += lh
        if n.focused and not (n.select_all and shown):
            cy = (ty0 + (cursor_line - first) * lh) if multiline else ty0 + (ty1 - ty0 - lh) // 2
            cx = round(tx0 + cursor_x - shift)
            cw = max(2, round(1.5 * sc))
            d.rectangle((cx, cy + lh // 8, cx + cw - 1, cy + lh - lh // 8), fill=t.primary)

    def _slider(self, img: Image.Image, n: Node, box: tuple[int, int, int, int]) -> None:
        sc = self.scale
        t = self.theme
        x0, y0, x1, y1 = box
        tx0, tx1 = x0 + round(n.pad[0] * sc), x1 - round(n.pad[2] * sc)
        cy = (y0 + y1) // 2
        th = max(4, round(6 * sc))
        frac = min(1.0, max(0.0, n.value))
        knob = tx0 + round((tx1 - tx0) * frac)
        fill_rounded(img, (tx0, cy - th // 2, tx1, cy - th // 2 + th), th // 2, t.track_off)
        fill_rounded(img, (tx0, cy - th // 2, max(tx0 + th, knob), cy - th // 2 + th), th // 2, t.primary)
        dia = round(20 * sc)
        img.paste(t.primary, (knob - dia // 2, cy - dia // 2), circle_mask(dia))

    def _battery(self, d: ImageDraw.ImageDraw, n: Node, box: tuple[int, int, int, int]) -> None:
        x0, y0, x1, y1 = box
        color = self.c(n.fg) or self.theme.text
        w = x1 - x0
        h = y1 - y0
        bw, bh = round(w * 0.85), round(h * 0.55)
        bx, by = x0, y0 + (h - bh) // 2
        lw = max(1, round(self.scale))
        d.rounded_rectangle((bx, by, bx + bw, by + bh), radius=max(1, bh // 5), outline=color, width=lw)
        cap = max(2, round(w * 0.08))
        d.rectangle((bx + bw + 1, by + bh // 3, bx + bw + cap, by + bh - bh // 3), fill=color)
        level = min(1.0, max(0.0, n.value))
        inner = bw - 4 * lw
        d.rectangle(
            (bx + 2 * lw, by + 2 * lw, bx + 2 * lw + round(inner * level), by + bh - 2 * lw), fill=color
        )
