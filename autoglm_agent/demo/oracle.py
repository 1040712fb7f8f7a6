"""The demo task suite and its expert policy.

A ``DemoTask`` says what to ask (``text``), how to prepare a fresh simulated phone (``setup``) and
how to check the result from the phone's state (``done``). ``expert_step`` is the policy that
solves every task from the phone's state and widget tree: the training target of the demo model
and the reference its evaluation is compared with. ``OracleChat`` wraps it as a LangChain chat
model, so that training samples come from the real ``PhoneAgent`` loop (exact inference-time
messages) and record what the agent sent.

Plain "open <app>" uses ``Launch`` (works on any home-screen layout); "tap the <app> icon" must find
the icon on the (shuffled) home screen: the vision task.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict, Field

from autoglm_agent import actions as A
from autoglm_agent.sim import ui
from autoglm_agent.sim.phone import HOME_COLS, LAUNCHER, Phone

__all__ = [
    "APPS",
    "NOTE_WORDS",
    "TASK_KINDS",
    "AppName",
    "DemoTask",
    "OracleChat",
    "expert_step",
    "sample_task",
]

Kind = Literal["open_app", "go_home", "toggle", "tap_icon", "write_note"]
TASK_KINDS: tuple[str, ...] = ("open_app", "go_home", "toggle", "tap_icon", "write_note")

SETTINGS = "com.android.settings"
NOTES = "com.android.notes"


class AppName(BaseModel):
    model_config = ConfigDict(frozen=True)

    package: str
    en: str
    zh: str


#: The simulator's launcher apps (package, English label, Chinese label).
APPS: tuple[AppName, ...] = (
    AppName(package="com.android.settings", en="Settings", zh="设置"),
    AppName(package="com.android.deskclock", en="Clock", zh="时钟"),
    AppName(package="com.android.calendar", en="Calendar", zh="日历"),
    AppName(package="com.android.gallery3d", en="Gallery", zh="图库"),
    AppName(package="com.android.camera2", en="Camera", zh="相机"),
    AppName(package="com.android.notes", en="Notes", zh="笔记"),
    AppName(package="com.android.calculator2", en="Calculator", zh="计算器"),
    AppName(package="com.android.documentsui", en="Files", zh="文件"),
    AppName(package="com.android.music", en="Music", zh="音乐"),
    AppName(package="com.android.contacts", en="Contacts", zh="联系人"),
    AppName(package="com.android.messaging", en="Messages", zh="信息"),
    AppName(package="com.android.browser", en="Browser", zh="浏览器"),
    AppName(package="com.android.wallet", en="Wallet", zh="钱包"),
)
_BY_PKG = {a.package: a for a in APPS}

#: Words the "write a note" task types (kept small: a toy model has a toy vocabulary).
NOTE_WORDS: tuple[str, ...] = ("hello", "milk", "meeting", "call mom", "buy bread", "gym", "pay rent", "tea")

_SETTING_NAMES = {
    "wifi": ("Wi-Fi", "WiFi"),
    "bluetooth": ("Bluetooth", "蓝牙"),
}


class DemoTask(BaseModel):
    """One task of the demo suite."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    lang: Literal["en", "zh"] = "en"
    text: str
    package: str | None = None  # the app to open / tap
    setting: Literal["wifi", "bluetooth"] | None = None
    on: bool | None = None  # the wanted state of ``setting``
    initial_on: bool | None = None  # the state of ``setting`` before the run
    word: str | None = None  # what ``write_note`` types
    start_app: str | None = None  # a package in the foreground before the run (None: home screen)

    def setup(self, phone: Phone) -> None:
        """Put a fresh phone in this task's starting state."""
        if self.setting is not None and self.initial_on is not None:
            key = "wifi_on" if self.setting == "wifi" else "bluetooth_on"
            phone.put_setting("global", key, "1" if self.initial_on else "0")
        if self.start_app is not None:
            phone.launch_package(self.start_app)

    def done(self, phone: Phone) -> bool:
        """Whether the phone's state shows the task accomplished."""
        st = phone.state
        if self.kind in ("open_app", "tap_icon"):
            return st.overlay is None and st.foreground == self.package
        if self.kind == "go_home":
            return st.overlay is None and st.foreground == LAUNCHER and st.screen == "home"
        if self.kind == "toggle":
            value = st.wifi if self.setting == "wifi" else st.bluetooth
            return value == self.on
        if self.kind == "write_note":
            return any(n.body.strip() == self.word for n in st.notes) and not _in_note_editor(phone)
        raise AssertionError(self.kind)


def _in_note_editor(phone: Phone) -> bool:
    return phone.state.foreground == NOTES and phone.state.screen == "editor"


