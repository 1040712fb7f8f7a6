"""The committed dependency lock (``requirements-lock.txt``) against what a venv really has.

The lock is a universal ``uv pip compile`` of every extra (see ``scripts/lock.sh``); environment
markers pick the lines that apply to the running interpreter. torch is left out of the lock on
purpose (a user's own CUDA build is kept), so torch and whatever its installed build requires
(CUDA runtime packages, triton...) are allowed beside the lock.

    python scripts/lockfile.py check   # exit 1 and list the differences when the venv drifted
    python scripts/lockfile.py sync    # uninstall what is neither locked nor needed by torch
    python scripts/lockfile.py freeze  # the venv's distributions as JSON (for the drift check)
    python scripts/lockfile.py closure NAME...  # what each installed NAME requires, transitively, as JSON

Runs with the interpreter of the venv it inspects; needs only ``packaging`` (a locked package).
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
PROJECT = "autoglm-agent"
#: Installer tooling every venv has; never part of a lock.
TOOLING = frozenset({"pip"})
#: Left out of the lock; the set-up script installs it (or keeps the user's build).
UNLOCKED = "torch"


def locked(lock: Path = LOCK) -> dict[str, str]:
    """Name -> pinned version of every lock line whose markers hold for this interpreter."""
    pins: dict[str, str] = {}
    for raw in lock.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise SystemExit(f"error: {lock.name}: cannot read {line!r}: {exc}") from None
        if req.marker is not None and not req.marker.evaluate():
            continue
        versions = [s.version for s in req.specifier if s.operator == "=="]
        if len(versions) != 1:
            raise SystemExit(f"error: {lock.name}: {line!r} is not pinned with ==")
        pins[canonicalize_name(req.name)] = versions[0]
    return pins


def installed() -> dict[str, str]:
    """Name -> version of every distribution installed in the running interpreter's environment.

    Only its site-packages count: a wheel a program put on ``sys.path`` at run time (the cached
    ``phone-agent`` wheel that autoglm_agent.reference imports on Python 3.11) is not installed.
    """
    paths = sysconfig.get_paths()
    site = list(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=site)}


def requirement_closure(root: str, have: dict[str, str]) -> set[str]:
    """``root`` and every installed distribution it requires, transitively, following the extras
    each requirement asks for (torch's ``cuda-toolkit[cufile,...]``); markers are evaluated."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    todo = [(canonicalize_name(root), "")]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen or name not in have:
            continue
        seen.add((name, extra))
        names.add(name)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                dep = canonicalize_name(req.name)
                todo += [(dep, "")] + [(dep, e) for e in req.extras]
    return names


@dataclass
class Drift:
    missing: dict[str, str] = field(default_factory=dict)  # locked, not installed
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (locked, installed)
    extra: dict[str, str] = field(default_factory=dict)  # installed, neither locked nor allowed

    def __bool__(self) -> bool:
        return bool(self.missing or self.changed or self.extra)

    def lines(self) -> list[str]:
        out = [f"{n}: locked {v}, not installed" for n, v in sorted(self.missing.items())]
        out += [f"{n}: locked {a}, installed {b}" for n, (a, b) in sorted(self.changed.items())]
        out += [f"{n}: installed {v}, not in the lock" for n, v in sorted(self.extra.items())]
        return out


def compare(pins: dict[str, str], have: dict[str, str], allowed: set[str]) -> Drift:
    drift = Drift()
    for name, version in pins.items():
        if name not in have:
            drift.missing[name] = version
        elif have[name] != version:
            drift.changed[name] = (version, have[name])
    for name, version in have.items():
        if name not in pins and name not in allowed:
            drift.extra[name] = version
    return drift


def allowed_beside_lock(have: dict[str, str]) -> set[str]:
    """The project itself, installer tooling, and torch with everything its build requires."""
    return {PROJECT, *TOOLING} | requirement_closure(UNLOCKED, have)


def check(lock: Path = LOCK) -> Drift:
    have = installed()
    return compare(locked(lock), have, allowed_beside_lock(have))


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "freeze":
        print(json.dumps(installed(), sort_keys=True))
        return 0
    if command == "closure":
        have = installed()
        print(json.dumps({n: sorted(requirement_closure(n, have)) for n in argv[1:]}, sort_keys=True))
        return 0
    drift = check()
    if command == "check":
        for line in drift.lines():
            print(line)
        if drift:
            print(f"this environment differs from {LOCK.name}; run: bash scripts/setup.sh", file=sys.stderr)
        return 1 if drift else 0
    if command == "sync":
        if drift.extra:
            print(f"removing packages that are not in {LOCK.name}: {', '.join(sorted(drift.extra))}")
            subprocess.run(
                [sys.executable, "-m", "pip", "uninstall", "-y", "-q", *sorted(drift.extra)], check=True
            )
        return 0
    print("usage: lockfile.py [check|sync|freeze|closure NAME...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
