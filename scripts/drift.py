"""Drift check: would a fresh install today still work? (``bash scripts/drift.sh``)

Installs into a throwaway venv the newest versions that ``pyproject.toml`` allows (torch held at
the build this project tests with), runs the fast part of the suite (``-m "not slow"``) there, and
reports every package that moved away from ``requirements-lock.txt`` and each failure's first error
line. When tests fail, each moved package is put back to its locked version together with the
moved packages it requires, and the failed tests rerun: the report says how many failures each
revert fixes (and, when none fixes all, whether reverting everything does).

    bash scripts/drift.sh              # newest allowed versions
    bash scripts/drift.sh --lowest     # the lowest versions pyproject's lower bounds allow (honesty check)
    bash scripts/drift.sh --keep       # keep the throwaway venv and print where it is

Exit status: 0 the suite passes (moved packages are listed all the same), 1 it fails, 2 the
environment could not be built. The report is printed (and kept as ``drift-report.md`` in the
throwaway folder with ``--keep``; ``--report FILE`` writes it elsewhere too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lockfile  # scripts/lockfile.py, beside this file

ROOT = lockfile.ROOT
EXTRAS = "server,dev,onnx"
TORCH_LINKS = os.environ.get("AUTOGLM_TORCH_FIND_LINKS", "/opt/wheels")


def log(msg: str) -> None:
    print(f"[drift] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise SystemExit(f"[drift] error: {' '.join(cmd[:6])} failed:\n" + "\n".join(tail))
    return proc


def torch_version() -> str:
    """The torch build the project's own venv tests with (else setup.sh's default)."""
    venv_py = ROOT / ".venv" / "bin" / "python"
    if venv_py.exists():
        proc = run(
            [str(venv_py), "-c", "from importlib.metadata import version; print(version('torch'))"],
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    return os.environ.get("AUTOGLM_TORCH_SPEC", "torch==2.13.0").split("==", 1)[-1]


def build_env(venv: Path, work: Path, lowest: bool) -> None:
    py = str(venv / "bin" / "python")
    torch = f"torch=={torch_version()}"
    (work / "torch.txt").write_text(torch + "\n")
    pip = [py, "-m", "pip", "install", "-q", "-c", str(work / "torch.txt")]
    if not lowest:
        log(f"installing the newest versions pyproject.toml allows ({torch} held)")
        run([*pip, torch, "-e", f".[{EXTRAS}]"], timeout=1800)
        return
    uv = shutil.which("uv") or str(ROOT / ".venv" / "bin" / "uv")
    if not Path(uv).exists():
        raise SystemExit("[drift] error: --lowest needs uv (a [dev] dependency); run: bash scripts/setup.sh")
    links = ["--find-links", TORCH_LINKS] if Path(TORCH_LINKS).is_dir() else []
    (work / "override.txt").write_text(torch + "\n")
    log("resolving the lowest versions of the direct dependencies (uv --resolution lowest-direct)")
    run(
        [uv, "pip", "compile", "pyproject.toml", "--all-extras", "--resolution", "lowest-direct",
         "--python", py, *links, "--override", str(work / "override.txt"), "--no-emit-package", "torch",
         "-q", "-o", str(work / "lowest.txt")],
        timeout=600,
    )  # fmt: skip
    log(f"installing them ({torch} held)")
    run([*pip, torch, "-r", str(work / "lowest.txt")], timeout=1800)
    run([py, "-m", "pip", "install", "-q", "--no-deps", "-e", "."], timeout=600)


def installed(venv: Path) -> dict[str, str]:
    proc = run([str(venv / "bin" / "python"), str(ROOT / "scripts" / "lockfile.py"), "freeze"])
    return json.loads(proc.stdout)


def pytest_run(
    venv: Path, failures: Path, select: list[str], timeout: float
) -> tuple[int, dict[str, str], str]:
    """(exit code, failed test id -> first error line, summary line) of a pytest run in the venv."""
    cmd = [
        str(venv / "bin" / "python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_failures",
    ]
    # the environment is meant to differ from the lock here: its own check is left out
    cmd += select or ["-m", "not slow", "--deselect", "tests/test_install.py::test_installed_set_is_the_lock"]
    failures.unlink(missing_ok=True)
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "scripts"),
        "AUTOGLM_FAILURES_FILE": str(failures),
    }
    proc = run(cmd, check=False, timeout=timeout, env=env)
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    errors = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    summary = lines[-1].strip("= ") if lines else (errors[-1] if errors else "no output")
    failed: dict[str, str] = {}
    for line in failures.read_text(encoding="utf-8").splitlines() if failures.exists() else []:
        node, _, error = line.partition("\t")
        failed.setdefault(node, error)
    return proc.returncode, failed, summary


def culprits(
    venv: Path, work: Path, moved: dict[str, tuple[str, str]], failed: list[str]
) -> dict[str, tuple[str, int]]:
    """Revert each moved package (with the moved packages it requires, which move with it) to the
    locked versions and rerun the failed tests: label -> (versions, how many failures it fixes).
    When no group fixes all of them, all moved packages are also reverted at once, to tell whether
    the drift is the cause at all."""
    py = str(venv / "bin" / "python")
    needs = json.loads(run([py, str(ROOT / "scripts" / "lockfile.py"), "closure", *moved]).stdout)
    groups = {name: sorted(n for n in needs.get(name, [name]) if n in moved) or [name] for name in moved}
    if len(moved) > 1:
        groups["all moved packages together"] = sorted(moved)

    def pin(names: list[str], which: int) -> bool:
        specs = [f"{n}=={moved[n][which]}" for n in names]
        return run([py, "-m", "pip", "install", "-q", "--no-deps", *specs], check=False).returncode == 0

    found: dict[str, tuple[str, int]] = {}
    tried: set[tuple[str, ...]] = set()
    for label, names in groups.items():
        complete = any(n == len(failed) for _, n in found.values())
        if tuple(names) in tried or (complete and label == "all moved packages together"):
            continue
        tried.add(tuple(names))
        log(f"reverting {', '.join(names)} to the lock and rerunning the {len(failed)} failed tests")
        if pin(names, 0):
            code, still, _ = pytest_run(venv, work / "failed-revert.txt", failed, timeout=1200)
            fixed = len(failed) if code == 0 else len(set(failed) - set(still))
            if fixed and code in (0, 1):  # 1: some tests failed; anything else: the run itself broke
                found[label] = (", ".join(f"{n} {moved[n][0]} -> {moved[n][1]}" for n in names), fixed)
        pin(names, 1)
    return found


def report(mode: str, moved: dict, new: dict, gone: dict, code: int, failed: dict[str, str], summary: str,
           causes: dict[str, tuple[str, int]] | None, seconds: float) -> str:  # fmt: skip
    out = [
        f"# Drift check ({mode} versions allowed by pyproject.toml), {time.strftime('%Y-%m-%d %H:%M')}",
        "",
    ]
    if moved or new or gone:
        out += ["| package | lock | now |", "|---|---|---|"]
        out += [f"| {n} | {a} | {b} |" for n, (a, b) in sorted(moved.items())]
        out += [f"| {n} | (not locked) | {v} |" for n, v in sorted(new.items())]
        out += [f"| {n} | {v} | (not installed) |" for n, v in sorted(gone.items())]
    else:
        out.append("Nothing moved: a fresh install gets exactly the lock.")
    out += ["", f"Fast suite (-m 'not slow'): {summary} (exit {code}), {seconds:.0f} s in all."]
    if failed:
        out += ["", "Failed (first line of each error):"]
        out += [f"- {t}: {e}" for t, e in list(failed.items())[:40]]
        if len(failed) > 40:
            out.append(f"- … and {len(failed) - 40} more")
    if causes is not None:
        if causes:
            out += ["", "Putting these back to their locked versions fixes failures:"]
            ranked = sorted(causes.items(), key=lambda kv: -kv[1][1])
            out += [
                f"- **{label}** ({versions}): fixes {n} of {len(failed)}" for label, (versions, n) in ranked
            ]
        else:
            out += [
                "",
                "Reverting the moved packages fixes none of the failures: the drift does not explain them.",
            ]
    if code == 0 and moved and mode == "newest":
        out += [
            "",
            "The suite passes: `bash scripts/lock.sh --upgrade` can take these versions into the lock.",
        ]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lowest", action="store_true", help="lowest versions allowed instead of newest")
    ap.add_argument("--keep", action="store_true", help="keep the throwaway venv")
    ap.add_argument("--report", type=Path, help="also write the report here")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the throwaway venv")
    args = ap.parse_args()

    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="autoglm-drift-"))
    venv = work / "venv"
    try:
        run([args.python, "-m", "venv", str(venv)])
        build_env(venv, work, args.lowest)
        have = installed(venv)
        pins = lockfile.locked()
        allowed = {lockfile.PROJECT, *lockfile.TOOLING, "torch"}
        drift = lockfile.compare(pins, {n: v for n, v in have.items() if n not in allowed}, set())
        log(
            f"{len(drift.changed)} packages moved, {len(drift.extra)} new, {len(drift.missing)} gone; running the fast suite"
        )
        code, failed, summary = pytest_run(venv, work / "failed.txt", [], timeout=3600)
        # (with --lowest nearly everything moved: the first error line of each failure says more)
        blame = failed and drift.changed and not args.lowest
        causes = culprits(venv, work, drift.changed, list(failed)) if blame else None
        text = report("lowest" if args.lowest else "newest", drift.changed, drift.extra, drift.missing,
                      code, failed, summary, causes, time.monotonic() - start)  # fmt: skip
        print(text)
        (work / "drift-report.md").write_text(text, encoding="utf-8")
        if args.report:
            args.report.write_text(text, encoding="utf-8")
        return 0 if code == 0 else 1
    finally:
        if args.keep:
            log(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
