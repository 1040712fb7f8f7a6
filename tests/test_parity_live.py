"""Parity with the official AutoGLM client, live: the same episode through both, on the same phone.

The official client (``phone-agent`` 0.1.1, Open-AutoGLM's ``PhoneAgent``) and ours each drive a
fresh simulated phone (same seed, same frozen clock) through the real adb server, answered by the
same five scripted model replies (Launch, Tap, Type, Swipe, finish). The test proves that:

1. the same gestures reach the device: both command logs, reduced to a normalized sequence of
   taps, swipes (with their durations), text, clears, launches and keys, are equal (1 px tolerance
   on coordinates: the reference truncates ``x/1000*width``, we round);
2. the keyboard is given back: both phones end on the user's own IME;
3. the phones end in the same state: the whole ``sim.phone`` snapshot is equal (a diff is printed
   otherwise), and it is the expected one (the contact editor, its name field holding 张三).

The requests each client sent to the scripted endpoint are compared too, but only reported (run
with ``-s`` to read them): they are input for the ``autoglm`` profile's work, not a contract.

The reference comes from ``autoglm_agent.reference.load()`` (the cached, SHA-256-pinned wheel that
``scripts/setup.sh`` fetches); without it the test fails and says how to get it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import difflib
import io
import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from PIL import Image, ImageChops

from autoglm_agent.actions import to_grid
from autoglm_agent.reference import load
from autoglm_agent.sim.phone import ADB_IME, LATIN_IME, Phone
from autoglm_agent.sim.runner import Simulator
from autoglm_agent.sim.shell import CommandRecord
from autoglm_agent.testing.scripted import ScriptedEndpoint

FROZEN = datetime(2026, 12, 6, 9, 41)
SEED = 0
MODEL = "autoglm-phone-9b"
TASK = "新建联系人，姓名填张三"
CONTACTS = "com.android.contacts"
NAME = "张三"
#: 0-1000 grid; 0.85 -> 0.15 of a 1600 px screen is 1120 px, so the reference's duration rule
#: (squared distance / 1000, clamped to 1000-2000 ms) gives 1254 ms, strictly inside the clamp.
SWIPE_FROM, SWIPE_TO = (500, 850), (500, 150)
MAX_STEPS = 6  # one more than the script: a client that asks again hits "script exhausted"

Gesture = tuple[Any, ...]


# ------------------------------------------------------------------------------------ the episode


def _fab_on_grid() -> tuple[int, int]:
    """Grid point of the contacts list's "Create contact" button, which opens the editor with
    the name field focused, read from the simulated phone's own UI tree."""
    phone = Phone(seed=SEED, clock=lambda: FROZEN)
    assert phone.launch_package(CONTACTS)
    root = ET.fromstring(phone.ui_hierarchy_xml())
    for node in root.iter("node"):
        if node.attrib.get("resource-id") == f"{CONTACTS}:id/floating_action_button":
            x1, y1, x2, y2 = (int(v) for v in node.attrib["bounds"].replace("][", ",").strip("[]").split(","))
            gx, gy = to_grid((x1 + x2) / 2, (y1 + y2) / 2, phone.width, phone.height)
            return gx, gy
    raise AssertionError("the contacts list shows no create-contact button")


def _script() -> list[str]:
    """The model's answers, as the real model streams them: no closing ``</answer>`` (the
    reference's parser slices ``text="..."`` and ``message="..."`` by position and needs that)."""
    fx, fy = _fab_on_grid()
    (sx, sy), (ex, ey) = SWIPE_FROM, SWIPE_TO
    return [
        '<think>先打开联系人应用</think><answer>do(action="Launch", app="Contacts")',
        f'<think>点击新建联系人按钮</think><answer>do(action="Tap", element=[{fx},{fy}])',
        f'<think>在姓名栏输入张三</think><answer>do(action="Type", text="{NAME}")',
        f'<think>向上滑动查看更多</think><answer>do(action="Swipe", start=[{sx},{sy}], end=[{ex},{ey}])',
        '<think>姓名已填好</think><answer>finish(message="已填写联系人姓名张三")',
    ]


