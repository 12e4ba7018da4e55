"""Input an attacker (or an accident) would give, through the CLI where a user meets it.

Each case must end in one line on stderr and its exit code: never a traceback, a hang, gigabytes of
memory, a file written where it should not be, or a secret printed. A case that could hang or eat the
machine before its fix runs in a real process with a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from builder.table_formats import README_END, README_START
from tests import matrix_facts
from tests.cli import ROOT, invoke
from tests.hostile_http import SilentServer

MATRIX = matrix_facts.TEXT
NEWEST = matrix_facts.MATRIX.newest_argo.tag


def _one_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


# -- a Docker config of any shape ------------------------------------------------------------

ODD_CONFIGS = {
    "a-list": ("[1, 2]", "expected a JSON object"),
    "auths-a-list": ('{"auths": [1]}', "auths: expected an object keyed by registry, not a list"),
    "auth-a-number": ('{"auths": {"elsewhere.example": {"auth": 12345}}}',
                      'auths["elsewhere.example"].auth: expected a string, not a number'),
    "auth-not-base64": ('{"auths": {"elsewhere.example": {"auth": "!!!notbase64"}}}',
                        'auths["elsewhere.example"].auth: not the base64 of user:password'),
    "entry-a-string": ('{"auths": {"elsewhere.example": "user:pw"}}', 'auths["elsewhere.example"]: expected an object'),
    "proxies-a-list": ('{"proxies": []}', "proxies: expected an object"),
    "auth-empty": ('{"auths": {"elsewhere.example": {"auth": ""}}}', 'auths["elsewhere.example"].auth: empty'),
    "nested-deep": ('{"auths": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(ODD_CONFIGS))
def test_an_odd_docker_config_is_one_line_naming_the_file_and_key_before_the_engine_reads_it(tmp_path, case):
    # docker-py reads every entry of the config when the engine client starts (a registry the run never
    # uses included): push, build and smoke on an engine all start there.
    text, words = ODD_CONFIGS[case]
    (tmp_path / "config.json").write_text(text)
    result = invoke("push", "--base", "1809", "--to", "127.0.0.1:5000/argoexec", "--engine",
                    "unix:///nonexistent/none.sock", env=_env(DOCKER_CONFIG=str(tmp_path)))
    line = _one_line(result, 2)
    assert line.startswith(f"error: {tmp_path / 'config.json'}: ") and words in line, line


def _fifo_config(tmp_path):
    os.mkfifo(tmp_path / "config.json")


def _dev_zero_config(tmp_path):
    (tmp_path / "config.json").symlink_to("/dev/zero")


def _deep_config(tmp_path):
    (tmp_path / "config.json").write_text('{"auths": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _list_config(tmp_path):
    (tmp_path / "config.json").write_text('[{"auths": []}]')


@pytest.mark.parametrize("make", [_fifo_config, _dev_zero_config, _deep_config, _list_config],
                         ids=["fifo", "dev-zero", "nested-deep", "a-list"])
def test_redaction_reads_any_docker_config_without_failing_or_waiting(tmp_path, make):
    # Every error line is redacted with the config's secrets: whatever the file is, the error still is
    # one line. A real process, so a wait is a timeout, not a hung suite.
    make(tmp_path)
    result = invoke("plan", "--base", "nosuch", env=_env(DOCKER_CONFIG=str(tmp_path)), process=True, timeout=60)
    assert _one_line(result, 2).startswith("error: --base nosuch: unknown Windows base")


def test_a_fifo_docker_config_is_refused_before_the_engine_waits_on_it(tmp_path):
    os.mkfifo(tmp_path / "config.json")
    result = invoke("push", "--base", "1809", "--to", "127.0.0.1:5000/argoexec", "--engine",
                    "unix:///nonexistent/none.sock", env=_env(DOCKER_CONFIG=str(tmp_path)), process=True, timeout=60)
    assert _one_line(result, 2) == f"error: {tmp_path / 'config.json'}: a FIFO, not a regular file; the Docker " \
                                   "config must be a JSON file"


# -- Ctrl-C ------------------------------------------------------------------------------------


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    engine = SilentServer(tmp_path / "engine.sock")  # an engine that hangs
    try:
        process = subprocess.Popen([sys.executable, "-m", "invoke", "build", "--base", "1809", "--engine",
                                    f"unix://{tmp_path / 'engine.sock'}"], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        try:
            assert engine.accepted.wait(60), "the build never reached the engine"
            time.sleep(0.5)  # into the wait for the engine's answer
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    finally:
        engine.close()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert _one_line(result, 130) == "error: interrupted"


# -- items 4 and 5: a matrix that is no matrix, or would take the machine down ------------------------


def test_a_nul_byte_in_the_matrix_is_one_line_with_its_line(tmp_path):
    path = tmp_path / "matrix.yaml"
    lines = MATRIX.splitlines(keepends=True)
    path.write_text("".join(lines[:5]) + "# a comment\x00\n" + "".join(lines[5:]))
    line = _one_line(invoke("plan", "--matrix", str(path)), 2)
    assert line == f"error: {path}:6: a NUL byte is not allowed in YAML; remove it"


def _billion_laughs() -> str:
    """About 500 bytes of YAML: nine levels of ten aliases each, 10**9 strings once expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX + _billion_laughs().replace("a0:", "x-lol:\n  a0:").replace("\na", "\n  a"))
    started = time.monotonic()
    # A real process with a timeout: before the bound this took about a minute and gigabytes.
    result = invoke("plan", "--matrix", str(path), process=True, timeout=60)
    assert _one_line(result, 2) == (f"error: {path}: more than 20000 values once its aliases are expanded; a matrix "
                                    "needs a few hundred: write the values out, or use fewer nested aliases")
    assert time.monotonic() - started < 30


