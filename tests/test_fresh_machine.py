"""`invoke build --base 1909` where a platform engineer first tries it: Python and a network, no Go, no engine.

The network is the suite's registry: the 1909 bases (tests/windows_images.py) and an upstream-shaped
``argoexec:v4.1.2-windows`` are mirrored there, read through ``--mirror`` as a site would. That image's
argoexec.exe is a real Go program: the stand-in Argo tree (tests/argo_standin.py) compiled by Debian's Go
the way upstream's release builds it (constructed: ``make dist/argoexec`` with the tag as ``GIT_COMMIT``,
``GIT_TAG``/``GIT_TREE_STATE`` left at the Dockerfile's ``unknown``, no ``-trimpath``), so what the tool says
its ``argoexec version`` prints is checked against what it prints under Wine. The builds themselves run with a
PATH that has git and make but no ``go``, and a DOCKER_HOST where no engine answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from tests import infra, matrix_facts, windows_images
from tests.argo_standin import make_standin
from tests.cli import ROOT, invoke
from tests.test_compile import wine  # noqa: F401  (the fixture: Debian's Wine, one prefix per session)

TAG = matrix_facts.NEWEST_ARGO
GO_WANTED = next(a.go for a in matrix_facts.MATRIX.argo if a.tag == TAG)


@pytest.fixture(scope="module")
def upstream_built_exe(tmp_path_factory):
    """argoexec.exe built from the stand-in tree as upstream's release job builds it (real Go, constructed stamps)."""
    for tool in ("go", "make", "git"):
        infra.require_binary(tool)
    tree = make_standin(tmp_path_factory.mktemp("upstream-argo") / "tree", tag=TAG)
    env = {**os.environ, "GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local",
           "GOFLAGS": ""}
    done = subprocess.run(["make", "dist/argoexec", f"GIT_COMMIT={TAG}", "GIT_TAG=unknown", "GIT_TREE_STATE=unknown",
                           "HACK_PKG_FILES_AS_PKGS=true"], cwd=tree.path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return (tree.path / "dist" / "argoexec").read_bytes()


@pytest.fixture(scope="module")
def network(registry, tmp_path_factory, upstream_built_exe):
    """The 1909 bases and upstream's argoexec:<tag>-windows in the registry; the --mirror flags that read them."""
    work = tmp_path_factory.mktemp("fresh-images")
    windows_images.push_windows_bases(registry.host, work, prefix="fresh/mcr", releases=[matrix_facts.release("1909")])
    image = work / "upstream-windows"
    windows_images.write_layout(image, [
        {"Files/Windows/System32/cmd.exe": b"MZ cmd"},
        {"Files/app/argoexec.exe": upstream_built_exe, "Files/app/7za.exe": windows_images.UPSTREAM_7ZA},
    ], "windows", "amd64", windows_images.os_version("ltsc2022"))
    windows_images.skopeo_copy(image, f"{registry.host}/fresh/quay/argoproj/argoexec:{TAG}-windows")
    return ("--mirror", f"mcr.microsoft.com={registry.host}/fresh/mcr",
            "--mirror", f"quay.io={registry.host}/fresh/quay")


@pytest.fixture()
def fresh(tmp_path):
    """The environment of a machine with no Go and no engine: PATH holds git and make only."""
    tools = tmp_path / "path"
    tools.mkdir()
    for tool in ("git", "make"):
        (tools / tool).symlink_to(infra.require_binary(tool))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "GO"))}
    env.update(PATH=str(tools), DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock",
               ARGOEXEC_BUILDER_CACHE=str(tmp_path / "cache"))
    assert shutil.which("go", path=env["PATH"]) is None
    return env


