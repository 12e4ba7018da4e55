"""Tests of the Windows command-line emulator (tests/windows_cmdline.py) against its documented sources.

Each expected value comes from a named source (a documentation table, a reported observation on Windows, or
the grammar the module docstring cites); the comments say which. Every assertion compares exact argv lists.
"""

from __future__ import annotations

import pytest

from tests.windows_cmdline import (
    DEFAULT_WINDOWS_SHELL,
    NotModeled,
    bash_c_words,
    cmd_c_command_line,
    command_line_to_argv,
    container_command_line,
    escape_arg,
    final_argv,
    logical_lines,
    parse_run,
    powershell_command_line_for,
    powershell_invocations,
    powershell_script,
    run_chain,
    split_command_line,
)

# The SHELL of dockerfiles/Dockerfile.windows.j2 (builder and argo-build stages).
PS_SHELL = ["powershell", "-NoProfile", "-Command",
            "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
ENV = {"GIT_COMMIT": "0123abcd", "GIT_TAG": "v4.1.2", "GIT_TREE_STATE": "clean"}

# ---------------------------------------------------------------------------------------------------------------
# Microsoft's documented table ("Parsing C command-line arguments", MicrosoftDocs/cpp-docs
# docs/c-language/parsing-c-command-line-arguments.md, "Command-line input | argv[1] | argv[2] | argv[3]").
# The inputs follow the program name, so each is prefixed with one here and argv[0] is left out.
# ---------------------------------------------------------------------------------------------------------------

MICROSOFT_TABLE = [
    (r'"a b c" d e', ["a b c", "d", "e"]),
    (r'"ab\"c" "\\" d', ['ab"c', "\\", "d"]),
    (r'a\\\b d"e f"g h', [r"a\\\b", "de fg", "h"]),
    (r'a\\\"b c d', [r'a\"b', "c", "d"]),
    (r'a\\\\"b c" d e', [r"a\\b c", "d", "e"]),
]


@pytest.mark.parametrize(("line", "expected"), MICROSOFT_TABLE)
@pytest.mark.parametrize("rules", ["shell32", "ucrt", "go", "msys"])
def test_microsoft_documented_table(rules: str, line: str, expected: list[str]) -> None:
    # The five rows without `""` hold for every splitter, MSYS's included (single quotes absent).
    assert split_command_line("prog " + line, rules)[1:] == expected


def test_microsoft_documented_table_doubled_quote_c_runtime() -> None:
    # Last row of Microsoft's documented table, for the C runtime: `""` inside quotes is one literal quote and
    # the quoted part goes on.
    assert split_command_line('prog a"b"" c d', "ucrt") == ["prog", 'ab" c d']


def test_doubled_quote_commandlinetoargvw_reported_on_windows() -> None:
    # The same input through CommandLineToArgvW, as run on Windows in MicrosoftDocs/cpp-docs issue #3291: the
    # quoted part ends after the literal quote. Go's readNextArg ("Prior to 2008" rule) agrees.
    assert command_line_to_argv('"program.exe" a"b"" c d') == ["program.exe", 'ab"', "c", "d"]
    assert split_command_line('program.exe a"b"" c d', "go") == ["program.exe", 'ab"', "c", "d"]


@pytest.mark.parametrize(("line", "expected"), [
    # CommandLineToArgvW's argv[0] as run on Windows in MicrosoftDocs/cpp-docs issue #3697: up to the next
    # whitespace (backslashes and quotes literal) or, when it starts with a quote, up to the next quote.
    (r'123\"abc" d e', [r'123\"abc"', "d", "e"]),
    (r'"abc" d e', ["abc", "d", "e"]),
    (r'a\\\b d"e f"g h', [r"a\\\b", "de fg", "h"]),
    (r'a\\\"b c d', [r'a\\\"b', "c", "d"]),
    (r'a\\\\"b c" d e', [r'a\\\\"b', "c d e"]),
])
def test_commandlinetoargvw_first_argument(line: str, expected: list[str]) -> None:
    assert command_line_to_argv(line) == expected


def test_commandlinetoargvw_leading_whitespace_gives_empty_program_name() -> None:
    # "CommandLineToArgvW function (shellapi.h)": leading whitespace makes the first argument an empty string;
    # trailing whitespace is ignored.
    assert command_line_to_argv("  a b  ") == ["", "a", "b"]


def test_c_runtime_first_argument_drops_its_quotes() -> None:
    # "Parsing C command-line arguments": quoted parts of argv[0] are allowed, their quotes dropped, and the
    # backslash rules do not apply to it.
    assert split_command_line(r'"C:\Program Files\x"\.exe a', "ucrt") == [r"C:\Program Files\x\.exe", "a"]


def test_unknown_program_needs_both_microsoft_rule_sets_to_agree() -> None:
    # A program whose runtime is unknown could use either rule set; where they differ the emulator refuses.
    # EscapeArg never writes `""` inside quotes, so the exec form is safe either way...
    assert final_argv('RUN ["tool.exe", "a\\"b\\"\\" c d"]') == ["tool.exe", 'a"b"" c d']
    # ...while the same text in shell form is read differently by the two.
    with pytest.raises(NotModeled, match="differently"):
        run_chain('RUN tool.exe a"b"" c d', shell=["tool0.exe"])


# ---------------------------------------------------------------------------------------------------------------
# MSYS2 (bash.exe, sh.exe of Git for Windows): msys2-runtime winsup/cygwin/dcrt0.cc next_arg / globify.
# ---------------------------------------------------------------------------------------------------------------


def test_msys_single_quotes_quote_too() -> None:
    # "Single-quote is our addition": MSYS groups 'a b'; CommandLineToArgvW keeps the quotes as text.
    assert split_command_line("bash -c 'a b'", "msys") == ["bash", "-c", "a b"]
    assert command_line_to_argv("bash -c 'a b'") == ["bash", "-c", "'a", "b'"]


def test_msys_doubled_quote_keeps_quoting() -> None:
    # next_arg: "The infamous \"\" special case: emit literal '\"', no change."
    assert split_command_line('bash a"b"" c d', "msys") == ["bash", 'ab" c d']


@pytest.mark.parametrize("word", ["*.go", "a?b", "[ab]", "~/x", "{a,b}", "@args.txt"])
def test_msys_refuses_words_it_would_expand_from_the_disk(word: str) -> None:
    with pytest.raises(NotModeled):
        split_command_line(f"bash {word}", "msys")


# ---------------------------------------------------------------------------------------------------------------
# Go's EscapeArg (x/sys/windows and syscall exec_windows.go), used by moby for the exec form.
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("arg", "escaped"), [
    # Vectors of golang/go src/syscall/exec_windows_test.go, TestEscapeArg.
    ("", '""'),
    ("a", "a"),
    (" ", '" "'),
    ("\\", "\\"),
    ('"', '\\"'),
    ('\\"', '\\\\\\"'),
    ("\\\\ ", '"\\\\ "'),
    (" \\\\", '" \\\\\\\\"'),
    ("C:\\Program Files (x32)\\Common\\", '"C:\\Program Files (x32)\\Common\\\\"'),
    ("\\\\server\\share\\file", "\\\\server\\share\\file"),
])
def test_escape_arg_go_vectors(arg: str, escaped: str) -> None:
    assert escape_arg(arg) == escaped


