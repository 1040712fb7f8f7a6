"""Profiles: which one is chosen, what a profile file may say, and what reaches the endpoint."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from autoglm_agent.agent import AgentConfig, PhoneAgent
from autoglm_agent.device import AdbDevice
from autoglm_agent.errors import ConfigError
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.profiles import (
    BUILTIN_PROFILES,
    Timings,
    get_profile,
    profile_for_model,
    profile_from_dict,
    select_profile,
)
from autoglm_agent.testing.scripted import ScriptedEndpoint

ROOT = Path(__file__).resolve().parents[1]


def answer(action: str, thinking: str = "ok") -> str:
    return f"<think>{thinking}</think><answer>{action}</answer>"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("autoglm-phone-9b", "autoglm"),
        ("autoglm-phone", "autoglm"),  # Zhipu's hosted name
        ("ZhipuAI/AutoGLM-Phone-9B", "autoglm"),  # ModelScope's
        ("AutoGLM-Phone-9B-Multilingual", "autoglm-multilingual"),
        ("qwen2.5-vl-7b", "generic"),
        (None, "generic"),
    ],
)
def test_profile_follows_the_model_name(model: str | None, expected: str) -> None:
    assert profile_for_model(model).name == expected


def test_explicit_and_advertised_profiles_win_over_the_name(tmp_path: Path) -> None:
    advertised = profile_from_dict({"system_prompt": "hi {date}"}, default_name="ckpt", where="test")
    assert select_profile(None, model="autoglm-phone-9b", advertised=advertised) is advertised
    assert select_profile("generic", model="autoglm-phone-9b", advertised=advertised).name == "generic"
    file = tmp_path / "mine.json"
    file.write_text(json.dumps({"extends": "autoglm", "sampling": {"temperature": 0.3}}), encoding="utf-8")
    mine = select_profile(str(file), model="x")
    assert mine.name == "mine" and mine.layout == "autoglm" and mine.image_format == "png"
    assert mine.sampling.temperature == 0.3 and mine.sampling.top_p == 0.85  # the rest of autoglm's kept
    # a checkpoint folder works too: its agent.json
    assert get_profile(str(ROOT / "model")).name == "autoglm-agent-demo"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"extends": "gpt"}, "not a built-in profile"),
        ({"layout": "xml"}, "layout"),
        ({"sampling": {"temperature": 9}}, "sampling.temperature"),
        ({"surprise": 1}, "surprise"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_bad_profiles_are_one_clear_line(data: Any, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        profile_from_dict(data, default_name="x", where="p.json")
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_unknown_profile_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="autoglm, autoglm-multilingual, generic"):
        get_profile("autoglm-phone")


def test_swipe_duration_grows_with_distance_like_the_reference() -> None:
    rule = BUILTIN_PROFILES["autoglm"].timings
    assert rule.swipe_duration(360, 1360, 360, 240) == 1254  # 1120 px
    assert rule.swipe_duration(0, 0, 10, 10) == 1000 and rule.swipe_duration(0, 0, 2000, 2000) == 2000
    assert rule.long_press_ms == 3000
    assert Timings().swipe_duration(0, 0, 500, 500) == 300


def test_profile_sampling_and_chat_model_settings(home_simulator: Any) -> None:
    """The profile's sampling goes on each request unless the chat model was given its own."""
    script = [answer('finish(message="done")')] * 2
    with ScriptedEndpoint(script) as ep, AdbDevice(home_simulator.serial) as device:
        greedy = PhoneAgent(
            device, ChatAutoGLM(base_url=ep.base_url, max_retries=0), AgentConfig(profile="autoglm")
        )
        greedy.run("done already")
        own = ChatAutoGLM(base_url=ep.base_url, max_retries=0, temperature=0.7, max_tokens=64)
        PhoneAgent(device, own, AgentConfig(profile="autoglm")).run("done already")
        first, second = ep.requests
    assert (first["temperature"], first["top_p"], first["frequency_penalty"], first["max_tokens"]) == (
        0.0, 0.85, 0.2, 3000,
    )  # fmt: skip
    assert (second["temperature"], second["max_tokens"], second["top_p"]) == (0.7, 64, 0.85)


def test_generic_profile_keeps_its_own_dialect(home_simulator: Any) -> None:
    with (
        ScriptedEndpoint([answer('finish(message="done")')]) as ep,
        AdbDevice(home_simulator.serial) as device,
    ):
        agent = PhoneAgent(
            device, ChatAutoGLM(base_url=ep.base_url, model="some-vlm", max_retries=0), AgentConfig()
        )
        assert agent.profile.name == "generic"
        agent.run("open settings")
        request = ep.requests[0]
    text = request["messages"][-1]["content"][-1]["text"]
    assert text.startswith("Task: open settings\n\n** Screen Info **\n")
    assert "com.android.launcher3/" in text  # the component, not a name
    assert request["messages"][-1]["content"][0]["image_url"]["url"].startswith("data:image/jpeg")
    assert request["enable_thinking"] is True and "temperature" not in request


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "AUTOGLM_TRAJECTORY_DIR": str(tmp_path / "runs")}
    for name in ("AUTOGLM_BASE_URL", "AUTOGLM_PROFILE", "AUTOGLM_MAX_STEPS"):
        env.pop(name, None)
    return env