def _config(repo: str, tag: str) -> dict:
    skopeo = infra.require_binary("skopeo")
    out = subprocess.run([skopeo, "inspect", "--config", "--tls-verify=false", f"docker://{repo}:{tag}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_no_go_and_no_engine_builds_with_upstreams_binary_and_says_so(registry, network, fresh, tmp_path, wine,  # noqa: F811
                                                                       upstream_built_exe):
    repo = f"{registry.host}/fresh/argoexec"
    result = invoke("build", "--builder", "oci", "--base", "1909", "--to", repo, "--results", str(tmp_path / "r"),
                    *network, env=fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    engine = fresh["DOCKER_HOST"]
    upstream_ref = f"{registry.host}/fresh/quay/argoproj/argoexec:{TAG}-windows"
    fallback = [line for line in result.stdout.splitlines() if "upstream's" in line]
    assert fallback == [f"{TAG}: no Go here to compile argoexec.exe (cannot reach the Docker engine at {engine}; "
                        f"no Go on PATH): using upstream's, from {upstream_ref}; its `argoexec version` prints "
                        "latest+unknown (--binary compiled: compile or fail)"], result.stdout
    # Nothing was cloned: with no Go here, the Argo source was never fetched.
    assert not (tmp_path / "cache" / "argo-src").exists()
    labels = _config(repo, matrix_facts.target_id("1909"))["config"]["Labels"]
    assert labels["io.argoexec-builder.argoexec.origin"] == "upstream"
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "r").glob("*.json")]
    assert record["status"] == "pass" and record["argoexec"].startswith("upstream argoexec sha256:")

    # What the line said the image's argoexec prints is what it prints.
    exe = tmp_path / "argoexec.exe"
    exe.write_bytes(upstream_built_exe)
    run = wine(exe, "version")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[0].strip() == "argoexec: latest+unknown"


def test_binary_compiled_with_no_go_and_no_engine_is_the_one_line_error(network, fresh, tmp_path):
    result = invoke("build", "--builder", "oci", "--base", "1909", "--binary", "compiled", "--out",
                    str(tmp_path / "layout"), *network, env=fresh)
    assert result.returncode == 2, result.stdout + result.stderr
    # The error of a run that must compile, as before: one line, both reasons, before any clone.
    assert result.stderr.startswith("error: no Go to compile argoexec with: docker: cannot reach the Docker engine "
                                    f"at {fresh['DOCKER_HOST']} "), result.stderr
    assert result.stderr.endswith(f"; local: no Go on PATH: install Go >= {GO_WANTED} or use --go docker\n")
    assert result.stderr.count("\n") == 1 and "upstream" not in result.stdout + result.stderr
    assert not (tmp_path / "cache" / "argo-src").exists()
    assert not (tmp_path / "layout").exists()



@pytest.mark.integration
def test_invoke_compile_with_no_go_and_no_engine_stops_before_cloning(fresh, tmp_path):
    result = invoke("compile", "--argo", TAG, "--out", str(tmp_path / "out"), env=fresh)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: no Go to compile argoexec with: docker: cannot reach the Docker engine ")
    assert result.stderr.endswith(f"; local: no Go on PATH: install Go >= {GO_WANTED} or use --go docker\n")
    assert not (tmp_path / "cache" / "argo-src").exists() and not (tmp_path / "out").exists()

# The quick start's command line: exactly this command, then only a comment.
README_COMMAND = re.compile(r"^\$ \.venv/bin/invoke build --base 1909 +#.*\n", flags=re.M)


def _readme_output() -> list[str]:
    """The lines the README's quick start shows under its `invoke build --base 1909`."""
    text = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```console\n(.*?)```", text, flags=re.S) if README_COMMAND.search(b)]
    return README_COMMAND.split(block, 1)[1].rstrip("\n").split("\n")


