"""The ``autoglm-agent`` command.

``autoglm-agent "open settings"`` runs a task (``run`` is the default command); ``sim``, ``devices``,
``connect``, ``disconnect`` and ``serve`` manage the pieces around it. Expected failures print one
line and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from autoglm_agent import __version__
from autoglm_agent.agent import AgentCallbacks
from autoglm_agent.endpoint import DEMO_MODEL_DIR, open_endpoint
from autoglm_agent.errors import AutoGLMError, ConfigError
from autoglm_agent.safetext import for_terminal, undecodable_argument, well_formed

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DEFAULT_TRAJECTORY_DIR = "runs"


def _shown(text: object) -> str:
    """Model-, phone- or endpoint-derived text for a rich markup string: control characters made
    visible (:func:`autoglm_agent.safetext.for_terminal`), then markup-escaped."""
    return escape(for_terminal(text))


def _json_line(data: Any) -> str:
    """``--json`` output: JSON text (control characters are escaped by JSON itself) that any UTF-8
    stdout takes."""
    return well_formed(json.dumps(data, ensure_ascii=False))


class _DefaultRunGroup(TyperGroup):
    """Treat ``autoglm-agent TASK`` (or options alone) as ``autoglm-agent run ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        help_flags = {"--help", "-h", "--version"}
        if not args or (args[0] not in self.commands and args[0] not in help_flags):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultRunGroup,
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help='Let a multimodal model operate an Android phone. `autoglm-agent "open settings"` runs a task.',
)