# ------------------------------------------------------------------------------------ fixtures


def _reference() -> Any:
    ref = load()
    if ref is None:
        pytest.fail(
            "the official AutoGLM client (phone-agent 0.1.1) is not available: "
            "run scripts/setup.sh, or `autoglm-agent reference fetch`, to put its wheel in the cache",
            pytrace=False,
        )
    return ref


@pytest.fixture
def phones() -> Iterator[tuple[Simulator, Simulator]]:
    """Two fresh simulated phones, same seed, same frozen clock: (reference's, ours)."""
    if shutil.which("adb") is None:
        pytest.skip("the adb binary is not on PATH (Debian: apt install adb); the reference client calls it")
    sims: list[Simulator] = []
    try:
        for _ in range(2):
            sim = Simulator(seed=SEED).start()
            sims.append(sim)
            sim.phone.clock = lambda: FROZEN
        yield sims[0], sims[1]
    finally:
        for sim in sims:
            sim.stop()


@pytest.fixture
def reference_without_sleeps() -> Iterator[None]:
    """The reference sleeps about 1 s after every action; its timing config is a module-level
    instance built at import: zero it for the test and put it back afterwards."""
    _reference()
    from phone_agent.config.timing import TIMING_CONFIG

    saved = {
        name: dataclasses.asdict(getattr(TIMING_CONFIG, name)) for name in ("action", "device", "connection")
    }
    for name in saved:
        section = getattr(TIMING_CONFIG, name)
        for field in dataclasses.fields(section):
            setattr(section, field.name, 0.0)
    try:
        yield
    finally:
        for name, values in saved.items():
            section = getattr(TIMING_CONFIG, name)
            for key, value in values.items():
                setattr(section, key, value)


# ------------------------------------------------------------------------------------ running both


def _run_reference(serial: str, script: list[str]) -> tuple[str, list[dict[str, Any]]]:
    from phone_agent.agent import AgentConfig as RefAgentConfig
    from phone_agent.agent import PhoneAgent as RefPhoneAgent
    from phone_agent.model import ModelConfig

    with ScriptedEndpoint(script) as ep:
        agent = RefPhoneAgent(
            model_config=ModelConfig(base_url=ep.base_url, model_name=MODEL, api_key="EMPTY"),
            agent_config=RefAgentConfig(device_id=serial, lang="cn", max_steps=MAX_STEPS, verbose=False),
        )
        message = agent.run(TASK)
        return message, list(ep.requests)


def _run_ours(serial: str, script: list[str]) -> tuple[Any, list[dict[str, Any]]]:
    from autoglm_agent.agent import AgentConfig, PhoneAgent
    from autoglm_agent.device import AdbDevice
    from autoglm_agent.llm import ChatAutoGLM

    with ScriptedEndpoint(script) as ep, AdbDevice(serial) as device:
        llm = ChatAutoGLM(base_url=ep.base_url, model=MODEL, max_retries=0)
        agent = PhoneAgent(
            device, llm, AgentConfig(profile="autoglm", settle_timeout_s=1.0, max_steps=MAX_STEPS)
        )
        result = agent.run(TASK)
        return result, list(ep.requests)


# ------------------------------------------------------------------------------------ gestures

#: Commands that only read the phone (or are the reference's screenshot file handling).
_READ_ONLY = {
    "screencap", "dumpsys", "getprop", "wm", "pm", "uiautomator", "cat", "ls", "rm", "echo",
    "true", "id", "whoami", "sleep", "date", "stat", "mkdir", "base64", "content",
}  # fmt: skip
_KEYS = {
    "3": "home",
    "KEYCODE_HOME": "home",
    "HOME": "home",
    "4": "back",
    "KEYCODE_BACK": "back",
    "BACK": "back",
}


