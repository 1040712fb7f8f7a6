"""LangChain tools over a ``Device``: let any tool-calling chat model see and operate a phone.

>>> toolkit = PhoneToolkit(AdbDevice(), agent_llm=ChatAutoGLM())      # doctest: +SKIP
>>> agent = langchain.agents.create_agent(
...     planner_llm, toolkit.get_tools(), middleware=toolkit.middleware()
... )  # doctest: +SKIP

The tools (names start with ``phone_`` so they never clash with other tools):

=========================  =====================================================================
``phone_screenshot``       a line of text with the screen size and foreground app, and the
                           screen as an image (see "Images" below); artifact: a dict with the
                           size, app and the image as a data URL
``phone_ui_tree``          the uiautomator hierarchy, by default condensed to one line per
                           clickable / text node with its center (for text-only models);
                           artifact: the nodes as dicts
``phone_tap``              tap; ``phone_double_tap``, ``phone_long_press`` likewise at a point
``phone_swipe``            swipe from one point to another (scrolling: swipe up to see more below)
``phone_type_text``        type into the focused field (any Unicode), optionally clearing it first
``phone_back``             the Back key; ``phone_home`` the Home key
``phone_launch_app``       start an app by name (English or Chinese), launcher label or package
``phone_current_app``      the foreground app
``phone_run_task``         the whole ``PhoneAgent`` (its own vision model loop) as one tool: give it
                           a task, get the status, message and steps back; only when the toolkit
                           has an ``agent_llm``. Its steps are reported to LangChain as child runs
                           and ``autoglm_*`` custom events (see :mod:`autoglm_agent.callbacks`);
                           artifact: the ``AgentResult`` as a dict
=========================  =====================================================================

Coordinates: by default tools take **screen pixels** (0,0 = top-left; the screenshot tool says
the screen size, and how the image it shows is scaled). ``PhoneToolkit(coordinates="grid")``
switches every tool (and the UI-tree centers) to the **0-999 grid** AutoGLM uses: x=0 is the
left edge and 999 the right edge whatever the resolution, which suits vision models that cannot
know how an image was resized.

Errors from the phone (disconnected, unknown app, no focused field...) come back to the model
as the tool's message with ``status="error"`` instead of raising, so an agent can recover; bad
arguments likewise. Tools on one toolkit share a lock: parallel tool calls never interleave
actions on the phone.

Artifacts (``ToolMessage.artifact``, never sent to the model) are plain JSON-able data by default
(``artifacts="json"``), so a LangGraph checkpointer can store them. ``artifacts="objects"`` gives
the ``Screenshot`` (PIL image included: a checkpointer fails with "Type is not msgpack
serializable: Screenshot"), the ``UiNode`` list and the ``AgentResult`` instead.

Images (``image_in``): OpenAI's Chat Completions API accepts only text in ``tool`` messages, and
langchain-openai sends an image block of a ``ToolMessage`` as an ``image_url`` part of it. So by
default (``image_in="message"``) the screenshot tool's message is text only, the image is in its
artifact, and ``PhoneImageMiddleware`` (``create_agent(..., middleware=toolkit.middleware())``)
shows it to the model as a user message after the tool results; without the middleware the
model gets the text alone. ``image_in="tool"`` puts the image block in the tool message itself,
for servers that accept it (vLLM, SGLang, Anthropic, Gemini, OpenAI's Responses API).

The phone model of ``phone_run_task`` runs with the tags ``"nostream"`` (LangGraph leaves its
tokens out of ``stream_mode="messages"``) and :data:`PHONE_MODEL_TAG`; its runs still nest in
the tool's run for tracing and ``astream_events``.
"""

from __future__ import annotations

import asyncio
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables.config import run_in_executor
from langchain_core.tools import BaseTool, BaseToolkit, ToolException
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, ValidationError, create_model

from autoglm_agent.actions import Point, to_grid, to_pixels
from autoglm_agent.agent import AgentCallbacks, AgentConfig, AgentResult, PhoneAgent
from autoglm_agent.callbacks import LangChainEventsCallbacks, MultiCallbacks
from autoglm_agent.device.adb import UiTreeError, parse_ui_xml
from autoglm_agent.device.base import Device, Screenshot
from autoglm_agent.errors import AutoGLMError, ConfigError
from autoglm_agent.executor import ConfirmCallback, InteractCallback, TakeoverCallback
from autoglm_agent.multimodal import DEFAULT_IMAGE_MAX_PIXELS, fit_to_budget, image_part

__all__ = [
    "PHONE_MODEL_TAG",
    "ArtifactMode",
    "CoordinateMode",
    "ImageMode",
    "PhoneImageMiddleware",  # noqa: F822 (module __getattr__: langchain is optional)
    "PhoneSession",
    "PhoneToolkit",
    "UiNode",
    "condense_ui_tree",
    "format_result",
    "format_ui_nodes",
    "show_screenshots",
]

CoordinateMode = Literal["pixels", "grid"]
#: ``json``: plain dicts (checkpointer-safe, the default); ``objects``: Screenshot / UiNode list /
#: AgentResult (a LangGraph checkpointer cannot store them).
ArtifactMode = Literal["objects", "json"]
#: Where the screenshot's image goes: ``message`` (default): not in the tool message (text only,
#: what OpenAI's Chat Completions API requires), ``PhoneImageMiddleware`` shows it to the model
#: as a user message; ``tool``: an image block in the tool message.
ImageMode = Literal["message", "tool"]
#: Tag of the phone model's runs inside ``phone_run_task`` (with LangGraph's ``"nostream"``).
PHONE_MODEL_TAG = "autoglm:phone_model"
_NOSTREAM_TAG = "nostream"  # langgraph.constants.TAG_NOSTREAM
_GRID_MAX = 999