def _version(value: bool) -> None:
    if value:
        console.print(f"autoglm-agent {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """autoglm-agent: phone automation with a multimodal model, built on LangChain."""


# ---------------------------------------------------------------------------------------------- run
class _RichCallbacks(AgentCallbacks):
    """Live output: streamed thinking (dim), each action, step timings."""

    def __init__(self, show_thinking: bool = True, quiet: bool = False) -> None:
        self.show_thinking = show_thinking
        self.quiet = quiet
        self._in_thinking = False

    def _end_thinking(self) -> None:
        if self._in_thinking:
            console.print()
            self._in_thinking = False

    def on_run_start(self, task: str) -> None:
        if not self.quiet:
            console.print(f"[bold]Task:[/bold] {_shown(task)}", markup=True)

    def on_step_start(self, index: int, screenshot: Any, app: str | None) -> None:
        if not self.quiet:
            console.rule(_shown(f"step {index} · {app or 'unknown app'}"), style="dim")

    def on_thinking(self, text: str) -> None:
        if self.show_thinking and not self.quiet:
            if not self._in_thinking:
                console.print("[dim italic]thinking:[/] ", end="", markup=True)
                self._in_thinking = True
            console.print(for_terminal(text), end="", style="dim", markup=False)

    def on_answer(self, text: str) -> None:
        pass

    def on_parse_error(self, index: int, error: str, answer: str) -> None:
        self._end_thinking()
        if not self.quiet:
            console.print(
                f"[yellow]could not parse the answer, asking again:[/] {_shown(error)}", markup=True
            )

    def on_retry(self, index: int, attempt: int, error: str) -> None:
        self._end_thinking()
        if not self.quiet:
            console.print(f"[yellow]retry {attempt}:[/] {_shown(error)}", markup=True)

    def on_action(self, index: int, action: Any) -> None:
        self._end_thinking()
        if not self.quiet:
            console.print(f"[bold cyan]→ {_shown(action.to_call())}[/]", markup=True)

    def on_step_end(self, record: Any) -> None:
        self._end_thinking()
        if self.quiet:
            return
        t = record.timings
        if record.error:
            console.print(f"[red]{_shown(record.error)}[/]", markup=True)
        console.print(
            f"[dim]model {t.model_s:.2f}s · device {t.device_s:.2f}s · step {t.total_s:.2f}s[/]", markup=True
        )

    def on_run_end(self, result: Any) -> None:
        self._end_thinking()


def _confirm(message: str, action: Any) -> bool:
    try:
        return typer.confirm(f"Sensitive action: {for_terminal(message)}. Allow it?", default=False)
    except typer.Abort:  # click turns Ctrl-C at a prompt into Abort: let the agent record it
        raise KeyboardInterrupt from None


def _takeover(message: str) -> bool:
    """Hand the phone to the user; Enter gives it back and the task goes on ('stop' ends it)."""
    console.print(f"[bold yellow]Your turn:[/] {_shown(message)}", markup=True)
    try:
        answer = typer.prompt(
            "Do it on the phone, then press Enter to continue (or type 'stop')",
            default="",
            show_default=False,
        )
    except (EOFError, typer.Abort):
        return False
    return answer.strip().lower() not in ("stop", "s", "q", "quit", "abort", "n", "no")


def _interact(prompt: str) -> str | None:
    try:
        answer: str = typer.prompt(for_terminal(prompt), default="", show_default=False)
    except typer.Abort:  # Ctrl-C at the prompt: an interrupted run, recorded as such
        raise KeyboardInterrupt from None
    return answer or None


@contextlib.contextmanager
def _open_device(
    device: str | None, use_sim: bool, seed: int, shuffle: bool, timeout: float
) -> Iterator[tuple[Any, Any]]:
    """Yield (device, simulator or None)."""
    from autoglm_agent.device import AdbDevice

    if use_sim:
        from autoglm_agent.sim.runner import Simulator

        err_console.print(
            f"[dim]starting the simulated phone (seed {seed}{', shuffled' if shuffle else ''})…[/]"
        )
        with Simulator(seed=seed, shuffle=shuffle) as sim, AdbDevice(sim.serial, timeout=timeout) as dev:
            err_console.print(f"[dim]simulator ready: {sim.serial}[/]")
            yield dev, sim
        return
    with AdbDevice(device, timeout=timeout) as dev:
        yield dev, None


@contextlib.contextmanager
def _open_endpoint(
    base_url: str | None, model_path: Path | None, model: str, api_key: str | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (base URL, agent settings): the URL given, or an embedded server over a local checkpoint."""
    with open_endpoint(
        base_url,
        model_path or DEMO_MODEL_DIR,
        model=model,
        api_key=api_key,
        log=lambda text: err_console.print(f"[dim]{_shown(text)}[/]"),
    ) as endpoint:
        yield endpoint


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    task: Annotated[
        str | None, typer.Argument(help="What the phone should do. Omit for interactive mode.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", "-d", envvar="AUTOGLM_DEVICE", help="ADB serial of the phone.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            envvar="AUTOGLM_BASE_URL",
            help="OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1). Omitted: the embedded demo model "
            "on the simulator.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(envvar="AUTOGLM_MODEL", help="Model name at the endpoint.")
    ] = "autoglm-phone-9b",
    api_key: Annotated[
        str | None, typer.Option(envvar="AUTOGLM_API_KEY", help="API key of the endpoint.")
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(envvar="AUTOGLM_MODEL_PATH", help="Local checkpoint for the embedded server."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            envvar="AUTOGLM_PROFILE",
            help="How requests are built: autoglm, autoglm-multilingual, generic, or a profile JSON file. "
            "Default: what the endpoint or checkpoint advertises, else by model name.",
        ),
    ] = None,
    system_prompt: Annotated[
        Path | None,
        typer.Option(help="A text file whose content replaces the system prompt ({date} is filled)."),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default: the profile's).")
    ] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Nucleus sampling top_p (default: the profile's).")
    ] = None,
    frequency_penalty: Annotated[
        float | None, typer.Option(help="Frequency penalty (default: the profile's).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Cap on tokens per answer (default: the profile's).")
    ] = None,
    lang: Annotated[
        str | None, typer.Option(help="Prompt language: auto, zh or en (default: the profile's).")
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(envvar="AUTOGLM_MAX_STEPS", help="Step limit (default: the profile's, else 30)."),
    ] = None,
    no_thinking: Annotated[
        bool, typer.Option("--no-thinking", help="Turn the model's thinking mode off.")
    ] = False,
    trajectory_dir: Annotated[
        Path, typer.Option(envvar="AUTOGLM_TRAJECTORY_DIR", help="Where run folders are written.")
    ] = Path(DEFAULT_TRAJECTORY_DIR),
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm sensitive actions automatically.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (no live output).")
    ] = False,
    sim: Annotated[bool, typer.Option("--sim", help="Run on a fresh simulated phone.")] = False,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 0,
    shuffle: Annotated[bool, typer.Option(help="Shuffle the simulator's home screen.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for each ADB call.")] = 10.0,
    voice: Annotated[
        Path | None, typer.Option(help="A spoken command (wav/mp3) to transcribe and run instead of TASK.")
    ] = None,
    asr_model: Annotated[
        Path | None,
        typer.Option(envvar="AUTOGLM_ASR_MODEL", help="Local speech-recognition checkpoint for --voice."),
    ] = None,
) -> None:
    """Run a task on the phone (the default command)."""
    from autoglm_agent.agent import AgentConfig, PhoneAgent
    from autoglm_agent.llm import ChatAutoGLM
    from autoglm_agent.profiles import select_profile

    if lang not in (None, "auto", "zh", "en"):
        raise ConfigError(f"--lang must be auto, zh or en, not {lang!r}")
    for what, text in (
        ("the task", task),
        ("--device", device),
        ("--base-url", base_url),
        ("--model", model),
        ("--profile", profile),
    ):
        if text is not None:
            _check_argument_text(what, text)
    prompt_text = _read_prompt_file(system_prompt)
    sampling = _sampling_options(temperature, top_p, frequency_penalty, max_tokens)
    _check_agent_options(lang=lang, max_steps=max_steps, system_prompt=prompt_text)
    if profile:
        from autoglm_agent.profiles import get_profile

        get_profile(profile)  # a bad profile file: its error line before anything starts
    _check_seconds("--timeout", timeout)
    if api_key is not None:
        from autoglm_agent.llm import check_api_key

        check_api_key(api_key, "--api-key")
    if voice is not None:
        if task is not None:
            raise ConfigError("give a task or --voice, not both")
        from autoglm_agent.voice import transcribe

        task = transcribe(voice, model=asr_model)
        if not json_out:
            console.print(f"[bold]Heard:[/] {_shown(task)}", markup=True)
        if not task.strip():
            raise ConfigError(
                f"no speech recognised in {voice}", hint="speak the command more clearly or type it"
            )
    interactive = task is None
    if interactive and not sys.stdin.isatty():
        raise ConfigError("no task given", hint='pass one, e.g. autoglm-agent "open settings"')
    use_sim = sim or (base_url is None and device is None)
    _preflight(device, base_url, model, api_key, timeout, use_sim, quiet=json_out)
    tty = sys.stdin.isatty()
    callbacks = _RichCallbacks(quiet=json_out)
    with (
        _open_endpoint(base_url, model_path, model, api_key) as (url, settings),
        _open_device(device, use_sim, seed, shuffle, timeout) as (dev, _sim),
    ):
        chosen = select_profile(profile, model=model, advertised=settings.get("profile"))
        if not json_out:
            err_console.print(f"[dim]profile: {_shown(chosen.describe())}[/]", markup=True)
        # options given on the command line win over the profile
        explicit = {"lang": lang, "max_steps": max_steps, "system_prompt": prompt_text}
        config = AgentConfig(
            profile=chosen,
            trajectory_dir=trajectory_dir,
            **{k: v for k, v in explicit.items() if v is not None},
        )
        llm = ChatAutoGLM(
            base_url=url,
            model=model,
            api_key=api_key,
            streaming=True,
            max_retries=0,  # the agent retries endpoint failures itself, with backoff and a visible notice
            **({"enable_thinking": False} if no_thinking else {}),
            **sampling,
        )
        agent = PhoneAgent(
            dev,
            llm,
            config,
            callbacks=callbacks,
            confirm=(lambda m, a: True) if yes else (_confirm if tty else None),
            takeover=_takeover if tty else None,
            interact=_interact if tty else None,
        )
        tasks = [task] if task is not None else _interactive_tasks()
        status = 0
        for t in tasks:
            try:
                result = agent.run(t)
            except KeyboardInterrupt:
                # the agent has ended the run as stopped and written result.json and the report
                callbacks._end_thinking()
                where = agent.result.trajectory_dir if agent.result is not None else None
                saved = f": the run is saved in {where / 'report.html'}" if where else ""
                err_console.print(f"interrupted{_shown(saved)}", markup=True, soft_wrap=True)
                raise typer.Exit(130) from None
            status = 0 if result.success else 1
            _print_result(result, json_out)
    raise typer.Exit(status)


