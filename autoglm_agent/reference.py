"""The official AutoGLM client (``phone-agent``, Open-AutoGLM) as the source of its trained text.

AutoGLM-Phone-9B was trained on the requests of that client: its system prompts and its app-name
table belong to the ``phone-agent`` package, so the ``autoglm`` profile reads them from there at
run time instead of carrying a copy. Where it comes from, in this order:

1. an importable ``phone_agent`` (``pip install 'autoglm-agent[autoglm]'`` on Python 3.12+);
2. the package's wheel in this project's cache (``autoglm-agent reference fetch`` puts it there;
   the package declares Python >=3.12 but is pure Python and runs on 3.11 as well). The wheel is
   checked against a pinned SHA-256 before it is ever imported.

Nothing here runs the reference client's code beyond importing its configuration modules; the
prompt's date line, which the package freezes at import, is rebuilt for every run.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Literal

from autoglm_agent.errors import ConfigError

__all__ = [
    "REFERENCE_PACKAGE",
    "REFERENCE_SHA256",
    "REFERENCE_VERSION",
    "Reference",
    "cache_dir",
    "fetch",
    "load",
    "reference_date",
]

logger = logging.getLogger(__name__)

REFERENCE_PACKAGE = "phone-agent"
REFERENCE_VERSION = "0.1.1"
#: SHA-256 of ``phone_agent-0.1.1-py3-none-any.whl`` as published on the package index.
REFERENCE_SHA256 = "287202818b091467a97657018c497f0c3801cbfd3544276aa5e08d777748ea5b"
_WHEEL = f"phone_agent-{REFERENCE_VERSION}-py3-none-any.whl"

RefLang = Literal["cn", "en"]
_ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def cache_dir() -> Path:
    """Where fetched files live: ``$AUTOGLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/autoglm-agent``."""
    if env := os.environ.get("AUTOGLM_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autoglm-agent"


def reference_date(when: datetime, lang: RefLang) -> str:
    """The date as the reference prompt writes it (``2026年12月06日 星期日`` / ``2026-12-06, Sunday``)."""
    if lang == "en":
        return f"{when:%Y-%m-%d}, {_EN_WEEKDAYS[when.weekday()]}"
    return f"{when.year:04d}年{when.month:02d}月{when.day:02d}日 {_ZH_WEEKDAYS[when.weekday()]}"


@dataclass(frozen=True)
class Reference:
    """The pieces of the official client that the ``autoglm`` profile uses."""

    version: str
    #: Where it was loaded from: the installed package's folder or the cached wheel.
    origin: str
    _templates: Mapping[RefLang, str]
    #: App name -> Android package, in the reference's order (the first name of a package wins).
    app_packages: Mapping[str, str]

    def system_prompt(self, lang: RefLang = "cn", now: datetime | None = None) -> str:
        """The reference system prompt for ``lang`` with today's date (or ``now``'s)."""
        date = reference_date(now if now is not None else datetime.now(), lang)
        return self._templates[lang].replace("\x00DATE\x00", date, 1)

    def app_name(self, package: str) -> str | None:
        """The reference's name for ``package`` (the first in its table), or None."""
        for name, pkg in self.app_packages.items():
            if pkg == package:
                return name
        return None


def _wheel_path() -> Path:
    return cache_dir() / _WHEEL


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import_config() -> tuple[ModuleType, ModuleType, ModuleType, str] | None:
    """(prompts_zh, prompts_en, apps, origin) from an importable package or the cached wheel."""
    wheel = _wheel_path()
    try:
        spec = importlib.util.find_spec("phone_agent")
    except (ImportError, ValueError, AttributeError):  # blocked or broken: as if absent
        spec = None
    if spec is None:
        if not wheel.is_file():
            return None
        if _sha256(wheel) != REFERENCE_SHA256:
            logger.warning("%s does not match the pinned SHA-256; ignoring it", wheel)
            return None
        sys.path.append(str(wheel))  # a pure-Python wheel imports as a zip archive
    try:
        zh = importlib.import_module("phone_agent.config.prompts_zh")
        en = importlib.import_module("phone_agent.config.prompts_en")
        apps = importlib.import_module("phone_agent.config.apps")
    except Exception as exc:  # an incompatible release: fall back, and say why
        logger.warning("the official client's package could not be imported: %s", exc)
        return None
    package = sys.modules["phone_agent"]
    origin = str(Path(package.__file__ or "").parent) if spec is not None else str(wheel)
    return zh, en, apps, origin


def _template(module: ModuleType) -> str:
    """The module's prompt with its import-time date replaced by a marker."""
    text: str = module.SYSTEM_PROMPT
    frozen: str = module.formatted_date
    if frozen not in text:
        raise ValueError(f"{module.__name__}: the date line has an unexpected shape")
    return text.replace(frozen, "\x00DATE\x00", 1)


@cache
def load() -> Reference | None:
    """The official client's prompts and app table, or None when it is not available here."""
    found = _import_config()
    if found is None:
        return None
    zh, en, apps, origin = found
    try:
        templates: dict[RefLang, str] = {"cn": _template(zh), "en": _template(en)}
        table = dict(apps.APP_PACKAGES)
    except (AttributeError, ValueError) as exc:
        logger.warning("the official client's package has an unexpected layout: %s", exc)
        return None
    version = _installed_version() or REFERENCE_VERSION
    return Reference(version=version, origin=origin, _templates=templates, app_packages=table)


def _installed_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(REFERENCE_PACKAGE)
    except PackageNotFoundError:
        return None


def fetch(*, force: bool = False) -> Path:
    """Download the pinned ``phone-agent`` wheel into the cache (pip, no dependencies); its path.

    The wheel is verified against ``REFERENCE_SHA256`` before it is kept. Raises ``ConfigError``
    with one line saying what to do when pip is missing or the index cannot be reached.
    """
    target = _wheel_path()
    if target.is_file() and not force and _sha256(target) == REFERENCE_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python",
            "--only-binary=:all:", "--disable-pip-version-check", "--quiet",
            "-d", tmp, f"{REFERENCE_PACKAGE}=={REFERENCE_VERSION}",
        ]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"could not run pip to fetch {REFERENCE_PACKAGE}: {exc}") from None
        got = Path(tmp) / _WHEEL
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(
                f"could not download {REFERENCE_PACKAGE}=={REFERENCE_VERSION}: {last}",
                hint=f"check the package index is reachable, or put {_WHEEL} in {target.parent}",
            )
        if (digest := _sha256(got)) != REFERENCE_SHA256:
            raise ConfigError(
                f"the downloaded {_WHEEL} has SHA-256 {digest}, not the pinned {REFERENCE_SHA256}",
                hint="the package index served a different file; do not use it",
            )
        shutil.move(str(got), target)
    load.cache_clear()
    return target
