#!/usr/bin/env python
"""Train the demo checkpoint: a tiny GLM-4.1V-architecture model that operates the simulated phone.

Seeded and reproducible (up to CPU thread scheduling)::

    python tools/train_demo.py --out model --minutes 45 --seed 0

1. Data: the real ``PhoneAgent`` loop runs on in-process simulated phones (``DirectDevice``) with
   the expert policy as its chat model (``demo.oracle.OracleChat``); every (request, expert
   answer) pair it produced is a sample, with exactly the inference-time formatting (the short
   system prompt and image budget of ``agent.json``, history, screen info, resized screenshot).
   Home screens are shuffled (``Phone(shuffle=True)``) on training seeds >= 100000; 15% use the
   default layout. Held-out evaluation uses seeds below 100000.
2. Model: ``server.tiny.build_tiny_glm4v`` (tokenizer trained on the task texts), loaded with the
   server's ``load_model``; inputs built by the server's ``prepare_prompt``; loss on the answer
   tokens (+ eos) only.
3. Training: answer-token loss plus two training-only aids for the vision step: dense icon / row /
   column targets on the image tokens, and a pointer loss that teaches one decoder attention head
   to look at the icon the task names when it writes the icon's place. AdamW, time-budgeted cosine
   schedule; every few minutes the teacher-forced exact-match
   rate on held-out samples is measured and the best weights so far are written to ``--out``.
4. Evaluation of the best weights: closed-loop episodes (the agent driven by the model) and
   per-step accuracy along the expert's trajectory, per task kind, on held-out seeds (shuffled
   layouts never seen in training, and the default layout); written to ``eval.json`` and the model
   card ``README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import pickle
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autoglm_agent.demo.oracle import APPS, NOTE_WORDS, TASK_KINDS, answer_text, expert_step, sample_task  # noqa: E402
from autoglm_agent.demo.pipeline import (  # noqa: E402
    AGENT_FILE,
    DemoSettings,
    EpisodeResult,
    LocalChat,
    Sample,
    collate,
    dump_json,
    encode_sample,
    load_settings,
    make_phone,
    oracle_episode,
    run_episode,
    server_state,
    summarize,
)

#: Share of training episodes per task kind.
KIND_MIX: dict[str, float] = {
    "open_app": 0.2,
    "go_home": 0.1,
    "toggle": 0.22,
    "tap_icon": 0.33,
    "write_note": 0.15,
}
TRAIN_SEED_BASE = 100_000
MODEL_SIZES: dict[str, dict[str, int]] = {
    "small": {
        "hidden_size": 192,
        "layers": 4,
        "heads": 4,
        "kv_heads": 2,
        "intermediate_size": 512,
        "vision_hidden_size": 128,
        "vision_layers": 4,
        "vision_heads": 2,
    },
    "tiny": {
        "hidden_size": 64,
        "layers": 1,
        "heads": 2,
        "kv_heads": 1,
        "intermediate_size": 128,
        "vision_hidden_size": 32,
        "vision_layers": 1,
        "vision_heads": 1,
    },
}
#: Files of the built checkpoint copied next to the trained weights.
AUX_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "processor_config.json",
    "preprocessor_config.json",
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------- data
def tap_icon_variants(
    first: Sample, task: Any, seed: int, shuffle: bool, rng: random.Random, k: int
) -> list[Sample]:
    """The first step of "tap the X icon" for ``k`` other apps on the same screen.

    The agent's first request differs between these tasks only in the task text (same phone seed
    and clock: the same screenshot), so the request is the recorded one with the task replaced, and
    the answer is the expert's on that home screen.
    """
    part0 = next(p for p in first.body["messages"][-1]["content"] if p.get("type") == "text")
    if not part0["text"].startswith(f"Task: {task.text}"):
        return []  # the expert's first answer was replaced by a mistake: not a first step
    phone = make_phone(seed, shuffle)
    out: list[Sample] = []
    others = [a.package for a in APPS if a.package != task.package]
    for pkg in rng.sample(others, k):
        other = sample_task(rng, "tap_icon", task.lang, package=pkg)
        body = copy.deepcopy(first.body)
        part = next(p for p in body["messages"][-1]["content"] if p.get("type") == "text")
        old = f"Task: {task.text}"
        part["text"] = f"Task: {other.text}" + part["text"][len(old) :]
        answer = answer_text(*expert_step(other, phone))
        out.append(Sample(body, answer, "tap_icon", 0, icons=first.icons, screen=first.screen))
    return out


def generate(
    n_episodes: int,
    settings: DemoSettings,
    rng: random.Random,
    *,
    noise: float,
    seed_base: int,
    shuffle_p: float,
    tap_variants: int = 0,
) -> list[Sample]:
    kinds = list(KIND_MIX)
    weights = [KIND_MIX[k] for k in kinds]
    samples: list[Sample] = []
    failed = 0
    for i in range(n_episodes):
        kind = rng.choices(kinds, weights)[0]
        task = sample_task(rng, kind)
        seed = seed_base + i
        shuffle = rng.random() < shuffle_p
        got, ok = oracle_episode(task, seed, shuffle, settings, rng, noise=noise)
        if not ok:
            failed += 1
            continue
        samples.extend(got)
        if kind == "tap_icon" and got and got[0].step == 0 and tap_variants:
            samples.extend(tap_icon_variants(got[0], task, seed, shuffle, rng, tap_variants))
    if failed:
        log(f"warning: the expert failed {failed} of {n_episodes} episodes (skipped)")
    return samples


# ----------------------------------------------------------------------------------- dense vision targets
#: Class of each merged image token for the auxiliary vision loss: 0 = no launcher icon there,
#: 1.. = the app whose icon (with its label) covers the token's centre.
ICON_CLASSES: dict[str, int] = {a.package: i + 1 for i, a in enumerate(APPS)}


def icon_targets(sample: Sample, grid_thw: Any) -> Any:
    """Dense targets per merged image token of ``sample``'s screenshot, shape (tokens, 3): which
    app's icon is there (0: none), and the home-grid row and column of that icon (1-based, 0: none).
    All -100 (ignored) when the sample has no record of the screen.

    The vision tower's merged tokens follow the processor's raster order over the (h/2, w/2) grid,
    each covering 28x28 px of the resized image; a token belongs to an icon when its centre, mapped
    back to screen pixels, lies in the icon's tappable area (icon and label).
    """
    import torch

    t, gh, gw = (int(v) for v in grid_thw)
    mh, mw = gh // 2, gw // 2
    if sample.icons is None or sample.screen is None:
        return torch.full((t * mh * mw, 3), -100, dtype=torch.long)
    sx = sample.screen[0] / (gw * 14)
    sy = sample.screen[1] / (gh * 14)
    out = torch.zeros((mh, mw, 3), dtype=torch.long)
    for icon in sample.icons:
        x0, y0, x1, y1 = icon.rect
        cls = ICON_CLASSES.get(icon.package)
        if cls is None:
            continue
        for i in range(mh):
            cy = (i + 0.5) * 28 * sy
            if not y0 <= cy < y1:
                continue
            for j in range(mw):
                if x0 <= (j + 0.5) * 28 * sx < x1:
                    out[i, j] = torch.tensor([cls, icon.row + 1, icon.col + 1])
    return out.reshape(-1, 3).repeat(t, 1)


def aux_heads(hidden: int) -> Any:
    """Training-only linear heads on the merged image tokens: icon class, home row, home column."""
    import torch

    from autoglm_agent.sim.phone import HOME_COLS, HOME_ROWS

    return torch.nn.ModuleList(
        [
            torch.nn.Linear(hidden, len(ICON_CLASSES) + 1),
            torch.nn.Linear(hidden, HOME_ROWS + 1),
            torch.nn.Linear(hidden, HOME_COLS + 1),
        ]
    )


# ----------------------------------------------------------------------------------- pointer targets
#: Where an icon-tapping answer names the icon's place: "row R, column C" (English) or "第R行第C列".
_PLACE = (re.compile(r"row (\d+), column (\d+)"), re.compile(r"第(\d+)行第(\d+)列"))
_POINT = re.compile(r"element=\[(\d+),\s*(\d+)\]")


def pointer_spans(answer: str) -> tuple[int, int, list[int]] | None:
    """(row, column, character offsets of the four numbers that depend on where the icon is) of an
    answer that taps a home-screen icon; None for any other answer."""
    place = next((m for m in (p.search(answer) for p in _PLACE) if m), None)
    point = _POINT.search(answer)
    if place is None or point is None:
        return None
    return int(place[1]), int(place[2]), [place.start(1), place.start(2), point.start(1), point.start(2)]


def pointer_targets(
    sample: Sample, encoded: dict[str, Any], targets: Any, tokenizer: Any, image_token_id: int
) -> tuple[list[int], Any] | None:
    """Pointer supervision for one icon-tapping sample: the sequence positions that predict the
    row, the column and the two coordinates, and the positions of the named icon's image tokens
    (``targets``: its rows of :func:`icon_targets`). None when the sample is not one."""

    spans = pointer_spans(sample.answer)
    if spans is None or bool((targets[:, 0] == -100).all()):
        return None
    row, col, starts = spans
    offsets = tokenizer(sample.answer, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    prompt_len = int(encoded["input_ids"].shape[0]) - len(offsets) - 1  # answer tokens + eos
    queries: list[int] = []
    for start in starts:
        k = next((i for i, (a, b) in enumerate(offsets) if a <= start < b), None)
        if k is None or k == 0:
            return None
        queries.append(prompt_len + k - 1)  # the position whose next token is that number
    image_pos = (encoded["input_ids"] == image_token_id).nonzero().squeeze(1)
    hit = (targets[:, 1] == row) & (targets[:, 2] == col)
    if len(image_pos) != len(targets) or not bool(hit.any()):
        return None
    return queries, image_pos[hit]


@contextlib.contextmanager
def recorded_attention(model: Any, layers: Iterable[int]) -> Iterator[list[Any]]:
    """The attention weights of the given decoder layers, one (batch, heads, query, key) tensor per
    layer and forward pass, appended to the yielded list. The decoder runs eager attention meanwhile
    (the fused kernels do not return weights); its own setting is restored afterwards."""
    text_config = model.config.text_config
    before = text_config._attn_implementation
    text_config._attn_implementation = "eager"
    seen: list[Any] = []
    decoder = model.model.language_model.layers
    hooks = [decoder[i].self_attn.register_forward_hook(lambda m, a, o: seen.append(o[1])) for i in layers]
    try:
        yield seen
    finally:
        for hook in hooks:
            hook.remove()
        text_config._attn_implementation = before


def pointer_loss(attentions: list[Any], points: list[tuple[int, list[int], Any]], head: int) -> Any:
    """Mean over supervised layers and query positions of -log(attention mass that ``head`` puts on
    the named icon's image tokens): teaches the decoder to look up the icon by its name."""
    import torch

    terms = []
    for attn in attentions:
        for b, queries, keys in points:
            mass = attn[b, head, queries][:, keys].float().sum(-1)
            terms.append(-torch.log(mass.clamp_min(1e-6)))
    return torch.cat(terms).mean()


def train_loss(
    model: Any,
    heads: Any,
    batch: dict[str, Any],
    aux: Any | None,
    aux_weight: float,
    points: list[tuple[int, list[int], Any]] | None = None,
    point_weight: float = 0.0,
    point_layers: tuple[int, ...] = (),
    point_head: int = 0,
    place_weight: float = 1.0,
) -> tuple[Any, dict[str, float]]:
    """Answer-token cross-entropy (the LM head only where there are labels) plus, with ``aux``,
    the dense icon / row / column classification losses on the merged image tokens the decoder
    reads (so that what an icon is and where it sits are linear features of its tokens), plus,
    with ``points``, the pointer loss on the decoder's attention, and the
    answer tokens those points predict (the icon's row, column and coordinates) weighted by
    ``place_weight``."""
    import torch
    import torch.nn.functional as F

    captured: list[Any] = []
    pointing = bool(points) and point_weight > 0
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with recorded_attention(model, point_layers) if pointing else contextlib.nullcontext([]) as attentions:
        hook = model.model.visual.register_forward_hook(lambda m, i, o: captured.append(o.pooler_output))
        try:
            hidden = model.model(**inputs).last_hidden_state
        finally:
            hook.remove()
    tgt = labels[:, 1:]
    mask = tgt != -100
    logits = model.lm_head(hidden[:, :-1][mask])
    if points and place_weight != 1.0:
        # the tokens that say where the icon is: a handful among the answers, weighted up
        weight = torch.ones_like(tgt, dtype=torch.float32)
        for b, queries, _ in points:
            weight[b, queries] = place_weight
        per_token = F.cross_entropy(logits.float(), tgt[mask], reduction="none")
        lm_loss = (per_token * weight[mask]).sum() / weight[mask].sum()
    else:
        lm_loss = F.cross_entropy(logits.float(), tgt[mask])
    loss = lm_loss
    stats = {"lm": float(lm_loss.detach()), "aux": 0.0, "point": 0.0}
    if pointing:
        point = pointer_loss(attentions, points or [], point_head)
        loss = loss + point_weight * point
        stats["point"] = float(point.detach())
    if aux is None or not captured:
        return loss, stats
    feats = captured[0]
    keep = aux[:, 0] != -100
    if not bool(keep.any()):
        return loss, stats
    feats, aux = feats[keep], aux[keep]
    total = lm_loss.new_zeros(())
    names = getattr(heads, "name_ids", None)
    if names is not None:
        # icon classes scored against the decoder's own embeddings of the app names: an icon token
        # should look like the name the task uses for it, so matching the two is an easy attention
        emb = model.get_input_embeddings().weight
        table = torch.stack([heads.none_vector] + [emb[ids].mean(0) for ids in names])
        weight = torch.ones(len(table))
        weight[0] = 0.2
        total = total + F.cross_entropy((feats @ table.T).float(), aux[:, 0], weight=weight)
    for k, head in enumerate(heads):
        if names is not None and k == 0:
            continue
        # "nothing here" dominates; weight it down so the icons carry the loss
        weight = torch.ones(head.out_features)
        weight[0] = 0.2
        total = total + F.cross_entropy(head(feats).float(), aux[:, k], weight=weight)
    aux_loss = total / len(heads)
    stats["aux"] = float(aux_loss.detach())
    return loss + aux_weight * aux_loss, stats


def text_length(sample: Sample) -> int:
    """Characters of text in a sample (its images are the same size): a cheap proxy for its length."""
    n = len(sample.answer)
    for m in sample.body["messages"]:
        c = m["content"]
        n += len(c) if isinstance(c, str) else sum(len(p.get("text", "")) for p in c)
    return n


def length_grouped(
    rng: random.Random, train: list[Sample], weights: list[float], lengths: list[int], batch: int, groups: int
) -> list[list[Sample]]:
    """``groups`` batches drawn together and split by length, so that batches pad less."""
    idx = rng.choices(range(len(train)), weights, k=batch * groups)
    idx.sort(key=lambda i: lengths[i])
    return [[train[i] for i in idx[g * batch : (g + 1) * batch]] for g in range(groups)]


def vocab_corpus(samples: list[Sample], settings: DemoSettings) -> list[str]:
    """Texts the tokenizer is trained on: what the model reads and writes."""
    lines: list[str] = [settings.system_prompt]
    for s in samples:
        for m in s.body["messages"]:
            c = m["content"]
            if isinstance(c, str):
                lines.append(c)
            else:
                lines.extend(p["text"] for p in c if p.get("type") == "text")
        lines.append(s.answer)
    lines += [a.en for a in APPS] + [a.zh for a in APPS] + list(NOTE_WORDS)
    lines += [str(i) for i in range(1000)]
    return lines


def adapt_threads(max_threads: int) -> int:
    """Fewer torch threads while other processes load the CPU (spinning threads then cost a lot)."""
    import os

    import torch

    current = torch.get_num_threads()
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if current > 1 and load > cores + 1.5:
        torch.set_num_threads(1)
    elif current < max_threads and load < cores + 0.5:
        torch.set_num_threads(max_threads)
    return torch.get_num_threads()


# ----------------------------------------------------------------------------------- checkpoint
def write_checkpoint(lm: Any, build_dir: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in AUX_FILES:
        if (build_dir / name).is_file():
            shutil.copy2(build_dir / name, out / name)
    lm.model.save_pretrained(out, safe_serialization=True)


def teacher_forced(lm: Any, state: Any, held: list[Sample], batch: int) -> dict[str, float]:
    """Per kind: share of held-out samples whose whole answer is the argmax under teacher forcing."""
    import torch

    lm.model.eval()
    hits: dict[str, list[int]] = defaultdict(list)
    with torch.no_grad():
        for i in range(0, len(held), batch):
            chunk = held[i : i + batch]
            b = collate([encode_sample(state, s) for s in chunk], lm.pad_token_id)
            labels = b.pop("labels")
            logits = lm.model(**b).logits
            pred = logits[:, :-1].argmax(-1)
            tgt = labels[:, 1:]
            mask = tgt != -100
            ok = ((pred == tgt) | ~mask).all(dim=1)
            for s, o in zip(chunk, ok.tolist(), strict=True):
                hits[s.kind].append(int(o))
    lm.model.train()
    return {k: round(sum(v) / len(v), 3) for k, v in sorted(hits.items())}


# ----------------------------------------------------------------------------------- evaluation
def eval_tasks(rng: random.Random, per_kind: int) -> list[tuple[Any, int, bool]]:
    """Held-out (task, seed, shuffle): shuffled layouts on seeds 1..99999, plus the default layout."""
    out: list[tuple[Any, int, bool]] = []
    for kind in TASK_KINDS:
        for _ in range(per_kind):
            out.append((sample_task(rng, kind), rng.randrange(1, TRAIN_SEED_BASE), True))
        for _ in range(max(2, per_kind // 3)):
            out.append((sample_task(rng, kind), rng.randrange(1, TRAIN_SEED_BASE), False))
    return out


def pointing_probe(lm: Any, state: Any, settings: DemoSettings, rng: random.Random, n: int) -> dict[str, Any]:
    """Does the decoder look up the named icon? On ``n`` held-out shuffled home screens, with the
    expert's answer teacher-forced: the attention mass each decoder head puts on the named icon's
    image tokens from the positions that predict its row, column and tap coordinates (uniform
    attention would put about tokens-of-the-icon / sequence-length there), and how often the
    model's argmax at those positions is the right row, column, x and y."""
    import torch

    model = lm.model
    model.eval()
    image_id = int(model.config.image_token_id)
    n_layers = int(model.config.text_config.num_hidden_layers)
    heads = int(model.config.text_config.num_attention_heads)
    mass = torch.zeros(n_layers, heads)
    uniform = 0.0
    right = torch.zeros(4)
    count = 0
    with recorded_attention(model, range(n_layers)) as seen:
        while count < n:
            task = sample_task(rng, "tap_icon")
            samples, ok = oracle_episode(
                task, rng.randrange(1, TRAIN_SEED_BASE), True, settings, rng, noise=0.0
            )
            if not ok:
                continue
            enc = encode_sample(state, samples[0])
            dense = icon_targets(samples[0], enc["image_grid_thw"][0])
            got = pointer_targets(samples[0], enc, dense, lm.tokenizer, image_id)
            if got is None:
                continue
            queries, keys = got
            seen.clear()
            batch = collate([enc], lm.pad_token_id)
            batch.pop("labels")
            with torch.no_grad():
                logits = model(**batch).logits
            for k, attn in enumerate(seen):
                mass[k] += attn[0][:, queries][:, :, keys].float().sum(-1).mean(-1)
            uniform += len(keys) / (queries[0] + 1)
            pred = logits[0, queries].argmax(-1)
            right += (pred == enc["input_ids"][torch.tensor(queries) + 1]).float()
            count += 1
    mass /= max(1, count)
    best = divmod(int(mass.argmax()), heads)
    acc = (right / max(1, count)).tolist()
    return {
        "screens": count,
        "attention_on_named_icon": [[round(v, 3) for v in row] for row in mass.tolist()],
        "best_head": {"layer": best[0], "head": best[1], "mass": round(float(mass.max()), 3)},
        "uniform_mass": round(uniform / max(1, count), 3),
        "place_token_accuracy": dict(
            zip(("row", "column", "x", "y"), (round(v, 3) for v in acc), strict=True)
        ),
    }


def evaluate(
    lm: Any, state: Any, settings: DemoSettings, rng: random.Random, per_kind: int
) -> dict[str, Any]:
    lm.model.eval()
    student = LocalChat(state=state)
    tasks = eval_tasks(rng, per_kind)
    closed: list[EpisodeResult] = []
    forced: list[EpisodeResult] = []
    for task, seed, shuffle in tasks:
        closed.append(run_episode(student, task, seed, shuffle, settings, random.Random(seed)))
        forced.append(
            run_episode(student, task, seed, shuffle, settings, random.Random(seed), teacher_forced=True)
        )
    # the README demo: "open settings" on the default simulator, seed 0 and a few others
    demo = [
        run_episode(
            student,
            sample_task(random.Random(0), "open_app").model_copy(
                update={
                    "text": "open settings",
                    "package": "com.android.settings",
                    "start_app": None,
                    "lang": "en",
                }
            ),
            s,
            False,
            settings,
        )
        for s in (0, 1, 2)
    ]
    report: dict[str, Any] = {
        "unseen_shuffled_layouts": {
            "closed_loop": summarize(r for r in closed if r.shuffle),
            "teacher_forced": summarize(r for r in forced if r.shuffle),
        },
        "default_layout_unseen_seeds": {
            "closed_loop": summarize(r for r in closed if not r.shuffle),
            "teacher_forced": summarize(r for r in forced if not r.shuffle),
        },
        "readme_demo_open_settings": [
            {"seed": r.seed, "success": r.success, "actions": r.actions} for r in demo
        ],
        "failures": [
            {
                "task": r.task.text,
                "kind": r.task.kind,
                "seed": r.seed,
                "shuffle": r.shuffle,
                "actions": r.actions,
            }
            for r in closed
            if not r.success
        ][:40],
    }
    all_closed = [r for r in closed]
    report["pointing"] = pointing_probe(lm, state, settings, random.Random(rng.random()), 2 * per_kind)
    report["overall_success_rate"] = round(sum(r.success for r in all_closed) / max(1, len(all_closed)), 3)
    return report


# ----------------------------------------------------------------------------------- model card
def model_card(info: dict[str, Any], settings: DemoSettings, report: dict[str, Any] | None) -> str:
    def table(block: dict[str, Any]) -> str:
        rows = ["| task kind | episodes | episode success | per-step accuracy |", "|---|---|---|---|"]
        cl, tf = block["closed_loop"], block["teacher_forced"]
        for kind in cl:
            rows.append(
                f"| {kind} | {cl[kind]['episodes']} | {cl[kind]['success_rate']:.0%} | "
                f"{tf.get(kind, {}).get('step_accuracy', float('nan')):.0%} |"
            )
        return "\n".join(rows)

    parts = [
        "# AutoGLM demo checkpoint (simulator only)",
        "",
        "A tiny model with the **AutoGLM-Phone-9B architecture** (`Glm4vForConditionalGeneration`, GLM-4.1V: "
        "ViT with 14 px patches merged 2x2, GLM decoder with M-RoPE), trained from scratch on CPU to operate "
        "the project's **simulated phone**. It is a demo of the whole stack (simulator, agent, embedded "
        "server, checkpoint loading) that runs offline; it is **not a phone model**: it knows only the "
        "simulator's apps and a handful of tasks, and it will not work on a real phone.",
        "",
        "## Tasks it was trained on (see the evaluation for how well it does them)",
        "",
        "- `open <app>` / `打开<应用>` for the 13 launcher apps (Launch, then finish);",
        "- `go home` / `回到主屏幕` from inside an app;",
        "- `turn on/off Wi-Fi|Bluetooth` / `打开/关闭WiFi|蓝牙` (Settings -> row -> switch -> finish, or "
        "finish at once when the switch already shows the wanted state);",
        "- `tap the <app> icon` / `点击<应用>图标` on the home screen: the model must find the icon on a "
        "shuffled layout in the screenshot (the vision task);",
        "- `type <word> in Notes` (a small vocabulary: " + ", ".join(NOTE_WORDS) + ").",
        "",
        'Apps are launched with their English label (`Launch(app="Settings")`) for both languages.',
        "",
        "## Use",
        "",
        '`autoglm-agent "open settings"` starts the simulator and the embedded server with this folder. The '
        "agent must use the settings in `agent.json` (short system prompt, image budget): the model was "
        "trained with exactly those.",
        "",
        "```json",
        json.dumps(settings.model_dump(), indent=2, ensure_ascii=False),
        "```",
        "",
        "## Model",
        "",
        f"- parameters: {info['params']:,} ({info['weights_mb']:.1f} MB safetensors, float32); sizes: "
        + ", ".join(f"{k}={v}" for k, v in info["sizes"].items()),
        f"- tokenizer: byte-level BPE, {info['vocab']} tokens, trained on the task texts, GLM special tokens",
        f"- image: screenshots resized by the agent to {info['image_size']} px = {info['image_tokens']} image "
        "tokens (`image_max_pixels` in agent.json); the processor's budget matches, so it does not resize again",
        f"- a sample is about {info['tokens_per_sample']:.0f} tokens on average (system prompt, task, history, "
        "screen info, image, answer)",
        "",
        "## Data and training",
        "",
        f"- {info['train_samples']:,} samples from {info['train_episodes']:,} expert episodes, generated by "
        "running the real `PhoneAgent` loop on in-process simulated phones (`DirectDevice`) with the expert "
        "policy (`autoglm_agent/demo/oracle.py`) as the chat model, so every sample has the exact "
        "inference-time messages; converted to model inputs by the embedded server's own preprocessing; loss on "
        f"the answer tokens only. Kinds: {info['kinds']}.",
        "- home screens shuffled (`Phone(shuffle=True)`: icon positions, order and wallpaper) on training "
        f"seeds >= {TRAIN_SEED_BASE}; {info['default_layout_share']:.0%} of episodes use the default layout; "
        f"random phone clocks and prompt dates; {info['noise']:.0%} of expert steps replaced by a mistake "
        "(not trained on) so that the following samples teach recovery",
        f"- every home screen a tap task was recorded on is reused for {info.get('tap_variants', 0)} more "
        "`tap the <app> icon` tasks (same request, another app named; the expert's answer for it)",
        f"- loss: cross-entropy on the answer tokens, plus {info.get('aux_weight', 0)} x dense "
        "auxiliary losses during training only: linear heads on the merged image tokens the decoder reads "
        "classify each token as 'no icon' or one of the 13 launcher apps, and give the home-grid row and "
        "column of that icon (all from the simulator's layout), so the vision tower learns what the icons "
        "look like and where they sit from every home-screen token instead of from a few coordinate tokens; "
        "the heads are not part of the checkpoint"
        + (
            "; the icon classes are scored against the decoder's own embeddings of the app names, so an "
            "icon's tokens come to resemble its name"
            if info.get("tie_icons")
            else ""
        ),
    ]
    if info.get("point_weight"):
        parts.append(
            f"- pointer loss ({info['point_weight']} x, training only): on icon-tapping answers, attention head "
            f"{info.get('point_head', 0)} of decoder layers {info.get('point_layers')} is taught to look from the "
            "positions that write the icon's row, column and tap coordinates at the image tokens of the icon "
            "the task names (-log of the attention mass there), and those answer tokens weigh "
            f"{info.get('place_weight', 1.0):g}x in the answer loss: the decoder learns to look the icon up by "
            "name instead of guessing a frequent cell"
        )
    parts += [
        f"- {info['steps']:,} AdamW steps of batch {info['batch']} (lr {info['lr']}, cosine), "
        f"{info['train_minutes']:.1f} min on {info['threads']} CPU threads"
        + (" with bfloat16 autocast" if info.get("bf16") else "")
        + f"; batches grouped by length; seed {info['seed']}; "
        "best weights by held-out teacher-forced exact match",
        f"- how: {info['how']}",
        "- train a fresh one: `python tools/train_demo.py --out model --minutes 52 --seed 0` (about 1 h of "
        "wall time on 2 idle cores: 3 min of data, 52 min of training, 1 min of evaluation)"
        + (f"; {info['fresh_run']}" if info.get("fresh_run") else ""),
        "",
    ]
    if report is not None:
        parts += [
            "## Held-out evaluation",
            "",
            "Closed loop: the agent driven by the model on a fresh simulated phone, success checked from the "
            "simulator's state. Per-step accuracy: at each step of the expert's trajectory, whether the "
            "model's greedy action does the same thing (same widget for taps). Seeds never used in training.",
            "",
            "**Shuffled home screens never seen in training:**",
            "",
            table(report["unseen_shuffled_layouts"]),
            "",
            "**Default home-screen layout (seen in training; unseen seeds):**",
            "",
            table(report["default_layout_unseen_seeds"]),
            "",
            "README demo (`open settings`, default simulator, seeds 0-2): "
            + ", ".join(
                f"seed {d['seed']}: {'ok' if d['success'] else 'FAILED'}"
                for d in report["readme_demo_open_settings"]
            ),
            "",
            "Full numbers and failed episodes: `eval.json`.",
            "",
        ]
        pointing = report.get("pointing")
        if pointing:
            acc = pointing["place_token_accuracy"]
            best = pointing["best_head"]
            parts += [
                f"**Does it look at the icon?** On {pointing['screens']} held-out shuffled home screens, with "
                "the expert's answer teacher-forced: from the positions that write the icon's row, column and "
                f"coordinates, decoder layer {best['layer']} head {best['head']} puts {best['mass']:.0%} of "
                f"its attention on the named icon's image tokens (uniform attention: "
                f"{pointing['uniform_mass']:.1%}); the model's argmax there is the right row "
                f"{acc['row']:.0%}, column {acc['column']:.0%}, x {acc['x']:.0%}, y {acc['y']:.0%} of the time "
                "(x and y given the right row and column in its thinking).",
                "",
            ]
    if report is not None:
        tap = report["unseen_shuffled_layouts"]["closed_loop"].get("tap_icon", {}).get("success_rate", 0.0)
        parts += ["## Known problems", ""]
        if tap < 0.5:
            parts.append(
                f"- **Finding an icon by its name is not learned** ({tap:.0%} of `tap the <app> icon` episodes "
                "on unseen shuffled layouts). The vision tower learns the screen (its training-only heads "
                "classify every icon token's app, row and column), but the decoder does not point: it does not "
                "pick, from the task's app name, the matching image token, and taps a few frequent cells "
                "instead. Continue training with the pointer loss (`--point-weight 1`) once the icon losses are low."
            )
        parts += [
            "- Most remaining failures are misread requests rather than misread screens (the episodes are "
            "listed under `failures` in `eval.json`): launching another app than the one named (more often "
            "for Chinese requests), typing another note word than the one asked for, or flipping a Wi-Fi or "
            "Bluetooth switch that already shows the wanted state.",
            "- One wrong step ends most episodes: per-step accuracies are well above episode success.",
            "",
        ]
    parts += [
        "## Limits",
        "",
        "- A toy: a few million parameters trained for minutes. Outside the simulator and these tasks its "
        "output is meaningless (though always well-formed most of the time).",
        "- Trained on the default 720x1600 simulated screen in English locale.",
        "",
    ]
    return "\n".join(parts)


def make_data(
    args: argparse.Namespace, settings: DemoSettings, rng: random.Random
) -> tuple[list[Sample], list[Sample]]:
    train = generate(
        args.episodes,
        settings,
        rng,
        noise=args.noise,
        seed_base=TRAIN_SEED_BASE,
        shuffle_p=0.85,
        tap_variants=args.tap_variants,
    )
    held = generate(
        max(8, args.held_out // 3),
        settings,
        random.Random(args.seed + 1),
        noise=0.0,
        seed_base=50_000,
        shuffle_p=0.85,
    )[: args.held_out]
    return train, held


def eval_only(args: argparse.Namespace, settings: DemoSettings) -> int:
    """Evaluate the checkpoint in ``--out`` (as the server loads it); update its eval.json and model card."""
    from autoglm_agent.server.config import ServerConfig
    from autoglm_agent.server.loading import load_model

    out: Path = args.out
    settings = load_settings(out)
    lm = load_model(ServerConfig(model=out, device="cpu", api_key=None))
    t1 = time.perf_counter()
    report = evaluate(lm, server_state(lm), settings, random.Random(args.seed + 2), args.eval_per_kind)
    log(f"evaluation ({time.perf_counter() - t1:.0f} s): {json.dumps(report['unseen_shuffled_layouts'])}")
    log(f"default layout: {json.dumps(report['default_layout_unseen_seeds'])}")
    log(f"demo: {report['readme_demo_open_settings']}")
    old = json.loads((out / "eval.json").read_text(encoding="utf-8")) if (out / "eval.json").is_file() else {}
    info = old.get("training", {})
    dump_json(out / "eval.json", {"training": info, **report})
    if info:
        (out / "README.md").write_text(model_card(info, settings, report), encoding="utf-8")
    return 0


# ----------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "model")
    ap.add_argument(
        "--minutes", type=float, default=45.0, help="training time budget (data and eval not counted)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=6000, help="expert episodes to train on")
    ap.add_argument("--eval-per-kind", type=int, default=20, help="held-out shuffled episodes per task kind")
    ap.add_argument("--held-out", type=int, default=256, help="held-out samples for checkpoint selection")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--size", choices=sorted(MODEL_SIZES), default="small")
    ap.add_argument("--noise", type=float, default=0.08)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=float, default=6.0, help="minutes between checkpoint evaluations")
    ap.add_argument(
        "--max-steps", type=int, default=0, help="stop after this many steps (0: time budget only)"
    )
    ap.add_argument("--init", type=Path, default=None, help="continue training this checkpoint folder")
    ap.add_argument("--prior-steps", type=int, default=0, help="steps already done on --init (model card)")
    ap.add_argument("--prior-minutes", type=float, default=0.0, help="minutes already spent on --init")
    ap.add_argument(
        "--aux-weight",
        type=float,
        default=1.0,
        help="weight of the dense icon-classification loss on the image tokens (0: off)",
    )
    ap.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="bfloat16 autocast for the forward pass (weights and optimizer stay float32)",
    )
    ap.add_argument(
        "--tie-icons",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="score the icon classes against the decoder's embeddings of the app names",
    )
    ap.add_argument(
        "--point-weight",
        type=float,
        default=0.0,
        help="weight of the pointer loss: decoder attention from the row/column/coordinate positions "
        "of an icon tap to the named icon's image tokens (0: off)",
    )
    ap.add_argument(
        "--place-weight",
        type=float,
        default=4.0,
        help="loss weight of the answer tokens that give the icon's place (with --point-weight)",
    )
    ap.add_argument(
        "--point-layers",
        default="auto",
        help="decoder layers whose attention is supervised (auto: the last two)",
    )
    ap.add_argument("--point-head", type=int, default=0, help="the supervised attention head in those layers")
    ap.add_argument("--tap-variants", type=int, default=6, help="extra icon-tapping tasks per home screen")
    ap.add_argument("--tap-weight", type=float, default=1.0, help="sampling weight of the icon-tapping step")
    ap.add_argument(
        "--kind-weights", default="", help="extra sampling weights per task kind, e.g. open_app=4"
    )
    ap.add_argument(
        "--eval-only",
        action="store_true",
        help="evaluate the checkpoint in --out; rewrite eval.json and README.md",
    )
    ap.add_argument("--data-cache", type=Path, default=None, help="pickle of the generated samples (reused)")
    ap.add_argument("--no-eval", action="store_true", help="skip the closed-loop evaluation (smoke runs)")
    ap.add_argument(
        "--work", type=Path, default=None, help="where to build the initial checkpoint (temp dir)"
    )
    args = ap.parse_args(argv)

    import torch

    from autoglm_agent.server.config import ServerConfig
    from autoglm_agent.server.loading import load_model
    from autoglm_agent.server.tiny import build_tiny_glm4v

    torch.set_num_threads(args.threads)
    adapt_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    settings = DemoSettings()
    if args.eval_only:
        return eval_only(args, settings)
    out: Path = args.out

    t0 = time.perf_counter()
    cache = args.data_cache
    if cache is not None and cache.is_file():
        with cache.open("rb") as f:
            train, held = pickle.load(f)
    else:
        train, held = make_data(args, settings, rng)
        if cache is not None:
            with cache.open("wb") as f:
                pickle.dump((train, held), f)
    log(f"data: {len(train)} training samples, {len(held)} held-out, {time.perf_counter() - t0:.0f} s")
    rng = random.Random(args.seed + 3)

    work = Path(args.work or tempfile.mkdtemp(prefix="demo-build-"))
    sizes = MODEL_SIZES[args.size]
    w, h = 252, 560  # what image_part sends for the 720x1600 simulator at settings.image_max_pixels
    if args.init is not None:  # continue from a checkpoint (its tokenizer and weights)
        shutil.copytree(args.init, work, dirs_exist_ok=True)
    else:
        build_tiny_glm4v(
            work,
            vocab_texts=vocab_corpus(train[:4000], settings),
            vocab_size=3000,
            image_size=252,
            min_pixels=2 * 28 * 28 * 4,
            max_pixels=2 * settings.image_max_pixels,
            seed=args.seed,
            **sizes,
        )
    lm = load_model(ServerConfig(model=work, device="cpu", dtype="float32", api_key=None))
    state = server_state(lm)
    model = lm.model
    n_params = sum(p.numel() for p in model.parameters())
    probe = encode_sample(state, train[0])
    grid = probe["image_grid_thw"][0].tolist()
    image_tokens = grid[0] * grid[1] * grid[2] // 4
    assert (grid[1] * 14, grid[2] * 14) == (h, w), f"processor resized the image again: {grid}"
    lengths = [int(encode_sample(state, s)["input_ids"].shape[0]) for s in train[:200]]
    log(
        f"model: {n_params:,} parameters; image {w}x{h} = {image_tokens} tokens; ~{sum(lengths) / len(lengths):.0f} tokens/sample"
    )

    # sampling weights: the vision step (tapping an icon) is the hard one
    kind_w = {k: float(v) for k, v in (kv.split("=") for kv in args.kind_weights.split(",") if kv)}
    weights = [
        (args.tap_weight if (s.kind == "tap_icon" and s.step == 0) else 1.0) * kind_w.get(s.kind, 1.0)
        for s in train
    ]
    # the auxiliary head exists only during training: it is not part of the checkpoint
    head = aux_heads(model.config.text_config.hidden_size)
    if args.tie_icons:
        head.name_ids = [
            torch.tensor(lm.tokenizer(f" {a.en}", add_special_tokens=False)["input_ids"]) for a in APPS
        ]
        head.none_vector = torch.nn.Parameter(torch.zeros(model.config.text_config.hidden_size))
    n_layers = int(model.config.text_config.num_hidden_layers)
    if args.point_layers == "auto":
        point_layers = tuple(range(max(0, n_layers - 2), n_layers))
    else:
        point_layers = tuple(int(i) for i in args.point_layers.split(",") if i)
    if any(not 0 <= i < n_layers for i in point_layers):
        ap.error(f"--point-layers: the decoder has layers 0..{n_layers - 1}")
    image_token_id = int(model.config.image_token_id)
    model.train()
    params = list(model.parameters()) + (list(head.parameters()) if args.aux_weight > 0 else [])
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    approx_len = [text_length(s) for s in train]
    budget = args.minutes * 60
    warmup = 60 if args.init is None else 10
    start = time.perf_counter()
    step = 0
    best = -1.0
    best_scores: dict[str, float] = {}
    next_eval = args.eval_every * 60
    losses: list[float] = []
    aux_losses: list[float] = []
    point_losses: list[float] = []
    pointed = 0  # samples that got the pointer loss
    queue: list[list[Sample]] = []
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= budget or (args.max_steps and step >= args.max_steps):
            break
        frac = min(1.0, elapsed / budget)
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        if not queue:
            queue = length_grouped(rng, train, weights, approx_len, args.batch, 4)
            rng.shuffle(queue)
        chosen = queue.pop()
        encoded = [encode_sample(state, s) for s in chosen]
        batch = collate(encoded, lm.pad_token_id)
        dense = [icon_targets(s, e["image_grid_thw"][0]) for s, e in zip(chosen, encoded, strict=True)]
        aux = torch.cat(dense) if args.aux_weight > 0 else None
        points: list[tuple[int, list[int], Any]] = []
        if args.point_weight > 0:
            for b, (s, e, d) in enumerate(zip(chosen, encoded, dense, strict=True)):
                got = pointer_targets(s, e, d, lm.tokenizer, image_token_id)
                if got is not None:
                    points.append((b, *got))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss, stats = train_loss(
                model,
                head,
                batch,
                aux,
                args.aux_weight,
                points,
                args.point_weight,
                point_layers,
                args.point_head,
                args.place_weight,
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(stats["lm"])
        aux_losses.append(stats["aux"])
        if points:
            point_losses.append(stats["point"])
            pointed += len(points)
        step += 1
        if step % 25 == 0:
            threads = adapt_threads(args.threads)
            recent = point_losses[-25:] or [0.0]
            log(
                f"step {step} loss {sum(losses[-25:]) / 25:.4f} icon loss {sum(aux_losses[-25:]) / 25:.4f}"
                f" pointer loss {sum(recent) / len(recent):.4f}"
                f" lr {lr:.2e} {elapsed / 60:.1f}/{args.minutes:g} min ({threads} threads)"
            )
        if time.perf_counter() - start >= next_eval:
            next_eval += args.eval_every * 60
            scores = teacher_forced(lm, state, held, args.batch)
            mean = sum(scores.values()) / len(scores)
            log(f"held-out exact match {scores} mean {mean:.3f}")
            if mean >= best:
                best, best_scores = mean, scores
                write_checkpoint(lm, work, out)
                (out / AGENT_FILE).write_text(settings.model_dump_json(indent=2) + "\n", encoding="utf-8")
                log(f"saved the best checkpoint so far to {out}")
    train_minutes = (time.perf_counter() - start) / 60
    scores = teacher_forced(lm, state, held, args.batch)
    mean = sum(scores.values()) / len(scores)
    log(f"final held-out exact match {scores} mean {mean:.3f} (best before {best:.3f})")
    if mean >= best:
        best, best_scores = mean, scores
        write_checkpoint(lm, work, out)
    (out / AGENT_FILE).write_text(settings.model_dump_json(indent=2) + "\n", encoding="utf-8")

    # evaluate the checkpoint as shipped, loaded by the server's code
    lm = load_model(ServerConfig(model=out, device="cpu", api_key=None))
    state = server_state(lm)
    t1 = time.perf_counter()
    report = (
        None
        if args.no_eval
        else evaluate(lm, state, settings, random.Random(args.seed + 2), args.eval_per_kind)
    )
    if report is not None:
        log(f"evaluation ({time.perf_counter() - t1:.0f} s): {json.dumps(report['unseen_shuffled_layouts'])}")
        log(f"default layout: {json.dumps(report['default_layout_unseen_seeds'])}")
        log(f"demo: {report['readme_demo_open_settings']}")
    cmd = "python tools/train_demo.py " + " ".join(argv if argv is not None else sys.argv[1:])
    how = f"`{cmd}`"
    if args.init is not None:
        how = (
            f"continued from an earlier checkpoint ({args.prior_steps} steps, {args.prior_minutes:g} min, "
            f"same data and seed) with `{cmd}`"
        )
    info = {
        "params": n_params,
        "weights_mb": (out / "model.safetensors").stat().st_size / 1e6,
        "sizes": sizes,
        "vocab": len(lm.tokenizer),
        "image_size": f"{w}x{h}",
        "image_tokens": image_tokens,
        "tokens_per_sample": sum(lengths) / len(lengths),
        "train_samples": len(train),
        "train_episodes": args.episodes,
        "kinds": dict(Counter(s.kind for s in train)),
        "default_layout_share": 0.15,
        "noise": args.noise,
        "steps": step + args.prior_steps,
        "batch": args.batch,
        "lr": args.lr,
        "train_minutes": train_minutes + args.prior_minutes,
        "threads": args.threads,
        "seed": args.seed,
        "minutes_arg": args.minutes,
        "how": how,
        "tap_weight": args.tap_weight,
        "tap_variants": args.tap_variants,
        "aux_weight": args.aux_weight,
        "bf16": args.bf16,
        "tie_icons": args.tie_icons,
        "point_weight": args.point_weight,
        "point_layers": ",".join(str(i) for i in point_layers),
        "point_head": args.point_head,
        "pointer_samples": pointed,
        "place_weight": args.place_weight,
        "held_out_exact_match": best_scores,
    }
    dump_json(out / "eval.json", {"training": info, **(report or {})})
    (out / "README.md").write_text(model_card(info, settings, report), encoding="utf-8")
    log(f"done: {out} ({time.perf_counter() - t0:.0f} s in all)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
