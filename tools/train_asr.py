#!/usr/bin/env python
"""Train the demo speech-recognition checkpoint in ``model/asr`` (a tiny Wav2Vec2 CTC model).

Data: every phrase of the demo command language (``autoglm_agent.voice.command_phrases``) spoken
by espeak-ng in many voices (accent x voice variant), speeds, pitches, amplitudes and word gaps,
converted to 16 kHz mono either by sox (sometimes with a band-limit or reverb effect) or by the
numpy resampler that ``autoglm_agent.voice`` uses at inference. Training adds noise at random
SNRs, random leading/trailing silence and speed perturbation on the fly.

Voices are split three ways so that the reported numbers are on voices never trained on:
  - train: seven accents x all variants but the held-out ones,
  - validation (picks the best checkpoint): the train accents x VAL_VARIANTS,
  - test (reported): every accent x TEST_VARIANTS, and the TEST_ACCENT x the train variants.

The model is built from a config (conv feature encoder + 4 transformer layers, hidden size 144,
~1M parameters), trained with CTC on characters (``|`` between words) for a fixed number of steps,
with greedy decoding. Synthesized audio is cached under ``--cache`` (default /tmp), never in the repo.

The shipped checkpoint is three stages of 1,500 steps, each continuing from the last (about 1.1 s a
step on one CPU core; see model/asr/README.md for the timings and results):

    python tools/train_asr.py --out /tmp/asr1
    python tools/train_asr.py --init /tmp/asr1 --out /tmp/asr2 --stage 1 --lr 2e-3 --warmup 100
    python tools/train_asr.py --init /tmp/asr2 --out model/asr --stage 2 --lr 1.5e-3 --warmup 100
    python tools/train_asr.py --eval-only --out model/asr   # re-score the test voices (updates metrics.json)

Seeded: the data, the split, the initialization, the augmentation and the batch order depend only on
``--seed`` and ``--stage`` (and the installed espeak-ng version); CPU float arithmetic may still
differ in the last bits between machines.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autoglm_agent.voice import (  # noqa: E402
    command_phrases,
    edit_distance,
    normalize_transcript,
    resample,
    snap_to_command,
)

RATE = 16000
ESPEAK_DATA = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data")
ACCENTS = (
    "en-gb",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbcwmd",
)
TEST_ACCENT = "en-gb-x-gbcwmd"  # West Midlands: never in train or validation
VAL_VARIANTS = ("grandma", "travis", "klatt4", "zac")
TEST_VARIANTS = ("f4", "m6", "Annie", "aunty", "belinda", "shelby", "whisperf", "Gene2")
SOX_EFFECTS: tuple[tuple[str, ...], ...] = (
    (),
    ("highpass", "250"),
    ("lowpass", "3400"),
    ("sinc", "300-3400"),
    ("reverb", "35"),
    ("treble", "+6"),
    ("bass", "+6"),
)


@dataclass(frozen=True)
class Utterance:
    """How one clip is synthesized."""

    text: str
    voice: str  # accent[+variant]
    speed: int  # words per minute (-s)
    pitch: int  # 0-99 (-p)
    amplitude: int  # (-a)
    gap: int  # extra gap between words, 10 ms units (-g)
    sox: bool  # convert with sox (else the numpy resampler)
    effect: tuple[str, ...]


def espeak_variants() -> list[str]:
    """Installed espeak-ng voice variants (files under voices/!v), sorted; names with spaces skipped."""
    names = sorted(
        p.name for p in (ESPEAK_DATA / "voices" / "!v").iterdir() if p.is_file() and " " not in p.name
    )
    return ["", *names]  # "" = the accent's own default voice


def voice_split(variants: Sequence[str]) -> dict[str, list[str]]:
    train_accents = [a for a in ACCENTS if a != TEST_ACCENT]
    held = set(VAL_VARIANTS) | set(TEST_VARIANTS)
    train_vars = [v for v in variants if v not in held]
    missing = held - set(variants)
    if missing:
        raise SystemExit(f"espeak-ng variants not installed: {sorted(missing)}")

    def voice(accent: str, variant: str) -> str:
        return f"{accent}+{variant}" if variant else accent

    return {
        "train": [voice(a, v) for a in train_accents for v in train_vars],
        "val": [voice(a, v) for a in train_accents for v in VAL_VARIANTS],
        "test": [voice(a, v) for a in ACCENTS for v in TEST_VARIANTS]
        + [voice(TEST_ACCENT, v) for v in train_vars],
    }


def make_specs(
    phrases: Sequence[str], voices: Sequence[str], per_phrase: int, rng: random.Random
) -> list[Utterance]:
    out: list[Utterance] = []
    for text in phrases:
        for _ in range(per_phrase):
            use_sox = rng.random() < 0.5
            out.append(
                Utterance(
                    text=text,
                    voice=rng.choice(list(voices)),
                    speed=rng.randint(115, 205),
                    pitch=rng.randint(15, 85),
                    amplitude=rng.randint(60, 170),
                    gap=rng.choice((0, 0, 0, 1, 2, 4)),
                    sox=use_sox,
                    effect=rng.choice(SOX_EFFECTS) if use_sox else (),
                )
            )
    return out


def _read_wav_bytes(raw: bytes) -> tuple[np.ndarray, int]:
    import io
    import wave

    with wave.open(io.BytesIO(raw)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate


def synthesize(u: Utterance) -> np.ndarray:
    """16 kHz mono float32 samples of one utterance."""
    cmd = ["espeak-ng", "-v", u.voice, "-s", str(u.speed), "-p", str(u.pitch), "-a", str(u.amplitude)]
    cmd += ["-g", str(u.gap), "--stdout", u.text]
    wav = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
    if u.sox:
        sox = [
            "sox",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-e",
            "float",
            "-b",
            "32",
            "-c",
            "1",
            "-r",
            str(RATE),
            "-",
        ]
        raw = subprocess.run([*sox, *u.effect], input=wav, capture_output=True, check=True, timeout=60).stdout
        x = np.frombuffer(raw, dtype="<f4").copy()
    else:
        samples, rate = _read_wav_bytes(wav)
        x = resample(samples, rate, RATE)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > 1.0:
        x = x / peak
    return x.astype(np.float32)


def load_or_synthesize(specs: list[Utterance], cache: Path, name: str, workers: int) -> list[np.ndarray]:
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    key = hashlib.sha256(json.dumps([version, [asdict(s) for s in specs]]).encode()).hexdigest()[:16]
    path = cache / f"{name}-{key}.npz"
    if path.is_file():
        data = np.load(path)
        pcm, offsets = data["pcm"], data["offsets"]
        print(f"[data] {name}: {len(specs)} clips from cache {path}", flush=True)
        return [pcm[offsets[i] : offsets[i + 1]].astype(np.float32) / 32767.0 for i in range(len(specs))]
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        clips = list(pool.map(synthesize, specs))
    offsets = np.cumsum([0] + [c.size for c in clips])
    pcm = np.concatenate([np.clip(c * 32767.0, -32767, 32767).astype(np.int16) for c in clips])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, pcm=pcm, offsets=offsets)
    secs = pcm.size / RATE
    print(
        f"[data] {name}: synthesized {len(specs)} clips ({secs / 60:.1f} min of audio) in {time.time() - t0:.0f} s",
        flush=True,
    )
    return clips


# --------------------------------------------------------------------------- augmentation


def add_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    kind = rng.integers(3)
    n = rng.standard_normal(x.size).astype(np.float32)
    if kind == 1:  # brown-ish (low-frequency rumble)
        n = np.cumsum(n)
        n -= np.convolve(n, np.ones(200) / 200, mode="same")
    elif kind == 2:  # hum plus hiss
        t = np.arange(x.size) / RATE
        n = 3 * np.sin(2 * np.pi * rng.choice((50.0, 60.0)) * t).astype(np.float32) + 0.3 * n
    speech = float(np.sqrt(np.mean(x**2)) + 1e-8)
    noise = float(np.sqrt(np.mean(n**2)) + 1e-8)
    return (x + n * (speech / noise) * 10 ** (-snr_db / 20)).astype(np.float32)


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.3:  # speed perturbation (tempo and pitch together)
        f = rng.uniform(0.9, 1.1)
        x = np.interp(np.arange(0, x.size - 1, f), np.arange(x.size), x).astype(np.float32)
    lead, trail = rng.integers(0, int(0.25 * RATE), size=2)
    x = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(trail, np.float32)])
    x = x * rng.uniform(0.1, 1.0)
    if rng.random() < 0.75:
        x = add_noise(x, rng, rng.uniform(5.0, 35.0))
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def noisy_copy(clips: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Fixed noisy versions of evaluation clips (SNR 10-30 dB, a little silence around)."""
    rng = np.random.default_rng(seed)
    out = []
    for x in clips:
        lead, trail = rng.integers(0, int(0.2 * RATE), size=2)
        y = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(trail, np.float32)])
        out.append(np.clip(add_noise(y, rng, rng.uniform(10.0, 30.0)), -1, 1).astype(np.float32))
    return out