# ----------------------------------------------------------------------------------- task texts
def _cased(rng: random.Random, name: str) -> str:
    return name.lower() if rng.random() < 0.5 else name


def _task_text(rng: random.Random, task: DemoTask) -> str:
    app = _BY_PKG.get(task.package or "")
    zh = task.lang == "zh"
    if task.kind == "open_app":
        assert app is not None
        if zh:
            return rng.choice(("打开{}", "打开{}", "启动{}", "打开{}应用")).format(app.zh)
        return rng.choice(("open {}", "open {}", "launch {}", "open the {} app", "start {}")).format(
            _cased(rng, app.en)
        )
    if task.kind == "go_home":
        if zh:
            return rng.choice(("回到主屏幕", "返回桌面", "回到桌面"))
        return rng.choice(("go home", "go to the home screen", "go back to the home screen", "press home"))
    if task.kind == "toggle":
        assert task.setting is not None
        if zh:
            name = rng.choice(("WiFi", "WLAN", "wifi")) if task.setting == "wifi" else "蓝牙"
            verb = rng.choice(("打开", "开启")) if task.on else "关闭"
            return f"{verb}{name}"
        name = (
            rng.choice(("Wi-Fi", "wifi", "WiFi"))
            if task.setting == "wifi"
            else rng.choice(("Bluetooth", "bluetooth"))
        )
        state = "on" if task.on else "off"
        return rng.choice((f"turn {state} {name}", f"turn {name} {state}", f"switch {state} {name}"))
    if task.kind == "tap_icon":
        assert app is not None
        if zh:
            return rng.choice(("点击{}图标", "点一下{}图标", "点击主屏幕上的{}图标")).format(app.zh)
        return rng.choice(("tap the {} icon", "tap {} on the home screen", "click the {} icon")).format(
            _cased(rng, app.en)
        )
    if task.kind == "write_note":
        assert task.word is not None
        if zh:
            return rng.choice(("在笔记里写下 {}", "新建笔记，内容是 {}")).format(task.word)
        return rng.choice(("type {} in Notes", "write a note saying {}", "add a note: {}")).format(task.word)
    raise AssertionError(task.kind)


def sample_task(
    rng: random.Random, kind: str | None = None, lang: str | None = None, package: str | None = None
) -> DemoTask:
    """A random task of ``kind`` (any when None) in ``lang`` (en 60% / zh 40% when None)."""
    kind = kind or rng.choice(TASK_KINDS)
    lang = lang or ("en" if rng.random() < 0.6 else "zh")
    others = [a.package for a in APPS]
    fields: dict[str, Any] = {"kind": kind, "lang": lang}
    if kind in ("open_app", "tap_icon"):
        fields["package"] = package or rng.choice(others)
        if kind == "open_app" and rng.random() < 0.25:
            fields["start_app"] = rng.choice([p for p in others if p != fields["package"]])
    elif kind == "go_home":
        fields["start_app"] = package or rng.choice(others)
    elif kind == "toggle":
        fields["setting"] = rng.choice(("wifi", "bluetooth"))
        fields["on"] = rng.random() < 0.5
        fields["initial_on"] = (not fields["on"]) if rng.random() < 0.7 else fields["on"]
        if rng.random() < 0.2:
            fields["start_app"] = rng.choice(others)
    elif kind == "write_note":
        fields["word"] = rng.choice(NOTE_WORDS)
        if rng.random() < 0.2:
            fields["start_app"] = rng.choice([p for p in others if p != NOTES])
    task = DemoTask(text="-", **fields)
    return task.model_copy(update={"text": _task_text(rng, task)})


# ----------------------------------------------------------------------------------- the expert
def _grid_point(phone: Phone, node: ui.Node, target: ui.Node | None = None) -> A.Point:
    """The 0-999 grid point at ``node``'s centre; checks that a tap there hits ``target`` (or a
    clickable node containing ``node``)."""
    x, y = node.center
    point = A.to_grid(x, y, phone.width, phone.height)
    px, py = A.to_pixels(point, phone.width, phone.height)
    hit = phone.node_at(px, py)
    want = target if target is not None else node
    if hit is None or not (hit is want or _contains(hit, want) or _contains(want, hit)):
        raise AssertionError(f"a tap at {point} would not hit the intended widget")
    return point


def _contains(outer: ui.Node, inner: ui.Node) -> bool:
    return any(n is inner for n in outer.walk())


def _tap(point: A.Point) -> str:
    return A.Tap(element=point).to_call()


def _launch(app: AppName) -> str:
    return A.Launch(app=app.en).to_call()


def _finish(message: str) -> str:
    return A.Finish(message=message).to_call()