TRICKY = ["", "a b", 'say "hi"', "C:\\dir with space\\", 'x\\"y', "tab\there", '\\\\"', "end\\"]


@pytest.mark.parametrize("rules", ["shell32", "ucrt", "go"])
def test_escape_arg_round_trips_through_every_microsoft_splitter(rules: str) -> None:
    line = "prog " + " ".join(escape_arg(a) for a in TRICKY)
    assert split_command_line(line, rules) == ["prog", *TRICKY]


# ---------------------------------------------------------------------------------------------------------------
# moby's classic builder on Windows: resolveCmdLine, createSpecWindowsFields, escapeArgs.
# ---------------------------------------------------------------------------------------------------------------


def test_default_shell_is_cmd_s_c() -> None:
    assert DEFAULT_WINDOWS_SHELL == ("cmd", "/S", "/C")
    assert container_command_line("RUN echo hi") == "cmd /S /C echo hi"


def test_shell_form_is_appended_raw_and_shell_words_are_not_escaped() -> None:
    # resolveCmdLine: strings.Join(shell, " ") + " " + the original text, so the SHELL's last word, which holds
    # spaces, is NOT quoted; the RUN text keeps its quotes and backslashes.
    line = container_command_line(r'run   bash -c "x \"y\""', PS_SHELL)
    assert line == ("powershell -NoProfile -Command $ErrorActionPreference = 'Stop'; "
                    r"$ProgressPreference = 'SilentlyContinue'; bash -c "
                    r'"x \"y\""')


