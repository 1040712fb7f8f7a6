"""The simulated phone itself (no adb): apps, input semantics, XML dump, rendering, determinism.

Every interaction goes through the public surface the command layer uses: tap / swipe / keyevent /
input_text on coordinates found in ``ui_hierarchy_xml()``, and outcomes are read from ``state``.
"""

from __future__ import annotations

import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from PIL import Image

from autoglm_agent.errors import AutoGLMError
from autoglm_agent.sim import render
from autoglm_agent.sim.apps.calculator import evaluate
from autoglm_agent.sim.phone import ADB_IME, LATIN_IME, LAUNCHER, Phone, PhoneConfigError, PhoneState

NOW = datetime(2024, 3, 5, 10, 24)


def fixed_clock() -> datetime:
    return NOW


def make(**kw: object) -> Phone:
    return Phone(clock=fixed_clock, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ helpers


def parse_bounds(s: str) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in s.replace("][", ",").strip("[]").split(","))
    return x0, y0, x1, y1


def elements(p: Phone) -> list[ET.Element]:
    return list(ET.fromstring(p.ui_hierarchy_xml().encode()).iter("node"))


def find(
    p: Phone,
    *,
    text: str | None = None,
    desc: str | None = None,
    rid: str | None = None,
    cls: str | None = None,
    clickable: bool | None = None,
) -> ET.Element | None:
    for el in elements(p):
        if text is not None and el.get("text") != text:
            continue
        if desc is not None and el.get("content-desc") != desc:
            continue
        if rid is not None and not el.get("resource-id", "").endswith(f"/{rid}"):
            continue
        if cls is not None and el.get("class") != cls:
            continue
        if clickable is not None and (el.get("clickable") == "true") != clickable:
            continue
        return el
    return None


def center(el: ET.Element) -> tuple[int, int]:
    x0, y0, x1, y1 = parse_bounds(el.get("bounds", ""))
    return (x0 + x1) // 2, (y0 + y1) // 2


def tap(p: Phone, **kw: object) -> None:
    el = find(p, **kw)  # type: ignore[arg-type]
    assert el is not None, f"nothing on screen matches {kw}"
    p.tap(*center(el))


def open_app(p: Phone, label: str) -> None:
    p.keyevent("KEYCODE_HOME")
    tap(p, desc=label, clickable=True)