def _home_icon(phone: Phone, package: str) -> tuple[ui.Node, int, int]:
    tree = phone.tree()
    node = tree.find(lambda n: n.kind == "appicon" and n.glyph == package)
    if node is None:
        raise AssertionError(f"no icon of {package} on the home screen")
    slot = next(s for s in phone.state.home if s.package == package)
    return node, slot.row, slot.col


def _setting_row(phone: Phone, setting: str) -> ui.Node:
    names = _SETTING_NAMES[setting] + (("WLAN",) if setting == "wifi" else ())
    node = phone.tree().find(lambda n: n.id == "android:id/title" and n.text in names)
    if node is None:
        raise AssertionError(f"no {setting} row on the Settings page")
    return node


def expert_step(task: DemoTask, phone: Phone) -> tuple[str, str]:
    """(thinking, action call) of the expert for ``task`` on ``phone``'s current screen."""
    st = phone.state
    zh = task.lang == "zh"
    fg = st.foreground if st.overlay is None else LAUNCHER
    at_home = fg == LAUNCHER and st.screen == "home"
    fg_app = _BY_PKG.get(fg)

    def say(en: str, cn: str) -> str:
        return cn if zh else en

    if task.kind == "open_app":
        app = _BY_PKG[task.package or ""]
        if task.done(phone):
            return say(f"{app.en} is open now. The task is done.", f"{app.zh}已经打开，任务完成。"), _finish(
                say(f"Opened {app.en}", f"已打开{app.zh}")
            )
        return say(f"I need to open {app.en}. I will launch it.", f"需要打开{app.zh}，直接启动它。"), _launch(
            app
        )

    if task.kind == "go_home":
        if task.done(phone):
            return say(
                "The home screen is showing. The task is done.", "已经回到主屏幕，任务完成。"
            ), _finish(say("On the home screen", "已回到主屏幕"))
        where = fg_app.en if fg_app else "an app"
        where_zh = fg_app.zh if fg_app else "应用"
        return say(
            f"I am in {where}. I will go to the home screen.", f"当前在{where_zh}，返回主屏幕。"
        ), A.Home().to_call()

    if task.kind == "tap_icon":
        app = _BY_PKG[task.package or ""]
        if task.done(phone):
            return say(f"{app.en} is open now. The task is done.", f"{app.zh}已经打开，任务完成。"), _finish(
                say(f"Tapped {app.en}", f"已点击{app.zh}")
            )
        if not at_home:
            return say(
                "This is not the home screen. Go home first.", "这不是主屏幕，先回到主屏幕。"
            ), A.Home().to_call()
        node, r, c = _home_icon(phone, app.package)
        side = "left" if c < HOME_COLS / 2 else "right"
        thought = say(
            f"The {app.en} icon is in row {r + 1}, column {c + 1}. I will tap it.",
            f"{app.zh}图标在第{r + 1}行第{c + 1}列，点击它。",
        )
        del side
        return thought, _tap(_grid_point(phone, node))

    if task.kind == "toggle":
        assert task.setting is not None and task.on is not None
        en_name, zh_name = ("Wi-Fi", "WiFi") if task.setting == "wifi" else ("Bluetooth", "蓝牙")
        value = st.wifi if task.setting == "wifi" else st.bluetooth
        state_en, state_zh = ("on", "开启") if task.on else ("off", "关闭")
        settings = _BY_PKG[SETTINGS]
        if fg != SETTINGS:
            return say(
                f"The {en_name} switch is in Settings. I will launch Settings.",
                f"{zh_name}开关在设置里，先启动设置。",
            ), _launch(settings)
        page = st.screen
        if page == task.setting:
            if value == task.on:
                return say(
                    f"{en_name} is {state_en}. The task is done.", f"{zh_name}已经{state_zh}，任务完成。"
                ), _finish(say(f"{en_name} is {state_en}", f"{zh_name}已{state_zh}"))
            node = phone.tree().by_id("main_switch_bar")
            assert node is not None
            now_en = "on" if value else "off"
            now_zh = "开启" if value else "关闭"
            return say(
                f"{en_name} is {now_en}. I will tap the switch to turn it {state_en}.",
                f"{zh_name}现在是{now_zh}状态，点击开关把它{state_zh}。",
            ), _tap(_grid_point(phone, node))
        if page == "main":
            row = _setting_row(phone, task.setting)
            return say(f"Settings is open. I will tap {en_name}.", f"设置已打开，点击{zh_name}。"), _tap(
                _grid_point(phone, row, phone.node_at(*row.center))
            )
        return say("This is the wrong page. Go back.", "这个页面不对，返回。"), A.Back().to_call()

    if task.kind == "write_note":
        assert task.word is not None
        notes = _BY_PKG[NOTES]
        if task.done(phone):
            return say("The note is saved. The task is done.", "笔记已保存，任务完成。"), _finish(
                say(f"Saved a note: {task.word}", f"已保存笔记：{task.word}")
            )
        if fg != NOTES:
            return say("I need Notes. I will launch it.", "需要用笔记，先启动笔记。"), _launch(notes)
        if st.screen == "editor":
            page = st.top()
            body = page.fields.get("body", "") if page is not None else ""
            if body.strip() != task.word:
                if page is not None and page.focus != "body":
                    return say("I will tap the note text.", "点击笔记内容。"), _tap(
                        _grid_point(phone, phone.tree().by_id("body"))  # type: ignore[arg-type]
                    )
                return say(
                    f"The editor is open. I will type {task.word}.", f"编辑器已打开，输入 {task.word}。"
                ), A.Type(text=task.word).to_call()
            save = phone.tree().by_id("save")
            assert save is not None
            return say("The text is typed. I will tap Save.", "内容已输入，点击保存。"), _tap(
                _grid_point(phone, save)
            )
        if st.screen == "main":
            fab = phone.tree().by_id("new_note")
            assert fab is not None
            return say("Notes is open. I will tap + for a new note.", "笔记已打开，点击 + 新建笔记。"), _tap(
                _grid_point(phone, fab)
            )
        return say("This is the wrong page. Go back.", "这个页面不对，返回。"), A.Back().to_call()
    raise AssertionError(task.kind)