# --------------------------------------------------------------------------- model


def build_processor(out: Path) -> Any:
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, "'": 3}
    for ch in "abcdefghijklmnopqrstuvwxyz":
        vocab[ch] = len(vocab)
    out.mkdir(parents=True, exist_ok=True)
    vocab_file = out / "vocab.json"
    vocab_file.write_text(json.dumps(vocab, indent=1) + "\n", encoding="utf-8")
    tok = Wav2Vec2CTCTokenizer(
        str(vocab_file),
        unk_token="<unk>",
        pad_token="<pad>",
        word_delimiter_token="|",
        bos_token=None,
        eos_token=None,
        do_lower_case=False,
    )
    fe = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=RATE, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    return Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok)


def build_model(vocab_size: int) -> Any:
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    cfg = Wav2Vec2Config(
        vocab_size=vocab_size,
        hidden_size=144,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=384,
        conv_dim=(32, 64, 64, 96, 96, 128, 128),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=8,
        hidden_dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        feat_proj_dropout=0.05,
        final_dropout=0.1,
        layerdrop=0.0,
        mask_time_prob=0.05,
        mask_time_length=4,
        mask_time_min_masks=1,
        mask_feature_prob=0.0,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
        ctc_loss_reduction="mean",
        ctc_zero_infinity=True,
    )
    return Wav2Vec2ForCTC(cfg)