# =========================================================================== UI tree condensing
class UiNode(BaseModel):
    """One node of a condensed UI tree: something to tap, type into, scroll, or read.

    ``bounds`` (left, top, right, bottom) and ``center`` are in screen pixels. ``label`` is the
    node's text, else its content description, else (for clickable containers) the texts of the
    nodes inside it joined with `` | ``.
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="Position in the condensed list, from 1")
    cls: str = Field(description="Short class name, e.g. TextView, Button, EditText")
    label: str = Field("", description="What the node says (text, content-desc, or its children's texts)")
    text: str = ""
    desc: str = ""
    resource_id: str = Field("", description="Resource id without the package prefix, e.g. 'title'")
    context: str = Field(
        "", description="For an unlabelled control (a switch, a checkbox): the label of the row it sits in"
    )
    package: str = ""
    bounds: tuple[int, int, int, int]
    center: tuple[int, int]
    clickable: bool = False
    long_clickable: bool = False
    checkable: bool = False
    checked: bool = False
    scrollable: bool = False
    editable: bool = False
    focused: bool = False
    selected: bool = False
    enabled: bool = True
    password: bool = False

    @property
    def actionable(self) -> bool:
        return self.clickable or self.long_clickable or self.checkable or self.scrollable or self.editable


def _parse_bounds(value: str) -> tuple[int, int, int, int] | None:
    try:
        left_top, _, right_bottom = value.strip().strip("[]").partition("][")
        x1, y1 = (int(v) for v in left_top.split(","))
        x2, y2 = (int(v) for v in right_bottom.split(","))
    except ValueError:
        return None
    return x1, y1, x2, y2


def _flag(attrib: dict[str, str], name: str) -> bool:
    return attrib.get(name, "false") == "true"


def _short_class(name: str) -> str:
    return name.rsplit(".", 1)[-1] or "View"


def _short_id(resource_id: str) -> str:
    return resource_id.split(":id/", 1)[-1] if resource_id else ""


def _is_editable(attrib: dict[str, str]) -> bool:
    cls = attrib.get("class", "")
    return "EditText" in cls or "AutoCompleteTextView" in cls or _flag(attrib, "editable")


def condense_ui_tree(
    xml: str,
    *,
    max_nodes: int | None = None,
    screen_size: tuple[int, int] | None = None,
    label_chars: int = 80,
) -> list[UiNode]:
    """The nodes of a uiautomator dump that matter to someone operating the screen.

    Kept, in document order (roughly top to bottom): every clickable, long-clickable, checkable,
    scrollable or editable node (a clickable container without text of its own is labelled with
    the texts inside it, and those texts are not listed again), plus every other node with text
    or a content description. Dropped: invisible nodes (``visible-to-user="false"``, zero area,
    or outside the screen) and unlabelled layout containers. ``screen_size`` defaults to the
    bounds of the root node. Raises ``AutoGLMError`` when ``xml`` is not a uiautomator dump.
    """
    try:
        root = parse_ui_xml(xml)
    except ET.ParseError as exc:
        raise AutoGLMError(f"the UI tree is not valid XML ({exc})", hint="dump it again") from None
    except UiTreeError as exc:
        raise AutoGLMError(exc.message, hint="the screen's UI tree was refused; use the screenshot") from None
    if root.tag != "hierarchy" and root.find(".//node") is None and root.tag != "node":
        raise AutoGLMError(f"the UI tree has no <hierarchy> or <node> elements (root <{root.tag}>)")
    if screen_size is None:
        first = root if root.tag == "node" else root.find("node")
        b = _parse_bounds(first.get("bounds", "")) if first is not None else None
        if b is not None and b[2] > b[0] and b[3] > b[1]:
            screen_size = (b[2], b[3])
    nodes: list[UiNode] = []

    def visible(attrib: dict[str, str], b: tuple[int, int, int, int] | None) -> bool:
        if attrib.get("visible-to-user") == "false" or b is None:
            return False
        x1, y1, x2, y2 = b
        if x2 <= x1 or y2 <= y1:
            return False
        if screen_size is not None:
            w, h = screen_size
            if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
                return False
        return True

    def texts_below(element: ET.Element, limit: int = 4) -> list[str]:
        found: list[str] = []
        for child in element.iter("node"):
            if child is element:
                continue
            attrib = child.attrib
            if attrib.get("visible-to-user") == "false":
                continue
            value = (attrib.get("text") or attrib.get("content-desc") or "").strip()
            if value and value not in found:
                found.append(value)
                if len(found) >= limit:
                    break
        return found

    def clip(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= label_chars else text[: label_chars - 1] + "…"

    def walk(element: ET.Element, covered: bool, context: str) -> None:
        for child in element:
            if child.tag != "node":
                walk(child, covered, context)
                continue
            attrib = child.attrib
            b = _parse_bounds(attrib.get("bounds", ""))
            if not visible(attrib, b):
                walk(child, covered, context)
                continue
            assert b is not None
            text = (attrib.get("text") or "").strip()
            desc = (attrib.get("content-desc") or "").strip()
            clickable = _flag(attrib, "clickable")
            long_clickable = _flag(attrib, "long-clickable")
            checkable = _flag(attrib, "checkable")
            scrollable = _flag(attrib, "scrollable")
            editable = _is_editable(attrib)
            actionable = clickable or long_clickable or checkable or scrollable or editable
            own = text or desc
            child_covered, child_context = covered, context
            if actionable or (own and not covered):
                label = own
                if not label and (clickable or long_clickable or checkable) and not scrollable:
                    label = " | ".join(texts_below(child))
                    child_covered = True
                elif (clickable or long_clickable) and own and not scrollable:
                    child_covered = True
                if child_covered and label:
                    child_context = label.split(" | ", 1)[0]
                nodes.append(
                    UiNode(
                        index=len(nodes) + 1,
                        cls=_short_class(attrib.get("class", "")),
                        label=clip(label),
                        text=text,
                        desc=desc,
                        resource_id=_short_id(attrib.get("resource-id", "")),
                        context=clip(context) if not label else "",
                        package=attrib.get("package", ""),
                        bounds=b,
                        center=((b[0] + b[2]) // 2, (b[1] + b[3]) // 2),
                        clickable=clickable,
                        long_clickable=long_clickable,
                        checkable=checkable,
                        checked=_flag(attrib, "checked"),
                        scrollable=scrollable,
                        editable=editable,
                        focused=_flag(attrib, "focused"),
                        selected=_flag(attrib, "selected"),
                        enabled=attrib.get("enabled", "true") != "false",
                        password=_flag(attrib, "password"),
                    )
                )
            walk(child, child_covered, child_context)

    walk(root, False, "")
    if max_nodes is not None and len(nodes) > max_nodes:
        nodes = nodes[:max_nodes]
    return nodes


def _node_flags(node: UiNode) -> list[str]:
    flags = []
    if node.editable:
        flags.append("editable")
    if node.clickable:
        flags.append("clickable")
    if node.long_clickable:
        flags.append("long-clickable")
    if node.checkable:
        flags.append("checked" if node.checked else "unchecked")
    if node.scrollable:
        flags.append("scrollable")
    if node.focused:
        flags.append("focused")
    if node.selected:
        flags.append("selected")
    if node.password:
        flags.append("password")
    if not node.enabled:
        flags.append("disabled")
    return flags


def format_ui_nodes(
    nodes: list[UiNode],
    *,
    coordinates: CoordinateMode = "pixels",
    screen_size: tuple[int, int] | None = None,
    omitted: int = 0,
) -> str:
    """One line per node: ``3. Button "Save" id=save center=(540,2100) box=[400,2050,680,2150] clickable``.

    With ``coordinates="grid"`` centers and boxes are on the 0-999 grid (``screen_size`` needed).
    """
    if coordinates == "grid" and screen_size is None:
        raise ConfigError("format_ui_nodes needs screen_size for grid coordinates")

    def conv(x: int, y: int) -> tuple[int, int]:
        if coordinates == "grid":
            assert screen_size is not None
            return tuple(to_grid(x, y, *screen_size))  # type: ignore[return-value]
        return x, y

    lines = []
    for node in nodes:
        cx, cy = conv(*node.center)
        x1, y1 = conv(node.bounds[0], node.bounds[1])
        x2, y2 = conv(node.bounds[2], node.bounds[3])
        label = node.label.replace('"', "'")
        parts = [f"{node.index}.", node.cls]
        if label:
            parts.append(f'"{label}"')
        if node.resource_id:
            parts.append(f"id={node.resource_id}")
        if node.context:
            parts.append('in="' + node.context.replace('"', "'") + '"')
        parts.append(f"center=({cx},{cy})")
        parts.append(f"box=[{x1},{y1},{x2},{y2}]")
        parts.extend(_node_flags(node))
        lines.append(" ".join(parts))
    if omitted:
        lines.append(f"... {omitted} more nodes not shown (raise max_nodes to see them)")
    return "\n".join(lines)


# =========================================================================== shared state
class PhoneSession:
    """What the tools of one toolkit share: the device, a lock, and how coordinates are read."""

    def __init__(
        self,
        device: Device,
        *,
        coordinates: CoordinateMode = "pixels",
        image_max_pixels: int | None = DEFAULT_IMAGE_MAX_PIXELS,
        image_format: Literal["jpeg", "png"] = "jpeg",
        artifacts: ArtifactMode = "json",
        image_in: ImageMode = "message",
    ) -> None:
        if coordinates not in ("pixels", "grid"):
            raise ConfigError(f"coordinates must be 'pixels' or 'grid', not {coordinates!r}")
        if artifacts not in ("objects", "json"):
            raise ConfigError(f"artifacts must be 'objects' or 'json', not {artifacts!r}")
        if image_in not in ("message", "tool"):
            raise ConfigError(f"image_in must be 'message' or 'tool', not {image_in!r}")
        self.device = device
        self.artifacts: ArtifactMode = artifacts
        self.image_in: ImageMode = image_in
        self.coordinates: CoordinateMode = coordinates
        self.image_max_pixels = image_max_pixels
        self.image_format: Literal["jpeg", "png"] = image_format
        self.lock = threading.RLock()

    def to_pixels(self, x: int, y: int, what: str = "point") -> tuple[int, int]:
        """A point given in the toolkit's coordinates -> screen pixels (checked against the screen)."""
        width, height = self.device.screen_size()
        if self.coordinates == "grid":
            return to_pixels(Point(x, y), width, height)
        if not (0 <= x < width and 0 <= y < height):
            raise ToolException(
                f"Error: the {what} ({x},{y}) is outside the {width}x{height} px screen; "
                f"use pixels with 0 <= x < {width} and 0 <= y < {height}"
            )
        return x, y

    def describe(self, x: int, y: int) -> str:
        px = self.to_pixels(x, y)
        return f"({x},{y}) on the grid = ({px[0]},{px[1]}) px" if self.coordinates == "grid" else f"({x},{y})"