#: The ``AgentConfig`` fields the run command sets from its options, and the option of each.
_AGENT_OPTIONS = {"lang": "--lang", "max_steps": "--max-steps", "system_prompt": "--system-prompt"}

#: Longest --timeout accepted: beyond this a socket timeout overflows on some platforms.
MAX_TIMEOUT_S = 24 * 3600.0


def _check_agent_options(**given: Any) -> None:
    """The options that end up in ``AgentConfig``, checked by it before anything starts: a value it
    rejects is one ``--option: reason`` error line, not a validation traceback mid-run."""
    from pydantic import ValidationError

    from autoglm_agent.agent import AgentConfig

    try:
        AgentConfig(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        raise ConfigError(f"{_AGENT_OPTIONS.get(field, field)}: {err['msg']}") from None


def _check_seconds(option: str, value: float) -> None:
    """A duration option: a positive, finite number of seconds (no more than a day)."""
    import math

    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
        raise ConfigError(
            f"{option} must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, not {value!r}",
            hint=f"e.g. {option} 10",
        )


def _check_argument_text(what: str, text: str) -> None:
    """Text from the command line: refuse bytes that are not UTF-8 (a shell passes them on as is;
    Python keeps them as surrogates that no terminal, file or request can take)."""
    raw = undecodable_argument(text)
    if raw is not None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.end].hex(" ")
            raise ConfigError(
                f"{what} is not valid UTF-8 text (bytes {bad} at byte {exc.start})",
                hint="check that the terminal's encoding (locale) is UTF-8, or retype it",
            ) from None
        raise ConfigError(f"{what} is not valid Unicode text", hint="retype it")


