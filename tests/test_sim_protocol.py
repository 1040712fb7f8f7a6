"""The simulator's adbd, shell and commands, driven by the real ``adb`` binary and adbutils.

Nothing here is mocked: the Debian adb server connects to the simulator over TCP, and adbutils
and ``adb`` subprocesses talk to it through that server.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import shlex
import signal
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import adbutils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from autoglm_agent.sim.commands import ADB_KEYBOARD_IME, SimDevice, android_input_text
from autoglm_agent.sim.runner import Simulator, SimulatorError
from autoglm_agent.sim.shell import Shell, VirtualFS, parse

HOSTILE = "a'; rm -rf /sdcard; echo '"


# ---------------------------------------------------------------------------------------- helpers


def adb(sim: Simulator, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["adb", "-s", sim.serial, *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def dev(sim: Simulator) -> adbutils.AdbDevice:
    return adbutils.AdbClient(host=sim.adb_host, port=sim.adb_port, socket_timeout=30).device(sim.serial)


def _edit_texts(xml: str) -> list[tuple[int, int]]:
    centers = []
    for node in ET.fromstring(xml.encode()).iter("node"):
        if node.get("class") == "android.widget.EditText" and node.get("enabled", "true") == "true":
            x1, y1, x2, y2 = (
                int(v) for v in node.get("bounds", "[0,0][0,0]").replace("][", ",").strip("[]").split(",")
            )
            if x2 > x1 and y2 > y1:
                centers.append(((x1 + x2) // 2, (y1 + y2) // 2))
    return centers


def focus_a_text_field(sim: Simulator) -> str:
    """Open the first launcher app whose screen has a text field and tap it; returns the package."""
    d = dev(sim)
    out = d.shell(
        "cmd package query-activities --components -a android.intent.action.MAIN -c android.intent.category.LAUNCHER"
    )
    for comp in out.split():
        pkg = comp.split("/")[0]
        d.app_start(pkg)
        fields = _edit_texts(d.dump_hierarchy())
        if fields:
            d.click(*fields[0])
            if sim.phone.state.focused_field is not None:
                return pkg
    pytest.fail("no launcher app of the simulated phone shows a text field to type into")


# ------------------------------------------------------------------------------- transport, shell


def test_adb_devices_lists_the_serial_once_as_device(simulator: Simulator) -> None:
    out = subprocess.run(["adb", "devices"], capture_output=True, text=True, timeout=30, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()[1:] if line.strip()]
    mine = [r for r in rows if r[0] == simulator.serial]
    assert mine == [[simulator.serial, "device"]]
    assert simulator.port % 2 == 0 and not 5554 <= simulator.port <= 5585
    d = dev(simulator)
    assert d.get_state() == "device"
    assert set(d.get_features().split(",")) == {"shell_v2", "cmd", "stat_v2", "fixed_push_mkdir"}
    assert d.prop.model == "AutoGLM Sim Phone"
    assert d.getprop("ro.build.version.sdk") == "34"


def test_shell_output_and_exit_codes(simulator: Simulator) -> None:
    r = adb(simulator, "shell", "echo hi")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hi\n", b"")
    r = adb(simulator, "shell", "echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr) == (7, b"out\n", b"err\n")
    r = adb(simulator, "shell", "nosuchcmd --x")
    assert r.returncode == 127
    assert r.stderr == b"/system/bin/sh: nosuchcmd: inaccessible or not found\n"
    r = adb(simulator, "exec-out", "echo raw; echo err >&2")
    assert r.returncode == 0 and r.stdout == b"raw\nerr\n"

    d = dev(simulator)
    res = d.shell2("echo a; echo b >&2; exit 3", v2=True)
    assert (res.returncode, res.stdout, res.stderr) == (3, "a\n", "b\n")
    res = d.shell2("ls /nonexistent", v2=True)
    assert res.returncode == 1 and "No such file or directory" in res.stderr
    assert d.shell2("true && false").returncode == 1  # v1 with adbutils' `; echo X4EXIT:$?` trick
    assert d.shell2("echo ok").returncode == 0


def test_shell_quoting_and_operators(simulator: Simulator) -> None:
    d = dev(simulator)
    assert d.shell("echo 'a b'\"c\"") == "a bc"
    assert d.shell("false; echo X$?; true; echo Y$?") == "X1\nY0"
    assert d.shell("false && echo no || echo yes") == "yes"
    assert d.shell(r"echo a\ b \$HOME '$HOME' \"q\"") == 'a b $HOME $HOME "q"'
    assert d.shell(["echo", "it's", "a b", "$HOME", ";", "&&"]) == "it's a b $HOME ; &&"
    assert d.shell("echo one 2>/dev/null; ls /nope 2>/dev/null; echo rc=$?") == "one\nrc=1"
    assert d.shell("echo hello > /data/local/tmp/q.txt; cat /data/local/tmp/q.txt | grep -c hell") == "1"
    assert (
        d.shell("echo $(getprop ro.product.manufacturer)-`getprop ro.build.version.release`") == "AutoGLM-14"
    )
    r = adb(simulator, "shell", "echo 'unterminated")
    assert r.returncode == 2 and b"unterminated" in r.stderr


@functools.cache
def _offline_device() -> SimDevice:
    from autoglm_agent.sim.phone import Phone

    return SimDevice(Phone(seed=0))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
    )
)
def test_shell_quoting_round_trips_any_argv(args: list[str]) -> None:
    """Whatever shlex.quote (adbutils' list2cmdline) produces, the shell gives back the same argv."""
    sh = Shell(_offline_device())
    line = "printf '%s\\0' " + " ".join(shlex.quote(a) for a in args) if args else "true"
    res = sh.run(line)
    assert res.exit_code == 0
    got = res.stdout.decode("utf-8").split("\0")[:-1] if args else []
    assert got == args


def test_parser_rejects_what_it_cannot_run() -> None:
    from autoglm_agent.sim.shell import ShellSyntaxError

    for bad in ("echo 'x", 'echo "x', "; echo", "echo a &&", "| cat", "if true; then echo; fi", "echo $(x"):
        with pytest.raises(ShellSyntaxError):
            parse(bad)
    assert len(parse("echo a; echo b && echo c | cat\necho d")) == 3


def test_interactive_shells(simulator: Simulator) -> None:
    d = dev(simulator)
    c = d.open_transport()
    c.send_command("shell:")
    c.check_okay()
    c.send(b"echo inter\nexit 5\n")
    out = c.read_until_close()
    assert "inter\r\n" in out and "$ " in out

    c = d.open_transport()
    c.send_command("shell,v2,raw:")
    c.check_okay()
    cmds = b"echo v2\nexit 9\n"
    c.send(struct.pack("<BI", 0, len(cmds)) + cmds)
    stdout = b""
    while True:
        kind, length = struct.unpack("<BI", c.read_exact(5))
        data = c.read_exact(length)
        if kind == 1:
            stdout += data
        if kind == 3:
            assert data == b"\x09"
            break
    c.close()
    assert stdout == b"v2\n"

    # `adb shell` with piped stdin: no pty, commands read line by line, status of the last one
    def piped(data: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["adb", "-s", simulator.serial, "shell"], input=data, capture_output=True, timeout=30
        )

    r = piped(b"echo a; exit 4\necho never\n")
    assert (r.returncode, r.stdout) == (4, b"a\n")
    r = piped(b"echo one\nfalse")  # the last line has no newline
    assert (r.returncode, r.stdout) == (1, b"one\n")
    r = subprocess.run(
        ["adb", "-s", simulator.serial, "shell", "cat | wc -c"],
        input=b"12345",
        capture_output=True,
        timeout=30,
    )
    assert r.stdout.split() == [b"5"]


def test_unknown_services_are_refused(simulator: Simulator) -> None:
    d = dev(simulator)
    for service in ("nosuch:thing", "reboot:", "tcp:5000", "localabstract:foo"):
        c = d.open_transport()
        try:
            c.send_command(service)
            with pytest.raises(adbutils.AdbError):
                c.check_okay()
        finally:
            c.close()
    assert d.shell("echo still-here") == "still-here"
    c = d.open_transport()
    c.send_command("root:")
    c.check_okay()
    assert "cannot run as root" in c.read_until_close()


# ------------------------------------------------------------------------------------- sync, files


def test_push_pull_one_megabyte_round_trip(simulator: Simulator, tmp_path: Path) -> None:
    data = os.urandom(1 << 20) + b"tail"
    src = tmp_path / "rand.bin"
    src.write_bytes(data)
    r = adb(simulator, "push", str(src), "/sdcard/Download/rand.bin")
    assert r.returncode == 0, r.stdout + r.stderr
    back = tmp_path / "back.bin"
    r = adb(simulator, "pull", "/sdcard/Download/rand.bin", str(back))
    assert r.returncode == 0, r.stdout + r.stderr
    assert back.read_bytes() == data
    assert simulator.device.vfs.read("/sdcard/Download/rand.bin") == data

    d = dev(simulator)
    assert d.shell("md5sum /sdcard/Download/rand.bin").split()[0] == hashlib.md5(data).hexdigest()
    assert d.sync.read_bytes("/sdcard/Download/rand.bin") == data
    d.sync.push(data[::-1], "/data/local/tmp/new/dir/rev.bin")  # parents are created
    assert d.sync.read_bytes("/data/local/tmp/new/dir/rev.bin") == data[::-1]

    # push into a directory, errors for read-only places and missing files
    r = adb(simulator, "push", str(src), "/sdcard/")
    assert r.returncode == 0 and simulator.device.vfs.read("/sdcard/rand.bin") == data
    r = adb(simulator, "push", str(src), "/system/rand.bin")
    assert r.returncode == 1 and b"Read-only file system" in r.stdout + r.stderr
    r = adb(simulator, "pull", "/sdcard/missing.bin", str(tmp_path / "x"))
    assert r.returncode == 1 and b"No such file or directory" in r.stdout + r.stderr


def test_shell_ls_stat_and_sync_stat(simulator: Simulator) -> None:
    d = dev(simulator)
    d.sync.push(b"12345", "/sdcard/Documents/five.txt", mode=0o644)
    assert "five.txt" in d.shell("ls /sdcard/Documents").split()
    assert d.shell("stat -c '%s %a %F' /sdcard/Documents/five.txt") == "5 644 regular file"
    assert "-rw-r--r--" in d.shell("ls -l /sdcard/Documents/five.txt")
    info = d.sync.stat("/sdcard/Documents/five.txt")
    assert info.size == 5 and info.mode & 0o170000 == 0o100000
    assert d.sync.stat("/sdcard").mode & 0o170000 == 0o040000
    assert d.sync.stat("/sdcard/nothing").mtime is None
    names = {f.path for f in d.sync.list("/sdcard/Documents")}
    assert {".", "..", "five.txt"} <= names
    r = adb(simulator, "shell", "ls", "/sdcard/nothing")
    assert r.returncode == 1 and b"No such file or directory" in r.stderr
    # the storage aliases point at the same files
    assert d.shell("cat /storage/emulated/0/Documents/five.txt") == "12345"


def test_uiautomator_dump_and_pull(home_simulator: Simulator) -> None:
    assert (
        home_simulator.phone.current_focus()[0] == "com.android.launcher3" and not home_simulator.command_log
    )
    d = dev(home_simulator)
    out = d.shell("uiautomator dump")
    assert out == "UI hierchary dumped to: /sdcard/window_dump.xml"
    xml = d.sync.read_text("/sdcard/window_dump.xml")
    assert xml.startswith("<?xml") and "<hierarchy" in xml
    assert d.dump_hierarchy().startswith("<?xml")  # adbutils: rm -f; dump to /data/local/tmp; pull


# -------------------------------------------------------------------------------- screen capture


def test_framebuffer_and_screencap(simulator: Simulator) -> None:
    phone = simulator.phone
    size = (phone.width, phone.height)
    d = dev(simulator)
    fb = d.framebuffer()
    assert fb.size == size and fb.mode == "RGBA"
    r = adb(simulator, "exec-out", "screencap -p")
    png = Image.open(io.BytesIO(r.stdout))
    assert png.format == "PNG" and png.size == size
    r = adb(simulator, "shell", "screencap -p")  # shell v2 without a pty is binary-safe
    assert Image.open(io.BytesIO(r.stdout)).size == size
    for _ in range(3):  # the status bar clock may tick between two captures
        shot = d.screenshot(error_ok=False)
        if shot.tobytes() == phone.render().tobytes():
            break
    else:
        pytest.fail("screenshot() differs from the phone's own rendering")
    assert fb.convert("RGB").getpixel((size[0] // 2, size[1] // 2)) == shot.getpixel(
        (size[0] // 2, size[1] // 2)
    )
    raw = d.shell("screencap", encoding=None)
    w, h, fmt = struct.unpack("<3I", raw[:12])
    assert (w, h, fmt) == (*size, 1) and len(raw) == 16 + w * h * 4


def test_secure_screens_capture_black(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    secure = [
        a.package
        for a in sim.phone.packages()
        if a.launcher and getattr(sim.phone.app(a.package), "secure", False)
    ]
    if not secure:
        pytest.skip("the simulated phone has no FLAG_SECURE app")
    d = dev(sim)
    d.app_start(secure[0])
    assert sim.phone.is_secure()
    shot = d.screenshot(error_ok=False)
    assert shot.size == (sim.phone.width, sim.phone.height) and shot.getextrema() == ((0, 0), (0, 0), (0, 0))
    assert d.framebuffer().convert("RGB").getextrema() == ((0, 0), (0, 0), (0, 0))
    assert "SECURE" in d.shell("dumpsys window windows")
    d.keyevent("HOME")
    assert d.screenshot(error_ok=False).convert("L").getextrema() != (0, 0)


def test_concurrent_streams(simulator: Simulator) -> None:
    d = dev(simulator)
    errors: list[str] = []

    def work(i: int) -> None:
        try:
            for j in range(4):
                assert d.shell(f"echo w{i}-{j}") == f"w{i}-{j}"
                assert d.screenshot(error_ok=False).size == (simulator.phone.width, simulator.phone.height)
                assert d.shell2(f"exit {i + 1}", v2=True).returncode == i + 1
                assert d.sync.stat("/sdcard").mode & 0o040000
        except Exception as e:  # collected and asserted below
            errors.append(f"{i}: {e!r}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


# ------------------------------------------------------------------------------ adbutils Device API


def test_adbutils_device_api(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    phone = sim.phone
    d = dev(sim)
    assert d.window_size() == (phone.width, phone.height)
    assert d.rotation() == 0
    home = d.app_current()
    assert (home.package, home.activity) == phone.current_focus()

    packages = d.list_packages()
    assert "com.android.settings" in packages and packages == sorted(packages)
    third, system = set(d.list_packages(["-3"])), set(d.list_packages(["-s"]))
    assert third | system == set(packages) and not third & system
    assert "com.android.adbkeyboard" in third and "com.android.settings" in system
    info = d.app_info("com.android.settings")
    assert info is not None and info.path.endswith(".apk")
    assert d.app_info("com.nope.nothing") is None

    d.app_start("com.android.settings")
    assert d.app_current().package == "com.android.settings" == phone.current_focus()[0]
    d.app_stop("com.android.settings")
    assert phone.current_focus()[0] != "com.android.settings"
    pkg, act = next((a.package, a.activity) for a in phone.packages() if a.package == "com.android.settings")
    d.app_start(pkg, act)
    assert phone.current_focus()[0] == pkg
    d.keyevent("HOME")
    assert phone.current_focus() == (home.package, home.activity)

    before = phone.version
    d.swipe(phone.width // 2, phone.height * 3 // 4, phone.width // 2, phone.height // 4, 0.3)
    d.click(phone.width // 2, phone.height // 2)
    assert phone.version >= before
    assert d.is_screen_on() is True
    assert [r.argv[0][:2] for r in sim.command_log if r.argv and r.argv[0][0] == "input"][-2:] == [
        ["input", "swipe"],
        ["input", "tap"],
    ]


def test_send_keys_and_input_text_rules(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    focus_a_text_field(sim)
    d = dev(sim)
    d.send_keys("hi%sthere")  # Android's `input text`: %s is a space
    assert sim.phone.state.focused_text == "hi there"
    d.shell("input keyevent KEYCODE_MOVE_END 67 67")
    assert sim.phone.state.focused_text == "hi the"
    res = d.shell2(["input", "text", "你好"], v2=True)
    assert res.returncode == 255 and "Exception occurred while executing 'text'" in res.stderr
    assert sim.phone.state.focused_text == "hi the"
    assert android_input_text("100%") == "100%" and android_input_text("%%s") == "% "


def test_adb_keyboard_broadcast_types_chinese_exactly(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    focus_a_text_field(sim)
    d = dev(sim)
    text = "你好，世界 🌍 café"
    b64 = base64.b64encode(text.encode()).decode()
    # not the current IME: the broadcast is delivered but nothing is typed
    out = d.shell(["am", "broadcast", "-a", "ADB_INPUT_B64", "--es", "msg", b64])
    assert out.endswith("Broadcast completed: result=0")
    assert sim.phone.state.focused_text == ""

    assert ADB_KEYBOARD_IME in d.shell("ime list -s -a").split()
    assert d.shell(f"ime enable {ADB_KEYBOARD_IME}").startswith(f"Input method {ADB_KEYBOARD_IME}")
    assert d.shell(f"ime set {ADB_KEYBOARD_IME}") == f"Input method {ADB_KEYBOARD_IME} selected for user #0"
    assert d.shell("settings get secure default_input_method") == ADB_KEYBOARD_IME
    out = d.shell(
        ["am", "broadcast", "-a", "ADB_INPUT_B64", "--es", "msg", b64, "-p", "com.android.adbkeyboard"]
    )
    assert out.splitlines() == [
        "Broadcasting: Intent { act=ADB_INPUT_B64 flg=0x400000 pkg=com.android.adbkeyboard (has extras) }",
        "Broadcast completed: result=0",
    ]
    assert sim.phone.state.focused_text == text
    d.shell("am broadcast -a ADB_CLEAR_TEXT")
    assert sim.phone.state.focused_text == ""
    d.shell(["am", "broadcast", "-a", "ADB_INPUT_TEXT", "--es", "msg", "plain text"])
    assert sim.phone.state.focused_text == "plain text"


def test_hostile_text_is_typed_literally(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    d = dev(sim)
    d.sync.push(b"keep me", "/sdcard/keep.txt")
    focus_a_text_field(sim)
    sim.clear_command_log()
    d.send_keys(HOSTILE)  # adbutils quotes it: input text 'a'"'"'; rm -rf /sdcard; echo '"'"''
    assert sim.phone.state.focused_text == HOSTILE
    second = "'; rm /sdcard/keep.txt; echo '"
    d.shell(["echo", second])
    d.shell2(["input", "text", second], v2=True)
    assert sim.phone.state.focused_text == HOSTILE + second
    assert d.sync.read_bytes("/sdcard/keep.txt") == b"keep me"
    assert sim.device.vfs.is_dir("/sdcard/Download")
    programs = [argv[0] for rec in sim.command_log for argv in rec.argv]
    assert "rm" not in programs and programs.count("input") == 2
    typed = [rec for rec in sim.command_log if rec.argv == [["input", "text", HOSTILE]]]
    assert len(typed) == 1 and typed[0].command == shlex.join(["input", "text", HOSTILE])


def test_launch_by_monkey_am_and_resolve(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    d = dev(sim)
    comps = d.shell(
        "cmd package query-activities --components -a android.intent.action.MAIN -c android.intent.category.LAUNCHER"
    ).split()
    launchable = {a.package for a in sim.phone.packages() if a.launcher}
    assert {c.split("/")[0] for c in comps} == launchable
    brief = d.shell("cmd package resolve-activity --brief com.android.settings").splitlines()
    assert brief[0].startswith("priority=") and brief[1] in comps
    assert "No activity found" in d.shell("cmd package resolve-activity --brief com.nope")

    out = d.shell("monkey -p com.android.settings -c android.intent.category.LAUNCHER 1")
    assert "Events injected: 1" in out and sim.phone.current_focus()[0] == "com.android.settings"
    res = d.shell2("monkey -p com.nope -c android.intent.category.LAUNCHER 1", v2=True)
    assert res.returncode == 252 and "No activities found" in res.stderr
    d.keyevent("KEYCODE_HOME")
    out = d.shell(f"am start -W -n {brief[1]}")
    assert out.startswith(f"Starting: Intent {{ cmp={brief[1]} }}") and "Status: ok" in out
    assert sim.phone.current_focus()[0] == "com.android.settings"
    res = d.shell2("am start -n com.nope/.Main", v2=True)
    assert res.returncode == 1 and "does not exist" in res.stderr
    focus = d.shell("dumpsys window windows | grep -E 'mCurrentFocus|mFocusedApp'").splitlines()
    assert len(focus) == 2 and "com.android.settings/" in focus[0]
    assert "mResumedActivity: ActivityRecord{" in d.shell("dumpsys activity activities")


def test_settings_wm_getprop_and_misc(simulator: Simulator) -> None:
    d = dev(simulator)
    phone = simulator.phone
    assert d.shell("wm size") == f"Physical size: {phone.width}x{phone.height}"
    assert d.shell("wm density") == f"Physical density: {phone.density}"
    assert f"real {phone.width} x {phone.height}" in d.shell("dumpsys display")
    d.shell("settings put system screen_brightness 77")
    assert d.shell("settings get system screen_brightness") == "77"
    assert "screen_brightness=77" in d.shell("settings list system").splitlines()
    assert d.shell("settings get global no_such_key_here") == "null"
    d.shell("svc wifi disable")
    assert d.shell("settings get global wifi_on") == "0"
    d.shell("svc wifi enable")
    assert d.shell("settings get global wifi_on") == "1"
    props = d.shell("getprop")
    assert "[sys.boot_completed]: [1]" in props and "[ro.build.version.release]: [14]" in props
    assert d.shell("getprop no.such.prop") == ""
    assert d.shell("which input screencap nosuch; echo $?").splitlines() == [
        "/system/bin/input",
        "/system/bin/screencap",
        "1",
    ]
    res = d.shell2("cmd clipboard get", v2=True)
    assert res.returncode != 0


# ------------------------------------------------------------------------------ log and lifecycle


def test_command_log_records_every_line(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    d = dev(sim)
    t0 = time.time()
    d.shell("echo one; echo two")
    d.shell2("true", v2=True)
    adb(sim, "exec-out", "echo three")
    log = sim.command_log
    assert [(r.service, r.command) for r in log[-3:]] == [
        ("shell", "echo one; echo two"),
        ("shell,v2", "true"),
        ("exec", "echo three"),
    ]
    assert log[-3].argv == [["echo", "one"], ["echo", "two"]] and log[-3].exit_code == 0
    assert all(t0 - 1 <= r.timestamp <= time.time() for r in log[-3:])
    log[-1].command = "mutated"
    assert sim.command_log[-1].command == "echo three"  # readers get copies


def test_vfs_protects_read_only_places() -> None:
    vfs = VirtualFS()
    with pytest.raises(OSError, match="Read-only"):
        vfs.write("/system/x", b"")
    with pytest.raises(OSError, match="Read-only"):
        vfs.remove("/sdcard", recursive=True)
    vfs.write("/sdcard/a/b/c.txt", b"x")
    assert vfs.is_dir("/sdcard/a/b") and vfs.read("/storage/emulated/0/a/b/c.txt") == b"x"
    vfs.remove("/sdcard/a", recursive=True)
    assert not vfs.exists("/sdcard/a/b/c.txt")


def test_simulator_rejects_emulator_ports() -> None:
    with pytest.raises(SimulatorError, match="5554-5585"):
        Simulator(port=5555, connect=False)
    with pytest.raises(SimulatorError):
        Simulator(port=20001, connect=False)


@pytest.mark.slow
def test_reconnect_after_restart_on_the_same_port(fresh_simulator: Simulator) -> None:
    """The simulator dies (no disconnect) and comes back on its port: the adb server, not us, reconnects."""
    sim = fresh_simulator
    client = adbutils.AdbClient(host=sim.adb_host, port=sim.adb_port)
    port = sim.port
    dev(sim).sync.push(b"survives", "/sdcard/state.txt")

    def state() -> str | None:
        return {i.serial: i.state for i in client.list()}.get(sim.serial)

    sim.stop(disconnect=False)
    time.sleep(1.5)  # long enough for the adb server's first reconnect attempt to fail
    assert state() == "offline"
    sim.connect = False  # no `adb connect` from our side
    t0 = time.monotonic()
    sim.start()
    while state() != "device":
        assert time.monotonic() - t0 < 90, "the adb server did not reconnect to the simulator"
        time.sleep(0.1)
    print(f"\nthe adb server reconnected after {time.monotonic() - t0:.1f} s")
    sim.connect = True
    assert sim.port == port
    assert dev(sim).shell("cat /sdcard/state.txt") == "survives"
    out = subprocess.run(["adb", "devices"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert [line.split("\t")[1] for line in out.splitlines() if line.startswith(sim.serial + "\t")] == [
        "device"
    ]

    sim.restart(timeout=90)  # the helper for the same thing (waits for the adb server)
    assert dev(sim).shell("echo again") == "again"


def test_serve_forever_runs_until_sigterm() -> None:
    code = (
        "from autoglm_agent.sim.runner import serve_forever\n"
        "serve_forever(seed=1, on_ready=lambda sim: print('READY', sim.serial, flush=True))\n"
        "print('STOPPED', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:1] == ["READY"], proc.stderr.read() if proc.stderr else line
        serial = line[1]
        r = subprocess.run(
            ["adb", "-s", serial, "shell", "echo up"], capture_output=True, timeout=30, check=False
        )
        assert r.stdout == b"up\n"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "STOPPED" in out
        listed = subprocess.run(
            ["adb", "devices"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        assert serial not in listed  # disconnected on the way out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_round_trip_timings(simulator: Simulator) -> None:
    d = dev(simulator)
    for name, fn in (
        ("shell echo", lambda: d.shell("echo x")),
        ("shell,v2 echo", lambda: d.shell2("echo x", v2=True)),
        ("screencap -p", lambda: d.shell("screencap -p", encoding=None)),
        ("framebuffer:", d.framebuffer),
    ):
        fn()
        times = []
        for _ in range(8):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        times.sort()
        print(f"\n{name:>14}: median {times[len(times) // 2] * 1000:.1f} ms, min {times[0] * 1000:.1f} ms")
