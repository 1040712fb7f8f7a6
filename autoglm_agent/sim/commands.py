"""The Android commands of the simulated phone (``input``, ``am``, ``pm``, ``dumpsys``, ...).

Each handler takes an :class:`~autoglm_agent.sim.shell.ExecContext` and returns an exit status.
Output formats follow what a real Android 14 phone prints closely enough for adb, adbutils and
the AutoGLM reference client to parse them (``mCurrentFocus=Window{...}``, ``Physical size:``,
``UI hierchary dumped to:``, ``package:NAME``, ...). Everything acts on a
:class:`~autoglm_agent.sim.phone.Phone`; nothing here touches the host OS.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from autoglm_agent.sim.shell import CommandLog, ExecContext, Handler, VfsError, VirtualFS

if TYPE_CHECKING:
    from autoglm_agent.sim.phone import Phone, SimApp

__all__ = ["ADB_KEYBOARD_IME", "COMMANDS", "SimDevice", "default_props"]

ADB_KEYBOARD_IME = "com.android.adbkeyboard/.AdbIME"
#: Pixel format codes used by ``screencap`` raw output (android.graphics.PixelFormat).
PIXEL_FORMAT_RGBA_8888 = 1
DATASPACE_SRGB = 1


def default_props(*, serialno: str, width: int, height: int, density: int, locale: str) -> dict[str, str]:
    """The ``getprop`` table of the simulated phone."""
    lang = "zh-CN" if locale.lower().startswith("zh") else "en-US"
    return {
        "ro.product.name": "autoglm_sim",
        "ro.product.model": "AutoGLM Sim Phone",
        "ro.product.device": "autoglm_sim",
        "ro.product.brand": "AutoGLM",
        "ro.product.manufacturer": "AutoGLM",
        "ro.product.board": "sim",
        "ro.product.cpu.abi": "x86_64",
        "ro.product.cpu.abilist": "x86_64,arm64-v8a",
        "ro.product.locale": lang,
        "persist.sys.locale": lang,
        "ro.hardware": "sim",
        "ro.build.version.release": "14",
        "ro.build.version.release_or_codename": "14",
        "ro.build.version.sdk": "34",
        "ro.build.version.security_patch": "2024-06-05",
        "ro.build.version.incremental": "11876543",
        "ro.build.id": "UQ1A.240605.004",
        "ro.build.display.id": "autoglm_sim-user 14 UQ1A.240605.004 11876543 release-keys",
        "ro.build.type": "user",
        "ro.build.tags": "release-keys",
        "ro.build.fingerprint": "AutoGLM/autoglm_sim/autoglm_sim:14/UQ1A.240605.004/11876543:user/release-keys",
        "ro.build.characteristics": "default",
        "ro.serialno": serialno,
        "ro.boot.serialno": serialno,
        "ro.debuggable": "0",
        "ro.secure": "1",
        "ro.adb.secure": "1",
        "service.adb.root": "0",
        "ro.sf.lcd_density": str(density),
        "ro.config.screen_size": f"{width}x{height}",
        "sys.boot_completed": "1",
        "dev.bootcomplete": "1",
        "init.svc.bootanim": "stopped",
        "service.bootanim.exit": "1",
        "persist.sys.timezone": time.strftime("%Z") or "UTC",
        "gsm.sim.state": "READY",
        "gsm.operator.alpha": "AutoGLM Mobile",
        "net.hostname": "autoglm-sim",
        "wifi.interface": "wlan0",
    }


class SimDevice:
    """The Android side of the simulator: the phone plus its filesystem, properties and log.

    One instance is shared by every adb connection and every shell session.
    """

    def __init__(
        self,
        phone: Phone,
        *,
        serialno: str = "AUTOGLMSIM0001",
        vfs: VirtualFS | None = None,
        log: CommandLog | None = None,
    ) -> None:
        self.phone = phone
        self.vfs = vfs or VirtualFS()
        self.log = log or CommandLog()
        self.commands: dict[str, Handler] = dict(COMMANDS)
        self.boot_time = time.time()
        self._lock = threading.Lock()
        self._props = default_props(
            serialno=serialno,
            width=phone.width,
            height=phone.height,
            density=phone.density,
            locale=str(getattr(phone, "locale", "en")),
        )
        self._black_png: bytes | None = None

    def props(self) -> dict[str, str]:
        with self._lock:
            return dict(self._props)

    def getprop(self, key: str) -> str | None:
        with self._lock:
            return self._props.get(key)

    def setprop(self, key: str, value: str) -> bool:
        if key.startswith("ro.") and key in self._props:
            return False
        with self._lock:
            self._props[key] = value
        return True

    def set_serialno(self, serialno: str) -> None:
        with self._lock:
            self._props["ro.serialno"] = serialno
            self._props["ro.boot.serialno"] = serialno

    def now(self) -> float:
        """The phone's clock as a POSIX timestamp."""
        clock = getattr(self.phone, "clock", None)
        if callable(clock):
            value = clock()
            if hasattr(value, "timestamp"):
                return float(value.timestamp())
            if isinstance(value, int | float):
                return float(value)
        return time.time()

    # -- screen --------------------------------------------------------------------------------
    def screencap_png(self) -> bytes:
        """PNG of the screen; all black on FLAG_SECURE screens, as a real phone returns."""
        with self.phone.lock:
            secure = self.phone.is_secure()
            if not secure:
                return self.phone.screencap_png()
        if self._black_png is None:
            from PIL import Image

            buf = io.BytesIO()
            Image.new("RGB", (self.phone.width, self.phone.height), (0, 0, 0)).save(buf, "PNG")
            self._black_png = buf.getvalue()
        return self._black_png

    def framebuffer_rgba(self) -> tuple[int, int, bytes]:
        w, h = self.phone.width, self.phone.height
        with self.phone.lock:
            if not self.phone.is_secure():
                return w, h, self.phone.framebuffer_rgba()
        black = bytearray(w * h * 4)
        black[3::4] = b"\xff" * (w * h)
        return w, h, bytes(black)

    def framebuffer_service_payload(self) -> bytes:
        """What the ``framebuffer:`` service sends: a version-1 header then RGBA pixels."""
        w, h, data = self.framebuffer_rgba()
        # version, bpp, size, width, height, then (offset, length) for red, blue, green, alpha
        header = struct.pack("<13I", 1, 32, len(data), w, h, 0, 8, 16, 8, 8, 8, 24, 8)
        return header + data

    # -- apps ----------------------------------------------------------------------------------
    def apps(self) -> list[SimApp]:
        return list(self.phone.packages())

    def app(self, package: str) -> SimApp | None:
        for a in self.apps():
            if a.package == package:
                return a
        return None


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _hex_id(*parts: str, width: int = 7) -> str:
    return format(zlib.crc32("/".join(parts).encode()) & ((1 << (4 * width)) - 1), f"0{width}x")


def _pid(package: str) -> int:
    return 2000 + zlib.crc32(package.encode()) % 28000


def _uid(package: str) -> int:
    return 10100 + zlib.crc32(package.encode()) % 400


def full_class(package: str, activity: str) -> str:
    return package + activity if activity.startswith(".") else activity


def short_component(package: str, activity: str) -> str:
    cls = full_class(package, activity)
    if cls.startswith(package + "."):
        return f"{package}/{cls[len(package) :]}"
    return f"{package}/{cls}"


def long_component(package: str, activity: str) -> str:
    return f"{package}/{full_class(package, activity)}"