def test_exec_form_is_escaped_argument_by_argument() -> None:
    # escapeArgs: EscapeArg on every element, the program name included, joined with spaces.
    run = parse_run(r'RUN ["C:\\Program Files\\Git\\bin\\bash.exe", "-c", "echo \"a b\""]')
    assert run.exec_args == ("C:\\Program Files\\Git\\bin\\bash.exe", "-c", 'echo "a b"')
    assert container_command_line(run, PS_SHELL) == '"C:\\Program Files\\Git\\bin\\bash.exe" -c "echo \\"a b\\""'


def test_exec_form_needs_a_json_array_of_strings() -> None:
    # parseMaybeJSON: not JSON -> shell form; a JSON array with a non-string -> error.
    assert parse_run("RUN [ not json").shell_text == "[ not json"
    with pytest.raises(ValueError):
        parse_run('RUN ["a", 1]')


def test_logical_lines_join_continuations_as_buildkit_does() -> None:
    # parser.go: the escape character and what follows it are removed, the next line appended as it is (its
    # indentation kept); comment lines inside the continuation are dropped.
    text = "FROM x\n# c\nRUN a; \\\n    # inside\n    b \\\n\n    c\n"
    assert logical_lines(text) == ["FROM x", "RUN a;     b     c"]


# ---------------------------------------------------------------------------------------------------------------
# powershell.exe -Command (about_PowerShell_exe; CommandLineParameterParser.ParseCommand) and its grammar.
# ---------------------------------------------------------------------------------------------------------------


def test_command_arguments_are_joined_with_single_spaces() -> None:
    argv = command_line_to_argv('powershell -NoProfile -Command echo "a   b"  c')
    assert argv == ["powershell", "-NoProfile", "-Command", "echo", "a   b", "c"]
    assert powershell_script(argv) == "echo a   b c"


@pytest.mark.parametrize(("argv", "error"), [
    (["powershell", "-File", "x.ps1"], NotModeled),
    (["powershell", "-Command", "-"], NotModeled),
    (["powershell", "-NoProfile"], NotModeled),
    (["powershell", "-Command"], ValueError),
])
def test_powershell_exe_forms_not_modelled(argv: list[str], error: type[Exception]) -> None:
    with pytest.raises(error):
        powershell_script(argv)


def test_powershell_switches_may_be_abbreviated() -> None:
    assert powershell_script(["powershell", "-nop", "-ExecutionPolicy", "Bypass", "-c", "x", "y"]) == "x y"


def test_single_quotes_are_literal_and_double_quotes_expand() -> None:
    # about_Quoting_Rules: '' is one quote in a single-quoted string; "..." expands $env:X and ${env:X}, "" is
    # one quote, backtick escapes (about_Special_Characters: `t is a tab, `$ a dollar).
    calls = powershell_invocations(
        """prog 'it''s $env:GIT_TAG' "t=$env:GIT_TAG ${env:GIT_COMMIT} ""q"" `$x a`tb" """, ENV)
    assert calls == [["prog", "it's $env:GIT_TAG", 't=v4.1.2 0123abcd "q" $x a\tb']]


def test_barewords_expand_variables_and_keep_embedded_quotes() -> None:
    # ScanGenericToken: ${env:X} and $env:X expand in a bareword; embedded '...' and "..." parts belong to it;
    # environment names are case-insensitive on Windows.
    calls = powershell_invocations("""prog GIT_COMMIT=${env:git_commit} a'b c'd x"$ENV:GIT_TAG y" `"z""", ENV)
    assert calls == [["prog", "GIT_COMMIT=0123abcd", "ab cd", "xv4.1.2 y", '"z']]


def test_assignments_are_remembered_and_empty_arguments_left_out() -> None:
    # Windows PowerShell 5.1 (appendOneNativeArgument, IsNullOrEmpty) drops empty and $null arguments.
    script = "$v = 'one two'; prog $v '' $env:UNDEFINED \"$v\" -x"
    assert powershell_invocations(script, ENV) == [["prog", "one two", "one two", "-x"]]


@pytest.mark.parametrize("script", [
    "prog $(whoami)", "prog | more", "Write-Host hi", "echo hi", "prog --% a", "prog 'a'b", "prog $x",
    "prog 0x10", "prog -o:x", "prog $env:X.Length", "prog a,b", "& prog",
])
def test_powershell_constructs_not_modelled(script: str) -> None:
    with pytest.raises(NotModeled):
        powershell_invocations(script, ENV)


