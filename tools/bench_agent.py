"""Agent-side performance on the simulator, with baselines measured in the same run.

1. Step overhead: the time an agent step spends outside the model (screenshot, encode, action,
   waiting for the screen) per action type, with a scripted endpoint that answers at once.
   Printed beside the floor (the simulator's own render + PNG encode, a bare adb round trip) and
   beside a reference-client-style flow run on the same simulator: fixed 1 s sleeps after every
   action, a screenshot as two ADB round trips through a shared /sdcard file, and four 1 s sleeps
   per text input.
2. Bytes and image tokens sent per step at the default image budget, against a full-size PNG.
3. Many devices: N simulators driven by N agents (threads) against one endpoint; steps/s for N = 1, 2, 4, 8.

Run:  .venv/bin/python tools/bench_agent.py [--steps 8] [--ref-steps 3] [--devices 1,2,4,8]
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from PIL import Image

from autoglm_agent.actions import to_grid
from autoglm_agent.agent import AgentConfig, PhoneAgent
from autoglm_agent.device import AdbDevice
from autoglm_agent.device.base import Screenshot
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.multimodal import DEFAULT_IMAGE_MAX_PIXELS, image_part
from autoglm_agent.sim.runner import Simulator
from autoglm_agent.testing.scripted import ScriptedEndpoint


def answer(call: str) -> str:
    return f"<think>benchmark</think><answer>{call}</answer>"


def grid_center(phone: Any, pred: Callable[[dict[str, str]], bool], nth: int = 0) -> tuple[int, int]:
    root = ET.fromstring(phone.ui_hierarchy_xml())
    hits = []
    for node in root.iter("node"):
        if pred(node.attrib):
            x1, y1, x2, y2 = (int(v) for v in node.attrib["bounds"].replace("][", ",").strip("[]").split(","))
            hits.append(to_grid((x1 + x2) // 2, (y1 + y2) // 2, phone.width, phone.height))
    return hits[nth]


class ReferenceStyleDevice(AdbDevice):
    """The reference client's device flow, on the same transport: the costs its design fixes in."""

    def screenshot(self) -> Screenshot:
        t = time.perf_counter()
        path = "/sdcard/tmp.png"
        self.shell("screencap", "-p", path)  # round trip 1: capture into a shared file
        data = self.shell("cat", path).stdout  # round trip 2: fetch it
        image = Image.open(io.BytesIO(data))
        image.load()
        return Screenshot(
            image=image.convert("RGB"),
            width=image.width,
            height=image.height,
            duration_s=time.perf_counter() - t,
        )

    def _pause(self) -> None:
        time.sleep(1.0)

    def tap(self, x: int, y: int) -> None:
        super().tap(x, y)
        self._pause()

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        super().swipe(x1, y1, x2, y2, duration_ms)
        self._pause()

    def launch(self, app: str) -> str:
        package = super().launch(app)
        self._pause()
        return package

    def type_text(self, text: str) -> None:
        # switch keyboard, clear, type, restore: one fixed second after each
        for _ in range(3):
            self._pause()
        super().type_text(text)
        self._pause()


