"""The settle check and loop detection see every visible change, and only visible changes.

Reproduces a bug found on 2026-12-05: at 1080x2400 a one-character edit in a text field
("text 1" -> "text 2") counted as "the same screen", so each such Type step waited its full
minimum and loop detection could fire on controls that change in place.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from autoglm_agent.actions import to_grid
from autoglm_agent.agent import AgentConfig, PhoneAgent, ScreenSignature
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.sim.direct import DirectDevice
from autoglm_agent.sim.phone import Phone
from autoglm_agent.testing import ScriptedEndpoint


def _notes_editor(density: int) -> tuple[Phone, DirectDevice]:
    phone = Phone(seed=0, width=1080, height=2400, density=density)
    dev = DirectDevice(phone)
    dev.launch("Notes")
    fab = phone.tree().by_id("new_note")
    assert fab is not None
    dev.tap(*fab.center)
    return phone, dev


@pytest.mark.parametrize("density", [320, 420, 480])
def test_one_character_edit_is_a_change_at_1080x2400(density: int) -> None:
    _, dev = _notes_editor(density)
    dev.type_text("text 1")
    before = dev.screenshot().image
    dev.clear_text()
    dev.type_text("text 2")
    after = dev.screenshot().image
    assert not ScreenSignature(before).same_as(ScreenSignature(after))
    assert ScreenSignature(before).same_as(ScreenSignature(before.copy()))


def test_a_blinking_cursor_is_the_same_screen_and_a_new_page_is_not() -> None:
    phone, dev = _notes_editor(320)
    dev.type_text("buy milk")
    shown = dev.screenshot().image
    blink = shown.copy()
    ImageDraw.Draw(blink).rectangle((400, 600, 402, 648), fill=(20, 20, 20))  # a 3 px caret
    assert ScreenSignature(shown).same_as(ScreenSignature(blink))
    dev.home()
    assert not ScreenSignature(shown).same_as(ScreenSignature(dev.screenshot().image))
    assert not ScreenSignature(shown).same_as(ScreenSignature(Image.new("RGB", (720, 1600))))
    assert phone.state.foreground != "com.android.notes"


def _grid_center(phone: Phone, resource_id: str) -> tuple[int, int]:
    for node in ET.fromstring(phone.ui_hierarchy_xml()).iter("node"):
        if node.attrib.get("resource-id") == resource_id:
            x1, y1, x2, y2 = (int(v) for v in node.attrib["bounds"].replace("][", ",").strip("[]").split(","))
            return to_grid((x1 + x2) // 2, (y1 + y2) // 2, phone.width, phone.height)
    raise AssertionError(f"{resource_id} is not on screen")


def test_loop_detection_lets_a_control_that_changes_in_place_be_pressed_again(tmp_path: Path) -> None:
    phone = Phone(seed=0, width=1080, height=2400, density=320)
    dev = DirectDevice(phone)
    dev.launch("Calculator")
    x, y = _grid_center(phone, "com.android.calculator2:id/digit_1")
    tap = f'<think>Press 1.</think><answer>do(action="Tap", element=[{x},{y}])</answer>'
    done = '<think>The display shows 11111.</think><answer>finish(message="11111")</answer>'
    with ScriptedEndpoint([tap] * 5 + [done]) as ep:
        llm = ChatAutoGLM(base_url=ep.base_url, max_retries=0)
        cfg = AgentConfig(trajectory_dir=tmp_path / "runs", loop_limit=3, settle_min_change_s=0.0)
        result = PhoneAgent(dev, llm, cfg, sleep=lambda _s: None).run("type 11111 on the calculator")
    assert result.status == "success", result.message
    assert result.steps == 6
    assert "11111" in phone.ui_hierarchy_xml()
