"""Trajectories: every run as a folder you can scroll through.

```
runs/20261125-101500-open-settings/
  meta.json        task, language, config
  steps.jsonl      one JSON object per step, appended and flushed as the step ends
  step_001.jpg     the screenshot the model saw, with its action drawn on it
  result.json      status, message, totals (written when the run ends)
  report.html      self-contained report (images inlined), rewritten after every step
```

Everything is written step by step, so a crash loses at most the step in flight.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from autoglm_agent.actions import to_pixels
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.safetext import well_formed

_ACCENT = (255, 45, 85)
#: Characters that ``json.dumps(ensure_ascii=False)`` leaves raw but ``str.splitlines()`` (and
#: JavaScript before ES2019) treats as line breaks: escaped so that one step stays one line.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class TrajectoryError(AutoGLMError):
    """The trajectory folder cannot be created or written."""


def _json_text(obj: Any, indent: int | None = None) -> str:
    """``obj`` as JSON text, UTF-8 kept readable, that always encodes to UTF-8: a lone surrogate
    (a model's ``"\\ud800"``, undecodable command-line bytes) is written as its ``\\uXXXX`` escape,
    so the file reads back to the same string. Surrogates only occur inside JSON strings, where
    ``backslashreplace`` produces exactly the JSON escape."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def jsonl_line(obj: Any) -> str:
    """``obj`` as one JSON line (UTF-8 text kept readable; Unicode line separators escaped)."""
    text = _json_text(obj)
    for raw, escaped in _LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-")
    return (slug[:limit].rstrip("-")) or "task"


def draw_action(image: Image.Image, action: dict[str, Any] | None) -> Image.Image:
    """A copy of ``image`` with the action marked: taps as rings, swipes as arrows, text as a caption."""
    out = image.convert("RGB").copy()
    if not action:
        return out
    draw = ImageDraw.Draw(out)
    w, h = out.size
    r = max(12, w // 30)
    width = max(3, w // 200)

    def px(point: Any) -> tuple[int, int]:
        return to_pixels((int(point[0]), int(point[1])), w, h)

    name = str(action.get("action", ""))
    if "element" in action and action["element"] is not None:
        x, y = px(action["element"])
        draw.ellipse((x - r, y - r, x + r, y + r), outline=_ACCENT, width=width)
        if name in ("Double Tap", "Long Press"):
            draw.ellipse((x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r), outline=_ACCENT, width=width)
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=_ACCENT)
    if action.get("start") is not None and action.get("end") is not None:
        (x1, y1), (x2, y2) = px(action["start"]), px(action["end"])
        draw.line((x1, y1, x2, y2), fill=_ACCENT, width=width * 2)
        draw.ellipse((x1 - r // 2, y1 - r // 2, x1 + r // 2, y1 + r // 2), fill=_ACCENT)
        # arrow head
        import math

        ang = math.atan2(y2 - y1, x2 - x1)
        for da in (2.6, -2.6):
            draw.line(
                (x2, y2, x2 + int(r * 1.5 * math.cos(ang + da)), y2 + int(r * 1.5 * math.sin(ang + da))),
                fill=_ACCENT,
                width=width * 2,
            )
    return out


class TrajectoryRecorder:
    """Writes one run's folder. Create with ``TrajectoryRecorder.create(base_dir, task)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._io("create"):
            self.path.mkdir(parents=True, exist_ok=True)
        self._steps: list[dict[str, Any]] = []
        self._meta: dict[str, Any] = {}
        self._result: dict[str, Any] | None = None

    @classmethod
    def create(cls, base_dir: Path | str, task: str) -> TrajectoryRecorder:
        base = Path(base_dir)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = base / f"{stamp}-{_slug(task)}"
        n = 1
        while path.exists():
            n += 1
            path = base / f"{stamp}-{_slug(task)}-{n}"
        return cls(path)

    @contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """File-system errors as one-line ``TrajectoryError``s."""
        try:
            yield
        except OSError as exc:
            raise TrajectoryError(
                f"cannot {what} the trajectory folder {self.path}: {exc.strerror or exc}",
                hint="pass a writable trajectory directory (--trajectory-dir, AgentConfig.trajectory_dir)",
            ) from exc

    def write_meta(self, meta: dict[str, Any]) -> None:
        self._meta = meta
        with self._io("write"):
            (self.path / "meta.json").write_text(_json_text(meta, indent=2), encoding="utf-8")
        self._write_report()

    def save_screenshot(self, index: int, image: Image.Image, action: dict[str, Any] | None) -> str:
        name = f"step_{index:03d}.jpg"
        with self._io("write"):
            draw_action(image, action).save(self.path / name, format="JPEG", quality=80)
        return name

    def append_step(self, step: dict[str, Any]) -> None:
        self._steps.append(step)
        with self._io("write"), (self.path / "steps.jsonl").open("a", encoding="utf-8") as f:
            f.write(jsonl_line(step) + "\n")
            f.flush()
        self._write_report()

    def finish(self, result: dict[str, Any]) -> None:
        self._result = result
        with self._io("write"):
            (self.path / "result.json").write_text(_json_text(result, indent=2), encoding="utf-8")
        self._write_report()

    # ------------------------------------------------------------------ HTML
    def _image_uri(self, name: str | None) -> str | None:
        if not name or not (self.path / name).exists():
            return None
        data = base64.b64encode((self.path / name).read_bytes()).decode("ascii")
        return f"data:image/jpeg;base64,{data}"

    def _write_report(self) -> None:
        with self._io("write"):
            (self.path / "report.html").write_text(
                well_formed(render_report(self._meta, self._steps, self._result, self._image_uri)),
                encoding="utf-8",
            )


def render_report(
    meta: dict[str, Any],
    steps: list[dict[str, Any]],
    result: dict[str, Any] | None,
    image_uri: Any,
) -> str:
    e = html.escape
    task = str(meta.get("task", ""))
    if result is None:
        status = '<span class="st running">running</span>'
    else:
        status = f'<span class="st {e(str(result.get("status")))}">{e(str(result.get("status")))}</span> {e(str(result.get("message", "")))}'
    rows = []
    for s in steps:
        t = s.get("timings", {})
        uri = image_uri(s.get("screenshot"))
        img = (
            f'<img src="{uri}" alt="step {s["index"]}">' if uri else '<div class="noimg">no screenshot</div>'
        )
        errors = "".join(f'<div class="err">parse error: {e(x)}</div>' for x in s.get("parse_errors", []))
        if s.get("error"):
            errors += f'<div class="err">{e(str(s["error"]))}</div>'
        rows.append(
            f"""<section class="step"><div class="shot">{img}</div><div class="info">
<h2>Step {s["index"]} <small>{e(str(s.get("app") or ""))}</small></h2>
<div class="action">{e(str(s.get("action_call") or "(no action)"))}</div>
<div class="outcome">{e(str(s.get("outcome", "")))} {e(str(s.get("message", "")))}</div>{errors}
<details open><summary>Thinking</summary><pre>{e(str(s.get("reasoning") or ""))}</pre></details>
<details><summary>Raw answer</summary><pre>{e(str(s.get("answer") or ""))}</pre></details>
<div class="timing">model {t.get("model_s", 0):.2f} s · screenshot {t.get("screenshot_s", 0):.3f} s · action {t.get("action_s", 0):.3f} s · settle {t.get("settle_s", 0):.3f} s · step {t.get("total_s", 0):.2f} s</div>
</div></section>"""
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(task)} — autoglm-agent</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}}
header{{padding:16px 24px;background:#1f2937;color:#fff}} header h1{{margin:0;font-size:20px}}
.st{{padding:2px 8px;border-radius:4px;background:#6b7280}} .st.success{{background:#15803d}} .st.failure{{background:#b91c1c}} .st.stopped{{background:#b45309}}
.step{{display:flex;gap:20px;margin:16px 24px;padding:16px;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}}
.shot img{{width:270px;border:1px solid #ddd;border-radius:6px}} .info{{flex:1;min-width:0}}
.info h2{{margin:0 0 8px;font-size:16px}} .info small{{color:#666;font-weight:normal}}
.action{{font-family:monospace;background:#eef2ff;padding:6px;border-radius:4px}}
.err{{color:#b91c1c;margin:6px 0}} pre{{white-space:pre-wrap;background:#fafafa;padding:8px;border-radius:4px}}
.timing{{color:#555;font-size:12px;margin-top:8px}}
</style></head><body><header><h1>{e(task)}</h1><div>{status} · {len(steps)} step(s)</div></header>
{"".join(rows)}
</body></html>
"""