def test_a_merge_key_bomb_is_refused_too():
    from builder.errors import MatrixError
    from builder.matrix import parse_matrix

    text = "a0: &a0 {" + ", ".join(f"k{i}: v" for i in range(100)) + "}\n"
    text += "a1: &a1 {<<: [" + ", ".join(["*a0"] * 100) + "]}\n"
    text += "a2: {<<: [" + ", ".join(["*a1"] * 100) + "]}\n"
    with pytest.raises(MatrixError, match="more than 20000 values once its aliases are expanded"):
        parse_matrix(text, "m.yaml")


@pytest.mark.parametrize("text,words", [
    ("a: &a [1, *a]\n", "m.yaml:1: an alias refers to a value that contains it"),
    ("[" * 5000 + "]" * 5000 + "\n", "m.yaml: nested too deeply to be a matrix"),
])
def test_self_reference_and_deep_nesting_are_one_line(tmp_path, text, words):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    assert _one_line(invoke("plan", "--matrix", str(path)), 2).startswith(f"error: {tmp_path / words}")


def _fifo(path):
    os.mkfifo(path)
    return "a FIFO, not a regular file"


def _dev_zero(path):
    path.symlink_to("/dev/zero")
    return "a character device, not a regular file"


def _huge(path):
    path.write_text(MATRIX + "#" * (1 << 20) + "\n")
    return "larger than 1 MB, far more than such a file ever needs"


@pytest.mark.parametrize("make", [_fifo, _dev_zero, _huge], ids=["fifo", "dev-zero", "huge"])
def test_a_matrix_that_is_no_regular_file_of_sane_size_is_refused_unread(tmp_path, make):
    path = tmp_path / "matrix.yaml"
    why = make(path)
    result = invoke("plan", "--matrix", str(path), process=True, timeout=60)  # a FIFO would wait for a writer
    assert _one_line(result, 2) == f"error: {path}: {why}; pass --matrix PATH to a matrix.yaml file"


# -- render writes nothing through a symbolic link ---------------------------------------------


@pytest.fixture
def victim(tmp_path):
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "Dockerfile.windows").write_text("precious\n")
    return folder


def _untouched(victim, out, only):
    assert [p.name for p in victim.iterdir()] == ["Dockerfile.windows"]
    assert (victim / "Dockerfile.windows").read_text() == "precious\n"
    assert sorted(p.name for p in out.iterdir()) == [only]  # nothing written for the other targets either


def test_render_refuses_a_symlinked_target_folder(tmp_path, victim):
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{NEWEST}-windows-1809").symlink_to(victim)
    line = _one_line(invoke("render", "--base", "all", "--out", str(out)), 2)
    assert line.startswith(f"error: {out / f'{NEWEST}-windows-1809'}: a symbolic link; render writes no file through")
    _untouched(victim, out, f"{NEWEST}-windows-1809")