def _preflight(
    device: str | None,
    base_url: str | None,
    model: str,
    api_key: str | None,
    timeout: float,
    use_sim: bool,
    quiet: bool,
) -> None:
    """The cheap part of `doctor` before each run: warnings are shown, an error ends the run."""
    from autoglm_agent.doctor import preflight, raise_on_errors

    problems = preflight(
        serial=device,
        base_url=base_url,
        model=model,
        api_key=api_key,
        timeout=timeout,
        check_device=not use_sim,
    )
    if not quiet:
        for p in problems:
            if not p.is_error:
                fix = f" [dim]({_shown(p.fix)})[/]" if p.fix else ""
                err_console.print(
                    f"[yellow]warning:[/] {_shown(p.name)}: {_shown(p.detail)}{fix}", markup=True
                )
    raise_on_errors(problems)


def _read_prompt_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the system prompt file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the system prompt file {path} is not UTF-8 text") from None
    if not text.strip():
        raise ConfigError(f"the system prompt file {path} is empty")
    return text


def _sampling_options(
    temperature: float | None, top_p: float | None, frequency_penalty: float | None, max_tokens: int | None
) -> dict[str, Any]:
    """Sampling given on the command line, checked; they win over the profile's."""
    from pydantic import ValidationError

    from autoglm_agent.profiles import Sampling

    given = {
        "temperature": temperature,
        "top_p": top_p,
        "frequency_penalty": frequency_penalty,
        "max_tokens": max_tokens,
    }
    try:
        return Sampling(**given).request_params()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).replace("_", "-")
        raise ConfigError(f"--{name}: {err['msg']}") from None


def _interactive_tasks() -> Iterator[str]:
    console.print("Interactive mode: type a task, or an empty line to quit.")
    while True:
        try:
            text = typer.prompt("task", default="", show_default=False)
            _check_argument_text("that task", text)
        except (EOFError, typer.Abort):
            return
        except (UnicodeDecodeError, ConfigError) as exc:  # bytes typed that are not UTF-8: ask again
            detail = exc if isinstance(exc, ConfigError) else "that task is not valid UTF-8 text"
            err_console.print(f"[bold red]error:[/] {_shown(detail)}", markup=True, soft_wrap=True)
            continue
        if not text.strip() or text.strip() in ("quit", "exit"):
            return
        yield text


def _print_result(result: Any, json_out: bool) -> None:
    if json_out:
        data = result.model_dump(mode="json")
        for r in data["records"]:
            r.pop("reasoning", None)
        print(_json_line(data))
        return
    colour = {"success": "green", "failure": "red", "stopped": "yellow"}[result.status]
    console.print(
        f"[bold {colour}]{result.status}[/]: {_shown(result.message)} "
        f"[dim]({result.steps} steps, {result.total_s:.1f}s: model {result.model_s:.1f}s, device {result.device_s:.1f}s)[/]",
        markup=True,
    )
    if result.trajectory_dir:
        console.print(f"[dim]trajectory: {_shown(result.trajectory_dir / 'report.html')}[/]", markup=True)


# ------------------------------------------------------------------------------------- devices
@app.command("devices")
def devices_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the devices the adb server sees."""
    from autoglm_agent.device import list_devices

    devices = list_devices()
    if json_out:
        print(_json_line([d.model_dump() for d in devices]))
        return
    if not devices:
        console.print(
            "no devices; connect a phone, run `autoglm-agent connect HOST:PORT`, or `autoglm-agent sim`"
        )
        return
    table = Table("serial", "state", "model")
    for d in devices:
        table.add_row(_shown(d.serial), _shown(d.state), _shown(getattr(d, "model", None) or ""))
    console.print(table)


@app.command("apps")
def apps_cmd(
    device: Annotated[
        str | None, typer.Option("--device", "-d", envvar="AUTOGLM_DEVICE", help="Device serial.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds one ADB call may take.")] = 20.0,
) -> None:
    """List the apps on the phone's launcher: what Launch can open, and by which names."""
    from autoglm_agent.device import AdbDevice
    from autoglm_agent.device.apps import display_name, names_for_package

    _check_seconds("--timeout", timeout)
    with AdbDevice(device, timeout=timeout) as dev:
        entries = dev.launcher_activities()
    rows = sorted(
        (
            {
                "name": e.label or display_name(e.package),
                "package": e.package,
                "names": names_for_package(e.package),
                "component": e.component,
            }
            for e in entries
        ),
        key=lambda r: r["name"].lower(),
    )
    if json_out:
        print(_json_line(rows))
        return
    if not rows:
        console.print("the launcher lists no apps (the phone may not support `cmd package query-activities`)")
        return
    table = Table("app", "package", "Launch also knows it as")
    for r in rows:
        others = [n for n in r["names"] if n != r["name"]]
        table.add_row(_shown(r["name"]), _shown(r["package"]), _shown(", ".join(others)))
    console.print(table)


