"""The device layer: quoting, parsing of device output, app resolution, and (against the
simulator, through the real adb server) every ``AdbDevice`` operation and error path."""

from __future__ import annotations

import base64
import io
import re
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw

from autoglm_agent.device import apps, text
from autoglm_agent.device.adb import (
    AdbDevice,
    DeviceInfo,
    connect,
    decode_screencap,
    disconnect,
    find_adb,
    focused_text_length,
    is_secure_capture,
    list_devices,
    parse_current_app,
    parse_resumed_activity,
    parse_wm_size,
    shell_join,
)
from autoglm_agent.device.base import (
    AdbNotFoundError,
    AppInfo,
    AppNotFoundError,
    Device,
    DeviceConnectError,
    DeviceOfflineError,
    DeviceTimeoutError,
    MultipleDevicesError,
    NoDeviceError,
    ScreenshotError,
    TextInputError,
)
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.sim.runner import Simulator

HOSTILE = "a'; rm -rf /sdcard; echo '"


def _free_even_port() -> int:
    """A free TCP port that is even and outside adb's emulator range (Linux hands out odd ports
    for bind(0), so try the neighbours)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        for port in (base, base + 1, base - 1):
            if port % 2 or 5550 <= port <= 5590 or not 1024 < port < 65535:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def android_input_text(arg: str) -> str:
    """What Android's `input text ARG` types: every `%s` becomes a space (InputShellCommand)."""
    buf = list(arg)
    i = 0
    escape = False
    while i < len(buf):
        if escape:
            escape = False
            if buf[i] == "s":
                buf[i] = " "
                i -= 1
                del buf[i]
        if buf[i] == "%":
            escape = True
        i += 1
    return "".join(buf)


def _split_and_list(line: str) -> list[list[str]]:
    """Split a shell line on unquoted ``&&`` and word-split each command (POSIX quoting)."""
    parts, cur, quote = [], [], ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif line.startswith(" && ", i):
            parts.append("".join(cur))
            cur, i = [], i + 4
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return [shlex.split(p) for p in parts]


# =========================================================================== quoting / text


def test_shell_join_quotes_every_argument() -> None:
    cmd = shell_join("input", "text", HOSTILE, 5)
    assert shlex.split(cmd) == ["input", "text", HOSTILE, "5"]


def test_escape_input_text_spaces_and_percent() -> None:
    assert text.escape_input_text("a b") == ["a%sb"]
    # a literal "%s" cannot be escaped for `input text`: it is split over two invocations
    assert text.escape_input_text("50%sale") == ["50%", "sale"]
    assert text.escape_input_text("100% sure") == ["100%%ssure"]
    for arg_list, want in ((text.escape_input_text("100% sure"), "100% sure"),):
        assert "".join(android_input_text(a) for a in arg_list) == want


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300))
@settings(max_examples=200, deadline=None)
def test_input_text_commands_round_trip(s: str) -> None:
    """Whatever printable ASCII: the shell sees only `input text <one quoted word>` commands and
    Android types exactly the original text."""
    typed = []
    for line in text.input_text_commands(s):
        for c in _split_and_list(line):
            assert c[:2] == ["input", "text"] and len(c) == 3, c
            typed.append(android_input_text(c[2]))
    assert "".join(typed) == s


def test_input_text_hostile_string_is_one_quoted_argument() -> None:
    (line,) = text.input_text_commands(HOSTILE)
    assert shlex.split(line) == ["input", "text", HOSTILE.replace(" ", "%s")]


def test_input_text_newline_tab_and_non_ascii() -> None:
    (line,) = text.input_text_commands("ab\ncd\te")
    # a tab stays in the `input text` argument (Android types it as the Tab key), a newline is ENTER
    assert line == "input text ab && input keyevent 66 && input text 'cd\te'"
    with pytest.raises(TextInputError, match="ADB Keyboard"):
        text.input_text_commands("你好")
    with pytest.raises(TextInputError):
        text.input_text_commands("bell\x07")


def test_long_input_text_is_chunked_into_bounded_commands() -> None:
    s = "x y" * 2000
    lines = text.input_text_commands(s)
    assert len(lines) > 1
    assert all(len(line) <= text.MAX_COMMAND_CHARS for line in lines)


EMOJI = "👨‍👩‍👧‍👦👍🏽🇨🇳🇯🇵1️⃣é"  # ZWJ family, skin tone, two flags, keycap, combining accent


def _decode_broadcasts(lines: list[str]) -> str:
    out = []
    for line in lines:
        words = shlex.split(line)
        assert words[:4] == ["am", "broadcast", "-a", "ADB_INPUT_B64"]
        assert words[-2:] == ["-p", "com.android.adbkeyboard"]
        out.append(base64.b64decode(words[words.index("msg") + 1]).decode("utf-8"))
    return "".join(out)


def test_adbkeyboard_commands_carry_base64_utf8() -> None:
    s = "中文输入 " + EMOJI + " " + HOSTILE
    lines = text.adbkeyboard_type_commands(s)
    assert len(lines) == 1
    assert "rm" not in lines[0]
    assert _decode_broadcasts(lines) == s