def test_render_refuses_a_symlinked_dockerfile(tmp_path, victim):
    out = tmp_path / "out"
    (out / f"{NEWEST}-windows-1809").mkdir(parents=True)
    (out / f"{NEWEST}-windows-1809" / "Dockerfile.windows").symlink_to(victim / "Dockerfile.windows")
    line = _one_line(invoke("render", "--base", "all", "--out", str(out)), 2)
    assert line.startswith(f"error: {out / f'{NEWEST}-windows-1809' / 'Dockerfile.windows'}: a symbolic link")
    _untouched(victim, out, f"{NEWEST}-windows-1809")
    assert [p.name for p in (out / f"{NEWEST}-windows-1809").iterdir()] == ["Dockerfile.windows"]


def test_render_update_refuses_a_symlink_in_the_committed_tree(tmp_path, victim, monkeypatch):
    import shutil

    from builder import render

    committed = tmp_path / "dockerfiles"
    shutil.copytree(render.TEMPLATES, committed)
    linked = committed / f"{NEWEST}-windows-1809"
    shutil.rmtree(linked)
    linked.symlink_to(victim)
    (committed / "v0.0.1-windows-1809").mkdir()  # stale: --update would remove it, but nothing happens at all
    (committed / "v0.0.1-windows-1809" / "Dockerfile.windows").write_text("stale\n")
    monkeypatch.setattr(render, "TEMPLATES", committed)
    line = _one_line(invoke("render", "--update"), 2)
    assert line.startswith(f"error: {linked}: a symbolic link")
    assert (victim / "Dockerfile.windows").read_text() == "precious\n"
    assert (committed / "v0.0.1-windows-1809" / "Dockerfile.windows").read_text() == "stale\n"


def test_render_refuses_an_empty_out():
    before = set(ROOT.iterdir())
    try:
        line = _one_line(invoke("render", "--base", "1809", "--out", ""), 2)
        assert line == "error: --out '': give the folder to write into, e.g. --out build (or --out . for this one)"
    finally:
        import shutil

        for made in set(ROOT.iterdir()) - before:  # what the run wrote into the project, if it did
            shutil.rmtree(made)
    assert set(ROOT.iterdir()) == before


# -- a password written into a flag is never shown ---------------------------------------------

PASSWORD = "hunter2-secret"


@pytest.mark.parametrize("args,start", [
    (("push", "--base", "1809", "--to", f"bob:{PASSWORD}@reg.example:5000/argoexec"),
     "error: --to ***@reg.example:5000/argoexec: give the repository without user:password@"),
    (("build", "--builder", "oci", "--base", "1809", "--to", f"bob:{PASSWORD}@reg.example:5000/argoexec"),
     "error: --to ***@reg.example:5000/argoexec: give the repository without user:password@"),
    (("publish", "--to", f"https://bob:{PASSWORD}@reg.example:5000/argoexec", "--readme", ""),
     "error: --to https://***@reg.example:5000/argoexec: give the repository without user:password@"),
    (("build", "--builder", "oci", "--base", "1809", "--mirror", f"mcr.microsoft.com=bob:{PASSWORD}@reg.example/mcr"),
     "error: --mirror mcr.microsoft.com=***@reg.example/mcr: give the mirror without user:password@"),
    (("build", "--builder", "oci", "--base", "1809", "--mirror", f"bob:{PASSWORD}@mcr.microsoft.com=reg.example/mcr"),
     "error: --mirror ***@mcr.microsoft.com=reg.example/mcr: give the mirror without user:password@"),
    (("publish", "--mirror", f"mcr.microsoft.com=bob:{PASSWORD}@reg.example/mcr", "--readme", ""),
     "error: --mirror mcr.microsoft.com=***@reg.example/mcr: give the mirror without user:password@"),
], ids=["push-to", "build-to", "publish-to-url", "mirror-to", "mirror-from", "publish-mirror"])
def test_a_password_in_to_or_mirror_is_refused_and_never_shown(tmp_path, args, start):
    result = invoke(*args, "--matrix", str(ROOT / "matrix.yaml"), *(
        ("--docs", str(tmp_path / "docs"), "--db", str(tmp_path / "r.sqlite")) if args[0] == "publish" else ()))
    assert _one_line(result, 2).startswith(start)
    assert PASSWORD not in result.stdout + result.stderr
    assert not (tmp_path / "docs").exists()


def test_a_password_in_a_matrix_destination_is_not_shown(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace("local: localhost:5000/argoexec", f"local: bob:{PASSWORD}@localhost:5000/argoexec"))
    result = invoke("plan", "--matrix", str(path))
    assert "***@localhost:5000/argoexec" in _one_line(result, 2)
    assert PASSWORD not in result.stdout + result.stderr