#: Packages a phone ships in /system (the rest are listed by ``pm list packages -3``, like the
#: apps a user installs, ADB Keyboard among them).
_SYSTEM_PACKAGES = frozenset(
    {
        "android",
        "com.android.settings",
        "com.android.launcher3",
        "com.android.systemui",
        "com.android.inputmethod.latin",
        "com.android.shell",
        "com.android.phone",
        "com.android.documentsui",
    }
)


def _is_system(package: str) -> bool:
    return package in _SYSTEM_PACKAGES or package.startswith(
        ("com.android.providers.", "com.google.android.")
    )


def _apk_path(package: str) -> str:
    if _is_system(package):
        name = package.rsplit(".", 1)[-1].capitalize()
        return f"/system/app/{name}/{name}.apk"
    h = base64.urlsafe_b64encode(zlib.crc32(package.encode()).to_bytes(4, "big") * 4).decode()[:22]
    return f"/data/app/~~{h}==/{package}-{h[::-1]}==/base.apk"


def _focus(ctx: ExecContext) -> tuple[str, str]:
    pkg, act = ctx.device.phone.current_focus()
    return pkg, act


def _phone_attr(phone: Any, *names: str, default: Any = None) -> Any:
    """The first of ``phone.X`` / ``phone.state.X`` that exists (optional Phone features)."""
    state = getattr(phone, "state", None)
    for n in names:
        for obj in (phone, state):
            if obj is not None and hasattr(obj, n):
                v = getattr(obj, n)
                return v() if callable(v) else v
    return default


def _rotation(phone: Any) -> int:
    try:
        return int(_phone_attr(phone, "rotation", default=0)) % 4
    except (TypeError, ValueError):
        return 0


def _screen_on(phone: Any) -> bool:
    return bool(_phone_attr(phone, "screen_on", "is_screen_on", default=True))


def _usage_error(ctx: ExecContext, message: str, code: int = 1) -> int:
    ctx.err(message.rstrip("\n") + "\n")
    return code


def _java_exception(ctx: ExecContext, command: str, exc: str, where: str) -> int:
    ctx.err(f"Exception occurred while executing '{command}':\n{exc}\n\tat {where}\n")
    return 255


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------

_INPUT_SOURCES = {
    "keyboard",
    "mouse",
    "joystick",
    "touchnavigation",
    "touchpad",
    "trackball",
    "dpad",
    "stylus",
    "gamepad",
    "touchscreen",
    "rotaryencoder",
}

_INPUT_USAGE = """Usage: input [<source>] [-d DISPLAY_ID] <command> [<arg>...]

The commands and default sources are:
      text <string> (Default: keyboard)
      keyevent [--longpress|--duration <duration to hold key down in ms>] [--doubletap] <key code number or name> ... (Default: keyboard)
      tap <x> <y> (Default: touchscreen)
      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)
      draganddrop <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)
      press (Default: trackball)
      roll <dx> <dy> (Default: trackball)
"""


def android_input_text(raw: str) -> str:
    """What ``input text RAW`` types: ``%s`` becomes a space (Android's own rule)."""
    buff = list(raw)
    escape = False
    i = 0
    while i < len(buff):
        if escape:
            escape = False
            if buff[i] == "s":
                buff[i] = " "
                del buff[i - 1]
                i -= 1
        if buff[i] == "%":
            escape = True
        i += 1
    return "".join(buff)


def _typable(ch: str) -> bool:
    return ch in "\n\t" or 0x20 <= ord(ch) <= 0x7E


def _coord(s: str) -> int:
    return round(float(s))