# =========================================================================== argument schemas
def _axis(mode: CoordinateMode, axis: Literal["x", "y"], what: str) -> Any:
    edge = "left edge" if axis == "x" else "top edge"
    if mode == "grid":
        far = "right edge" if axis == "x" else "bottom edge"
        desc = f"{axis} of {what} on the 0-999 grid over the screen (0 = {edge}, 999 = {far})"
        return (int, Field(ge=0, le=_GRID_MAX, description=desc))
    desc = f"{axis} of {what} in screen pixels (0 = {edge}; phone_screenshot reports the screen size)"
    return (int, Field(ge=0, description=desc))


def _point_model(name: str, doc: str, mode: CoordinateMode, what: str, **extra: Any) -> type[BaseModel]:
    fields: dict[str, Any] = {"x": _axis(mode, "x", what), "y": _axis(mode, "y", what), **extra}
    return create_model(name, __doc__=doc, **fields)


class _Schemas:
    """The argument schemas of one coordinate mode."""

    def __init__(self, mode: CoordinateMode) -> None:
        self.tap = _point_model("TapInput", "Where to tap.", mode, "the point to tap")
        self.double_tap = _point_model(
            "DoubleTapInput", "Where to double-tap.", mode, "the point to double-tap"
        )
        self.long_press = _point_model(
            "LongPressInput",
            "Where to press and hold.",
            mode,
            "the point to press",
            duration_ms=(
                int,
                Field(800, ge=100, le=10_000, description="How long to hold, in milliseconds (default 800)"),
            ),
        )
        self.swipe = create_model(
            "SwipeInput",
            __doc__="A straight swipe from a start point to an end point.",
            x1=_axis(mode, "x", "the start point"),
            y1=_axis(mode, "y", "the start point"),
            x2=_axis(mode, "x", "the end point"),
            y2=_axis(mode, "y", "the end point"),
            duration_ms=(
                int,
                Field(
                    300, ge=50, le=5000, description="How long the swipe takes in milliseconds (default 300)"
                ),
            ),
        )