def _opt(args: list[str], flag: str) -> str | None:
    """The value after ``flag`` in ``args`` (None when absent or last)."""
    if flag in args and args.index(flag) + 1 < len(args):
        return args[args.index(flag) + 1]
    return None


def _extra(args: list[str], key: str) -> str | None:
    """The string extra ``key`` of an intent (``--es key value``); None when absent or valueless."""
    for i in range(len(args) - 2):
        if args[i] in ("--es", "-e") and args[i + 1] == key:
            return args[i + 2]
    return None


def _broadcast(args: list[str]) -> Gesture | None:
    action = _opt(args, "-a")
    if action == "ADB_CLEAR_TEXT":
        return ("clear",)
    if action in ("ADB_INPUT_B64", "ADB_INPUT_TEXT"):
        msg = _extra(args, "msg")
        if not msg:  # the reference's keyboard "warm-up": an empty msg (adb drops the empty argument)
            return None
        if action == "ADB_INPUT_TEXT":
            return ("text", msg)
        try:
            return ("text", base64.b64decode(msg).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError):
            return ("text?", msg)
    return ("other", "am", "broadcast", *args)


def _one(argv: list[str], imes: list[tuple[str, ...]]) -> Gesture | None:
    """The normalized gesture for one simple command, None for a read-only one; IME switches go
    to ``imes`` instead."""
    prog, args = argv[0].rsplit("/", 1)[-1], argv[1:]
    if prog in _READ_ONLY:
        return None
    if prog == "settings" and args[:1] in (["get"], ["list"]):
        return None
    if (
        prog == "cmd"
        and args[:1] == ["package"]
        and args[1:2] in (["query-activities"], ["list"], ["resolve-activity"])
    ):
        return None
    if prog == "ime" or (prog == "cmd" and args[:1] == ["input_method"]):
        sub = args[1:] if prog == "cmd" else args
        if sub[:1] in (["list"], []):
            return None
        imes.append(tuple(sub))
        return None
    if prog == "input" and args:
        sub, rest = args[0], args[1:]
        if sub == "tap" and len(rest) == 2:
            return ("tap", int(rest[0]), int(rest[1]))
        if sub == "swipe" and len(rest) in (4, 5):
            duration = int(rest[4]) if len(rest) == 5 else None
            return ("swipe", *(int(v) for v in rest[:4]), duration)
        if sub == "text" and rest:
            return ("text", " ".join(rest).replace("%s", " "))
        if sub == "keyevent" and rest:
            return ("key", *(_KEYS.get(k, k) for k in rest))
    if prog == "monkey" and (pkg := _opt(args, "-p")):
        return ("launch", pkg)
    if prog == "am" and args[:1] == ["start"] and (component := _opt(args, "-n")):
        return ("launch", component.split("/", 1)[0])
    if prog == "am" and args[:1] == ["broadcast"]:
        return _broadcast(args[1:])
    return ("other", *argv)


def gestures(log: list[CommandRecord]) -> tuple[list[Gesture], list[tuple[str, ...]]]:
    """(normalized device actions, IME commands) from a simulator's command log."""
    out: list[Gesture] = []
    imes: list[tuple[str, ...]] = []
    for record in log:
        for argv in record.argv:
            if argv and (g := _one(argv, imes)) is not None:
                out.append(g)
    return out, imes


def _same_gesture(a: Gesture, b: Gesture) -> bool:
    if a[0] != b[0] or len(a) != len(b):
        return False
    if a[0] == "tap":
        return all(abs(p - q) <= 1 for p, q in zip(a[1:], b[1:], strict=True))
    if a[0] == "swipe":  # coordinates within 1 px, the duration exact
        return all(abs(p - q) <= 1 for p, q in zip(a[1:5], b[1:5], strict=True)) and a[5] == b[5]
    return a == b


# ------------------------------------------------------------------------------------ requests


def _image(url: str) -> tuple[Image.Image | None, str]:
    head, _, data = url.partition(",")
    try:
        return Image.open(io.BytesIO(base64.b64decode(data))), head
    except Exception:
        return None, head


