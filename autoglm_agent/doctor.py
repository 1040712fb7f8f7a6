"""``autoglm-agent doctor``: is everything a run needs in place, and if not, what to do.

Each check gives one :class:`Check`: a one-line ``detail``, a one-line ``fix`` when it failed, and
a ``severity`` (``"error"``: a run cannot work; ``"warning"``: it can, with a limitation).

* ``adb`` — the adb binary and the adb server (started when local and not running);
* ``device`` — the phone named by ``serial`` (or the only one connected) is online;
* ``ADB Keyboard`` — installed and enabled, else non-ASCII text cannot be typed;
* ``endpoint`` — ``GET {base_url}/models`` answers with the API key and lists ``model``
  (skipped when no base URL is given: the embedded demo model);
* ``profile`` — the prompt profile line the caller passes in (omitted when None).

:func:`run_checks` is the full doctor; :func:`preflight` is the cheap subset run before every
task (one device listing, one shell command on the phone, one HTTP GET) and returns only the
problems; :func:`raise_on_errors` turns its errors into a one-line :class:`PreflightError`.

Expected failures never raise and never show a traceback; the API key is never shown (URLs are
printed with :func:`mask_url`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, field_validator

from autoglm_agent.device import (
    AdbDevice,
    AdbNotFoundError,
    DeviceError,
    DeviceInfo,
    DeviceTimeoutError,
    adb_server_address,
    adb_server_version,
    find_adb,
    list_devices,
    state_error,
)
from autoglm_agent.device.text import ADB_KEYBOARD_IME, ADB_KEYBOARD_URL
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.llm import default_api_key

__all__ = [
    "Check",
    "PreflightError",
    "mask_url",
    "preflight",
    "raise_on_errors",
    "run_checks",
]

Severity = Literal["error", "warning"]

ADB_INSTALL_FIX = (
    "install Android platform-tools: `apt install adb` (Debian/Ubuntu) or "
    "https://developer.android.com/tools/releases/platform-tools"
)
NO_DEVICE_FIX = (
    "connect a phone over USB with USB debugging on, run `autoglm-agent connect HOST:PORT` (Wi-Fi ADB), "
    "or start the simulator with `autoglm-agent sim`"
)
ENDPOINT_DOWN_FIX = "start it (autoglm-agent serve) or check --base-url"
#: Seconds allowed for ``GET /models`` (total, connect).
HTTP_TIMEOUT_S = 5.0
HTTP_CONNECT_TIMEOUT_S = 3.0


class Check(BaseModel):
    """The outcome of one check. ``detail`` and ``fix`` are single lines."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    severity: Severity = "error"

    @field_validator("detail", "fix")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else " ".join(value.split())

    @property
    def is_error(self) -> bool:
        """Failed, and a run cannot work because of it."""
        return not self.ok and self.severity == "error"

    @property
    def mark(self) -> str:
        """``✓`` passed, ``!`` warning, ``✗`` error."""
        return "✓" if self.ok else ("✗" if self.severity == "error" else "!")


class PreflightError(AutoGLMError):
    """A check that a run needs failed (see :func:`raise_on_errors`)."""


# ============================================================================ helpers


