"""Browser: a URL bar (tap, type, Enter/Go), simulated pages with links, and back through history."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import parse_qs, quote_plus, urlparse

from autoglm_agent.sim.apps.base import App, Ctx, screen
from autoglm_agent.sim.ui import Node, col, glyph, grid, icon_button, row, text

HOME = "about:home"

#: url -> (title, paragraphs, links as (label, url))
SITES: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "https://example.com/": (
        "Example Domain",
        (
            "This domain is for use in illustrative examples in documents.",
            "You may use this domain in literature without prior coordination or asking for permission.",
        ),
        (("More information...", "https://www.iana.org/help/example-domains"),),
    ),
    "https://news.example.com/": (
        "Sim News - Top stories",
        (
            "Local team wins the championship after a dramatic final.",
            "New park opens downtown this weekend.",
            "Weather: sunny, 24°C.",
        ),
        (("Sports", "https://news.example.com/sports"), ("Weather", "https://weather.example.com/")),
    ),
    "https://news.example.com/sports": (
        "Sim News - Sports",
        ("The championship final ended 3-2 after extra time.",),
        (("Top stories", "https://news.example.com/"),),
    ),
    "https://weather.example.com/": (
        "Weather - Sim City",
        ("Today: sunny, high 24°C, low 15°C.", "Tomorrow: light rain, high 19°C."),
        (),
    ),
    "https://en.wikipedia.org/wiki/Android_(operating_system)": (
        "Android (operating system) - Wikipedia",
        (
            "Android is a mobile operating system based on a modified version of the Linux kernel and other open-source software, designed primarily for touchscreen mobile devices such as smartphones and tablets.",
        ),
        (("Linux kernel", "https://en.wikipedia.org/wiki/Linux_kernel"),),
    ),
}

QUICK_LINKS: tuple[tuple[str, str, str], ...] = (
    ("Example", "https://example.com/", "globe"),
    ("News", "https://news.example.com/", "notes"),
    ("Weather", "https://weather.example.com/", "sun"),
    ("Wikipedia", "https://en.wikipedia.org/wiki/Android_(operating_system)", "info"),
)


def normalize_url(raw: str) -> str:
    """What the URL bar loads for ``raw``: a URL (https:// added), or a search for plain words."""
    s = raw.strip()
    if not s:
        return HOME
    if s.startswith("about:"):
        return s
    if "://" in s:
        u = urlparse(s)
        return s if u.path else s + "/"
    if " " not in s and "." in s.strip("."):
        u = urlparse("https://" + s)
        return "https://" + s + ("" if u.path else "/")
    return "https://www.google.com/search?q=" + quote_plus(s)


def page_for(url: str) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    if url in SITES:
        return SITES[url]
    u = urlparse(url)
    if u.netloc.endswith("google.com") and u.path == "/search":
        q = parse_qs(u.query).get("q", [""])[0]
        return (
            f"{q} - Google Search",
            (f"About 1,230,000 results for “{q}”.",),
            (
                (f"{q} - Wikipedia", "https://en.wikipedia.org/wiki/" + quote_plus(q.replace(" ", "_"))),
                (f"{q} news - Sim News", "https://news.example.com/"),
                ("Example Domain", "https://example.com/"),
            ),
        )
    host = u.netloc or url
    return (host, (f"This is a simulated page for {url}",), (("Home", HOME),))


class Browser(App):
    package = "com.android.browser"
    activity = "com.android.browser.BrowserActivity"
    label = "Browser"
    label_zh = "浏览器"
    aliases: ClassVar[dict[str, str]] = {}

    def load(self, ctx: Ctx, raw: str) -> None:
        b = ctx.st.browser
        url = normalize_url(raw)
        title = "Home" if url == HOME else page_for(url)[0]
        b.url, b.title = url, title
        if not b.history or b.history[-1] != url:
            b.history.append(url)
        b.visited.append(url)
        page = ctx.page
        page.focus = None
        page.fields["url"] = "" if url == HOME else url
        page.scroll["page"] = 0

    def page_main(self, ctx: Ctx) -> Node:
        s = ctx.s
        b = ctx.st.browser
        page = ctx.page
        phone = ctx.phone
        focused = page.focus == "url"
        url_field = ctx.field(
            "url",
            s("Search or type web address", "搜索或输入网址"),
            size=15,
            weight=1,
            h=44,
            bg="card",
            radius=22,
            pad=(16, 0, 16, 0),
            id="url",
        )
        if not focused:  # the bar shows the loaded page until it is edited
            url_field.text = "" if b.url == HOME else b.url

        def focus_bar() -> None:
            ctx.page.fields["url"] = "" if b.url == HOME else b.url
            phone.focus_field(ctx.page, "url")
            ctx.page.select_all = bool(ctx.page.fields["url"])

        url_field.on_tap = focus_bar
        bar = row(
            icon_button("home", s("Home", "主页"), lambda: self.load(ctx, HOME), id="home_button"),
            url_field,
            icon_button(
                "chevron_right" if focused else "refresh",
                s("Go", "前往") if focused else s("Refresh", "刷新"),
                (lambda: self.load(ctx, ctx.value("url"))) if focused else (lambda: self.load(ctx, b.url)),
                id="go_button" if focused else "reload_button",
            ),
            h=64,
            pad=(4, 0, 4, 0),
            gap=4,
            bg="bar",
            id="toolbar",
        )
        return screen(bar, self._content(ctx))

    def _link(self, ctx: Ctx, label: str, url: str) -> Node:
        return text(
            label,
            16,
            fg="primary",
            lines=2,
            on_tap=lambda: self.load(ctx, url),
            pad=(0, 6, 0, 6),
            id="link",
            cls="android.view.View",
        )

    def _content(self, ctx: Ctx) -> Node:
        s = ctx.s
        b = ctx.st.browser
        if b.url == HOME:
            tiles = [
                col(
                    glyph(g, 28, fg="on_tonal", bg="tonal", w=56, h=56, radius=28, a11y=False),
                    text(label, 12, align="center", a11y=False),
                    align="center",
                    gap=6,
                    on_tap=lambda u=url: self.load(ctx, u),
                    desc=label,
                    text=label,
                    cls="android.widget.TextView",
                    h=96,
                )
                for label, url, g in QUICK_LINKS
            ]
            return ctx.scroll(
                "page",
                text(s("Browser", "浏览器"), 36, align="center", pad=(0, 48, 0, 8)),
                text(s("Quick links", "快速链接"), 14, fg="text2", align="center", pad=(0, 0, 0, 16)),
                grid(4, *tiles, pad=(16, 0, 16, 0)),
                id="webview",
                cls="android.webkit.WebView",
            )
        title, paragraphs, links = page_for(b.url)
        return ctx.scroll(
            "page",
            text(title, 26, lines=3, bold=True, pad=(0, 8, 0, 8), id="page_title"),
            text(b.url, 13, fg="text2", lines=2, pad=(0, 0, 0, 12)),
            *(text(p, 16, lines=0, pad=(0, 6, 0, 6)) for p in paragraphs),
            *(self._link(ctx, label, url) for label, url in links),
            pad=(20, 12, 20, 24),
            id="webview",
            cls="android.webkit.WebView",
        )

    def on_enter(self, ctx: Ctx) -> bool:
        if ctx.page.focus == "url":
            self.load(ctx, ctx.value("url"))
            return True
        return False

    def on_back(self, ctx: Ctx) -> bool:
        b = ctx.st.browser
        if len(b.history) > 1:
            b.history.pop()
            b.url = b.history[-1]
            b.title = "Home" if b.url == HOME else page_for(b.url)[0]
            ctx.page.fields["url"] = "" if b.url == HOME else b.url
            ctx.page.scroll["page"] = 0
            return True
        return False
