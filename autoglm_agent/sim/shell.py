"""A small in-process POSIX-ish shell for the simulated phone.

Clients of a real phone (adb, adbutils, the AutoGLM reference client) send command lines with
shell syntax: ``;``, ``&&``, ``||``, pipes, ``$?``, single/double quoting, backslash escapes,
redirections such as ``> /sdcard/x`` or ``2>/dev/null``. This module parses and runs such lines
entirely in Python: no text ever reaches a real OS shell. Builtins cover the usual toybox tools
(echo, cat, ls, rm, mkdir, stat, grep, ...); every other program name is looked up in the
command table of :mod:`autoglm_agent.sim.commands`.

It also holds the phone's virtual filesystem (:class:`VirtualFS`) and the command log
(:class:`CommandLog`), which the adbd side shares with the shell.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import itertools
import posixpath
import re
import stat as stat_mod
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from autoglm_agent.sim.commands import SimDevice

__all__ = [
    "CommandLog",
    "CommandRecord",
    "ExecContext",
    "FileStat",
    "Output",
    "Shell",
    "ShellResult",
    "ShellSyntaxError",
    "VfsError",
    "VirtualFS",
]

SH = "/system/bin/sh"
MAX_SLEEP_S = 10.0

# --------------------------------------------------------------------------------------------
# Virtual filesystem
# --------------------------------------------------------------------------------------------

S_IFDIR = stat_mod.S_IFDIR
S_IFREG = stat_mod.S_IFREG

#: Directories every simulated phone has.
DEFAULT_DIRS = (
    "/",
    "/data",
    "/data/local",
    "/data/local/tmp",
    "/sdcard",
    "/sdcard/Android",
    "/sdcard/DCIM",
    "/sdcard/Download",
    "/sdcard/Pictures",
    "/sdcard/Movies",
    "/sdcard/Music",
    "/sdcard/Documents",
    "/storage",
    "/system",
    "/system/bin",
    "/proc",
    "/dev",
    "/vendor",
)
#: Trees the shell user may write to; everything else is read-only.
DEFAULT_WRITABLE = ("/sdcard", "/data/local/tmp")
#: Paths that are symlinks to /sdcard on a real phone.
_ALIASES = ("/storage/emulated/0", "/storage/self/primary", "/mnt/sdcard")


class VfsError(OSError):
    """A filesystem operation failed; ``errno`` and ``strerror`` as in :class:`OSError`."""

    def __init__(self, code: int, path: str) -> None:
        super().__init__(code, _strerror(code), path)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.strerror}"


def _strerror(code: int) -> str:
    return {
        errno.ENOENT: "No such file or directory",
        errno.EACCES: "Permission denied",
        errno.EISDIR: "Is a directory",
        errno.ENOTDIR: "Not a directory",
        errno.EROFS: "Read-only file system",
        errno.ENOTEMPTY: "Directory not empty",
        errno.EEXIST: "File exists",
        errno.EINVAL: "Invalid argument",
    }.get(code, "I/O error")


class FileStat(BaseModel):
    """What ``stat`` reports about one path."""

    path: str
    mode: int  # full st_mode (type bits and permissions)
    size: int
    mtime: int

    @property
    def is_dir(self) -> bool:
        return stat_mod.S_ISDIR(self.mode)


@dataclass
class _Node:
    mode: int  # full st_mode
    mtime: int
    data: bytes = b""


class VirtualFS:
    """A thread-safe in-memory filesystem: path -> bytes + mode + mtime, with explicit directories.

    Writing a file creates its missing parent directories (like ``fixed_push_mkdir`` adbd).
    ``/storage/emulated/0`` and ``/storage/self/primary`` are aliases of ``/sdcard``.
    """

    def __init__(
        self,
        dirs: tuple[str, ...] = DEFAULT_DIRS,
        writable: tuple[str, ...] = DEFAULT_WRITABLE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._writable = tuple(writable)
        self._roots = frozenset(dirs)
        now = int(clock())
        self._nodes: dict[str, _Node] = {}
        for d in dirs:
            self._nodes[d] = _Node(S_IFDIR | (0o771 if d.startswith("/sdcard") else 0o755), now)

    # -- paths ---------------------------------------------------------------------------------
    @staticmethod
    def normpath(path: str, cwd: str = "/") -> str:
        if not path:
            raise VfsError(errno.ENOENT, path)
        p = posixpath.normpath(posixpath.join(cwd, path))
        if p.startswith("//"):
            p = "/" + p.lstrip("/")
        for alias in _ALIASES:
            if p == alias or p.startswith(alias + "/"):
                p = "/sdcard" + p[len(alias) :]
        return p

    def writable(self, path: str) -> bool:
        return any(path == w or path.startswith(w + "/") for w in self._writable)

    def _check_writable(self, path: str) -> None:
        if not self.writable(path):
            raise VfsError(errno.EACCES if path.startswith("/data") else errno.EROFS, path)

    # -- queries -------------------------------------------------------------------------------
    def stat(self, path: str) -> FileStat | None:
        p = self.normpath(path)
        with self._lock:
            node = self._nodes.get(p)
            if node is None:
                return None
            return FileStat(path=p, mode=node.mode, size=len(node.data), mtime=node.mtime)

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.is_dir

    def is_file(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and not st.is_dir

    def read(self, path: str) -> bytes:
        p = self.normpath(path)
        with self._lock:
            node = self._nodes.get(p)
            if node is None:
                raise VfsError(errno.ENOENT, p)
            if stat_mod.S_ISDIR(node.mode):
                raise VfsError(errno.EISDIR, p)
            return node.data

    def listdir(self, path: str) -> list[FileStat]:
        """Entries directly under ``path`` (without ``.``/``..``), sorted by name."""
        p = self.normpath(path)
        with self._lock:
            node = self._nodes.get(p)
            if node is None:
                raise VfsError(errno.ENOENT, p)
            if not stat_mod.S_ISDIR(node.mode):
                raise VfsError(errno.ENOTDIR, p)
            prefix = p.rstrip("/") + "/"
            out = []
            for name, n in self._nodes.items():
                if name != p and name.startswith(prefix) and "/" not in name[len(prefix) :]:
                    out.append(FileStat(path=name, mode=n.mode, size=len(n.data), mtime=n.mtime))
            return sorted(out, key=lambda s: s.path)

    def walk(self, path: str) -> list[str]:
        """Every path at or under ``path``."""
        p = self.normpath(path)
        prefix = p.rstrip("/") + "/"
        with self._lock:
            return sorted(n for n in self._nodes if n == p or n.startswith(prefix))

    # -- changes -------------------------------------------------------------------------------
    def _ensure_parents(self, p: str) -> None:
        parent = posixpath.dirname(p)
        missing = []
        while parent not in self._nodes:
            missing.append(parent)
            parent = posixpath.dirname(parent)
        if not stat_mod.S_ISDIR(self._nodes[parent].mode):
            raise VfsError(errno.ENOTDIR, parent)
        for d in reversed(missing):
            self._check_writable(d)
            self._nodes[d] = _Node(S_IFDIR | 0o771, int(self._clock()))

    def write(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        mtime: int | None = None,
        append: bool = False,
    ) -> None:
        p = self.normpath(path)
        with self._lock:
            node = self._nodes.get(p)
            if node is not None and stat_mod.S_ISDIR(node.mode):
                raise VfsError(errno.EISDIR, p)
            self._check_writable(p)
            self._ensure_parents(p)
            perm = (mode & 0o7777) if mode is not None else (node.mode & 0o7777 if node else 0o660)
            old = node.data if (node is not None and append) else b""
            self._nodes[p] = _Node(S_IFREG | perm, int(self._clock()) if mtime is None else mtime, old + data)

    def mkdir(self, path: str, *, parents: bool = False) -> None:
        p = self.normpath(path)
        with self._lock:
            node = self._nodes.get(p)
            if node is not None:
                if parents and stat_mod.S_ISDIR(node.mode):
                    return
                raise VfsError(errno.EEXIST, p)
            parent = posixpath.dirname(p)
            if not parents and parent not in self._nodes:
                raise VfsError(errno.ENOENT, p)
            self._check_writable(p)
            self._ensure_parents(p)
            self._nodes[p] = _Node(S_IFDIR | 0o771, int(self._clock()))

    def remove(self, path: str, *, recursive: bool = False, dirs_ok: bool = False) -> None:
        p = self.normpath(path)
        with self._lock:
            node = self._nodes.get(p)
            if node is None:
                raise VfsError(errno.ENOENT, p)
            if p in self._roots or not self.writable(p):
                raise VfsError(errno.EROFS if not p.startswith("/data") else errno.EACCES, p)
            if stat_mod.S_ISDIR(node.mode):
                children = [n for n in self._nodes if n.startswith(p + "/")]
                if not recursive and not dirs_ok:
                    raise VfsError(errno.EISDIR, p)
                if children and not recursive:
                    raise VfsError(errno.ENOTEMPTY, p)
                for c in children:
                    del self._nodes[c]
            del self._nodes[p]

    def touch(self, path: str) -> None:
        p = self.normpath(path)
        with self._lock:
            node = self._nodes.get(p)
            if node is None:
                self.write(p, b"")
            else:
                self._check_writable(p)
                node.mtime = int(self._clock())


# --------------------------------------------------------------------------------------------
# Command log
# --------------------------------------------------------------------------------------------


class CommandRecord(BaseModel):
    """One command line the simulator received over ``shell:``/``shell,v2:``/``exec:``."""

    timestamp: float
    service: str
    command: str
    #: argv of every simple command the shell actually ran for this line, in order.
    argv: list[list[str]] = Field(default_factory=list)
    exit_code: int | None = None
    #: True when ``command`` or ``argv`` was cut short to keep the log bounded (see :class:`CommandLog`).
    truncated: bool = False


#: A command line longer than this is kept in the log as its first LOG_COMMAND_MAX characters
#: plus a marker; each argv word likewise (far above what the agent sends: about 3000 characters).
LOG_COMMAND_MAX = 64 * 1024
#: At most this many simple commands are recorded per line; then one marker argv is appended.
LOG_ARGV_MAX = 1000
#: The log keeps at most this many records and about this many characters, dropping the oldest.
LOG_RECORDS_MAX = 10_000
LOG_BYTES_MAX = 16 * 1024 * 1024
#: The marker argv appended when a line ran more simple commands than are recorded.
ARGV_TRUNCATED = "<argv truncated>"


def _clip(text: str, limit: int = LOG_COMMAND_MAX) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...<{len(text) - limit} more characters>"


class CommandLog:
    """Thread-safe, bounded list of :class:`CommandRecord`; readers get copies.

    Bounded by count (``maxlen``) and by size (``max_bytes``, counting the characters of each
    command and argv word): the oldest records go first. Huge command lines and words are clipped
    (``truncated=True``), so one client cannot make the log grow without bound.
    """

    def __init__(self, maxlen: int = LOG_RECORDS_MAX, max_bytes: int = LOG_BYTES_MAX) -> None:
        self._lock = threading.Lock()
        self._records: deque[CommandRecord] = deque()
        self._sizes: dict[int, int] = {}
        self._bytes = 0
        self._maxlen = maxlen
        self._max_bytes = max_bytes

    def _grow(self, rec: CommandRecord, n: int) -> None:
        if id(rec) not in self._sizes:
            return  # already dropped from the log
        self._sizes[id(rec)] += n
        self._bytes += n
        while self._records and (len(self._records) > self._maxlen or self._bytes > self._max_bytes):
            if len(self._records) == 1:
                break  # keep the newest record whatever its size (it is clipped)
            old = self._records.popleft()
            self._bytes -= self._sizes.pop(id(old), 0)

    def add(self, service: str, command: str) -> CommandRecord:
        clipped = _clip(command)
        rec = CommandRecord(
            timestamp=time.time(), service=service, command=clipped, truncated=clipped is not command
        )
        with self._lock:
            self._records.append(rec)
            self._sizes[id(rec)] = 0
            self._grow(rec, len(clipped) + 64)
        return rec

    def note_argv(self, rec: CommandRecord, argv: list[str]) -> None:
        with self._lock:
            if len(rec.argv) > LOG_ARGV_MAX:
                return
            if len(rec.argv) == LOG_ARGV_MAX:
                rec.argv.append([ARGV_TRUNCATED])
                rec.truncated = True
                return
            words = [_clip(a) for a in argv[:LOG_ARGV_MAX]]
            if len(argv) > LOG_ARGV_MAX:
                words.append(ARGV_TRUNCATED)
            if len(argv) > LOG_ARGV_MAX or any(w is not a for w, a in zip(words, argv, strict=False)):
                rec.truncated = True
            rec.argv.append(words)
            self._grow(rec, sum(len(w) for w in words) + 16 * len(words))

    def note_exit(self, rec: CommandRecord, code: int) -> None:
        with self._lock:
            rec.exit_code = code

    def records(self) -> list[CommandRecord]:
        with self._lock:
            return [r.model_copy(deep=True) for r in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._sizes.clear()
            self._bytes = 0

    @property
    def size(self) -> int:
        """Characters the log holds now (commands and argv words), as counted for ``max_bytes``."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


