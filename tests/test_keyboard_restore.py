"""The user's keyboard comes back after each Type, as with the official Open-AutoGLM client.

Real parts only: the simulated phone served over the adbd protocol, the real adb server, and
``AdbDevice``. A Type action is what the executor does: ``clear_text()`` then ``type_text(text)``.
What ran on the phone is read from the simulator's command log (the argv of every simple command
its shell executed).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from autoglm_agent.device.adb import AdbDevice
from autoglm_agent.device.base import TextInputError
from autoglm_agent.device.text import ADB_KEYBOARD_IME, IME_SWITCH_SETTLE_S
from autoglm_agent.sim.phone import LATIN_IME, Phone
from autoglm_agent.sim.runner import Simulator

HOSTILE = [
    "a'; rm -rf /sdcard; echo '",
    '$(reboot) `id` "q" \\ | > < * ? ~ # & %s 100%',
    "你好'; reboot; echo '世界 $(id)",
]


# --------------------------------------------------------------------------- helpers


def _ran(sim: Simulator, program: str) -> list[list[str]]:
    """Every simple command with this program name that the phone's shell executed, in order."""
    return [argv for rec in sim.command_log for argv in rec.argv if argv and argv[0] == program]


def _ime_sets(sim: Simulator) -> list[str]:
    """The IME ids given to ``ime set``, in order."""
    return [a[2] for a in _ran(sim, "ime") if a[1:2] == ["set"]]


def _current_ime(dev: AdbDevice) -> str:
    """``settings get secure default_input_method``, asked through adb like any other command."""
    return dev.shell("settings", "get", "secure", "default_input_method").text.strip()


