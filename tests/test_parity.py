"""The ``autoglm`` profile sends what the official client (``phone-agent``) sends, checked with its code.

Over a scripted 5-step episode on the simulator (launch, tap, type Chinese text, swipe, finish) the
reference's messages are built with its own ``get_system_prompt``, ``MessageBuilder`` and
``ModelConfig`` (and its own ``get_current_app`` / ``get_screenshot`` against the same phone), then
compared with the requests our agent sent, field by field: identical text parts, identical
sampling, images decoding to the same pixels.

One difference is deliberate: for an answer ``<think>T</think><answer>A`` the reference's splitter
keeps the tags inside its "thinking", so its history turn reads
``<think><think>T</think><answer></think><answer>A</answer>``; we keep the clean
``<think>T</think><answer>A</answer>`` the format describes.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime
from typing import Any

import pytest
from PIL import Image

from autoglm_agent import reference
from autoglm_agent.agent import AgentCallbacks, AgentConfig, PhoneAgent
from autoglm_agent.device import AdbDevice
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.profiles import get_profile
from autoglm_agent.testing.scripted import ScriptedEndpoint

REF = reference.load()
if REF is None:  # the set-up script fetches it; a missing reference is a broken environment
    pytest.fail(
        "phone-agent is not available: run `autoglm-agent reference fetch` (scripts/setup.sh does)",
        pytrace=False,
    )

from phone_agent.adb.device import get_current_app as ref_current_app  # noqa: E402
from phone_agent.adb.screenshot import get_screenshot as ref_screenshot  # noqa: E402
from phone_agent.config import get_system_prompt  # noqa: E402
from phone_agent.model.client import MessageBuilder, ModelConfig  # noqa: E402

TASK = "打开设置，搜索蓝牙"
EPISODE = [  # (thinking, action) as the model writes them
    ("当前在桌面，先启动设置。", 'do(action="Launch", app="Settings")'),
    ("点击搜索框。", 'do(action="Tap", element=[500,152])'),
    ("输入要搜索的内容。", 'do(action="Type", text="蓝牙")'),
    ("向上滑动查看更多结果。", 'do(action="Swipe", start=[500,750], end=[500,250])'),
    ("已经完成搜索。", 'finish(message="已搜索蓝牙")'),
]


def _pixels(data_url: str) -> tuple[tuple[int, int], bytes]:
    head, _, b64 = data_url.partition(",")
    assert head == "data:image/png;base64", head
    image = Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")
    return image.size, image.tobytes()


def _comparable(message: dict[str, Any]) -> dict[str, Any]:
    """A message with its image parts replaced by (size, pixels), for an exact comparison."""
    content = message["content"]
    if isinstance(content, list):
        content = [
            {"type": "image", "pixels": _pixels(p["image_url"]["url"])} if p["type"] == "image_url" else p
            for p in content
        ]
    return {"role": message["role"], "content": content}


def test_autoglm_requests_match_the_reference_client(fresh_simulator: Any) -> None:
    serial = fresh_simulator.serial
    frozen = fresh_simulator.phone.clock()
    fresh_simulator.phone.clock = lambda: frozen  # no blinking caret between the two captures
    observed: list[tuple[str, str]] = []

    class Observe(AgentCallbacks):
        def on_step_start(self, index: int, screenshot: Any, app: str | None) -> None:
            # what the reference's own code sees on this very screen
            observed.append((ref_current_app(serial), ref_screenshot(serial).base64_data))

    script = [f"<think>{t}</think><answer>{a}" for t, a in EPISODE]
    with ScriptedEndpoint(script, reasoning_mode="tags") as ep, AdbDevice(serial) as device:
        agent = PhoneAgent(
            device,
            ChatAutoGLM(base_url=ep.base_url, max_retries=0),
            AgentConfig(profile="autoglm", settle_timeout_s=1.0),
            callbacks=Observe(),
        )
        result = agent.run(TASK)
        requests = ep.requests
    assert result.status == "success", result.message
    assert len(requests) == len(EPISODE) == len(observed)

    config = ModelConfig()
    context = [MessageBuilder.create_system_message(get_system_prompt("cn"))]
    for step, (request, (app, png)) in enumerate(zip(requests, observed, strict=True)):
        screen = MessageBuilder.build_screen_info(app)
        text = f"{TASK}\n\n{screen}" if step == 0 else f"** Screen Info **\n\n{screen}"
        context.append(MessageBuilder.create_user_message(text=text, image_base64=png))

        sent = request["messages"]
        assert [m["role"] for m in sent] == [m["role"] for m in context], f"step {step + 1}"
        for ours, theirs in zip(sent, context, strict=True):
            assert _comparable(ours) == _comparable(theirs), f"step {step + 1}, {theirs['role']} turn"
        # sampling and the request's own fields
        for name in ("max_tokens", "temperature", "top_p", "frequency_penalty"):
            assert request[name] == getattr(config, name), name
        assert request["model"] == config.model_name and request["stream"] is True
        assert set(request) - {"stream_options"} == {
            "messages", "model", "max_tokens", "temperature", "top_p", "frequency_penalty", "stream",
        }  # fmt: skip

        context[-1] = MessageBuilder.remove_images_from_message(context[-1])
        thinking, action = EPISODE[step]
        context.append(
            MessageBuilder.create_assistant_message(f"<think>{thinking}</think><answer>{action}</answer>")
        )

    # the first screen is the launcher: the reference calls it "System Home"; then Settings by its table name
    assert observed[0][0] == "System Home"
    assert json.loads(requests[1]["messages"][-1]["content"][-1]["text"].split("\n\n", 1)[1]) == {
        "current_app": REF.app_name("com.android.settings")
    }


def test_reference_prompt_date_is_rebuilt_for_each_run() -> None:
    # the package freezes the date at import; the profile writes the day of the run
    prompt = REF.system_prompt("cn", now=datetime(2031, 2, 3))
    assert prompt.splitlines()[0] == "今天的日期是: 2031年02月03日 星期一"
    assert prompt.splitlines()[1:] == get_system_prompt("cn").splitlines()[1:]
    english = REF.system_prompt("en", now=datetime(2031, 2, 3))
    assert english.splitlines()[0] == "The current date: 2031-02-03, Monday"
    assert english.splitlines()[1:] == get_system_prompt("en").splitlines()[1:]


def test_multilingual_profile_uses_the_reference_english_prompt() -> None:
    profile = get_profile("autoglm-multilingual")
    assert profile.lang == "en" and profile.prompt_source == "reference"
    assert get_profile("autoglm").lang == "zh"


def test_current_app_names_follow_the_reference_table() -> None:
    from autoglm_agent.device.base import AppInfo
    from autoglm_agent.prompts.builder import ProfilePrompts

    names = ProfilePrompts(get_profile("autoglm"))
    assert names.app_name(AppInfo("com.tencent.mm", ".ui.LauncherUI")) == "微信"
    assert names.app_name(AppInfo("com.android.settings")) == REF.app_name("com.android.settings")
    # anything the table does not name, the launcher included, is what the reference calls it
    assert names.app_name(AppInfo("com.android.calculator2")) == "System Home"
    assert names.app_name(AppInfo("com.android.launcher3", "com.android.launcher3.Launcher")) == "System Home"
    generic = ProfilePrompts(get_profile("generic"))
    assert (
        generic.app_name(AppInfo("com.android.calculator2", ".Calculator"))
        == "com.android.calculator2/.Calculator"
    )