def test_adbkeyboard_chunks_never_split_a_cluster() -> None:
    s = (EMOJI + "汉字") * 200
    chunks = text.chunk_text(s, 64)
    assert "".join(chunks) == s
    for c in chunks:
        assert len(c.encode()) <= 64
        assert not text._is_extender(c[0]), repr(c[:3])
        assert not c.endswith("\u200d")
    # flags stay paired: every chunk holds an even number of regional indicators
    assert all(sum(text._is_regional_indicator(ch) for ch in c) % 2 == 0 for c in chunks)
    assert _decode_broadcasts(text.adbkeyboard_type_commands(s, max_bytes=64)) == s


@given(st.text(max_size=200), st.integers(min_value=4, max_value=50))
@settings(max_examples=200, deadline=None)
def test_chunk_text_round_trip(s: str, limit: int) -> None:
    s = s.encode("utf-8", "ignore").decode("utf-8")  # drop lone surrogates
    chunks = text.chunk_text(s, limit)
    assert "".join(chunks) == s
    assert all(c for c in chunks)


def test_clear_commands() -> None:
    assert text.adbkeyboard_clear_command() == "am broadcast -a ADB_CLEAR_TEXT -p com.android.adbkeyboard"
    assert text.keyevent_clear_command(3) == "input keyevent 123 67 67 67"
    assert text.keyevent_clear_command(10**6).count("67") == text.MAX_CLEAR_DELETES


class _RecordingShell:
    """A stand-in device shell for the strategy logic (the real one is exercised on the simulator)."""

    def __init__(
        self, ime: str = "com.google.android.inputmethod.latin/com.android.inputmethod.latin.LatinIME"
    ):
        self.ime = ime
        self.calls: list[str] = []

    def __call__(self, command: str, *, check: bool = True) -> str:
        self.calls.append(command)
        if command.startswith("settings get"):
            return self.ime + "\n"
        if command.startswith("am broadcast"):
            return "Broadcasting: Intent { act=ADB_INPUT_B64 }\nBroadcast completed: result=0\n"
        return ""


def test_text_inputter_switches_ime_per_type_and_restores_it() -> None:
    sh = _RecordingShell()
    adb_ime = shlex.quote(text.ADB_KEYBOARD_IME)
    back = f"ime set {shlex.quote(sh.ime)}"
    ti = text.TextInputter(sh, mode="auto", has_adbkeyboard=lambda: True, settle_s=0)
    ti.type_text("你好")
    assert sh.calls[0] == "settings get secure default_input_method"
    assert sh.calls[1] == f"ime enable {adb_ime} && ime set {adb_ime}"
    assert sh.calls[2].startswith("am broadcast -a ADB_INPUT_B64")
    assert sh.calls[3:] == [back]  # the user's IME is back after each Type
    sh.calls.clear()
    ti.type_text("world")
    assert sh.calls[1] == f"ime set {adb_ime}"  # enabled once is enough
    assert sh.calls[-1] == back
    sh.calls.clear()
    ti.clear_text()  # a clear leaves the restore to the type that follows...
    assert ti.restore_pending and back not in sh.calls
    ti.type_text("x")
    assert sh.calls[-1] == back and not ti.restore_pending
    assert sum(c.startswith("ime set") or " ime set " in c for c in sh.calls) == 2
    sh.calls.clear()
    ti.clear_text()  # ...or to close() when none does
    ti.close()
    assert sh.calls[-1] == back
    ti.close()  # idempotent
    assert sh.calls[-1] == back and sh.calls.count(back) == 1


def test_text_inputter_fallback_refuses_non_ascii() -> None:
    sh = _RecordingShell()
    ti = text.TextInputter(sh, mode="auto", has_adbkeyboard=lambda: False, focused_text_length=lambda: 5)
    assert ti.strategy == "input"
    with pytest.raises(TextInputError, match="ADB Keyboard"):
        ti.type_text("微信")
    ti.clear_text()
    assert sh.calls[-1] == "input keyevent 123 67 67 67 67 67"
    with pytest.raises(TextInputError, match="not installed"):
        _ = text.TextInputter(sh, mode="adbkeyboard", has_adbkeyboard=lambda: False).strategy


# =========================================================================== dumpsys parsing