def batch_inputs(processor: Any, clips: Sequence[np.ndarray]) -> dict[str, Any]:
    return dict(
        processor.feature_extractor(
            list(clips), sampling_rate=RATE, padding=True, return_attention_mask=True, return_tensors="pt"
        )
    )


def greedy_decode(model: Any, processor: Any, clips: Sequence[np.ndarray], batch: int = 32) -> list[str]:
    import torch

    model.eval()
    texts: list[str] = []
    order = sorted(range(len(clips)), key=lambda i: clips[i].size)
    result: dict[int, str] = {}
    with torch.no_grad():
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            inputs = batch_inputs(processor, [clips[i] for i in idx])
            logits = model(**inputs).logits
            ids = logits.argmax(-1)
            for i, t in zip(idx, processor.tokenizer.batch_decode(ids), strict=True):
                result[i] = " ".join(t.split())
    texts = [result[i] for i in range(len(clips))]
    model.train()
    return texts


def error_rates(hyps: Sequence[str], refs: Sequence[str], *, snap: bool = False) -> dict[str, float]:
    phrases = command_phrases()
    w_err = w_tot = c_err = c_tot = exact = 0
    for h, r in zip(hyps, refs, strict=True):
        h = snap_to_command(h, phrases) if snap else normalize_transcript(h)
        w_err += edit_distance(h.split(), r.split())
        w_tot += len(r.split())
        c_err += edit_distance(h, r)
        c_tot += len(r)
        exact += h == r
    return {"wer": w_err / w_tot, "cer": c_err / c_tot, "sentence_acc": exact / len(refs)}


def evaluate(model: Any, processor: Any, clips: list[np.ndarray], refs: list[str]) -> dict[str, Any]:
    hyps = greedy_decode(model, processor, clips)
    return {"raw": error_rates(hyps, refs), "snapped": error_rates(hyps, refs, snap=True), "hyps": hyps}