def _part_kinds(content: Any) -> str:
    if isinstance(content, str):
        return "str"
    if isinstance(content, list):
        return (
            "["
            + ", ".join(str(p.get("type")) if isinstance(p, dict) else type(p).__name__ for p in content)
            + "]"
        )
    return type(content).__name__


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return []


def _images(content: Any) -> list[str]:
    if not isinstance(content, list):
        return []
    return [
        p["image_url"]["url"]
        for p in content
        if isinstance(p, dict) and p.get("type") == "image_url" and isinstance(p.get("image_url"), dict)
    ]


def _short(text: str, limit: int = 160) -> str:
    text = json.dumps(text, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def request_differences(ref: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[str]:
    """Every difference between the reference's request and ours, step by step, one line each."""
    lines: list[str] = []
    if len(ref) != len(ours):
        lines.append(f"request count: reference {len(ref)}, ours {len(ours)}")
    for step, (r, o) in enumerate(zip(ref, ours, strict=False), 1):
        at = f"step {step}"
        for key in sorted(set(r) | set(o)):
            if key == "messages":
                continue
            if key not in o:
                lines.append(f"{at}: `{key}` only in the reference's request ({json.dumps(r[key])})")
            elif key not in r:
                lines.append(f"{at}: `{key}` only in ours ({json.dumps(o[key])})")
            elif r[key] != o[key]:
                lines.append(f"{at}: `{key}`: reference {json.dumps(r[key])}, ours {json.dumps(o[key])}")
        rm, om = r.get("messages") or [], o.get("messages") or []
        if [m.get("role") for m in rm] != [m.get("role") for m in om]:
            lines.append(
                f"{at}: roles: reference {[m.get('role') for m in rm]}, ours {[m.get('role') for m in om]}"
            )
        for i, (a, b) in enumerate(zip(rm, om, strict=False)):
            where = f"{at} message {i} ({a.get('role')})"
            if set(a) != set(b):
                lines.append(f"{where}: keys: reference {sorted(a)}, ours {sorted(b)}")
            ca, cb = a.get("content"), b.get("content")
            if _part_kinds(ca) != _part_kinds(cb):
                lines.append(f"{where}: content shape: reference {_part_kinds(ca)}, ours {_part_kinds(cb)}")
            ta, tb = _texts(ca), _texts(cb)
            if ta != tb:
                if len(ta) == len(tb):
                    for x, y in zip(ta, tb, strict=True):
                        if x != y:
                            lines.append(f"{where}: text: reference {_short(x)}, ours {_short(y)}")
                else:
                    lines.append(f"{where}: text parts: reference {len(ta)}, ours {len(tb)}")
            ia, ib = _images(ca), _images(cb)
            if len(ia) != len(ib):
                lines.append(f"{where}: images: reference {len(ia)}, ours {len(ib)}")
            for k, (ua, ub) in enumerate(zip(ia, ib, strict=False)):
                (pa, ha), (pb, hb) = _image(ua), _image(ub)
                what = f"{where} image {k}"
                if ha != hb:
                    lines.append(f"{what}: data URL header: reference {ha!r}, ours {hb!r}")
                if pa is None or pb is None:
                    lines.append(f"{what}: undecodable (reference {pa is not None}, ours {pb is not None})")
                    continue
                if (pa.format, pa.size, pa.mode) != (pb.format, pb.size, pb.mode):
                    lines.append(
                        f"{what}: reference {pa.format} {pa.size} {pa.mode}, ours {pb.format} {pb.size} {pb.mode}"
                    )
                if pa.size == pb.size:
                    box = ImageChops.difference(pa.convert("RGB"), pb.convert("RGB")).getbbox()
                    if box is not None:
                        lines.append(f"{what}: pixels differ in the box {box}")
                if ua != ub:
                    lines.append(
                        f"{what}: encoded bytes differ (base64 length reference {len(ua)}, ours {len(ub)})"
                        + ("" if pa.size != pb.size or box is not None else "; same pixels")
                    )
    return lines


# ------------------------------------------------------------------------------------ state


def _state(sim: Simulator) -> dict[str, Any]:
    snap = sim.phone.snapshot()
    # reported separately: ours enables ADB Keyboard, the reference only selects it
    snap.pop("enabled_imes", None)
    snap["current_focus"] = list(sim.phone.current_focus())
    return snap


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    da = json.dumps(a, indent=1, sort_keys=True, ensure_ascii=False).splitlines()
    db = json.dumps(b, indent=1, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(da, db, "reference", "ours", lineterm=""))


# ------------------------------------------------------------------------------------ the test


def test_reference_and_ours_drive_the_phone_alike(phones, reference_without_sleeps) -> None:
    ref_sim, our_sim = phones
    script = _script()
    assert _reference().app_packages.get("Contacts") == CONTACTS
    assert ref_sim.phone.current_ime() == our_sim.phone.current_ime() == LATIN_IME

    ref_message, ref_requests = _run_reference(ref_sim.serial, script)
    result, our_requests = _run_ours(our_sim.serial, script)

    ref_gestures, ref_imes = gestures(ref_sim.command_log)
    our_gestures, our_imes = gestures(our_sim.command_log)
    differences = request_differences(ref_requests, our_requests)
    print("\nreference gestures:", ref_gestures, "\nour gestures:      ", our_gestures)
    print("reference IME commands:", ref_imes, "\nour IME commands:      ", our_imes)
    print(
        "enabled IMEs at the end: reference",
        ref_sim.phone.state.enabled_imes,
        "ours",
        our_sim.phone.state.enabled_imes,
    )
    print(f"request differences ({len(differences)}):")
    for line in differences:
        print("  " + line)

    # both runs went the whole way, each request answered once
    assert ref_message == "已填写联系人姓名张三", ref_message
    assert result.status == "success" and result.message == "已填写联系人姓名张三", (
        result.status,
        result.message,
    )
    assert len(ref_requests) == len(our_requests) == len(script), (len(ref_requests), len(our_requests))

    # 1. the same gestures, in the same order
    w, h = ref_sim.phone.width, ref_sim.phone.height
    fx, fy = _fab_on_grid()
    expected = [
        ("launch", CONTACTS),
        ("tap", int(fx / 1000 * w), int(fy / 1000 * h)),
        ("clear",),
        ("text", NAME),
        ("swipe", int(SWIPE_FROM[0] / 1000 * w), int(SWIPE_FROM[1] / 1000 * h),
         int(SWIPE_TO[0] / 1000 * w), int(SWIPE_TO[1] / 1000 * h), 1254),
    ]  # fmt: skip
    assert len(ref_gestures) == len(expected) and all(map(_same_gesture, ref_gestures, expected)), (
        f"the reference sent {ref_gestures}, expected {expected}"
    )
    mismatch = len(ref_gestures) != len(our_gestures) or not all(
        map(_same_gesture, ref_gestures, our_gestures)
    )
    assert not mismatch, f"different gestures:\n  reference {ref_gestures}\n  ours      {our_gestures}"

    # 2. both switched to ADB Keyboard for the text and gave the user's keyboard back
    for imes in (ref_imes, our_imes):
        assert ("set", ADB_IME) in imes and imes[-1] == ("set", LATIN_IME), imes
    assert ref_sim.phone.current_ime() == our_sim.phone.current_ime() == LATIN_IME

    # 3. the same phone at the end, and the one the episode aims at
    ref_state, our_state = _state(ref_sim), _state(our_sim)
    assert ref_state == our_state, "the phones ended differently:\n" + _diff(ref_state, our_state)
    st = our_sim.phone.state
    assert st.foreground == CONTACTS and st.screen == "edit", (st.foreground, st.screen)
    assert st.focused_field == "name" and st.focused_text == NAME, (st.focused_field, st.focused_text)
    assert [c.name for c in st.contacts] == [c.name for c in Phone(seed=SEED).state.contacts]  # not saved