DUMPSYS_44 = """
WINDOW MANAGER WINDOWS (dumpsys window windows)
  Window #3 Window{41b37570 u0 com.android.settings/com.android.settings.Settings}:
    mDisplayId=0 mSession=Session{41d0a5b8 1234:1000} mClient=android.os.BinderProxy@41a1b6c8
  mCurrentFocus=Window{41b37570 u0 com.android.settings/com.android.settings.Settings}
  mFocusedApp=AppWindowToken{422df168 token=Token{422def98 ActivityRecord{422dee38 u0 com.android.settings/.Settings t14}}}
"""
DUMPSYS_9 = """
  mCurrentFocus=Window{9ba6c6f u0 com.tencent.mm/com.tencent.mm.ui.LauncherUI}
  mFocusedApp=AppWindowToken{c1e3e12 token=Token{6a8d65d ActivityRecord{1b2a7b4 u0 com.tencent.mm/.ui.LauncherUI t127}}}
"""
DUMPSYS_10_SHORT = """
  mCurrentFocus=Window{e4b1f3a u0 com.android.chrome/org.chromium.chrome.browser.ChromeTabbedActivity}
  mFocusedApp=ActivityRecord{7a1ba54 u0 com.android.chrome/org.chromium.chrome.browser.ChromeTabbedActivity t88}
"""
DUMPSYS_13_MULTI_DISPLAY = """
Display: mDisplayId=2
  mCurrentFocus=null
  mFocusedApp=null
Display: mDisplayId=0
  mCurrentFocus=Window{2c3d9a1 u0 com.android.settings/com.android.settings.SubSettings}
  mFocusedApp=ActivityRecord{91f25f6 u0 com.android.settings/.SubSettings t31}
"""
DUMPSYS_SHADE = """
  mCurrentFocus=Window{5f1c0e0 u0 NotificationShade}
  mFocusedApp=ActivityRecord{be1d2f u0 com.google.android.apps.maps/com.google.android.maps.MapsActivity t42}
"""
DUMPSYS_ANR = """
  mCurrentFocus=Window{7aa u0 Application Not Responding: com.example.slow}
  mFocusedApp=ActivityRecord{7ab u0 com.example.slow/.Main t2}
"""
DUMPSYS_SPLASH = """
  mCurrentFocus=Window{1c2 u0 Splash Screen com.xingin.xhs}
  mFocusedApp=null
"""
DUMPSYS_POPUP_LAUNCHER = """
  mCurrentFocus=Window{4e1 u0 PopupWindow:3f2a1b}
  mFocusedApp=ActivityRecord{3c7 u0 com.google.android.apps.nexuslauncher/.NexusLauncherActivity t1}
"""
DUMPSYS_LOCKED = """
  mCurrentFocus=null
  mFocusedApp=null
"""
DUMPSYS_ACTIVITY_14 = """
ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)
Display #0 (activities from top to bottom):
    topResumedActivity=ActivityRecord{a1b2c3 u0 com.eg.android.AlipayGphone/.AlipayLogin t201}
"""
DUMPSYS_ACTIVITY_8 = """
  Stack #1:
    mResumedActivity: ActivityRecord{5d3 u0 com.taobao.taobao/com.taobao.tao.welcome.Welcome t9}
"""


@pytest.mark.parametrize(
    ("sample", "package", "activity"),
    [
        (DUMPSYS_44, "com.android.settings", "com.android.settings.Settings"),
        (DUMPSYS_9, "com.tencent.mm", "com.tencent.mm.ui.LauncherUI"),
        (DUMPSYS_10_SHORT, "com.android.chrome", "org.chromium.chrome.browser.ChromeTabbedActivity"),
        (DUMPSYS_13_MULTI_DISPLAY, "com.android.settings", "com.android.settings.SubSettings"),
        (DUMPSYS_SHADE, "com.google.android.apps.maps", "com.google.android.maps.MapsActivity"),
        (DUMPSYS_ANR, "com.example.slow", None),
        (DUMPSYS_SPLASH, "com.xingin.xhs", None),
        (
            DUMPSYS_POPUP_LAUNCHER,
            "com.google.android.apps.nexuslauncher",
            "com.google.android.apps.nexuslauncher.NexusLauncherActivity",
        ),
    ],
)
def test_parse_current_app_variants(sample: str, package: str, activity: str | None) -> None:
    app = parse_current_app(sample)
    assert app == AppInfo(package, activity)


def test_parse_current_app_nothing_focused_and_fallbacks() -> None:
    assert parse_current_app(DUMPSYS_LOCKED) is None
    assert parse_current_app("") is None
    assert parse_resumed_activity(DUMPSYS_ACTIVITY_14) == AppInfo(
        "com.eg.android.AlipayGphone", "com.eg.android.AlipayGphone.AlipayLogin"
    )
    assert parse_resumed_activity(DUMPSYS_ACTIVITY_8) == AppInfo(
        "com.taobao.taobao", "com.taobao.tao.welcome.Welcome"
    )
    assert str(AppInfo("com.a.b", "com.a.b.Main")) == "com.a.b/com.a.b.Main"


def test_parse_wm_size() -> None:
    assert parse_wm_size("Physical size: 1080x2400") == (1080, 2400)
    assert parse_wm_size("Physical size: 1440x3200\nOverride size: 1080x2400\n") == (1080, 2400)
    assert parse_wm_size("error: no display") is None


def test_parse_package_list() -> None:
    out = "package:com.android.settings\npackage:com.tencent.mm\r\nWARNING: linker\npackage:/data/app/x/base.apk=com.a.b\n"
    assert apps.parse_package_list(out) == ["com.a.b", "com.android.settings", "com.tencent.mm"]


QUERY_BRIEF = """3 activities found:
  Activity #0:
    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false
    com.android.settings/.Settings
  Activity #1:
    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false
    com.google.android.calculator/com.android.calculator2.Calculator
  Activity #2:
    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false
    com.android.settings/.Settings$WifiSettingsActivity
"""
QUERY_COMPONENTS = "com.android.settings/.Settings\ncom.android.deskclock/.DeskClock\n"
QUERY_FULL = """2 activities found:
  Activity #0:
    ActivityInfo:
      name=com.example.notes.MainActivity
      packageName=com.example.notes
      labelRes=0x7f120001 nonLocalizedLabel=null icon=0x7f0d0000
  Activity #1:
    ActivityInfo:
      name=org.sim.calc.CalcActivity
      packageName=org.sim.calc
      labelRes=0x0 nonLocalizedLabel=Calculator Pro icon=0x7f0d0000
"""


