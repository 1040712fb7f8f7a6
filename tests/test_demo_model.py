"""The demo checkpoint (``model/``), its data pipeline and its training script."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from autoglm_agent.agent import PhoneAgent
from autoglm_agent.demo.oracle import APPS, TASK_KINDS, DemoTask, sample_task
from autoglm_agent.demo.pipeline import (
    DemoSettings,
    encode_sample,
    load_settings,
    oracle_episode,
    server_state,
)
from autoglm_agent.sim.direct import DirectDevice
from autoglm_agent.sim.phone import LAUNCHER, Phone

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "model"
SETTINGS_PKG = "com.android.settings"


def _train_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_demo", ROOT / "tools" / "train_demo.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_demo"] = mod
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------------------- DirectDevice
def test_direct_device_launches_by_name_and_reports_like_adb() -> None:
    phone = Phone(seed=0)
    dev = DirectDevice(phone)
    assert dev.screen_size() == (720, 1600)
    assert str(dev.current_app()) == "com.android.launcher3/com.android.launcher3.Launcher"
    assert dev.launch("Settings") == SETTINGS_PKG
    assert str(dev.current_app()) == "com.android.settings/com.android.settings.Settings"
    assert dev.launch("笔记") == "com.android.notes"
    assert dev.launch("com.android.deskclock") == "com.android.deskclock"
    shot = dev.screenshot()
    assert shot.size == (720, 1600) and not shot.secure
    dev.home()
    assert phone.state.foreground == LAUNCHER
    assert "com.android.settings" in dev.installed_packages()
    assert "<hierarchy" in dev.ui_tree()


def test_direct_device_types_into_the_focused_field() -> None:
    phone = Phone(seed=0)
    dev = DirectDevice(phone)
    dev.launch("Notes")
    fab = phone.tree().by_id("new_note")
    assert fab is not None
    dev.tap(*fab.center)
    dev.type_text("hello")
    page = phone.state.top()
    assert page is not None and page.fields["body"] == "hello"
    dev.clear_text()
    assert page.fields["body"] == ""


def test_direct_device_sees_what_adb_sees() -> None:
    """Against the simulator over adb, AdbDevice reports the same app string and the same pixels."""
    from autoglm_agent.device import AdbDevice
    from autoglm_agent.sim.runner import Simulator

    with Simulator(seed=4, shuffle=True) as sim, AdbDevice(sim.serial) as adb:
        phone = sim.device.phone
        direct = DirectDevice(phone)
        for app in ("Settings", "Notes"):
            assert adb.launch(app) == direct.launch(app)
            assert str(adb.current_app()) == str(direct.current_app())
        adb.home()
        assert str(adb.current_app()) == str(direct.current_app())
        a, b = adb.screenshot(), direct.screenshot()
        assert a.size == b.size
        assert a.image.convert("RGB").tobytes() == b.image.tobytes()


# ----------------------------------------------------------------------------------- the expert
@pytest.mark.parametrize("kind", TASK_KINDS)
def test_oracle_solves_every_task_kind(kind: str) -> None:
    """The real agent loop with the expert as its model finishes each kind, checked from the state."""
    settings = DemoSettings()
    rng = random.Random(f"oracle-{kind}")
    for seed, shuffle in ((0, False), (3, True), (11, True), (27, True)):
        for lang in ("en", "zh"):
            task = sample_task(rng, kind, lang)
            samples, ok = oracle_episode(task, seed, shuffle, settings, rng)
            assert ok, f"the expert failed {task.text!r} on seed {seed}"
            assert samples and samples[-1].answer.endswith("</answer>")
            assert "finish(" in samples[-1].answer


def test_oracle_task_states_are_real() -> None:
    """Tasks are checked from the phone's state: a fresh phone does not pass them."""
    phone = Phone(seed=2, shuffle=True)
    assert not DemoTask(kind="open_app", text="open settings", package=SETTINGS_PKG).done(phone)
    task = DemoTask(kind="toggle", text="turn off wifi", setting="wifi", on=False, initial_on=True)
    task.setup(phone)
    assert phone.state.wifi and not task.done(phone)
    home = DemoTask(kind="go_home", text="go home", start_app="com.android.music")
    home.setup(phone)
    assert phone.state.foreground == "com.android.music" and not home.done(phone)


