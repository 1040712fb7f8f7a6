"""How a profile writes the conversation: the system prompt, each user turn, each kept answer.

``ProfilePrompts(profile)`` turns what the agent observed (the task, the app in front, a note
about the last action) into the exact text the profile's model family was trained on. For the
``autoglm`` layout that is the official client's shape::

    first turn:  "{task}\\n\\n{\\"current_app\\": \\"微信\\"}"
    later turns: "** Screen Info **\\n\\n{\\"current_app\\": \\"微信\\"}"
    answers:     "<think>{thinking}</think><answer>{action}</answer>"

Anything this agent adds beyond the reference (why a Launch failed, the user's answer to a
question, a protected screen) goes into that same screen-info object, in the prompt's language,
so the model never sees a turn shaped differently from its training.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from autoglm_agent import actions as A
from autoglm_agent.device.apps import names_for_package
from autoglm_agent.device.base import AppInfo
from autoglm_agent.prompts import system_prompt
from autoglm_agent.reference import Reference, load

if TYPE_CHECKING:
    from autoglm_agent.executor import ExecResult
    from autoglm_agent.profiles import Profile

__all__ = ["HOME_SCREEN", "ProfilePrompts"]

logger = logging.getLogger(__name__)

Lang = Literal["zh", "en"]
#: What the reference calls any app it has no name for (the launcher included).
HOME_SCREEN = "System Home"
_CJK = re.compile(r"[\u3400-\u9fff]")
_warned_missing_reference = False

_NOTE_KEY: dict[Lang, str] = {"zh": "提示", "en": "note"}
_SECURE: dict[Lang, str] = {
    "zh": "当前屏幕受保护，截图为黑屏",
    "en": "the screen is protected (secure) and the screenshot is black",
}


def _warn_missing_reference() -> None:
    global _warned_missing_reference
    if not _warned_missing_reference:
        _warned_missing_reference = True
        logger.warning(
            "phone-agent (the official AutoGLM client) is not available, so the autoglm profile uses this "
            "project's own prompt and app names, which AutoGLM-Phone-9B was not trained on; run "
            "`autoglm-agent reference fetch` (or pip install 'autoglm-agent[autoglm]' on Python 3.12+)"
        )


class ProfilePrompts:
    """The text a profile puts into each request (see the module docstring)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        uses_reference = profile.app_names == "reference" or (
            profile.prompt_source == "reference" and profile.system_prompt is None
        )
        self.reference: Reference | None = load() if uses_reference else None
        if uses_reference and self.reference is None:
            _warn_missing_reference()

    @property
    def app_packages(self) -> Mapping[str, str] | None:
        """The reference's app names -> packages, for Launch (None when not in use)."""
        if self.profile.app_names == "reference" and self.reference is not None:
            return self.reference.app_packages
        return None

    # ------------------------------------------------------------------ system prompt
    def system_prompt(self, lang: Lang, *, override: str | None = None) -> str:
        text = override if override is not None else self.profile.system_prompt
        if text is None and self.profile.prompt_source == "reference" and self.reference is not None:
            return self.reference.system_prompt("cn" if lang == "zh" else "en")
        return system_prompt(lang, override=text)

    # ------------------------------------------------------------------ user turns
    def app_name(self, app: AppInfo, lang: Lang = "zh") -> str:
        """``current_app`` as the profile writes it."""
        if self.profile.app_names == "component":
            return str(app)
        if self.reference is not None:
            # exactly the reference: its table's first name for the package, else "System Home"
            return self.reference.app_name(app.package) or HOME_SCREEN
        # without the reference (its prompt is not in use either): the app's common name
        names = names_for_package(app.package)
        if not names or names[0] == "Launcher":
            return HOME_SCREEN
        if lang == "zh":
            names = sorted(names, key=lambda n: not _CJK.search(n))
        return names[0]

    def user_text(
        self,
        task: str,
        app: str,
        *,
        first: bool,
        lang: Lang,
        feedback: str | None = None,
        secure: bool = False,
    ) -> str:
        info: dict[str, Any] = {"current_app": app}
        if self.profile.layout == "autoglm":
            notes = [n for n in (feedback, _SECURE[lang] if secure else None) if n]
            if notes:
                info[_NOTE_KEY[lang]] = "；".join(notes) if lang == "zh" else "; ".join(notes)
            screen = json.dumps(info, ensure_ascii=False)
            return f"{task}\n\n{screen}" if first else f"** Screen Info **\n\n{screen}"
        if secure:
            info["note"] = _SECURE["en"]
        parts = []
        if first:
            parts.append(f"Task: {task}")
        if feedback:
            parts.append(feedback)
        parts.append("** Screen Info **\n" + json.dumps(info, ensure_ascii=False))
        return "\n\n".join(parts)

    def feedback(self, action: A.Action, outcome: ExecResult, lang: Lang) -> str:
        """What the model is told next turn about an action that did nothing on the phone."""
        if self.profile.layout != "autoglm":
            return outcome.message
        zh = lang == "zh"
        match action:
            case A.Launch(app=app):
                return (
                    f"启动失败：手机上找不到应用「{app}」，请回到桌面从图标打开"
                    if zh
                    else f"Launch failed: no app named {app!r} on the phone; open it from the home screen"
                )
            case A.Interact():
                return f"用户的回答：{outcome.detail}" if zh else f"The user answered: {outcome.detail}"
            case A.CallAPI():
                return "Call_API 在此不可用" if zh else "Call_API is not available here"
        return outcome.message

    # ------------------------------------------------------------------ kept answers
    def assistant_text(self, reasoning: str | None, answer: str) -> str:
        if self.profile.history == "think-answer":
            return f"<think>{reasoning or ''}</think><answer>{answer}</answer>"
        return answer