# --------------------------------------------------------------------------------------------
# Tokeniser and parser
# --------------------------------------------------------------------------------------------


class ShellSyntaxError(Exception):
    """The command line cannot be parsed."""


# A word is a list of segments: ("lit", text, quoted) | ("var", name, quoted) | ("cmd", text, quoted)
Segment = tuple[Literal["lit", "var", "cmd"], str, bool]


@dataclass
class Word:
    segments: list[Segment] = field(default_factory=list)

    def add(self, kind: Literal["lit", "var", "cmd"], text: str, quoted: bool) -> None:
        self.segments.append((kind, text, quoted))

    @property
    def empty(self) -> bool:
        return not self.segments

    def literal(self) -> str | None:
        """The text if the word is one unquoted literal (for keywords and assignments)."""
        if all(k == "lit" for k, _, _ in self.segments):
            return "".join(t for _, t, _ in self.segments)
        return None


@dataclass
class Op:
    op: str


@dataclass
class Redir:
    fd: int
    op: str  # ">", ">>", "<", ">&"
    target: Word | None = None
    dup: int | None = None  # for N>&M


Token = Word | Op | Redir

_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL_VARS = "?$#!0123456789@*-"


def _scan_subst(line: str, i: int) -> int:
    """Index just after the ``)`` that closes ``$(`` whose ``(`` is at ``i - 1``."""
    depth = 1
    n = len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated '")
            i = j + 1
            continue
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ShellSyntaxError("unterminated $(")


def _read_dollar(line: str, i: int, word: Word, quoted: bool) -> int:
    """Parse a ``$`` expansion starting at ``line[i] == '$'``; return the next index."""
    n = len(line)
    if i + 1 >= n:
        word.add("lit", "$", quoted)
        return i + 1
    c = line[i + 1]
    if c == "(":
        end = _scan_subst(line, i + 2)
        word.add("cmd", line[i + 2 : end - 1], quoted)
        return end
    if c == "{":
        end = line.find("}", i + 2)
        if end < 0:
            raise ShellSyntaxError("bad substitution")
        name = line[i + 2 : end]
        if not (_VAR_RE.fullmatch(name) or (len(name) == 1 and name in _SPECIAL_VARS)):
            raise ShellSyntaxError(f"{line[i : end + 1]}: bad substitution")
        word.add("var", name, quoted)
        return end + 1
    if c in _SPECIAL_VARS:
        word.add("var", c, quoted)
        return i + 2
    m = _VAR_RE.match(line, i + 1)
    if m:
        word.add("var", m.group(0), quoted)
        return m.end()
    word.add("lit", "$", quoted)
    return i + 1


