"""The walkthroughs in ``examples/`` run from top to bottom, and the example scripts run.

Every notebook is executed with nbclient in a real ``python3`` kernel (the venv's ipykernel) with
``examples/`` as the working directory, against real parts: simulators on the real adb server,
the embedded model server, the real espeak-ng. They use the demo checkpoints ``model/`` and
``model/asr`` when the checkout has them; until then, tiny random checkpoints built by
``build_tiny_glm4v`` / ``build_tiny_asr`` stand in (their answers are garbage: the agent re-asks
and fails, which still exercises every cell), and the assertions that need a trained model
(Settings really opened, the command really heard) apply to the real checkpoints only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEMO_MODEL = ROOT / "model"
DEMO_ASR = ROOT / "model" / "asr"
NOTEBOOKS = (
    "01_quickstart.ipynb",
    "02_real_phone_and_vllm.ipynb",
    "03_langchain_tools.ipynb",
    "04_voice_commands.ipynb",
    "05_evaluate_a_model.ipynb",
)
SCRIPTS = ("quickstart.py", "evaluate.py", "voice_command.py", "planner_delegates.py")
#: Seconds one cell may take (the slowest: the evaluation's six runs on a busy 2-core machine).
CELL_TIMEOUT = 300
#: Answer cap for the random stand-in model: it never stops by itself, and its words are garbage anyway.
STAND_IN_MAX_TOKENS = "8"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
needs_adb = pytest.mark.skipif(
    shutil.which("adb") is None,
    reason="the adb binary is not on PATH (Debian: apt install adb); the simulator needs it",
)
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (Debian: apt install espeak-ng)"
)


def _is_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file()


@dataclass(frozen=True)
class Models:
    glm: Path
    asr: Path
    #: The trained demo checkpoints (not random stand-ins): their behaviour can be asserted.
    glm_trained: bool
    asr_trained: bool


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """``model/`` and ``model/asr``, or tiny random stand-ins built once for this module."""
    root = tmp_path_factory.mktemp("notebook-models")
    glm, asr = DEMO_MODEL, DEMO_ASR
    if not _is_checkpoint(glm):
        from autoglm_agent.demo.pipeline import AGENT_FILE, DemoSettings
        from autoglm_agent.server.tiny import build_tiny_glm4v

        glm = build_tiny_glm4v(root / "glm4v")
        # the agent settings a checkpoint ships, as the demo checkpoint's agent.json holds them
        (glm / AGENT_FILE).write_text(DemoSettings().model_dump_json(indent=2), encoding="utf-8")
    if not _is_checkpoint(asr):
        from autoglm_agent.server.tiny import build_tiny_asr

        asr = build_tiny_asr(root / "asr")
    return Models(glm=glm, asr=asr, glm_trained=glm == DEMO_MODEL, asr_trained=asr == DEMO_ASR)


@pytest.fixture
def env(models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The environment the kernel (or script) inherits; yields the trajectory folder."""
    runs = tmp_path / "runs"
    for name in ("AUTOGLM_BASE_URL", "AUTOGLM_MODEL", "AUTOGLM_API_KEY", "AUTOGLM_MAX_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTOGLM_MODEL_PATH", str(models.glm))
    monkeypatch.setenv("AUTOGLM_ASR_MODEL", str(models.asr))
    monkeypatch.setenv("AUTOGLM_TRAJECTORY_DIR", str(runs))
    if not models.glm_trained:
        monkeypatch.setenv("AUTOGLM_MAX_TOKENS", STAND_IN_MAX_TOKENS)
    yield runs


@dataclass
class Executed:
    nb: nbformat.NotebookNode

    @property
    def text(self) -> str:
        """Everything the cells printed or displayed as text."""
        parts: list[str] = []
        for cell in self.nb.cells:
            for out in cell.get("outputs", []):
                if out.output_type == "stream":
                    parts.append(out.text)
                elif "data" in out:
                    parts.append(str(out.data.get("text/plain", "")))
                    parts.append(str(out.data.get("text/markdown", "")))
        return "".join(parts)

    def count(self, mime: str) -> int:
        return sum(
            1 for cell in self.nb.cells for out in cell.get("outputs", []) if mime in out.get("data", {})
        )


def execute(name: str) -> Executed:
    """Run the notebook in a fresh python3 kernel from examples/; any cell error fails the test."""
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()  # raises CellExecutionError, with the cell's traceback, if a cell fails
    return Executed(nb)


