"""The stand-in argoexec (tests/pod_standin.py, tests/data/pod_standin) behaves like upstream's for a pod.

On the suite's real Linux engine it runs the pod shape: a fresh volume, ``argoexec init`` from an image
FROM local/base:1 with the stand-in at /bin/argoexec and the volume at /var/run/argo, then the main
container from the plain local/base:1 with the same volume running ``/var/run/argo/argoexec emissary ...
-- sh -c ...``. The failure modes break it visibly. The windows/amd64 build runs under Wine in a prefix
without a Z: drive (tests/pod_standin.py says why). Needs Debian's golang-go, docker.io and wine;
under CI=true a missing one fails the test.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
from dataclasses import dataclass, field

import docker.errors
import pytest

from tests.pod_standin import (
    STANDIN_BUILD_DATE,
    STANDIN_COMMIT,
    PodStandins,
    build_pod_standin,
    executor_image,
    wine_prefix,
)

pytestmark = pytest.mark.integration

LOG_OPTS = ["--loglevel", "info", "--log-format", "text", "--gloglevel", "0"]
# client-go's override: a config, never contacted. http://, for which client-go reads no user identification
# (an https server with no identity makes it prompt on stdin: test_init_refuses_what_upstream_refuses).
SERVER = ["--server", "http://kubernetes.invalid:6443"]
EMISSARY = ["/var/run/argo/argoexec", "emissary", *LOG_OPTS, "--"]
NO_DEADLINE = "0001-01-01T00:00:00Z"


def template(command: list[str]) -> dict:
    return {"name": "hello", "inputs": {}, "outputs": {}, "metadata": {},
            "container": {"name": "", "image": "local/base:1", "command": command, "resources": {}}}


def executor_env(container: str, **extra: str) -> dict:
    """What the controller sets on the executor's containers (workflow/controller/workflowpod.go)."""
    return {"ARGO_POD_NAME": "hello-1234", "ARGO_POD_UID": "8f0c-pod", "ARGO_WORKFLOW_NAME": "hello",
            "ARGO_WORKFLOW_UID": "77aa-wf", "ARGO_CONTAINER_NAME": container, "ARGO_NODE_ID": "hello",
            "ARGO_INCLUDE_SCRIPT_OUTPUT": "false", "ARGO_DEADLINE": NO_DEADLINE, **extra}


@pytest.fixture(scope="session")
def standins(tmp_path_factory) -> PodStandins:
    return PodStandins(tmp_path_factory.mktemp("pod-standin"))


@pytest.fixture(scope="session")
def images(docker_client, base_image, standins):
    """images(mode) -> the tag of an executor image with that stand-in (built once per mode)."""
    built: dict[str, str] = {}

    def image(mode: str = "ok") -> str:
        if mode not in built:
            built[mode] = executor_image(docker_client, base_image, standins(mode), f"local/podstandin-{mode}:1")
        return built[mode]

    yield image
    for tag in built.values():
        docker_client.images.remove(tag, force=True)


@dataclass
class Step:
    name: str
    exit_code: int | None  # None: the engine could not start it
    stdout: str = ""
    stderr: str = ""
    error: str = ""


@dataclass
class Pod:
    steps: list[Step]
    files: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # under /var/run/argo: (mode, content)

    def __getitem__(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)


def _run_step(client, created: list, name: str, image: str, entrypoint: list[str], env: dict,
              volume: str | None) -> Step:
    volumes = {volume: {"bind": "/var/run/argo", "mode": "rw"}} if volume else None
    container = client.containers.create(image, entrypoint=entrypoint, environment=env, volumes=volumes,
                                         network_mode="none")
    created.append(container)
    try:
        container.start()
    except docker.errors.APIError as error:
        return Step(name, None, error=str(error))
    code = container.wait(timeout=60)["StatusCode"]
    return Step(name, code, container.logs(stdout=True, stderr=False).decode(),
                container.logs(stdout=False, stderr=True).decode())


def _volume_files(container) -> dict[str, tuple[int, bytes]]:
    stream, _ = container.get_archive("/var/run/argo")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            path = member.name.partition("/")[2]
            data = tar.extractfile(member).read() if member.isfile() else b""
            files[path + ("/" if member.isdir() else "")] = (member.mode & 0o7777, data)
    return files