def tokenize(line: str) -> list[Token]:
    """Split a command line into words, operators and redirections."""
    tokens: list[Token] = []
    word = Word()
    lit: list[str] = []  # pending unquoted literal characters of ``word``
    has_unquoted_digits_only = True
    i = 0
    n = len(line)

    def flush_lit() -> None:
        if lit:
            word.add("lit", "".join(lit), False)
            lit.clear()

    def end_word() -> None:
        nonlocal word, has_unquoted_digits_only
        flush_lit()
        if not word.empty:
            tokens.append(word)
        word = Word()
        has_unquoted_digits_only = True

    while i < n:
        c = line[i]
        if c in " \t":
            end_word()
            i += 1
        elif c == "\n":
            end_word()
            tokens.append(Op(";"))
            i += 1
        elif c == "#" and word.empty and not lit:
            nl = line.find("\n", i)
            i = n if nl < 0 else nl
        elif c == "\\":
            if i + 1 < n:
                if line[i + 1] == "\n":
                    i += 2
                    continue
                flush_lit()
                word.add("lit", line[i + 1], True)
                has_unquoted_digits_only = False
                i += 2
            else:
                i += 1
        elif c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated '")
            flush_lit()
            word.add("lit", line[i + 1 : j], True)
            has_unquoted_digits_only = False
            i = j + 1
        elif c == '"':
            flush_lit()
            has_unquoted_digits_only = False
            i += 1
            buf: list[str] = []
            closed = False
            while i < n:
                d = line[i]
                if d == '"':
                    closed = True
                    i += 1
                    break
                if d == "\\" and i + 1 < n and line[i + 1] in '$`"\\\n':
                    if line[i + 1] != "\n":
                        buf.append(line[i + 1])
                    i += 2
                elif d == "$":
                    if buf:
                        word.add("lit", "".join(buf), True)
                        buf.clear()
                    i = _read_dollar(line, i, word, True)
                elif d == "`":
                    j = line.find("`", i + 1)
                    if j < 0:
                        raise ShellSyntaxError("unterminated `")
                    if buf:
                        word.add("lit", "".join(buf), True)
                        buf.clear()
                    word.add("cmd", line[i + 1 : j], True)
                    i = j + 1
                else:
                    buf.append(d)
                    i += 1
            if not closed:
                raise ShellSyntaxError('unterminated "')
            # An empty "" still makes a (possibly empty) word.
            word.add("lit", "".join(buf), True)
        elif c == "$":
            flush_lit()
            has_unquoted_digits_only = False
            i = _read_dollar(line, i, word, False)
        elif c == "`":
            j = line.find("`", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated `")
            flush_lit()
            has_unquoted_digits_only = False
            word.add("cmd", line[i + 1 : j], False)
            i = j + 1
        elif c in "<>":
            fd: int | None = None
            if word.segments == [] and lit and has_unquoted_digits_only and "".join(lit).isdigit():
                fd = int("".join(lit))
                lit.clear()
            end_word()
            if c == "<":
                op = "<"
                i += 1
                if fd is None:
                    fd = 0
            else:
                if line.startswith(">>", i):
                    op = ">>"
                    i += 2
                else:
                    op = ">"
                    i += 1
                    if i < n and line[i] == "|":
                        i += 1
                if fd is None:
                    fd = 1
            if op == ">" and i < n and line[i] == "&":
                m = re.match(r"&(\d+)", line[i:])
                if not m:
                    raise ShellSyntaxError(f"syntax error: '{line[i : i + 2]}' unexpected")
                tokens.append(Redir(fd=fd, op=">&", dup=int(m.group(1))))
                i += m.end()
                continue
            tokens.append(Redir(fd=fd, op=op))
        elif c in ";&|":
            end_word()
            two = line[i : i + 2]
            if two in ("&&", "||", ";;"):
                if two == ";;":
                    raise ShellSyntaxError("syntax error: ';;' unexpected")
                tokens.append(Op(two))
                i += 2
            elif two == "&>":
                tokens.append(Redir(fd=1, op=">"))
                tokens.append(Redir(fd=2, op=">&", dup=1))
                i += 2
            else:
                tokens.append(Op(c))
                i += 1
        elif c in "()":
            raise ShellSyntaxError(f"syntax error: '{c}' unexpected")
        else:
            lit.append(c)
            if not c.isdigit():
                has_unquoted_digits_only = False
            i += 1
    end_word()
    return tokens


@dataclass
class SimpleCommand:
    words: list[Word] = field(default_factory=list)
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[SimpleCommand]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)


_UNSUPPORTED_KEYWORDS = {
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "for",
    "while",
    "until",
    "do",
    "done",
    "case",
    "esac",
}


def parse(line: str) -> list[AndOr]:
    """Parse a command line into a list of and-or lists (separated by ``;``/``&``/newline)."""
    tokens = tokenize(line)
    out: list[AndOr] = []
    pos = 0
    n = len(tokens)

    def parse_simple() -> SimpleCommand:
        nonlocal pos
        cmd = SimpleCommand()
        while pos < n:
            tok = tokens[pos]
            if isinstance(tok, Op):
                break
            if isinstance(tok, Redir):
                if tok.op != ">&":
                    pos += 1
                    if pos >= n or not isinstance(tokens[pos], Word):
                        raise ShellSyntaxError("syntax error: unexpected newline")
                    target = tokens[pos]
                    assert isinstance(target, Word)
                    tok = Redir(fd=tok.fd, op=tok.op, target=target)
                cmd.redirs.append(tok)
                pos += 1
                continue
            if not cmd.words:
                kw = tok.literal()
                if kw in _UNSUPPORTED_KEYWORDS:
                    raise ShellSyntaxError(f"syntax error: '{kw}' unsupported in this simulator")
            cmd.words.append(tok)
            pos += 1
        return cmd

    def parse_pipeline() -> Pipeline:
        nonlocal pos
        negate = False
        if pos < n and isinstance(tokens[pos], Word) and tokens[pos].literal() == "!":  # type: ignore[union-attr]
            negate = True
            pos += 1
        cmds = [parse_simple()]
        while pos < n and isinstance(tokens[pos], Op) and tokens[pos].op == "|":  # type: ignore[union-attr]
            pos += 1
            cmds.append(parse_simple())
        for c in cmds:
            if not c.words and not c.redirs:
                bad = tokens[pos].op if pos < n and isinstance(tokens[pos], Op) else "newline"  # type: ignore[union-attr]
                raise ShellSyntaxError(f"syntax error: '{bad}' unexpected")
        return Pipeline(cmds, negate)

    while pos < n:
        tok = tokens[pos]
        if isinstance(tok, Op) and tok.op in (";", "&"):
            # ";" at the very start is an error in sh; repeated separators from newlines are fine
            if pos == 0:
                raise ShellSyntaxError(f"syntax error: '{tok.op}' unexpected")
            pos += 1
            continue
        andor = AndOr(parse_pipeline())
        while pos < n and isinstance(tokens[pos], Op) and tokens[pos].op in ("&&", "||"):  # type: ignore[union-attr]
            op = tokens[pos].op  # type: ignore[union-attr]
            pos += 1
            while pos < n and isinstance(tokens[pos], Op) and tokens[pos].op == ";":  # type: ignore[union-attr]
                raise ShellSyntaxError("syntax error: ';' unexpected")
            andor.rest.append((op, parse_pipeline()))
        out.append(andor)
        if pos < n:
            tok = tokens[pos]
            if isinstance(tok, Op) and tok.op in (";", "&"):
                pos += 1
            else:
                bad = tok.op if isinstance(tok, Op) else "word"
                raise ShellSyntaxError(f"syntax error: '{bad}' unexpected")
    return out


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------


#: The most bytes one command line may write, counting stdout, stderr, pipes, redirections and
#: ``$(...)`` together. Past it the line stops with an error and exit status 1, as a phone that
#: runs out of memory would; output is kept in memory, so this bounds what one line can take.
OUTPUT_MAX = 32 * 1024 * 1024


class OutputLimitExceeded(BaseException):
    """A command line wrote more than :data:`OUTPUT_MAX` bytes.

    A ``BaseException`` so that no command's ``except Exception`` swallows it; :meth:`Shell.run`
    turns it into an error message and exit status 1.
    """


class _Budget(threading.local):
    left: int | None = None  # bytes the command line running in this thread may still write


_budget = _Budget()


def ensure_room(n: int) -> None:
    """Raise :class:`OutputLimitExceeded` unless ``n`` more bytes of output fit the budget.

    Commands that build a large string before writing it (``printf '%999999999d'``) call this
    first, so that the string is never built.
    """
    left = _budget.left
    if left is not None and n > left:
        _budget.left = 0
        raise OutputLimitExceeded


def _charge(n: int) -> None:
    left = _budget.left
    if left is None:
        return
    if n > left:
        _budget.left = 0
        raise OutputLimitExceeded
    _budget.left = left - n


class Output:
    """Where a command writes: collects bytes, tagged with the stream they belong to (1 or 2).

    Every write counts against the running command line's output budget (:data:`OUTPUT_MAX`).
    """

    def __init__(self, sink: list[tuple[int, bytes]] | None = None, fd: int = 1) -> None:
        self.chunks: list[tuple[int, bytes]] = [] if sink is None else sink
        self.fd = fd

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8", errors="surrogateescape")
        if data:
            _charge(len(data))
            self.chunks.append((self.fd, data))

    def getvalue(self) -> bytes:
        return b"".join(d for _, d in self.chunks)


class _NullOutput(Output):
    def write(self, data: bytes | str) -> None:
        return None


class ExitShell(Exception):
    """``exit N``: unwinds the current command line."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ShellResult(BaseModel):
    """What one command line produced."""

    exit_code: int
    #: stdout and stderr interleaved in the order they were written: (1|2, bytes)
    chunks: list[tuple[int, bytes]] = Field(default_factory=list)

    @property
    def stdout(self) -> bytes:
        return b"".join(d for fd, d in self.chunks if fd == 1)

    @property
    def stderr(self) -> bytes:
        return b"".join(d for fd, d in self.chunks if fd == 2)

    @property
    def output(self) -> bytes:
        return b"".join(d for _, d in self.chunks)


@dataclass
class ExecContext:
    """Everything a command handler gets."""

    argv: list[str]
    stdin: Callable[[], bytes]
    stdout: Output
    stderr: Output
    shell: Shell

    @property
    def device(self) -> SimDevice:
        return self.shell.device

    @property
    def prog(self) -> str:
        return posixpath.basename(self.argv[0])

    def out(self, text: str | bytes) -> None:
        self.stdout.write(text)

    def err(self, text: str | bytes) -> None:
        self.stderr.write(text)

    def read_stdin(self) -> bytes:
        return self.stdin()


Handler = Callable[[ExecContext], int]


class Shell:
    """One shell session (keeps variables, cwd and ``$?`` across lines).

    ``run(line)`` never raises for user errors: it returns the exit status and the output,
    exactly as ``/system/bin/sh -c line`` would on a phone.
    """

    def __init__(
        self,
        device: SimDevice,
        *,
        service: str = "shell",
        stdin: Callable[[], bytes] | None = None,
        cancel: threading.Event | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.device = device
        self.service = service
        self.cwd = "/"
        self.status = 0
        self.env: dict[str, str] = {
            "PATH": "/product/bin:/apex/com.android.runtime/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin",
            "HOME": "/",
            "SHELL": SH,
            "USER": "shell",
            "HOSTNAME": "localhost",
            "TMPDIR": "/data/local/tmp",
            "EXTERNAL_STORAGE": "/sdcard",
            "ANDROID_DATA": "/data",
            "ANDROID_ROOT": "/system",
        }
        if env:
            self.env.update(env)
        self._stdin = stdin or (lambda: b"")
        self.cancel = cancel or threading.Event()
        #: The most bytes one ``run()`` may write (see :data:`OUTPUT_MAX`).
        self.output_max = OUTPUT_MAX
        self._record: CommandRecord | None = None
        self._depth = 0
        #: True once ``exit`` ran: an interactive session ends there.
        self.exited = False

    # -- public --------------------------------------------------------------------------------
    def run(self, line: str, *, log: bool = True) -> ShellResult:
        """Parse and run one command line."""
        chunks: list[tuple[int, bytes]] = []
        if log:
            self._record = self.device.log.add(self.service, line)
        saved = _budget.left
        _budget.left = self.output_max
        try:
            code = self._run_line(line, Output(chunks, 1), Output(chunks, 2), self._stdin)
        except OutputLimitExceeded:
            msg = f"{SH}: output over {self.output_max} bytes: the simulated phone stopped the command\n"
            chunks.append((2, msg.encode()))
            code = self.status = 1
        finally:
            _budget.left = saved
        if log and self._record is not None:
            self.device.log.note_exit(self._record, code)
        return ShellResult(exit_code=code, chunks=chunks)

    def sleep(self, seconds: float) -> None:
        """Sleep, bounded and interruptible (when the client goes away)."""
        self.cancel.wait(max(0.0, min(seconds, MAX_SLEEP_S)))

    # -- internals -----------------------------------------------------------------------------
    def _run_line(self, line: str, stdout: Output, stderr: Output, stdin: Callable[[], bytes]) -> int:
        try:
            program = parse(line)
        except ShellSyntaxError as e:
            stderr.write(f"{SH}: {e}\n")
            self.status = 2
            return 2
        try:
            for andor in program:
                self._run_andor(andor, stdout, stderr, stdin)
        except ExitShell as e:
            self.status = e.code & 0xFF
            if self._depth == 0:
                self.exited = True
                return self.status
            raise
        return self.status

    def _run_andor(self, andor: AndOr, stdout: Output, stderr: Output, stdin: Callable[[], bytes]) -> None:
        self.status = self._run_pipeline(andor.first, stdout, stderr, stdin)
        for op, pipe in andor.rest:
            if (op == "&&" and self.status == 0) or (op == "||" and self.status != 0):
                self.status = self._run_pipeline(pipe, stdout, stderr, stdin)

    def _run_pipeline(
        self, pipe: Pipeline, stdout: Output, stderr: Output, stdin: Callable[[], bytes]
    ) -> int:
        code = 0
        cur_in = stdin
        for i, cmd in enumerate(pipe.commands):
            last = i == len(pipe.commands) - 1
            out = stdout if last else Output(None, 1)
            code = self._run_simple(cmd, out, stderr, cur_in)
            if not last:
                data = out.getvalue()
                cur_in = lambda data=data: data  # noqa: E731
        if pipe.negate:
            code = 0 if code else 1
        return code

    def _expand_word(self, word: Word) -> list[str]:
        parts: list[str] = []
        glob = False
        any_quoted = False
        for kind, text, quoted in word.segments:
            any_quoted = any_quoted or quoted
            if kind == "lit":
                parts.append(text)
                if not quoted and any(ch in text for ch in "*?["):
                    glob = True
            elif kind == "var":
                parts.append(self._var(text))
            else:
                parts.append(self._command_substitution(text))
        value = "".join(parts)
        if not value and not any_quoted:
            return []  # an unquoted empty expansion disappears
        if glob:
            matches = self._glob(value)
            if matches:
                return matches
        return [value]

    def _var(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "4242"
        if name == "#":
            return "0"
        if name == "0":
            return SH
        if name in "!@*-" or name.isdigit():
            return ""
        return self.env.get(name, "")

    def _command_substitution(self, text: str) -> str:
        chunks: list[tuple[int, bytes]] = []
        out = Output(chunks, 1)
        saved = self.status
        self._depth += 1
        try:
            self._run_line(text, out, _NullOutput(), lambda: b"")
        except ExitShell:
            pass
        finally:
            self._depth -= 1
        del saved
        return out.getvalue().decode("utf-8", errors="replace").rstrip("\n")

    def _glob(self, pattern: str) -> list[str]:
        vfs = self.device.vfs
        absolute = pattern.startswith("/")
        base = "/" if absolute else self.cwd
        parts = [p for p in pattern.split("/") if p]
        paths = [base]
        for part in parts:
            nxt: list[str] = []
            for p in paths:
                if any(ch in part for ch in "*?["):
                    try:
                        entries = vfs.listdir(p)
                    except VfsError:
                        continue
                    for e in entries:
                        name = posixpath.basename(e.path)
                        if fnmatch.fnmatchcase(name, part) and (
                            part.startswith(".") or not name.startswith(".")
                        ):
                            nxt.append(posixpath.join(p, name))
                else:
                    cand = posixpath.join(p, part)
                    if vfs.exists(cand):
                        nxt.append(cand)
            paths = nxt
        if absolute:
            return sorted(paths)
        prefix = self.cwd.rstrip("/") + "/"
        return sorted(p[len(prefix) :] if p.startswith(prefix) else p for p in paths)

    def _run_simple(
        self, cmd: SimpleCommand, stdout: Output, stderr: Output, stdin: Callable[[], bytes]
    ) -> int:
        if self.cancel.is_set():
            return 130
        # Leading NAME=value words are assignments.
        words = list(cmd.words)
        assigns: dict[str, str] = {}
        while words:
            lit = words[0].literal()
            if lit is None or "=" not in lit or not _VAR_RE.fullmatch(lit.split("=", 1)[0]):
                # allow NAME="quoted value": first segment unquoted "NAME=" then quoted parts
                seg0 = words[0].segments[0]
                if not (
                    seg0[0] == "lit" and not seg0[2] and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=", seg0[1])
                ):
                    break
                name = seg0[1][:-1]
                rest = Word(words[0].segments[1:])
                assigns[name] = "".join(self._expand_word(rest)) if not rest.empty else ""
                words.pop(0)
                continue
            name, value_lit = lit.split("=", 1)
            assigns[name] = value_lit
            words.pop(0)
        argv: list[str] = []
        for w in words:
            argv.extend(self._expand_word(w))

        # Redirections.
        out, err, cur_in = stdout, stderr, stdin
        file_targets: list[tuple[str, Output, bool]] = []
        for r in cmd.redirs:
            if r.op == ">&":
                src = out if r.dup == 1 else err if r.dup == 2 else None
                if src is None:
                    stderr.write(f"{SH}: {r.dup}: bad file descriptor\n")
                    return 1
                if r.fd == 1:
                    out = src
                elif r.fd == 2:
                    err = src
                continue
            assert r.target is not None
            target_words = self._expand_word(r.target)
            if len(target_words) != 1:
                shown = "".join(target_words) or '""'
                stderr.write(f"{SH}: {shown}: ambiguous redirect\n")
                return 1
            target = target_words[0]
            if r.op == "<":
                if target == "/dev/null":
                    cur_in = lambda: b""  # noqa: E731
                    continue
                try:
                    data = self.device.vfs.read(self.device.vfs.normpath(target, self.cwd))
                except VfsError as e:
                    stderr.write(f"{SH}: {target}: {e.strerror}\n")
                    return 1
                cur_in = lambda data=data: data  # noqa: E731
                continue
            if target in ("/dev/null", "/dev/zero"):
                sink: Output = _NullOutput()
            else:
                path = self.device.vfs.normpath(target, self.cwd)
                try:
                    if self.device.vfs.is_dir(path):
                        raise VfsError(errno.EISDIR, path)
                    # create/truncate now, like a real shell
                    if r.op == ">" or not self.device.vfs.exists(path):
                        self.device.vfs.write(path, b"")
                except VfsError as e:
                    stderr.write(f"{SH}: {target}: {e.strerror}\n")
                    return 1
                sink = Output(None, 1)
                file_targets.append((path, sink, True))
            if r.fd == 1:
                out = sink
            elif r.fd == 2:
                err = sink

        if not argv:
            self.env.update(assigns)
            code = 0
        else:
            if self._record is not None:
                self.device.log.note_argv(self._record, argv)
            code = self._dispatch(argv, out, err, cur_in)
        for path, sink, _ in file_targets:
            data = sink.getvalue()
            if data:
                try:
                    self.device.vfs.write(path, data, append=True)
                except VfsError as e:
                    stderr.write(f"{SH}: {path}: {e.strerror}\n")
        return code

    def lookup(self, name: str) -> Handler | None:
        base = posixpath.basename(name) if "/" in name else name
        if "/" in name and not name.startswith(("/system/bin/", "/system/xbin/", "/bin/", "/vendor/bin/")):
            return None
        return BUILTINS.get(base) or self.device.commands.get(base)

    def _dispatch(self, argv: list[str], out: Output, err: Output, stdin: Callable[[], bytes]) -> int:
        handler = self.lookup(argv[0])
        if handler is None:
            err.write(f"{SH}: {argv[0]}: inaccessible or not found\n")
            return 127
        ctx = ExecContext(argv=argv, stdin=stdin, stdout=out, stderr=err, shell=self)
        try:
            return int(handler(ctx)) & 0xFF
        except ExitShell:
            raise
        except Exception as e:  # a bug or a phone error must not kill the connection
            err.write(f"{posixpath.basename(argv[0])}: {type(e).__name__}: {e}\n")
            return 255


# --------------------------------------------------------------------------------------------
# Builtins (toybox-like)
# --------------------------------------------------------------------------------------------


def _split_flags(argv: list[str], known: str) -> tuple[set[str], list[str]]:
    """Split ``-abc`` style flags (characters in ``known``) from operands."""
    flags: set[str] = set()
    rest: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "--":
            rest.extend(it)
            break
        if a.startswith("-") and len(a) > 1 and all(ch in known for ch in a[1:]):
            flags.update(a[1:])
        else:
            rest.append(a)
    return flags, rest


def _echo(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    newline = True
    escapes = False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for ch in args[0][1:]:
            if ch == "n":
                newline = False
            elif ch == "e":
                escapes = True
            else:
                escapes = False
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text, stop = _unescape(text)
        if stop:
            newline = False
    ctx.out(text + ("\n" if newline else ""))
    return 0


def _unescape(text: str) -> tuple[str, bool]:
    out: list[str] = []
    i = 0
    table = {
        "n": "\n",
        "t": "\t",
        "r": "\r",
        "\\": "\\",
        "a": "\a",
        "b": "\b",
        "f": "\f",
        "v": "\v",
        "e": "\x1b",
    }
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            d = text[i + 1]
            if d == "c":
                return "".join(out), True
            if d in table:
                out.append(table[d])
                i += 2
                continue
            if d == "0":
                m = re.match(r"0([0-7]{0,3})", text[i + 1 :])
                assert m
                out.append(chr(int(m.group(1) or "0", 8)))
                i += 1 + m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out), False


def _printf(ctx: ExecContext) -> int:
    if len(ctx.argv) < 2:
        ctx.err("printf: Need 1 argument\n")
        return 1
    fmt = ctx.argv[1]
    args = list(ctx.argv[2:])
    out: list[str] = []
    size = 0  # characters in `out`: each piece is checked against the output budget before it is built
    while True:
        i = 0
        consumed = False
        while i < len(fmt):
            c = fmt[i]
            if c == "%" and i + 1 < len(fmt):
                m = re.match(r"%([-+ 0#]*)(\d*)(?:\.(\d+))?([sdiouxXcfegb%])", fmt[i:])
                if not m:
                    out.append(c)
                    size += 1
                    i += 1
                    continue
                conv = m.group(4)
                if conv == "%":
                    out.append("%")
                else:
                    arg = args.pop(0) if args else ""
                    consumed = True
                    spec = "%" + m.group(1) + m.group(2) + (("." + m.group(3)) if m.group(3) else "")
                    width, prec = int(m.group(2) or 0), int(m.group(3) or 0) if conv not in "sb" else 0
                    ensure_room(size + max(width, prec) + len(arg) + 64)
                    if conv in "diouxXc":
                        try:
                            num = int(arg, 0) if arg else 0
                        except ValueError:
                            ctx.err(f"printf: invalid number '{arg}'\n")
                            num = 0
                        out.append((spec + ("d" if conv in "iu" else conv)) % num)
                    elif conv in "feg":
                        try:
                            out.append((spec + conv) % float(arg or 0))
                        except ValueError:
                            out.append((spec + conv) % 0.0)
                    elif conv == "b":
                        out.append(_unescape(arg)[0])
                    else:
                        out.append((spec + "s") % arg)
                i += m.end()
            elif c == "\\" and i + 1 < len(fmt):
                s, _ = _unescape(fmt[i : i + 2])
                out.append(s)
                i += 2
            else:
                out.append(c)
                i += 1
            size += len(out[-1]) if out else 0
        if not args or not consumed:
            break
    ctx.out("".join(out))
    return 0


def _true(ctx: ExecContext) -> int:
    return 0


def _false(ctx: ExecContext) -> int:
    return 1


def _exit(ctx: ExecContext) -> int:
    code = ctx.shell.status
    if len(ctx.argv) > 1:
        try:
            code = int(ctx.argv[1])
        except ValueError:
            ctx.err(f"{SH}: exit: {ctx.argv[1]}: bad number\n")
            code = 2
    raise ExitShell(code)


def _path(ctx: ExecContext, p: str) -> str:
    return ctx.device.vfs.normpath(p, ctx.shell.cwd)


def _cat(ctx: ExecContext) -> int:
    _, files = _split_flags(ctx.argv[1:], "uvtAe")
    if not files:
        ctx.out(ctx.read_stdin())
        return 0
    code = 0
    for f in files:
        if f == "-":
            ctx.out(ctx.read_stdin())
            continue
        try:
            ctx.out(_read_special(ctx, f))
        except VfsError as e:
            ctx.err(f"cat: {f}: {e.strerror}\n")
            code = 1
    return code


def _read_special(ctx: ExecContext, name: str) -> bytes:
    """File contents, with a few synthetic /proc and /system files."""
    p = _path(ctx, name)
    if p == "/system/build.prop":
        return "".join(f"{k}={v}\n" for k, v in ctx.device.props().items()).encode()
    if p == "/proc/version":
        return b"Linux version 5.15.110-android14-11 (build@sim) #1 SMP PREEMPT\n"
    if p == "/dev/null":
        return b""
    return ctx.device.vfs.read(p)


def _rm(ctx: ExecContext) -> int:
    flags, files = _split_flags(ctx.argv[1:], "rRfiv")
    force = "f" in flags
    recursive = "r" in flags or "R" in flags
    if not files:
        if force:
            return 0
        ctx.err("rm: Needs 1 argument\n")
        return 1
    code = 0
    for f in files:
        try:
            ctx.device.vfs.remove(_path(ctx, f), recursive=recursive)
        except VfsError as e:
            if e.errno == errno.ENOENT and force:
                continue
            if e.errno == errno.EISDIR:
                ctx.err(f"rm: {f}: Is a directory\n")
            else:
                ctx.err(f"rm: {f}: {e.strerror}\n")
            code = 1
    return code


def _rmdir(ctx: ExecContext) -> int:
    _, dirs = _split_flags(ctx.argv[1:], "p")
    code = 0
    for d in dirs:
        try:
            if not ctx.device.vfs.is_dir(_path(ctx, d)):
                raise VfsError(errno.ENOTDIR if ctx.device.vfs.exists(_path(ctx, d)) else errno.ENOENT, d)
            ctx.device.vfs.remove(_path(ctx, d), dirs_ok=True)
        except VfsError as e:
            ctx.err(f"rmdir: {d}: {e.strerror}\n")
            code = 1
    return code


def _mkdir(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    parents = False
    dirs: list[str] = []
    skip = False
    for a in args:
        if skip:  # the value of -m MODE
            skip = False
        elif a == "-p":
            parents = True
        elif a == "-m":
            skip = True
        elif not (a.startswith("-m") or a == "-v"):
            dirs.append(a)
    if not dirs:
        ctx.err("mkdir: Needs 1 argument\n")
        return 1
    code = 0
    for d in dirs:
        try:
            ctx.device.vfs.mkdir(_path(ctx, d), parents=parents)
        except VfsError as e:
            ctx.err(f"mkdir: '{d}': {e.strerror}\n")
            code = 1
    return code


def _touch(ctx: ExecContext) -> int:
    _, files = _split_flags(ctx.argv[1:], "acm")
    code = 0
    for f in files:
        try:
            ctx.device.vfs.touch(_path(ctx, f))
        except VfsError as e:
            ctx.err(f"touch: '{f}': {e.strerror}\n")
            code = 1
    return code


def _cp_mv(ctx: ExecContext, move: bool) -> int:
    name = "mv" if move else "cp"
    _, args = _split_flags(ctx.argv[1:], "rRfpnvaiT")
    if len(args) < 2:
        ctx.err(f"{name}: Needs 2 arguments\n")
        return 1
    vfs = ctx.device.vfs
    dest = _path(ctx, args[-1])
    code = 0
    for src in args[:-1]:
        sp = _path(ctx, src)
        try:
            st = vfs.stat(sp)
            if st is None:
                raise VfsError(errno.ENOENT, src)
            target = posixpath.join(dest, posixpath.basename(sp)) if vfs.is_dir(dest) else dest
            if st.is_dir:
                for p in vfs.walk(sp):
                    rel = p[len(sp) :]
                    pst = vfs.stat(p)
                    assert pst is not None
                    if pst.is_dir:
                        vfs.mkdir(target + rel, parents=True)
                    else:
                        vfs.write(target + rel, vfs.read(p), mode=pst.mode)
            else:
                vfs.write(target, vfs.read(sp), mode=st.mode)
            if move:
                vfs.remove(sp, recursive=True)
        except VfsError as e:
            ctx.err(f"{name}: {src}: {e.strerror}\n")
            code = 1
    return code


def _mode_string(mode: int) -> str:
    return stat_mod.filemode(mode)


def _ls(ctx: ExecContext) -> int:
    flags, paths = _split_flags(ctx.argv[1:], "lad1AhRtSrCFnsi")
    vfs = ctx.device.vfs
    long = "l" in flags or "n" in flags
    show_all = "a" in flags
    almost_all = "A" in flags
    if not paths:
        paths = ["."]
    code = 0

    def fmt(st: FileStat, name: str) -> str:
        if not long:
            return name
        user, group = ("root", "root") if not vfs.writable(st.path) else ("shell", "shell")
        if st.path.startswith("/sdcard"):
            user, group = "u0_a150", "media_rw"
        ts = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.mtime))
        size = 4096 if st.is_dir else st.size
        return f"{_mode_string(st.mode)} {2 if st.is_dir else 1} {user} {group} {size:>8} {ts} {name}"

    files: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    for p in paths:
        full = _path(ctx, p)
        st = vfs.stat(full)
        if st is None:
            ctx.err(f"ls: {p}: No such file or directory\n")
            code = 1
            continue
        if st.is_dir and "d" not in flags:
            entries = vfs.listdir(full)
            lines: list[str] = []
            if show_all:
                lines.append(fmt(st, "."))
                parent = vfs.stat(posixpath.dirname(full))
                lines.append(fmt(parent or st, ".."))
            for e in entries:
                name = posixpath.basename(e.path)
                if name.startswith(".") and not (show_all or almost_all):
                    continue
                lines.append(fmt(e, name))
            if long:
                lines.insert(
                    0, f"total {sum((4096 if e.is_dir else e.size + 1023) // 1024 for e in entries)}"
                )
            blocks.append((p, lines))
        else:
            files.append(fmt(st, p))
    out: list[str] = list(files)
    for i, (p, lines) in enumerate(blocks):
        if len(paths) > 1:
            if out or i:
                out.append("")
            out.append(f"{p}:")
        out.extend(lines)
    if out:
        ctx.out("\n".join(out) + "\n")
    return code


def _stat(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    fmt_str: str | None = None
    files: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-c", "--format") and i + 1 < len(args):
            fmt_str = args[i + 1] + "\n"
            i += 2
            continue
        if a.startswith("--format="):
            fmt_str = a.split("=", 1)[1] + "\n"
        elif a.startswith("--printf="):
            fmt_str = _unescape(a.split("=", 1)[1])[0]
        elif a in ("-L", "-t", "-f"):
            pass
        else:
            files.append(a)
        i += 1
    if not files:
        ctx.err("stat: Needs 1 argument\n")
        return 1
    code = 0
    vfs = ctx.device.vfs
    for f in files:
        st = vfs.stat(_path(ctx, f))
        if st is None:
            ctx.err(f"stat: '{f}': No such file or directory\n")
            code = 1
            continue
        kind = "directory" if st.is_dir else ("regular file" if st.size else "regular empty file")
        size = 4096 if st.is_dir else st.size
        human = time.strftime("%Y-%m-%d %H:%M:%S.000000000 %z", time.localtime(st.mtime))
        inode = int(hashlib.md5(st.path.encode()).hexdigest()[:6], 16)
        if fmt_str is None:
            ctx.out(
                f"  File: {f}\n"
                f"  Size: {size}\t Blocks: {(size + 511) // 512}\t IO Blocks: 4096\t{kind}\n"
                f"Device: fd05h/64773d\t Inode: {inode}\t Links: {2 if st.is_dir else 1}\n"
                f"Access: ({st.mode & 0o7777:04o}/{_mode_string(st.mode)})\tUid: ( 2000/   shell)\tGid: ( 2000/   shell)\n"
                f"Access: {human}\nModify: {human}\nChange: {human}\n"
            )
            continue
        table = {
            "n": f,
            "N": f"'{f}'",
            "s": str(size),
            "a": f"{st.mode & 0o7777:o}",
            "A": _mode_string(st.mode),
            "f": f"{st.mode:x}",
            "F": kind,
            "Y": str(st.mtime),
            "X": str(st.mtime),
            "Z": str(st.mtime),
            "y": human,
            "x": human,
            "z": human,
            "u": "2000",
            "g": "2000",
            "U": "shell",
            "G": "shell",
            "i": str(inode),
            "h": "2" if st.is_dir else "1",
            "b": str((size + 511) // 512),
            "B": "512",
            "o": "4096",
            "%": "%",
        }
        ctx.out(re.sub(r"%(.)", lambda m, t=table: t.get(m.group(1), m.group(0)), fmt_str))
    return code


def _sleep(ctx: ExecContext) -> int:
    total = 0.0
    for a in ctx.argv[1:]:
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", a)
        if not m:
            ctx.err(f"sleep: invalid number '{a}'\n")
            return 1
        total += float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    ctx.shell.sleep(total)
    return 0


def _which(ctx: ExecContext) -> int:
    _, names = _split_flags(ctx.argv[1:], "a")
    code = 0
    for n in names:
        if ctx.shell.lookup(n) is not None and n not in _SHELL_ONLY:
            ctx.out(f"/system/bin/{posixpath.basename(n)}\n")
        else:
            code = 1
    return code


def _command(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if args and args[0] in ("-v", "-V"):
        code = 0
        for n in args[1:]:
            if n in _SHELL_ONLY:
                ctx.out(f"{n}\n")
            elif ctx.shell.lookup(n) is not None:
                ctx.out(f"/system/bin/{posixpath.basename(n)}\n")
            else:
                code = 1
        return code
    if not args:
        return 0
    return ctx.shell._dispatch(args, ctx.stdout, ctx.stderr, ctx.stdin)


def _cd(ctx: ExecContext) -> int:
    target = ctx.argv[1] if len(ctx.argv) > 1 else "/"
    p = _path(ctx, target)
    if not ctx.device.vfs.is_dir(p):
        ctx.err(f"{SH}: cd: {target}: No such file or directory\n")
        return 2
    ctx.shell.cwd = p
    return 0


def _pwd(ctx: ExecContext) -> int:
    ctx.out(ctx.shell.cwd + "\n")
    return 0


def _export(ctx: ExecContext) -> int:
    for a in ctx.argv[1:]:
        if "=" in a:
            k, v = a.split("=", 1)
            ctx.shell.env[k] = v
    return 0


def _unset(ctx: ExecContext) -> int:
    for a in ctx.argv[1:]:
        ctx.shell.env.pop(a, None)
    return 0


def _test(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    if ctx.prog == "[":
        if not args or args[-1] != "]":
            ctx.err("[: missing ]\n")
            return 2
        args = args[:-1]
    negate = False
    if args and args[0] == "!":
        negate = True
        args = args[1:]
    vfs = ctx.device.vfs
    try:
        if not args:
            ok = False
        elif len(args) == 1:
            ok = args[0] != ""
        elif len(args) == 2:
            op, x = args
            p = _path(ctx, x) if x else ""
            checks: dict[str, Callable[[], bool]] = {
                "-z": lambda: x == "",
                "-n": lambda: x != "",
                "-e": lambda: bool(p) and vfs.exists(p),
                "-f": lambda: bool(p) and vfs.is_file(p),
                "-d": lambda: bool(p) and vfs.is_dir(p),
                "-s": lambda: bool(p) and vfs.is_file(p) and len(vfs.read(p)) > 0,
                "-r": lambda: bool(p) and vfs.exists(p),
                "-w": lambda: bool(p) and vfs.exists(p) and vfs.writable(p),
                "-x": lambda: bool(p) and vfs.is_dir(p),
                "-L": lambda: False,
                "-h": lambda: False,
            }
            if op not in checks:
                ctx.err(f"{ctx.prog}: {op}: unknown operand\n")
                return 2
            ok = checks[op]()
        elif len(args) == 3:
            a, op, b = args
            if op in ("=", "=="):
                ok = a == b
            elif op == "!=":
                ok = a != b
            elif op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
                ia, ib = int(a), int(b)
                ok = {
                    "-eq": ia == ib,
                    "-ne": ia != ib,
                    "-lt": ia < ib,
                    "-le": ia <= ib,
                    "-gt": ia > ib,
                    "-ge": ia >= ib,
                }[op]
            else:
                ctx.err(f"{ctx.prog}: {op}: unknown operand\n")
                return 2
        else:
            ctx.err(f"{ctx.prog}: too many arguments\n")
            return 2
    except ValueError:
        ctx.err(f"{ctx.prog}: bad number\n")
        return 2
    return 0 if ok != negate else 1


def _read_inputs(ctx: ExecContext, files: list[str], prog: str) -> tuple[list[tuple[str, bytes]], int]:
    if not files:
        return [("-", ctx.read_stdin())], 0
    out: list[tuple[str, bytes]] = []
    code = 0
    for f in files:
        try:
            out.append((f, ctx.read_stdin() if f == "-" else _read_special(ctx, f)))
        except VfsError as e:
            ctx.err(f"{prog}: {f}: {e.strerror}\n")
            code = 2 if prog == "grep" else 1
    return out, code


def _grep(ctx: ExecContext) -> int:
    args = ctx.argv[1:]
    flags: set[str] = set()
    patterns: list[str] = []
    operands: list[str] = []
    max_count: int | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            operands.extend(args[i + 1 :])
            break
        if a.startswith("--"):
            if a.startswith("--max-count="):
                max_count = int(a.split("=", 1)[1])
            i += 1
            continue
        if a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                ch = a[j]
                if ch in "emABC":
                    value = a[j + 1 :] or (args[i + 1] if i + 1 < len(args) else "")
                    if not a[j + 1 :]:
                        i += 1
                    if ch == "e":
                        patterns.append(value)
                    elif ch == "m":
                        try:
                            max_count = int(value)
                        except ValueError:
                            ctx.err(f"grep: invalid max count '{value}'\n")
                            return 2
                    break
                flags.add(ch)
                j += 1
        else:
            operands.append(a)
        i += 1
    if not patterns and operands:
        patterns.append(operands.pop(0))
    files = operands
    if not patterns:
        ctx.err("grep: no pattern\n")
        return 2
    reflags = re.IGNORECASE if "i" in flags else 0
    try:
        if "F" in flags:
            regexes = [re.compile(re.escape(p), reflags) for p in patterns]
        else:
            regexes = [re.compile(_bre_to_python(p, extended="E" in flags), reflags) for p in patterns]
    except re.error as e:
        ctx.err(f"grep: bad regex: {e}\n")
        return 2
    inputs, code = _read_inputs(ctx, files, "grep")
    matched_any = False
    multi = len(inputs) > 1
    for name, data in inputs:
        count = 0
        text = data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for n, line in enumerate(lines, 1):
            if "x" in flags:
                hit = any(r.fullmatch(line) for r in regexes)
            elif "w" in flags:
                hit = any(re.search(rf"\b(?:{r.pattern})\b", line, reflags) for r in regexes)
            else:
                hit = any(r.search(line) for r in regexes)
            if hit == ("v" in flags):
                continue
            if max_count is not None and count >= max_count:
                break
            count += 1
            matched_any = True
            if "q" in flags:
                return 0
            if "c" in flags or "l" in flags:
                continue
            prefix = (f"{name}:" if multi and "h" not in flags else "") + (f"{n}:" if "n" in flags else "")
            if "o" in flags and "v" not in flags:
                for r in regexes:
                    for m in r.finditer(line):
                        ctx.out(f"{prefix}{m.group(0)}\n")
            else:
                ctx.out(f"{prefix}{line}\n")
        if "c" in flags:
            ctx.out((f"{name}:" if multi else "") + f"{count}\n")
        if "l" in flags and count:
            ctx.out(f"{name}\n")
    if code:
        return code
    return 0 if matched_any else 1


def _bre_to_python(pattern: str, *, extended: bool) -> str:
    if extended:
        return pattern
    # Basic regex: \| \( \) \{ \} \+ \? are operators, bare ( ) | { } + ? are literals.
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            d = pattern[i + 1]
            out.append(d if d in "|(){}+?" else "\\" + d)
            i += 2
            continue
        out.append("\\" + c if c in "|(){}+?" else c)
        i += 1
    return "".join(out)


def _head_tail(ctx: ExecContext) -> int:
    prog = ctx.prog
    args = ctx.argv[1:]
    count = 10
    files: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-n" and i + 1 < len(args):
            count = int(args[i + 1].lstrip("+")) if args[i + 1].lstrip("+-").isdigit() else 10
            i += 2
            continue
        if re.fullmatch(r"-n?\d+", a):
            count = int(a.lstrip("-n"))
        else:
            files.append(a)
        i += 1
    inputs, code = _read_inputs(ctx, files, prog)
    for _, data in inputs:
        lines = data.splitlines(keepends=True)
        sel = lines[:count] if prog == "head" else lines[-count:] if count else []
        ctx.out(b"".join(sel))
    return code


def _wc(ctx: ExecContext) -> int:
    flags, files = _split_flags(ctx.argv[1:], "lwcm")
    inputs, code = _read_inputs(ctx, files, "wc")
    for name, data in inputs:
        vals = {
            "l": data.count(b"\n"),
            "w": len(data.split()),
            "c": len(data),
            "m": len(data.decode(errors="replace")),
        }
        keys = [k for k in "lwcm" if k in flags] or ["l", "w", "c"]
        parts = [str(vals[k]) for k in keys]
        ctx.out(" ".join(parts) + ("" if name == "-" else f" {name}") + "\n")
    return code


def _hash(ctx: ExecContext) -> int:
    algo = ctx.prog.replace("sum", "")
    _, files = _split_flags(ctx.argv[1:], "bc")
    inputs, code = _read_inputs(ctx, files, ctx.prog)
    for name, data in inputs:
        ctx.out(f"{hashlib.new(algo, data).hexdigest()}  {name}\n")
    return code


def _date(ctx: ExecContext) -> int:
    fmt_str = "%a %b %e %H:%M:%S %Z %Y"
    for a in ctx.argv[1:]:
        if a.startswith("+"):
            fmt_str = a[1:]
    now = ctx.device.now()
    fmt_str = fmt_str.replace("%N", "000000000").replace("%s", str(int(now)))
    ctx.out(time.strftime(fmt_str, time.localtime(now)) + "\n")
    return 0


def _id(ctx: ExecContext) -> int:
    flags, _ = _split_flags(ctx.argv[1:], "ugGnr")
    if "u" in flags or "g" in flags:
        ctx.out("shell\n" if "n" in flags else "2000\n")
    else:
        ctx.out(
            "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),"
            "1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats) "
            "context=u:r:shell:s0\n"
        )
    return 0


def _whoami(ctx: ExecContext) -> int:
    ctx.out("shell\n")
    return 0


def _uname(ctx: ExecContext) -> int:
    flags, _ = _split_flags(ctx.argv[1:], "asnrvmo")
    if "a" in flags:
        ctx.out(
            "Linux localhost 5.15.110-android14-11 #1 SMP PREEMPT Mon Jan 1 00:00:00 UTC 2024 x86_64 Toybox\n"
        )
    elif "r" in flags:
        ctx.out("5.15.110-android14-11\n")
    elif "m" in flags:
        ctx.out("x86_64\n")
    else:
        ctx.out("Linux\n")
    return 0


def _base64(ctx: ExecContext) -> int:
    import base64

    flags, files = _split_flags(ctx.argv[1:], "dwi")
    inputs, code = _read_inputs(ctx, files[:1], "base64")
    for _, data in inputs:
        if "d" in flags:
            try:
                ctx.out(base64.b64decode(b"".join(data.split()), validate=False))
            except ValueError:
                ctx.err("base64: bad input\n")
                return 1
        else:
            enc = base64.b64encode(data).decode()
            ctx.out("\n".join(enc[i : i + 76] for i in range(0, len(enc), 76)) + "\n")
    return code


def _seq(ctx: ExecContext) -> int:
    try:
        nums = [int(a) for a in ctx.argv[1:]]
    except ValueError:
        ctx.err("seq: not a number\n")
        return 1
    if len(nums) == 1:
        rng = range(1, nums[0] + 1)
    elif len(nums) == 2:
        rng = range(nums[0], nums[1] + 1)
    elif len(nums) == 3 and nums[1]:
        rng = range(nums[0], nums[2] + (1 if nums[1] > 0 else -1), nums[1])
    else:
        ctx.err("seq: bad arguments\n")
        return 1
    ctx.out("".join(f"{n}\n" for n in itertools.islice(rng, 100_000)))
    return 0


_SHELL_ONLY = {"cd", "exit", "export", "unset", "command", "pwd", ":"}

BUILTINS: dict[str, Handler] = {
    "echo": _echo,
    "printf": _printf,
    "true": _true,
    ":": _true,
    "false": _false,
    "exit": _exit,
    "cat": _cat,
    "rm": _rm,
    "rmdir": _rmdir,
    "mkdir": _mkdir,
    "touch": _touch,
    "cp": lambda ctx: _cp_mv(ctx, False),
    "mv": lambda ctx: _cp_mv(ctx, True),
    "ls": _ls,
    "stat": _stat,
    "sleep": _sleep,
    "which": _which,
    "command": _command,
    "cd": _cd,
    "pwd": _pwd,
    "export": _export,
    "unset": _unset,
    "test": _test,
    "[": _test,
    "grep": _grep,
    "egrep": lambda ctx: _grep(
        ExecContext(["grep", "-E", *ctx.argv[1:]], ctx.stdin, ctx.stdout, ctx.stderr, ctx.shell)
    ),
    "head": _head_tail,
    "tail": _head_tail,
    "wc": _wc,
    "md5sum": _hash,
    "sha1sum": _hash,
    "sha256sum": _hash,
    "date": _date,
    "id": _id,
    "whoami": _whoami,
    "uname": _uname,
    "base64": _base64,
    "seq": _seq,
}


def iter_builtin_names() -> Iterator[str]:
    yield from BUILTINS