def test_cli_overrides_reach_the_request(simulator: Any, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You drive a phone. Date: {date}.", encoding="utf-8")
    with ScriptedEndpoint([answer('finish(message="done")')]) as ep:
        proc = subprocess.run(
            [
                sys.executable, "-m", "autoglm_agent.cli", "--device", simulator.serial, "--base-url", ep.base_url,
                "--temperature", "0.4", "--max-tokens", "128", "--system-prompt", str(prompt), "--json", "hello",
            ],
            capture_output=True, text=True, timeout=120, env=_cli_env(tmp_path), stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        request = ep.requests[0]
    system = request["messages"][0]["content"]
    assert system.startswith("You drive a phone. Date: ") and "{date}" not in system
    assert (request["temperature"], request["max_tokens"], request["top_p"]) == (0.4, 128, 0.85)
    bad = subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", "--temperature", "5", "hello"],
        capture_output=True, text=True, timeout=60, env=_cli_env(tmp_path), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert bad.returncode != 0 and "--temperature" in bad.stderr and "Traceback" not in bad.stderr


def test_without_the_reference_package_the_run_says_so_once(simulator: Any, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['phone_agent'] = None  # as if it were not installed\n"
        "from autoglm_agent.agent import AgentConfig, PhoneAgent\n"
        "from autoglm_agent.device import AdbDevice\n"
        "from autoglm_agent.llm import ChatAutoGLM\n"
        "from autoglm_agent.testing.scripted import ScriptedEndpoint\n"
        "ok = '<think>x</think><answer>finish(message=\"done\")</answer>'\n"
        "with ScriptedEndpoint([ok, ok]) as ep, AdbDevice(sys.argv[1]) as d:\n"
        "    for _ in range(2):\n"
        "        PhoneAgent(d, ChatAutoGLM(base_url=ep.base_url, max_retries=0)).run('打开设置')\n"
        "    print(ep.requests[0]['messages'][0]['content'].splitlines()[0])\n"
    )
    env = {**_cli_env(tmp_path), "AUTOGLM_CACHE_DIR": str(tmp_path / "empty")}
    proc = subprocess.run(
        [sys.executable, "-c", code, simulator.serial], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("phone-agent (the official AutoGLM client) is not available") == 1
    assert "autoglm-agent reference fetch" in proc.stderr
    from autoglm_agent.prompts import system_prompt

    assert proc.stdout.strip() == system_prompt("zh").splitlines()[0]  # this project's own prompt instead


def test_cli_take_over_waits_for_enter_and_goes_on(fresh_simulator: Any, tmp_path: Path) -> None:
    """A terminal user does the manual step, presses Enter, and the same run continues."""
    script = [
        answer('do(action="Take_over", message="please log in")'),
        answer('do(action="Home")'),
        answer('finish(message="done")'),
    ]
    with ScriptedEndpoint(script) as ep:
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "autoglm_agent.cli", "--device", fresh_simulator.serial, "--base-url",
             ep.base_url, "log in and go home"],
            stdin=slave, stdout=slave, stderr=slave, env=_cli_env(tmp_path), close_fds=True,
        )  # fmt: skip
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 90
        answered = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"press Enter" in seen:
                os.write(master, b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        proc.wait(timeout=30)
        os.close(master)
        requests = len(ep.requests)
    text = seen.decode("utf-8", "replace")
    assert answered, text
    assert proc.returncode == 0, text
    assert "please log in" in text and "success" in text
    assert requests == 3  # the run went on after the take-over


def test_a_tampered_reference_wheel_is_never_imported(tmp_path: Path) -> None:
    from autoglm_agent import reference

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"phone_agent-{reference.REFERENCE_VERSION}-py3-none-any.whl").write_bytes(
        b"PK not the real one"
    )
    code = (
        "import sys\n"
        "sys.modules['phone_agent'] = None\n"
        "from autoglm_agent import reference\n"
        "print(reference.load())\n"
    )
    env = {**os.environ, "AUTOGLM_CACHE_DIR": str(cache)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None" and "does not match the pinned SHA-256" in proc.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", "reference", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0 and json.loads(shown.stdout)["version"] == reference.REFERENCE_VERSION