def test_parse_launcher_activities_formats() -> None:
    brief = apps.parse_launcher_activities(QUERY_BRIEF)
    assert [(e.package, e.component) for e in brief] == [
        ("com.android.settings", "com.android.settings/.Settings"),
        ("com.google.android.calculator", "com.google.android.calculator/com.android.calculator2.Calculator"),
    ]
    comps = apps.parse_launcher_activities(QUERY_COMPONENTS)
    assert [e.package for e in comps] == ["com.android.settings", "com.android.deskclock"]
    full = apps.parse_launcher_activities(QUERY_FULL)
    assert [(e.component, e.label) for e in full] == [
        ("com.example.notes/com.example.notes.MainActivity", None),
        ("org.sim.calc/org.sim.calc.CalcActivity", "Calculator Pro"),
    ]


# =========================================================================== app registry


def test_registry_names_are_unique_and_packages_valid() -> None:
    seen: dict[str, str] = {}
    for entry in apps.REGISTRY:
        assert entry.packages, entry
        for pkg in entry.packages:
            assert apps.looks_like_package(pkg), pkg
        for name in entry.names:
            key = apps.normalize_name(name)
            assert key, (entry.name, name)
            assert key not in seen or seen[key] == entry.name, f"{name!r} in {seen.get(key)} and {entry.name}"
            seen[key] = entry.name
    assert len(apps.REGISTRY) >= 150


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("settings", "com.android.settings"),
        ("Settings", "com.android.settings"),
        (" SETTINGS app ", "com.android.settings"),
        ("设置", "com.android.settings"),
        ("wechat", "com.tencent.mm"),
        ("WeChat", "com.tencent.mm"),
        ("微信", "com.tencent.mm"),
        ("chrome", "com.android.chrome"),
        ("google maps", "com.google.android.apps.maps"),
        ("Google-Maps", "com.google.android.apps.maps"),
        ("ＷｅＣｈａｔ", "com.tencent.mm"),  # full-width
        ("高德地图", "com.autonavi.minimap"),
        ("支付宝", "com.eg.android.AlipayGphone"),
        ("clock", "com.google.android.deskclock"),
        ("时钟", "com.google.android.deskclock"),
    ],
)
def test_registry_lookup(name: str, first: str) -> None:
    assert apps.registry_candidates(name)[0] == first


def test_registry_unknown_and_display_names() -> None:
    assert apps.registry_candidates("no such app at all") == []
    assert apps.display_name("com.tencent.mm") == "WeChat"
    assert apps.display_name("com.google.android.gm") == "Gmail"
    assert apps.display_name("org.unknown.x") == "org.unknown.x"


SAMSUNG = [
    "com.android.settings",
    "com.sec.android.app.clockpackage",
    "com.sec.android.app.camera",
    "com.sec.android.app.popupcalculator",
    "com.samsung.android.messaging",
    "com.tencent.mm",
]
XIAOMI = [
    "com.android.settings",
    "com.android.deskclock",
    "com.miui.calculator",
    "com.android.camera",
    "com.miui.gallery",
]
HUAWEI = ["com.android.settings", "com.android.deskclock", "com.huawei.camera", "com.example.android.notepad"]


@pytest.mark.parametrize(
    ("installed", "query", "package"),
    [
        (SAMSUNG, "clock", "com.sec.android.app.clockpackage"),
        (SAMSUNG, "闹钟", "com.sec.android.app.clockpackage"),
        (SAMSUNG, "Camera", "com.sec.android.app.camera"),
        (SAMSUNG, "calculator", "com.sec.android.app.popupcalculator"),
        (SAMSUNG, "短信", "com.samsung.android.messaging"),
        (SAMSUNG, "微信", "com.tencent.mm"),
        (XIAOMI, "计算器", "com.miui.calculator"),
        (XIAOMI, "clock", "com.android.deskclock"),
        (XIAOMI, "相册", "com.miui.gallery"),
        (HUAWEI, "camera", "com.huawei.camera"),
        (HUAWEI, "备忘录", "com.example.android.notepad"),
        (HUAWEI, "com.android.deskclock", "com.android.deskclock"),
    ],
)
def test_resolve_app_across_vendors(installed: list[str], query: str, package: str) -> None:
    assert apps.resolve_app(query, installed).package == package


def test_resolve_app_exact_package_and_component() -> None:
    installed = ["com.android.settings", "com.example.foo"]
    r = apps.resolve_app("com.example.foo", installed)
    assert (r.package, r.how) == ("com.example.foo", "package")
    r = apps.resolve_app("com.example.foo/.Main", installed)
    assert (r.package, r.component) == ("com.example.foo", "com.example.foo/.Main")