# -------------------------------------------------------------------------------------- doctor
def _profile_check(
    requested: str | None, base_url: str | None, model: str, api_key: str | None
) -> tuple[str, bool]:
    """(one line on the profile a run would use, whether it is complete)."""
    from autoglm_agent.endpoint import checkpoint_agent_settings
    from autoglm_agent.profiles import discover_profile, select_profile
    from autoglm_agent.reference import load

    try:
        if base_url:
            advertised = discover_profile(base_url, model, api_key)
        else:
            advertised = checkpoint_agent_settings(DEMO_MODEL_DIR).get("profile")
        chosen = select_profile(requested, model=model, advertised=advertised)
    except ConfigError as exc:
        return str(exc), False
    needs_reference = chosen.prompt_source == "reference" and chosen.system_prompt is None
    if needs_reference and load() is None:
        return f"{chosen.describe()}: run `autoglm-agent reference fetch`", False
    return chosen.describe(), True


@app.command("doctor")
def doctor_cmd(
    device: Annotated[
        str | None, typer.Option("--device", "-d", envvar="AUTOGLM_DEVICE", help="Device serial.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(envvar="AUTOGLM_BASE_URL", help="Endpoint to check; omitted: the embedded demo model."),
    ] = None,
    model: Annotated[
        str, typer.Option(envvar="AUTOGLM_MODEL", help="Model name the endpoint must serve.")
    ] = "autoglm-phone-9b",
    api_key: Annotated[
        str | None, typer.Option(envvar="AUTOGLM_API_KEY", help="API key of the endpoint.")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(envvar="AUTOGLM_PROFILE", help="The profile a run would use (default: chosen)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check adb, the phone, ADB Keyboard, the model endpoint and the profile; say how to fix what is wrong."""
    from autoglm_agent.doctor import run_checks

    line, ok = _profile_check(profile, base_url, model, api_key)
    checks = run_checks(
        serial=device, base_url=base_url, model=model, api_key=api_key, profile_line=line, profile_ok=ok
    )
    failed = any(c.is_error for c in checks)
    if json_out:
        print(_json_line([c.model_dump() for c in checks]))
        raise typer.Exit(1 if failed else 0)
    width = max(len(c.name) for c in checks)
    colours = {"✓": "green", "!": "yellow", "✗": "red"}
    for c in checks:
        console.print(
            f"[{colours[c.mark]}]{c.mark}[/] {_shown(c.name.ljust(width))}  {_shown(c.detail)}",
            markup=True,
            soft_wrap=True,
        )
        if c.fix and not c.ok:
            console.print(f"  {' ' * width}  [dim]fix:[/] {_shown(c.fix)}", markup=True, soft_wrap=True)
    errors = sum(c.is_error for c in checks)
    warnings = sum(not c.ok and not c.is_error for c in checks)
    if errors or warnings:
        console.print(f"{errors} error(s), {warnings} warning(s)", markup=False)
    else:
        console.print("everything is ready", markup=False)
    raise typer.Exit(1 if failed else 0)


@app.command("connect")
def connect_cmd(
    address: Annotated[str, typer.Argument(help="HOST:PORT of a phone with Wi-Fi ADB on.")],
) -> None:
    """Connect to a phone over Wi-Fi ADB."""
    from autoglm_agent.device import connect

    console.print(f"connected: {connect(address)}")


@app.command("disconnect")
def disconnect_cmd(address: Annotated[str, typer.Argument(help="HOST:PORT to disconnect.")]) -> None:
    """Disconnect a Wi-Fi ADB phone."""
    from autoglm_agent.device import disconnect

    disconnect(address)
    console.print(f"disconnected: {address}")


# ----------------------------------------------------------------------------------------- sim
@app.command("sim")
def sim_cmd(
    seed: Annotated[int, typer.Option(help="Layout seed.")] = 0,
    shuffle: Annotated[bool, typer.Option(help="Permute home-screen icons and wallpaper.")] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port (even, outside 5555-5585); default: a free one.")
    ] = None,
    locale: Annotated[str, typer.Option(help="UI language: en or zh.")] = "en",
    no_connect: Annotated[bool, typer.Option("--no-connect", help="Do not run `adb connect`.")] = False,
) -> None:
    """Start the simulated phone and serve until stopped (Ctrl-C)."""
    from autoglm_agent.sim.runner import serve_forever

    if port is not None and 5555 <= port <= 5585:
        raise ConfigError(f"port {port} is in adb's emulator range 5555-5585", hint="pick another, e.g. 6520")

    def ready(sim: Any) -> None:
        console.print(f"simulated phone ready: serial [bold]{sim.serial}[/] (Ctrl-C to stop)", markup=True)
        sys.stdout.flush()

    serve_forever(
        seed=seed,
        shuffle=shuffle,
        host=host,
        port=port,
        connect=not no_connect,
        on_ready=ready,
        locale=locale,
    )


# --------------------------------------------------------------------------------------- serve
@app.command("serve")
def serve_cmd(
    model: Annotated[Path | None, typer.Option("--model", help="Local checkpoint folder.")] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Bind address; default 127.0.0.1 (embedded), 0.0.0.0 (vllm/sglang, to serve other machines)."
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    served_model_name: Annotated[str, typer.Option(help="Model name clients use.")] = "autoglm-phone-9b",
    api_key: Annotated[
        str | None, typer.Option(envvar="AUTOGLM_API_KEY", help="Require this bearer key.")
    ] = None,
    asr_model: Annotated[
        Path | None,
        typer.Option(envvar="AUTOGLM_ASR_MODEL", help="Local speech-recognition checkpoint for audio input."),
    ] = None,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    quantize: Annotated[
        bool, typer.Option("--int8", help="INT8 dynamic quantization of Linear layers (CPU).")
    ] = False,
    max_new_tokens: Annotated[int, typer.Option(help="Default cap on generated tokens.")] = 256,
    engine: Annotated[str, typer.Option(help="transformers (embedded), vllm or sglang.")] = "transformers",
    tensor_parallel_size: Annotated[int, typer.Option("--tp", help="GPUs for vllm/sglang.")] = 1,
    max_model_len: Annotated[int, typer.Option(help="Context length for vllm/sglang.")] = 25480,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="vllm/sglang: print the command only.")] = False,
    log_level: Annotated[
        str, typer.Option(help="Server log level: critical, error, warning, info or debug.")
    ] = "warning",
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log", help="Log one line per request (default: at info/debug)."
        ),
    ] = None,
    max_batch_size: Annotated[int, typer.Option(help="Requests decoded together (transformers).")] = 16,
    max_queue_size: Annotated[int, typer.Option(help="Requests waiting for a slot before 429.")] = 64,
    preprocess_workers: Annotated[
        int, typer.Option(help="Requests with images/audio decoded at once (text skips this queue).")
    ] = 2,
    max_request_mb: Annotated[float, typer.Option(help="Largest request body, MiB.")] = 64.0,
    max_image_pixels: Annotated[int, typer.Option(help="Largest image, width*height.")] = 64_000_000,
    max_request_pixels: Annotated[
        int, typer.Option(help="Total width*height of all the images of one request.")
    ] = 64_000_000,
    max_images: Annotated[int, typer.Option(help="Images a request may carry.")] = 16,
    max_audio_seconds: Annotated[
        float, typer.Option(help="Total seconds of audio a request may carry.")
    ] = 120.0,
    allow_remote_images: Annotated[
        bool, typer.Option("--allow-remote-images", help="Fetch http(s) image URLs (off: data URLs only).")
    ] = False,
    context_len: Annotated[
        int | None,
        typer.Option("--context-len", help="Context length of the embedded engine (default: the model's)."),
    ] = None,
    torch_threads: Annotated[int | None, typer.Option(help="Torch threads of the engine.")] = None,
) -> None:
    """Serve a local checkpoint over an OpenAI-compatible API."""
    path = model or (DEMO_MODEL_DIR if (DEMO_MODEL_DIR / "config.json").is_file() else None)
    if path is None:
        raise ConfigError("no checkpoint: pass --model PATH")
    if engine in ("vllm", "sglang"):
        _serve_external(
            engine, path, served_model_name, host, port, api_key, tensor_parallel_size, max_model_len, dry_run
        )  # type: ignore[arg-type]
        return
    host = host or "127.0.0.1"
    if engine != "transformers":
        raise ConfigError(f"--engine must be transformers, vllm or sglang, not {engine!r}")
    try:
        from autoglm_agent.server import ServerConfig, serve
    except ImportError as exc:
        raise ConfigError(
            f"serving needs the [server] extra ({exc.name} is missing)",
            hint="pip install 'autoglm-agent[server]'",
        ) from None
    from pydantic import ValidationError

    try:
        config = ServerConfig(
            model=str(path),
            host=host,
            port=port,
            served_model_name=served_model_name,
            api_key=api_key,
            asr_model=str(asr_model) if asr_model else None,
            dtype=dtype,
            device=device,
            quantize="int8" if quantize else "none",
            max_new_tokens=max_new_tokens,
            log_level=log_level.lower(),
            access_log=access_log,
            max_batch_size=max_batch_size,
            max_queue_size=max_queue_size,
            preprocess_workers=preprocess_workers,
            max_request_bytes=int(max_request_mb * 1024 * 1024),
            max_image_pixels=max_image_pixels,
            max_request_pixels=max_request_pixels,
            max_images_per_request=max_images,
            max_audio_seconds=max_audio_seconds,
            allow_remote_images=allow_remote_images,
            max_model_len=context_len,
            torch_threads=torch_threads,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"bad serve option {'.'.join(map(str, err['loc']))}: {msg}") from None
    serve(config)