def mask_url(url: str) -> str:
    """``url`` safe to print: a password in it and query values become ``****``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:****@{host}" if ":" in userinfo else f"****@{host}"
    query = "&".join(
        f"{kv.split('=', 1)[0]}=****" if "=" in kv else kv for kv in parts.query.split("&") if kv
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact(checks: list[Check], secret: str | None) -> list[Check]:
    """Belt and braces: no check text contains the API key, whatever a server echoed (keys
    shorter than 8 characters are left alone: they would blank out ordinary words)."""
    if not secret or secret == "EMPTY" or len(secret) < 8:
        return checks
    out = []
    for c in checks:
        if secret in c.detail or (c.fix and secret in c.fix):
            c = c.model_copy(
                update={
                    "detail": c.detail.replace(secret, "****"),
                    "fix": c.fix.replace(secret, "****") if c.fix else None,
                }
            )
        out.append(c)
    return out


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _adb_cmd(serial: str, *args: str) -> str:
    return shlex.join(["adb", "-s", serial, *args])


# ============================================================================ adb


def _check_adb(adb_host: str, adb_port: int, timeout: float) -> Check:
    path = find_adb()
    where = f"{adb_host}:{adb_port}"
    try:
        version = adb_server_version(adb_host, adb_port, timeout=timeout)
    except AdbNotFoundError as exc:
        fix = (
            ADB_INSTALL_FIX
            if path is None
            else (exc.hint or f"run `{path} -P {adb_port} start-server` to see why")
        )
        return Check(name="adb", ok=False, detail=exc.message, fix=fix)
    except DeviceError as exc:
        return Check(
            name="adb",
            ok=False,
            detail=f"the adb server at {where} does not answer: {exc.message}",
            fix=f"restart it: `adb -P {adb_port} kill-server && adb -P {adb_port} start-server`",
        )
    binary = path or "no adb binary here (the server answers)"
    return Check(name="adb", ok=True, detail=f"{binary}; server 1.0.{version} at {where}")


# ============================================================================ device


def _select_device(infos: Sequence[DeviceInfo], serial: str | None) -> tuple[Check, str | None]:
    """The device check over ``adb devices`` output, and the serial to use when it passed."""

    def describe(d: DeviceInfo) -> str:
        return f"{d.serial} ({d.model})" if d.model else d.serial

    serial = serial or os.environ.get("ANDROID_SERIAL") or None
    if serial:
        match = next((d for d in infos if d.serial == serial), None)
        if match is None:
            known = ", ".join(d.serial for d in infos[:6]) or "none"
            if len(infos) > 6:
                known += f" and {len(infos) - 6} more"
            fix = (
                f"connect it with `autoglm-agent connect {serial}`"
                if ":" in serial
                else "plug it in with USB debugging on; `autoglm-agent devices` lists what is connected"
            )
            return Check(
                name="device", ok=False, detail=f"device {serial} not found (connected: {known})", fix=fix
            ), None
        if not match.online:
            err = state_error(serial, match.state)
            return Check(name="device", ok=False, detail=err.message, fix=err.hint), None
        return Check(name="device", ok=True, detail=f"{describe(match)} online"), serial
    online = [d for d in infos if d.online]
    if len(online) == 1:
        only = online[0]
        return Check(name="device", ok=True, detail=f"{describe(only)} online (the only one)"), only.serial
    if len(online) > 1:
        return (
            Check(
                name="device",
                ok=False,
                detail=f"{len(online)} devices are connected ({', '.join(d.serial for d in online)})",
                fix="choose one with --device SERIAL (or AUTOGLM_DEVICE)",
            ),
            None,
        )
    if infos:
        err = state_error(infos[0].serial, infos[0].state)
        return Check(name="device", ok=False, detail=err.message, fix=err.hint), None
    return Check(name="device", ok=False, detail="no Android device is connected", fix=NO_DEVICE_FIX), None


def _check_device(
    serial: str | None, adb_host: str, adb_port: int, timeout: float
) -> tuple[Check, str | None]:
    """One ``adb devices -l``. A failure to reach adb itself comes back as the ``adb`` check."""
    try:
        infos = list_devices(adb_host, adb_port, timeout=timeout)
    except DeviceError as exc:
        fix = exc.hint or (ADB_INSTALL_FIX if find_adb() is None else "check `adb devices` on this machine")
        return Check(name="adb", ok=False, detail=exc.message, fix=fix), None
    return _select_device(infos, serial)


# ============================================================================ ADB Keyboard


def _check_keyboard(serial: str, adb_host: str, adb_port: int, timeout: float) -> Check:
    """One shell command: is the package installed, and is its IME in ``ime list -s``."""
    name = "ADB Keyboard"
    try:
        with AdbDevice(serial, adb_host=adb_host, adb_port=adb_port, timeout=timeout) as device:
            status = device.adb_keyboard_status()
    except DeviceTimeoutError as exc:
        return Check(
            name=name,
            ok=False,
            detail=f"{serial} did not answer a shell command within {timeout:g}s: {exc.message}",
            fix="wake and unlock the phone; if it persists, reconnect it (`autoglm-agent devices` shows its state)",
        )
    except DeviceError as exc:
        return Check(
            name=name,
            ok=False,
            detail=f"could not ask {serial} about its keyboards: {exc.message}",
            fix=exc.hint or "reconnect the phone; `autoglm-agent devices` shows its state",
        )
    enable = _adb_cmd(serial, "shell", "ime", "enable", ADB_KEYBOARD_IME)
    if status == "missing":
        return Check(
            name=name,
            ok=False,
            severity="warning",
            detail=f"ADB Keyboard is not installed on {serial}: non-ASCII text (Chinese) cannot be typed",
            fix=f"install ADB Keyboard: {ADB_KEYBOARD_URL} and `{enable}`",
        )
    if status == "disabled":
        return Check(
            name=name,
            ok=False,
            severity="warning",
            detail=f"ADB Keyboard is installed on {serial} but not enabled "
            "(the agent tries to enable it when it types; some phones refuse)",
            fix=f"enable it: `{enable}`",
        )
    return Check(name=name, ok=True, detail=f"installed and enabled on {serial}")


# ============================================================================ endpoint


def _root_cause(exc: BaseException) -> str:
    seen: set[int] = set()
    cur: BaseException | None = exc
    last = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        last = cur
        cur = cur.__cause__ or cur.__context__
    return _last_line(str(last) or type(last).__name__)


def _check_endpoint(base_url: str | None, model: str, api_key: str | None, timeout: float) -> Check:
    """One ``GET {base_url}/models``."""
    import openai

    name = "endpoint"
    if not base_url:
        return Check(name=name, ok=True, detail="embedded demo model (no --base-url given)")
    shown = mask_url(base_url)
    models_url = shown.rstrip("/") + "/models"
    if not base_url.lower().startswith(("http://", "https://")):
        return Check(
            name=name,
            ok=False,
            detail=f"the base URL {shown} is not an http(s) URL",
            fix="pass --base-url http://HOST:PORT/v1",
        )
    key = default_api_key(api_key)
    total = min(HTTP_TIMEOUT_S, timeout)
    try:
        client = openai.OpenAI(
            base_url=base_url,
            api_key=key,
            timeout=openai.Timeout(total, connect=min(HTTP_CONNECT_TIMEOUT_S, total)),
            max_retries=0,
        )
    except (openai.OpenAIError, ValueError) as exc:
        return Check(
            name=name, ok=False, detail=f"bad base URL {shown}: {_root_cause(exc)}", fix="check --base-url"
        )
    try:
        names = [str(m.id) for m in client.models.list().data if getattr(m, "id", None)]
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        if key == "EMPTY":
            detail = f"{shown} needs an API key (HTTP {exc.status_code}) and none was given"
            fix = "pass it with --api-key or AUTOGLM_API_KEY"
        else:
            source = (
                "--api-key"
                if api_key
                else ("AUTOGLM_API_KEY" if os.environ.get("AUTOGLM_API_KEY") else "OPENAI_API_KEY")
            )
            detail = f"{shown} rejected the API key from {source} (HTTP {exc.status_code}: wrong key)"
            fix = "pass the endpoint's key with --api-key or AUTOGLM_API_KEY"
        return Check(name=name, ok=False, detail=detail, fix=fix)
    except openai.NotFoundError:
        return Check(
            name=name,
            ok=False,
            detail=f"{models_url} does not exist (HTTP 404): not the root of an OpenAI-compatible API",
            fix="check --base-url: it usually ends in /v1, e.g. http://127.0.0.1:8000/v1",
        )
    except openai.APITimeoutError:
        return Check(
            name=name,
            ok=False,
            detail=f"{shown} did not answer GET /models within {total:g}s",
            fix="check that the server is up and not overloaded, and --base-url",
        )
    except openai.APIConnectionError as exc:
        cause = _root_cause(exc)
        low = cause.lower()
        if "refused" in low:
            reason = "connection refused"
        elif "name or service" in low or "nodename" in low or "getaddrinfo" in low or "resolve" in low:
            reason = "unknown host"
        else:
            reason = cause
        return Check(name=name, ok=False, detail=f"cannot reach {shown}: {reason}", fix=ENDPOINT_DOWN_FIX)
    except openai.APIStatusError as exc:
        return Check(
            name=name,
            ok=False,
            detail=f"{models_url} answered HTTP {exc.status_code}: {_last_line(str(exc.message))}",
            fix="look at the server's log; check --base-url",
        )
    except Exception as exc:  # a foreign body (an HTML page...) fails anywhere in the client's parsing
        return Check(
            name=name,
            ok=False,
            detail=f"{models_url} did not answer like an OpenAI-compatible API ("
            + (_root_cause(exc) if isinstance(exc, openai.OpenAIError) else "unexpected response body")
            + ")",
            fix="check --base-url: it usually ends in /v1, e.g. http://127.0.0.1:8000/v1",
        )
    finally:
        client.close()
    if model not in names:
        served = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        if not names:
            return Check(
                name=name,
                ok=False,
                detail=f"{shown} serves no models (wanted {model})",
                fix="check the server's --served-model-name and --base-url",
            )
        return Check(
            name=name,
            ok=False,
            detail=f"{shown} does not serve {model}; it serves: {served}",
            fix=f"pass --model {shlex.quote(names[0])}"
            + (" (or another served name)" if len(names) > 1 else ""),
        )
    return Check(name=name, ok=True, detail=f"{shown} serves {model}")


def _check_profile(profile_line: str | None, profile_ok: bool) -> list[Check]:
    if profile_line is None:
        return []
    return [Check(name="profile", ok=profile_ok, detail=profile_line, severity="warning")]


# ============================================================================ public API


def run_checks(
    *,
    serial: str | None,
    base_url: str | None,
    model: str,
    api_key: str | None,
    profile_line: str | None = None,
    profile_ok: bool = True,
    timeout: float = 10.0,
    adb_host: str | None = None,
    adb_port: int | None = None,
) -> list[Check]:
    """Every check, in order: adb, device, ADB Keyboard, endpoint, profile (when given).

    A check that depends on a failed one is reported as a ``warning`` saying it was not checked.
    ``timeout`` bounds each ADB call; the HTTP request gets at most 5 s (3 s to connect).
    """
    try:
        adb_host, adb_port = adb_server_address(adb_host, adb_port)
    except DeviceError as exc:
        return [Check(name="adb", ok=False, detail=exc.message, fix=exc.hint)]
    checks = [_check_adb(adb_host, adb_port, timeout)]
    if checks[0].ok:
        device, found = _check_device(serial, adb_host, adb_port, timeout)
        if device.name == "adb":  # the server went away between the two checks
            checks[0] = device
            device = Check(name="device", ok=False, severity="warning", detail="not checked (needs adb)")
        checks.append(device)
    else:
        found = None
        checks.append(Check(name="device", ok=False, severity="warning", detail="not checked (needs adb)"))
    if found is not None:
        checks.append(_check_keyboard(found, adb_host, adb_port, timeout))
    else:
        checks.append(
            Check(name="ADB Keyboard", ok=False, severity="warning", detail="not checked (needs a device)")
        )
    checks.append(_check_endpoint(base_url, model, api_key, timeout))
    checks.extend(_check_profile(profile_line, profile_ok))
    return _redact(checks, default_api_key(api_key))


def preflight(
    *,
    serial: str | None,
    base_url: str | None,
    model: str,
    api_key: str | None,
    profile_line: str | None = None,
    profile_ok: bool = True,
    timeout: float = 10.0,
    adb_host: str | None = None,
    adb_port: int | None = None,
    check_device: bool = True,
) -> list[Check]:
    """The cheap checks run before every task; returns only the problems (empty: all good).

    Costs one ``adb devices`` (the adb server answers it), one shell command on the phone (ADB
    Keyboard), and one ``GET {base_url}/models`` (none without ``base_url``). A missing adb shows
    up as an ``adb`` error; the keyboard is not asked when the device check failed.
    ``check_device=False`` skips adb, device and keyboard (a run that starts its own simulator).
    """
    checks: list[Check] = []
    if check_device:
        try:
            adb_host, adb_port = adb_server_address(adb_host, adb_port)
        except DeviceError as exc:
            return [Check(name="adb", ok=False, detail=exc.message, fix=exc.hint)]
        device, found = _check_device(serial, adb_host, adb_port, timeout)
        checks.append(device)
        if found is not None:
            checks.append(_check_keyboard(found, adb_host, adb_port, timeout))
    if base_url:
        checks.append(_check_endpoint(base_url, model, api_key, timeout))
    checks.extend(_check_profile(profile_line, profile_ok))
    return _redact([c for c in checks if not c.ok], default_api_key(api_key))


def raise_on_errors(checks: Sequence[Check]) -> None:
    """Raise :class:`PreflightError` (one line: the first error, its fix, how many more) when
    any error-severity check failed; warnings pass."""
    errors = [c for c in checks if c.is_error]
    if not errors:
        return
    first = errors[0]
    more = f"; {len(errors) - 1} more problem(s): run `autoglm-agent doctor`" if len(errors) > 1 else ""
    raise PreflightError(f"{first.name}: {first.detail}{more}", hint=first.fix)