def test_resolve_app_fuzzy_by_label_and_tokens() -> None:
    launcher = apps.parse_launcher_activities(QUERY_FULL)
    installed = [e.package for e in launcher]
    r = apps.resolve_app("calc", installed, launcher)
    assert r.package == "org.sim.calc"
    assert r.component == "org.sim.calc/org.sim.calc.CalcActivity"
    r = apps.resolve_app("Calculator  pro", installed, launcher)
    assert r.package == "org.sim.calc" and "label" in r.how
    r = apps.resolve_app("notes", installed, launcher)  # package token
    assert r.package == "com.example.notes"
    # no launcher info: tokens of installed packages
    assert (
        apps.resolve_app("shopping", ["com.acme.shopping2", "com.acme.bank"]).package == "com.acme.shopping2"
    )


def test_resolve_app_errors_name_candidates() -> None:
    installed = ["com.acme.notes", "com.acme.notebook", "com.android.settings"]
    with pytest.raises(AppNotFoundError, match="ambiguous") as exc:
        apps.resolve_app("note", installed)
    assert "com.acme.notes" in str(exc.value) and "com.acme.notebook" in str(exc.value)
    with pytest.raises(AppNotFoundError, match="no installed app matches 'zzqx'"):
        apps.resolve_app("zzqx", installed)
    with pytest.raises(AppNotFoundError, match=r"WeChat \(com.tencent.mm\) is not installed"):
        apps.resolve_app("微信", installed)
    with pytest.raises(AppNotFoundError, match=r"close candidates: com\.acme\.photos"):
        apps.resolve_app("photo editor", ["com.acme.x", "com.acme.photos"])
    # a typo still finds the app
    assert (
        apps.resolve_app("settigns", ["com.acme.x", "com.example.settingsx"]).package
        == "com.example.settingsx"
    )
    with pytest.raises(AppNotFoundError):
        apps.resolve_app("  ", installed)


# =========================================================================== images / xml


def test_is_secure_capture() -> None:
    black = Image.new("RGB", (1080, 2400), (0, 0, 0))
    assert is_secure_capture(black)
    # a status bar with white icons drawn over the black secure layer is still a secure capture
    with_bar = black.copy()
    d = ImageDraw.Draw(with_bar)
    for x in range(40, 300, 60):
        d.rectangle((x, 30, x + 30, 70), fill=(255, 255, 255))
    d.rectangle((440, 2340, 640, 2350), fill=(255, 255, 255))
    assert is_secure_capture(with_bar)
    page = Image.new("RGB", (1080, 2400), (250, 250, 250))
    assert not is_secure_capture(page)
    dark_mode = Image.new("RGB", (1080, 2400), (18, 18, 18))
    dd = ImageDraw.Draw(dark_mode)
    for y in range(200, 2200, 120):
        dd.rectangle((60, y, 1000, y + 40), fill=(230, 230, 230))
    assert not is_secure_capture(dark_mode)