def run_pod(client, exec_image: str, main_image: str, main_command: list[str], *, init: bool = True,
            init_args: list[str] | None = None, init_env: dict | None = None, main_env: dict | None = None,
            main_volume: bool = True, emissary: list[str] = EMISSARY) -> Pod:
    """init (unless init=False) then main, sharing a fresh volume; containers and volume are removed."""
    volume = client.volumes.create(name=f"var-run-argo-{uuid.uuid4().hex[:12]}")
    created: list = []
    steps = []
    try:
        if init:
            env = init_env if init_env is not None else executor_env(
                "init", ARGO_TEMPLATE=json.dumps(template(main_command)))
            steps.append(_run_step(client, created, "init", exec_image,
                                   ["argoexec", "init", *LOG_OPTS, *(SERVER if init_args is None else init_args)],
                                   env, volume.name))
            if steps[-1].exit_code != 0:
                return Pod(steps, _volume_files(created[-1]))
        env = main_env if main_env is not None else executor_env("main")
        steps.append(_run_step(client, created, "main", main_image, [*emissary, *main_command], env,
                               volume.name if main_volume else None))
        return Pod(steps, _volume_files(created[-1]) if main_volume else {})
    finally:
        for container in created:
            container.remove(force=True)
        volume.remove(force=True)


HELLO_EXIT_3 = ["sh", "-c", "echo Hello; exit 3"]


def test_version_prints_upstreams_format(standins):
    exe = standins("ok")
    out = subprocess.run([str(exe), "version"], capture_output=True, text=True, check=True).stdout
    go_version = out.split("GoVersion: ")[1].split("\n")[0]
    assert out == ("argoexec: v4.1.2\n"
                   f"  BuildDate: {STANDIN_BUILD_DATE}\n"
                   f"  GitCommit: {STANDIN_COMMIT}\n"
                   "  GitTreeState: clean\n"
                   "  GitTag: v4.1.2\n"
                   f"  GoVersion: {go_version}\n"
                   "  Compiler: gc\n"
                   "  Platform: linux/amd64\n")
    assert go_version.startswith("go1.")
    short = subprocess.run([str(exe), "version", "--short"], capture_output=True, text=True, check=True)
    assert short.stdout == "argoexec: v4.1.2\n"


def test_helper_refuses_an_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="mode 'broken'"):
        build_pod_standin(tmp_path, mode="broken")


def test_pod_shape_runs_the_command_through_emissary(docker_client, base_image, images, standins):
    pod = run_pod(docker_client, images("ok"), base_image, HELLO_EXIT_3)

    init, main = pod["init"], pod["main"]
    assert init.exit_code == 0, init
    assert 'msg="Starting Workflow Executor"' in init.stderr and "version=v4.1.2" in init.stderr
    mode, binary = pod.files["argoexec"]
    assert mode == 0o555 and binary == standins("ok").read_bytes()
    mode, data = pod.files["template"]
    assert mode == 0o444 and json.loads(data) == template(HELLO_EXIT_3)

    assert main.exit_code == 3, main
    assert main.stdout == "Hello\n"
    assert "Error: exit status 3" in main.stderr
    assert pod.files["ctr/main/"][0] == 0o777
    assert pod.files["ctr/main/exitcode"] == (0o644, b"3")
    assert "ctr/main/stdout" not in pod.files  # script output not asked for


def test_script_output_is_captured_when_asked(docker_client, base_image, images):
    command = ["sh", "-c", "echo 'Hello from Linux Container!'; echo to-stderr >&2"]
    pod = run_pod(docker_client, images("ok"), base_image, command,
                  main_env=executor_env("main", ARGO_INCLUDE_SCRIPT_OUTPUT="true"))
    main = pod["main"]
    assert main.exit_code == 0, main
    assert main.stdout == "Hello from Linux Container!\n"
    assert pod.files["ctr/main/exitcode"][1] == b"0"
    assert pod.files["ctr/main/stdout"] == (0o666, b"Hello from Linux Container!\n")
    mode, combined = pod.files["ctr/main/combined"]  # two pipes: the order of their lines is not fixed
    assert mode == 0o666 and sorted(combined.splitlines()) == [b"Hello from Linux Container!", b"to-stderr"]