@cache
def _schemas(mode: CoordinateMode) -> _Schemas:
    return _Schemas(mode)


class NoInput(BaseModel):
    """This tool takes no arguments."""


class TypeTextInput(BaseModel):
    """Text to type into the focused input field."""

    text: str = Field(
        min_length=1, description="The exact text to type; any language, emoji and newlines work"
    )
    clear_first: bool = Field(False, description="Clear what the field already holds before typing")


class LaunchAppInput(BaseModel):
    """The app to open."""

    app: str = Field(
        min_length=1,
        description="App name in English or Chinese ('Settings', '设置'), its launcher label, or its package name",
    )


class UiTreeInput(BaseModel):
    """How to return the screen's UI hierarchy."""

    condensed: bool = Field(
        True,
        description="True: one line per clickable/text element with its center (compact, best for "
        "deciding where to tap); False: the raw uiautomator XML",
    )
    max_nodes: int = Field(150, ge=1, le=2000, description="At most this many elements in the condensed list")


class RunTaskInput(BaseModel):
    """A task for the phone agent."""

    task: str = Field(
        min_length=1,
        description="A complete instruction for the phone, e.g. 'Open Settings and turn on Wi-Fi'. "
        "The phone agent sees the screen but not this conversation, so include every detail it needs",
    )
    max_steps: int | None = Field(
        None,
        ge=1,
        le=500,
        description="Upper bound on phone actions for this task (default: the toolkit's limit)",
    )


# =========================================================================== tools
def _validation_message(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ())) or "input"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return "Error: invalid arguments (" + "; ".join(problems) + "); fix them and call the tool again"


class _PhoneTool(BaseTool):
    """Base of the phone tools: validates arguments, holds the lock, turns errors into messages."""

    session: Annotated[PhoneSession, SkipValidation] = Field(exclude=True)
    handle_tool_error: bool | str | Callable[[ToolException], Any] | None = True
    handle_validation_error: bool | str | Callable[[Any], str] | None = _validation_message

    #: Which coordinate schema of ``_Schemas`` the tool takes (it depends on the toolkit's mode).
    point_schema: ClassVar[str | None] = None

    def _run(self, *args: Any, run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any) -> Any:
        return self._guarded(lambda params: self._act(params, run_manager), kwargs)

    def _guarded(self, act: Callable[[Any], Any], kwargs: dict[str, Any]) -> Any:
        schema = self.args_schema
        params = schema.model_validate(kwargs) if isinstance(schema, type) else NoInput()
        try:
            with self.session.lock:
                return act(params)
        except ToolException:
            raise
        except AutoGLMError as exc:
            raise ToolException(f"Error: {exc}") from exc

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        raise NotImplementedError

    @property
    def device(self) -> Device:
        return self.session.device

    def _foreground(self) -> str:
        return str(self.device.current_app())


