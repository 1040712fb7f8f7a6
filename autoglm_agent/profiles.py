"""Profiles: what one model family expects of the requests it gets, as one named bundle.

A model answers best in the dialect it was trained on: its system prompt, how the task and the
screen are laid out in the user turn, how earlier turns are kept, the sampling settings, the image
encoding, the names it knows apps by and how long a swipe lasts. A :class:`Profile` holds all of
that; the agent builds every request from it.

Built in:

* ``autoglm`` — AutoGLM-Phone-9B exactly as its official client (Open-AutoGLM, ``phone-agent``)
  talks to it: that package's Chinese prompt (whatever the task's language), its message layout,
  ``<think>/<answer>`` history, native-size PNG, temperature 0 / top_p 0.85 / frequency penalty
  0.2 / 3000 tokens, its app names, 1-2 s swipes and 3 s long presses. The prompt and the app
  table are read from the ``phone-agent`` package at run time (:mod:`autoglm_agent.reference`).
* ``autoglm-multilingual`` — the same with the reference's English prompt
  (AutoGLM-Phone-9B-Multilingual).
* ``generic`` — this project's own prompt (Chinese or English by the task), compact history and a
  JPEG under a pixel budget: for other vision models.
* a checkpoint's own ``agent.json`` (the demo model's): a ``generic`` profile with its fields
  replaced (``{"system_prompt": ..., "image_max_pixels": ..., "lang": "en", "max_steps": 12}``,
  or ``"extends": "autoglm"``). The embedded server advertises it, so a client pointed at the
  server with ``--base-url`` finds it without being told.

``select_profile`` picks one: a name or a JSON file given by the user, else what the endpoint
advertises, else by model name (``autoglm-phone*`` -> ``autoglm``), else ``generic``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoglm_agent.errors import ConfigError
from autoglm_agent.multimodal import DEFAULT_IMAGE_MAX_PIXELS

__all__ = [
    "AGENT_FILE",
    "BUILTIN_PROFILES",
    "Profile",
    "Sampling",
    "Timings",
    "checkpoint_profile",
    "discover_profile",
    "get_profile",
    "profile_for_model",
    "select_profile",
]

logger = logging.getLogger(__name__)

#: The file in a checkpoint folder that carries its profile.
AGENT_FILE = "agent.json"
#: The key under which the embedded server's model card carries that profile.
MODEL_CARD_KEY = "agent_profile"


class Sampling(BaseModel):
    """Sampling settings sent with each request; None leaves the server's (or the client's) default."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    max_tokens: int | None = Field(None, ge=1)

    def request_params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Timings(BaseModel):
    """How long gestures last on the phone."""

    model_config = ConfigDict(extra="forbid")

    #: Swipe duration in ms, or ``"distance"``: 1000-2000 ms growing with the swipe's length
    #: (the official client's rule: squared pixel distance / 1000, clamped).
    swipe_ms: int | Literal["distance"] = 300
    long_press_ms: int = Field(800, ge=1)

    def swipe_duration(self, x1: int, y1: int, x2: int, y2: int) -> int:
        if self.swipe_ms != "distance":
            return self.swipe_ms
        dist_sq = (x1 - x2) ** 2 + (y1 - y2) ** 2
        return max(1000, min(dist_sq // 1000, 2000))


class Profile(BaseModel):
    """Everything about the requests that a model family was trained on."""

    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    #: ``reference``: the official client's prompt (``phone-agent``); ``builtin``: this project's.
    #: A ``system_prompt`` text replaces either.
    prompt_source: Literal["reference", "builtin"] = "builtin"
    #: A full system prompt; ``{date}`` is filled at each run.
    system_prompt: str | None = None
    #: Prompt language; ``auto``: Chinese when the task has Chinese characters, else English.
    lang: Literal["auto", "zh", "en"] = "auto"
    #: ``autoglm``: first turn ``"{task}\n\n{screen info}"``, later ``"** Screen Info **\n\n{...}"``;
    #: ``generic``: ``"Task: {task}"`` then ``"** Screen Info **\n{...}"``.
    layout: Literal["autoglm", "generic"] = "generic"
    #: How earlier answers are kept: ``think-answer`` (``<think>..</think><answer>..</answer>``)
    #: or ``answer`` (the action text only).
    history: Literal["think-answer", "answer"] = "answer"
    #: Earlier turns' text kept within about this many tokens (oldest dropped first; the task stays).
    history_token_budget: int = Field(6000, ge=200)
    image_format: Literal["png", "jpeg"] = "jpeg"
    #: Screenshot pixel budget (downscaled to fit, never upscaled); None sends the native size.
    image_max_pixels: int | None = Field(DEFAULT_IMAGE_MAX_PIXELS, ge=28 * 28)
    #: ``current_app`` as ``reference`` app names ("微信", "System Home") or the ``component``.
    app_names: Literal["reference", "component"] = "component"
    sampling: Sampling = Field(default_factory=Sampling)
    timings: Timings = Field(default_factory=Timings)
    #: Send ``enable_thinking`` / ``chat_template_kwargs`` with each request.
    thinking_params: bool = True
    #: A malformed answer: ``explain`` shows the model the parse error and asks again;
    #: ``resample`` asks again with nothing added to the conversation (a little more randomness).
    parse_retry: Literal["explain", "resample"] = "explain"
    #: Step limit suggested for this model (the agent's own setting wins when given).
    max_steps: int | None = Field(None, ge=1, le=500)

    def prompt_lang(self, task: str) -> Literal["zh", "en"]:
        if self.lang != "auto":
            return self.lang
        return "zh" if re.search(r"[\u3400-\u9fff]", task) else "en"

    def describe(self) -> str:
        """One line: the name and where the prompt comes from."""
        if self.system_prompt is not None:
            source = "its own prompt"
        elif self.prompt_source == "reference":
            from autoglm_agent.reference import load

            ref = load()
            source = (
                f"prompt from phone-agent {ref.version}"
                if ref
                else "this project's prompt (phone-agent not found)"
            )
        else:
            source = "this project's prompt"
        return f"{self.name} ({source}, {self.lang} prompt)"


_AUTOGLM = Profile(
    name="autoglm",
    prompt_source="reference",
    lang="zh",
    layout="autoglm",
    history="think-answer",
    # the reference keeps every turn; a bound far above a normal run keeps a 100-step run in context
    history_token_budget=16000,
    image_format="png",
    image_max_pixels=None,
    app_names="reference",
    sampling=Sampling(temperature=0.0, top_p=0.85, frequency_penalty=0.2, max_tokens=3000),
    timings=Timings(swipe_ms="distance", long_press_ms=3000),
    thinking_params=False,
    parse_retry="resample",
    max_steps=100,
)

BUILTIN_PROFILES: dict[str, Profile] = {
    "autoglm": _AUTOGLM,
    "autoglm-multilingual": _AUTOGLM.model_copy(update={"name": "autoglm-multilingual", "lang": "en"}),
    "generic": Profile(name="generic"),
}


def get_profile(name: str) -> Profile:
    """A built-in profile by name, or a profile JSON file (``agent.json`` format) by path."""
    if name in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[name]
    path = Path(name)
    if path.suffix == ".json" or path.is_file() or path.is_dir():
        file = path / AGENT_FILE if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"profile file not found: {file}", hint="give a JSON file or a built-in name")
        return _profile_from_file(file)
    raise ConfigError(
        f"unknown profile {name!r}",
        hint=f"use one of {', '.join(BUILTIN_PROFILES)}, or a JSON file in agent.json format",
    )


def profile_from_dict(data: Any, *, default_name: str, where: str) -> Profile:
    """A profile from ``agent.json``-style data: fields over ``extends`` (default ``generic``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} is not a JSON object")
    data = dict(data)
    base_name = data.pop("extends", "generic")
    if not isinstance(base_name, str) or base_name not in BUILTIN_PROFILES:
        raise ConfigError(f"{where}: extends {base_name!r}, which is not a built-in profile")
    base = BUILTIN_PROFILES[base_name]
    data.setdefault("name", default_name)
    try:
        merged = {**base.model_dump(), **data}
        for nested in ("sampling", "timings"):
            if isinstance(data.get(nested), dict):
                merged[nested] = {**base.model_dump()[nested], **data[nested]}
        return Profile.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(map(str, err["loc"]))
        raise ConfigError(f"{where} is not a valid profile: {loc}: {err['msg']}") from None


def _profile_from_file(file: Path) -> Profile:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the profile {file}: {exc}".splitlines()[0]) from None
    return profile_from_dict(
        data, default_name=file.parent.name if file.name == AGENT_FILE else file.stem, where=str(file)
    )


def checkpoint_profile(model_dir: str | Path) -> Profile | None:
    """The profile a checkpoint carries in its ``agent.json``, or None when it has none."""
    file = Path(model_dir) / AGENT_FILE
    return _profile_from_file(file) if file.is_file() else None


def profile_for_model(model: str | None) -> Profile:
    """The built-in profile for a model name: AutoGLM-Phone names get ``autoglm``."""
    low = (model or "").lower()
    if "autoglm" in low:
        return BUILTIN_PROFILES["autoglm-multilingual" if "multilingual" in low else "autoglm"]
    return BUILTIN_PROFILES["generic"]


def discover_profile(
    base_url: str, model: str, api_key: str | None = None, *, timeout: float = 5.0
) -> Profile | None:
    """The profile an endpoint advertises for ``model`` in its model card (the embedded server does).

    Servers that advertise none (vLLM, SGLang, hosted APIs), or that cannot be reached, give None.
    """
    import openai

    from autoglm_agent.llm import default_api_key

    client = openai.OpenAI(
        base_url=base_url,
        api_key=default_api_key(api_key),
        timeout=openai.Timeout(timeout, connect=min(timeout, 3.0)),
        max_retries=0,
    )
    try:
        cards = list(client.models.list())
    except (openai.OpenAIError, ValueError) as exc:
        logger.debug("no model list at %s: %s", base_url, exc)
        return None
    finally:
        client.close()
    for card in cards:
        extra = card.model_extra or {}
        if card.id == model and isinstance(extra.get(MODEL_CARD_KEY), dict):
            return profile_from_dict(
                extra[MODEL_CARD_KEY],
                default_name=f"{model} (from the server)",
                where=f"the profile served at {base_url}",
            )
    return None


def select_profile(
    requested: str | Profile | None,
    *,
    model: str | None = None,
    advertised: Profile | None = None,
) -> Profile:
    """The profile to use: the one asked for, else the endpoint's own, else by model name."""
    if isinstance(requested, Profile):
        return requested
    if requested not in (None, "", "auto"):
        return get_profile(str(requested))
    if advertised is not None:
        return advertised
    return profile_for_model(model)