def _serve_external(
    engine: Literal["vllm", "sglang"],
    path: Path,
    name: str,
    host: str | None,
    port: int,
    api_key: str | None,
    tp: int,
    max_len: int,
    dry_run: bool,
) -> None:
    import shlex
    import shutil

    from autoglm_agent.server.vllm import EXTERNAL_DEFAULT_HOST, build_vllm_command, mask_secrets

    if host is None:
        host = EXTERNAL_DEFAULT_HOST
        key_hint = "" if api_key else "; pass --api-key KEY to require a key"
        err_console.print(
            f"{engine} will listen on all interfaces ({host}:{port}) so the agent on another machine can reach "
            f"it{key_hint}; --host 127.0.0.1 keeps it local",
            markup=False,
        )
    cmd = build_vllm_command(
        str(path),
        served_name=name,
        tensor_parallel_size=tp,
        max_model_len=max_len,
        host=host,
        port=port,
        api_key=api_key,
        engine=engine,
    )
    console.print(shlex.join(mask_secrets(cmd)), markup=False, soft_wrap=True)
    if dry_run:
        return
    if shutil.which(cmd[0]) is None and not (cmd[0].endswith("python") or cmd[0] == sys.executable):
        raise ConfigError(
            f"{engine} is not installed here", hint=f"pip install {engine} on a GPU machine, or use --dry-run"
        )
    os.execvp(cmd[0], cmd)