def test_tap_icon_expert_taps_the_icon_on_a_shuffled_layout() -> None:
    settings = DemoSettings()
    rng = random.Random(1)
    for seed in (5, 6):
        for app in APPS[:4]:
            task = sample_task(rng, "tap_icon", "en", package=app.package)
            samples, ok = oracle_episode(task, seed, True, settings, rng)
            assert ok
            assert '"Tap"' in samples[0].answer and "row " in samples[0].answer


# ----------------------------------------------------------------------------------- samples
@pytest.fixture(scope="module")
def tiny_state(tmp_path_factory: pytest.TempPathFactory) -> object:
    from autoglm_agent.server.config import ServerConfig
    from autoglm_agent.server.loading import load_model
    from autoglm_agent.server.tiny import build_tiny_glm4v

    path = tmp_path_factory.mktemp("tiny")
    settings = DemoSettings()
    build_tiny_glm4v(
        path,
        hidden_size=32,
        layers=1,
        heads=2,
        kv_heads=1,
        intermediate_size=64,
        vision_hidden_size=32,
        vision_layers=1,
        vision_heads=1,
        vocab_size=600,
        max_pixels=2 * settings.image_max_pixels,
    )
    return server_state(load_model(ServerConfig(model=path, device="cpu", api_key=None)))


def test_sample_labels_cover_only_the_answer(tiny_state: object) -> None:
    rng = random.Random(3)
    task = sample_task(rng, "toggle", "en")
    samples, ok = oracle_episode(task, 9, True, DemoSettings(), rng)
    assert ok and len(samples) >= 2
    tok = tiny_state.lm.tokenizer  # type: ignore[attr-defined]
    for s in samples:
        enc = encode_sample(tiny_state, s)
        ids, labels = enc["input_ids"].tolist(), enc["labels"].tolist()
        start = next(i for i, v in enumerate(labels) if v != -100)
        assert all(v != -100 for v in labels[start:])
        assert labels[start:] == ids[start:]
        assert tok.decode(ids[start:]) == s.answer + "<|endoftext|>"
        prompt = tok.decode(ids[:start])
        assert prompt.startswith("[gMASK]<sop><|system|>")
        assert prompt.endswith("<|assistant|>\n")
        # one image (the current screenshot) at the settings' budget: 252x560 px = 180 tokens
        assert prompt.count("<|image|>") == 180
        assert enc["image_grid_thw"].tolist() == [[1, 40, 18]]
    # earlier steps are in the history as text (answers without the thinking)
    last = tok.decode(encode_sample(tiny_state, samples[-1])["input_ids"].tolist())
    assert re.search(r'<\|assistant\|>\ndo\(action="Launch", app="Settings"\)<\|user\|>', last)


# ----------------------------------------------------------------------------------- the training script
def test_dense_icon_targets_match_the_screen() -> None:
    """The training-only vision targets: the token under the expert's tap is the tapped app's icon,
    in the row and column the expert names; a screen that is not the home screen has no icons."""
    from autoglm_agent import actions as A

    train = _train_module()
    rng = random.Random(11)
    for seed in (101, 202, 303):
        task = sample_task(rng, "tap_icon", "en")
        samples, ok = oracle_episode(task, seed, True, DemoSettings(), rng)
        assert ok
        first = samples[0]
        assert first.icons and first.screen == (720, 1600)
        targets = train.icon_targets(first, [1, 40, 18]).view(20, 9, 3)
        call = re.search(r"\[(\d+),(\d+)\]", first.answer)
        assert call is not None
        x, y = A.to_pixels((int(call[1]), int(call[2])), 720, 1600)
        i, j = int(y * 560 / 1600) // 28, int(x * 252 / 720) // 28
        row, col = (int(v) for v in re.findall(r"row (\d+), column (\d+)", first.answer)[0])
        assert targets[i, j].tolist() == [train.ICON_CLASSES[task.package], row, col]
        # every app on the screen is labelled somewhere, and most tokens are "no icon"
        assert set(targets[..., 0].unique().tolist()) == {
            0,
            *(train.ICON_CLASSES[ic.package] for ic in first.icons),
        }
        assert (targets[..., 0] == 0).float().mean() > 0.4
        # the screen after the tap (the app) carries no icons
        assert samples[-1].icons == []
        assert int(train.icon_targets(samples[-1], [1, 40, 18])[:, 0].max()) == 0