def _open_new_note(dev: AdbDevice, sim: Simulator) -> None:
    dev.launch("notes")
    for node in ET.fromstring(dev.ui_tree()).iter("node"):
        if node.get("resource-id", "").endswith("new_note"):
            x1, y1, x2, y2 = map(int, re.findall(r"\d+", node.get("bounds", "")))
            dev.tap((x1 + x2) // 2, (y1 + y2) // 2)
            break
    assert sim.phone.state.focused_field == "body"


def _type_action(dev: AdbDevice, text: str) -> None:
    """A Type action, as the executor runs it."""
    dev.clear_text()
    dev.type_text(text)


def _adb_keyboard_bar_shown(sim: Simulator) -> bool:
    """ADB Keyboard's "{ON}" bar is on screen (the simulator draws it instead of the QWERTY keys)."""
    return sim.phone.tree().find(lambda n: n.text == "ADB Keyboard {ON}") is not None


def _qwerty_shown(sim: Simulator) -> bool:
    return sim.phone.tree().find(lambda n: n.cls.endswith("Keyboard$Key") and n.text == "q") is not None


@pytest.fixture
def sim(home_simulator: Simulator) -> Simulator:
    return home_simulator


@pytest.fixture
def dev(sim: Simulator) -> Iterator[AdbDevice]:
    with AdbDevice(sim.serial, timeout=10, ime_settle_s=0) as d:
        assert d.text_input_strategy == "adbkeyboard"
        _open_new_note(d, sim)
        sim.clear_command_log()
        yield d


# --------------------------------------------------------------------------- the normal case


def test_chinese_is_typed_and_the_users_keyboard_is_back(dev: AdbDevice, sim: Simulator) -> None:
    assert _current_ime(dev) == LATIN_IME
    _type_action(dev, "你好，世界 🎉")
    assert sim.phone.state.focused_text == "你好，世界 🎉"
    assert _current_ime(dev) == LATIN_IME
    # the screen after the Type is the phone as its user has it: the QWERTY keyboard, no ADB bar
    assert _qwerty_shown(sim) and not _adb_keyboard_bar_shown(sim)
    assert _ime_sets(sim) == [ADB_KEYBOARD_IME, LATIN_IME]
    # a second Type: ADB Keyboard is already enabled, so only a set and a set back
    sim.clear_command_log()
    _type_action(dev, "再见")
    assert sim.phone.state.focused_text == "再见"
    assert _current_ime(dev) == LATIN_IME
    assert [a[1] for a in _ran(sim, "ime")] == ["set", "set"]


def test_at_most_two_ime_sets_per_type(dev: AdbDevice, sim: Simulator) -> None:
    for text in ["one", "二", "three 3", "四 four", "x" * 3000]:  # the last one is several broadcasts
        sim.clear_command_log()
        _type_action(dev, text)
        assert sim.phone.state.focused_text == text
        assert len(_ime_sets(sim)) <= 2
        assert sim.phone.state.ime == LATIN_IME
    sim.clear_command_log()
    dev.type_text(" more")  # a type without a clear: one switch and one restore too
    assert sim.phone.state.focused_text == "x" * 3000 + " more"
    assert _ime_sets(sim) == [ADB_KEYBOARD_IME, LATIN_IME]
    assert [a[1] for a in _ran(sim, "ime")].count("enable") == 0  # enabled once, by the first Type


def test_the_keyboard_shown_while_typing_is_adb_keyboard(dev: AdbDevice, sim: Simulator) -> None:
    """The simulator draws the difference: between the clear and the type ADB Keyboard's bar is
    on screen; after the type the QWERTY keyboard is back."""
    assert _qwerty_shown(sim)
    dev.clear_text()
    assert sim.phone.state.ime == ADB_KEYBOARD_IME and _adb_keyboard_bar_shown(sim)
    dev.type_text("hi")
    assert sim.phone.state.ime == LATIN_IME and _qwerty_shown(sim)


@pytest.mark.parametrize("capture", ["screencap", "framebuffer"])
def test_a_clear_alone_does_not_leave_adb_keyboard_on(sim: Simulator, capture: str) -> None:
    with AdbDevice(sim.serial, timeout=10, ime_settle_s=0, capture=capture) as d:  # type: ignore[arg-type]
        _open_new_note(d, sim)
        d.type_text("old")
        sim.clear_command_log()
        d.clear_text()
        assert sim.phone.state.focused_text == ""
        d.screenshot()  # the next command gives the keyboard back first: the capture shows it
        assert sim.phone.state.ime == LATIN_IME
        assert _ime_sets(sim) == [ADB_KEYBOARD_IME, LATIN_IME]
        if capture == "screencap":
            order = [rec.command for rec in sim.command_log]
            assert order.index("screencap -p") > max(
                i for i, c in enumerate(order) if c.startswith("ime set")
            )
        d.clear_text()
        assert sim.phone.state.ime == ADB_KEYBOARD_IME
    assert sim.phone.state.ime == LATIN_IME  # close() restored it


def test_empty_text_after_a_clear_restores(dev: AdbDevice, sim: Simulator) -> None:
    dev.type_text("abc")
    _type_action(dev, "")  # Type with empty text: the field is cleared, the keyboard given back
    assert sim.phone.state.focused_text == ""
    assert sim.phone.state.ime == LATIN_IME


def test_the_switch_waits_for_adb_keyboard_only_when_it_switched(sim: Simulator) -> None:
    with AdbDevice(sim.serial, timeout=10) as d:  # the default settle time
        _open_new_note(d, sim)
        d.clear_text()  # resolves the strategy, switches, waits
        t0 = time.monotonic()
        d.type_text("a")  # still on since the clear: no second wait
        d.type_text("b")  # switches again: waits
        took = time.monotonic() - t0
        assert took >= IME_SWITCH_SETTLE_S
        assert sim.phone.state.focused_text == "ab"


# --------------------------------------------------------------------------- ADB Keyboard already on


def test_adb_keyboard_as_the_users_keyboard_means_no_ime_commands(sim: Simulator) -> None:
    """Also what a crashed run of an older version leaves behind: it cannot be told from a phone
    set up that way, so it is left alone (see TextInputter)."""
    sim.phone.put_setting("secure", "enabled_input_methods", f"{LATIN_IME}:{ADB_KEYBOARD_IME}")
    sim.phone.put_setting("secure", "default_input_method", ADB_KEYBOARD_IME)
    with AdbDevice(sim.serial, timeout=10, ime_settle_s=0) as d:
        _open_new_note(d, sim)
        sim.clear_command_log()
        for text in ["你好", "hello", "a'; reboot; echo '"]:
            _type_action(d, text)
            assert sim.phone.state.focused_text == text
        d.clear_text()
        d.screenshot()
    assert not _ran(sim, "ime")
    assert sim.phone.state.ime == ADB_KEYBOARD_IME
    # one `settings get` per Type, nothing more around the broadcasts
    assert len(_ran(sim, "settings")) == 4


def test_adb_keyboard_found_on_after_the_users_ime_was_seen_is_switched_back(
    dev: AdbDevice, sim: Simulator
) -> None:
    """The remembered IME is the user's, never ADB Keyboard: if ADB Keyboard is on at the start of
    a Type (a restore lost to a dropped connection, say), the user's IME still comes back."""
    _type_action(dev, "first")
    sim.phone.put_setting("secure", "default_input_method", ADB_KEYBOARD_IME)  # left on somehow
    sim.clear_command_log()
    _type_action(dev, "second")
    assert sim.phone.state.focused_text == "second"
    assert sim.phone.state.ime == LATIN_IME
    assert _ime_sets(sim) == [LATIN_IME]


# --------------------------------------------------------------------------- no ADB Keyboard


def test_without_adb_keyboard_ascii_uses_input_text_and_unicode_is_refused(simulator: Simulator) -> None:
    simulator.reset(Phone(seed=0, adb_keyboard=False))
    simulator.clear_command_log()
    sim = simulator
    with AdbDevice(sim.serial, timeout=10) as d:
        assert d.text_input_strategy == "input"
        _open_new_note(d, sim)
        for text in ["plain ASCII, 100% sure: 50%sale", *HOSTILE[:2]]:
            _type_action(d, text)
            assert sim.phone.state.focused_text == text
        with pytest.raises(TextInputError, match="ADB Keyboard"):
            d.type_text("你好")
        assert sim.phone.state.focused_text == HOSTILE[1]
    assert not _ran(sim, "ime") and not [a for a in _ran(sim, "am") if a[1] == "broadcast"]
    assert any(a[:2] == ["input", "text"] for a in _ran(sim, "input"))
    assert sim.phone.state.ime == LATIN_IME
    with (
        AdbDevice(sim.serial, timeout=10, text_input="adbkeyboard") as d,
        pytest.raises(TextInputError, match="not installed"),
    ):
        d.type_text("x")


# --------------------------------------------------------------------------- quoting


@pytest.mark.parametrize("text", HOSTILE, ids=["quote", "metachars", "unicode"])
def test_shell_metacharacters_are_typed_literally(dev: AdbDevice, sim: Simulator, text: str) -> None:
    _type_action(dev, text)
    assert sim.phone.state.focused_text == text
    assert sim.phone.state.ime == LATIN_IME
    programs = {a[0] for rec in sim.command_log for a in rec.argv if a}
    assert programs <= {"settings", "ime", "am", "screencap"}, programs


def test_an_ime_id_read_from_the_phone_is_quoted(sim: Simulator) -> None:
    """The IME id comes from the phone: it reaches `ime set` as one literal argument."""
    odd = "com.example.kbd/.Ime$HOME"  # looks like an IME id; `$HOME` must not expand
    hostile = "com.x/.Y; touch /sdcard/pwned"  # not an IME id at all: restored with `ime reset`
    for user_ime, restore in [(odd, ["ime", "set", odd]), (hostile, ["ime", "reset"])]:
        sim.reset()
        sim.phone.put_setting("secure", "default_input_method", user_ime)
        sim.clear_command_log()
        with AdbDevice(sim.serial, timeout=10, ime_settle_s=0) as d:
            _open_new_note(d, sim)
            _type_action(d, "你好")
            assert sim.phone.state.focused_text == "你好"
        ime = _ran(sim, "ime")
        assert restore in ime
        assert not _ran(sim, "touch")
        assert not sim.device.vfs.exists("/sdcard/pwned")
