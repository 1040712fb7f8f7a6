"""Typing text on a phone: ADB Keyboard broadcasts (any Unicode) or ``input text`` (ASCII only).

Everything that reaches the device shell is built here and is either ``shlex.quote``-d or base64:
the text never becomes shell syntax, whatever it contains (``a'; rm -rf /sdcard; echo '`` is typed
literally), and neither does an IME id read back from the device.

Two strategies:

* ``adbkeyboard`` — `ADB Keyboard <https://github.com/senzhk/ADBKeyBoard>`_
  (``com.android.adbkeyboard/.AdbIME``), switched on for each Type only, as the official
  Open-AutoGLM client does: remember the phone's current IME
  (``settings get secure default_input_method``), ``ime set`` ADB Keyboard, clear the field
  (``ADB_CLEAR_TEXT``), type (``am broadcast -a ADB_INPUT_B64 --es msg <base64 of UTF-8> -p
  com.android.adbkeyboard``), then ``ime set`` the remembered IME again. A user who takes over
  mid-run, or whose run crashed, finds their own keyboard, and the screenshot after a Type shows
  the phone as its user has it. See :class:`TextInputter` for the details (a clear followed by a
  type is one switch; ADB Keyboard already the phone's keyboard: no switching at all).
* ``input`` — ``input text`` with Android's own escaping (a space is ``%s``); ASCII only.

``auto`` picks ADB Keyboard when it is installed, else ``input``.
"""

from __future__ import annotations

import base64
import logging
import re
import shlex
import time
import unicodedata
from collections.abc import Callable
from typing import Literal, Protocol

from autoglm_agent.device.base import DeviceError, TextInputError
from autoglm_agent.safetext import well_formed

logger = logging.getLogger(__name__)

TextInputMode = Literal["auto", "adbkeyboard", "input"]

ADB_KEYBOARD_PACKAGE = "com.android.adbkeyboard"
ADB_KEYBOARD_IME = "com.android.adbkeyboard/.AdbIME"
ADB_KEYBOARD_URL = "https://github.com/senzhk/ADBKeyBoard"

#: UTF-8 bytes of text per ADB Keyboard broadcast (its base64 is 4/3 of that): small enough for
#: the shell command line of any Android version (old adbd limits a service name to 4 KiB).
ADBKEYBOARD_CHUNK_BYTES = 1500
#: Characters of escaped text per ``input text`` invocation.
INPUT_TEXT_CHUNK_CHARS = 400
#: Longest shell command line this module builds (several ``input`` calls joined with ``&&``).
MAX_COMMAND_CHARS = 3000

#: Seconds to wait after switching to ADB Keyboard, before the first broadcast. ADB Keyboard
#: registers its broadcast receiver only once the system has bound it and created its input view;
#: a broadcast sent before that is dropped without an error. Paid only when a switch happened.
IME_SWITCH_SETTLE_S = 0.3

#: What an IME id looks like (``package/.Class`` or ``package/full.Class``).
_IME_ID = re.compile(r"^[A-Za-z][\w.]*/[\w.$]+$")

KEYCODE_TAB = 61
KEYCODE_ENTER = 66
KEYCODE_DEL = 67
KEYCODE_MOVE_END = 123

#: Deletions sent by the key-event ``clear_text`` fallback when the field's length is unknown.
DEFAULT_CLEAR_DELETES = 64
MAX_CLEAR_DELETES = 2000


class ShellRunner(Protocol):
    """Runs one device shell command line and returns its output (stdout then stderr).

    With ``check=True`` a non-zero exit status raises ``DeviceError``.
    """

    def __call__(self, command: str, *, check: bool = True) -> str: ...


# --------------------------------------------------------------------------- chunking