def test_no_copy_mode_leaves_main_without_an_executor(docker_client, base_image, images):
    pod = run_pod(docker_client, images("no-copy"), base_image, HELLO_EXIT_3)
    assert pod["init"].exit_code == 0
    assert "template" in pod.files and "argoexec" not in pod.files
    main = pod["main"]
    assert main.exit_code is None and "/var/run/argo/argoexec" in main.error, main


def test_lose_exitcode_mode_writes_no_exitcode(docker_client, base_image, images):
    pod = run_pod(docker_client, images("lose-exitcode"), base_image, HELLO_EXIT_3)
    main = pod["main"]
    assert main.exit_code == 3 and main.stdout == "Hello\n"
    assert "ctr/main/" in pod.files and "ctr/main/exitcode" not in pod.files


def test_wrong_exitcode_mode_reports_success(docker_client, base_image, images):
    pod = run_pod(docker_client, images("wrong-exitcode"), base_image, HELLO_EXIT_3)
    assert pod["main"].exit_code == 3
    assert pod.files["ctr/main/exitcode"][1] == b"0"


def test_main_without_the_volume_cannot_start(docker_client, base_image, images):
    pod = run_pod(docker_client, images("ok"), base_image, HELLO_EXIT_3, main_volume=False)
    assert pod["init"].exit_code == 0
    main = pod["main"]
    assert main.exit_code is None and "/var/run/argo/argoexec" in main.error, main


def _without(env: dict, name: str) -> dict:
    return {key: value for key, value in env.items() if key != name}


INIT_ENV = executor_env("init", ARGO_TEMPLATE=json.dumps(template(HELLO_EXIT_3)))


INIT_FAILURES = [
    ("no pod name", None, _without(INIT_ENV, "ARGO_POD_NAME"), 1,
     "Unable to determine pod name from environment variable ARGO_POD_NAME"),
    ("no node id", None, _without(INIT_ENV, "ARGO_NODE_ID"), 1, "environment variable ARGO_NODE_ID is not set"),
    ("no template", None, _without(INIT_ENV, "ARGO_TEMPLATE"), 1, "environment variable ARGO_TEMPLATE is not set"),
    ("not init", None, {**INIT_ENV, "ARGO_CONTAINER_NAME": "main"}, 1, 'ARGO_CONTAINER_NAME=main, the controller sets'),
    ("no kube config", [], INIT_ENV, 2, "panic: invalid configuration: no configuration has been provided, "
                                        "try setting KUBERNETES_MASTER environment variable"),
    # client-go prompts for a username on stdin for an https server with no identity; a container's stdin is
    # empty (client_config.go getUserIdentificationPartialConfig, auth_loaders.go PromptingAuthLoader.Prompt).
    ("https server, no identity", ["--server", "https://kubernetes.invalid:6443"], INIT_ENV, 2, "panic: EOF"),
    ("bare host made https", ["--server", "kubernetes.invalid:6443", "--insecure-skip-tls-verify"], INIT_ENV, 2,
     "panic: EOF"),
    ("bad template", None, {**INIT_ENV, "ARGO_TEMPLATE": "{not json"}, 2, "panic: invalid character 'n'"),
    ("bad deadline", None, {**INIT_ENV, "ARGO_DEADLINE": "tomorrow"}, 2, 'panic: parsing time "tomorrow"'),
]


@pytest.mark.parametrize(("case", "init_args", "env", "code", "message"), INIT_FAILURES,
                         ids=[case[0] for case in INIT_FAILURES])
def test_init_refuses_what_upstream_refuses(docker_client, base_image, images, case, init_args, env, code,
                                             message):
    pod = run_pod(docker_client, images("ok"), base_image, HELLO_EXIT_3, init_args=init_args, init_env=env)
    init = pod["init"]
    assert init.exit_code == code, init
    assert message in init.stderr, init.stderr
    assert "/" in pod.files  # the volume was listed
    assert "argoexec" not in pod.files and "template" not in pod.files


@pytest.mark.parametrize("server", [["--server", "http://kubernetes.invalid:6443"],
                                    ["--server", "https://kubernetes.invalid:6443", "--token", "constructed"],
                                    ["--server", "kubernetes.invalid:6443"]],
                         ids=["http server", "https server with a token", "bare host is http"])
def test_init_needs_no_prompt_with_an_http_server_or_a_token(docker_client, base_image, images, server):
    pod = run_pod(docker_client, images("ok"), base_image, HELLO_EXIT_3, init_args=server)
    assert pod["init"].exit_code == 0, pod["init"]
    assert "Please enter" not in pod["init"].stdout
    assert pod["main"].exit_code == 3


