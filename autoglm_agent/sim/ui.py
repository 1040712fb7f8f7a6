"""The simulated phone's widget tree: one small layout system shared by every app.

Apps describe a screen as a tree of ``Node`` objects sized in dp (density-independent pixels) with
a handful of layouts: ``v`` (vertical list), ``h`` (horizontal row), ``scroll`` (a vertical list
that scrolls and clips), ``grid`` and ``stack`` (children on top of each other, optionally placed
by gravity). ``layout()`` turns dp into pixel bounds. The same laid-out tree is painted
(``render.Painter``), hit-tested (``hit_test``) and dumped as uiautomator XML (``to_xml``), so
what the XML says is exactly what a tap does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from autoglm_agent.sim.render import ColorSpec, line_height, text_width, wrap

Rect = tuple[int, int, int, int]
Action = Callable[[], None]
PointAction = Callable[[int, int], None]

EMPTY: Rect = (0, 0, 0, 0)


def intersect(a: Rect, b: Rect) -> Rect:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if x1 <= x0 or y1 <= y0:
        return EMPTY
    return (x0, y0, x1, y1)


def contains(r: Rect, x: int, y: int) -> bool:
    return r[0] <= x < r[2] and r[1] <= y < r[3]


@dataclass(eq=False)
class Node:
    """One widget. Sizes (``w``, ``h``, ``pad``, ``gap``, ``size``, ``radius``, ``at``) are dp."""

    cls: str = "android.widget.FrameLayout"
    id: str = ""
    text: str = ""
    desc: str = ""
    hint: str = ""
    package: str = ""
    # layout
    layout: str = "stack"  # stack | v | h | scroll | grid
    w: float | None = None
    h: float | None = None
    weight: float = 0.0
    pad: tuple[float, float, float, float] = (0, 0, 0, 0)
    margin: tuple[float, float, float, float] = (0, 0, 0, 0)
    gap: float = 0
    gravity: str = ""  # stack children: "center", "bottom right", "top hcenter", ...
    cross: str = (
        "stretch"  # v/scroll children without w: stretch | center ; h children without h: stretch | center
    )
    cols: int = 1
    scroll_key: str = ""
    scroll_y: int = 0
    # accessibility flags and behaviour
    clickable: bool = False
    long_clickable: bool = False
    checkable: bool = False
    checked: bool = False
    focusable: bool = False
    focused: bool = False
    selected: bool = False
    enabled: bool = True
    password: bool = False
    scrollable: bool = False
    blocks_touch: bool = False
    a11y: bool = True  # False: not dumped itself (its children are)
    dump: bool = True  # False: neither it nor its children are dumped (e.g. the IME window)
    visible: bool = True
    on_tap: Action | None = None
    on_tap_at: PointAction | None = None
    on_long: Action | None = None
    # look
    kind: str = (
        ""  # text | button | edit | glyph | appicon | switch | slider | photo | avatar | divider | ...
    )
    bg: ColorSpec = None
    fg: ColorSpec = None
    border: ColorSpec = None
    radius: float = 0
    shadow: bool = False
    size: float = 14
    bold: bool = False
    align: str = "left"
    valign: str = "center"
    lines: int = 1  # max text lines; 0 = unlimited
    glyph: str = ""
    show_text: bool = False
    value: float = 0.0
    cursor: int = 0
    field_key: str = ""  # EditText: the page field it edits
    select_all: bool = False  # EditText: whole text selected (typing replaces it)
    input_type: str = ""  # EditText: "" | "number" | "phone" | "url"
    max_length: int = 0
    image: Any = None  # kind "image": a PIL image pasted at the node's top-left
    children: list[Node] = field(default_factory=list)
    # layout results (pixels)
    rect: Rect = EMPTY
    vis: Rect = EMPTY
    scroll_max: int = 0
    lines_cache: list[str] | None = None

    def __post_init__(self) -> None:
        if self.on_tap is not None or self.on_tap_at is not None:
            self.clickable = True
        if self.on_long is not None:
            self.long_clickable = True

    @property
    def clips(self) -> bool:
        return self.layout == "scroll"

    @property
    def value_text(self) -> str:
        return self.text

    def display_text(self) -> str:
        return self.text

    def add(self, *children: Node | None) -> Node:
        self.children.extend(c for c in children if c is not None)
        return self

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, pred: Callable[[Node], bool]) -> Node | None:
        for n in self.walk():
            if pred(n) and n.vis != EMPTY:
                return n
        return None

    def by_id(self, rid: str) -> Node | None:
        return self.find(lambda n: n.id == rid)

    def by_text(self, text: str) -> Node | None:
        return self.find(lambda n: n.text == text or n.desc == text)

    @property
    def center(self) -> tuple[int, int]:
        r = self.vis
        return ((r[0] + r[2]) // 2, (r[1] + r[3]) // 2)


# --------------------------------------------------------------------------------------------- layout


class _Layout:
    def __init__(self, scale: float) -> None:
        self.sc = scale

    def px(self, v: float) -> int:
        return round(v * self.sc)

    def pads(self, n: Node) -> tuple[int, int, int, int]:
        return (self.px(n.pad[0]), self.px(n.pad[1]), self.px(n.pad[2]), self.px(n.pad[3]))

    # -- measuring

    def text_lines(self, n: Node, width: int) -> list[str]:
        px = self.px(n.size)
        if n.kind == "edit":
            if n.lines == 1 or not n.text:
                return [n.text or n.hint]
            return wrap(n.text, px, width)
        if n.lines == 1:
            return [n.display_text()]
        return wrap(n.display_text(), px, width, n.bold, n.lines)

    def measure_h(self, n: Node, width: int) -> int:
        if n.h is not None:
            return self.px(n.h)
        pl, pt, pr, pb = self.pads(n)
        inner = max(1, width - pl - pr)
        if n.kind in ("text", "button", "edit"):
            lines = self.text_lines(n, inner)
            count = len(lines) if n.lines == 0 else min(len(lines), n.lines) if n.lines > 1 else 1
            if n.kind == "edit" and n.lines > 1:
                count = n.lines
            return count * line_height(self.px(n.size)) + pt + pb
        if n.kind == "glyph":
            return self.px(n.size) + pt + pb
        kids = [c for c in n.children if c.visible]
        if not kids:
            return pt + pb
        gap = self.px(n.gap)
        if n.layout in ("v", "scroll"):
            return (
                sum(self.measure_h(c, self.child_w(c, inner)) for c in kids) + gap * (len(kids) - 1) + pt + pb
            )
        if n.layout == "h":
            widths = self.h_widths(n, kids, inner)
            return max(self.measure_h(c, w) for c, w in zip(kids, widths, strict=True)) + pt + pb
        if n.layout == "grid":
            return self.grid_height(n, kids, inner) + pt + pb
        return max(self.measure_h(c, inner) for c in kids) + pt + pb

    def measure_w(self, n: Node) -> int:
        if n.w is not None:
            return self.px(n.w)
        pl, _, pr, _ = self.pads(n)
        if n.kind in ("text", "button"):
            return round(text_width(n.display_text(), self.px(n.size), n.bold)) + pl + pr + 1
        if n.kind == "glyph":
            return self.px(n.size) + pl + pr
        kids = [c for c in n.children if c.visible]
        if not kids:
            return pl + pr
        if n.layout == "h":
            return sum(self.measure_w(c) for c in kids) + self.px(n.gap) * (len(kids) - 1) + pl + pr
        return max(self.measure_w(c) for c in kids) + pl + pr

    def child_w(self, c: Node, inner: int) -> int:
        return min(inner, self.px(c.w)) if c.w is not None else inner

    def h_widths(self, n: Node, kids: list[Node], inner: int) -> list[int]:
        gap = self.px(n.gap)
        fixed = [0 if c.weight else self.measure_w(c) for c in kids]
        rest = max(0, inner - sum(fixed) - gap * (len(kids) - 1))
        total_w = sum(c.weight for c in kids)
        out: list[int] = []
        used = 0
        weighted = [i for i, c in enumerate(kids) if c.weight]
        for i, c in enumerate(kids):
            if c.weight:
                share = rest - used if i == weighted[-1] else int(rest * c.weight / total_w)
                used += share
                out.append(share)
            else:
                out.append(fixed[i])
        return out

    def grid_height(self, n: Node, kids: list[Node], inner: int) -> int:
        cols = max(1, n.cols)
        colw = inner // cols
        gap = self.px(n.gap)
        total = 0
        for r in range(0, len(kids), cols):
            total += max(self.measure_h(c, colw) for c in kids[r : r + cols])
        rows = (len(kids) + cols - 1) // cols
        return total + gap * max(0, rows - 1)

    # -- placing

    def place(self, n: Node, rect: Rect, clip: Rect) -> None:
        n.rect = rect
        n.vis = intersect(rect, clip) if n.visible else EMPTY
        x0, y0, x1, y1 = rect
        pl, pt, pr, pb = self.pads(n)
        cx0, cy0, cx1, cy1 = x0 + pl, y0 + pt, x1 - pr, y1 - pb
        if n.kind in ("text", "button") and n.lines != 1:
            n.lines_cache = self.text_lines(n, max(1, cx1 - cx0))
        kids = [c for c in n.children if c.visible]
        for c in n.children:
            if not c.visible:
                c.rect = c.vis = EMPTY
        if not kids:
            return
        inner_w = max(0, cx1 - cx0)
        inner_h = max(0, cy1 - cy0)
        gap = self.px(n.gap)
        child_clip = n.vis if n.clips else clip
        if n.layout in ("v", "scroll"):
            heights = [
                0 if (c.weight and n.layout == "v") else self.measure_h(c, self.child_w(c, inner_w))
                for c in kids
            ]
            if n.layout == "v":
                rest = max(0, inner_h - sum(heights) - gap * (len(kids) - 1))
                total_w = sum(c.weight for c in kids)
                weighted = [i for i, c in enumerate(kids) if c.weight]
                used = 0
                for i in weighted:
                    share = rest - used if i == weighted[-1] else int(rest * kids[i].weight / total_w)
                    heights[i] = share
                    used += share
            content = sum(heights) + gap * (len(kids) - 1)
            y = cy0
            if n.layout == "scroll":
                n.scroll_max = max(0, content + pt + pb - (y1 - y0))
                n.scroll_y = max(0, min(n.scroll_y, n.scroll_max))
                y -= n.scroll_y
            elif n.cross == "center" and n.h is not None and content < inner_h:
                y += (inner_h - content) // 2
            for c, h in zip(kids, heights, strict=True):
                cw = self.child_w(c, inner_w)
                x = cx0
                if c.w is not None and (n.cross == "center" or n.align == "center"):
                    x = cx0 + (inner_w - cw) // 2
                elif c.w is not None and n.align == "right":
                    x = cx1 - cw
                self.place(c, (x, y, x + cw, y + h), child_clip)
                y += h + gap
        elif n.layout == "h":
            widths = self.h_widths(n, kids, inner_w)
            x = cx0
            if n.align == "center" and not any(c.weight for c in kids):
                x = cx0 + (inner_w - sum(widths) - gap * (len(kids) - 1)) // 2
            elif n.align == "right" and not any(c.weight for c in kids):
                x = cx1 - sum(widths) - gap * (len(kids) - 1)
            for c, w in zip(kids, widths, strict=True):
                if c.h is not None or n.cross == "center":
                    ch = min(inner_h, self.measure_h(c, w))
                    y = cy0 + (inner_h - ch) // 2
                else:
                    ch, y = inner_h, cy0
                self.place(c, (x, y, x + w, y + ch), child_clip)
                x += w + gap
        elif n.layout == "grid":
            cols = max(1, n.cols)
            colw = (inner_w - gap * (cols - 1)) // cols
            y = cy0
            for r in range(0, len(kids), cols):
                row = kids[r : r + cols]
                rh = max(self.measure_h(c, colw) for c in row)
                for i, c in enumerate(row):
                    x = cx0 + i * (colw + gap)
                    self.place(c, (x, y, x + colw, y + rh), child_clip)
                y += rh + gap
        else:  # stack
            for c in kids:
                self.place(c, self.gravity_rect(c, (cx0, cy0, cx1, cy1)), child_clip)

    def gravity_rect(self, c: Node, box: Rect) -> Rect:
        ml, mt, mr, mb = (self.px(v) for v in c.margin)
        bx0, by0, bx1, by1 = box[0] + ml, box[1] + mt, box[2] - mr, box[3] - mb
        if c.w is None and c.h is None and not c.gravity:
            return (bx0, by0, bx1, by1)
        bw, bh = bx1 - bx0, by1 - by0
        w = (
            self.px(c.w)
            if c.w is not None
            else (bw if not c.gravity or c.kind not in ("text", "button") else min(bw, self.measure_w(c)))
        )
        h = self.px(c.h) if c.h is not None else (bh if not c.gravity else min(bh, self.measure_h(c, w)))
        g = c.gravity.split()
        if "right" in g:
            x = bx1 - w
        elif "center" in g or "hcenter" in g:
            x = bx0 + (bw - w) // 2
        else:
            x = bx0
        if "bottom" in g:
            y = by1 - h
        elif "center" in g or "vcenter" in g:
            y = by0 + (bh - h) // 2
        else:
            y = by0
        return (x, y, x + w, y + h)


def layout(root: Node, rect: Rect, scale: float) -> Node:
    """Assign pixel bounds to every node of ``root`` placed in ``rect``; returns ``root``."""
    _Layout(scale).place(root, rect, rect)
    return root


# --------------------------------------------------------------------------------------------- queries


def _touchable(n: Node) -> bool:
    # A disabled clickable view still takes the touch (it just does nothing), as on Android.
    return n.clickable or n.blocks_touch


def hit_test(root: Node, x: int, y: int, pred: Callable[[Node], bool] = _touchable) -> Node | None:
    """The topmost node (last painted) that satisfies ``pred`` and whose visible bounds hold (x, y)."""
    found: Node | None = None

    def visit(n: Node) -> None:
        nonlocal found
        if n.vis == EMPTY or not contains(n.vis, x, y):
            return
        if pred(n):
            found = n
        for c in n.children:
            visit(c)

    visit(root)
    return found


def scrollable_at(root: Node, x: int, y: int) -> Node | None:
    return hit_test(root, x, y, lambda n: n.scrollable and n.layout == "scroll")


# --------------------------------------------------------------------------------------------- XML


def _b(v: bool) -> str:
    return "true" if v else "false"


def to_xml(root: Node, default_package: str) -> str:
    """A uiautomator-style dump of every visible node."""
    out: list[str] = ["<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>", '<hierarchy rotation="0">']

    def emit(n: Node, index: int, package: str, depth: int) -> None:
        pkg = n.package or package
        kids = [c for c in n.children if c.vis != EMPTY and c.dump]
        if not n.a11y:
            for i, c in enumerate(kids):
                emit(c, index + i, pkg, depth)
            return
        rid = n.id if (not n.id or ":" in n.id) else f"{pkg}:id/{n.id}"
        text = n.text if n.text else (n.hint if n.kind == "edit" else "")
        if n.password and n.text:
            text = "•" * len(n.text)
        x0, y0, x1, y1 = n.vis
        attrs = (
            f"index={quoteattr(str(index))} text={quoteattr(text)} resource-id={quoteattr(rid)} "
            f"class={quoteattr(n.cls)} package={quoteattr(pkg)} content-desc={quoteattr(n.desc)} "
            f'checkable="{_b(n.checkable)}" checked="{_b(n.checked)}" clickable="{_b(n.clickable)}" '
            f'enabled="{_b(n.enabled)}" focusable="{_b(n.focusable or n.clickable)}" focused="{_b(n.focused)}" '
            f'scrollable="{_b(n.scrollable)}" long-clickable="{_b(n.long_clickable)}" '
            f'password="{_b(n.password)}" selected="{_b(n.selected)}" bounds="[{x0},{y0}][{x1},{y1}]"'
        )
        pad = "  " * depth
        flat: list[Node] = []

        def collect(c: Node) -> None:
            if not c.dump:
                return
            if c.a11y:
                flat.append(c)
            else:
                for g in c.children:
                    if g.vis != EMPTY:
                        collect(g)

        for c in kids:
            collect(c)
        if not flat:
            out.append(f"{pad}<node {attrs} />")
            return
        out.append(f"{pad}<node {attrs}>")
        for i, c in enumerate(flat):
            emit(c, i, pkg, depth + 1)
        out.append(f"{pad}</node>")

    emit(root, 0, root.package or default_package, 1)
    out.append("</hierarchy>")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- builders
# Thin constructors with Android class names; every keyword goes straight to ``Node``.


def col(*children: Node | None, **kw: object) -> Node:
    kw.setdefault("cls", "android.widget.LinearLayout")
    return Node(layout="v", **kw).add(*children)  # type: ignore[arg-type]


def row(*children: Node | None, **kw: object) -> Node:
    kw.setdefault("cls", "android.widget.LinearLayout")
    kw.setdefault("cross", "center")
    return Node(layout="h", **kw).add(*children)  # type: ignore[arg-type]


def stack(*children: Node | None, **kw: object) -> Node:
    return Node(layout="stack", **kw).add(*children)  # type: ignore[arg-type]


def grid(cols: int, *children: Node | None, **kw: object) -> Node:
    kw.setdefault("cls", "android.widget.GridLayout")
    return Node(layout="grid", cols=cols, **kw).add(*children)  # type: ignore[arg-type]


def scroll(key: str, offset: int, *children: Node | None, **kw: object) -> Node:
    kw.setdefault("cls", "androidx.recyclerview.widget.RecyclerView")
    kw.setdefault("weight", 1)
    return Node(layout="scroll", scroll_key=key, scroll_y=offset, scrollable=True, **kw).add(*children)  # type: ignore[arg-type]


def text(s: str, size: float = 16, **kw: object) -> Node:
    kw.setdefault("cls", "android.widget.TextView")
    kw.setdefault("fg", "text")
    return Node(kind="text", text=s, size=size, **kw)  # type: ignore[arg-type]


def spacer(h: float | None = None, w: float | None = None, weight: float = 0) -> Node:
    return Node(cls="android.view.View", h=h, w=w, weight=weight, a11y=False)


def divider(inset: float = 0) -> Node:
    return Node(
        cls="android.view.View",
        kind="divider",
        h=1,
        pad=(inset, 0, 0, 0),
        a11y=False,
        margin=(inset, 0, 0, 0),
    )


def glyph(name: str, size: float = 24, **kw: object) -> Node:
    kw.setdefault("cls", "android.widget.ImageView")
    kw.setdefault("fg", "text")
    return Node(kind="glyph", glyph=name, size=size, **kw)  # type: ignore[arg-type]


def icon_button(
    name: str, desc: str, on_tap: Action | None, size: float = 24, box: float = 48, **kw: object
) -> Node:
    kw.setdefault("cls", "android.widget.ImageButton")
    kw.setdefault("fg", "text")
    return Node(
        kind="glyph", glyph=name, size=size, desc=desc, on_tap=on_tap, w=box, h=box, radius=box / 2, **kw
    )  # type: ignore[arg-type]


def button(label: str, on_tap: Action | None, style: str = "filled", **kw: object) -> Node:
    """A Material button: ``filled``, ``tonal``, ``outlined`` or ``text``."""
    bg, fg, border = {
        "filled": ("primary", "on_primary", None),
        "tonal": ("tonal", "on_tonal", None),
        "outlined": (None, "primary", "outline"),
        "text": (None, "primary", None),
    }[style]
    kw.setdefault("cls", "android.widget.Button")
    kw.setdefault("h", 40)
    kw.setdefault("pad", (20, 0, 20, 0))
    kw.setdefault("radius", 20)
    kw.setdefault("size", 14)
    kw.setdefault("bold", True)
    kw.setdefault("align", "center")
    return Node(kind="button", text=label, on_tap=on_tap, bg=bg, fg=fg, border=border, **kw)  # type: ignore[arg-type]


def switch(checked: bool, on_tap: Action | None, **kw: object) -> Node:
    kw.setdefault("cls", "android.widget.Switch")
    kw.setdefault("id", "switch_widget")
    return Node(kind="switch", checked=checked, checkable=True, on_tap=on_tap, w=52, h=32, **kw)  # type: ignore[arg-type]


def slider(frac: float, on_tap_at: PointAction | None, **kw: object) -> Node:
    kw.setdefault("cls", "android.widget.SeekBar")
    kw.setdefault("h", 48)
    kw.setdefault("pad", (24, 0, 24, 0))
    return Node(kind="slider", value=frac, on_tap_at=on_tap_at, **kw)  # type: ignore[arg-type]