# ------------------------------------------------------------------------------------ the files
def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebooks_are_committed_clean_and_match_the_generator() -> None:
    gen = _generator()
    assert sorted(gen.NOTEBOOKS) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        nb = nbformat.read(EXAMPLES / name, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear the outputs"
        assert (EXAMPLES / name).read_text(encoding="utf-8") == gen.render(name), (
            f"{name} differs from tools/make_notebooks.py: edit the cells there and run it"
        )


# -------------------------------------------------------------------------------- the notebooks
@needs_adb
def test_quickstart(models: Models, env: Path) -> None:
    run = execute("01_quickstart.ipynb")
    text = run.text
    assert "simulated phone: 127.0.0.1:" in text
    assert "endpoint: http://127.0.0.1:" in text
    assert "system_prompt:" in text, "the checkpoint's agent.json settings are used"
    assert "--- step 1 · com.android.launcher3" in text
    assert "check: the foreground app is" in text
    assert run.count("image/png") >= 2, "each step's screen and the trajectory's images are shown inline"
    assert "steps.jsonl" in text and "report.html" in text
    assert "stopped" in text
    reports = list(env.glob("*/report.html"))
    assert len(reports) == 1 and "Step 1" in reports[0].read_text(encoding="utf-8")
    if models.glm_trained:
        assert "Settings open: True" in text
        assert "result: success" in text


@needs_adb
def test_real_phone_and_vllm(env: Path) -> None:
    text = execute("02_real_phone_and_vllm.ipynb").text
    assert "vllm serve /models/AutoGLM-Phone-9B" in text
    assert "--tensor-parallel-size 2" in text and "--reasoning-parser glm45" in text
    assert "python -m sglang.launch_server" in text
    assert "AutoGLM_Sim_Phone" in text, "the simulator is listed like a phone"
    assert "text input: adbkeyboard" in text
    assert "http://GPU_HOST:8000/v1 autoglm-phone-9b" in text
    assert "success: 已打开设置" in text
    assert "foreground app on the 'phone': com.android.settings" in text


@needs_adb
def test_langchain_tools(env: Path) -> None:
    run = execute("03_langchain_tools.ipynb")
    text = run.text
    assert 'ImageButton "New note" id=new_note' in text
    assert "check: note saved: True" in text
    assert "> tool phone_run_task(" in text
    assert "[phone step 1]" in text and "[phone step 2]" in text
    assert "thinking: No need to look for the icon" in text, "the phone model's reasoning streams"
    assert 'action: do(action="Launch", app="Settings")' in text
    assert "[phone] success: Settings is open (2 steps)" in text
    assert "planner: Done: the Settings app is open on your phone." in text
    assert "Settings open: True" in text
    assert run.count("image/png") >= 2


@needs_adb
@needs_espeak
def test_voice_commands(models: Models, env: Path) -> None:
    run = execute("04_voice_commands.ipynb")
    text = run.text
    assert run.count("text/html") >= 1, "the recording is playable inline"
    assert "of audio at 22050 Hz" in text
    assert "raw transcript:" in text and "command:" in text
    assert "check: Settings open:" in text
    assert "input_audio wav" in text
    assert "answer:" in text and "'output_tokens'" in text, "the server answered the audio request"
    if models.asr_trained:
        assert "command: 'open settings'" in text
    if models.asr_trained and models.glm_trained:
        assert "check: Settings open: True" in text


@needs_adb
def test_evaluate_a_model(models: Models, env: Path) -> None:
    text = execute("05_evaluate_a_model.ipynb").text
    assert "this run: ['open-settings', 'go-home', 'wifi-on'] in en and zh" in text
    results = [line for line in text.splitlines() if line.startswith(("pass ", "FAIL "))]
    assert len(results) == 6, results
    assert sum("[zh]" in line for line in results) == 3
    assert "summary: " in text and "| group | runs |" in text
    reports = list(env.glob("eval-*/report.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["summary"]["runs"] == 6
    assert "bluetooth-on" in text, "the CLI lists the settings tasks"
    if models.glm_trained:
        assert report["summary"]["successes"] >= 1, results


# ---------------------------------------------------------------------------------- the scripts
def test_scripts_help() -> None:
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name in SCRIPTS
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {err}"
        assert out.startswith("usage:"), name
        if name != "planner_delegates.py":
            assert "--base-url" in out, f"{name} takes any endpoint"


@needs_adb
def test_quickstart_script(models: Models, env: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "task: open settings" in proc.stdout
    assert "[1] com.android.launcher3" in proc.stdout
    assert "check: the foreground app is" in proc.stdout
    assert "trajectory report: " + str(env) in proc.stdout
    assert len(list(env.glob("*/report.html"))) == 1
    if models.glm_trained:
        assert proc.returncode == 0, proc.stdout
        assert "Settings open: True" in proc.stdout
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr  # the random stand-in cannot do it


@needs_espeak
def test_voice_script_transcribes(models: Models, env: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "voice_command.py"), "--say", "open settings", "--transcribe-only"],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("heard: ")
    if models.asr_trained:
        assert proc.stdout.strip() == "heard: open settings"


def test_scripts_fail_in_one_line(tmp_path: Path, env: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "evaluate.py"),
            "--model-path",
            str(tmp_path / "nothing"),
            "--tasks",
            "go-home",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no checkpoint in ") and len(proc.stderr.strip().splitlines()) == 1