def test_pointer_targets_point_at_the_named_icon(tiny_state: object) -> None:
    """The training-only pointer supervision: from the positions that predict the row, the column
    and the two tap coordinates, to exactly the image tokens of the icon the task names."""
    train = _train_module()
    tok = tiny_state.lm.tokenizer  # type: ignore[attr-defined]
    image_id = int(tiny_state.lm.model.config.image_token_id)  # type: ignore[attr-defined]
    rng = random.Random(5)
    for lang, seed in (("en", 404), ("zh", 505)):
        task = sample_task(rng, "tap_icon", lang)
        samples, ok = oracle_episode(task, seed, True, DemoSettings(), rng)
        assert ok and len(samples) == 2
        first = samples[0]
        enc = encode_sample(tiny_state, first)
        dense = train.icon_targets(first, enc["image_grid_thw"][0])
        got = train.pointer_targets(first, enc, dense, tok, image_id)
        assert got is not None
        queries, keys = got
        ids = enc["input_ids"]
        spans = train.pointer_spans(first.answer)
        assert spans is not None
        row, col, _ = spans
        xy = re.search(r"\[(\d+),(\d+)\]", first.answer)
        assert xy is not None
        wanted = [str(row), str(col), xy[1], xy[2]]
        following = [
            tok.decode(ids[q + 1 : q + 1 + len(w)]).strip() for q, w in zip(queries, wanted, strict=True)
        ]
        assert all(f.startswith(w[0]) for f, w in zip(following, wanted, strict=True)), (following, wanted)
        assert all(int(enc["labels"][q + 1]) != -100 for q in queries)  # all inside the answer
        image_pos = (ids == image_id).nonzero().squeeze(1)
        named = image_pos[dense[:, 0] == train.ICON_CLASSES[task.package]]
        assert len(named) >= 1 and keys.tolist() == named.tolist()
        # the step after the tap (finish) is not supervised
        last = encode_sample(tiny_state, samples[-1])
        last_dense = train.icon_targets(samples[-1], last["image_grid_thw"][0])
        assert train.pointer_targets(samples[-1], last, last_dense, tok, image_id) is None


def test_pointing_probe_reads_the_decoder_attention(tiny_state: object) -> None:
    """The evaluation's pointing probe: attention mass per decoder layer and head on the named icon,
    against what uniform attention would give; the model's attention setting is left as it was."""
    train = _train_module()
    lm = tiny_state.lm  # type: ignore[attr-defined]
    before = lm.model.config.text_config._attn_implementation
    got = train.pointing_probe(lm, tiny_state, DemoSettings(), random.Random(2), 3)
    assert got["screens"] == 3
    mass = got["attention_on_named_icon"]
    assert len(mass) == lm.model.config.text_config.num_hidden_layers
    assert all(0.0 <= v <= 1.0 for row in mass for v in row)
    assert 0.0 < got["uniform_mass"] < 0.2  # a few icon tokens among ~300
    assert set(got["place_token_accuracy"]) == {"row", "column", "x", "y"}
    assert lm.model.config.text_config._attn_implementation == before


def test_training_smoke_run_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    from autoglm_agent.server.config import ServerConfig
    from autoglm_agent.server.loading import load_model

    train = _train_module()
    out = tmp_path / "model"
    code = train.main(
        [
            "--out", str(out), "--minutes", "0.2", "--max-steps", "2", "--episodes", "12", "--held-out", "4",
            "--size", "tiny", "--batch", "2", "--no-eval", "--seed", "1",
            "--point-weight", "1.0", "--tap-weight", "50",
        ]
    )  # fmt: skip
    assert code == 0
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "chat_template.jinja",
        "agent.json",
        "README.md",
    ):
        assert (out / name).is_file(), name
    lm = load_model(ServerConfig(model=out, device="cpu", api_key=None))
    assert lm.model_type == "glm4v" and lm.supports_images
    assert load_settings(out).image_max_pixels == DemoSettings().image_max_pixels
    info = json.loads((out / "eval.json").read_text(encoding="utf-8"))["training"]
    assert info["pointer_samples"] > 0  # the pointer loss ran (on eager attention)
    # the saved checkpoint does not pin the training-time eager attention
    assert json.loads((out / "config.json").read_text(encoding="utf-8")).get("_attn_implementation") is None