def test_a_child_killed_by_a_signal_gives_128_plus_the_signal(docker_client, base_image, images):
    pod = run_pod(docker_client, images("ok"), base_image, ["sh", "-c", "kill -TERM $$"])
    assert pod["main"].exit_code == 143, pod["main"]
    assert pod.files["ctr/main/exitcode"][1] == b"143"


def test_emissary_without_the_command_on_path_exits_64_like_upstream(docker_client, base_image, images):
    pod = run_pod(docker_client, images("ok"), base_image, ["no-such-command", "x"])
    main = pod["main"]
    assert main.exit_code == 64, main
    assert 'failed to find name in PATH: exec: "no-such-command": executable file not found in $PATH' in main.stderr
    assert pod.files["ctr/main/exitcode"][1] == b"64"


def test_emissary_without_a_template_exits_64(docker_client, images):
    """No init ran and no ARGO_TEMPLATE: the exit code file still gets upstream's starting value, 64."""
    pod = run_pod(docker_client, images("ok"), images("ok"), ["true"], init=False,
                  emissary=["/bin/argoexec", "emissary", *LOG_OPTS, "--"])
    main = pod["main"]
    assert main.exit_code == 64, main
    assert "neither /var/run/argo/template nor ARGO_TEMPLATE is available" in main.stderr
    assert pod.files["ctr/main/exitcode"][1] == b"64"


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    prefix = wine_prefix(tmp_path_factory.mktemp("wine") / "prefix")
    yield prefix
    prefix.stop()


def test_windows_build_runs_init_and_emissary_under_wine(standins, wine):
    exe = standins("ok", goos="windows")
    program = wine.install(exe)
    version = wine.run(program, "version")
    assert version.returncode == 0 and version.stdout.startswith("argoexec: v4.1.2\n"), version
    assert "  Platform: windows/amd64\n" in version.stdout

    volume = wine.mount()  # C:\var\run\argo, where a Windows kubelet mounts var-run-argo
    command = ["cmd", "/c", "echo Hello from Windows Container! & exit 3"]
    env = executor_env("init", ARGO_TEMPLATE=json.dumps(template(command)))
    init = wine.run(program, "init", *LOG_OPTS, *SERVER, env=env)
    assert init.returncode == 0, init
    assert (volume / "argoexec").read_bytes() == exe.read_bytes()  # no .exe, as upstream
    assert json.loads((volume / "template").read_text()) == template(command)

    # The copy runs without an .exe suffix, as a Windows main container runs C:\var\run\argo\argoexec.
    main = wine.run("C:\\var\\run\\argo\\argoexec", "emissary", *LOG_OPTS, "--", *command,
                    env=executor_env("main", ARGO_INCLUDE_SCRIPT_OUTPUT="true"))
    assert main.returncode == 3, main
    assert "Hello from Windows Container!" in main.stdout
    assert (volume / "ctr" / "main" / "exitcode").read_text() == "3"
    assert "Hello from Windows Container!" in (volume / "ctr" / "main" / "stdout").read_text()

    missing = wine.run("C:\\var\\run\\argo\\argoexec", "emissary", *LOG_OPTS, "--", "no-such-command",
                       env=executor_env("main"))
    assert missing.returncode == 64 and "failed to find name in PATH" in missing.stderr, missing
    assert (volume / "ctr" / "main" / "exitcode").read_text() == "64"


def test_windows_failure_modes_under_wine(standins, wine):
    command = ["cmd", "/c", "exit 3"]
    env = executor_env("init", ARGO_TEMPLATE=json.dumps(template(command)))

    volume = wine.mount()
    init = wine.run(wine.install(standins("no-copy", goos="windows")), "init", *LOG_OPTS, *SERVER, env=env)
    assert init.returncode == 0 and (volume / "template").exists() and not (volume / "argoexec").exists()

    volume = wine.mount()
    assert wine.run(wine.install(standins("lose-exitcode", goos="windows")), "init", *LOG_OPTS, *SERVER,
                    env=env).returncode == 0
    main = wine.run("C:\\var\\run\\argo\\argoexec", "emissary", *LOG_OPTS, "--", *command, env=executor_env("main"))
    assert main.returncode == 3 and not (volume / "ctr" / "main" / "exitcode").exists()