def test_decode_screencap() -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (30, 60), (1, 2, 3, 255)).save(buf, "PNG")
    img = decode_screencap(buf.getvalue())
    assert img.mode == "RGB" and img.size == (30, 60) and img.getpixel((0, 0)) == (1, 2, 3)
    with pytest.raises(ScreenshotError, match="returned no image"):
        decode_screencap(b"")
    with pytest.raises(ScreenshotError, match="not an image"):
        decode_screencap(b"/system/bin/sh: screencap: not found\n")
    with pytest.raises(ScreenshotError, match="not an image"):
        noisy = io.BytesIO()
        Image.effect_noise((200, 200), 64).convert("RGB").save(noisy, "PNG")
        decode_screencap(noisy.getvalue()[: len(noisy.getvalue()) // 2])  # truncated PNG


def test_focused_text_length() -> None:
    xml = (
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation=\"0\">"
        '<node text="" class="android.widget.FrameLayout" focused="false">'
        '<node text="héllo 世界" class="android.widget.EditText" focusable="true" focused="true" />'
        "</node></hierarchy>"
    )
    assert focused_text_length(xml) == 8
    assert focused_text_length("<hierarchy/>") is None
    assert focused_text_length("not xml") is None


# =========================================================================== adb server / errors


def test_device_info_model() -> None:
    d = DeviceInfo(serial="127.0.0.1:6000", state="device", model="SimPhone")
    assert d.online and d.model_dump()["model"] == "SimPhone"
    assert not DeviceInfo(serial="x", state="offline").online


def test_adb_missing_and_server_down(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_even_port()
    monkeypatch.setenv("ADBUTILS_ADB_PATH", "/nonexistent/adb")
    assert find_adb() is None
    with pytest.raises(AdbNotFoundError) as exc:
        AdbDevice(adb_port=port)
    assert (
        str(exc.value)
        == "adb not found; install Android platform tools (Debian/Ubuntu: apt-get install -y adb)"
    )
    with pytest.raises(AdbNotFoundError):
        list_devices(adb_port=port)


def test_remote_adb_server_unreachable() -> None:
    with pytest.raises(AdbNotFoundError, match=r"no adb server answers at 192\.0\.2\.1"):
        list_devices(adb_host="192.0.2.1", adb_port=5037)


@pytest.mark.skipif(find_adb() is None, reason="needs the adb binary")
def test_starts_a_private_adb_server_when_down() -> None:
    """With the binary present and nothing on the port, the server is started (once)."""
    port = _free_even_port()
    adb = find_adb()
    assert adb
    try:
        t0 = time.monotonic()
        devices = list_devices(adb_port=port)
        assert isinstance(devices, list)
        assert time.monotonic() - t0 < 25
        if not devices:  # the private server knows no devices (the simulators are on the shared one)
            with pytest.raises(NoDeviceError, match="no Android device is connected"):
                AdbDevice(adb_port=port)
    finally:
        # our own private server on its own port, not the shared one
        subprocess.run([adb, "-P", str(port), "kill-server"], timeout=20, check=False, capture_output=True)


def test_connect_refused_and_bad_address() -> None:
    port = _free_even_port()
    with pytest.raises(DeviceConnectError, match=f"could not connect to 127.0.0.1:{port}"):
        connect(f"127.0.0.1:{port}", timeout=10)
    with pytest.raises(DeviceConnectError, match="bad address"):
        connect("127.0.0.1:notaport")
    with pytest.raises(NoDeviceError, match="is not connected"):
        disconnect(f"127.0.0.1:{port}")


def test_unknown_serial_is_no_device_error() -> None:
    with pytest.raises(NoDeviceError, match=r"device 127\.0\.0\.1:2 not found") as exc:
        AdbDevice("127.0.0.1:2", timeout=5)
    assert "autoglm-agent connect 127.0.0.1:2" in str(exc.value)
    assert isinstance(exc.value, AutoGLMError)
    with pytest.raises(NoDeviceError, match="emulator-7000 not found"):
        AdbDevice("emulator-7000", timeout=5)


# =========================================================================== on the simulator
# Everything below goes through the real adb server to the simulated phone.

LATIN_IME = "com.android.inputmethod.latin/.LatinIME"


def _center(xml: str, **attrs: str) -> tuple[int, int]:
    """Centre of the first node of a uiautomator dump whose attributes contain the given values."""
    import xml.etree.ElementTree as ET

    for node in ET.fromstring(xml).iter("node"):
        if all(v in (node.get(k.replace("_", "-")) or "") for k, v in attrs.items()):
            x1, y1, x2, y2 = map(int, re.findall(r"\d+", node.get("bounds", "")))
            return (x1 + x2) // 2, (y1 + y2) // 2
    raise AssertionError(f"no node with {attrs} on screen")


def _open_new_note(dev: AdbDevice, sim: Simulator) -> None:
    dev.launch("notes")
    dev.tap(*_center(dev.ui_tree(), resource_id="new_note"))
    assert sim.phone.state.focused_field == "body"


def _ran(sim: Simulator, program: str) -> list[list[str]]:
    """Every simple command with this program name that the phone's shell executed."""
    return [argv for rec in sim.command_log for argv in rec.argv if argv and argv[0] == program]


@pytest.fixture
def dev(home_simulator: Simulator) -> Iterator[AdbDevice]:
    with AdbDevice(home_simulator.serial, timeout=10) as d:
        yield d


def test_sim_screenshot_size_timing_and_one_round_trip(dev: AdbDevice, home_simulator: Simulator) -> None:
    shots = [dev.screenshot() for _ in range(3)]
    w, h = home_simulator.phone.width, home_simulator.phone.height
    for s in shots:
        assert s.size == (w, h) and s.image.size == (w, h) and s.image.mode == "RGB"
        assert not s.secure
        assert s.duration_s > 0
    print(f"\nscreenshot {w}x{h}: " + ", ".join(f"{s.duration_s * 1000:.1f} ms" for s in shots))
    # one shell command per capture, nothing written to /sdcard
    caps = [r for r in home_simulator.command_log if "screencap" in r.command]
    assert len(caps) == 3 and all(r.command == "screencap -p" for r in caps)
    assert dev.screen_size() == (w, h)


def test_sim_framebuffer_capture_matches_screencap(home_simulator: Simulator) -> None:
    with (
        AdbDevice(home_simulator.serial, capture="framebuffer") as fb,
        AdbDevice(home_simulator.serial) as sc,
    ):
        a, b = sc.screenshot(), fb.screenshot()
        assert a.size == b.size
        assert ImageChops.difference(a.image, b.image).getbbox() is None
        print(f"\nscreencap {a.duration_s * 1000:.1f} ms, framebuffer {b.duration_s * 1000:.1f} ms")


def test_sim_tap_opens_an_icon_found_in_the_ui_tree(dev: AdbDevice, home_simulator: Simulator) -> None:
    xml = dev.ui_tree()
    assert xml.startswith("<?xml") and xml.endswith("</hierarchy>")
    dev.tap(*_center(xml, text="Clock", resource_id="icon"))
    assert home_simulator.phone.state.foreground == "com.android.deskclock"
    assert dev.current_app().package == "com.android.deskclock"
    # the dump went to a unique file under /data/local/tmp, which is gone again
    dumps = _ran(home_simulator, "uiautomator")
    assert dumps and all(a[2].startswith("/data/local/tmp/autoglm-ui-") for a in dumps)
    assert [a[2] for a in dumps] == [a[2] for a in _ran(home_simulator, "rm")]


@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("Settings", "com.android.settings"),
        ("设置", "com.android.settings"),
        ("com.android.settings", "com.android.settings"),
        ("calc", "com.android.calculator2"),
        ("calcul", "com.android.calculator2"),  # fuzzy, via the registry's names of installed packages
        ("wall", "com.android.wallet"),  # fuzzy, by package-name token
        ("  CLOCK ", "com.android.deskclock"),
    ],
)
def test_sim_launch(dev: AdbDevice, home_simulator: Simulator, name: str, package: str) -> None:
    assert dev.launch(name) == package
    assert home_simulator.phone.state.foreground == package
    assert dev.current_app().package == package


def test_sim_launch_unknown_app_and_resolution_cache(dev: AdbDevice, home_simulator: Simulator) -> None:
    with pytest.raises(AppNotFoundError, match="no installed app matches 'qwzx florp'"):
        dev.launch("qwzx florp")
    with pytest.raises(AppNotFoundError, match=r"WeChat \(com\.tencent\.mm\) is not installed"):
        dev.launch("微信")
    dev.launch("settings")
    home_simulator.clear_command_log()
    dev.home()
    dev.launch("Settings")  # resolved from the cache: no package queries this time
    assert not _ran(home_simulator, "pm") and not _ran(home_simulator, "cmd")
    assert _ran(home_simulator, "am") == [["am", "start", "-n", "com.android.settings/.Settings"]]


def test_sim_back_home_and_current_app(dev: AdbDevice, home_simulator: Simulator) -> None:
    assert dev.current_app() == AppInfo("com.android.launcher3", "com.android.launcher3.Launcher")
    dev.launch("notes")
    dev.tap(*_center(dev.ui_tree(), resource_id="new_note"))
    assert home_simulator.phone.state.screen == "editor"
    assert dev.current_app().activity == "com.android.notes.NoteEditorActivity"
    dev.back()  # as on a phone, the first Back only hides the keyboard
    assert home_simulator.phone.state.focused_field is None
    dev.back()
    assert home_simulator.phone.state.screen != "editor"
    dev.home()
    assert home_simulator.phone.state.foreground == "com.android.launcher3"


@pytest.mark.parametrize(
    "content",
    ["Hello, world! 123", "你好，世界", "emoji 👍🏽🎉 👨‍👩‍👧 🇨🇳", HOSTILE],
    ids=["ascii", "chinese", "emoji", "hostile"],
)
def test_sim_type_text_with_adb_keyboard(home_simulator: Simulator, content: str) -> None:
    sim = home_simulator
    with AdbDevice(sim.serial, text_input="auto", ime_settle_s=0) as d:
        assert d.text_input_strategy == "adbkeyboard"
        _open_new_note(d, sim)
        d.type_text(content)
        assert sim.phone.state.focused_text == content
        assert sim.phone.state.ime == LATIN_IME  # ADB Keyboard is on only while typing
        d.clear_text()
        assert sim.phone.state.focused_text == ""
        d.type_text(content)
        assert sim.phone.state.ime == LATIN_IME
        d.type_text(content)
        assert sim.phone.state.focused_text == content * 2
        assert sim.phone.state.ime == LATIN_IME
    # three Types (the clear + type pair is one switch): enable once, then a set and a set back each
    ime = _ran(sim, "ime")
    assert [a[1] for a in ime] == ["enable", "set", "set", "set", "set", "set", "set"]
    assert not [a for a in _ran(sim, "rm") if any("sdcard" in x for x in a)]
    assert not _ran(sim, "echo")


def test_sim_long_text_is_chunked(home_simulator: Simulator) -> None:
    sim = home_simulator
    content = ("长文本 long text 👍 " * 150).strip()
    with AdbDevice(sim.serial) as d:
        _open_new_note(d, sim)
        d.type_text(content)
        assert sim.phone.state.focused_text == content
    assert len([a for a in _ran(sim, "am") if "ADB_INPUT_B64" in a]) > 1


def test_sim_type_text_with_input_text(home_simulator: Simulator) -> None:
    sim = home_simulator
    with AdbDevice(sim.serial, text_input="input") as d:
        assert d.text_input_strategy == "input"
        _open_new_note(d, sim)
        for content in ("plain ASCII, 100% sure: 50%sale", HOSTILE, 'q"uo`te$s\\ & | > < * ? ~ #'):
            d.clear_text()
            d.type_text(content)
            assert sim.phone.state.focused_text == content
        with pytest.raises(TextInputError, match="ADB Keyboard"):
            d.type_text("你好")
        d.clear_text()
        assert sim.phone.state.focused_text == ""
    assert sim.phone.state.ime == LATIN_IME  # never switched
    assert not _ran(sim, "ime")
    assert not [a for a in _ran(sim, "rm") if any("sdcard" in x for x in a)]
    assert not _ran(sim, "echo")


def test_sim_gestures_reach_the_phone_as_input_commands(dev: AdbDevice, home_simulator: Simulator) -> None:
    dev.swipe(360, 1200, 360, 400, 250)
    dev.long_press(100, 700, 900)
    dev.double_tap(10, 20)
    assert ["input", "swipe", "360", "1200", "360", "400", "250"] in _ran(home_simulator, "input")
    assert ["input", "swipe", "100", "700", "100", "700", "900"] in _ran(home_simulator, "input")
    recs = [r for r in home_simulator.command_log if r.command.startswith("input tap 10 20")]
    assert (
        len(recs) == 1 and [a for a in recs[0].argv if a[0] == "input"] == [["input", "tap", "10", "20"]] * 2
    )


def test_sim_secure_screen_is_flagged(dev: AdbDevice, home_simulator: Simulator) -> None:
    assert not dev.screenshot().secure
    dev.launch("Wallet")
    shot = dev.screenshot()
    assert shot.secure
    assert shot.size == (home_simulator.phone.width, home_simulator.phone.height)


def test_sim_installed_packages(dev: AdbDevice) -> None:
    assert isinstance(dev, Device)
    pkgs = dev.installed_packages()
    assert "com.android.settings" in pkgs and "com.android.adbkeyboard" in pkgs
    assert pkgs == sorted(pkgs)


def test_sim_two_devices_in_one_process(simulator: Simulator, fresh_simulator: Simulator) -> None:
    simulator.reset()
    a_sim, b_sim = simulator, fresh_simulator
    with AdbDevice(a_sim.serial) as a, AdbDevice(b_sim.serial) as b:
        a.launch("settings")
        b.launch("calculator")
        assert a_sim.phone.state.foreground == "com.android.settings"
        assert b_sim.phone.state.foreground == "com.android.calculator2"
        assert (a.current_app().package, b.current_app().package) == (
            "com.android.settings",
            "com.android.calculator2",
        )
        _open_new_note(a, a_sim)
        a.type_text("只在 A")
        assert a_sim.phone.state.focused_text == "只在 A"
        assert b_sim.phone.state.focused_text is None
        b.home()
        assert a_sim.phone.state.foreground == "com.android.notes"


def test_sim_multiple_devices_need_a_serial(
    simulator: Simulator, fresh_simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    with pytest.raises(MultipleDevicesError, match="--device SERIAL") as exc:
        AdbDevice()
    assert simulator.serial in str(exc.value) and fresh_simulator.serial in str(exc.value)
    serials = {d.serial: d for d in list_devices()}
    assert serials[fresh_simulator.serial].state == "device"
    assert serials[fresh_simulator.serial].model


def test_sim_stopped_mid_use_fails_fast(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    d = AdbDevice(sim.serial, timeout=3)
    d.screenshot()
    sim.stop(disconnect=False)  # the adb server keeps the entry, which goes offline
    t0 = time.monotonic()
    with pytest.raises((DeviceOfflineError, DeviceTimeoutError)) as exc:
        d.screenshot()
    assert time.monotonic() - t0 < 3 + 2
    assert isinstance(exc.value, AutoGLMError)
    with pytest.raises((DeviceOfflineError, DeviceTimeoutError)):
        d.tap(1, 1)
    d.close()  # nothing to restore, never raises
    with pytest.raises(DeviceOfflineError, match="is offline"):
        AdbDevice(sim.serial, timeout=3)


def test_sim_dropped_during_a_call(fresh_simulator: Simulator) -> None:
    """The phone vanishes while a command runs: an error within the timeout, not a hang."""
    sim = fresh_simulator
    d = AdbDevice(sim.serial, timeout=4)
    threading.Timer(0.5, lambda: sim.stop(disconnect=False)).start()
    t0 = time.monotonic()
    with pytest.raises((DeviceOfflineError, DeviceTimeoutError)):
        d.shell("sleep", "3")
    assert time.monotonic() - t0 < 4 + 2


def test_sim_call_timeout(dev: AdbDevice) -> None:
    """A command that does not answer within the timeout raises DeviceTimeoutError in time."""
    dev.timeout = 1.0
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match=r"did not answer `sleep 3` within 1s"):
        dev.shell("sleep", "3")
    assert time.monotonic() - t0 < 2.5
    dev.timeout = 10.0
    assert dev.shell("echo", "ok").stdout == b"ok\n"


def test_sim_connect_and_disconnect(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    assert connect(sim.serial) == sim.serial  # "already connected"
    disconnect(sim.serial)
    assert sim.serial not in {d.serial for d in list_devices()}
    with pytest.raises(NoDeviceError, match="not found"):
        AdbDevice(sim.serial)
    assert connect(sim.serial) == sim.serial
    with AdbDevice(sim.serial) as d:
        assert d.current_app().package == "com.android.launcher3"
    # another spelling of the same endpoint: the serial the adb server lists comes back
    other = connect(f"localhost:{sim.port}")
    assert other in (sim.serial, f"localhost:{sim.port}")
    if other != sim.serial:
        disconnect(other)


def test_sim_shell_v1_path(home_simulator: Simulator) -> None:
    """Devices without shell v2 (Android < 7) use `shell:` and `exec:` (binary-safe screencap)."""
    sim = home_simulator
    with AdbDevice(sim.serial) as d:
        d._shell_v2 = False  # as if the device had not announced the shell_v2 feature
        assert d.screenshot().size == (sim.phone.width, sim.phone.height)
        assert d.launch("设置") == "com.android.settings"
        assert d.current_app().package == "com.android.settings"
        assert "<hierarchy" in d.ui_tree()
    services = {r.command.split()[0]: r.service for r in sim.command_log}
    assert services["screencap"] == "exec"
    assert services["am"] == "shell"