def test_windows_powershell_quotes_arguments_without_escaping() -> None:
    # NativeCommandParameterBinder as imported from Windows PowerShell in 2016: an argument with whitespace is
    # wrapped in double quotes, embedded quotes and trailing backslashes untouched (#4965 came in PowerShell 6).
    line = powershell_command_line_for(["bash", "-c", 'echo "a b"', "C:\\dir x\\", 'k="v w"'])
    assert line == '"bash" -c "echo "a b"" "C:\\dir x\\" k="v w"'
    # ...which bash (MSYS) then reads as other arguments than PowerShell had.
    assert split_command_line(line, "msys") == ["bash", "-c", "echo a", "b", 'C:\\dir x" k=v', "w"]


# ---------------------------------------------------------------------------------------------------------------
# cmd.exe /S /C (docs "cmd" and `cmd /?`).
# ---------------------------------------------------------------------------------------------------------------


def test_default_shell_runs_a_go_program() -> None:
    hops = run_chain("RUN argoexec version")
    assert [h.program for h in hops] == ["cmd", "argoexec"]
    assert hops[-1].command_line == "argoexec version"
    assert final_argv("RUN argoexec version") == ["argoexec", "version"]


def test_cmd_s_strips_the_first_and_the_last_quote() -> None:
    # "strip the leading character and remove the last quote character on the command line": the quotes that
    # were meant for the program path are lost, so the path splits at its space.
    assert cmd_c_command_line('cmd /S /C "C:\\Program Files\\x.exe" "a b"') == 'C:\\Program Files\\x.exe" "a b'
    assert final_argv('RUN "C:\\Program Files\\x.exe" "a b"') == ["C:\\Program", "Files\\x.exe a", "b"]


def test_cmd_expands_percent_variables() -> None:
    # Names are case-insensitive; an undefined one is left as written.
    assert final_argv("RUN argoexec %git_tag% %NOPE%", env=ENV) == ["argoexec", "v4.1.2", "%NOPE%"]


@pytest.mark.parametrize("text", ["a && b", "a > f", "echo hi", "a ^& b", "set X=1"])
def test_cmd_constructs_not_modelled(text: str) -> None:
    with pytest.raises(NotModeled):
        final_argv(f"RUN {text}")


# ---------------------------------------------------------------------------------------------------------------
# The two RUN forms of the Windows Dockerfile, end to end, and what bash then runs.
# ---------------------------------------------------------------------------------------------------------------

DOUBLE_QUOTED_RUN = ('RUN bash -c "make dist/argoexec GIT_COMMIT=${env:GIT_COMMIT} GIT_TAG=${env:GIT_TAG} '
                     'GIT_TREE_STATE=${env:GIT_TREE_STATE} HACK_PKG_FILES_AS_PKGS=true"')


def test_double_quoted_bash_c_under_powershell_loses_its_quotes() -> None:
    hops = run_chain(DOUBLE_QUOTED_RUN, PS_SHELL, ENV)
    assert [h.program for h in hops] == ["powershell", "bash"]
    # CommandLineToArgvW removed the double quotes before -Command joined the arguments:
    assert hops[0].script == ("$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; "
                              "bash -c make dist/argoexec GIT_COMMIT=${env:GIT_COMMIT} GIT_TAG=${env:GIT_TAG} "
                              "GIT_TREE_STATE=${env:GIT_TREE_STATE} HACK_PKG_FILES_AS_PKGS=true")
    argv = final_argv(DOUBLE_QUOTED_RUN, PS_SHELL, ENV)
    assert argv == ["bash", "-c", "make", "dist/argoexec", "GIT_COMMIT=0123abcd", "GIT_TAG=v4.1.2",
                    "GIT_TREE_STATE=clean", "HACK_PKG_FILES_AS_PKGS=true"]
    # So bash runs a bare `make` (the rest become $0, $1, ...): the default target, no GIT_* values.
    assert bash_c_words(argv, ENV) == ["make"]


def test_single_quoted_bash_c_under_powershell_keeps_one_argument_but_powershell_does_not_expand() -> None:
    run = "RUN bash -c 'make dist/argoexec GIT_COMMIT=$env:GIT_COMMIT GIT_TAG=$env:GIT_TAG'"
    argv = final_argv(run, PS_SHELL, ENV)
    # One argument, as written: single-quoted strings are literal in PowerShell, so $env:... is NOT replaced.
    assert argv == ["bash", "-c", "make dist/argoexec GIT_COMMIT=$env:GIT_COMMIT GIT_TAG=$env:GIT_TAG"]
    # bash then reads $env (unset) followed by ":GIT_COMMIT".
    assert bash_c_words(argv, ENV) == ["make", "dist/argoexec", "GIT_COMMIT=:GIT_COMMIT", "GIT_TAG=:GIT_TAG"]