def test_the_readme_quick_start_shows_what_the_build_prints(registry, network, fresh, tmp_path):
    """The README's command as written, with the suite's registry as the network (--mirror) and the layout
    written under tmp_path (--out): its output is the README's, up to what `…` stands for there."""
    out = tmp_path / "oci"
    # A terminal's run, as the README shows it: not a CI log (whose steps are folded in ::group:: lines).
    terminal = {k: v for k, v in fresh.items() if k not in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")}
    result = invoke("build", "--base", "1909", "--out", str(out), *network, env=terminal)
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout.rstrip("\n")
    for flag, value in zip(network[::2], network[1::2], strict=True):
        assert flag == "--mirror"
        source, mirror = value.split("=", 1)
        text = text.replace(mirror, source)
    for pattern, shown in ((re.escape(f"oci:{out}"), "oci:dist/oci"),
                           (r"sha256:[0-9a-f]{12,64}", "sha256:…"), (r"\(\d+ bytes\)", "(… bytes)"),
                           (r"\b(10\.0\.\d+)\.\d+\)", r"\1.…)"), (r"(`argoexec version` prints) \S+ ", r"\1 … "),
                           (r"^no Docker engine \(.*\); assembling", "no Docker engine (…); assembling"),
                           (re.escape(fresh["DOCKER_HOST"]), "the default socket")):
        text = re.sub(pattern, shown, text, flags=re.M)
    assert text.split("\n") == _readme_output()


# -- what a Go binary's build info says (constructed blobs in Go's layout, see binaries.go_build_settings) ------

def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _with_build_info(settings: dict[str, str], *, at: int = 4096, flags: int = 2) -> bytes:
    """A PE-sized blob with Go 1.18+ build info at ``at``: the header, then the Go version and the module info
    (between 16-byte sentinels), each length-prefixed; values quoted as Go quotes them (strconv.Quote)."""
    lines = ["path\tgithub.com/argoproj/argo-workflows/v4/cmd/argoexec"]
    for key, value in settings.items():
        lines.append(f"build\t{key}=" + (json.dumps(value) if any(c in value for c in ' \t"`') else value))
    info = b"0" * 16 + ("\n".join(lines) + "\n").encode() + b"1" * 16
    header = b"\xff Go buildinf:" + bytes([8, flags]) + bytes(16)
    body = header + _uvarint(8) + b"go1.25.0" + _uvarint(len(info)) + info
    return b"MZ" + bytes(at - 2) + body + bytes(64)


LDFLAGS = ("-X github.com/argoproj/argo-workflows/v4.version={version} -X github.com/argoproj/argo-workflows/v4."
           "buildDate=2024-01-02T03:04:05Z -X github.com/argoproj/argo-workflows/v4.gitCommit={commit} "
           "-X github.com/argoproj/argo-workflows/v4.gitTreeState={state}{tag} -extldflags -static")


@pytest.mark.parametrize(("settings", "expected"), [
    # A clean, tagged build: the tag.
    ({"-ldflags": LDFLAGS.format(version="v4.1.2", commit="0123456789abcdef", state="clean",
                                 tag=" -X github.com/argoproj/argo-workflows/v4.gitTag=v4.1.2")}, "v4.1.2"),
    # No tag stamped: version+commit[:7]; a tree that is not clean: .dirty.
    ({"-ldflags": LDFLAGS.format(version="latest", commit="0123456789abcdef", state="clean", tag="")},
     "latest+0123456"),
    ({"-ldflags": LDFLAGS.format(version="latest", commit="0123456789abcdef", state="dirty", tag="")},
     "latest+0123456.dirty"),
    # The tag passed as the commit (shorter than 7): +unknown.
    ({"-ldflags": LDFLAGS.format(version="latest", commit="v4.1.2", state="unknown",
                                 tag=" -X github.com/argoproj/argo-workflows/v4.gitTag=unknown")}, "latest+unknown"),
    # A -trimpath build records no -ldflags; stamps of another module are not Argo's.
    ({"GOOS": "windows", "-trimpath": "true"}, None),
    ({"-ldflags": "-X example.com/other.version=v9 -s -w"}, None),
])
def test_argoexec_version_from_build_info(tmp_path, settings, expected):
    from builder.binaries import argoexec_version

    exe = tmp_path / "argoexec.exe"
    exe.write_bytes(_with_build_info(settings))
    assert argoexec_version(exe) == expected


def test_build_info_is_read_only_at_its_aligned_header(tmp_path):
    from builder.binaries import go_build_settings

    ldflags = {"-ldflags": LDFLAGS.format(version="latest", commit="0123456789abcdef", state="clean", tag="")}
    exe = tmp_path / "a.exe"
    exe.write_bytes(_with_build_info(ldflags))
    assert go_build_settings(exe)["-ldflags"].startswith("-X github.com/argoproj/argo-workflows/v4.version=latest ")
    for data in (_with_build_info(ldflags, at=4099),  # not 16-byte aligned: not a header
                 _with_build_info(ldflags, flags=0),  # before Go 1.18: pointers, not inline strings
                 b"MZ no build info", b""):
        exe.write_bytes(data)
        assert go_build_settings(exe) == {}