def error_sample(
    refs: Sequence[str], hyps: Sequence[str], specs: Sequence[Utterance], n: int = 40
) -> list[Any]:
    """Up to ``n`` test clips whose raw transcript is wrong, spread over the phrases, with the snapped text."""
    phrases = command_phrases()
    wrong = [
        {"ref": r, "raw": h, "snapped": snap_to_command(h, phrases), "voice": s.voice, "speed": s.speed}
        for r, h, s in zip(refs, hyps, specs, strict=True)
        if normalize_transcript(h) != r
    ]
    step = max(1, len(wrong) // n)
    return wrong[::step][:n]


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "model" / "asr")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/autoglm_asr_cache"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-phrase", type=int, default=64, help="training clips per command phrase")
    ap.add_argument("--val-per-phrase", type=int, default=2)
    ap.add_argument("--test-per-phrase", type=int, default=6)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=250)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument(
        "--max-minutes", type=float, default=70.0, help="safety stop (the step count is the plan)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--eval-only", action="store_true", help="evaluate the checkpoint in --out on the test voices"
    )
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from this checkpoint (a second stage: new augmentation/batch order, fresh schedule)",
    )
    ap.add_argument("--stage", type=int, default=0, help="offsets the augmentation and batch-order seeds")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    phrases = command_phrases()
    split = voice_split(espeak_variants())
    print(
        f"[data] {len(phrases)} phrases; voices: train {len(split['train'])}, val {len(split['val'])}, "
        f"test {len(split['test'])}",
        flush=True,
    )
    train_specs = make_specs(phrases, split["train"], args.per_phrase, rng)
    val_specs = make_specs(phrases, split["val"], args.val_per_phrase, rng)
    test_specs = make_specs(phrases, split["test"], args.test_per_phrase, rng)
    workers = max(1, args.threads)
    test_clips = load_or_synthesize(test_specs, args.cache, "test", workers)
    test_refs = [s.text for s in test_specs]
    test_noisy = noisy_copy(test_clips, args.seed + 2)

    if args.eval_only:
        from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

        model = Wav2Vec2ForCTC.from_pretrained(args.out)
        processor = Wav2Vec2Processor.from_pretrained(args.out)
        results = {}
        for name, clips in (("clean", test_clips), ("noisy", test_noisy)):
            results[name] = res = evaluate(model, processor, clips, test_refs)
            print(f"[test/{name}] raw {res['raw']} snapped {res['snapped']}", flush=True)
        metrics_file = args.out / "metrics.json"
        if metrics_file.is_file():  # refresh the test numbers (e.g. after a change to the snapping rule)
            metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
            for name, res in results.items():
                metrics[f"test_{name}"] = {"raw": res["raw"], "snapped": res["snapped"]}
            metrics["test_clean_errors_sample"] = error_sample(
                test_refs, results["clean"]["hyps"], test_specs
            )
            metrics_file.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
        return 0

    train_clips = load_or_synthesize(train_specs, args.cache, "train", workers)
    val_clips = load_or_synthesize(val_specs, args.cache, "val", workers)
    val_refs = [s.text for s in val_specs]
    val_mix = val_clips + noisy_copy(val_clips, args.seed + 1)
    val_mix_refs = val_refs + val_refs
    train_secs = sum(c.size for c in train_clips) / RATE

    processor = build_processor(args.out)
    if args.init is not None:
        from transformers import Wav2Vec2ForCTC

        model = Wav2Vec2ForCTC.from_pretrained(args.init)
        print(f"[model] continuing from {args.init}", flush=True)
    else:
        model = build_model(len(processor.tokenizer))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[model] Wav2Vec2ForCTC, {n_params:,} parameters, vocab {len(processor.tokenizer)}", flush=True)
    labels = [processor.tokenizer(t).input_ids for t in (s.text for s in train_specs)]
    assert all(1 not in ids for ids in labels), "a training phrase has characters outside the vocabulary"

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    np_rng = np.random.default_rng(args.seed + 1000 * args.stage)
    order_rng = random.Random(args.seed + 7 + 1000 * args.stage)

    def batches() -> Any:
        while True:
            idx = list(range(len(train_clips)))
            order_rng.shuffle(idx)
            groups: list[list[int]] = []
            for s in range(0, len(idx), args.batch * 16):  # length-sorted buckets limit padding
                chunk = sorted(idx[s : s + args.batch * 16], key=lambda i: train_clips[i].size)
                groups += [chunk[k : k + args.batch] for k in range(0, len(chunk), args.batch)]
            order_rng.shuffle(groups)
            yield from (g for g in groups if len(g) == args.batch)

    best: dict[str, Any] = {"cer": float("inf")}
    history: list[dict[str, Any]] = []
    t0 = time.time()
    model.train()
    gen = batches()
    running = 0.0
    step = 0
    for step in range(1, args.steps + 1):
        idx = next(gen)
        inputs = batch_inputs(processor, [augment(train_clips[i], np_rng) for i in idx])
        lab = [labels[i] for i in idx]
        width = max(len(x) for x in lab)
        label_t = torch.full((len(lab), width), -100, dtype=torch.long)
        for k, ids in enumerate(lab):
            label_t[k, : len(ids)] = torch.tensor(ids)
        for g in opt.param_groups:
            g["lr"] = lr_at(step - 1, args.steps, args.lr, args.warmup)
        loss = model(**inputs, labels=label_t).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        running = 0.98 * running + 0.02 * float(loss.detach()) if step > 1 else float(loss.detach())
        elapsed = time.time() - t0
        if step % 25 == 0:
            print(
                f"[train] step {step}/{args.steps} loss {running:.3f} lr {opt.param_groups[0]['lr']:.2e} {elapsed / 60:.1f} min",
                flush=True,
            )
        out_of_time = elapsed > args.max_minutes * 60
        if step % args.eval_every == 0 or step == args.steps or out_of_time:
            res = evaluate(model, processor, val_mix, val_mix_refs)
            rec = {
                "step": step,
                "minutes": round(elapsed / 60, 2),
                "loss": round(running, 4),
                "val_raw": res["raw"],
                "val_snapped": res["snapped"],
            }
            history.append(rec)
            print(
                f"[val] step {step}: raw {res['raw']} snapped {res['snapped']} e.g. {res['hyps'][:3]}",
                flush=True,
            )
            if res["raw"]["cer"] <= best["cer"]:
                best = {
                    "cer": res["raw"]["cer"],
                    "step": step,
                    "state": {k: v.clone() for k, v in model.state_dict().items()},
                }
        if out_of_time:
            print(f"[train] stopped at step {step}: over --max-minutes", flush=True)
            break
    train_minutes = (time.time() - t0) / 60
    model.load_state_dict(best["state"])
    print(
        f"[train] done in {train_minutes:.1f} min; best validation CER {best['cer']:.4f} at step {best['step']}",
        flush=True,
    )

    test = {
        name: evaluate(model, processor, clips, test_refs)
        for name, clips in (("clean", test_clips), ("noisy", test_noisy))
    }
    for name, res in test.items():
        print(f"[test/{name}] raw {res['raw']} snapped {res['snapped']}", flush=True)

    model.save_pretrained(args.out)
    processor.save_pretrained(args.out)
    (args.out / "commands.txt").write_text("\n".join(phrases) + "\n", encoding="utf-8")
    errors = error_sample(test_refs, test["clean"]["hyps"], test_specs)
    metrics = {
        "seed": args.seed,
        "stage": args.stage,
        "init": str(args.init) if args.init else None,
        "lr": args.lr,
        "espeak_ng": subprocess.run(
            ["espeak-ng", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "parameters": n_params,
        "phrases": len(phrases),
        "clips": {"train": len(train_specs), "val": len(val_specs) * 2, "test": len(test_specs) * 2},
        "train_audio_minutes": round(train_secs / 60, 1),
        "voices": {
            "train": len(split["train"]),
            "val": VAL_VARIANTS,
            "test_variants": TEST_VARIANTS,
            "test_accent": TEST_ACCENT,
            "test_voices": len(split["test"]),
        },
        "steps_run": step,
        "batch": args.batch,
        "best_step": best["step"],
        "train_minutes": round(train_minutes, 1),
        "threads": args.threads,
        "test_clean": {"raw": test["clean"]["raw"], "snapped": test["clean"]["snapped"]},
        "test_noisy": {"raw": test["noisy"]["raw"], "snapped": test["noisy"]["snapped"]},
        "history": history,
        "test_clean_errors_sample": errors,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"[save] {args.out} ({size / 2**20:.1f} MiB)", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