def test_single_quoted_bash_c_with_bash_variables_reaches_make_whole() -> None:
    # The ARG values are in the RUN container's environment, so bash can expand them itself. Runs of blanks
    # inside the single quotes collapse: CommandLineToArgvW dropped them before -Command joined with one space.
    run = ("RUN bash -c 'make dist/argoexec GIT_COMMIT=${GIT_COMMIT}  GIT_TAG=$GIT_TAG "
           "GIT_TREE_STATE=$GIT_TREE_STATE HACK_PKG_FILES_AS_PKGS=true'")
    hops = run_chain(run, PS_SHELL, ENV)
    assert hops[-1].command_line == ('"bash" -c "make dist/argoexec GIT_COMMIT=${GIT_COMMIT} GIT_TAG=$GIT_TAG '
                                     'GIT_TREE_STATE=$GIT_TREE_STATE HACK_PKG_FILES_AS_PKGS=true"')
    argv = final_argv(run, PS_SHELL, ENV)
    assert argv == ["bash", "-c", "make dist/argoexec GIT_COMMIT=${GIT_COMMIT} GIT_TAG=$GIT_TAG "
                    "GIT_TREE_STATE=$GIT_TREE_STATE HACK_PKG_FILES_AS_PKGS=true"]
    assert bash_c_words(argv, ENV) == ["make", "dist/argoexec", "GIT_COMMIT=0123abcd", "GIT_TAG=v4.1.2",
                                       "GIT_TREE_STATE=clean", "HACK_PKG_FILES_AS_PKGS=true"]


def test_escaped_double_quotes_let_powershell_expand_and_pass_one_argument() -> None:
    # \" survives CommandLineToArgvW as a literal quote, so PowerShell sees a double-quoted string again.
    run = r'RUN bash -c \"make dist/argoexec GIT_COMMIT=$env:GIT_COMMIT\"'
    argv = final_argv(run, PS_SHELL, ENV)
    assert argv == ["bash", "-c", "make dist/argoexec GIT_COMMIT=0123abcd"]
    assert bash_c_words(argv, ENV) == ["make", "dist/argoexec", "GIT_COMMIT=0123abcd"]


def test_exec_form_bypasses_the_shell() -> None:
    run = 'RUN ["bash", "-c", "make dist/argoexec GIT_COMMIT=$GIT_COMMIT"]'
    assert [h.program for h in run_chain(run, PS_SHELL, ENV)] == ["bash"]
    assert final_argv(run, PS_SHELL, ENV) == ["bash", "-c", "make dist/argoexec GIT_COMMIT=$GIT_COMMIT"]


def test_powershell_running_a_go_program_by_path() -> None:
    run = r"RUN C:\app\argoexec.exe version --short"
    assert final_argv(run, PS_SHELL) == [r"C:\app\argoexec.exe", "version", "--short"]
    assert run_chain(run, PS_SHELL)[-1].rules == "go"


# ---------------------------------------------------------------------------------------------------------------
# bash -c: the small POSIX word split.
# ---------------------------------------------------------------------------------------------------------------


def test_bash_c_words_quotes_and_expansions() -> None:
    argv = ["bash", "-lc", """make 'a b' "c $GIT_TAG \\$d" e\\ f ${GIT_COMMIT}x $UNSET '' """]
    assert bash_c_words(argv, ENV) == ["make", "a b", "c v4.1.2 $d", "e f", "0123abcdx", ""]


@pytest.mark.parametrize("script", [
    "make; ls", "a | b", "echo $(date)", "echo `date`", "ls *.go", "echo ~", "echo $1", "X=1 make",
    "echo ${X:-y}", "echo {a,b}", "echo $SPACED",
])
def test_bash_c_words_refuses_what_it_does_not_model(script: str) -> None:
    with pytest.raises(NotModeled):
        bash_c_words(["bash", "-c", script], {"SPACED": "a b"})


def test_bash_without_c_is_not_modelled() -> None:
    with pytest.raises(NotModeled):
        bash_c_words(["bash", "script.sh"], {})
