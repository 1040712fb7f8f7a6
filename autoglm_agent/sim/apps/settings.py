"""Settings: a scrolling list of categories, sub-pages with master switches, sliders and dialogs.

Also owns the ``settings get/put`` store: well-known keys (``global wifi_on``, ``system
screen_brightness``, ``secure default_input_method``...) read and write the typed fields of
``PhoneState``; any other key is kept as a string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx, app_bar, list_item, screen, section
from autoglm_agent.sim.phone import ADB_IME, LATIN_IME, PhoneState
from autoglm_agent.sim.ui import Node, button, col, divider, row, slider, spacer, switch, text

PKG = "com.android.settings"
SUB = "com.android.settings.SubSettings"

MODEL = "SimPhone 7"
ANDROID_VERSION = "14"
BUILD = "UQ1A.240205.004"

WIFI_NETWORKS: tuple[tuple[str, bool], ...] = (
    ("SimNet", False),
    ("Home-5G", True),
    ("CoffeeShop Free", False),
    ("Office", True),
)
BT_DEVICES: tuple[str, ...] = ("Buds Pro", "Car Kit", "Speaker Mini")

DEFAULTS: dict[str, dict[str, str]] = {
    "system": {
        "font_scale": "1.0",
        "screen_off_timeout": "30000",
        "accelerometer_rotation": "0",
        "user_rotation": "0",
    },
    "secure": {"show_ime_with_hard_keyboard": "0", "android_id": "5a1e7c0de5a1e7c0"},
    "global": {
        "adb_enabled": "1",
        "development_settings_enabled": "0",
        "stay_on_while_plugged_in": "0",
        "device_name": MODEL,
        "auto_time": "1",
    },
}


def _b(v: bool) -> str:
    return "1" if v else "0"


def _int(value: str, lo: int, hi: int) -> int | None:
    try:
        return max(lo, min(hi, int(float(value))))
    except ValueError:
        return None


#: (namespace, key) -> (getter, setter) over the typed state
_SYNCED: dict[tuple[str, str], tuple[Callable[[PhoneState], str], Callable[[PhoneState, str], None]]] = {}


def _synced(
    ns: str, key: str
) -> Callable[[Callable[[PhoneState, str], None]], Callable[[PhoneState, str], None]]:
    def deco(setter: Callable[[PhoneState, str], None]) -> Callable[[PhoneState, str], None]:
        _SYNCED[(ns, key)] = (_GETTERS[(ns, key)], setter)
        return setter

    return deco


_GETTERS: dict[tuple[str, str], Callable[[PhoneState], str]] = {
    ("global", "airplane_mode_on"): lambda st: _b(st.airplane),
    ("global", "wifi_on"): lambda st: _b(st.wifi),
    ("global", "bluetooth_on"): lambda st: _b(st.bluetooth),
    ("global", "zen_mode"): lambda st: _b(st.do_not_disturb),
    ("global", "low_power"): lambda st: _b(st.battery_saver),
    ("system", "screen_brightness"): lambda st: str(st.brightness),
    ("system", "screen_brightness_mode"): lambda st: _b(st.auto_brightness),
    ("system", "volume_music"): lambda st: str(st.media_volume),
    ("secure", "ui_night_mode"): lambda st: "2" if st.dark_theme else "1",
    ("secure", "location_mode"): lambda st: "3" if st.location else "0",
    ("secure", "default_input_method"): lambda st: st.ime,
    ("secure", "enabled_input_methods"): lambda st: ":".join(st.enabled_imes),
}


def set_airplane(st: PhoneState, on: bool) -> None:
    """Airplane mode turns the radios off; turning it off brings back what was on before."""
    if on == st.airplane:
        return
    saved = st.settings.setdefault("global", {})
    if on:
        saved["sim_radios_before_airplane"] = f"{_b(st.wifi)}{_b(st.bluetooth)}"
        st.wifi = st.bluetooth = False
    else:
        before = saved.pop("sim_radios_before_airplane", "10")
        st.wifi, st.bluetooth = before[:1] == "1", before[1:2] == "1"
    st.airplane = on


@_synced("global", "airplane_mode_on")
def _set_airplane(st: PhoneState, v: str) -> None:
    set_airplane(st, v.strip() not in ("0", ""))


@_synced("global", "wifi_on")
def _set_wifi(st: PhoneState, v: str) -> None:
    st.wifi = v.strip() not in ("0", "")


@_synced("global", "bluetooth_on")
def _set_bt(st: PhoneState, v: str) -> None:
    st.bluetooth = v.strip() not in ("0", "")


@_synced("global", "zen_mode")
def _set_zen(st: PhoneState, v: str) -> None:
    st.do_not_disturb = v.strip() not in ("0", "")


@_synced("global", "low_power")
def _set_low_power(st: PhoneState, v: str) -> None:
    st.battery_saver = v.strip() not in ("0", "")


@_synced("system", "screen_brightness")
def _set_brightness(st: PhoneState, v: str) -> None:
    n = _int(v, 0, 255)
    if n is not None:
        st.brightness = n


@_synced("system", "screen_brightness_mode")
def _set_brightness_mode(st: PhoneState, v: str) -> None:
    st.auto_brightness = v.strip() == "1"


@_synced("system", "volume_music")
def _set_volume(st: PhoneState, v: str) -> None:
    n = _int(v, 0, 15)
    if n is not None:
        st.media_volume = n


@_synced("secure", "ui_night_mode")
def _set_night(st: PhoneState, v: str) -> None:
    st.dark_theme = v.strip() == "2"


@_synced("secure", "location_mode")
def _set_location(st: PhoneState, v: str) -> None:
    st.location = v.strip() not in ("0", "")


@_synced("secure", "default_input_method")
def _set_ime(st: PhoneState, v: str) -> None:
    st.ime = v.strip()


@_synced("secure", "enabled_input_methods")
def _set_enabled_imes(st: PhoneState, v: str) -> None:
    st.enabled_imes = [x for x in v.strip().split(":") if x]


def read_setting(st: PhoneState, namespace: str, key: str) -> str | None:
    pair = _SYNCED.get((namespace, key))
    if pair is not None:
        return pair[0](st)
    value = st.settings.get(namespace, {}).get(key)
    if value is None:
        value = DEFAULTS.get(namespace, {}).get(key)
    return value


def write_setting(st: PhoneState, namespace: str, key: str, value: str) -> None:
    pair = _SYNCED.get((namespace, key))
    if pair is not None:
        pair[1](st, value)
    else:
        st.settings.setdefault(namespace, {})[key] = value


def list_settings(st: PhoneState, namespace: str) -> dict[str, str]:
    out = dict(DEFAULTS.get(namespace, {}))
    out.update({k: g(st) for (ns, k), (g, _) in _SYNCED.items() if ns == namespace})
    out.update({k: v for k, v in st.settings.get(namespace, {}).items() if not k.startswith("sim_")})
    return dict(sorted(out.items()))


def reset_settings(st: PhoneState) -> None:
    fresh = PhoneState()
    for name in (
        "wifi",
        "wifi_network",
        "bluetooth",
        "airplane",
        "brightness",
        "auto_brightness",
        "dark_theme",
        "media_volume",
        "do_not_disturb",
        "location",
        "battery_saver",
    ):
        setattr(st, name, getattr(fresh, name))
    st.settings.pop("system", None)
    st.settings.get("global", {}).pop("sim_radios_before_airplane", None)


# --------------------------------------------------------------------------------------------- UI


def _main_switch(ctx: Ctx, label: str, on: bool, toggle: Callable[[], None]) -> Node:
    """The Android 12+ "main switch bar" at the top of a sub-page."""
    return col(
        row(
            text(label, 18, weight=1, id="switch_text", fg="on_tonal" if on else "text"),
            switch(on, toggle),
            h=72,
            pad=(24, 0, 20, 0),
            radius=28,
            bg="tonal" if on else "card",
            on_tap=toggle,
            checkable=True,
            checked=on,
            id="main_switch_bar",
        ),
        pad=(16, 8, 16, 8),
        a11y=False,
    )


def _toggle_row(title: str, summary: str, on: bool, toggle: Callable[[], None], icon: str = "") -> Node:
    return list_item(title, summary, icon=icon, on_tap=toggle, trailing=switch(on, toggle), ids="android:id/")


class Settings(App):
    package = PKG
    activity = "com.android.settings.Settings"
    label = "Settings"
    label_zh = "设置"
    pages: ClassVar[dict[str, str]] = {}
    aliases: ClassVar[dict[str, str]] = {
        "com.android.settings.Settings$WifiSettingsActivity": "wifi",
        "com.android.settings.Settings$NetworkDashboardActivity": "main",
        "com.android.settings.Settings$BluetoothSettingsActivity": "bluetooth",
        "com.android.settings.Settings$DisplaySettingsActivity": "display",
        "com.android.settings.Settings$SoundSettingsActivity": "sound",
        "com.android.settings.Settings$MyDeviceInfoActivity": "about",
        "com.android.settings.Settings$LocationSettingsActivity": "location",
        "com.android.settings.Settings$ManageApplicationsActivity": "apps",
        "com.android.settings.Settings$PowerUsageSummaryActivity": "battery",
        "com.android.settings.Settings$SystemDashboardActivity": "system",
    }

    def page_activity(self, name: str) -> str:
        return self.activity if name == "main" else SUB

    # ---- main list

    def page_main(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def toggle_wifi() -> None:
            st.wifi = not st.wifi

        def toggle_bt() -> None:
            st.bluetooth = not st.bluetooth

        def toggle_airplane() -> None:
            set_airplane(st, not st.airplane)

        wifi_sum = (
            (
                s(f"Connected to {st.wifi_network}", f"已连接到 {st.wifi_network}")
                if st.wifi_network
                else s("On", "已开启")
            )
            if st.wifi
            else s("Off", "已关闭")
        )
        bt_sum = s("On", "已开启") if st.bluetooth else s("Off", "已关闭")
        if st.bluetooth and st.bluetooth_paired:
            bt_sum = s(f"Connected to {st.bluetooth_paired[0]}", f"已连接到 {st.bluetooth_paired[0]}")
        search = row(
            text(s("Search settings", "搜索设置"), 16, fg="text2", weight=1),
            h=52,
            radius=26,
            bg="card",
            pad=(20, 0, 20, 0),
            id="search_action_bar",
        )
        rows: list[Node | None] = [
            col(search, pad=(16, 4, 16, 12), a11y=False),
            list_item(
                s("Wi-Fi", "WLAN"),
                wifi_sum,
                icon="wifi",
                on_tap=ctx.go("wifi"),
                trailing=switch(st.wifi, toggle_wifi),
                ids="android:id/",
            ),
            list_item(
                s("Bluetooth", "蓝牙"),
                bt_sum,
                icon="bluetooth",
                on_tap=ctx.go("bluetooth"),
                trailing=switch(st.bluetooth, toggle_bt),
                ids="android:id/",
            ),
            _toggle_row(
                s("Airplane mode", "飞行模式"),
                s("On", "已开启") if st.airplane else s("Off", "已关闭"),
                st.airplane,
                toggle_airplane,
                "airplane",
            ),
            list_item(
                s("Mobile network", "移动网络"),
                s("Airplane mode is on", "飞行模式已开启") if st.airplane else "SimCell",
                icon="signal",
                on_tap=ctx.go("mobile"),
                ids="android:id/",
            ),
            list_item(
                s("Apps", "应用"),
                s("Recent apps, default apps", "最近使用的应用、默认应用"),
                icon="apps",
                on_tap=ctx.go("apps"),
                ids="android:id/",
            ),
            list_item(
                s("Notifications", "通知"),
                s("Notification history, conversations", "通知历史记录、对话"),
                icon="bell",
                on_tap=ctx.go("notifications"),
                ids="android:id/",
            ),
            list_item(
                s("Battery", "电池"),
                f"{st.battery}%"
                + (s(" - Battery Saver on", " - 省电模式已开启") if st.battery_saver else ""),
                icon="battery",
                on_tap=ctx.go("battery"),
                ids="android:id/",
            ),
            list_item(
                s("Storage", "存储"),
                s("38% used - 79.4 GB free", "已使用 38% - 还剩 79.4 GB"),
                icon="storage",
                on_tap=ctx.go("storage"),
                ids="android:id/",
            ),
            list_item(
                s("Sound & vibration", "声音和振动"),
                s("Volume, haptics, Do Not Disturb", "音量、触感反馈、勿扰"),
                icon="volume",
                on_tap=ctx.go("sound"),
                ids="android:id/",
            ),
            list_item(
                s("Display", "显示"),
                s("Dark theme, font size, brightness", "深色主题、字体大小、亮度"),
                icon="sun",
                on_tap=ctx.go("display"),
                ids="android:id/",
            ),
            list_item(
                s("Location", "位置信息"),
                (
                    s("On - 3 apps have access", "已开启 - 3 个应用有权访问")
                    if st.location
                    else s("Off", "已关闭")
                ),
                icon="location",
                on_tap=ctx.go("location"),
                ids="android:id/",
            ),
            list_item(
                s("Security & privacy", "安全和隐私"),
                s("App security, device lock, permissions", "应用安全、设备锁定、权限"),
                icon="shield",
                on_tap=ctx.go("security"),
                ids="android:id/",
            ),
            list_item(
                s("System", "系统"),
                s("Languages, keyboard, time, reset", "语言、键盘、时间、重置"),
                icon="info",
                on_tap=ctx.go("system"),
                ids="android:id/",
            ),
            list_item(
                s("About phone", "关于手机"),
                MODEL,
                icon="phone_android",
                on_tap=ctx.go("about"),
                ids="android:id/",
            ),
            spacer(h=16),
        ]
        return screen(
            app_bar(ctx, s("Settings", "设置"), back=False),
            ctx.scroll("list", *rows, id="recycler_view"),
        )

    # ---- sub pages

    def _sub(self, ctx: Ctx, title: str, *rows: Node | None) -> Node:
        return screen(app_bar(ctx, title), ctx.scroll("list", *rows, spacer(h=16), id="recycler_view"))

    def page_wifi(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def toggle() -> None:
            st.wifi = not st.wifi

        rows: list[Node | None] = [_main_switch(ctx, s("Use Wi-Fi", "使用 WLAN"), st.wifi, toggle)]
        if st.wifi:
            nets = sorted(WIFI_NETWORKS, key=lambda n: n[0] != st.wifi_network)
            for name, secured in nets:
                connected = name == st.wifi_network
                if connected:
                    summary = s("Connected", "已连接")
                elif secured:
                    summary = s("Secured", "加密")
                else:
                    summary = s("Open", "开放")

                def connect(n: str = name, sec: bool = secured) -> None:
                    if n == st.wifi_network:
                        return
                    if sec:
                        ctx.phone.push("wifi_password", focus="password", network=n)
                    else:
                        st.wifi_network = n
                        ctx.toast(s(f"Connected to {n}", f"已连接到 {n}"))

                rows.append(
                    list_item(
                        name,
                        summary,
                        icon="wifi",
                        icon_fg="primary" if connected else "text2",
                        on_tap=connect,
                        ids="android:id/",
                    )
                )
        else:
            rows.append(
                text(
                    s("To see available networks, turn Wi-Fi on.", "要查看可用网络，请开启 WLAN。"),
                    14,
                    fg="text2",
                    lines=3,
                    pad=(24, 16, 24, 16),
                )
            )
        return self._sub(ctx, s("Wi-Fi", "WLAN"), *rows)

    def page_wifi_password(self, ctx: Ctx) -> Node:
        s = ctx.s
        network = str(ctx.page.args.get("network", ""))
        pw = ctx.value("password")

        def join() -> None:
            if len(pw) < 8:
                ctx.toast(s("Password must be at least 8 characters", "密码至少需要 8 个字符"))
                return
            ctx.st.wifi_network = network
            ctx.pop()
            ctx.toast(s(f"Connected to {network}", f"已连接到 {network}"))

        return self._sub(
            ctx,
            network,
            text(s("Password", "密码"), 14, fg="text2", pad=(24, 16, 24, 0)),
            col(ctx.field("password", s("Enter password", "输入密码"), password=True), pad=(20, 0, 20, 0)),
            row(
                spacer(weight=1),
                button(s("Cancel", "取消"), ctx.pop, "text"),
                button(s("Connect", "连接"), join, "filled", id="connect", enabled=len(pw) > 0),
                h=72,
                pad=(16, 16, 16, 0),
                gap=8,
            ),
        )

    def on_enter(self, ctx: Ctx) -> bool:
        if ctx.page.name == "wifi_password":
            node = ctx.phone.tree().by_id("connect")
            if node is not None and node.on_tap is not None:
                node.on_tap()
            return True
        return False

    def page_bluetooth(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def toggle() -> None:
            st.bluetooth = not st.bluetooth

        rows: list[Node | None] = [_main_switch(ctx, s("Use Bluetooth", "使用蓝牙"), st.bluetooth, toggle)]
        if st.bluetooth:
            rows.append(
                list_item(
                    s("Pair new device", "与新设备配对"),
                    icon="plus",
                    on_tap=ctx.go("bt_pair"),
                    ids="android:id/",
                )
            )
            if st.bluetooth_paired:
                rows.append(section(s("Saved devices", "已保存的设备")))
                for dev in st.bluetooth_paired:
                    rows.append(
                        list_item(
                            dev,
                            s("Connected", "已连接")
                            if dev == st.bluetooth_paired[0]
                            else s("Saved", "已保存"),
                            icon="bluetooth",
                            on_tap=ctx.dialog(
                                "forget_device",
                                s(f"Forget {dev}?", f"要取消保存“{dev}”吗？"),
                                confirm=s("Forget", "取消保存"),
                                device=dev,
                            ),
                            ids="android:id/",
                        )
                    )
        rows.append(
            text(s(f"Device name: {MODEL}", f"设备名称：{MODEL}"), 14, fg="text2", pad=(24, 16, 24, 8))
        )
        return self._sub(ctx, s("Bluetooth", "蓝牙"), *rows)

    def confirm_forget_device(self, ctx: Ctx, device: str = "") -> None:
        if device in ctx.st.bluetooth_paired:
            ctx.st.bluetooth_paired.remove(device)

    def page_bt_pair(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s
        rows: list[Node | None] = [section(s("Available devices", "可用的设备"))]
        for dev in BT_DEVICES:
            if dev in st.bluetooth_paired:
                continue

            def pair(d: str = dev) -> None:
                st.bluetooth_paired.insert(0, d)
                ctx.pop()
                ctx.toast(s(f"Paired with {d}", f"已与 {d} 配对"))

            rows.append(
                list_item(dev, icon="bluetooth", on_tap=pair if st.bluetooth else None, ids="android:id/")
            )
        return self._sub(ctx, s("Pair new device", "与新设备配对"), *rows)

    def page_mobile(self, ctx: Ctx) -> Node:
        s = ctx.s
        return self._sub(
            ctx,
            s("Mobile network", "移动网络"),
            list_item(s("Carrier", "运营商"), "SimCell", ids="android:id/"),
            list_item(s("Phone number", "电话号码"), "+1 555-0100", ids="android:id/"),
            list_item(s("Roaming", "漫游"), s("Off", "已关闭"), ids="android:id/"),
        )

    def page_apps(self, ctx: Ctx) -> Node:
        s = ctx.s
        apps = sorted((a for a in ctx.phone.apps.values() if a.launcher), key=lambda a: a.label.lower())
        rows = [
            list_item(
                a.label_zh if ctx.zh else a.label,
                a.package,
                lead=Node(kind="appicon", glyph=a.package, w=40, h=40, a11y=False),
                on_tap=ctx.go("app_info", app=a.package),
                ids="android:id/",
            )
            for a in apps
        ]
        return self._sub(ctx, s("Apps", "应用"), section(s("All apps", "所有应用")), *rows)

    def page_app_info(self, ctx: Ctx) -> Node:
        s = ctx.s
        pkg = str(ctx.page.args.get("app", ""))
        app = ctx.phone.apps.get(pkg)
        if app is None:
            return self._sub(ctx, s("App info", "应用信息"))
        running = pkg in ctx.st.tasks

        def force_stop() -> None:
            ctx.st.tasks.pop(pkg, None)
            if pkg in ctx.st.recents:
                ctx.st.recents.remove(pkg)

        return self._sub(
            ctx,
            s("App info", "应用信息"),
            col(
                Node(kind="appicon", glyph=pkg, w=72, h=72, a11y=False),
                text(app.label_zh if ctx.zh else app.label, 24, align="center", id="entity_header_title"),
                text(pkg, 14, fg="text2", align="center", id="entity_header_summary"),
                align="center",
                pad=(16, 16, 16, 16),
                gap=8,
            ),
            row(
                button(s("Open", "打开"), lambda: ctx.phone.launch(pkg), "tonal", weight=1, id="button1"),
                button(
                    s("Force stop", "强行停止"),
                    ctx.dialog(
                        "force_stop",
                        s("Force stop?", "要强行停止吗？"),
                        s(
                            "If you force stop an app, it may misbehave.",
                            "强行停止某个应用可能会导致其出现异常。",
                        ),
                        app=pkg,
                    ),
                    "tonal",
                    weight=1,
                    id="button2",
                    enabled=running,
                ),
                h=64,
                gap=12,
                pad=(16, 8, 16, 8),
            ),
            list_item(s("Version", "版本"), ANDROID_VERSION + ".0", ids="android:id/"),
        )

    def confirm_force_stop(self, ctx: Ctx, app: str = "") -> None:
        ctx.st.tasks.pop(app, None)
        if app in ctx.st.recents:
            ctx.st.recents.remove(app)

    def page_notifications(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def dnd() -> None:
            st.do_not_disturb = not st.do_not_disturb

        return self._sub(
            ctx,
            s("Notifications", "通知"),
            list_item(
                s("App notifications", "应用通知"),
                s("On for all apps", "所有应用均已开启"),
                ids="android:id/",
            ),
            list_item(s("Notification history", "通知历史记录"), ids="android:id/"),
            _toggle_row(
                s("Do Not Disturb", "勿扰"),
                s("Only important notifications", "仅限重要通知")
                if st.do_not_disturb
                else s("Off", "已关闭"),
                st.do_not_disturb,
                dnd,
            ),
        )

    def page_battery(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def saver() -> None:
            st.battery_saver = not st.battery_saver

        return self._sub(
            ctx,
            s("Battery", "电池"),
            col(
                text(f"{st.battery}%", 44, id="battery_level"),
                text(s("About 1 day, 4 hr left", "大约还可使用 1 天 4 小时"), 14, fg="text2"),
                pad=(24, 16, 24, 16),
            ),
            _toggle_row(
                s("Battery Saver", "省电模式"),
                s("Extends battery life", "延长电池续航时间"),
                st.battery_saver,
                saver,
            ),
            list_item(
                s("Battery percentage", "电池电量百分比"),
                s("Show in status bar", "在状态栏中显示"),
                ids="android:id/",
            ),
        )

    def page_storage(self, ctx: Ctx) -> Node:
        s = ctx.s
        items = [
            (s("Apps", "应用"), "12.1 GB"),
            (s("Images", "图片"), "5.3 GB"),
            (s("Videos", "视频"), "8.0 GB"),
            (s("Audio", "音频"), "1.2 GB"),
            (s("Documents & other", "文档和其他"), "2.9 GB"),
            (s("System", "系统"), "18.5 GB"),
        ]
        return self._sub(
            ctx,
            s("Storage", "存储"),
            col(
                text("48.6 GB", 36),
                text(s("used of 128 GB", "已使用，共 128 GB"), 14, fg="text2"),
                pad=(24, 16, 24, 16),
            ),
            *(list_item(a, b, ids="android:id/") for a, b in items),
        )

    def page_sound(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def volume(fx: float, _fy: float) -> None:
            st.media_volume = round(fx * 15)

        def dnd() -> None:
            st.do_not_disturb = not st.do_not_disturb

        return self._sub(
            ctx,
            s("Sound & vibration", "声音和振动"),
            text(s("Media volume", "媒体音量"), 16, pad=(16, 16, 16, 0)),
            slider(
                st.media_volume / 15,
                volume,
                id="seekbar",
                desc=s("Media volume", "媒体音量"),
                pad=(24, 0, 24, 0),
            ),
            _toggle_row(
                s("Do Not Disturb", "勿扰"),
                s("On", "已开启") if st.do_not_disturb else s("Off", "已关闭"),
                st.do_not_disturb,
                dnd,
            ),
            list_item(s("Phone ringtone", "手机铃声"), "Ripples", ids="android:id/"),
        )

    def page_display(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def brightness(fx: float, _fy: float) -> None:
            st.brightness = round(fx * 255)

        def adaptive() -> None:
            st.auto_brightness = not st.auto_brightness

        def dark() -> None:
            st.dark_theme = not st.dark_theme

        return self._sub(
            ctx,
            s("Display", "显示"),
            section(s("Brightness", "亮度")),
            text(s("Brightness level", "亮度"), 16, pad=(16, 8, 16, 0)),
            text(
                f"{round(st.brightness * 100 / 255)}%",
                14,
                fg="text2",
                pad=(16, 0, 16, 0),
                id="brightness_percent",
            ),
            slider(
                st.brightness / 255,
                brightness,
                id="brightness_slider",
                desc=s("Brightness level", "亮度"),
                pad=(24, 0, 24, 0),
            ),
            _toggle_row(
                s("Adaptive brightness", "自动调节亮度"),
                s("Adjust to the light around you", "根据环境光线调节"),
                st.auto_brightness,
                adaptive,
            ),
            divider(),
            section(s("Appearance", "外观")),
            _toggle_row(
                s("Dark theme", "深色主题"),
                s("Will never turn on automatically", "一律不自动开启"),
                st.dark_theme,
                dark,
            ),
            list_item(s("Font size", "字体大小"), s("Default", "默认"), ids="android:id/"),
            list_item(
                s("Screen timeout", "屏幕超时"),
                s("After 30 seconds of inactivity", "无操作 30 秒后"),
                ids="android:id/",
            ),
        )

    def page_location(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def toggle() -> None:
            st.location = not st.location

        return self._sub(
            ctx,
            s("Location", "位置信息"),
            _main_switch(ctx, s("Use location", "使用位置信息"), st.location, toggle),
            list_item(
                s("App location permissions", "应用位置权限"),
                s("3 of 12 apps have access", "12 个应用中有 3 个有权访问"),
                ids="android:id/",
            ),
        )

    def page_security(self, ctx: Ctx) -> Node:
        s = ctx.s
        return self._sub(
            ctx,
            s("Security & privacy", "安全和隐私"),
            list_item(s("Screen lock", "屏幕锁定"), s("None", "无"), icon="lock", ids="android:id/"),
            list_item(
                s("Find My Device", "查找我的设备"), s("On", "已开启"), icon="location", ids="android:id/"
            ),
            list_item(s("Security update", "安全更新"), "2024-02-05", icon="shield", ids="android:id/"),
            list_item(s("Permission manager", "权限管理器"), icon="apps", ids="android:id/"),
        )

    def page_system(self, ctx: Ctx) -> Node:
        s = ctx.s
        return self._sub(
            ctx,
            s("System", "系统"),
            list_item(
                s("Languages", "语言"),
                "中文（简体）" if ctx.zh else "English (United States)",
                icon="globe",
                ids="android:id/",
            ),
            list_item(
                s("Keyboard", "键盘"),
                s("On-screen keyboard, tools", "屏幕键盘、工具"),
                icon="keyboard",
                on_tap=ctx.go("keyboard"),
                ids="android:id/",
            ),
            list_item(s("Date & time", "日期和时间"), "GMT+08:00", icon="clock", ids="android:id/"),
            list_item(
                s("Reset options", "重置选项"), icon="refresh", on_tap=ctx.go("reset"), ids="android:id/"
            ),
        )

    def page_keyboard(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s
        names = {LATIN_IME: "Android Keyboard (AOSP)", ADB_IME: "ADB Keyboard"}
        rows: list[Node | None] = [section(s("On-screen keyboards", "屏幕键盘"))]
        for ime in ctx.phone.imes():
            enabled = ime in st.enabled_imes

            def toggle(i: str = ime) -> None:
                if i in st.enabled_imes:
                    if st.ime != i:
                        st.enabled_imes.remove(i)
                else:
                    st.enabled_imes.append(i)

            def make_default(i: str = ime) -> None:
                if i in st.enabled_imes:
                    st.ime = i

            summary = (
                s("Default", "默认")
                if st.ime == ime
                else (s("Enabled", "已启用") if enabled else s("Disabled", "已停用"))
            )
            rows.append(
                list_item(
                    names.get(ime, ime),
                    summary,
                    icon="keyboard",
                    on_tap=make_default,
                    trailing=switch(enabled, toggle),
                    ids="android:id/",
                )
            )
        return self._sub(ctx, s("Keyboard", "键盘"), *rows)

    def page_reset(self, ctx: Ctx) -> Node:
        s = ctx.s
        return self._sub(
            ctx,
            s("Reset options", "重置选项"),
            list_item(
                s("Reset Wi-Fi, mobile & Bluetooth", "重置 WLAN、移动数据网络和蓝牙设置"),
                on_tap=ctx.dialog(
                    "reset_network",
                    s("Reset network settings?", "要重置网络设置吗？"),
                    s(
                        "This will reset all network settings, including Wi-Fi and Bluetooth.",
                        "这将重置所有网络设置，包括 WLAN 和蓝牙。",
                    ),
                    confirm=s("Reset", "重置"),
                ),
                ids="android:id/",
            ),
            list_item(
                s("Reset all settings", "重置所有设置"),
                s("Display, sound, location and more", "显示、声音、位置信息等"),
                on_tap=ctx.dialog(
                    "reset_all",
                    s("Are you sure?", "确定要重置吗？"),
                    s(
                        "All settings will return to their defaults. Your notes, contacts and photos are kept.",
                        "所有设置都将恢复为默认值。您的笔记、联系人和照片会保留。",
                    ),
                    confirm=s("OK", "确定"),
                ),
                ids="android:id/",
            ),
        )

    def confirm_reset_network(self, ctx: Ctx) -> None:
        st = ctx.st
        st.airplane = False
        st.settings.get("global", {}).pop("sim_radios_before_airplane", None)
        st.wifi, st.wifi_network, st.bluetooth = True, "SimNet", False
        st.bluetooth_paired.clear()
        ctx.toast(ctx.s("Network settings have been reset", "网络设置已重置"))

    def confirm_reset_all(self, ctx: Ctx) -> None:
        reset_settings(ctx.st)
        ctx.toast(ctx.s("Settings have been reset", "设置已重置"))

    def page_about(self, ctx: Ctx) -> Node:
        st = ctx.st
        s = ctx.s

        def build_tap() -> None:
            n = int(ctx.page.args.get("build_taps", 0)) + 1
            ctx.page.args["build_taps"] = n
            dev = st.settings.setdefault("global", {})
            if dev.get("development_settings_enabled") == "1":
                ctx.toast(s("No need, you are already a developer.", "您已处于开发者模式，无需进行此操作。"))
            elif n >= 7:
                dev["development_settings_enabled"] = "1"
                ctx.toast(s("You are now a developer!", "您现在处于开发者模式！"))
            elif n >= 3:
                ctx.toast(
                    s(
                        f"You are now {7 - n} steps away from being a developer.",
                        f"您只需再执行 {7 - n} 步操作即可进入开发者模式。",
                    )
                )

        ip = "192.168.1.23" if st.wifi and st.wifi_network else s("Unavailable", "不可用")
        return self._sub(
            ctx,
            s("About phone", "关于手机"),
            col(text(MODEL, 28, align="center", id="device_name"), pad=(16, 24, 16, 16)),
            list_item(s("Device name", "设备名称"), MODEL, ids="android:id/"),
            list_item(s("Phone number", "电话号码"), "+1 555-0100", ids="android:id/"),
            list_item(s("Model", "型号"), MODEL, ids="android:id/"),
            list_item(s("Android version", "Android 版本"), ANDROID_VERSION, ids="android:id/"),
            list_item(s("IP address", "IP 地址"), ip, ids="android:id/"),
            list_item(s("Build number", "版本号"), BUILD, on_tap=build_tap, ids="android:id/"),
        )


__all__ = ["Settings", "list_settings", "read_setting", "reset_settings", "set_airplane", "write_setting"]