# ----------------------------------------------------------------------------------- the shipped checkpoint
def test_shipped_settings() -> None:
    settings = load_settings(MODEL_DIR)
    assert "{date}" in settings.system_prompt
    assert settings.lang == "en" and settings.max_steps >= 5
    size = (MODEL_DIR / "model.safetensors").stat().st_size
    assert size < 20_000_000


def _run_shipped(task: str, seed: int, shuffle: bool) -> tuple[Phone, object]:
    from autoglm_agent.llm import ChatAutoGLM
    from autoglm_agent.server import EmbeddedServer, ServerConfig

    settings = load_settings(MODEL_DIR)
    phone = Phone(seed=seed, shuffle=shuffle)
    with EmbeddedServer(ServerConfig(model=MODEL_DIR, port=0, api_key=None)) as server:
        llm = ChatAutoGLM(base_url=server.base_url, model="autoglm-phone-9b", api_key="none", streaming=True)
        agent = PhoneAgent(DirectDevice(phone), llm, settings.agent_config(), sleep=lambda s: None)
        result = agent.run(task)
    return phone, result


def test_shipped_model_opens_settings_by_itself() -> None:
    """The README demo: the shipped checkpoint, through the embedded server, opens Settings.

    It must launch Settings by its own decision, then see Settings on the screen and finish.
    """
    phone, result = _run_shipped("open settings", 0, False)
    assert result.success, result.message  # type: ignore[attr-defined]
    assert phone.state.foreground == SETTINGS_PKG
    records = result.records  # type: ignore[attr-defined]
    assert records[0].action_call == 'do(action="Launch", app="Settings")'
    assert records[0].reasoning  # the model's own thinking
    assert records[-1].action_call.startswith("finish(")
    assert len(records) == 2, [r.action_call for r in records]


def test_shipped_model_opens_settings_on_a_held_out_shuffled_layout() -> None:
    phone, result = _run_shipped("open settings", 77, True)
    assert result.success and phone.state.foreground == SETTINGS_PKG  # type: ignore[attr-defined]


def test_shipped_model_finds_icons_by_name_on_unseen_layouts() -> None:
    """The vision requirement: on shuffled home screens never seen in training, "tap the X icon"
    taps X wherever the layout put it (the model card reports 95% over 20 held-out episodes)."""
    from autoglm_agent.llm import ChatAutoGLM
    from autoglm_agent.server import EmbeddedServer, ServerConfig

    settings = load_settings(MODEL_DIR)
    rng = random.Random(2026)
    cases = [(app, rng.randrange(1, 100_000)) for app in rng.sample(list(APPS), 6)]
    found: list[tuple[str, int]] = []
    cells: set[tuple[int, int]] = set()
    with EmbeddedServer(ServerConfig(model=MODEL_DIR, port=0, api_key=None)) as server:
        llm = ChatAutoGLM(base_url=server.base_url, model="autoglm-phone-9b", api_key="none")
        for app, seed in cases:
            phone = Phone(seed=seed, shuffle=True)
            slot = next(s for s in phone.state.home if s.package == app.package)
            cells.add((slot.row, slot.col))
            agent = PhoneAgent(DirectDevice(phone), llm, settings.agent_config(), sleep=lambda s: None)
            result = agent.run(f"tap the {app.en} icon")
            records = result.records
            # the first action taps the icon: the next screenshot shows the app
            tapped = records[0].action_call is not None and records[0].action_call.startswith(
                'do(action="Tap"'
            )
            if tapped and len(records) > 1 and (records[1].app or "").split("/")[0] == app.package:
                found.append((app.package, seed))
    assert len(cells) >= 4  # the icons sit in different places: no single guess does this
    assert len(found) >= 5, (found, cases)
