"""The input method window shown under a focused text field.

LatinIME draws a QWERTY keyboard whose keys work (letters, shift, ?123 symbols, backspace, space,
enter). ADB Keyboard (``com.android.adbkeyboard/.AdbIME``, what agents switch to for Unicode
typing) shows only its small "ADB Keyboard {ON}" bar. Like a real IME window, neither appears in
the uiautomator dump of the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from autoglm_agent.sim.phone import ADB_IME, Page
from autoglm_agent.sim.ui import Node, row, spacer, text

if TYPE_CHECKING:
    from autoglm_agent.sim.phone import Phone

LATIN_PACKAGE = "com.android.inputmethod.latin"
ADB_PACKAGE = "com.android.adbkeyboard"

_LETTERS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_SYMBOLS = ("1234567890", "@#$_&-+()/", "*\"':;!?")


def _key(
    label: str, action: Callable[[], None], weight: float = 1.0, special: bool = False, glyph: str = ""
) -> Node:
    common = {
        "weight": weight,
        "h": 46,
        "radius": 6,
        "bg": "key2" if special else "key",
        "on_tap": action,
        "cls": "android.inputmethodservice.Keyboard$Key",
        "desc": label,
    }
    if glyph:
        return Node(kind="glyph", glyph=glyph, size=22, fg="text", **common)  # type: ignore[arg-type]
    return Node(kind="button", text=label, size=14 if special else 21, align="center", fg="text", **common)  # type: ignore[arg-type]


def keyboard(phone: Phone, page: Page) -> Node:
    st = phone.state
    if st.ime == ADB_IME:
        return row(
            text("ADB Keyboard {ON}", 14, fg=(230, 230, 230), weight=1, align="center"),
            h=40,
            bg=(48, 48, 52),
            package=ADB_PACKAGE,
            dump=False,
            blocks_touch=True,
        )

    def typer(ch: str) -> Callable[[], None]:
        def press() -> None:
            out = ch.upper() if st.ime_shift else ch
            st.ime_shift = False
            phone.insert_text(out)

        return press

    def shift() -> None:
        st.ime_shift = not st.ime_shift

    def symbols() -> None:
        st.ime_symbols = not st.ime_symbols
        st.ime_shift = False

    sets = _SYMBOLS if st.ime_symbols else _LETTERS
    shifted = st.ime_shift and not st.ime_symbols
    rows: list[Node] = []
    for i, keys in enumerate(sets):
        cells: list[Node] = [_key(k.upper() if shifted else k, typer(k)) for k in keys]
        if i == 1 and not st.ime_symbols:
            cells = [spacer(weight=0.5), *cells, spacer(weight=0.5)]
        if i == 2:
            lead = (
                _key("=\\<", lambda: None, 1.5, True)
                if st.ime_symbols
                else _key("Shift", shift, 1.5, True, "shift")
            )
            if st.ime_shift and not st.ime_symbols:
                lead.bg = "tonal"
            cells = [lead, *cells, _key("Delete", phone.delete_text, 1.5, True, "backspace")]
        rows.append(row(*cells, h=54, gap=6, cross="center"))
    rows.append(
        row(
            _key("ABC" if st.ime_symbols else "?123", symbols, 1.5, True),
            _key(",", typer(","), 1, True),
            _key("Space", lambda: phone.insert_text(" "), 5),
            _key(".", typer("."), 1, True),
            _key("Enter", phone.press_enter, 1.5, True, "enter"),
            h=54,
            gap=6,
            cross="center",
        )
    )
    rows[-1].children[2].text = ""
    return Node(
        layout="v",
        children=rows,
        bg="kbd",
        pad=(4, 8, 4, 4),
        package=LATIN_PACKAGE,
        dump=False,
        blocks_touch=True,
        cls="android.inputmethodservice.KeyboardView",
    )