class HomeIcon(BaseModel):
    """A launcher icon on screen: the app and its tappable area (icon and label) in screen pixels."""

    package: str
    rect: tuple[int, int, int, int]
    row: int = -1
    col: int = -1


def home_icons(phone: Phone) -> list[HomeIcon]:
    """The icons of the home screen when it is what the screenshot shows, else nothing."""
    st = phone.state
    if st.foreground != LAUNCHER or st.overlay is not None or st.screen != "home":
        return []
    slots = {s.package: s for s in st.home}
    out: list[HomeIcon] = []
    for node in phone.tree().walk():
        icon = next((c for c in node.children if c.kind == "appicon"), None)
        if icon is not None and node.clickable and icon.glyph in slots:
            slot = slots[icon.glyph]
            rect = tuple(int(v) for v in node.rect)
            out.append(HomeIcon(package=icon.glyph, rect=rect, row=slot.row, col=slot.col))
    return out


def answer_text(thought: str, call: str) -> str:
    """The model's output format: ``<think>thought</think><answer>call</answer>``."""
    return f"<think>{thought}</think><answer>{call}</answer>"


# ----------------------------------------------------------------------------------- chat model
class OracleChat(BaseChatModel):
    """A chat model that answers the expert's next action and records what it was asked.

    ``records`` gets one ``(messages, answer_text)`` pair per call whose answer is the expert's.
    With ``noise`` > 0 a call may instead answer a plausible mistake (a wrong icon, a wrong
    Settings row) that is *not* recorded, so that the recorded samples that follow teach recovery.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    phone: Any
    task: DemoTask
    noise: float = 0.0
    seed: int = 0
    records: list[tuple[list[BaseMessage], str]] = Field(default_factory=list)
    #: per record: the launcher icons on screen when it was asked (for dense vision targets)
    icons: list[list[HomeIcon]] = Field(default_factory=list)
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "autoglm-demo-oracle"

    def _mistake(self, rng: random.Random) -> str | None:
        phone, task, st = self.phone, self.task, self.phone.state
        if (
            task.kind == "tap_icon"
            and st.foreground == LAUNCHER
            and st.overlay is None
            and st.screen == "home"
        ):
            wrong = [s.package for s in st.home if s.package != task.package]
            node, _, _ = _home_icon(phone, rng.choice(wrong))
            return answer_text("-", _tap(_grid_point(phone, node)))
        if task.kind == "toggle" and st.foreground == SETTINGS and st.screen == "main" and st.overlay is None:
            other = "bluetooth" if task.setting == "wifi" else "wifi"
            row = _setting_row(phone, other)
            return answer_text("-", _tap(_grid_point(phone, row, phone.node_at(*row.center))))
        return None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        rng = random.Random(f"{self.seed}-{self.calls}")
        self.calls += 1
        text: str | None = None
        if self.noise > 0 and rng.random() < self.noise:
            text = self._mistake(rng)
        if text is None:
            text = answer_text(*expert_step(self.task, self.phone))
            self.records.append((list(messages), text))
            self.icons.append(home_icons(self.phone))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