def cmd_input(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if args and args[0] in _INPUT_SOURCES:
        args = args[1:]
    if len(args) >= 2 and args[0] == "-d":
        args = args[2:]
    if not args:
        ctx.err(_INPUT_USAGE)
        return 1
    sub, rest = args[0], args[1:]
    phone = ctx.device.phone
    try:
        if sub == "text":
            if not rest:
                return _usage_error(ctx, "Error: Invalid arguments for command: text")
            text = android_input_text(rest[0])
            if not all(_typable(c) for c in text):
                return _java_exception(
                    ctx,
                    "text",
                    "java.lang.NullPointerException: Attempt to get length of null array",
                    "com.android.server.input.InputShellCommand.sendText(InputShellCommand.java:355)",
                )
            phone.input_text(text)
            return 0
        if sub == "keyevent":
            longpress = False
            double = False
            keys: list[str] = []
            it = iter(rest)
            for a in it:
                if a == "--longpress":
                    longpress = True
                elif a == "--doubletap":
                    double = True
                elif a == "--duration":
                    next(it, None)
                    longpress = True
                elif a == "--async":
                    continue
                else:
                    keys.append(a)
            if not keys:
                return _usage_error(ctx, "Error: Invalid arguments for command: keyevent")
            for k in keys:
                _send_key(phone, k, longpress=longpress)
                if double:
                    _send_key(phone, k, longpress=False)
            return 0
        if sub == "tap":
            if len(rest) != 2:
                return _usage_error(ctx, "Error: Invalid arguments for command: tap")
            phone.tap(_coord(rest[0]), _coord(rest[1]))
            return 0
        if sub in ("swipe", "draganddrop"):
            if len(rest) not in (4, 5):
                return _usage_error(ctx, f"Error: Invalid arguments for command: {sub}")
            x1, y1, x2, y2 = (_coord(v) for v in rest[:4])
            duration = int(float(rest[4])) if len(rest) == 5 else 300
            if duration < 0:
                duration = 300
            drag = getattr(phone, "drag", None) if sub == "draganddrop" else None
            if callable(drag):
                drag(x1, y1, x2, y2, duration)
            else:
                phone.swipe(x1, y1, x2, y2, duration_ms=duration)
            return 0
        if sub in ("press", "roll", "motionevent", "scroll", "keycombination"):
            if sub == "keycombination":
                for k in rest:
                    _send_key(phone, k)
            return 0
    except ValueError as e:
        if str(e).startswith("Unknown keycode") or "keycode" in str(e).lower():
            return _java_exception(
                ctx,
                "keyevent",
                f"java.lang.IllegalArgumentException: {e}",
                "com.android.server.input.InputShellCommand.runKeyEvent(InputShellCommand.java:400)",
            )
        return _java_exception(
            ctx,
            sub,
            f"java.lang.NumberFormatException: {e}",
            "com.android.server.input.InputShellCommand.onCommand(InputShellCommand.java:300)",
        )
    ctx.err(f"Error: Unknown command: {sub}\n" + _INPUT_USAGE)
    return 1


def _send_key(phone: Any, key: str, *, longpress: bool = False) -> None:
    if longpress:
        fn = getattr(phone, "long_keyevent", None)
        if callable(fn):
            fn(key)
            return
    phone.keyevent(key)


# --------------------------------------------------------------------------------------------
# screen: screencap, wm, uiautomator
# --------------------------------------------------------------------------------------------


def cmd_screencap(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    png = False
    path: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-p":
            png = True
        elif a == "-d" and i + 1 < len(args):
            i += 1
        elif a in ("-h", "--help"):
            ctx.err(
                "usage: screencap [-hp] [-d display-id] [FILENAME]\n   -h: this message\n   -p: save the file as a png.\n"
            )
            return 0
        elif a.startswith("-"):
            pass
        else:
            path = a
        i += 1
    if path and path.endswith(".png"):
        png = True
    dev = ctx.device
    if png:
        data = dev.screencap_png()
    else:
        w, h, rgba = dev.framebuffer_rgba()
        data = struct.pack("<4I", w, h, PIXEL_FORMAT_RGBA_8888, DATASPACE_SRGB) + rgba
    if path is None or path in ("/dev/stdout", "-"):
        ctx.out(data)
        return 0
    try:
        dev.vfs.write(dev.vfs.normpath(path, ctx.shell.cwd), data, mode=0o660)
    except VfsError as e:
        ctx.err(f"Error opening file: {path} ({e.strerror})\n")
        return 1
    return 0


def cmd_wm(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    phone = ctx.device.phone
    if not args:
        ctx.err("Window manager (window) commands:\n  size [reset|WxH|WdpxHdp]\n  density [reset|DENSITY]\n")
        return 0
    sub = args[0]
    if sub == "size":
        if not args[1:]:
            ctx.out(f"Physical size: {phone.width}x{phone.height}\n")
            return 0
        if args[1] == "reset":
            return 0
        return _usage_error(ctx, "Error: changing the display size is not supported by the simulator")
    if sub == "density":
        if not args[1:]:
            ctx.out(f"Physical density: {phone.density}\n")
            return 0
        if args[1] == "reset":
            return 0
        return _usage_error(ctx, "Error: changing the display density is not supported by the simulator")
    if sub == "user-rotation":
        if len(args) == 1:
            ctx.out(f"lock {_rotation(phone)}\n")
        return 0
    return _usage_error(ctx, f"Unknown command: {sub}")


def cmd_uiautomator(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if not args or args[0] != "dump":
        ctx.err(
            "Usage: uiautomator <subcommand> [options]\n\nAvailable subcommands:\n\n"
            "help: displays help message\n\nruntest: executes UI automation tests\n\n"
            "dump: creates an XML dump of current UI hierarchy\n\nevents: prints out accessibility events\n"
        )
        return 1 if args else 0
    path = "/sdcard/window_dump.xml"
    for a in args[1:]:
        if not a.startswith("-"):
            path = a
    dev = ctx.device
    xml = dev.phone.ui_hierarchy_xml()
    data = xml.encode("utf-8")
    if path in ("/dev/tty", "/dev/stdout"):
        ctx.out(data)
    else:
        try:
            dev.vfs.write(dev.vfs.normpath(path, ctx.shell.cwd), data, mode=0o660)
        except VfsError:
            ctx.err("ERROR: could not dump UI hierarchy to file\n")
            return 1
    ctx.out(f"UI hierchary dumped to: {path}\n")
    return 0


# --------------------------------------------------------------------------------------------
# dumpsys
# --------------------------------------------------------------------------------------------


def _activity_record(pkg: str, act: str) -> str:
    return f"ActivityRecord{{{_hex_id('ar', pkg, act)} u0 {short_component(pkg, act)} t{_task_id(pkg)}}}"


def _task_id(pkg: str) -> int:
    return 10 + zlib.crc32(pkg.encode()) % 90


def _window_title(pkg: str, act: str) -> str:
    return f"Window{{{_hex_id('win', pkg, act)} u0 {long_component(pkg, act)}}}"


def _dump_windows(ctx: ExecContext) -> str:
    phone = ctx.device.phone
    pkg, act = _focus(ctx)
    w, h = phone.width, phone.height
    secure = " SECURE" if phone.is_secure() else ""
    win = _window_title(pkg, act)
    ime = ctx.device.phone.current_ime()
    return (
        "WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
        f"  Window #0 Window{{{_hex_id('sb')} u0 StatusBar}}:\n"
        "    mDisplayId=0 rootTaskId=1 mSession=Session{1a2b3c4 1234:u0a10140} mClient=android.os.BinderProxy@5d6e7f8\n"
        "    mOwnerUid=10140 showForAllUsers=true package=com.android.systemui appop=NONE\n"
        f"    mAttrs={{(0,0)(fillx63) gr=TOP ty=STATUS_BAR fmt=TRANSLUCENT}}\n"
        f"    Requested w={w} h=63 mLayoutSeq=100\n"
        f"  Window #1 Window{{{_hex_id('ime')} u0 InputMethod}}:\n"
        "    mDisplayId=0 rootTaskId=1 mSession=Session{2b3c4d5 2345:u0a10150} mClient=android.os.BinderProxy@6e7f8a9\n"
        f"    mOwnerUid=10150 showForAllUsers=false package={ime.split('/')[0]} appop=NONE\n"
        "    mAttrs={(0,0)(fillxwrap) gr=BOTTOM CENTER_VERTICAL sim={adjust=pan} ty=INPUT_METHOD fmt=TRANSPARENT}\n"
        f"  Window #2 {win}:\n"
        f"    mDisplayId=0 rootTaskId={_task_id(pkg)} mSession=Session{{{_hex_id('sess', pkg)} {_pid(pkg)}:u0a{_uid(pkg) - 10000}}} mClient=android.os.BinderProxy@{_hex_id('cl', pkg)}\n"
        f"    mOwnerUid={_uid(pkg)} showForAllUsers=false package={pkg} appop=NONE\n"
        "    mAttrs={(0,0)(fillxfill) sim={adjust=resize} ty=BASE_APPLICATION fmt=TRANSPARENT wanim=0x10302fe\n"
        f"      fl=LAYOUT_IN_SCREEN LAYOUT_INSET_DECOR SPLIT_TOUCH HARDWARE_ACCELERATED DRAWS_SYSTEM_BAR_BACKGROUNDS{secure}}}\n"
        f"    Requested w={w} h={h} mLayoutSeq=100\n"
        "    mHasSurface=true isReadyForDisplay()=true mWindowRemovalAllowed=false\n"
        "\n"
        f"  mGlobalConfiguration={{1.0 ?mcc?mnc [en_US] ldltr sw{w * 160 // phone.density}dp w{w * 160 // phone.density}dp "
        f"h{h * 160 // phone.density}dp {phone.density}dpi nrml long port finger -keyb/v/h -nav/h}}\n"
        "  mHasPermanentDpad=false\n"
        "  mTopFocusedDisplayId=0\n"
        f"  mInputMethodWindow=Window{{{_hex_id('ime')} u0 InputMethod}}\n"
        f"  mCurrentFocus={win}\n"
        f"  mFocusedApp={_activity_record(pkg, act)}\n"
    )


def _dump_window_displays(ctx: ExecContext) -> str:
    phone = ctx.device.phone
    w, h, d = phone.width, phone.height, phone.density
    rot = _rotation(phone)
    cw, ch = (h, w) if rot % 2 else (w, h)
    return (
        "WINDOW MANAGER DISPLAY CONTENTS (dumpsys window displays)\n"
        "  Display: mDisplayId=0 rootTasks=3\n"
        f"    init={w}x{h} {d}dpi base={w}x{h} {d}dpi cur={cw}x{ch} app={cw}x{ch} rng={min(w, h)}x{min(w, h)}-{max(w, h)}x{max(w, h)}\n"
        f"    deferred=false mLayoutNeeded=false mTouchExcludeRegion=SkRegion((0,0,{cw},{ch}))\n"
        f"  mCurrentFocus={_window_title(*_focus(ctx))}\n"
    )


def _dump_display(ctx: ExecContext) -> str:
    phone = ctx.device.phone
    w, h, d = phone.width, phone.height, phone.density
    rot = _rotation(phone)
    lw, lh = (h, w) if rot % 2 else (w, h)
    state = "ON" if _screen_on(phone) else "OFF"
    info = (
        f'DisplayInfo{{"Built-in Screen", displayId 0, displayGroupId 0, FLAG_SECURE, FLAG_SUPPORTS_PROTECTED_BUFFERS, '
        f"FLAG_TRUSTED, real {lw} x {lh}, largest app {lw} x {lh}, smallest app {min(w, h)} x {min(w, h)}, "
        f"appVsyncOff 1000000, presDeadline 16666666, mode 1, defaultMode 1, modes [{{id=1, width={w}, height={h}, "
        f"fps=60.0, alternativeRefreshRates=[]}}], hdrCapabilities HdrCapabilities{{mSupportedHdrTypes=[], "
        f"mMaxLuminance=500.0, mMaxAverageLuminance=500.0, mMinLuminance=0.0}}, userDisabledHdrTypes [], "
        f"minimalPostProcessingSupported false, rotation {rot}, state {state}, committedState {state}, "
        f"density {d} ({float(d):.1f} x {float(d):.1f}) dpi, layerStack 0, colorMode 0, supportedColorModes [0], "
        f"address {{port=0, model=0x0}}, deviceProductInfo DeviceProductInfo{{name=AutoGLM Sim, manufacturerPnpId=GGL}}, "
        f"removeMode 0, refreshRateOverride 0.0, brightnessMinimum 0.0, brightnessMaximum 1.0, brightnessDefault 0.39763778}}"
    )
    return (
        "DISPLAY MANAGER (dumpsys display)\n"
        "  mOnlyCore=false\n"
        "  mSafeMode=false\n"
        "  mPendingTraversal=false\n"
        f"  mViewports=[DisplayViewport{{type=INTERNAL, valid=true, isActive=true, displayId=0, uniqueId='local:4619827259835644672', "
        f"physicalPort=0, orientation={rot}, logicalFrame=Rect(0, 0 - {lw}, {lh}), physicalFrame=Rect(0, 0 - {lw}, {lh}), "
        f"deviceWidth={lw}, deviceHeight={lh}}}]\n"
        "  mDefaultDisplayDefaultColorMode=0\n"
        "\n"
        "Display Devices: size=1\n"
        '  DisplayDeviceInfo{"Built-in Screen": uniqueId="local:4619827259835644672", '
        f"{w} x {h}, modeId 1, defaultModeId 1, density {d}, {float(d):.1f} x {float(d):.1f} dpi, "
        "touch INTERNAL, rotation 0, type INTERNAL, address {port=0, model=0x0}, state "
        + state
        + ", FLAG_DEFAULT_DISPLAY, "
        "FLAG_ROTATES_WITH_CONTENT, FLAG_SECURE, FLAG_SUPPORTS_PROTECTED_BUFFERS}\n"
        "\n"
        "Logical Displays: size=1\n"
        "  Display 0:\n"
        "    mDisplayId=0\n"
        "    mPhase=1\n"
        "    mLayerStack=0\n"
        "    mHasContent=true\n"
        "    mDisplayOffset=(0, 0)\n"
        "    mDisplayScalingDisabled=false\n"
        "    mPrimaryDisplayDevice=Built-in Screen\n"
        f"    mBaseDisplayInfo={info}\n"
        f"    mOverrideDisplayInfo={info}\n"
    )


def _dump_activities(ctx: ExecContext) -> str:
    pkg, act = _focus(ctx)
    rec = _activity_record(pkg, act)
    tid = _task_id(pkg)
    return (
        "ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)\n"
        "Display #0 (activities from top to bottom):\n"
        f"  * Task{{{_hex_id('task', pkg)} #{tid} type=standard A={_uid(pkg)}:{pkg} U=0 visible=true "
        "visibleRequested=true mode=fullscreen translucent=false sz=1}\n"
        f"    mResumedActivity: {rec}\n"
        f"    * Hist  #0: {rec}\n"
        f"      packageName={pkg} processName={pkg}\n"
        f"      app=ProcessRecord{{{_hex_id('proc', pkg)} {_pid(pkg)}:{pkg}/u0a{_uid(pkg) - 10000}}}\n"
        f"      Intent {{ act=android.intent.action.MAIN cat=[android.intent.category.LAUNCHER] flg=0x10200000 "
        f"cmp={short_component(pkg, act)} }}\n"
        "\n"
        f"    topResumedActivity={rec}\n"
        "\n"
        f"  ResumedActivity: {rec}\n"
        "\n"
        f"  mFocusedApp={rec}\n"
    )


def _dump_activity_top(ctx: ExecContext) -> str:
    pkg, act = _focus(ctx)
    return (
        "TASK 10000:" + pkg + " id=" + str(_task_id(pkg)) + " userId=0\n"
        f"  ACTIVITY {short_component(pkg, act)} {_hex_id('top', pkg, act)} pid={_pid(pkg)}\n"
        "    Local Activity 1a2b3c4 State:\n"
        "      mResumed=true mStopped=false mFinished=false\n"
    )


def _dump_power(ctx: ExecContext) -> str:
    on = _screen_on(ctx.device.phone)
    return (
        "POWER MANAGER (dumpsys power)\n\n"
        "Power Manager State:\n"
        "  mDirty=0x0\n"
        f"  mWakefulness={'Awake' if on else 'Asleep'}\n"
        "  mWakefulnessChanging=false\n"
        "  mIsPowered=true\n"
        "  mPlugType=2\n"
        "  mBatteryLevel=87\n"
        "  mStayOn=false\n"
        "  mProximityPositive=false\n"
        "  mBootCompleted=true\n"
        "  mSystemReady=true\n"
        f"  mHoldingWakeLockSuspendBlocker={'true' if on else 'false'}\n"
        f"  mHoldingDisplaySuspendBlocker={'true' if on else 'false'}\n"
        "\nDisplay Power: state=" + ("ON" if on else "OFF") + "\n"
    )


def _dump_battery(ctx: ExecContext) -> str:
    return (
        "Current Battery Service state:\n"
        "  AC powered: false\n  USB powered: true\n  Wireless powered: false\n  Dock powered: false\n"
        "  Max charging current: 500000\n  Max charging voltage: 5000000\n  Charge counter: 3000000\n"
        "  status: 2\n  health: 2\n  present: true\n  level: 87\n  scale: 100\n  voltage: 4200\n"
        "  temperature: 250\n  technology: Li-ion\n"
    )


def _dump_input_method(ctx: ExecContext) -> str:
    phone = ctx.device.phone
    ime = phone.current_ime()
    shown = bool(_phone_attr(phone, "keyboard_shown", "keyboard_visible", "focused_field", default=False))
    pkg, act = _focus(ctx)
    lines = [
        "Current Input Method Manager state:",
        "  Input Methods: mMethodMapUpdateCount=1 mBindInstantServiceAllowed=false",
    ]
    for i in phone.imes():
        lines.append(f"    mId={i} mSettingsActivity=null")
    lines += [
        f"  mCurMethodId={ime}",
        f"  mCurFocusedWindowClient={_window_title(pkg, act)}",
        f"  mCurId={ime} mHaveConnection=true mBoundToMethod=true mVisibleBound={'true' if shown else 'false'}",
        f"  mCurToken=Binder{{{_hex_id('tok')}}}",
        f"  mInputShown={'true' if shown else 'false'}",
        f"  mIsInputViewShown={'true' if shown else 'false'}",
    ]
    return "\n".join(lines) + "\n"


def _dump_package(ctx: ExecContext, package: str) -> str:
    app = ctx.device.app(package)
    if app is None:
        return f"Unable to find package: {package}\n"
    pkg = app.package
    comp = short_component(pkg, app.activity)
    flags = (
        "SYSTEM HAS_CODE ALLOW_CLEAR_USER_DATA"
        if _is_system(pkg)
        else "HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP"
    )
    h = _hex_id("pkg", pkg)
    resolver = ""
    if app.launcher:
        resolver = (
            "Activity Resolver Table:\n"
            "  Non-Data Actions:\n"
            "      android.intent.action.MAIN:\n"
            f"        {_hex_id('filter', pkg)} {comp} filter {_hex_id('f2', pkg)}\n"
            '          Action: "android.intent.action.MAIN"\n'
            '          Category: "android.intent.category.LAUNCHER"\n'
            "\n"
        )
    return (
        resolver + "Packages:\n"
        f"  Package [{pkg}] ({h}):\n"
        f"    userId={_uid(pkg)}\n"
        f"    pkg=Package{{{h} {pkg}}}\n"
        f"    codePath={_apk_path(pkg).rsplit('/', 1)[0]}\n"
        f"    resourcePath={_apk_path(pkg).rsplit('/', 1)[0]}\n"
        "    primaryCpuAbi=x86_64\n"
        "    versionCode=1 minSdk=24 targetSdk=34\n"
        "    versionName=1.0.0\n"
        f"    flags=[ {flags} ]\n"
        f"    applicationInfo=ApplicationInfo{{{_hex_id('ai', pkg)} {pkg}}}\n"
        "    timeStamp=2024-06-01 12:00:00\n"
        "    firstInstallTime=2024-06-01 12:00:00\n"
        "    lastUpdateTime=2024-06-01 12:00:00\n"
        "    installerPackageName=com.android.vending\n"
        f"    signatures=PackageSignatures{{{_hex_id('sig', pkg)} version:2, signatures:[{_hex_id('cert', pkg, width=8)}], past signatures:[]}}\n"
        f"    pkgFlags=[ {flags} ]\n"
        "    User 0: ceDataInode=1234 installed=true hidden=false suspended=false distractionFlags=0 stopped=false "
        f"notLaunched=false enabled=0 instant=false virtual=false\n"
        f"      mainActivity={comp}\n"
    )


def cmd_dumpsys(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if not args:
        ctx.out(
            "Currently running services:\n  activity\n  battery\n  display\n  input_method\n  package\n  power\n  window\n"
        )
        return 0
    svc, rest = args[0], args[1:]
    if svc == "-l":
        ctx.out(
            "Currently running services:\n  activity\n  battery\n  display\n  input_method\n  package\n  power\n  window\n"
        )
        return 0
    if svc == "window":
        sub = rest[0] if rest else ""
        if sub in ("windows", "w"):
            ctx.out(_dump_windows(ctx))
        elif sub in ("displays", "d"):
            ctx.out(_dump_window_displays(ctx))
        elif sub in ("", "-a", "all"):
            ctx.out(_dump_window_displays(ctx) + "\n" + _dump_windows(ctx))
        else:
            ctx.out(_dump_windows(ctx))
        return 0
    if svc == "display":
        ctx.out(_dump_display(ctx))
        return 0
    if svc == "activity":
        sub = rest[0] if rest else ""
        if sub in ("activities", "a"):
            ctx.out(_dump_activities(ctx))
        elif sub == "top":
            ctx.out(_dump_activity_top(ctx))
        else:
            ctx.out(_dump_activities(ctx) + "\n" + _dump_activity_top(ctx))
        return 0
    if svc == "power":
        ctx.out(_dump_power(ctx))
        return 0
    if svc == "battery":
        ctx.out(_dump_battery(ctx))
        return 0
    if svc == "input_method":
        ctx.out(_dump_input_method(ctx))
        return 0
    if svc == "package":
        names = [a for a in rest if not a.startswith("-")]
        if not names:
            ctx.out("".join(_dump_package(ctx, a.package) for a in ctx.device.apps()))
        else:
            ctx.out(_dump_package(ctx, names[0]))
        return 0
    if svc == "SurfaceFlinger":
        ctx.out(
            'Display 4619827259835644672 (HWC display 0): port=0 pnpId=GGL displayName="Built-in Screen"\n'
        )
        return 0
    ctx.err(f"Can't find service: {svc}\n")
    return 0


# --------------------------------------------------------------------------------------------
# am / monkey
# --------------------------------------------------------------------------------------------


class _Intent:
    def __init__(self) -> None:
        self.action: str | None = None
        self.data: str | None = None
        self.categories: list[str] = []
        self.component: str | None = None
        self.package: str | None = None
        self.flags: str | None = None
        self.extras: dict[str, str] = {}
        self.wait = False
        self.stop = False

    def describe(self) -> str:
        parts = []
        if self.action:
            parts.append(f"act={self.action}")
        if self.categories:
            parts.append(f"cat=[{','.join(self.categories)}]")
        if self.data:
            parts.append(f"dat={self.data}")
        if self.flags:
            parts.append(f"flg={self.flags}")
        if self.package:
            parts.append(f"pkg={self.package}")
        if self.component:
            parts.append(f"cmp={self.component}")
        if self.extras:
            parts.append("(has extras)")
        return "Intent { " + " ".join(parts) + " }"


def _parse_intent(args: list[str]) -> tuple[_Intent, list[str]]:
    intent = _Intent()
    rest: list[str] = []
    i = 0

    def take(n: int = 1) -> list[str]:
        nonlocal i
        vals = args[i + 1 : i + 1 + n]
        if len(vals) < n:
            raise ValueError(f'Argument expected after "{args[i]}"')
        i += n
        return vals

    while i < len(args):
        a = args[i]
        if a == "-a":
            intent.action = take()[0]
        elif a == "-d":
            intent.data = take()[0]
        elif a == "-t":
            take()
        elif a == "-c":
            intent.categories.append(take()[0])
        elif a == "-n":
            intent.component = take()[0]
        elif a == "-p":
            intent.package = take()[0]
        elif a == "-f":
            intent.flags = take()[0]
        elif a in (
            "-e",
            "--es",
            "--ei",
            "--ez",
            "--el",
            "--ef",
            "--eu",
            "--ecn",
            "--eia",
            "--ela",
            "--efa",
            "--esa",
            "--esal",
        ):
            k, v = take(2)
            intent.extras[k] = v
        elif a in ("--esn",):
            intent.extras[take()[0]] = ""
        elif a == "-W":
            intent.wait = True
        elif a == "-S":
            intent.stop = True
        elif a in ("--user", "--display", "-P", "--start-profiler", "--sampling", "--attach-agent", "--windowingMode",
                   "--activityType", "--task", "--receiver-permission", "--allow-background-activity-starts"):  # fmt: skip
            take()
        elif a.startswith("--") or a in ("-D", "-N", "-R"):
            if a == "-R":
                take()
        elif not a.startswith("-") and intent.component is None and "/" in a:
            intent.component = a
        else:
            rest.append(a)
        i += 1
    return intent, rest


_ACTION_APPS = {
    "android.settings.SETTINGS": ("com.android.settings",),
    "android.settings.WIFI_SETTINGS": ("com.android.settings",),
    "android.media.action.IMAGE_CAPTURE": ("com.android.camera2", "com.android.camera"),
    "android.media.action.STILL_IMAGE_CAMERA": ("com.android.camera2", "com.android.camera"),
    "android.intent.action.VIEW": ("com.android.chrome", "org.chromium.chrome", "com.android.browser"),
    "android.intent.action.DIAL": ("com.android.dialer", "com.google.android.dialer"),
}


def _am_start(ctx: ExecContext, args: list[str]) -> int:
    try:
        intent, _ = _parse_intent(args)
    except ValueError as e:
        return _usage_error(ctx, f"Error: {e}")
    phone = ctx.device.phone
    t0 = time.monotonic()
    ok = False
    if intent.component:
        comp = intent.component
        pkg, _, act = comp.partition("/")
        if not act:
            ctx.out(f"Starting: {intent.describe()}\n")
            ctx.err(f"Error: Bad component name: {comp}\n")
            return 1
        if intent.stop:
            _force_stop(phone, pkg)
        intent.component = short_component(pkg, act)
        ctx.out(f"Starting: {intent.describe()}\n")
        ok = bool(phone.start_activity(comp))
        if not ok:
            ctx.err(f"Error type 3\nError: Activity class {{{long_component(pkg, act)}}} does not exist.\n")
            return 1
    else:
        ctx.out(f"Starting: {intent.describe()}\n")
        if (
            intent.action == "android.intent.action.MAIN"
            and "android.intent.category.HOME" in intent.categories
        ):
            phone.keyevent("KEYCODE_HOME")
            ok = True
        elif intent.package and ctx.device.app(intent.package):
            ok = bool(phone.launch_package(intent.package))
        elif (
            intent.action == "android.intent.action.VIEW"
            and intent.data
            and callable(getattr(phone, "open_url", None))
        ):
            ok = bool(phone.open_url(intent.data) is not False)
        else:
            for pkg in _ACTION_APPS.get(intent.action or "", ()):
                if ctx.device.app(pkg):
                    ok = bool(phone.launch_package(pkg))
                    break
        if not ok:
            ctx.err(f"Error: Activity not started, unable to resolve {intent.describe()}\n")
            return 1
    if intent.wait:
        pkg, act = phone.current_focus()
        took = max(1, int((time.monotonic() - t0) * 1000))
        ctx.out(
            f"Status: ok\nLaunchState: COLD\nActivity: {short_component(pkg, act)}\n"
            f"TotalTime: {took}\nWaitTime: {took + 2}\nComplete\n"
        )
    return 0


def _force_stop(phone: Any, package: str) -> None:
    fn = getattr(phone, "force_stop", None)
    if callable(fn):
        fn(package)
        return
    pkg, _ = phone.current_focus()
    if pkg == package:
        phone.keyevent("KEYCODE_HOME")


def _am_broadcast(ctx: ExecContext, args: list[str]) -> int:
    try:
        intent, _ = _parse_intent(args)
    except ValueError as e:
        return _usage_error(ctx, f"Error: {e}")
    intent.flags = intent.flags or "0x400000"
    ctx.out(f"Broadcasting: {intent.describe()}\n")
    phone = ctx.device.phone
    ime_active = phone.current_ime() == ADB_KEYBOARD_IME
    targeted_elsewhere = intent.package not in (None, "com.android.adbkeyboard")
    action = intent.action or ""
    if ime_active and not targeted_elsewhere and action.startswith("ADB_"):
        msg = intent.extras.get("msg")
        if action == "ADB_INPUT_TEXT" and msg is not None:
            phone.input_text(msg)
        elif action == "ADB_INPUT_B64" and msg is not None:
            try:
                text = base64.b64decode(msg, validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                text = None
            if text is not None:
                phone.input_text(text)
        elif action == "ADB_INPUT_CHARS" and "chars" in intent.extras:
            try:
                text = "".join(chr(int(c)) for c in intent.extras["chars"].split(",") if c.strip())
                phone.input_text(text)
            except ValueError:
                pass
        elif action == "ADB_CLEAR_TEXT":
            phone.clear_text()
        elif action == "ADB_INPUT_CODE" and "code" in intent.extras:
            phone.keyevent(intent.extras["code"])
        elif action == "ADB_EDITOR_CODE":
            phone.keyevent("KEYCODE_ENTER")
    elif action == "android.intent.action.AIRPLANE_MODE":
        pass
    ctx.out("Broadcast completed: result=0\n")
    return 0


def cmd_am(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if not args:
        ctx.err("Activity manager (activity) commands:\n  start [-W] [-S] [-n COMPONENT] [-a ACTION] ...\n")
        return 0
    sub, rest = args[0], args[1:]
    phone = ctx.device.phone
    if sub in ("start", "start-activity"):
        return _am_start(ctx, rest)
    if sub == "broadcast":
        return _am_broadcast(ctx, rest)
    if sub in ("force-stop", "kill", "stop-app"):
        pkgs = [a for a in rest if not a.startswith("-")]
        if "--user" in rest:
            pkgs = pkgs[1:] if pkgs and pkgs[0].isdigit() else pkgs
        for p in pkgs:
            _force_stop(phone, p)
        return 0
    if sub == "kill-all":
        return 0
    if sub in ("start-service", "startservice", "start-foreground-service"):
        ctx.out(f"Starting service: {_parse_intent(rest)[0].describe()}\n")
        return 0
    if sub == "stack" or sub == "task":
        pkg, act = phone.current_focus()
        ctx.out(f"RootTask id={_task_id(pkg)} bounds=[0,0][{phone.width},{phone.height}] displayId=0 userId=0\n"
                f"  taskId={_task_id(pkg)}: {short_component(pkg, act)} bounds=[0,0][{phone.width},{phone.height}] "
                "userId=0 visible=true topActivity=ComponentInfo{" + long_component(pkg, act) + "}\n")  # fmt: skip
        return 0
    if sub == "get-current-user":
        ctx.out("0\n")
        return 0
    return _usage_error(ctx, f"Error: Unknown command: {sub}")


def cmd_monkey(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    packages: list[str] = []
    count = 0
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-p", "--pkg-whitelist-file"):
            if i + 1 < len(args):
                packages.append(args[i + 1])
            i += 2
            continue
        if a in ("-c", "-s", "--throttle", "--seed") or a.startswith("--pct-"):
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        try:
            count = int(a)
        except ValueError:
            return _usage_error(ctx, f"** Error: Count {a} is not a number")
        i += 1
    phone = ctx.device.phone
    launchable = [p for p in packages if (app := ctx.device.app(p)) is not None and app.launcher]
    if count < 1:
        ctx.out("Events injected: 0\n")
        return 0
    if not launchable:
        ctx.err("** No activities found to run, monkey aborted.\n")
        return 252
    phone.launch_package(launchable[0])
    ctx.out(
        f"  bash arg: {' '.join(args)}\nargs: [{', '.join(args)}]\n"
        f"Events injected: {count}\n"
        "## Network stats: elapsed time=12ms (0ms mobile, 0ms wifi, 12ms not connected)\n"
    )
    return 0


# --------------------------------------------------------------------------------------------
# pm / cmd package
# --------------------------------------------------------------------------------------------


def _resolve_lines(app: SimApp, *, brief: bool, components: bool) -> list[str]:
    comp = short_component(app.package, app.activity)
    if components:
        return [comp]
    if brief:
        return ["priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=false", comp]
    return [
        "  ActivityInfo:",
        f"    name={full_class(app.package, app.activity)}",
        f"    packageName={app.package}",
        "    enabled=true exported=true directBootAware=false",
    ]


def cmd_pm(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if ctx.prog == "cmd":
        args = args[1:]
    if not args:
        ctx.err(
            "Package manager (package) commands:\n  list packages [-f] [-d] [-e] [-s] [-3] [FILTER]\n  path PACKAGE\n"
        )
        return 1
    sub, rest = args[0], args[1:]
    dev = ctx.device
    if sub == "list":
        what = rest[0] if rest else ""
        opts = rest[1:]
        if what in ("packages", "package"):
            flags = {o for o in opts if o.startswith("-")}
            filt = next((o for o in opts if not o.startswith("-") and not o.isdigit()), "")
            lines = []
            for app in sorted(dev.apps(), key=lambda a: a.package):
                system = _is_system(app.package)
                if ("-3" in flags and system) or ("-s" in flags and not system) or "-d" in flags:
                    continue
                if filt and filt not in app.package:
                    continue
                line = (
                    f"package:{_apk_path(app.package)}={app.package}"
                    if "-f" in flags
                    else f"package:{app.package}"
                )
                if "-U" in flags:
                    line += f" uid:{_uid(app.package)}"
                if "-i" in flags:
                    line += " installer=com.android.vending"
                lines.append(line)
            ctx.out("".join(line + "\n" for line in lines))
            return 0
        if what == "users":
            ctx.out("Users:\n\tUserInfo{0:Owner:c13} running\n")
            return 0
        if what == "features":
            ctx.out(
                "feature:android.hardware.touchscreen\nfeature:android.hardware.wifi\nfeature:android.software.input_methods\n"
            )
            return 0
        if what == "permissions":
            ctx.out("All Permissions:\n\n")
            return 0
        return _usage_error(ctx, f"Error: unknown list type '{what}'")
    if sub == "path":
        names = [a for a in rest if not a.startswith("-") and not a.isdigit()]
        app = dev.app(names[0]) if names else None
        if app is None:
            return 1
        ctx.out(f"package:{_apk_path(app.package)}\n")
        return 0
    if sub == "dump":
        names = [a for a in rest if not a.startswith("-")]
        ctx.out(_dump_package(ctx, names[0]) if names else "")
        return 0
    if sub in ("resolve-activity", "query-activities"):
        brief = "--brief" in rest
        components = "--components" in rest
        opts = [a for a in rest if a not in ("--brief", "--components")]
        try:
            intent, leftover = _parse_intent(opts)
        except ValueError as e:
            return _usage_error(ctx, f"Error: {e}")
        pkg = intent.package or (leftover[0] if leftover else None)
        if intent.component:
            pkg = intent.component.split("/")[0]
        cands = [a for a in dev.apps() if a.launcher and (pkg is None or a.package == pkg)]
        if intent.action not in (None, "android.intent.action.MAIN"):
            cands = [
                a
                for a in dev.apps()
                if a.package in _ACTION_APPS.get(intent.action or "", ())
                and (pkg is None or a.package == pkg)
            ]
        if sub == "resolve-activity":
            if not cands:
                ctx.out("No activity found\n")
                return 0
            ctx.out(
                "".join(line + "\n" for line in _resolve_lines(cands[0], brief=brief, components=components))
            )
            return 0
        if not cands:
            ctx.out("No activities found\n")
            return 0
        out: list[str] = []
        if components:
            for a in cands:
                out += _resolve_lines(a, brief=brief, components=True)
        else:
            out.append(f"{len(cands)} activities found:")
            for n, a in enumerate(cands):
                out.append(f"  Activity #{n}:")
                out += ["    " + line.strip() for line in _resolve_lines(a, brief=brief, components=False)]
        ctx.out("".join(line + "\n" for line in out))
        return 0
    if sub == "clear":
        names = [a for a in rest if not a.startswith("-")]
        if names and dev.app(names[0]):
            fn = getattr(dev.phone, "clear_app_data", None)
            if callable(fn):
                fn(names[0])
            ctx.out("Success\n")
            return 0
        ctx.out("Failed\n")
        return 1
    if sub in ("grant", "revoke", "set-permission-flags", "trim-caches"):
        return 0
    if sub in ("enable", "disable", "disable-user"):
        names = [a for a in rest if not a.startswith("-")]
        state = "enabled" if sub == "enable" else "disabled-user" if sub == "disable-user" else "disabled"
        ctx.out(f"Package {names[0] if names else ''} new state: {state}\n")
        return 0
    if sub == "install" or sub == "install-create":
        ctx.out("Failure [INSTALL_FAILED_INTERNAL_ERROR: the simulated phone cannot install packages]\n")
        return 1
    if sub == "uninstall":
        ctx.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
        return 1
    return _usage_error(ctx, f"Unknown command: {sub}")


# --------------------------------------------------------------------------------------------
# ime / settings / svc / getprop
# --------------------------------------------------------------------------------------------


def _enabled_imes(phone: Any) -> list[str]:
    raw = phone.get_setting("secure", "enabled_input_methods")
    if raw:
        return [i for i in raw.split(":") if i]
    return list(phone.imes())


def _set_ime(phone: Any, ime: str) -> None:
    fn = getattr(phone, "set_ime", None)
    if callable(fn):
        fn(ime)
    else:
        phone.put_setting("secure", "default_input_method", ime)


def cmd_ime(ctx: ExecContext) -> int:
    args = [a for a in ctx.argv[1:] if a not in ("--user",) and not a.isdigit()]
    if ctx.prog == "cmd":
        args = args[1:]
    phone = ctx.device.phone
    if not args:
        ctx.err("ime <command>:\n  list [-a] [-s]\n  enable ID\n  disable ID\n  set ID\n  reset\n")
        return 0
    sub, rest = args[0], args[1:]
    known = list(phone.imes())
    if sub == "list":
        ids = known if "-a" in rest else _enabled_imes(phone)
        if "-s" in rest:
            ctx.out("".join(i + "\n" for i in ids))
        else:
            for i in ids:
                pkg = i.split("/")[0]
                ctx.out(f"{i}:\n  mId={i} mSettingsActivity=null mIsVrOnly=false mSupportsSwitchingToNextInputMethod=false\n"
                        f"  mIsDefaultResId=0x0\n  Service:\n    priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 "
                        f"isDefault=false\n    ServiceInfo:\n      name={full_class(pkg, i.split('/')[1])}\n      packageName={pkg}\n")  # fmt: skip
        return 0
    if sub in ("enable", "disable"):
        if not rest:
            return _usage_error(ctx, f"Error: no input method ID given for ime {sub}")
        ime = rest[0]
        if ime not in known:
            ctx.err(f"Unknown input method {ime} cannot be {sub}d for user #0\n")
            return 0
        enabled = _enabled_imes(phone)
        already = (ime in enabled) == (sub == "enable")
        if sub == "enable" and ime not in enabled:
            enabled.append(ime)
        if sub == "disable" and ime in enabled:
            enabled.remove(ime)
        phone.put_setting("secure", "enabled_input_methods", ":".join(enabled))
        state = "enabled" if sub == "enable" else "disabled"
        ctx.out(f"Input method {ime}: {'already ' if already else 'now '}{state} for user #0\n")
        return 0
    if sub == "set":
        if not rest:
            return _usage_error(ctx, "Error: no input method ID given for ime set")
        ime = rest[0]
        if ime not in known:
            ctx.err(f"Unknown input method {ime} cannot be selected for user #0\n")
            return 0
        _set_ime(phone, ime)
        ctx.out(f"Input method {ime} selected for user #0\n")
        return 0
    if sub == "reset":
        if known:
            default = next((i for i in known if i != ADB_KEYBOARD_IME), known[0])
            _set_ime(phone, default)
            ctx.out(f"Reset current and enabled IMEs for user #0\n  Selected: {default}\n")
        return 0
    return _usage_error(ctx, f"Unknown command: {sub}")


_NAMESPACES = ("system", "secure", "global")


def cmd_settings(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if ctx.prog == "cmd":
        args = args[1:]
    clean: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--user":
            next(it, None)
        elif a in ("--lineage",):
            continue
        else:
            clean.append(a)
    phone = ctx.device.phone
    if len(clean) < 2:
        ctx.err("usage:  settings [--user <USER_ID> | current] get namespace key\n"
                "        settings [--user <USER_ID> | current] put namespace key value\n"
                "        settings [--user <USER_ID> | current] delete namespace key\n"
                "        settings [--user <USER_ID> | current] list namespace\n")  # fmt: skip
        return 1
    verb, ns = clean[0], clean[1]
    if ns not in _NAMESPACES:
        return _usage_error(ctx, f"Invalid namespace '{ns}'")
    if verb == "get" and len(clean) >= 3:
        v = phone.get_setting(ns, clean[2])
        ctx.out(("null" if v is None else str(v)) + "\n")
        return 0
    if verb == "put" and len(clean) >= 4:
        phone.put_setting(ns, clean[2], clean[3])
        return 0
    if verb == "delete" and len(clean) >= 3:
        fn = getattr(phone, "delete_setting", None)
        if callable(fn):
            fn(ns, clean[2])
            ctx.out("Deleted 1 rows\n")
        else:
            ctx.out("Deleted 0 rows\n")
        return 0
    if verb == "list":
        items = _list_settings(phone, ns)
        ctx.out("".join(f"{k}={v}\n" for k, v in sorted(items.items())))
        return 0
    return _usage_error(ctx, "Invalid arguments for settings command")


def _list_settings(phone: Any, ns: str) -> dict[str, str]:
    fn = getattr(phone, "list_settings", None)
    if callable(fn):
        return {str(k): str(v) for k, v in dict(fn(ns)).items()}
    try:  # the phone's settings module knows the defaults and the values synced with its state
        from autoglm_agent.sim.apps.settings import list_settings
    except ImportError:
        list_settings = None
    state = getattr(phone, "state", None)
    if list_settings is not None and state is not None:
        with phone.lock:
            return {str(k): str(v) for k, v in list_settings(state, ns).items()}
    settings = getattr(state, "settings", None)
    if isinstance(settings, dict) and isinstance(settings.get(ns), dict):
        return {str(k): str(v) for k, v in settings[ns].items()}
    return {}


def cmd_svc(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    phone = ctx.device.phone
    if len(args) >= 2 and args[0] == "wifi" and args[1] in ("enable", "disable"):
        phone.put_setting("global", "wifi_on", "1" if args[1] == "enable" else "0")
        return 0
    if len(args) >= 2 and args[0] == "data" and args[1] in ("enable", "disable"):
        phone.put_setting("global", "mobile_data", "1" if args[1] == "enable" else "0")
        return 0
    if len(args) >= 2 and args[0] in ("power", "usb", "nfc", "bluetooth"):
        return 0
    ctx.err("Available commands:\n    help     Show information about the subcommands\n    power    Control the power manager\n"
            "    data     Control mobile data connectivity\n    wifi     Control the Wi-Fi manager\n")  # fmt: skip
    return 1


def cmd_getprop(ctx: ExecContext) -> int:
    args = [a for a in ctx.argv[1:] if not a.startswith("-")]
    dev = ctx.device
    if not args:
        ctx.out("".join(f"[{k}]: [{v}]\n" for k, v in sorted(dev.props().items())))
        return 0
    v = dev.getprop(args[0])
    if v is None:
        v = args[1] if len(args) > 1 else ""
    ctx.out(v + "\n")
    return 0


def cmd_setprop(ctx: ExecContext) -> int:
    if len(ctx.argv) != 3:
        return _usage_error(ctx, "usage: setprop NAME VALUE")
    if not ctx.device.setprop(ctx.argv[1], ctx.argv[2]):
        return _usage_error(ctx, f"Failed to set property '{ctx.argv[1]}' to '{ctx.argv[2]}'.")
    return 0


# --------------------------------------------------------------------------------------------
# cmd, misc
# --------------------------------------------------------------------------------------------


def cmd_cmd(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if not args:
        return _usage_error(ctx, "cmd: No service specified; use -l to list all running services. Use -w to start and wait for a service.", 20)  # fmt: skip
    if args[0] == "-l":
        ctx.out(
            "Currently running services:\n  activity\n  input\n  input_method\n  package\n  settings\n  statusbar\n  window\n"
        )
        return 0
    svc = args[0]
    table: dict[str, Callable[[ExecContext], int]] = {
        "package": cmd_pm,
        "settings": cmd_settings,
        "input_method": cmd_ime,
    }
    if svc in table:
        return table[svc](ctx)
    sub_argv = {"activity": "am", "input": "input", "window": "wm"}.get(svc)
    if sub_argv:
        sub_ctx = ExecContext([sub_argv, *args[1:]], ctx.stdin, ctx.stdout, ctx.stderr, ctx.shell)
        return {"am": cmd_am, "input": cmd_input, "wm": cmd_wm}[sub_argv](sub_ctx)
    if svc == "statusbar" and len(args) > 1:
        fn = getattr(
            ctx.device.phone,
            "open_notifications" if args[1].startswith("expand") else "close_notifications",
            None,
        )
        if callable(fn):
            fn()
        return 0
    ctx.err(f"cmd: Can't find service: {svc}\n")
    return 20


def cmd_reboot(ctx: ExecContext) -> int:
    ctx.err("reboot: Operation not permitted\n")
    return 1


def cmd_logcat(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if any(a in ("-c", "--clear") for a in args):
        return 0
    ts = time.strftime("%m-%d %H:%M:%S.000", time.localtime(ctx.device.now()))
    pkg, act = ctx.device.phone.current_focus()
    ctx.out(
        "--------- beginning of main\n"
        f"{ts}  1000  1234  1234 I ActivityTaskManager: Displayed {short_component(pkg, act)}: +250ms\n"
    )
    return 0


def cmd_ps(ctx: ExecContext) -> int:
    phone = ctx.device.phone
    pkg, _ = phone.current_focus()
    rows = [
        ("root", 1, 0, "init"),
        ("system", 500, 1, "system_server"),
        ("u0_a140", 900, 300, "com.android.systemui"),
    ]
    rows.append((f"u0_a{_uid(pkg) - 10000}", _pid(pkg), 300, pkg))
    ctx.out("USER            PID   PPID     VSZ    RSS WCHAN            ADDR S NAME\n")
    for user, pid, ppid, name in rows:
        ctx.out(f"{user:<12} {pid:>6} {ppid:>6} 1234567 123456 0                   0 S {name}\n")
    return 0


def cmd_pidof(ctx: ExecContext) -> int:
    pkg, _ = ctx.device.phone.current_focus()
    names = [a for a in ctx.argv[1:] if not a.startswith("-")]
    pids = [str(_pid(n)) for n in names if n == pkg]
    if not pids:
        return 1
    ctx.out(" ".join(pids) + "\n")
    return 0


def cmd_ifconfig(ctx: ExecContext) -> int:
    ctx.out(
        "wlan0     Link encap:Ethernet  HWaddr 02:00:00:44:55:66\n"
        "          inet addr:10.0.2.16  Bcast:10.0.2.255  Mask:255.255.255.0\n"
        "          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n"
    )
    return 0


def cmd_ip(ctx: ExecContext) -> int:
    ctx.out(
        "3: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 1000\n"
        "    link/ether 02:00:00:44:55:66 brd ff:ff:ff:ff:ff:ff\n"
        "    inet 10.0.2.16/24 brd 10.0.2.255 scope global wlan0\n"
    )
    return 0


COMMANDS: dict[str, Handler] = {
    "input": cmd_input,
    "screencap": cmd_screencap,
    "wm": cmd_wm,
    "uiautomator": cmd_uiautomator,
    "dumpsys": cmd_dumpsys,
    "am": cmd_am,
    "monkey": cmd_monkey,
    "pm": cmd_pm,
    "ime": cmd_ime,
    "settings": cmd_settings,
    "svc": cmd_svc,
    "getprop": cmd_getprop,
    "setprop": cmd_setprop,
    "cmd": cmd_cmd,
    "reboot": cmd_reboot,
    "logcat": cmd_logcat,
    "ps": cmd_ps,
    "pidof": cmd_pidof,
    "ifconfig": cmd_ifconfig,
    "ip": cmd_ip,
}


def command_names() -> Iterable[str]:
    return COMMANDS.keys()