def _is_extender(ch: str) -> bool:
    """True for code points that belong to the preceding character (must not start a chunk)."""
    cp = ord(ch)
    return (
        cp == 0x200D  # zero-width joiner
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # emoji tag sequences (flags of regions)
        or cp == 0x20E3  # combining enclosing keycap
        or unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _can_split_before(text: str, i: int) -> bool:
    """Whether a chunk boundary may sit between ``text[i-1]`` and ``text[i]``."""
    if i <= 0 or i >= len(text):
        return True
    prev, cur = text[i - 1], text[i]
    if _is_extender(cur) or prev == "\u200d":
        return False
    if prev == "\r" and cur == "\n":
        return False
    if _is_regional_indicator(prev) and _is_regional_indicator(cur):
        # keep flag pairs together: split only after an even run of regional indicators
        run = 0
        j = i - 1
        while j >= 0 and _is_regional_indicator(text[j]):
            run += 1
            j -= 1
        return run % 2 == 0
    return True


def chunk_text(text: str, max_bytes: int = ADBKEYBOARD_CHUNK_BYTES) -> list[str]:
    """Split ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes, never inside a character
    cluster (emoji with modifiers/ZWJ, flags, combining accents) unless a single cluster is longer
    than the budget. ``"".join(chunk_text(t)) == t`` always holds."""
    if max_bytes < 4:
        raise ValueError("max_bytes must be at least 4 (one UTF-8 code point)")
    chunks: list[str] = []
    start = 0
    n = len(text)
    while start < n:
        size = 0
        end = start
        last_ok = -1  # last index > start where we may split
        while end < n:
            w = len(text[end].encode("utf-8", errors="surrogatepass"))
            if size + w > max_bytes:
                break
            size += w
            end += 1
            if end == n or _can_split_before(text, end):
                last_ok = end
        if end >= n:
            chunks.append(text[start:])
            break
        cut = last_ok if last_ok > start else max(end, start + 1)
        chunks.append(text[start:cut])
        start = cut
    return chunks


# --------------------------------------------------------------------------- `input text`

_INPUT_TEXT_OK = {chr(c) for c in range(0x20, 0x7F)}
#: Typed inside the ``input text`` argument as well: Android maps a tab to a TAB key event through
#: the virtual keyboard's key map (``KeyCharacterMap.getEvents``), which an editor receives as the
#: Tab key (a tab in a multi-line field, the next field in a single-line one).
_INPUT_TEXT_ARG_OK = _INPUT_TEXT_OK | {"\t"}


def input_text_supports(text: str) -> bool:
    """True when ``input text`` (plus ENTER/TAB key events) can type ``text`` exactly."""
    return all(ch in _INPUT_TEXT_OK or ch in "\n\t" for ch in text)


def escape_input_text(text: str) -> list[str]:
    """Escape printable ASCII (and tabs) for Android's ``input text`` (not yet shell-quoted).

    ``input text`` turns every ``%s`` into a space and has no escape for a literal ``%s``; so a
    space becomes ``%s`` and a literal ``%`` followed by ``s`` is split over two invocations
    (``...%`` then ``s...``). Returns the argument of each ``input text`` call, in order.
    """
    bad = [ch for ch in text if ch not in _INPUT_TEXT_ARG_OK]
    if bad:
        raise TextInputError(
            f"`input text` cannot type {bad[0]!r}",
            hint=f"install ADB Keyboard on the phone to type any text: {ADB_KEYBOARD_URL}",
        )
    pieces: list[str] = []
    cur: list[str] = []
    cur_len = 0
    prev = ""
    for ch in text:
        enc = "%s" if ch == " " else ch
        if (ch == "s" and prev == "%") or cur_len + len(enc) > INPUT_TEXT_CHUNK_CHARS:
            pieces.append("".join(cur))
            cur, cur_len = [], 0
        cur.append(enc)
        cur_len += len(enc)
        prev = ch
    if cur:
        pieces.append("".join(cur))
    return [p for p in pieces if p]


def _join_commands(parts: list[str]) -> list[str]:
    """Join shell commands with ``&&`` into lines of at most ``MAX_COMMAND_CHARS``."""
    lines: list[str] = []
    cur = ""
    for part in parts:
        if cur and len(cur) + 4 + len(part) > MAX_COMMAND_CHARS:
            lines.append(cur)
            cur = ""
        cur = part if not cur else f"{cur} && {part}"
    if cur:
        lines.append(cur)
    return lines


def input_text_commands(text: str) -> list[str]:
    """Shell command lines that type ``text`` (printable ASCII, newline, tab) with ``input``.

    Newlines are sent as ENTER key events; tabs stay in the ``input text`` argument, which Android
    types as the Tab key. Raises ``TextInputError`` for anything else (non-ASCII, control
    characters).
    """
    if not input_text_supports(text):
        bad = next(ch for ch in text if ch not in _INPUT_TEXT_OK and ch not in "\n\t")
        raise TextInputError(
            f"cannot type {bad!r} without ADB Keyboard: `input text` handles printable ASCII only",
            hint=f"install ADB Keyboard on the phone, `adb install ADBKeyboard.apk` from {ADB_KEYBOARD_URL}",
        )
    parts: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            parts.extend(f"input text {shlex.quote(p)}" for p in escape_input_text("".join(run)))
            run.clear()

    for ch in text:
        if ch == "\n":
            flush()
            parts.append(f"input keyevent {KEYCODE_ENTER}")
        else:
            run.append(ch)
    flush()
    return _join_commands(parts)


# --------------------------------------------------------------------------- ADB Keyboard


def adbkeyboard_type_commands(text: str, max_bytes: int = ADBKEYBOARD_CHUNK_BYTES) -> list[str]:
    """One ``am broadcast ADB_INPUT_B64`` command per chunk of ``text`` (base64 of UTF-8; a lone
    surrogate, which has no UTF-8, is typed as U+FFFD)."""
    commands = []
    for chunk in chunk_text(well_formed(text), max_bytes):
        b64 = base64.b64encode(chunk.encode("utf-8")).decode("ascii")
        commands.append(
            f"am broadcast -a ADB_INPUT_B64 --es msg {shlex.quote(b64)} -p {shlex.quote(ADB_KEYBOARD_PACKAGE)}"
        )
    return commands


def adbkeyboard_clear_command() -> str:
    return f"am broadcast -a ADB_CLEAR_TEXT -p {shlex.quote(ADB_KEYBOARD_PACKAGE)}"


def keyevent_clear_command(deletes: int) -> str:
    """Move to the end of the field and delete ``deletes`` characters, in one ``input`` call."""
    deletes = max(0, min(deletes, MAX_CLEAR_DELETES))
    codes = " ".join([str(KEYCODE_MOVE_END), *[str(KEYCODE_DEL)] * deletes])
    return f"input keyevent {codes}"


def _broadcast_failed(output: str) -> bool:
    low = output.lower()
    return "exception" in low or "error:" in low


# --------------------------------------------------------------------------- strategy object


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _ime_command_failed(output: str) -> bool:
    """``ime set``/``ime enable`` answer with exit status 0 even when they fail."""
    low = output.lower()
    return "unknown input method" in low or "error" in low or "exception" in low


class TextInputter:
    """Per-device text input: the strategy and, for ADB Keyboard, the IME switch around each Type.

    With ADB Keyboard, the phone's own IME is current except while text is cleared or typed:

    * :meth:`type_text` reads the current IME (``settings get secure default_input_method``); unless
      it is ADB Keyboard it runs ``ime set`` ADB Keyboard (with ``ime enable`` the first time, or
      when a plain ``ime set`` is refused), sends the broadcasts, then ``ime set``-s the IME it read,
      in a ``finally`` (a failed broadcast restores it too). Two ``ime set`` per Type (a third only
      when the user disabled ADB Keyboard meanwhile, for the retry with ``ime enable``).
    * :meth:`clear_text` followed by :meth:`type_text` (how a Type action clears then types) is one
      read, one switch and one restore: ``clear_text`` switches and clears and leaves the restore
      pending (:attr:`restore_pending`); the ``type_text`` after it types and restores without
      reading the IME again. A clear that no type follows is undone by :meth:`restore_keyboard`,
      which ``AdbDevice`` calls before any other command reaches the phone, and by :meth:`close`.
    * ADB Keyboard already current, and no other IME seen by this inputter: it is taken as the
      phone's own keyboard (a test phone set up that way) and left alone, no ``ime`` command at all.
      A crashed run of an older version that kept it on looks the same from here; it is logged
      once, and choosing a keyboard on the phone (or ``adb shell ime reset``) fixes it for good.
    * Once the user's IME has been seen, that is what gets restored, even when a later Type finds
      ADB Keyboard on (a restore that was lost to a dropped connection, say): the remembered IME is
      never ADB Keyboard itself.
    * ``default_input_method`` unset (``null``) or unreadable: ``ime reset`` restores the system's
      default keyboard. An IME id read from the phone is ``shlex.quote``-d like everything else.

    ``settle_s`` is waited after a real switch to ADB Keyboard, before the first broadcast (see
    :data:`IME_SWITCH_SETTLE_S`). Create one inputter per device connection; call :meth:`close`
    when done.
    """

    def __init__(
        self,
        shell: ShellRunner,
        *,
        mode: TextInputMode = "auto",
        has_adbkeyboard: Callable[[], bool],
        focused_text_length: Callable[[], int | None] | None = None,
        serial: str = "device",
        settle_s: float = IME_SWITCH_SETTLE_S,
    ) -> None:
        if mode not in ("auto", "adbkeyboard", "input"):
            raise ValueError(f"text_input must be 'auto', 'adbkeyboard' or 'input', not {mode!r}")
        if settle_s < 0:
            raise ValueError("settle_s must not be negative")
        self._shell = shell
        self.mode: TextInputMode = mode
        self._has_adbkeyboard = has_adbkeyboard
        self._focused_text_length = focused_text_length
        self._serial = serial
        self.settle_s = float(settle_s)
        self._strategy: Literal["adbkeyboard", "input"] | None = None
        #: ADB Keyboard is known to be enabled (``ime set`` alone will do).
        self._enabled = False
        #: The user's IME, as last read while it was current: None = not seen yet, "" = unknown
        #: (``null``), restored with ``ime reset``. Never ADB Keyboard.
        self._user_ime: str | None = None
        #: While ADB Keyboard is on because of this inputter: the IME to give back ("" = reset).
        self._restore_to: str | None = None
        #: ``clear_text`` switched (or found ADB Keyboard current) for the ``type_text`` expected next.
        self._pending = False
        self._told_left_on = False

    # -- strategy ------------------------------------------------------------------------
    @property
    def strategy(self) -> Literal["adbkeyboard", "input"]:
        """The strategy in use (resolved on first use for ``auto``)."""
        if self._strategy is None:
            if self.mode == "input":
                self._strategy = "input"
            elif self.mode == "adbkeyboard":
                if not self._has_adbkeyboard():
                    raise TextInputError(
                        f"ADB Keyboard ({ADB_KEYBOARD_PACKAGE}) is not installed on {self._serial}",
                        hint=f"install it, `adb install ADBKeyboard.apk` from {ADB_KEYBOARD_URL}, "
                        "or use text_input='input' for ASCII only",
                    )
                self._strategy = "adbkeyboard"
            else:
                self._strategy = "adbkeyboard" if self._has_adbkeyboard() else "input"
            logger.debug("text input on %s: %s", self._serial, self._strategy)
        return self._strategy

    @property
    def restore_pending(self) -> bool:
        """True from a :meth:`clear_text` with ADB Keyboard to the :meth:`type_text` after it: ADB
        Keyboard may be on, and the IME was read already. :meth:`restore_keyboard` ends it."""
        return self._pending

    # -- the IME switch ------------------------------------------------------------------
    def _switch_on(self, after_clear: bool = False) -> None:
        """Make ADB Keyboard the current IME; ``_restore_to`` then says what to give back.
        ``after_clear``: the ``clear_text`` just before did this already."""
        if after_clear or self._restore_to is not None:
            return
        current = _last_line(self._shell("settings get secure default_input_method", check=False))
        if current == ADB_KEYBOARD_IME:
            self._enabled = True
            if self._user_ime is not None:
                self._restore_to = self._user_ime
            elif not self._told_left_on:
                self._told_left_on = True
                logger.info(
                    "ADB Keyboard is the current keyboard on %s: leaving it on (if a crashed run left "
                    "it there, choose your keyboard on the phone or run `adb shell ime reset`)",
                    self._serial,
                )
            return
        self._user_ime = current if _IME_ID.match(current) else ""
        ime = shlex.quote(ADB_KEYBOARD_IME)
        out = self._shell(f"ime set {ime}", check=False) if self._enabled else ""
        if not self._enabled or _ime_command_failed(out):  # first time, or disabled since
            out = self._shell(f"ime enable {ime} && ime set {ime}", check=False)
            if _ime_command_failed(out):
                raise TextInputError(
                    f"could not switch {self._serial} to ADB Keyboard: {_last_line(out)}",
                    hint="enable it by hand in Settings > System > Keyboards, or use text_input='input'",
                )
        self._enabled = True
        self._restore_to = self._user_ime
        if self.settle_s > 0:
            time.sleep(self.settle_s)

    def _switch_back(self) -> None:
        """Give the user's IME back if ADB Keyboard is on because of this inputter."""
        target, self._restore_to, self._pending = self._restore_to, None, False
        if target is None:
            return
        if target:
            out = self._shell(f"ime set {shlex.quote(target)}", check=False)
            if not _ime_command_failed(out):
                return
            # the user's IME is gone (uninstalled or disabled meanwhile): the system default it is
            logger.warning(
                "could not switch %s back to %s (%s); resetting to the default keyboard",
                self._serial,
                target,
                _last_line(out),
            )
            self._user_ime = ""
        out = self._shell("ime reset", check=False)
        self._enabled = False  # `ime reset` also resets the enabled IMEs
        if _ime_command_failed(out):
            logger.warning("could not restore the keyboard on %s: %s", self._serial, _last_line(out))

    # -- public --------------------------------------------------------------------------
    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused field; with ADB Keyboard, the user's IME is current again
        when this returns (or raises)."""
        after_clear, self._pending = self._pending, False  # this call owns the switch now
        text = well_formed(text)
        if not text:
            self._switch_back()
            return
        if self.strategy == "adbkeyboard":
            try:
                self._switch_on(after_clear)
                for cmd in adbkeyboard_type_commands(text):
                    out = self._shell(cmd)
                    if _broadcast_failed(out):
                        raise TextInputError(
                            f"ADB Keyboard broadcast failed on {self._serial}: {out.strip()}"
                        )
            finally:
                self._switch_back()
            return
        for cmd in input_text_commands(text):
            self._shell(cmd)

    def clear_text(self) -> None:
        """Clear the focused text field. With ADB Keyboard, the restore of the user's IME waits for
        the :meth:`type_text` that normally follows (or :meth:`restore_keyboard`)."""
        after_clear, self._pending = self._pending, False
        if self.strategy == "adbkeyboard":
            cleared = False
            try:
                self._switch_on(after_clear)
                out = self._shell(adbkeyboard_clear_command())
                if _broadcast_failed(out):
                    raise TextInputError(f"ADB Keyboard clear failed on {self._serial}: {out.strip()}")
                cleared = True
            finally:
                if cleared:
                    self._pending = True  # the type_text that follows restores (or the next command)
                else:
                    self._switch_back()
            return
        length: int | None = None
        if self._focused_text_length is not None:
            try:
                length = self._focused_text_length()
            except DeviceError as exc:
                logger.debug("focused field length unknown: %s", exc)
        if length == 0:
            return
        self._shell(keyevent_clear_command(DEFAULT_CLEAR_DELETES if length is None else length))

    def restore_keyboard(self) -> None:
        """Give the user's IME back now if a :meth:`clear_text` left ADB Keyboard on; the next
        Type reads the IME afresh. Idempotent."""
        self._switch_back()

    def close(self) -> None:
        """Give the phone its own keyboard back (only a pending clear can have left ADB Keyboard
        on). Idempotent."""
        self._switch_back()