class ScreenshotTool(_PhoneTool):
    name: str = "phone_screenshot"
    description: str = (
        "Take a screenshot of the phone. Returns the image of the current screen, its size in pixels "
        "and the foreground app. Call it before acting and after actions to check what happened."
    )
    args_schema: type[BaseModel] = NoInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        session = self.session
        shot: Screenshot = self.device.screenshot()
        app = self._foreground()
        part = image_part(shot.image, max_pixels=session.image_max_pixels, format=session.image_format)
        url: str = part["image_url"]["url"]
        header, _, data = url.partition(",")
        mime = header.removeprefix("data:").split(";", 1)[0]
        shown = fit_to_budget(shot.width, shot.height, session.image_max_pixels)
        text = f"Screen {shot.width}x{shot.height} px, foreground app: {app}."
        if session.coordinates == "grid":
            text += " Coordinates for the phone tools are on a 0-999 grid over this image (0,0 top-left)."
        elif shown != (shot.width, shot.height):
            text += (
                f" The image is scaled to {shown[0]}x{shown[1]}: coordinates for the phone tools are "
                f"screen pixels, so multiply x in the image by {shot.width / shown[0]:.3f} "
                f"and y by {shot.height / shown[1]:.3f}."
            )
        else:
            text += " Coordinates for the phone tools are pixels of this image."
        if shot.secure:
            text += " The screen is protected (secure): the image is black, use phone_ui_tree instead."
        content: Any
        if session.image_in == "tool":
            content = [
                {"type": "text", "text": text},
                {"type": "image", "base64": data, "mime_type": mime},
            ]
        else:  # Chat Completions takes only text in tool messages: PhoneImageMiddleware shows it
            content = text
        if session.artifacts == "json":
            meta = {
                "width": shot.width,
                "height": shot.height,
                "app": app,
                "secure": shot.secure,
                "captured_at": shot.captured_at,
                "image_size": list(shown),
                "image_url": url,
            }
            return content, meta
        return content, shot


class UiTreeTool(_PhoneTool):
    name: str = "phone_ui_tree"
    description: str = (
        "Read the current screen's UI elements as text (no image needed). By default a compact list: "
        "one line per clickable, editable, scrollable or text element with its label and center point, "
        "which you can pass to phone_tap. Set condensed=false for the raw uiautomator XML."
    )
    args_schema: type[BaseModel] = UiTreeInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        xml = self.device.ui_tree()
        size = self.device.screen_size()
        nodes = condense_ui_tree(xml, screen_size=size)
        artifact: Any = nodes
        if self.session.artifacts == "json":
            artifact = [node.model_dump(mode="json") for node in nodes]
        if not params.condensed:
            return xml, artifact
        shown = nodes[: params.max_nodes]
        unit = "0-999 grid" if self.session.coordinates == "grid" else "screen pixels"
        head = f"Screen {size[0]}x{size[1]} px, foreground app: {self._foreground()}. Coordinates: {unit}."
        body = format_ui_nodes(
            shown,
            coordinates=self.session.coordinates,
            screen_size=size,
            omitted=len(nodes) - len(shown),
        )
        return f"{head}\n{body or '(no visible elements)'}", artifact


class TapTool(_PhoneTool):
    name: str = "phone_tap"
    args_schema: type[BaseModel] = _schemas("pixels").tap
    point_schema: ClassVar[str | None] = "tap"
    description: str = "Tap the screen at a point (buttons, list items, input fields, icons)."

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        px, py = self.session.to_pixels(params.x, params.y)
        self.device.tap(px, py)
        return f"Tapped {self.session.describe(params.x, params.y)}."


class DoubleTapTool(_PhoneTool):
    name: str = "phone_double_tap"
    args_schema: type[BaseModel] = _schemas("pixels").double_tap
    point_schema: ClassVar[str | None] = "double_tap"
    description: str = "Double-tap the screen at a point (zoom in maps and photos, like a post)."

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        px, py = self.session.to_pixels(params.x, params.y)
        self.device.double_tap(px, py)
        return f"Double-tapped {self.session.describe(params.x, params.y)}."


class LongPressTool(_PhoneTool):
    name: str = "phone_long_press"
    args_schema: type[BaseModel] = _schemas("pixels").long_press
    point_schema: ClassVar[str | None] = "long_press"
    description: str = "Press and hold at a point (context menus, selecting text, moving icons)."

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        px, py = self.session.to_pixels(params.x, params.y)
        self.device.long_press(px, py, params.duration_ms)
        return f"Long-pressed {self.session.describe(params.x, params.y)} for {params.duration_ms} ms."


class SwipeTool(_PhoneTool):
    name: str = "phone_swipe"
    args_schema: type[BaseModel] = _schemas("pixels").swipe
    point_schema: ClassVar[str | None] = "swipe"
    description: str = (
        "Swipe in a straight line from (x1,y1) to (x2,y2). To scroll down a list (see what is below), "
        "swipe up: start low on the screen and end higher; swipe left/right to change pages."
    )

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        a = self.session.to_pixels(params.x1, params.y1, "start point")
        b = self.session.to_pixels(params.x2, params.y2, "end point")
        self.device.swipe(a[0], a[1], b[0], b[1], params.duration_ms)
        return (
            f"Swiped from {self.session.describe(params.x1, params.y1)} to "
            f"{self.session.describe(params.x2, params.y2)} in {params.duration_ms} ms."
        )