def scroll_to(p: Phone, text: str) -> ET.Element:
    """Swipe the list up (content moves with the finger) until ``text`` is fully on screen."""
    for _ in range(12):
        el = find(p, text=text)
        if el is not None:
            _, y0, _, y1 = parse_bounds(el.get("bounds", ""))
            if y1 - y0 >= 20:
                return el
        p.swipe(p.width // 2, p.height * 2 // 3, p.width // 2, p.height // 3, 300)
    raise AssertionError(f"{text!r} never scrolled into view")


def row_switch(p: Phone, title: str) -> ET.Element:
    """The Switch in the same list row as the TextView ``title``."""
    root = ET.fromstring(p.ui_hierarchy_xml().encode())
    for parent in root.iter("node"):
        kids = list(parent.iter("node"))
        if any(k.get("text") == title for k in kids):
            switches = [k for k in kids if k.get("class") == "android.widget.Switch"]
            if len(switches) == 1 and parent.get("clickable") == "true":
                return switches[0]
    raise AssertionError(f"no row with a switch titled {title!r}")


def png_image(p: Phone) -> Image.Image:
    return Image.open(io.BytesIO(p.screencap_png())).convert("RGB")


# ------------------------------------------------------------------------------------------ tests

LABELS = {
    "Settings": "com.android.settings",
    "Clock": "com.android.deskclock",
    "Calculator": "com.android.calculator2",
    "Contacts": "com.android.contacts",
    "Messages": "com.android.messaging",
    "Notes": "com.android.notes",
    "Browser": "com.android.browser",
    "Camera": "com.android.camera2",
    "Gallery": "com.android.gallery3d",
    "Calendar": "com.android.calendar",
    "Files": "com.android.documentsui",
    "Music": "com.android.music",
    "Wallet": "com.android.wallet",
}


def test_every_app_opens_from_its_home_screen_icon() -> None:
    p = make()
    assert p.current_focus() == (LAUNCHER, "com.android.launcher3.Launcher")
    for label, package in LABELS.items():
        open_app(p, label)
        assert p.current_focus()[0] == package, label
        assert p.state.foreground == package
    icons = [
        el for el in (p.keyevent("HOME") or elements(p)) if el.get("resource-id") == f"{LAUNCHER}:id/icon"
    ]
    assert {el.get("text") for el in icons} == set(LABELS)
    assert all(el.get("text") == el.get("content-desc") for el in icons)


def test_packages_activities_and_launching() -> None:
    p = make()
    pkgs = {a.package: a for a in p.packages()}
    assert set(LABELS.values()) <= {k for k, a in pkgs.items() if a.launcher}
    assert pkgs["com.android.adbkeyboard"].launcher is False
    assert pkgs[LAUNCHER].launcher is False
    assert pkgs["com.android.settings"].label_zh == "设置"
    assert p.launch_package("com.android.adbkeyboard") is False
    assert p.launch_package("no.such.app") is False
    assert p.start_activity("com.android.settings/.Settings") is True
    assert p.current_focus() == ("com.android.settings", "com.android.settings.Settings")
    assert p.start_activity("com.android.settings/com.android.settings.Settings$WifiSettingsActivity") is True
    assert (p.state.screen, p.current_focus()[1]) == ("wifi", "com.android.settings.SubSettings")
    assert p.start_activity("com.android.deskclock/DeskClock") is True
    assert p.state.foreground == "com.android.deskclock"
    assert p.start_activity("com.android.deskclock/.Nope") is False
    assert p.start_activity("garbage") is False
    assert p.start_activity("com.android.launcher3/.Launcher") is True
    assert p.state.foreground == LAUNCHER
    assert p.launch_package("com.android.notes") is True
    assert p.current_focus() == ("com.android.notes", "com.android.notes.NotesListActivity")


def test_wifi_toggles_from_list_switch_and_sub_page() -> None:
    p = make()
    open_app(p, "Settings")
    assert p.state.wifi is True and find(p, desc="Wifi signal full.") is not None
    sw = row_switch(p, "Wi-Fi")
    assert sw.get("checked") == "true"
    p.tap(*center(sw))
    assert p.state.wifi is False
    assert row_switch(p, "Wi-Fi").get("checked") == "false"
    assert find(p, desc="Wifi signal full.") is None  # status bar icon gone
    assert p.get_setting("global", "wifi_on") == "0"
    tap(p, text="Wi-Fi")  # the row opens the sub-page
    assert p.state.screen == "wifi"
    tap(p, text="Use Wi-Fi")
    assert p.state.wifi is True
    assert find(p, text="SimNet") is not None
    tap(p, text="CoffeeShop Free")
    assert p.state.wifi_network == "CoffeeShop Free"
    tap(p, text="Home-5G")  # secured: asks for a password
    assert p.state.screen == "wifi_password" and p.state.focused_field == "password"
    p.input_text("secret123")
    assert find(p, rid="password").get("password") == "true"
    p.keyevent("KEYCODE_ENTER")
    assert p.state.wifi_network == "Home-5G" and p.state.screen == "wifi"


def test_bluetooth_airplane_display_and_settings_store() -> None:
    p = make()
    open_app(p, "Settings")
    p.tap(*center(row_switch(p, "Bluetooth")))
    assert p.state.bluetooth is True and find(p, desc="Bluetooth on.") is not None
    p.tap(*center(row_switch(p, "Airplane mode")))
    assert p.state.airplane is True and p.state.wifi is False and p.state.bluetooth is False
    assert find(p, desc="Airplane mode on.") is not None
    p.tap(*center(row_switch(p, "Airplane mode")))
    assert (p.state.airplane, p.state.wifi, p.state.bluetooth) == (False, True, True)

    p.tap(*center(scroll_to(p, "Display")))
    slider = find(p, rid="brightness_slider")
    assert slider is not None and slider.get("class") == "android.widget.SeekBar"
    x0, y0, x1, y1 = parse_bounds(slider.get("bounds", ""))
    pad = round(24 * p.scale)
    p.tap(x0 + pad, (y0 + y1) // 2)  # the left end of the track
    assert p.state.brightness == 0
    p.swipe(x0 + pad, (y0 + y1) // 2, x1 - pad, (y0 + y1) // 2, 300)  # drag to the right end
    assert p.state.brightness == 255
    p.tap(x0 + pad + (x1 - x0 - 2 * pad) // 4, (y0 + y1) // 2)
    assert 60 <= p.state.brightness <= 68
    assert p.get_setting("system", "screen_brightness") == str(p.state.brightness)
    before = png_image(p).getpixel((5, p.height // 2))
    p.tap(*center(row_switch(p, "Dark theme")))
    assert p.state.dark_theme is True and p.get_setting("secure", "ui_night_mode") == "2"
    assert png_image(p).getpixel((5, p.height // 2)) != before  # the theme really changed

    p.put_setting("system", "screen_brightness", "200")
    p.put_setting("global", "airplane_mode_on", "1")
    p.put_setting("system", "my_custom_key", "hello")
    assert p.state.brightness == 200 and p.state.airplane is True
    assert p.get_setting("system", "my_custom_key") == "hello"
    assert p.get_setting("global", "no_such_key") is None
    with pytest.raises(ValueError, match="namespace"):
        p.get_setting("bogus", "x")


def test_ime_settings_and_keyboards() -> None:
    p = make()
    assert p.imes() == [LATIN_IME, ADB_IME]
    assert p.current_ime() == LATIN_IME
    open_app(p, "Notes")
    tap(p, desc="New note")
    assert p.state.focused_field == "body"
    with_latin = png_image(p)
    p.put_setting("secure", "enabled_input_methods", f"{LATIN_IME}:{ADB_IME}")
    p.put_setting("secure", "default_input_method", ADB_IME)
    assert p.current_ime() == ADB_IME and p.state.enabled_imes == [LATIN_IME, ADB_IME]
    with_adb = png_image(p)
    assert with_latin.tobytes() != with_adb.tobytes()
    # the on-screen QWERTY keys type (they are hit-testable although not in the dump)
    p.put_setting("secure", "default_input_method", LATIN_IME)
    tree = p.tree()
    key_q = tree.find(lambda n: n.cls.endswith("Keyboard$Key") and n.text == "q")
    assert key_q is not None and find(p, text="q") is None
    p.tap(*key_q.center)
    assert p.state.focused_text == "q"


def test_note_with_chinese_and_emoji_saved_by_button_and_by_back() -> None:
    p = make()
    open_app(p, "Notes")
    tap(p, desc="New note")
    assert p.state.screen == "editor" and p.state.focused_field == "body"
    text = "买牛奶 🥛 and 🎉 done"
    p.input_text(text)
    assert p.state.focused_text == text
    tap(p, rid="save")
    assert p.state.screen == "main"
    assert p.state.notes[-1].body == text and p.state.notes[-1].title == ""
    assert find(p, text=text) is not None

    tap(p, desc="New note")
    tap(p, rid="title")
    p.input_text("标题 ✅")
    p.keyevent("KEYCODE_BACK")  # hides the keyboard first
    assert p.state.screen == "editor" and p.state.focused_field is None
    p.keyevent("KEYCODE_BACK")  # leaves the editor, saving
    assert p.state.screen == "main" and p.state.notes[-1].title == "标题 ✅"
    count = len(p.state.notes)
    tap(p, desc="New note")
    p.keyevent("4")
    p.keyevent("4")  # an empty note is discarded
    assert len(p.state.notes) == count


def test_delete_dialog_cancel_and_confirm() -> None:
    p = make()
    open_app(p, "Notes")
    first = p.state.notes[0]
    card = find(p, text=first.title)
    assert card is not None
    x, y = center(card)
    p.swipe(x, y, x + 3, y, 800)  # a long press
    assert p.state.dialog is not None and p.state.dialog.kind == "delete_note"
    xml_titles = [el.get("text") for el in elements(p)]
    assert "Delete this note?" in xml_titles and first.title not in xml_titles  # only the dialog window
    assert find(p, rid="button1", text="Delete") is not None
    p.keyevent("BACK")  # back closes the dialog
    assert p.state.dialog is None and len(p.state.notes) == 1
    p.swipe(x, y, x, y, 600)
    tap(p, text="Cancel")
    assert p.state.dialog is None and len(p.state.notes) == 1
    p.swipe(x, y, x, y, 600)
    p.tap(5, 200)  # outside the dialog box: dismissed
    assert p.state.dialog is None and len(p.state.notes) == 1
    p.swipe(x, y, x, y, 600)
    tap(p, text="Delete")
    assert p.state.notes == [] and p.state.dialog is None


def test_settings_reset_dialog_ok() -> None:
    p = make()
    p.put_setting("system", "screen_brightness", "10")
    open_app(p, "Settings")
    p.tap(*center(scroll_to(p, "System")))
    tap(p, text="Reset options")
    tap(p, text="Reset all settings")
    assert find(p, text="Are you sure?") is not None
    tap(p, text="OK")
    assert p.state.brightness == 128 and p.state.dialog is None


def test_scrolling_settings_to_about_phone() -> None:
    p = make()
    open_app(p, "Settings")
    assert find(p, text="About phone") is None
    wifi_before = parse_bounds(find(p, text="Apps").get("bounds", ""))
    p.swipe(p.width // 2, 1000, p.width // 2, 800, 300)  # content follows the finger by 200 px
    wifi_after = parse_bounds(find(p, text="Apps").get("bounds", ""))
    assert wifi_after[1] == wifi_before[1] - 200
    for _ in range(10):
        if find(p, text="About phone") is not None:
            break
        p.swipe(p.width // 2, p.height * 3 // 4, p.width // 2, p.height // 4, 300)
    recycler = find(p, rid="recycler_view")
    assert recycler is not None and recycler.get("scrollable") == "true"
    tap(p, text="About phone")
    assert p.state.screen == "about"
    assert find(p, text="Android version") is not None and find(p, text="14") is not None
    assert find(p, text="UQ1A.240205.004") is not None
    p.keyevent("BACK")
    assert p.state.screen == "main" and find(p, text="About phone") is not None  # scroll kept


def test_add_contact() -> None:
    p = make()
    open_app(p, "Contacts")
    tap(p, desc="Create contact")
    assert p.state.focused_field == "name"
    p.input_text("Eve Zhou 周")
    tap(p, rid="phone")
    p.input_text("+1 555-0199")
    tap(p, text="Save")
    assert p.state.contacts[-1].name == "Eve Zhou 周" and p.state.contacts[-1].phone == "+1 555-0199"
    assert p.state.screen == "detail"
    p.keyevent("BACK")
    assert find(p, text="Eve Zhou 周") is not None
    # Back with unsaved input asks before discarding
    tap(p, desc="Create contact")
    p.input_text("Temp")
    p.keyevent("BACK")
    p.keyevent("BACK")
    assert p.state.dialog is not None and p.state.dialog.kind == "discard"
    tap(p, text="Discard")
    assert p.state.screen == "main" and all(c.name != "Temp" for c in p.state.contacts)


def test_send_message() -> None:
    p = make()
    open_app(p, "Messages")
    tap(p, desc="Start chat")
    assert p.state.focused_field == "to"
    p.input_text("alice chen")
    tap(p, rid="compose_message_text")
    p.input_text("Hello 你好 👋")
    tap(p, desc="Send SMS")
    sent = p.state.sent_messages[-1]
    assert (sent.to, sent.text, sent.phone) == ("Alice Chen", "Hello 你好 👋", "+1 555-0101")
    assert p.state.screen == "thread" and find(p, text="Hello 你好 👋") is not None
    tap(p, rid="compose_message_text")
    p.input_text("second")
    p.keyevent("KEYCODE_ENTER")  # Enter sends in a conversation
    assert [m.text for m in p.state.sent_messages][-2:] == ["Hello 你好 👋", "second"]
    p.keyevent("BACK")
    p.keyevent("BACK")
    assert p.state.screen == "main" and find(p, text="Alice Chen") is not None


def test_set_and_toggle_alarms() -> None:
    p = make()
    open_app(p, "Clock")
    existing = p.state.alarms[0]
    assert existing.enabled is False
    p.tap(*center(find(p, rid="onoff")))
    assert p.state.alarms[0].enabled is True
    tap(p, desc="Add alarm")
    assert p.state.screen == "alarm_edit"
    tap(p, rid="hour")
    p.clear_text()
    p.input_text("8x")  # digits only
    assert p.state.focused_text == "8"
    for _ in range(5):
        tap(p, desc="Increase minute")
    tap(p, rid="label")
    p.input_text("Gym")
    tap(p, rid="save_button")
    new = p.state.alarms[-1]
    assert (new.hour, new.minute, new.enabled, new.label) == (8, 5, True, "Gym")
    assert p.state.toast is not None and "21 hours" in p.state.toast
    assert find(p, text="08:05") is not None


def test_calculator_keys_and_evaluator() -> None:
    p = make()
    open_app(p, "Calculator")
    for key in "12+30=":
        tap(p, text=key)
    assert p.state.calculator.expression == "12+30" and p.state.calculator.display == "42"
    assert find(p, rid="result").get("text") == "42"
    tap(p, text="×")
    tap(p, text="2")
    tap(p, desc="equals")
    assert p.state.calculator.display == "84"
    tap(p, text="AC")
    assert p.state.calculator.expression == "" and p.state.calculator.display == ""
    p.input_text("7/2=")  # hardware keyboard input
    assert p.state.calculator.display == "3.5"
    cases = {
        "12+30": "42",
        "2×(3+4)": "14",
        "2(3)": "6",
        "7÷2": "3.5",
        "1÷3": "0.3333333333",
        "−3+1": "-2",
        "5%": "0.05",
        "0.1+0.2": "0.3",
        "1÷0": "Can't divide by 0",
        "(": "Error",
        "3+": "Error",
        "__import__('os')": "Error",
    }
    for expr, want in cases.items():
        assert evaluate(expr) == want, expr


def test_browser_url_bar_links_and_back() -> None:
    p = make()
    open_app(p, "Browser")
    tap(p, rid="url")
    assert p.state.focused_field == "url"
    p.input_text("example.com")
    p.keyevent("KEYCODE_ENTER")
    b = p.state.browser
    assert (b.url, b.title) == ("https://example.com/", "Example Domain")
    assert find(p, text="Example Domain") is not None and find(p, rid="url").get("text") == b.url
    tap(p, text="More information...")
    assert p.state.browser.url == "https://www.iana.org/help/example-domains"
    p.keyevent("BACK")
    assert p.state.browser.url == "https://example.com/"
    tap(p, rid="url")  # the whole URL is selected: typing replaces it
    p.input_text("weather today")
    tap(p, desc="Go")
    assert p.state.browser.url == "https://www.google.com/search?q=weather+today"
    assert p.state.browser.visited == [
        "https://example.com/",
        "https://www.iana.org/help/example-domains",
        "https://www.google.com/search?q=weather+today",
    ]
    p.keyevent("BACK")
    p.keyevent("BACK")
    assert p.state.browser.url == "about:home"
    p.keyevent("BACK")
    assert p.state.foreground == LAUNCHER


def test_camera_gallery_calendar() -> None:
    p = make()
    photos = len(p.state.photos)
    open_app(p, "Camera")
    tap(p, desc="Shutter")
    tap(p, desc="Shutter")
    assert len(p.state.photos) == photos + 2
    assert p.state.photos[-1].taken_at == NOW.isoformat(timespec="seconds")
    tap(p, desc="Latest photo")
    assert p.current_focus()[0] == "com.android.gallery3d" and p.state.screen == "viewer"
    tap(p, desc="Delete")
    tap(p, text="Delete")
    assert len(p.state.photos) == photos + 1 and p.state.screen == "main"
    assert len([el for el in elements(p) if el.get("resource-id", "").endswith("/photo")]) == photos + 1

    open_app(p, "Calendar")
    assert find(p, text="March 2024") is not None
    tap(p, text="12")
    tap(p, desc="Create event")
    p.input_text("Dentist")
    tap(p, text="Save")
    assert [(e.title, e.date) for e in p.state.events] == [("Dentist", "2024-03-12")]
    assert find(p, text="Dentist") is not None
    tap(p, desc="Next month")
    assert find(p, text="April 2024") is not None


def test_back_home_gestures_and_nav_bar() -> None:
    p = make()
    open_app(p, "Settings")
    p.tap(*center(scroll_to(p, "Display")))
    p.keyevent("KEYCODE_BACK")
    assert p.state.screen == "main" and p.state.foreground == "com.android.settings"
    tap(p, text="Display")
    p.keyevent("KEYCODE_HOME")
    assert p.state.foreground == LAUNCHER
    open_app(p, "Settings")  # the task comes back where it was
    assert p.state.screen == "display"
    tap(p, desc="Navigate up")
    assert p.state.screen == "main"
    tap(p, desc="Back")  # the navigation bar's back button
    assert p.state.foreground == LAUNCHER
    open_app(p, "Notes")
    p.swipe(p.width // 2, p.height - 5, p.width // 2, p.height // 2, 200)  # swipe up from the edge
    assert p.state.foreground == LAUNCHER
    open_app(p, "Notes")
    tap(p, desc="Home")
    assert p.state.foreground == LAUNCHER
    # swipe up on the home screen opens the app drawer; its search launches apps
    p.swipe(p.width // 2, p.height // 2, p.width // 2, p.height // 5, 300)
    assert p.state.screen == "drawer"
    tap(p, rid="search")
    p.input_text("calc")
    assert [el.get("text") for el in elements(p) if el.get("resource-id", "").endswith(":id/icon")] == [
        "Calculator"
    ]
    p.keyevent("ENTER")
    assert p.state.foreground == "com.android.calculator2"
    # recents: every started task, switch by tapping, clear all
    p.keyevent("KEYCODE_APP_SWITCH")
    assert p.state.screen == "recents" and p.current_focus()[0] == LAUNCHER
    snapshot = find(p, rid="snapshot", desc="Calculator")
    assert snapshot is not None
    p.keyevent("BACK")
    assert p.state.foreground == "com.android.calculator2" and p.state.overlay is None
    tap(p, desc="Overview")
    tap(p, rid="snapshot", desc="Calculator")
    assert p.state.foreground == "com.android.calculator2"
    p.keyevent("187")
    tap(p, text="Clear all")
    assert p.state.foreground == LAUNCHER and p.state.recents == []
    p.keyevent("KEYCODE_UNKNOWN_THING")  # ignored


def test_text_editing_keys() -> None:
    p = make()
    p.input_text("nothing focused")  # no-op
    open_app(p, "Notes")
    tap(p, desc="New note")
    p.input_text("hello")
    p.keyevent("KEYCODE_DEL")
    p.keyevent("67")
    assert p.state.focused_text == "hel"
    p.keyevent("KEYCODE_MOVE_HOME")
    p.input_text(">")
    p.keyevent("KEYCODE_MOVE_END")
    p.input_text("!")
    assert p.state.focused_text == ">hel!"
    p.keyevent("KEYCODE_ENTER")  # multi-line body: a new line
    p.input_text("x")
    assert p.state.focused_text == ">hel!\nx"
    p.keyevent("KEYCODE_CTRL_A")
    p.input_text("replaced")
    assert p.state.focused_text == "replaced"
    p.clear_text()
    assert p.state.focused_text == ""
    p.keyevent("KEYCODE_A")
    assert p.state.focused_text == "a"


def test_shuffle_is_reproducible_and_keeps_the_app_set() -> None:
    plain = make()
    a = make(seed=3, shuffle=True)
    b = make(seed=3, shuffle=True)
    c = make(seed=4, shuffle=True)

    def layout(p: Phone) -> dict[str, tuple[int, int]]:
        return {s.package: (s.row, s.col) for s in p.state.home}

    assert layout(a) == layout(b) and a.state.wallpaper == b.state.wallpaper
    assert set(layout(a)) == set(layout(plain)) == set(layout(c)) == set(LABELS.values())
    assert layout(a) != layout(plain) and layout(a) != layout(c)
    assert a.screencap_png() == b.screencap_png()
    assert a.screencap_png() != plain.screencap_png()
    # the icons really moved on screen and still open their app
    for label, pkg in (("Settings", "com.android.settings"), ("Wallet", "com.android.wallet")):
        ea, ep = find(a, desc=label), find(plain, desc=label)
        assert ea is not None and ep is not None
        open_app(a, label)
        assert a.state.foreground == pkg
        a.keyevent("HOME")
    assert any(find(a, desc=lbl).get("bounds") != find(plain, desc=lbl).get("bounds") for lbl in LABELS)


def test_xml_parses_and_bounds_match_hit_testing() -> None:
    p = make()
    screens = [
        lambda: None,
        lambda: open_app(p, "Settings"),
        lambda: p.tap(*center(scroll_to(p, "Display"))),
        lambda: open_app(p, "Calculator"),
        lambda: open_app(p, "Contacts"),
        lambda: tap(p, desc="Create contact"),
        lambda: open_app(p, "Clock"),
        lambda: open_app(p, "Calendar"),
        lambda: open_app(p, "Browser"),
    ]
    checked = 0
    for go in screens:
        go()
        xml = p.ui_hierarchy_xml()
        assert xml.startswith(
            "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy".replace("><h", ">\n<h")
        )
        root = ET.fromstring(xml.encode())
        assert root.tag == "hierarchy" and root.get("rotation") == "0"
        top = root.find("node")
        assert top is not None and top.get("bounds") == f"[0,0][{p.width},{p.height}]"
        for el in root.iter("node"):
            assert set(el.attrib) >= {
                "index",
                "text",
                "resource-id",
                "class",
                "package",
                "content-desc",
                "bounds",
            }
            if el.get("clickable") != "true" or el.get("enabled") != "true":
                continue
            x0, y0, x1, y1 = parse_bounds(el.get("bounds", ""))
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            inner = [
                parse_bounds(k.get("bounds", ""))
                for k in el.iter("node")
                if k is not el and k.get("clickable") == "true"
            ]
            if any(b[0] <= cx < b[2] and b[1] <= cy < b[3] for b in inner):
                continue  # a clickable child is on top at the centre
            hit = p.node_at(cx, cy)
            assert hit is not None and hit.vis == (x0, y0, x1, y1), (el.attrib, hit and hit.vis)
            checked += 1
    assert checked > 60


def test_xml_escapes_text() -> None:
    p = make()
    open_app(p, "Notes")
    tap(p, desc="New note")
    nasty = "a<b>&\"c' 你好 🎉"
    p.input_text(nasty)
    el = find(p, rid="body")
    assert el is not None and el.get("text") == nasty and el.get("focused") == "true"


def test_secure_screen_is_black_in_screencap() -> None:
    p = make()
    assert p.is_secure() is False
    open_app(p, "Wallet")
    assert p.is_secure() is True
    img = png_image(p)
    assert img.size == (p.width, p.height) and img.getextrema() == ((0, 0), (0, 0), (0, 0))
    assert set(p.framebuffer_rgba()[0::4]) == {0}
    assert len(p.framebuffer_rgba()) == p.width * p.height * 4
    assert p.render().getextrema() != ((0, 0), (0, 0), (0, 0))  # the screen itself is drawn
    p.keyevent("HOME")
    assert p.is_secure() is False and png_image(p).getextrema() != ((0, 0), (0, 0), (0, 0))


def test_render_is_cached_deterministic_and_fast() -> None:
    p = make()
    q = make()
    img = p.render()
    assert img.mode == "RGB" and img.size == (720, 1600)
    assert p.render() is img and p.screencap_png() is p.screencap_png()
    v = p.version
    p.tap(p.width // 2, 10)  # the status bar: nothing changes
    assert p.version == v and p.render() is img
    timings: dict[str, float] = {}
    for label in ("Settings", "Calculator", "Notes", "Browser", "Clock"):
        for ph in (p, q):
            open_app(ph, label)
        t0 = time.perf_counter()
        p.render()
        timings[label] = (time.perf_counter() - t0) * 1000
        assert p.version > v
        assert p.screencap_png() == q.screencap_png()  # same inputs, same pixels
    p.keyevent("HOME")  # a screen rendered before: warm caches
    t0 = time.perf_counter()
    p.render()
    warm_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    png = p.screencap_png()
    png_ms = (time.perf_counter() - t0) * 1000
    print(
        "\nrender ms, first visit:",
        {k: round(val, 1) for k, val in timings.items()},
        f"| home again {warm_ms:.1f} ms | PNG encode {png_ms:.1f} ms, {len(png)} bytes",
    )
    # a new minute re-renders the status bar
    minutes = iter([datetime(2024, 3, 5, 10, 24), datetime(2024, 3, 5, 10, 25)])
    r = Phone(clock=lambda: next(minutes, datetime(2024, 3, 5, 10, 25)))
    first = r.render()
    assert r.render() is not first


def test_large_screen_1080x2400_and_zh_locale() -> None:
    p = make(width=1080, height=2400, density=480, locale="zh")
    assert p.render().size == (1080, 2400)
    assert find(p, desc="设置") is not None
    open_app(p, "设置")
    assert p.state.foreground == "com.android.settings"
    assert find(p, text="WLAN") is not None
    p.tap(*center(row_switch(p, "WLAN")))
    assert p.state.wifi is False
    open_app(p, "笔记")
    tap(p, desc="新建笔记")
    p.input_text("你好")
    tap(p, text="保存")
    assert p.state.notes[-1].body == "你好"
    root = ET.fromstring(p.ui_hierarchy_xml().encode()).find("node")
    assert root is not None and root.get("bounds") == "[0,0][1080,2400]"
    wide = make(width=1080, height=2400)  # default density works too
    open_app(wide, "Calculator")
    for key in "9×9=":
        tap(wide, text=key)
    assert wide.state.calculator.display == "81"


def test_state_is_json_and_snapshot_is_a_copy() -> None:
    p = make()
    open_app(p, "Notes")
    tap(p, desc="New note")
    p.input_text("draft")
    snap = p.snapshot()
    text = json.dumps(snap, ensure_ascii=False)
    assert snap["foreground"] == "com.android.notes" and snap["screen"] == "editor"
    assert snap["focused_text"] == "draft" and snap["focused_field"] == "body"
    assert {
        "wifi",
        "bluetooth",
        "airplane",
        "brightness",
        "dark_theme",
        "notes",
        "contacts",
        "sent_messages",
    } <= set(snap)
    assert {"alarms", "browser", "calculator", "home", "wallpaper", "dialog"} <= set(snap)
    snap["notes"].clear()
    assert p.state.notes  # a copy
    again = PhoneState.model_validate_json(
        json.dumps(
            {
                k: v
                for k, v in json.loads(text).items()
                if k not in ("screen", "focused_text", "focused_field")
            }
        )
    )
    assert again.notes == p.state.notes


def test_concurrent_input_and_capture() -> None:
    p = make()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                if n == 0:
                    p.screencap_png()
                    p.ui_hierarchy_xml()
                elif n == 1:
                    open_app(p, ("Settings", "Notes", "Clock")[i % 3])
                else:
                    p.swipe(p.width // 2, p.height * 2 // 3, p.width // 2, p.height // 3, 200)
                    p.keyevent("BACK")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert p.render().size == (p.width, p.height)


def test_fonts_fall_back_without_crashing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert render.font_name().endswith((".ttc", ".ttf")) or render.font_name() == "PIL default"
    monkeypatch.setattr(render, "_REGULAR_FONTS", (("/nonexistent/font.ttf", 0),))
    monkeypatch.setattr(render, "_BOLD_FONTS", ())
    render._font_source.cache_clear()
    render.font.cache_clear()
    try:
        f = render.font(20)
        assert render.font_name() == "PIL default"
        img = Image.new("RGB", (200, 40))
        from PIL import ImageDraw

        ImageDraw.Draw(img).text((0, 0), "你好 🎉 \U0010ffff", font=f, fill=(255, 255, 255))
        assert render.wrap("long text 很长的中文句子 🎉🎉🎉", 20, 60)
    finally:
        monkeypatch.undo()
        render._font_source.cache_clear()
        render.font.cache_clear()
        render._width_cache.clear()


def test_settings_list_delete_and_bad_arguments() -> None:
    p = make()
    listed = p.list_settings("global")
    assert (
        listed["wifi_on"] == "1"
        and listed["airplane_mode_on"] == "0"
        and listed["device_name"] == "SimPhone 7"
    )
    assert list(listed) == sorted(listed)
    assert p.list_settings("secure")["default_input_method"] == LATIN_IME
    p.put_setting("global", "my_flag", "7")
    assert p.delete_setting("global", "my_flag") is True
    assert p.get_setting("global", "my_flag") is None
    assert p.delete_setting("global", "wifi_on") is False and p.state.wifi is True
    with pytest.raises(ValueError, match="namespace"):
        p.put_setting("nope", "k", "v")
    with pytest.raises(PhoneConfigError, match="locale"):
        Phone(locale="fr")
    with pytest.raises(PhoneConfigError, match="not supported"):
        Phone(width=100, height=100)
    assert isinstance(PhoneConfigError("x"), AutoGLMError)