def test_the_error_line_of_any_failure_hides_a_password_given_in_a_flag():
    from builder.secrets import flag_secrets, redact

    extra = flag_secrets([f"bob:{PASSWORD}@reg.example/x", [f"a=b:{PASSWORD}2@c/d"], "ssh://argo@host/x", None])
    assert extra == (PASSWORD, f"{PASSWORD}2")
    assert redact(f"cannot reach bob:{PASSWORD}@reg.example", extra) == "cannot reach bob:***@reg.example"


# -- publishes at once, and names that end in a newline ---------------------------------------


# Runs `invoke ARGS...` in a real process, as `python -m invoke` does, but only once every process of the
# race is ready: the imports (most of a run's second) are done first, so the publishes overlap for sure
# instead of by luck. Each process marks itself ready in FOLDER and waits for COUNT marks.
_AT_ONCE = """
import sys, time
from pathlib import Path
import invoke, tasks  # noqa: F401 - the slow part, before the start
folder, count, args = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
(folder / f"{__import__('os').getpid()}").touch()
while len(list(folder.iterdir())) < count:
    time.sleep(0.002)
invoke.Program(name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"],
               version=invoke.__version__).run(["invoke", *args])
"""


def test_sixteen_publishes_at_once_into_one_docs_folder_all_succeed_and_leave_no_temporary_files(tmp_path):
    readme = tmp_path / "README.md"
    old_readme = f"# x\n\n{README_START}\nold\n{README_END}\n"
    readme.write_text(old_readme)
    docs, db, ready = tmp_path / "docs", tmp_path / "results.sqlite", tmp_path / "ready"
    args = ("publish", "--docs", str(docs), "--db", str(db), "--readme", str(readme))
    assert invoke(*args).returncode == 0  # the database exists before the race: the race is about the files
    readme.write_text(old_readme)  # so that every publish of the race has the README section to write
    ready.mkdir()
    processes = [subprocess.Popen([sys.executable, "-c", _AT_ONCE, str(ready), "16", *args], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(16)]
    results = [(*p.communicate(timeout=120), p.returncode) for p in processes]
    assert [code for _, _, code in results] == [0] * 16, [err for _, err, code in results if code]
    assert sorted(p.name for p in docs.iterdir()) == ["compatibility.json", "compatibility.md", "index.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "docs", "ready", "results.sqlite", *(
        name for name in ("results.sqlite-shm", "results.sqlite-wal") if (tmp_path / name).exists())]
    assert "docs/compatibility.md" in readme.read_text() and "old" not in readme.read_text()


def test_the_written_files_keep_the_mode_a_plain_write_gives(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n")
    readme.chmod(0o664)
    old_umask = os.umask(0o022)
    try:
        result = invoke("publish", "--docs", str(tmp_path / "docs"), "--db", str(tmp_path / "r.sqlite"),
                        "--readme", str(readme))
    finally:
        os.umask(old_umask)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "docs" / "index.html").stat().st_mode & 0o777 == 0o644
    assert readme.stat().st_mode & 0o777 == 0o664


@pytest.mark.parametrize("old,new,where", [
    ('  - name: "1809"\n', '  - name: "1809\\n"\n', "windows[0].name"),
    ("  - name: ws2019\n", '  - name: "ws2019\\n"\n', "runners[0].name"),
    ("  - version: v4.1.2\n", '  - version: "v4.1.2\\n"\n', "argo[0].version"),
    ("    go: 1.26.5\n", '    go: "1.26.5\\n"\n', "argo[0].go"),
    ("    labels: [windows-2022]\n", '    labels: ["windows-2022\\n"]\n', "runners[1].labels[0]"),
    ("local: localhost:5000/argoexec", 'local: "localhost:5000/argoexec\\n"', "registries.destinations.local"),
])
def test_a_name_with_a_trailing_newline_is_refused(tmp_path, old, new, where):
    assert old in MATRIX
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace(old, new, 1))
    line = _one_line(invoke("plan", "--matrix", str(path)), 2)
    assert f": {where}: " in line and "\\n" in line, line


def test_a_compile_tag_with_a_trailing_newline_is_refused(tmp_path):
    line = _one_line(invoke("compile", "--source", str(tmp_path), "--argo", "v4.1.2\n"), 2)
    assert line == "error: --argo 'v4.1.2\\n': not a tag (letters, digits, '.', '_', '+', '-')"