class TypeTextTool(_PhoneTool):
    name: str = "phone_type_text"
    args_schema: type[BaseModel] = TypeTextInput
    description: str = (
        "Type text into the input field that has focus (tap the field first). Any language works. "
        "It does not press Enter or a send button: tap that yourself."
    )

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        if params.clear_first:
            self.device.clear_text()
        self.device.type_text(params.text)
        return (
            f"Typed {len(params.text)} characters{' after clearing the field' if params.clear_first else ''}."
        )


class BackTool(_PhoneTool):
    name: str = "phone_back"
    args_schema: type[BaseModel] = NoInput
    description: str = "Press the Back key (close a dialog or the keyboard, go to the previous page)."

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        self.device.back()
        return f"Pressed Back; foreground app: {self._foreground()}."


class HomeTool(_PhoneTool):
    name: str = "phone_home"
    args_schema: type[BaseModel] = NoInput
    description: str = "Press the Home key (go to the home screen)."

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        self.device.home()
        return f"Pressed Home; foreground app: {self._foreground()}."


class LaunchAppTool(_PhoneTool):
    name: str = "phone_launch_app"
    args_schema: type[BaseModel] = LaunchAppInput
    description: str = (
        "Open an app directly, by name ('Settings', '微信'), launcher label or package name. "
        "Faster and surer than finding its icon."
    )

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        package = self.device.launch(params.app)
        return f"Launched {package}; foreground app: {self._foreground()}."


class CurrentAppTool(_PhoneTool):
    name: str = "phone_current_app"
    args_schema: type[BaseModel] = NoInput
    description: str = "Name the app in the foreground (package/activity)."

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        return f"Foreground app: {self._foreground()}."


def format_result(result: AgentResult, *, max_steps_listed: int = 30) -> str:
    """The phone agent's result as the text a planner model reads."""
    lines = [f"status: {result.status}", f"message: {result.message}", f"steps: {result.steps}"]
    records = result.records[-max_steps_listed:]
    if len(result.records) > len(records):
        lines.append(f"(first {len(result.records) - len(records)} steps not listed)")
    for record in records:
        what = record.action_call or "no action"
        outcome = record.outcome or "failed"
        note = record.message or record.error or ""
        lines.append(
            f"{record.index}. [{record.app or '?'}] {what} -> {outcome}" + (f": {note}" if note else "")
        )
    return "\n".join(lines)