# ---------------------------------------------------------------------------------------- scenarios
def scenario(kind: str, sim: Simulator) -> tuple[Callable[[], None], Callable[[int], str]]:
    """(set-up of the phone, reply for step i) for each action type; every step changes the screen."""
    phone = sim.phone
    if kind == "tap":

        def setup() -> None:
            phone.launch_package("com.android.settings")

        def reply(i: int) -> str:
            x, y = grid_center(phone, lambda a: a.get("resource-id", "").endswith("switch_widget"))
            return answer(f'do(action="Tap", element=[{x},{y}])')

    elif kind == "type":

        def setup() -> None:
            phone.launch_package("com.android.notes")
            x, y = grid_center(phone, lambda a: a.get("content-desc") in ("New note",))
            px = (x * phone.width // 1000, y * phone.height // 1000)
            phone.tap(*px)

        def reply(i: int) -> str:
            return answer(f'do(action="Type", text="benchmark text {i} 你好")')

    elif kind == "swipe":

        def setup() -> None:
            phone.launch_package("com.android.settings")

        def reply(i: int) -> str:
            if i % 2 == 0:
                return answer('do(action="Swipe", start=[500,800], end=[500,300])')
            return answer('do(action="Swipe", start=[500,300], end=[500,800])')

    elif kind == "launch":

        def setup() -> None:
            pass

        def reply(i: int) -> str:
            return answer(f'do(action="Launch", app="{"Settings" if i % 2 == 0 else "Clock"}")')

    else:
        raise ValueError(kind)
    return setup, reply


def run_steps(device: AdbDevice, sim: Simulator, kind: str, steps: int, config: AgentConfig) -> list[Any]:
    sim.reset()
    setup, reply = scenario(kind, sim)
    setup()
    with ScriptedEndpoint(chunk_size=64) as ep:
        ep.add(*[(lambda body, n=n: reply(n)) for n in range(steps + 1)])
        llm = ChatAutoGLM(base_url=ep.base_url, max_retries=0)
        agent = PhoneAgent(device, llm, config)
        agent.reset(f"benchmark {kind}")
        records = [agent.step() for _ in range(steps + 1)]
    return records[1:]  # the first step warms caches (app resolution, IME switch)


def overhead_ms(records: list[Any]) -> tuple[float, float, float]:
    """Median ms outside the model, median model (scripted) ms, median settle ms."""
    outside = [1000 * (r.timings.total_s - r.timings.model_s) for r in records]
    model = [1000 * r.timings.model_s for r in records]
    settle = [1000 * r.timings.settle_s for r in records]
    return statistics.median(outside), statistics.median(model), statistics.median(settle)


def floors(sim: Simulator, device: AdbDevice, n: int = 10) -> dict[str, float]:
    phone = sim.phone
    render = []
    for _ in range(n):
        with phone.lock:
            phone.version += 1  # force a fresh frame
        t = time.perf_counter()
        phone.screencap_png()
        render.append(time.perf_counter() - t)
    rtt = []
    for _ in range(n):
        t = time.perf_counter()
        device.shell("echo", "x")
        rtt.append(time.perf_counter() - t)
    shots = []
    for _ in range(n):
        t = time.perf_counter()
        device.screenshot()
        shots.append(time.perf_counter() - t)
    return {
        "render+png": 1000 * statistics.median(render),
        "adb round trip": 1000 * statistics.median(rtt),
        "screenshot (ours)": 1000 * statistics.median(shots),
    }


def bytes_and_tokens(width: int, height: int) -> list[tuple[str, int, int, str]]:
    with Simulator(seed=0, width=width, height=height) as sim:
        phone = sim.phone
        phone.launch_package("com.android.settings")
        png = phone.screencap_png()
        img = phone.render()
    part = image_part(img)
    url = part["image_url"]["url"]
    data_len = len(url)
    resized = Image.open(io.BytesIO(__import__("base64").b64decode(url.split(",", 1)[1])))
    tokens = (resized.width // 28) * (resized.height // 28)
    full_tokens = -(-width // 28) * -(-height // 28)
    return [
        (f"full-size PNG {width}x{height}", len(png) * 4 // 3, full_tokens, "base64 of the PNG"),
        (
            f"default budget JPEG {resized.width}x{resized.height}",
            data_len,
            tokens,
            f"max_pixels={DEFAULT_IMAGE_MAX_PIXELS}",
        ),
    ]


def many_devices(counts: list[int], steps: int) -> list[tuple[int, float, float]]:
    rows = []
    for n in counts:
        sims = [Simulator(seed=i).start() for i in range(n)]
        try:
            with ScriptedEndpoint(chunk_size=64) as ep:
                for sim in sims:
                    sim.phone.launch_package("com.android.settings")
                x, y = grid_center(
                    sims[0].phone, lambda a: a.get("resource-id", "").endswith("switch_widget")
                )
                ep.add(*[answer(f'do(action="Tap", element=[{x},{y}])')] * (n * (steps + 1)))
                devices = [AdbDevice(s.serial) for s in sims]
                cfg = AgentConfig(max_steps=500, loop_limit=10_000)
                agents = [
                    PhoneAgent(d, ChatAutoGLM(base_url=ep.base_url, max_retries=0), cfg) for d in devices
                ]
                for a in agents:
                    a.reset("benchmark")
                    a.step()  # warm-up

                def drive(agent: PhoneAgent) -> None:
                    for _ in range(steps):
                        agent.step()

                threads = [threading.Thread(target=drive, args=(a,)) for a in agents]
                t = time.perf_counter()
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                wall = time.perf_counter() - t
                for d in devices:
                    d.close()
            rows.append((n, n * steps / wall, 1000 * wall / steps))
        finally:
            for sim in sims:
                sim.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8, help="measured steps per action type (this agent)")
    ap.add_argument(
        "--ref-steps", type=int, default=3, help="measured steps per action type (reference style)"
    )
    ap.add_argument("--devices", default="1,2,4,8", help="device counts for the scaling table")
    ap.add_argument("--device-steps", type=int, default=10)
    ap.add_argument("--width", type=int, default=1080)
    ap.add_argument("--height", type=int, default=2400)
    args = ap.parse_args()

    print(
        f"# Agent step overhead on the simulator ({args.width}x{args.height}), scripted endpoint answering at once\n"
    )
    with Simulator(seed=0, width=args.width, height=args.height) as sim:
        with AdbDevice(sim.serial) as dev:
            fl = floors(sim, dev)
            print("floor: " + " · ".join(f"{k} {v:.1f} ms" for k, v in fl.items()) + "\n")
            ours_cfg = AgentConfig(max_steps=500, loop_limit=10_000)
            results = {
                kind: overhead_ms(run_steps(dev, sim, kind, args.steps, ours_cfg))
                for kind in ("tap", "type", "swipe", "launch")
            }
        with ReferenceStyleDevice(sim.serial) as ref_dev:
            ref_cfg = AgentConfig(max_steps=500, loop_limit=10_000, settle_timeout_s=0)
            ref = {
                kind: overhead_ms(run_steps(ref_dev, sim, kind, args.ref_steps, ref_cfg))
                for kind in ("tap", "type", "swipe", "launch")
            }
    targets = {"tap": 250, "type": 500, "swipe": None, "launch": None}
    print(
        "| action | this agent: outside model (ms) | of which settle | scripted model call | reference-style (ms) | speed-up | target |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, (out, model, settle) in results.items():
        r = ref[kind][0]
        tgt = targets[kind]
        verdict = "" if tgt is None else (f"< {tgt} ms: {'met' if out < tgt else 'MISSED'}")
        print(f"| {kind} | {out:.0f} | {settle:.0f} | {model:.0f} | {r:.0f} | {r / out:.1f}x | {verdict} |")

    print("\n# Bytes and image tokens per step\n")
    print("| image sent | bytes in the request | image tokens (28 px each) | note |")
    print("|---|---|---|---|")
    rows = bytes_and_tokens(args.width, args.height)
    for name, nbytes, tokens, note in rows:
        print(f"| {name} | {nbytes:,} | {tokens:,} | {note} |")
    print(
        f"\nratio: {rows[0][1] / rows[1][1]:.1f}x fewer bytes, {rows[0][2] / rows[1][2]:.1f}x fewer image tokens"
    )

    counts = [int(c) for c in args.devices.split(",") if c.strip()]
    print(
        f"\n# Many devices: N simulators x N agents, one endpoint, {args.device_steps} tap steps each (720x1600)\n"
    )
    print("| devices | steps/s (all) | ms per step per device |")
    print("|---|---|---|")
    for n, sps, ms in many_devices(counts, args.device_steps):
        print(f"| {n} | {sps:.1f} | {ms:.0f} |")


if __name__ == "__main__":
    main()
