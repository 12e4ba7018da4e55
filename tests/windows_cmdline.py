"""What a Windows Docker engine does with one Dockerfile RUN line, emulated for tests.

No Windows engine runs here, so a RUN line of a Windows Dockerfile is checked by replaying, hop by hop, the
documented rules that turn its text into the argv of the program it finally runs. Each hop below names its
source; the facts were read there, no code was copied. Anything a hop does not model raises `NotModeled`
rather than guessing, so a test built on this emulator fails loudly instead of passing on a wrong model.

Hop 1, the engine (moby's classic builder on Windows; the snapshot read is moby/moby at b985e2313a86, where the
builder lives in daemon/builder/dockerfile/, formerly builder/dockerfile/):
  * daemon/builder/dockerfile/dispatchers_windows.go, `resolveCmdLine`: for the shell form (`RUN text`) the
    original line, less the 3 characters of the instruction name and its leading " \\t\\v\\n", is appended raw
    to the SHELL words joined with single spaces, and the result is ONE element with ArgsEscaped=true. For the
    JSON exec form the arguments are kept as a list (ArgsEscaped=false).
  * daemon/builder/dockerfile/builder_windows.go, `defaultShellForOS`: the default SHELL is ["cmd", "/S", "/C"];
    internals.go, `getShell`, uses the SHELL in effect otherwise.
  * dispatchers.go, `dispatchRun`, with internals.go `withEntrypointOverride` (Entrypoint [""]), create.go
    `mergeAndVerifyConfig` (Entrypoint [""] reset to none) and container.go `getEntrypointAndArgs`: the
    container's Path is Cmd[0], its Args are Cmd[1:].
  * daemon/oci_windows.go, `createSpecWindowsFields`: with ArgsEscaped the process CommandLine is Path as it is
    (the shell form: no escaping at all); otherwise Args = [Path, *Args], and
    daemon/internal/libcontainerd/local/local_windows.go, `setCommandLineAndArgs`/`escapeArgs`, joins them with
    spaces after `windows.EscapeArg` on every element, the program name included.
  * EscapeArg: vendor/golang.org/x/sys/windows/exec_windows.go `EscapeArg`, the same rules as Go's
    src/syscall/exec_windows.go `EscapeArg`/`appendEscapeArg`/`makeCmdLine` (golang/go).
  * The line itself: vendor/github.com/moby/buildkit/frontend/dockerfile/parser/parser.go, `Parse`,
    `trimContinuationCharacter` (regex ``([^\\\\])\\\\[ \\t]*$|^\\\\[ \\t]*$`` kept char, nothing inserted),
    `processLine` (leading whitespace stripped on the first line only), line_parsers.go `parseMaybeJSON` /
    `parseJSON` (exec form only when the rest parses as a JSON array of strings), instructions/commands.go
    `newWithNameAndCode` (the original is TrimSpace'd).

Hop 2, how the started program splits its command line. Not every program uses the same rules:
  * "shell32", CommandLineToArgvW. Docs: "CommandLineToArgvW function (shellapi.h)",
    https://learn.microsoft.com/windows/win32/api/shellapi/nf-shellapi-commandlinetoargvw (2n backslashes +
    quote -> n backslashes and a toggle of "in quotes"; 2n+1 -> n backslashes and a literal quote; a leading
    whitespace makes argv[0] empty). Two behaviours that page leaves out were observed on Windows and reported
    to Microsoft: MicrosoftDocs/cpp-docs issue #3291 (`a"b"" c d` gives `ab"`, `c`, `d`: inside quotes `""` is
    a literal quote AND ends the quoted part) and issue #3697 (argv[0] is the program name: up to the next
    quote if it starts with one, else up to the next whitespace, backslashes and quotes literal). Go's own
    splitter (golang/go src/os/exec_windows.go, `readNextArg`, "Prior to 2008" rule) treats `""` the same way.
  * "ucrt", the Microsoft C runtime's startup code. Docs: "Parsing C command-line arguments",
    https://learn.microsoft.com/cpp/c-language/parsing-c-command-line-arguments, and "main function and
    command-line arguments (C++)", section "Parsing C++ command-line arguments",
    https://learn.microsoft.com/cpp/cpp/main-function-command-line-args: the same backslash rules; argv[0]
    may contain quoted parts, whose quotes are dropped; inside quotes `""` is one literal quote and the quoted
    part goes on (the table's `a"b"" c d` gives `ab" c d`).
  * "go": Go programs (go.exe, argoexec.exe), golang/go src/os/exec_windows.go `commandLineToArgv` and
    `readNextArg`: the "shell32" rules for `""`, with no special argv[0].
  * "msys": bash.exe and sh.exe of Git for Windows run on the MSYS2 runtime, whose splitter is
    msys2/msys2-runtime winsup/cygwin/dcrt0.cc, `next_arg` (MSVCRT-like, but a single quote quotes too, and
    `""` inside quotes is a literal quote that keeps the quoted part open), then `build_argv`/`globify` (an
    unquoted word with ?*[(){} or a leading ~ is globbed against the disk, a later word starting with @ is
    replaced by a file's content): those words raise NotModeled, the disk being unknown.
  A program not listed in `PROGRAM_SPLITTERS` may use either Microsoft rule set; the emulator splits with both
  and raises NotModeled when they disagree.

Hop 3, powershell.exe (Windows PowerShell 5.1, as in servercore):
  * Docs "about_PowerShell_exe" (5.1),
    https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_powershell_exe?view=powershell-5.1
    (-Command: every argument after it is part of the command to execute); source PowerShell/PowerShell
    src/Microsoft.PowerShell.ConsoleHost/host/msh/CommandLineParameterParser.cs, `ParseCommand`:
    `string.Join(' ', args, i, args.Length - i)`: the split arguments, double quotes already removed, are
    joined with single spaces into one script.
  * The script's grammar: src/System.Management.Automation/engine/parser/tokenizer.cs, `ScanGenericToken`,
    `ScanParameter`, `ScanVariable`, `ScanStringLiteral`, `ScanStringExpandable`, `ScanDollarInStringExpandable`,
    `Backtick`; CharTraits.cs (`ForceStartNewToken`: whitespace, newline, ; , | & ( ) { }; the typographic quotes
    count as quotes). Docs: about_Quoting_Rules, about_Special_Characters (5.1), about_Parsing.
  * The native command line it builds: src/System.Management.Automation/engine/NativeCommandParameterBinder.cs,
    `BindParameters`/`appendOneNativeArgument` as imported from Windows PowerShell's own source in 2016 (commit
    f5410a18ce): each argument is ToString'd; an empty one is left out; one with whitespace outside an even
    number of double quotes is wrapped in double quotes with NOTHING escaped; the rest is passed as it is.
    (PowerShell 6+ also doubles trailing backslashes, PowerShell/PowerShell#4965; 5.1 does not.) The process is
    started by .NET Framework's Process.Start: microsoft/referencesource
    System/services/monitoring/system/diagnosticts/Process.cs, `BuildCommandLine`: the quoted file name, a space,
    then those arguments.

Hop 3', cmd.exe (the default SHELL): docs "cmd", https://learn.microsoft.com/windows-server/administration/windows-commands/cmd
and `cmd /?` ("Otherwise, old behavior is to see if the first character is a quote character and if so, strip the
leading character and remove the last quote character on the command line, preserving any text after the last
quote character"; /S always selects that behaviour). Only %NAME% expansion and a single external command are
modelled.

Hop 4 (`bash_c_words`): what bash does with `-c STRING`, as a small POSIX word split (quotes, backslashes,
$NAME and ${NAME}); its limits are in its docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_WINDOWS_SHELL",
    "PROGRAM_SPLITTERS",
    "SPLITTERS",
    "Hop",
    "NotModeled",
    "RunInstruction",
    "bash_c_words",
    "cmd_c_command_line",
    "command_line_to_argv",
    "container_command_line",
    "escape_arg",
    "final_argv",
    "logical_lines",
    "parse_run",
    "powershell_command_line_for",
    "powershell_invocations",
    "powershell_script",
    "run_chain",
    "split_command_line",
]

# moby daemon/builder/dockerfile/builder_windows.go, defaultShellForOS.
DEFAULT_WINDOWS_SHELL: tuple[str, ...] = ("cmd", "/S", "/C")


class NotModeled(ValueError):
    """The input needs a rule this emulator does not implement; guessing would make tests lie."""


# ---------------------------------------------------------------------------------------------------------------
# Hop 1: the Dockerfile line and the engine.
# ---------------------------------------------------------------------------------------------------------------


def logical_lines(dockerfile: str, escape: str = "\\") -> list[str]:
    """The instructions of a Dockerfile, one string each, continuation lines joined as buildkit's parser does.

    parser.go `Parse`: a comment line is dropped, also inside a continuation; an empty continuation line is
    dropped; the escape character at the end of a line (optionally followed by blanks) is removed and the next
    line is appended with nothing in between and its own leading whitespace kept (`processLine` strips it only
    on an instruction's first line). Parser directives and heredocs are not interpreted.
    """
    cont = re.compile(r"([^" + re.escape(escape) + r"])" + re.escape(escape) + r"[ \t]*$|^" + re.escape(escape)
                      + r"[ \t]*$")
    out: list[str] = []
    lines = dockerfile.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r\n").lstrip()
        i += 1
        if not line or line.startswith("#"):
            continue
        joined, more = _trim_continuation(cont, line)
        while more and i < len(lines):
            nxt = lines[i].rstrip("\r\n")
            i += 1
            if nxt.lstrip().startswith("#") or not nxt.strip():
                continue
            part, more = _trim_continuation(cont, nxt)
            joined += part
        out.append(joined)
    return out


def _trim_continuation(cont: re.Pattern[str], line: str) -> tuple[str, bool]:
    if cont.search(line):
        return cont.sub(r"\1", line), True
    return line, False


@dataclass(frozen=True)
class RunInstruction:
    """One RUN line: `exec_args` for the JSON exec form, else `shell_text` (the raw text after RUN)."""

    exec_args: tuple[str, ...] | None
    shell_text: str | None


def parse_run(instruction: str) -> RunInstruction:
    """Split a `RUN ...` line (continuations already joined) into its exec or shell form.

    instructions/commands.go `newWithNameAndCode` trims the line; dispatchers_windows.go `resolveCmdLine` then
    drops len("run") characters and TrimLeft(" \\t\\v\\n"). line_parsers.go `parseMaybeJSON`: the exec form only
    if the rest is a JSON array; an array holding a non-string is an error, anything else is shell text.
    """
    original = instruction.strip()
    if not re.match(r"(?i)run(\s|$)", original):
        raise ValueError(f"not a RUN instruction: {instruction!r}")
    rest = original[3:].lstrip(" \t\v\n")
    if rest.startswith("--"):
        # dispatchRun: "the --X option requires BuildKit" in the classic builder.
        raise NotModeled(f"RUN flags are refused by the classic builder: {rest.split()[0]}")
    if rest.lstrip().startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ValueError("exec form must be a JSON array of strings")
            if not value:
                raise NotModeled("RUN [] has no command")
            return RunInstruction(exec_args=tuple(value), shell_text=None)
    if not rest:
        raise ValueError("RUN without a command")
    return RunInstruction(exec_args=None, shell_text=rest)


def escape_arg(arg: str) -> str:
    """One argument escaped as Go's `EscapeArg` does (x/sys/windows and syscall, exec_windows.go).

    Empty -> `""`; a backslash run is doubled only when a double quote follows it; every `"` gets a backslash;
    the whole is wrapped in double quotes only if it holds a space or a tab (then a trailing backslash run is
    doubled too, so that it does not escape the closing quote).
    """
    if not arg:
        return '""'
    has_space = " " in arg or "\t" in arg
    if '"' not in arg and "\\" not in arg:
        return f'"{arg}"' if has_space else arg
    out: list[str] = ['"'] if has_space else []
    slashes = 0
    for ch in arg:
        if ch == "\\":
            slashes += 1
        elif ch == '"':
            out.append("\\" * slashes + "\\")
            slashes = 0
        else:
            slashes = 0
        out.append(ch)
    if has_space:
        out.append("\\" * slashes + '"')
    return "".join(out)


def container_command_line(run: RunInstruction | str, shell: Sequence[str] | None = None) -> str:
    """The CommandLine the engine gives the container's first process for this RUN line.

    Shell form (dispatchers_windows.go `resolveCmdLine` + oci_windows.go `createSpecWindowsFields` with
    ArgsEscaped): " ".join(SHELL) + " " + text, nothing escaped, not even SHELL words holding spaces. Exec form
    (local_windows.go `escapeArgs`): every element through `escape_arg`, joined with spaces.
    """
    if isinstance(run, str):
        run = parse_run(run)
    if run.exec_args is not None:
        return " ".join(escape_arg(a) for a in run.exec_args)
    words = list(shell) if shell else list(DEFAULT_WINDOWS_SHELL)
    return " ".join(words) + " " + (run.shell_text or "")


# ---------------------------------------------------------------------------------------------------------------
# Hop 2: how a program splits its command line.
# ---------------------------------------------------------------------------------------------------------------

_WS = " \t"


def _program_name_shell32(cmd: str) -> tuple[str, int]:
    # Issue #3697 / the docs' "if lpCmdLine starts with any amount of whitespace, ... the first argument [is]
    # an empty string": argv[0] ends at the next quote when it starts with one, else at the next whitespace.
    if cmd.startswith('"'):
        end = cmd.find('"', 1)
        if end < 0:
            return cmd[1:], len(cmd)
        return cmd[1:end], end + 1
    i = 0
    while i < len(cmd) and cmd[i] not in _WS:
        i += 1
    return cmd[:i], i


def _program_name_ucrt(cmd: str) -> tuple[str, int]:
    # "Parsing C command-line arguments": argv[0] may hold quoted parts, whose quotes are dropped; the later
    # (backslash) rules do not apply to it.
    out: list[str] = []
    in_quotes = False
    i = 0
    while i < len(cmd) and (in_quotes or cmd[i] not in _WS):
        if cmd[i] == '"':
            in_quotes = not in_quotes
        else:
            out.append(cmd[i])
        i += 1
    return "".join(out), i


def _split_rest(cmd: str, i: int, doubled_quote_ends: bool) -> list[str]:
    """The arguments after argv[0], with the shared backslash rules and the given `""`-inside-quotes rule."""
    args: list[str] = []
    n = len(cmd)
    while True:
        while i < n and cmd[i] in _WS:
            i += 1
        if i >= n:
            return args
        out: list[str] = []
        in_quotes = False
        while i < n and (in_quotes or cmd[i] not in _WS):
            ch = cmd[i]
            if ch == "\\":
                j = i
                while j < n and cmd[j] == "\\":
                    j += 1
                count = j - i
                if j < n and cmd[j] == '"':
                    out.append("\\" * (count // 2))
                    if count % 2:
                        out.append('"')
                        i = j + 1
                    else:
                        i = j  # the quote is handled below, as a delimiter
                    continue
                out.append("\\" * count)
                i = j
                continue
            if ch == '"':
                if in_quotes and i + 1 < n and cmd[i + 1] == '"':
                    out.append('"')
                    i += 2
                    # shell32/Go (issue #3291, readNextArg): the quoted part ends; UCRT (docs table): it goes on.
                    if doubled_quote_ends:
                        in_quotes = False
                    continue
                in_quotes = not in_quotes
                i += 1
                continue
            out.append(ch)
            i += 1
        args.append("".join(out))


def _split_shell32(cmd: str) -> list[str]:
    name, i = _program_name_shell32(cmd)
    return [name, *_split_rest(cmd, i, doubled_quote_ends=True)]


def _split_ucrt(cmd: str) -> list[str]:
    name, i = _program_name_ucrt(cmd)
    return [name, *_split_rest(cmd, i, doubled_quote_ends=False)]


def _split_go(cmd: str) -> list[str]:
    # os/exec_windows.go commandLineToArgv: no special argv[0]; leading blanks are skipped.
    return _split_rest(cmd, 0, doubled_quote_ends=True)


def _split_msys(cmd: str) -> list[str]:
    """dcrt0.cc `next_arg`, then the checks standing in for `build_argv`'s @file and `globify`'s glob(3)."""
    args: list[str] = []
    n = len(cmd)
    i = 0
    while True:
        while i < n and cmd[i] in _WS:
            i += 1
        if i >= n:
            return args
        out: list[str] = []
        quote = ""  # the quote character that opened the quoted part, if in one
        while i < n and (quote or cmd[i] not in _WS):
            ch = cmd[i]
            if ch == "\\":
                j = i
                while j < n and cmd[j] == "\\":
                    j += 1
                count = j - i
                # "All backslashes are literal, except these before a quote"; a single quote counts too.
                at_quote = j < n and (cmd[j] == quote if quote else cmd[j] in "\"'")
                out.append("\\" * (count // 2 if at_quote else count))
                if at_quote and count % 2:
                    out.append(cmd[j])
                    i = j + 1
                else:
                    i = j
                continue
            if (ch == quote) if quote else ch in "\"'":
                if quote and i + 1 < n and cmd[i + 1] == quote:
                    out.append(ch)  # "The infamous \"\" special case: emit literal '\"', no change."
                    i += 2
                else:
                    quote = "" if quote else ch
                    i += 1
                continue
            out.append(ch)
            i += 1
        word = "".join(out)
        _msys_check_word(word, first=not args, command_line=cmd)
        args.append(word)


def _msys_check_word(word: str, first: bool, command_line: str) -> None:
    # build_argv replaces a later word starting with @ by a file's content, and globify runs glob(3) with
    # GLOB_TILDE | GLOB_BRACE on words holding ?*[ (){} or a leading ~, keeping the word only when nothing
    # matches. What is on the disk is unknown here, and so is how far quoting protects a word (quotepos), so
    # every word that could match something is refused, quoted or not. A word whose only such characters are
    # ( ) { } without a comma can match nothing but a file named like itself; it is accepted as it is.
    if (word.startswith("@") and not first) or word.startswith("~") or any(c in word for c in "*?["):
        raise NotModeled(f"MSYS could expand the word {word!r} of {command_line!r} from the disk")
    if re.search(r"\{[^}]*,[^}]*\}", word):
        raise NotModeled(f"MSYS would brace-expand the word {word!r} of {command_line!r}")


SPLITTERS = {
    "shell32": _split_shell32,
    "ucrt": _split_ucrt,
    "go": _split_go,
    "msys": _split_msys,
}

# Programs whose splitter is known. bash/sh: Git for Windows (MSYS2 runtime); go/argoexec: Go binaries.
PROGRAM_SPLITTERS: dict[str, str] = {
    "bash": "msys",
    "sh": "msys",
    "go": "go",
    "gofmt": "go",
    "argoexec": "go",
}


def split_command_line(command_line: str, rules: str = "shell32") -> list[str]:
    """argv from a Windows command line under one rule set: "shell32", "ucrt", "go" or "msys"."""
    try:
        splitter = SPLITTERS[rules]
    except KeyError:
        raise ValueError(f"unknown rules {rules!r}; one of {sorted(SPLITTERS)}") from None
    return splitter(command_line)


def command_line_to_argv(command_line: str) -> list[str]:
    """CommandLineToArgvW (see the module docstring for its sources)."""
    return _split_shell32(command_line)


def _program_key(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def _argv_for(command_line: str, rules: str | None) -> tuple[list[str], str]:
    """The program's argv; with no known rules, both Microsoft rule sets must agree."""
    if rules is None:
        rules = PROGRAM_SPLITTERS.get(_program_key(_program_name_shell32(command_line)[0]))
    if rules is not None:
        return split_command_line(command_line, rules), rules
    a, b = _split_shell32(command_line), _split_ucrt(command_line)
    if a != b:
        raise NotModeled(f"CommandLineToArgvW and the C runtime split {command_line!r} differently: {a} vs {b}")
    return a, "shell32"


# ---------------------------------------------------------------------------------------------------------------
# Hop 3: powershell.exe -Command.
# ---------------------------------------------------------------------------------------------------------------

# Switches of powershell.exe 5.1 (about_PowerShell_exe) that take no value / one value.
_PS_FLAGS = ("noprofile", "nologo", "noexit", "noninteractive", "sta", "mta")
_PS_VALUED = ("executionpolicy", "inputformat", "outputformat", "windowstyle", "version", "configurationname",
              "psconsolefile")


def _ps_switch(arg: str, names: Sequence[str]) -> bool:
    # CommandLineParameterParser.MatchSwitch: a switch may be abbreviated to any unambiguous prefix.
    key = arg[1:].lower()
    return bool(key) and any(n.startswith(key) for n in names)


def powershell_script(argv: Sequence[str]) -> str:
    """The script powershell.exe runs for its argv (argv[0] included): the args after -Command joined by ' '."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith(("-", "/")):
            raise NotModeled(f"powershell.exe argument before -Command: {arg!r}")
        key = arg[1:].lower()
        if key and "command".startswith(key):
            rest = list(argv[i + 1:])
            if not rest:
                raise ValueError("powershell.exe: -Command needs a value")
            if rest == ["-"]:
                raise NotModeled("powershell -Command - reads the script from standard input")
            return " ".join(rest)  # CommandLineParameterParser.ParseCommand: string.Join(' ', ...)
        if key in ("encodedcommand", "ec", "e", "file", "f") or key.startswith(("enc", "fil")):
            raise NotModeled(f"powershell.exe {arg} is not modelled")
        if _ps_switch(arg, _PS_FLAGS):
            i += 1
        elif _ps_switch(arg, _PS_VALUED):
            i += 2
        else:
            raise NotModeled(f"powershell.exe switch {arg!r} is not modelled")
    raise NotModeled("powershell.exe without -Command starts an interactive session")


_SQ = "'\u2018\u2019\u201a\u201b"  # CharTraits IsSingleQuote
_DQ = '"\u201c\u201d\u201e'  # CharTraits IsDoubleQuote
_PS_BREAK = set(" \t\v\f\r\n;,|&(){}\x00")  # CharTraits ForceStartNewToken
# about_Special_Characters (5.1): `0 `a `b `f `n `r `t `v; any other character after a backtick is itself.
_PS_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_PS_VAR_CHARS = re.compile(r"[A-Za-z0-9_?]")


@dataclass
class _PsToken:
    kind: str  # "generic", "string" (quoted at the start), "variable" (a lone $var), "parameter"
    text: str  # as written
    value: str | None = None  # the expanded string; for "variable", the variable's path, looked up when used
    expanded: bool = False  # a $ or a quote took part


@dataclass
class _PsState:
    env: Mapping[str, str]
    variables: dict[str, str] = field(default_factory=dict)

    def lookup(self, name: str) -> str | None:
        scope, sep, rest = name.partition(":")
        if sep and scope.lower() == "env":
            # Windows environment names are case-insensitive.
            for key, value in self.env.items():
                if key.lower() == rest.lower():
                    return value
            return None
        if sep:
            raise NotModeled(f"PowerShell variable with scope or drive: ${name}")
        if name.lower() in self.variables:
            return self.variables[name.lower()]
        raise NotModeled(f"PowerShell variable ${name} is neither $env: nor assigned earlier in the script")


class _PsTokenizer:
    """Enough of PowerShell's command-mode tokenizer (tokenizer.cs) for one native command per statement."""

    def __init__(self, script: str, state: _PsState) -> None:
        self.s = script
        self.i = 0
        self.state = state

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else "\x00"

    def statements(self) -> Iterator[list[_PsToken]]:
        """Statement by statement, so that an assignment is recorded before the next one is read."""
        stmt: list[_PsToken] = []
        while self.i < len(self.s):
            c = self.peek()
            if c == "`" and self.peek(1) in "\r\n":
                self.i += 2  # line continuation
            elif c in " \t\v\f":
                self.i += 1
            elif c in ";\r\n":
                self.i += 1
                if stmt:
                    yield stmt
                stmt = []
            elif c == "#" or (c == "<" and self.peek(1) == "#"):
                if c == "<":
                    raise NotModeled("PowerShell block comment")
                while self.i < len(self.s) and self.peek() not in "\r\n":
                    self.i += 1
            elif c in "|&(){},@<>" or (c.isdigit() and self.peek(1) == ">"):
                raise NotModeled(f"PowerShell operator {c!r} at {self.s[self.i:self.i + 20]!r}")
            else:
                stmt.append(self.token())
        if stmt:
            yield stmt

    def _end_check(self, what: str) -> None:
        # A quoted string at a token's start ends at its closing quote; a character glued to it would start a
        # second token (tokenizer.cs NextToken). How the parser then binds the two is not modelled.
        if self.i < len(self.s) and self.peek() not in _PS_BREAK:
            raise NotModeled(f"PowerShell {what} followed directly by {self.peek()!r}")

    def token(self) -> _PsToken:
        start = self.i
        c = self.peek()
        if c in _SQ:
            self.i += 1
            value = self.single_quoted()
            self._end_check("single-quoted string")
            return _PsToken("string", self.s[start:self.i], value, True)
        if c in _DQ:
            self.i += 1
            value = self.double_quoted()
            self._end_check("double-quoted string")
            return _PsToken("string", self.s[start:self.i], value, True)
        if c == "-" and self.peek(1).isalpha():
            tok = self.parameter()
            if tok is not None:
                return tok
            self.i = start
        if c == "$":
            tok = self.lone_variable()
            if tok is not None:
                return tok
            self.i = start
        return self.generic()

    def parameter(self) -> _PsToken | None:
        # ScanParameter: letters go on; : ends it with a colon (not modelled); . [ and the breakers end it; a
        # quote turns the whole token into a generic one; any other character is appended, unexpanded. Only
        # plain names are accepted here, to stay on what was read.
        start = self.i
        self.i += 1
        while self.peek().isalnum() or self.peek() in "-_":
            self.i += 1
        nxt = self.peek()
        if nxt in _SQ or nxt in _DQ:
            return None
        if self.i < len(self.s) and nxt not in _PS_BREAK:
            raise NotModeled(f"PowerShell parameter token {self.s[start:self.i + 1]!r}...")
        text = self.s[start:self.i]
        return _PsToken("parameter", text, text)

    def lone_variable(self) -> _PsToken | None:
        # A token that is only $name / ${name} is a variable expression: its value is passed as it is ($null
        # being left out); followed by . or [ it would be member access or indexing (not modelled); followed by
        # any other non-breaking character it is rescanned as a generic token (ScanVariable).
        start = self.i
        self.i += 1
        name = self.variable_name()
        if name is None:
            return None
        nxt = self.peek()
        if nxt in ".[=":
            raise NotModeled(f"PowerShell member access, index or assignment glued to {self.s[start:self.i]}")
        if self.i < len(self.s) and nxt not in _PS_BREAK:
            return None
        return _PsToken("variable", self.s[start:self.i], name, True)

    def variable_name(self) -> str | None:
        """After a `$`: the variable's path, or None if `$` is literal here. `$(` is refused."""
        c = self.peek()
        if c == "(":
            raise NotModeled("PowerShell subexpression $( )")
        if c == "{":
            self.i += 1
            name: list[str] = []
            while True:
                ch = self.peek()
                if ch == "\x00" and self.i >= len(self.s):
                    raise ValueError("PowerShell: missing } of ${")
                self.i += 1
                if ch == "}":
                    break
                if ch == "`":
                    esc = self.peek()
                    self.i += 1
                    name.append(_PS_ESCAPES.get(esc, esc))
                    continue
                name.append(ch)
            return "".join(name)
        if c in "$^?":
            raise NotModeled(f"PowerShell automatic variable ${c}")
        if self.i >= len(self.s) or not (_PS_VAR_CHARS.match(c) or c.isalnum()):
            return None
        name = []
        while True:
            ch = self.peek()
            if self.i < len(self.s) and (_PS_VAR_CHARS.match(ch) or ch.isalnum()):
                name.append(ch)
                self.i += 1
            elif ch == ":" and self.peek(1) != ":" and name:
                name.append(ch)
                self.i += 1
            else:
                break
        return "".join(name)

    def single_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise ValueError("PowerShell: unterminated single-quoted string")
            ch = self.peek()
            self.i += 1
            if ch in _SQ:
                if self.peek() in _SQ and self.i < len(self.s):
                    out.append(self.peek())  # '' is one quote
                    self.i += 1
                    continue
                return "".join(out)
            out.append(ch)

    def double_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise ValueError("PowerShell: unterminated double-quoted string")
            ch = self.peek()
            self.i += 1
            if ch in _DQ:
                if self.peek() in _DQ and self.i < len(self.s):
                    out.append(self.peek())  # "" is one quote
                    self.i += 1
                    continue
                return "".join(out)
            if ch == "`" and self.i < len(self.s):
                esc = self.peek()
                self.i += 1
                out.append(_PS_ESCAPES.get(esc, esc))
                continue
            if ch == "$":
                name = self.variable_name()
                if name is not None:
                    out.append(self.state.lookup(name) or "")
                    continue
            out.append(ch)

    def generic(self) -> _PsToken:
        # ScanGenericToken: up to a ForceStartNewToken character; backtick escapes, embedded '...' (literal) and
        # "..." (expandable) parts and $variables are all part of the one token.
        start = self.i
        out: list[str] = []
        expanded = False
        while self.i < len(self.s) and self.peek() not in _PS_BREAK:
            ch = self.peek()
            self.i += 1
            if ch == "`":
                if self.i < len(self.s):
                    esc = self.peek()
                    self.i += 1
                    out.append(_PS_ESCAPES.get(esc, esc))
                else:
                    out.append(ch)
                continue
            if ch in _SQ:
                out.append(self.single_quoted())
                expanded = True
                continue
            if ch in _DQ:
                out.append(self.double_quoted())
                expanded = True
                continue
            if ch == "$":
                name = self.variable_name()
                if name is not None:
                    out.append(self.state.lookup(name) or "")
                    expanded = True
                    continue
            if ch in "<>":
                raise NotModeled("PowerShell redirection")
            out.append(ch)
        text = self.s[start:self.i]
        value = "".join(out)
        if text == "--%":
            raise NotModeled("PowerShell stop-parsing token --%")
        if not expanded and _looks_numeric(value):
            raise NotModeled(f"PowerShell parses {value!r} as a number; its string form is not modelled")
        return _PsToken("generic", text, value, expanded)


# A PowerShell number literal (about_Numeric_Literals): such a bareword reaches a native command as the number's
# string form, which is its text only for plain decimal integers.
# The type suffixes of later versions are included: refusing a few more words costs nothing.
_PS_NUMBER = re.compile(r"(?i)^[+-]?(0x[0-9a-f]+|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)"
                        r"(l|d|u|ul|y|uy|s|us|n)?(kb|mb|gb|tb|pb)?$")


def _looks_numeric(value: str) -> bool:
    return bool(_PS_NUMBER.match(value)) and not re.fullmatch(r"-?(0|[1-9][0-9]*)", value)


# PowerShell 5.1 aliases and functions of common names: these run PowerShell code, not a native program.
_PS_NOT_NATIVE = {
    "cat", "cd", "chdir", "clear", "cls", "copy", "cp", "curl", "del", "dir", "echo", "erase", "gc", "gci", "gi",
    "iex", "iwr", "kill", "ls", "md", "mkdir", "move", "mv", "ni", "popd", "ps", "pushd", "pwd", "rd", "ren", "rm",
    "rmdir", "sc", "set", "sl", "sleep", "sp", "start", "type", "wget", "where", "write", "exit", "return", "if",
    "foreach", "for", "while", "function", "param", "switch", "try", "throw", "trap",
}


def powershell_invocations(script: str, env: Mapping[str, str] | None = None) -> list[list[str]]:
    """The native command invocations of a script: for each, [name, *argument strings] as PowerShell passes them.

    Statements are separated by `;` or newlines. `$name = 'text'` / `$name = "text"` assignments are remembered
    (PowerShell variables are case-insensitive); every other statement must be one native command with plain
    arguments. Empty arguments are left out, as 5.1's `appendOneNativeArgument` does (IsNullOrEmpty).
    """
    state = _PsState(env=env or {})
    calls: list[list[str]] = []
    for stmt in _PsTokenizer(script, state).statements():
        first = stmt[0]
        if len(stmt) >= 2 and first.kind == "variable" and stmt[1].kind == "generic" and stmt[1].text == "=":
            if len(stmt) != 3 or stmt[2].kind != "string":
                raise NotModeled(f"PowerShell assignment other than $x = 'string': {[t.text for t in stmt]}")
            if ":" in (first.value or ""):
                raise NotModeled(f"PowerShell assignment to a scoped variable: {first.text}")
            state.variables[(first.value or "").lower()] = stmt[2].value or ""
            continue
        if first.kind != "generic" or first.expanded:
            raise NotModeled(f"PowerShell statement is an expression, not a command: {first.text!r}")
        name = first.value or ""
        if name.lower() in _PS_NOT_NATIVE or re.fullmatch(r"[A-Za-z]+-[A-Za-z]+", name):
            raise NotModeled(f"{name!r} is a PowerShell cmdlet, alias, function or keyword, not a native program")
        args: list[str] = []
        for tok in stmt[1:]:
            # A lone variable's value is passed as it is; $null and "" are both left out (IsNullOrEmpty).
            value = state.lookup(tok.value or "") if tok.kind == "variable" else tok.value
            if value:
                args.append(value)
        calls.append([name, *args])
    return calls


def _ps51_needs_quotes(arg: str) -> bool:
    # NativeCommandParameterBinder (2016 import of Windows PowerShell's source): whitespace outside an even
    # number of double quotes; backslashes are not looked at.
    quotes = 0
    for ch in arg:
        if ch == '"':
            quotes += 1
        elif ch.isspace() and quotes % 2 == 0:
            return True
    return False


def powershell_command_line_for(invocation: Sequence[str]) -> str:
    """The CreateProcess command line Windows PowerShell 5.1 builds for [name, *args].

    .NET Framework Process.cs `BuildCommandLine` quotes the file name (here the name as written: the real one is
    the path PowerShell resolved); each argument is wrapped in bare double quotes if it needs them, nothing in
    it escaped.
    """
    name, *args = invocation
    parts = [f'"{name}"']
    for arg in args:
        parts.append(f'"{arg}"' if _ps51_needs_quotes(arg) else arg)
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Hop 3': cmd.exe /S /C.
# ---------------------------------------------------------------------------------------------------------------

_CMD_INTERNAL = {
    "assoc", "break", "call", "cd", "chdir", "cls", "color", "copy", "date", "del", "dir", "echo", "endlocal",
    "erase", "exit", "for", "ftype", "goto", "if", "md", "mkdir", "mklink", "move", "path", "pause", "popd",
    "prompt", "pushd", "rd", "rem", "ren", "rename", "rmdir", "set", "setlocal", "shift", "start", "time", "title",
    "type", "ver", "verify", "vol",
}


def cmd_c_command_line(command_line: str, env: Mapping[str, str] | None = None) -> str:
    """The command line cmd.exe starts for `cmd [/X ...] /C string` running one external program.

    The /S rule (and the "old behavior" without it): if the string's first character is a quote, it and the
    last quote of the line are removed. Then %NAME% is replaced (case-insensitive; an undefined name is left as
    it is, as on an interactive command line). cmd's operators, ^ escapes, internal commands and the "quotes
    preserved" case of `cmd /C` without /S raise NotModeled. The external program gets the text from its name
    on, as written.
    """
    _name, i = _program_name_shell32(command_line)
    rest = command_line[i:]
    slash_s = False
    while True:
        rest = rest.lstrip(" \t")
        m = re.match(r"/(\S+)", rest)
        if not m:
            raise NotModeled(f"cmd.exe without /C: {command_line!r}")
        switch = m.group(1).lower()
        rest = rest[m.end():]
        if switch in ("c", "k"):
            if switch == "k":
                raise NotModeled("cmd /K keeps running")
            break
        if switch == "s":
            slash_s = True
        elif switch not in ("d", "q") and not re.fullmatch(r"(e|f|v):(on|off)", switch):
            raise NotModeled(f"cmd.exe switch /{switch}")
    text = rest.lstrip(" \t")
    if not slash_s and text.count('"') == 2 and not any(c in text.split('"')[1] for c in "&<>()@^|") \
            and any(c.isspace() for c in text.split('"')[1]):
        # Rule 1 of `cmd /?` depends on whether the quoted string names an executable file on the disk.
        raise NotModeled("cmd /C without /S and one quoted string: depends on the disk")
    if text.startswith('"'):
        last = text.rfind('"')
        text = text[1:last] + text[last + 1:] if last > 0 else text[1:]

    def expand(m: re.Match[str]) -> str:
        name = m.group(1)
        if ":" in name or name.startswith("~"):
            raise NotModeled(f"cmd substring or modifier syntax %{name}%")
        for key, value in (env or {}).items():
            if key.lower() == name.lower():
                return value
        return m.group(0)

    text = re.sub(r"%([^%\s]+)%", expand, text)
    in_quotes = False
    for ch in text:
        if ch == '"':
            in_quotes = not in_quotes
        elif not in_quotes and ch in "&|<>()^":
            raise NotModeled(f"cmd.exe operator or escape {ch!r} in {text!r}")
    name = _program_name_ucrt(text)[0]
    if _program_key(name) in _CMD_INTERNAL or name.startswith("@"):
        raise NotModeled(f"{name!r} is internal to cmd.exe")
    return text.strip(" \t")


# ---------------------------------------------------------------------------------------------------------------
# Hop 4: the whole chain.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hop:
    """One started program: the command line it was given and how it read it."""

    program: str  # the program's name, as written
    command_line: str
    argv: tuple[str, ...]  # as split by that program
    rules: str  # the splitter used, or "powershell"/"cmd"
    script: str | None = None  # powershell: the -Command script


def run_chain(run_instruction: str, shell: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
              rules: str | None = None) -> list[Hop]:
    """Every program started for one RUN line, the engine's first process first, the final program last.

    `shell` is the SHELL in effect (None: cmd /S /C); `env` the container's environment (ENV and the ARG values,
    which the classic builder also puts into the RUN container's environment: dispatchers.go `dispatchRun`);
    `rules` forces the final program's splitter.
    """
    env = env or {}
    command_line = container_command_line(run_instruction, shell)
    hops: list[Hop] = []
    for _depth in range(8):
        name = _program_name_shell32(command_line)[0]
        key = _program_key(name)
        if key == "powershell":
            argv, _ = _argv_for(command_line, None)
            script = powershell_script(argv)
            calls = powershell_invocations(script, env)
            hops.append(Hop(name, command_line, tuple(argv), "powershell", script))
            if len(calls) != 1:
                raise NotModeled(f"the script runs {len(calls)} native commands, not one: {script!r}")
            command_line = powershell_command_line_for(calls[0])
            continue
        if key == "cmd":
            # cmd.exe reads its command line itself, not as an argv: `argv` stays empty.
            hops.append(Hop(name, command_line, (), "cmd"))
            command_line = cmd_c_command_line(command_line, env)
            continue
        argv, used = _argv_for(command_line, rules)
        hops.append(Hop(name, command_line, tuple(argv), used))
        return hops
    raise NotModeled("more than 8 nested shells")


def final_argv(run_instruction: str, shell: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
               rules: str | None = None) -> list[str]:
    """The argv that the program finally run by this RUN line receives (argv[0] as written, not its full path)."""
    return list(run_chain(run_instruction, shell, env, rules)[-1].argv)


# ---------------------------------------------------------------------------------------------------------------
# What bash then does with -c.
# ---------------------------------------------------------------------------------------------------------------


def bash_c_words(bash_argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The argv of the one simple command that `bash [-flags] -c STRING [ARG0 ARGS...]` runs.

    Only the option string's first word split is modelled: blanks separate words; '...' is literal; "..." keeps
    \\$ \\` \\" \\\\ escapes and expands $NAME/${NAME}; an unquoted backslash quotes the next character; $NAME and
    ${NAME} expand from `env` (case-sensitive; unset is empty, as without `set -u`); the positional ARG0... only
    become $0, $1, ..., which are not modelled. Raises NotModeled for operators (; & | < > ( ) newline), command
    substitution, $(( )), parameter operators (${X:-y}), special parameters ($0 $@ $? ...), unquoted glob
    characters, ~ or # at a word's start, brace expansion, an unquoted expansion holding blanks or glob characters
    (field splitting), and a leading NAME=value word. How MSYS then builds the Windows command line of a native
    program (converting POSIX-looking paths among others) is not modelled either.
    """
    env = env or {}
    args = list(bash_argv[1:])
    i = 0
    saw_c = False
    while i < len(args) and args[i].startswith(("-", "+")) and args[i] not in ("-", "--"):
        opt = args[i]
        if opt.startswith(("--", "+")) or "o" in opt or "O" in opt:
            raise NotModeled(f"bash option {opt!r}")
        saw_c = saw_c or "c" in opt[1:]
        i += 1
    if i < len(args) and args[i] == "--":
        i += 1
    if not saw_c:
        raise NotModeled("bash without -c runs a script file or reads standard input")
    if i >= len(args):
        raise ValueError("bash: -c: option requires an argument")
    return _posix_words(args[i], env)


def _posix_words(script: str, env: Mapping[str, str]) -> list[str]:
    words: list[str] = []
    cur: list[str] = []
    quoted = False  # the word had quotes, so it stays even if empty
    started = False
    i = 0
    n = len(script)

    def dollar(j: int) -> tuple[str, int] | None:
        # script[j] == "$"; returns (value, next index) or None for a literal $.
        nxt = script[j + 1] if j + 1 < n else ""
        if nxt == "(":
            raise NotModeled("bash command substitution or arithmetic $( )")
        if nxt == "{":
            end = script.find("}", j + 2)
            if end < 0:
                raise ValueError("bash: bad substitution")
            name = script[j + 2:end]
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise NotModeled(f"bash parameter expansion ${{{name}}}")
            return env.get(name, ""), end + 1
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(script, j + 1)
        if m:
            return env.get(m.group(0), ""), m.end()
        if nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
            raise NotModeled(f"bash special parameter ${nxt}")
        return None

    while i < n:
        ch = script[i]
        if ch in " \t":
            if started:
                if "".join(cur) or quoted:
                    words.append("".join(cur))
                cur, quoted, started = [], False, False
            i += 1
            continue
        if ch in ";&|<>()\n`":
            raise NotModeled(f"bash operator or substitution {ch!r} in {script!r}")
        if not started and ch in "#~":
            raise NotModeled(f"bash {ch!r} at the start of a word")
        started = True
        if ch == "'":
            end = script.find("'", i + 1)
            if end < 0:
                raise ValueError("bash: unterminated single quote")
            cur.append(script[i + 1:end])
            quoted = True
            i = end + 1
        elif ch == '"':
            quoted = True
            i += 1
            while True:
                if i >= n:
                    raise ValueError("bash: unterminated double quote")
                c = script[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and script[i + 1] == "\n":
                    i += 2  # a line continuation
                elif c == "\\" and i + 1 < n and script[i + 1] in '$`"\\':
                    cur.append(script[i + 1])
                    i += 2
                elif c == "`":
                    raise NotModeled("bash command substitution `...`")
                elif c == "$":
                    got = dollar(i)
                    if got is None:
                        cur.append("$")
                        i += 1
                    else:
                        cur.append(got[0])
                        i = got[1]
                else:
                    cur.append(c)
                    i += 1
        elif ch == "\\":
            if i + 1 >= n:
                cur.append("\\")
                i += 1
            elif script[i + 1] == "\n":
                i += 2  # a line continuation
            else:
                cur.append(script[i + 1])
                quoted = True
                i += 2
        elif ch == "$":
            got = dollar(i)
            if got is None:
                cur.append("$")
                i += 1
            else:
                value, i = got
                if any(c in value for c in " \t\n*?["):
                    raise NotModeled(f"bash would field-split or glob the unquoted expansion {value!r}")
                cur.append(value)
        elif ch in "*?[":
            raise NotModeled(f"bash would glob the unquoted {ch!r}")
        elif ch in "{}":
            raise NotModeled("bash brace expansion or group")
        else:
            cur.append(ch)
            i += 1
    if started and ("".join(cur) or quoted):
        words.append("".join(cur))
    if words and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        raise NotModeled(f"bash variable assignment before the command: {words[0]!r}")
    return words