class RunTaskTool(_PhoneTool):
    name: str = "phone_run_task"
    args_schema: type[BaseModel] = RunTaskInput
    description: str = (
        "Hand a whole task to the phone agent, which looks at the screen and taps, types and swipes "
        "step by step until the task is done (e.g. 'open Settings and turn on dark mode', 'send "
        '"I am late" to Alice in Messages\'). Returns the status (success, failure or stopped), '
        "its final message and the steps it took."
    )
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    llm: Annotated[BaseChatModel, SkipValidation] = Field(exclude=True)
    agent_config: AgentConfig = Field(default_factory=AgentConfig, exclude=True)
    agent_callbacks: Annotated[AgentCallbacks | None, SkipValidation] = Field(None, exclude=True)
    confirm: Annotated[ConfirmCallback | None, SkipValidation] = Field(None, exclude=True)
    takeover: Annotated[TakeoverCallback | None, SkipValidation] = Field(None, exclude=True)
    interact: Annotated[InteractCallback | None, SkipValidation] = Field(None, exclude=True)
    thinking_events: Literal["stream", "step", "off"] = "stream"

    def _act(self, params: Any, run_manager: CallbackManagerForToolRun | None) -> Any:
        return self._run_agent(params, run_manager, None)

    async def _arun(
        self, *args: Any, run_manager: AsyncCallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> Any:
        """The phone agent is synchronous: run it on a worker thread (with this context, so that
        its events and runs nest in this tool's run). Cancelling the caller stops it after the
        step under way, instead of letting it act on the phone for the rest of its steps."""
        cancel = threading.Event()
        manager = run_manager.get_sync() if run_manager is not None else None
        try:
            return await run_in_executor(
                None, self._guarded, lambda params: self._run_agent(params, manager, cancel), kwargs
            )
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _run_agent(
        self, params: Any, run_manager: CallbackManagerForToolRun | None, cancel: threading.Event | None
    ) -> Any:
        config = self.agent_config
        if params.max_steps is not None:
            config = config.model_copy(update={"max_steps": params.max_steps})
        # The phone model's runs nest in this tool's run (tracing, astream_events) but are tagged
        # "nostream": LangGraph's stream_mode="messages" of the parent graph leaves its tokens out.
        # The bridge runs the model under a config with these tags (see _open_step_run).
        tags = [_NOSTREAM_TAG, PHONE_MODEL_TAG]
        bridge = LangChainEventsCallbacks(run_manager, config={"tags": tags}, thinking=self.thinking_events)
        agent = PhoneAgent(
            self.device,
            self.llm,
            config,
            callbacks=MultiCallbacks(bridge, self.agent_callbacks),
            confirm=self.confirm,
            takeover=self.takeover,
            interact=self.interact,
        )
        try:
            agent.reset(params.task)
            while agent.result is None:
                if cancel is not None and cancel.is_set():
                    raise ToolException(
                        f"Error: the phone task was cancelled after {len(agent.records)} steps"
                    )
                agent.step()
            result = agent.result
        finally:
            bridge.close()
        if self.session.artifacts == "json":
            return format_result(result), result.model_dump(mode="json")
        return format_result(result), result


# =========================================================================== toolkit
class PhoneToolkit(BaseToolkit):
    """The phone tools over one device: ``PhoneToolkit(device).get_tools()``.

    Args:
        device: any ``Device`` (``AdbDevice`` for a phone or the simulator).
        agent_llm: the phone model (e.g. ``ChatAutoGLM``) for ``phone_run_task``; without it
            that tool is left out.
        agent_config: ``AgentConfig`` for ``phone_run_task`` (its ``max_steps`` is the default
            the tool's ``max_steps`` argument overrides).
        coordinates: ``"pixels"`` (default) or ``"grid"`` (0-999, what AutoGLM uses).
        image_max_pixels / image_format: how ``phone_screenshot`` encodes the screen (default
            1,280 image tokens' worth, JPEG; ``None`` for full size).
        artifacts: what the tools put in ``ToolMessage.artifact`` (never sent to the model):
            ``"json"`` (default) plain JSON-able dicts (the screenshot's with the image as a data
            URL), which a LangGraph checkpointer stores; ``"objects"`` the ``Screenshot`` (PIL
            image included), the ``UiNode`` list and the ``AgentResult``, which it cannot ("Type
            is not msgpack serializable: Screenshot").
        image_in: ``"message"`` (default): ``phone_screenshot``'s tool message is text only (OpenAI
            Chat Completions accepts nothing else there) and ``middleware()`` shows the image as a
            user message after the tool results; ``"tool"``: the image block is in the tool
            message (vLLM, Anthropic, Gemini, OpenAI's Responses API accept that).
        agent_callbacks, confirm, takeover, interact: passed to the ``PhoneAgent`` of
            ``phone_run_task`` (without ``confirm`` a sensitive tap stops the run: fail closed).
        thinking_events: how ``phone_run_task`` reports the model's reasoning as custom events
            (``"stream"``, ``"step"`` or ``"off"``; see ``LangChainEventsCallbacks``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    device: Annotated[Device, SkipValidation]
    agent_llm: Annotated[BaseChatModel | None, SkipValidation] = None
    agent_config: AgentConfig | None = None
    coordinates: CoordinateMode = "pixels"
    image_max_pixels: int | None = Field(DEFAULT_IMAGE_MAX_PIXELS, ge=28 * 28)
    image_format: Literal["jpeg", "png"] = "jpeg"
    artifacts: ArtifactMode = "json"
    image_in: ImageMode = "message"
    agent_callbacks: Annotated[AgentCallbacks | None, SkipValidation] = None
    confirm: Annotated[ConfirmCallback | None, SkipValidation] = None
    takeover: Annotated[TakeoverCallback | None, SkipValidation] = None
    interact: Annotated[InteractCallback | None, SkipValidation] = None
    thinking_events: Literal["stream", "step", "off"] = "stream"

    _tool_classes: ClassVar[tuple[type[_PhoneTool], ...]] = (
        ScreenshotTool,
        UiTreeTool,
        TapTool,
        DoubleTapTool,
        LongPressTool,
        SwipeTool,
        TypeTextTool,
        BackTool,
        HomeTool,
        LaunchAppTool,
        CurrentAppTool,
    )

    def __init__(
        self,
        device: Device,
        /,
        *,
        agent_llm: BaseChatModel | None = None,
        agent_config: AgentConfig | None = None,
        coordinates: CoordinateMode = "pixels",
        image_max_pixels: int | None = DEFAULT_IMAGE_MAX_PIXELS,
        image_format: Literal["jpeg", "png"] = "jpeg",
        artifacts: ArtifactMode = "json",
        image_in: ImageMode = "message",
        agent_callbacks: AgentCallbacks | None = None,
        confirm: ConfirmCallback | None = None,
        takeover: TakeoverCallback | None = None,
        interact: InteractCallback | None = None,
        thinking_events: Literal["stream", "step", "off"] = "stream",
    ) -> None:
        if not isinstance(device, Device):
            raise ConfigError(
                f"PhoneToolkit needs a Device (e.g. AdbDevice), not {type(device).__name__}",
                hint="create one with autoglm_agent.device.AdbDevice(serial)",
            )
        if agent_llm is not None and not isinstance(agent_llm, BaseChatModel):
            raise ConfigError(
                f"agent_llm must be a LangChain chat model (e.g. ChatAutoGLM), not {type(agent_llm).__name__}"
            )
        if coordinates not in ("pixels", "grid"):
            raise ConfigError(f"coordinates must be 'pixels' or 'grid', not {coordinates!r}")
        try:
            self._init_fields(
                device=device,
                agent_llm=agent_llm,
                agent_config=agent_config,
                coordinates=coordinates,
                image_max_pixels=image_max_pixels,
                image_format=image_format,
                artifacts=artifacts,
                image_in=image_in,
                agent_callbacks=agent_callbacks,
                confirm=confirm,
                takeover=takeover,
                interact=interact,
                thinking_events=thinking_events,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "options"
            raise ConfigError(f"bad PhoneToolkit option {where}: {first.get('msg', 'invalid')}") from None
        self._session = PhoneSession(
            device,
            coordinates=self.coordinates,
            image_max_pixels=self.image_max_pixels,
            image_format=self.image_format,
            artifacts=self.artifacts,
            image_in=self.image_in,
        )

    _session: PhoneSession

    def _init_fields(self, **fields: Any) -> None:
        super().__init__(**fields)

    @property
    def session(self) -> PhoneSession:
        return self._session

    def get_tools(self) -> list[BaseTool]:
        """The device tools, plus ``phone_run_task`` when the toolkit has an ``agent_llm``."""
        schemas = _schemas(self.coordinates)
        tools: list[BaseTool] = []
        for cls in self._tool_classes:
            kwargs: dict[str, Any] = {"session": self._session}
            if cls.point_schema is not None:
                kwargs["args_schema"] = getattr(schemas, cls.point_schema)
            if self.coordinates == "grid" and cls.point_schema is not None:
                kwargs["description"] = (
                    cls.model_fields["description"].default + " Coordinates are on the 0-999 grid."
                )
            tools.append(cls(**kwargs))
        if self.agent_llm is not None:
            tools.append(
                RunTaskTool(
                    session=self._session,
                    llm=self.agent_llm,
                    agent_config=self.agent_config or AgentConfig(),
                    agent_callbacks=self.agent_callbacks,
                    confirm=self.confirm,
                    takeover=self.takeover,
                    interact=self.interact,
                    thinking_events=self.thinking_events,
                )
            )
        return tools

    def middleware(self, *, max_images: int | None = None) -> list[Any]:
        """``create_agent`` middleware for these tools: ``[PhoneImageMiddleware(...)]`` (needs the
        ``langchain`` package). With ``image_in="message"`` it is how the model sees screenshots."""
        return [_middleware_class()(max_images=max_images, max_pixels=self.image_max_pixels)]


# =========================================================================== middleware
def _screenshot_block(message: Any, max_pixels: int | None) -> dict[str, Any] | None:
    """The image of a text-only ``phone_screenshot`` tool message, from its artifact."""
    from langchain_core.messages import ToolMessage

    if not isinstance(message, ToolMessage) or message.name != ScreenshotTool.model_fields["name"].default:
        return None
    if message.status == "error":
        return None
    content = message.content
    if isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") in ("image", "image_url") for p in content
    ):
        return None  # image_in="tool": already there
    artifact = message.artifact
    if isinstance(artifact, dict) and isinstance(artifact.get("image_url"), str):
        url = artifact["image_url"]
    elif isinstance(artifact, Screenshot):
        url = image_part(artifact.image, max_pixels=max_pixels)["image_url"]["url"]
    else:
        return None
    header, _, data = url.partition(",")
    mime = header.removeprefix("data:").split(";", 1)[0]
    return {"type": "image", "base64": data, "mime_type": mime}


def show_screenshots(
    messages: list[Any], *, max_images: int | None = None, max_pixels: int | None = DEFAULT_IMAGE_MAX_PIXELS
) -> list[Any]:
    """``messages`` with the image of each text-only ``phone_screenshot`` result shown in a user
    message right after its group of tool messages (all tool results of one AI message must
    follow it directly in Chat Completions). ``max_images``: only the latest ones."""
    from langchain_core.messages import HumanMessage, ToolMessage

    found = [i for i, m in enumerate(messages) if _screenshot_block(m, max_pixels) is not None]
    if max_images is not None:
        found = found[len(found) - max_images :] if max_images > 0 else []
    if not found:
        return list(messages)
    wanted = set(found)
    out: list[Any] = []
    pending: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        out.append(message)
        if i in wanted:
            block = _screenshot_block(message, max_pixels)
            assert block is not None
            pending += [
                {
                    "type": "text",
                    "text": f"The screenshot from {message.name} (call {message.tool_call_id}):",
                },
                block,
            ]
        following = messages[i + 1] if i + 1 < len(messages) else None
        if pending and not isinstance(following, ToolMessage):
            out.append(HumanMessage(content=pending))
            pending = []
    return out


@cache
def _middleware_class() -> type[Any]:
    try:
        from langchain.agents.middleware import AgentMiddleware
    except ImportError:  # pragma: no cover - langchain is optional
        raise ConfigError(
            "PhoneImageMiddleware needs the langchain package", hint="pip install 'langchain>=1.0'"
        ) from None

    class PhoneImageMiddleware(AgentMiddleware):  # type: ignore[misc]
        """Shows ``phone_screenshot`` images to the model as user messages (``image_in="message"``).

        Before each model call, after the tool messages answering one AI message, it inserts a
        user message with the images of the text-only screenshot results among them (from their
        artifacts). The graph's state is unchanged. ``max_images``: only the latest ones (all by
        default, as with images in tool messages).
        """

        def __init__(
            self, *, max_images: int | None = None, max_pixels: int | None = DEFAULT_IMAGE_MAX_PIXELS
        ):
            super().__init__()
            self.max_images = max_images
            self.max_pixels = max_pixels

        def _rewrite(self, request: Any) -> Any:
            messages = show_screenshots(
                request.messages, max_images=self.max_images, max_pixels=self.max_pixels
            )
            return request.override(messages=messages)

        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            return handler(self._rewrite(request))

        async def awrap_model_call(self, request: Any, handler: Any) -> Any:
            return await handler(self._rewrite(request))

    return PhoneImageMiddleware


def __getattr__(name: str) -> Any:
    if name == "PhoneImageMiddleware":  # built on first use: langchain is an optional dependency
        return _middleware_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