# ------------------------------------------------------------------------------------------ eval
@app.command("eval")
def eval_cmd(
    base_url: Annotated[
        str | None,
        typer.Option(envvar="AUTOGLM_BASE_URL", help="Endpoint to score; omitted: embedded server."),
    ] = None,
    model: Annotated[
        str, typer.Option(envvar="AUTOGLM_MODEL", help="Model name at the endpoint.")
    ] = "autoglm-phone-9b",
    api_key: Annotated[
        str | None, typer.Option(envvar="AUTOGLM_API_KEY", help="API key of the endpoint.")
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model-path",
            envvar="AUTOGLM_MODEL_PATH",
            help="Local checkpoint served by the embedded server.",
        ),
    ] = None,
    tasks: Annotated[
        str | None, typer.Option(help="Task ids, id prefixes or categories, comma-separated.")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            envvar="AUTOGLM_PROFILE",
            help="autoglm, autoglm-multilingual, generic or a profile JSON file (default: advertised, else by model).",
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="en, zh or both.")] = "en",
    seeds: Annotated[str, typer.Option(help="Simulator seeds, comma-separated.")] = "0",
    shuffle: Annotated[bool, typer.Option(help="Shuffle the home-screen layouts.")] = False,
    out: Annotated[Path | None, typer.Option(help="Report folder (default runs/eval-TIMESTAMP).")] = None,
    no_thinking: Annotated[bool, typer.Option("--no-thinking", help="Turn thinking mode off.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    list_tasks: Annotated[bool, typer.Option("--list", help="List the tasks and exit.")] = False,
) -> None:
    """Score a model on the simulator's task suite (success judged from the phone's state)."""
    import time

    from autoglm_agent.eval.runner import run_eval, write_report
    from autoglm_agent.eval.tasks import default_suite, select
    from autoglm_agent.llm import ChatAutoGLM
    from autoglm_agent.profiles import select_profile

    suite = select(default_suite(), tasks)
    if list_tasks:
        if json_out:
            rows = [{"id": t.id, "category": t.category, "en": t.en, "zh": t.zh} for t in suite]
            print(json.dumps(rows, ensure_ascii=False))
            return
        for t in suite:
            console.print(f"{t.id:18} {t.category:12} {t.en}  /  {t.zh}", markup=False, soft_wrap=True)
        return
    langs = {"en": ["en"], "zh": ["zh"], "both": ["en", "zh"]}.get(lang)
    if langs is None:
        raise ConfigError(f"--lang must be en, zh or both, not {lang!r}")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds must be integers separated by commas, not {seeds!r}") from None
    out_dir = out or Path(DEFAULT_TRAJECTORY_DIR) / time.strftime("eval-%Y%m%d-%H%M%S")

    def show(r: Any) -> None:
        if not json_out:
            mark = "[green]pass[/]" if r.success else "[red]fail[/]"
            console.print(
                f"{mark} {_shown(r.task_id)} {_shown(f'[{r.lang}]')} seed {r.seed}: {r.steps} steps, "
                f"{r.total_s:.1f}s — {_shown(r.message)}",
                markup=True,
            )

    with _open_endpoint(base_url, model_path, model, api_key) as (url, settings):
        chosen = select_profile(profile, model=model, advertised=settings.get("profile"))
        if not json_out:
            err_console.print(f"[dim]profile: {_shown(chosen.describe())}[/]", markup=True)
        settings = {**settings, "profile": chosen}
        llm = ChatAutoGLM(
            base_url=url,
            model=model,
            api_key=api_key,
            max_retries=0,
            **({"enable_thinking": False} if no_thinking else {}),
        )
        report = run_eval(
            llm,
            suite,
            langs=langs,  # type: ignore[arg-type]
            seeds=seed_list,
            shuffle=shuffle,
            agent_settings=settings,
            trajectory_dir=out_dir / "runs",
            on_result=show,
        )
    write_report(report, out_dir)
    s = report.summary
    if json_out:
        print(report.model_dump_json(exclude={"results"}))
        return
    table = Table("group", "runs", "success", "mean steps", "s/step", "model s/step", "device s/step")
    for name, g in [("all", s), *report.by_category.items()]:
        table.add_row(
            name,
            str(g.runs),
            f"{g.success_rate:.0%}",
            f"{g.mean_steps:.1f}",
            f"{g.mean_step_s:.2f}",
            f"{g.mean_model_s_per_step:.2f}",
            f"{g.mean_device_s_per_step:.2f}",
        )
    console.print(table)
    console.print(f"report: {out_dir / 'report.md'}", markup=False)


# ------------------------------------------------------------------------------------- reference
@app.command("reference")
def reference_cmd(
    action: Annotated[str, typer.Argument(help="show (default) or fetch.")] = "show",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The official AutoGLM client (phone-agent) whose prompts and app names the autoglm profile uses.

    `fetch` downloads its pinned, hash-checked wheel into the cache (for Python 3.11, where pip will
    not install it); `show` says which copy is in use.
    """
    from autoglm_agent import reference

    if action not in ("show", "fetch"):
        raise ConfigError(f"unknown action {action!r}", hint="use: autoglm-agent reference show|fetch")
    if action == "fetch":
        path = reference.fetch()
        if not json_out:
            console.print(
                f"fetched {reference.REFERENCE_PACKAGE} {reference.REFERENCE_VERSION}: {path}",
                markup=False,
                soft_wrap=True,
            )
    ref = reference.load()
    info = {
        "available": ref is not None,
        "version": ref.version if ref else None,
        "origin": ref.origin if ref else None,
        "apps": len(ref.app_packages) if ref else 0,
    }
    if json_out:
        print(json.dumps(info))
    elif ref is None:
        console.print(
            "phone-agent is not available: the autoglm profile falls back to this project's own prompt; "
            "run `autoglm-agent reference fetch`",
            markup=False,
            soft_wrap=True,
        )
    elif action == "show":
        console.print(
            f"phone-agent {ref.version} from {ref.origin} ({len(ref.app_packages)} app names)",
            markup=False,
            soft_wrap=True,
        )
    if ref is None:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one clear line for expected failures, no traceback."""
    try:
        app(args=argv, standalone_mode=True)
    except AutoGLMError as exc:
        err_console.print(f"[bold red]error:[/] {_shown(exc)}", markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
