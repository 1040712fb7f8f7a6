"""Benchmark the embedded server against ``transformers serve`` on the same checkpoint.

Both servers run as subprocesses on 127.0.0.1 and get the same streamed image requests (a phone
screenshot as a data URL, greedy decoding, the same max_tokens) at each concurrency level. For each:
requests/s, generated tokens/s, time to first token p50/p95 and the server process's peak RSS.

    python tools/bench_server.py                        # builds a tiny glm4v checkpoint in a temp dir
    python tools/bench_server.py --model PATH --concurrency 1,4,16 --requests 32 --max-tokens 32

``transformers serve`` needs only fastapi and uvicorn (already in the server extra). Its processor
loading (``AutoProcessor``) fails without torchvision for glm4v, so this script starts it through a
small wrapper that hands it the same image-only processor the embedded server builds; everything
else (its generation, its scheduling) is transformers' own.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from PIL import Image, ImageDraw


def _hf_serve_main(argv: list[str]) -> None:
    """Run ``transformers serve`` with the image-only processor fallback (no torchvision here)."""
    import transformers

    from autoglm_agent.server.loading import build_image_only_processor

    original = transformers.AutoProcessor.from_pretrained

    def from_pretrained(name: str, *args: object, **kwargs: object) -> object:
        try:
            return original(name, *args, **kwargs)
        except ImportError:
            path = Path(str(name).split("@")[0])
            model_type = json.loads((path / "config.json").read_text())["model_type"]
            return build_image_only_processor(path, model_type)

    transformers.AutoProcessor.from_pretrained = from_pretrained  # type: ignore[method-assign]
    from transformers.cli.transformers import main

    sys.argv = ["transformers", "serve", *argv]
    main()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def screenshot_url(i: int) -> str:
    img = Image.new("RGB", (1080, 2400), (240, 240, 240))
    d = ImageDraw.Draw(img)
    for row in range(8):
        d.rectangle((60, 200 + row * 260, 1020, 400 + row * 260), fill=((37 * (row + i)) % 255, 120, 200))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    model_name: str
    extra_body: dict[str, object] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.proc = subprocess.Popen(
            self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise SystemExit(f"{self.name} exited early:\n{err[-3000:]}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"{self.name} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


class RssSampler:
    """Peak RSS of a process tree, sampled every 50 ms."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class LevelResult:
    concurrency: int
    requests: int
    errors: int
    wall_s: float
    tokens: int
    ttft: list[float]
    peak_rss: int
    cpu_s: float = 0.0  # CPU seconds the server process used during the level

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_s / max(1, self.requests)

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s

    @property
    def tps(self) -> float:
        return self.tokens / self.wall_s

    def ttft_q(self, q: float) -> float:
        if not self.ttft:
            return float("nan")
        xs = sorted(self.ttft)
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def one_request(
    http: httpx.AsyncClient, srv: Server, image: str, max_tokens: int
) -> tuple[float | None, int]:
    body = {
        "model": srv.model_name,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image}},
                    {"type": "text", "text": "Task: open settings. Output the next action."},
                ],
            }
        ],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **srv.extra_body,
    }
    t0 = time.perf_counter()
    ttft: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    async with http.stream("POST", srv.url + "/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            await resp.aread()
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                usage_tokens = int(data["usage"].get("completion_tokens") or 0)
            for choice in data.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content") or delta.get("reasoning_content"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - t0
    return ttft, usage_tokens if usage_tokens is not None else chunks


async def run_level(srv: Server, concurrency: int, n: int, max_tokens: int, images: list[str]) -> LevelResult:
    sem = asyncio.Semaphore(concurrency)
    ttfts: list[float] = []
    tokens = 0
    errors = 0
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:

        async def task(i: int) -> None:
            nonlocal tokens, errors
            async with sem:
                try:
                    ttft, toks = await one_request(http, srv, images[i % len(images)], max_tokens)
                except Exception as exc:
                    errors += 1
                    print(f"  {srv.name}: request failed: {exc}", file=sys.stderr)
                    return
                tokens += toks
                if ttft is not None:
                    ttfts.append(ttft)

        assert srv.proc is not None
        proc = psutil.Process(srv.proc.pid)
        cpu0 = sum(proc.cpu_times()[:2])
        with RssSampler(srv.proc.pid) as rss:
            t0 = time.perf_counter()
            await asyncio.gather(*(task(i) for i in range(n)))
            wall = time.perf_counter() - t0
        cpu = sum(proc.cpu_times()[:2]) - cpu0
    return LevelResult(concurrency, n - errors, errors, wall, tokens, ttfts, rss.peak, cpu)


def bench(
    servers: list[Server], levels: list[int], n: int, max_tokens: int, images: list[str], repeat: int
) -> dict[str, list[LevelResult]]:
    """Start every server, then run each level on each server in turn (interleaved, so background
    load on a shared machine hits both alike); with ``repeat`` > 1 keep each server's best run."""
    for srv in servers:
        print(f"starting {srv.name} ...", file=sys.stderr)
        srv.start()
    try:
        for srv in servers:
            asyncio.run(run_level(srv, 2, 4, max_tokens, images))  # warm-up
        out: dict[str, list[LevelResult]] = {srv.name: [] for srv in servers}
        for c in levels:
            best: dict[str, LevelResult] = {}
            for _ in range(repeat):
                for srv in servers:
                    res = asyncio.run(run_level(srv, c, max(n, c), max_tokens, images))
                    print(
                        f"  {srv.name} c={c}: {res.rps:.2f} req/s, {res.tps:.1f} tok/s, "
                        f"TTFT p50 {res.ttft_q(0.5) * 1000:.0f} ms",
                        file=sys.stderr,
                    )
                    if srv.name not in best or res.rps > best[srv.name].rps:
                        best[srv.name] = res
            for srv in servers:
                out[srv.name].append(best[srv.name])
        return out
    finally:
        for srv in servers:
            srv.stop()


def print_table(levels: list[int], ours: list[LevelResult], base: list[LevelResult], max_tokens: int) -> None:
    rows: list[tuple[str, ...]] = []
    for c, a, b in zip(levels, ours, base, strict=True):

        def ratio(x: float, y: float) -> str:
            return f"{x / y:.2f}x" if y > 0 else "-"

        rows += [
            (str(c), "requests/s", f"{a.rps:.2f}", f"{b.rps:.2f}", ratio(a.rps, b.rps)),
            ("", "tokens/s", f"{a.tps:.1f}", f"{b.tps:.1f}", ratio(a.tps, b.tps)),
            (
                "",
                "TTFT p50 (ms)",
                f"{a.ttft_q(0.5) * 1e3:.0f}",
                f"{b.ttft_q(0.5) * 1e3:.0f}",
                ratio(b.ttft_q(0.5), a.ttft_q(0.5)),
            ),
            (
                "",
                "TTFT p95 (ms)",
                f"{a.ttft_q(0.95) * 1e3:.0f}",
                f"{b.ttft_q(0.95) * 1e3:.0f}",
                ratio(b.ttft_q(0.95), a.ttft_q(0.95)),
            ),
            (
                "",
                "peak RSS (MiB)",
                f"{a.peak_rss / 2**20:.0f}",
                f"{b.peak_rss / 2**20:.0f}",
                ratio(a.peak_rss, b.peak_rss),
            ),
            (
                "",
                "server CPU s/request",
                f"{a.cpu_per_request:.3f}",
                f"{b.cpu_per_request:.3f}",
                ratio(b.cpu_per_request, a.cpu_per_request),
            ),
            ("", "errors", str(a.errors), str(b.errors), ""),
        ]
    header = ("conc.", "metric", "autoglm server", "transformers serve", "ratio (speed-up)")
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"image requests, greedy, max_tokens={max_tokens}")
        for h in header:
            table.add_column(h, justify="right" if h not in ("metric",) else "left")
        for r in rows:
            table.add_row(*r)
        Console(width=120).print(table)
    except ImportError:  # pragma: no cover
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for r in rows:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))
    print(
        "ratio: ours / transformers serve for rates and memory; transformers serve / ours for TTFT and CPU "
        "per request (>1 = ours better). CPU s/request is robust to other load on the machine; rates are not."
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--hf-serve"]:
        _hf_serve_main(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: build a tiny glm4v)")
    ap.add_argument("--concurrency", default="1,4,16", help="comma-separated levels")
    ap.add_argument("--requests", type=int, default=32, help="requests per level (at least the concurrency)")
    ap.add_argument(
        "--max-tokens", type=int, default=64, help="tokens per answer (AutoGLM answers run 50-150)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per level and server; the best is kept")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["ours", "hf"], default=None, help="run one server only")
    ap.add_argument(
        "--hf-threads",
        default="",
        help="also run transformers serve with these OMP_NUM_THREADS values (e.g. 1), beside its default",
    )
    ap.add_argument(
        "--server-args", default="", help="extra arguments for our server (python -m autoglm_agent.server)"
    )
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from autoglm_agent.server.tiny import build_tiny_glm4v

            model = build_tiny_glm4v(Path(tmp) / "tiny-glm4v")
        images = [screenshot_url(i) for i in range(4)]
        py = sys.executable
        ours = Server(
            "autoglm server",
            [
                py,
                "-m",
                "autoglm_agent.server",
                "--model",
                str(model),
                "--device",
                args.device,
                "--port",
                "PORT",
                "--max-batch-size",
                str(max(levels)),
                "--api-key",
                "",
                *shlex.split(args.server_args),
            ],
            0,
            "autoglm-phone-9b",
        )
        hf = Server(
            "transformers serve",
            [
                py,
                str(Path(__file__).resolve()),
                "--hf-serve",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                "PORT",
                "--device",
                args.device,
                "--log-level",
                "error",
            ],
            0,
            str(model),
        )
        baselines = [hf]
        for n in [x.strip() for x in args.hf_threads.split(",") if x.strip()]:
            baselines.append(
                Server(
                    f"transformers serve (OMP_NUM_THREADS={n})",
                    list(hf.cmd),
                    0,
                    hf.model_name,
                    env={"OMP_NUM_THREADS": n},
                )
            )
        chosen = [ours, *baselines] if args.only is None else ([ours] if args.only == "ours" else baselines)
        for srv in chosen:
            srv.port = free_port()
            srv.cmd = [str(srv.port) if x == "PORT" else x for x in srv.cmd]
        results = bench(chosen, levels, args.requests, args.max_tokens, images, args.repeat)
        if ours.name in results and len(results) > 1:
            for base in baselines:
                print(f"\n{ours.name} vs {base.name}")
                print_table(levels, results[ours.name], results[base.name], args.max_tokens)
        else:
            for name, res in results.items():
                for r in res:
                    print(
                        f"{name} c={r.concurrency}: {r.rps:.2f} req/s {r.tps:.1f} tok/s "
                        f"TTFT p50 {r.ttft_q(0.5) * 1e3:.0f} ms CPU/request {r.cpu_per_request:.3f} s"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
