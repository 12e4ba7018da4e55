"""A replay of a Windows Docker engine's API, for the paths no Linux machine can run.

It is not a Windows engine, and nothing here was recorded from one. ``/info`` is answered with a
payload constructed from moby's API types: the fields of ``system.Info`` (moby api/types/system/info.go)
filled in the formats moby's daemon gives them on Windows (daemon/info.go; ``OSVersion`` from
pkg/parsers/operatingsystem ``GetOperatingSystemVersion``, ``KernelVersion`` from pkg/parsers/kernel
``GetKernelVersion``, ``OperatingSystem`` from ``GetOperatingSystem``), for hosts of the builds in
docs/windows.md. The replay records what the real docker-py client sends
to ``/build`` and ``/containers/create`` (the isolation above all) and replies with the minimal
responses docker-py needs. What it verifies is what leaves this tool on the wire; the README says so.

Volumes carry an ACL, as on Windows: a named volume lives under the data root and inherits its ACL, which
grants only Administrators and SYSTEM (moby daemon/daemon_windows.go, setupDaemonRoot:
SddlAdministratorsLocalSystem). A container running as ContainerUser (the stock nanoserver's default) cannot
start /var/run/argo/argoexec from such a volume (the start fails, as HCS's CreateProcess does) nor list it,
until a ContainerAdministrator container runs ``icacls C:\\var\\run\\argo /grant *S-1-5-32-545:(OI)(CI)M``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import tarfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.http_body import read_body

# Constructed, not recorded. OSVersion is "MAJOR.MINOR.BUILD", three parts: moby's daemon fills it
# with hcsshim's osversion.Get().String(), "%d.%d.%d" (pkg/parsers/operatingsystem/operatingsystem_windows.go,
# GetOperatingSystemVersion); it came with moby commit d363a1881e, first released in 20.10.0, so every
# engine below (20.10.9 and newer) sends it. KernelVersion is "%d.%d %d (BuildLabEx)"
# (pkg/parsers/kernel/kernel_windows.go). OperatingSystem is ProductName, ReleaseId and "(OS Build
# BUILD.UBR)" up to 20.10 and "Microsoft Windows Server Version DisplayVersion (OS Build BUILD.UBR)" since
# moby 9aacaeb667, first released in 23.0 (pkg/parsers/operatingsystem/windows_os_string.go).
# DockerRootDir is moby's default data root on Windows, C:\ProgramData\docker (the Engine API's SystemInfo
# in api/swagger.yaml: "Defaults to /var/lib/docker on Linux, and C:\ProgramData\docker on Windows").
WINDOWS_DATA_ROOT = "C:\\ProgramData\\docker"
WINDOWS_2019 = {"OSType": "windows", "OSVersion": "10.0.17763",
                "KernelVersion": "10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)",
                "OperatingSystem": "Windows Server 2019 Datacenter Version 1809 (OS Build 17763.5329)",
                "Isolation": "process", "ServerVersion": "20.10.9", "Architecture": "x86_64",
                "DockerRootDir": WINDOWS_DATA_ROOT}
WINDOWS_2022 = {"OSType": "windows", "OSVersion": "10.0.20348",
                "KernelVersion": "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)",
                "OperatingSystem": "Microsoft Windows Server Version 21H2 (OS Build 20348.169)",
                "Isolation": "process", "ServerVersion": "24.0.7", "Architecture": "x86_64",
                "DockerRootDir": WINDOWS_DATA_ROOT}
WINDOWS_2025 = {"OSType": "windows", "OSVersion": "10.0.26100",
                "KernelVersion": "10.0 26100 (26100.1.amd64fre.ge_release.240331-1435)",
                "OperatingSystem": "Microsoft Windows Server Version 24H2 (OS Build 26100.2894)",
                "Isolation": "process", "ServerVersion": "27.5.1", "Architecture": "x86_64",
                "DockerRootDir": WINDOWS_DATA_ROOT}
WINDOWS_ENGINES = {"2019": WINDOWS_2019, "2022": WINDOWS_2022, "2025": WINDOWS_2025}


@dataclass
class Recorded:
    builds: list[dict] = field(default_factory=list)
    containers: list[dict] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    volumes_removed: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall each
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _path(self) -> tuple[str, dict[str, list[str]]]:
        parsed = urllib.parse.urlparse(self.path)
        path = re.sub(r"^/v1\.\d+", "", parsed.path)
        return path, urllib.parse.parse_qs(parsed.query)

    def _send(self, status: int, body: bytes | dict | list | None = None, content_type: str = "application/json",
              headers: dict | None = None) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        body = body or b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Api-Version", "1.41")
        self.send_header("Ostype", "windows")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_stream(self, lines: list[dict]) -> None:
        """A streamed answer, chunked like a real engine's (docker-py reads one JSON object per chunk)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Api-Version", "1.41")
        self.end_headers()
        for line in lines:
            data = json.dumps(line).encode() + b"\r\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def do_HEAD(self) -> None:
        self._send(200, b"")

    def do_GET(self) -> None:
        path, _ = self._path()
        state = self.server
        if path == "/_ping":
            self._send(200, b"OK", "text/plain")
        elif path == "/version":
            self._send(200, {"ApiVersion": "1.41", "Os": "windows", "Version": state.info["ServerVersion"]})
        elif path == "/info":
            self._send(200, state.info)
        elif path.startswith("/images/") and path.endswith("/json"):
            name = urllib.parse.unquote(path[len("/images/"):-len("/json")])
            image = state.images.get(name)
            if image is None:
                self._send(404, {"message": f"No such image: {name}"})
            else:
                self._send(200, image)
        elif re.fullmatch(r"/containers/[^/]+/json", path):
            cid = path.split("/")[2]
            self._send(200, {"Id": cid, "Name": f"/{cid}", "State": {"Status": "created"}, "Config": {"Tty": False}})
        elif re.fullmatch(r"/containers/[^/]+/logs", path):
            cid = path.split("/")[2]
            payload = state.container_output.get(cid, "").encode()
            frame = struct.pack(">BxxxL", 1, len(payload)) + payload
            self._send(200, frame, "application/vnd.docker.raw-stream")
        else:
            self._send(404, {"message": f"not replayed: GET {path}"})

    def do_POST(self) -> None:
        path, query = self._path()
        state = self.server
        body = read_body(self)
        if path == "/build":
            context = tarfile.open(fileobj=io.BytesIO(body))
            dockerfile_name = query.get("dockerfile", ["Dockerfile"])[0]
            files = {m.name: context.extractfile(m).read() for m in context.getmembers() if m.isfile()}
            record = {key: values[0] for key, values in query.items()}
            record["files"] = sorted(files)
            record["file_sha256"] = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
            record["dockerfile_text"] = files.get(dockerfile_name, b"").decode()
            state.recorded.builds.append(record)
            tag = record.get("t")
            image_id = f"sha256:{len(state.recorded.builds):064x}"
            labels = json.loads(record.get("labels", "{}"))
            state.images[tag] = {"Id": image_id, "RepoDigests": [], "Config": {"Labels": labels}}
            lines = [{"stream": "Step 1/9 : FROM (replayed)\n"}, {"aux": {"ID": image_id}},
                     {"stream": f"Successfully built {image_id[7:19]}\n"}, {"stream": f"Successfully tagged {tag}\n"}]
            self._send_stream(lines)
        elif path == "/images/create":
            state.recorded.pulls.append(f"{query['fromImage'][0]}:{query.get('tag', ['latest'])[0]}")
            self._send_stream([{"status": "replayed pull"}])
        elif path == "/containers/create":
            spec = json.loads(body)
            state.recorded.containers.append(spec)
            cid = f"c{len(state.recorded.containers)}"
            code, output = state.run(spec)
            if code < 0:
                state.start_errors[cid] = output
                code, output = 0, ""
            state.exit_codes[cid], state.container_output[cid] = code, output
            self._send(201, {"Id": cid, "Warnings": []})
        elif path == "/volumes/create":
            name = json.loads(body).get("Name") or f"v{len(state.recorded.volumes)}"
            state.recorded.volumes.append(name)
            state.volumes[name] = {}
            state.volume_acl[name] = {"Administrators", "SYSTEM"}
            self._send(201, {"Name": name, "Driver": "local", "Mountpoint": f"C:\\ProgramData\\docker\\{name}"})
        elif re.fullmatch(r"/containers/[^/]+/start", path) and path.split("/")[2] in state.start_errors:
            cid = path.split("/")[2]
            self._send(500, {"message": f"container {cid} encountered an error during {state.start_errors[cid]}"})
        elif re.fullmatch(r"/containers/[^/]+/(start|kill)", path):
            self._send(204)
        elif re.fullmatch(r"/containers/[^/]+/wait", path):
            self._send(200, {"StatusCode": state.exit_codes.get(path.split("/")[2], 0)})
        else:
            self._send(404, {"message": f"not replayed: POST {path}"})

    def do_DELETE(self) -> None:
        path, _ = self._path()
        if path.startswith("/containers/"):
            cid = path.split("/")[2]
            seen = self.server.remove_attempts[cid] = self.server.remove_attempts.get(cid, 0) + 1
            refusals = self.server.remove_refusals
            if refusals is None or seen <= refusals:
                self._send(500, {"message": f"unable to remove filesystem for {cid}: remove C:\\ProgramData\\docker"
                                            f"\\windowsfilter\\{cid}: The process cannot access the file because "
                                            "it is being used by another process."})
                return
            self.server.recorded.removed.append(cid)
            self._send(204)
        elif path.startswith("/volumes/"):
            self.server.recorded.volumes_removed.append(path.split("/")[2])
            self._send(204)
        else:
            self._send(404, {"message": f"not replayed: DELETE {path}"})


# Constructed in the shape of `argoexec version` on Windows (CRLF line ends), not recorded from a run.
VERSION_OUTPUT = ("argoexec: v4.1.2\r\n  BuildDate: 2026-11-20T03:12:44Z\r\n"
                    "  GitCommit: 5f3b9c2e0d1a4b6c8e7f9a0b1c2d3e4f5a6b7c8d\r\n  GitTreeState: clean\r\n"
                    "  GitTag: v4.1.2\r\n  GoVersion: go1.26.5\r\n  Compiler: gc\r\n  Platform: windows/amd64\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, info: dict, bases: dict[str, str], version_output: str = VERSION_OUTPUT):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.info = info
        self.version_output = version_output
        self.recorded = Recorded()
        self.container_output: dict[str, str] = {}
        self.exit_codes: dict[str, int] = {}
        self.reader_fails = False  # a test sets it: the container that reads the volume fails
        # A test sets it: emissary runs the step and exits with its code, but the step's output is lost (an
        # executor that does not pass its child's stdout on, a step whose echo never ran): main exits 0, silent.
        self.swallow_output = False
        self.volumes: dict[str, dict[str, str]] = {}  # volume -> {path under C:\\var\\run\\argo: content}
        # volume -> the groups its ACL grants. A new volume inherits the data root's: Administrators and SYSTEM
        # only (moby daemon/daemon_windows.go, setupDaemonRoot, SddlAdministratorsLocalSystem).
        self.volume_acl: dict[str, set[str]] = {}
        self.start_errors: dict[str, str] = {}  # container -> why the engine cannot start it
        self.start_failure: str | None = None  # a test sets it: every container fails to start with this
        # A test sets it: removing a container is refused this many times first (None: always), as a Windows
        # engine refuses while HCS still holds the container's files. moby daemon/delete.go (cleanupContainer)
        # wraps the storage driver's error as "unable to remove filesystem for <id>", a 500; the Windows text
        # after it (ERROR_SHARING_VIOLATION's) is constructed, not recorded.
        self.remove_refusals: int | None = 0
        self.remove_attempts: dict[str, int] = {}  # container -> DELETE requests seen
        # Base images "already pulled", with the registry digests a real engine would list.
        self.images = {ref: {"Id": f"sha256:{i:064x}", "RepoDigests": [f"{ref.rsplit(':', 1)[0]}@{digest}"]}
                       for i, (ref, digest) in enumerate(bases.items(), start=1000)}

    def run(self, spec: dict) -> tuple[int, str]:
        """What the replayed container does: (exit code, output). Constructed, not recorded: it plays a
        correct argoexec (init copies itself and the template into the volume; emissary runs the command and
        writes its exit code) and cmd.exe (echo prints the rest of its command line, quotes included; exit N),
        so that the tool's side of the conversation can be checked on the wire."""
        if self.start_failure:
            return -1, self.start_failure
        entrypoint, cmd = spec.get("Entrypoint") or [], spec.get("Cmd") or []
        volume = next((m["Source"] for m in (spec.get("HostConfig") or {}).get("Mounts") or []
                       if m.get("Target") == "C:\\var\\run\\argo"), None)
        files = self.volumes.setdefault(volume, {}) if volume else {}
        # Who the process runs as: the container's User, else the image's. Constructed: the stock nanoserver's
        # default user is ContainerUser (BUILTIN\Users); the images under test set ContainerAdministrator.
        user = spec.get("User") or ("ContainerUser" if "nanoserver" in spec.get("Image", "") else
                                    "ContainerAdministrator")
        group = "Administrators" if user == "ContainerAdministrator" else "Users"
        acl = self.volume_acl.setdefault(volume, {"Administrators", "SYSTEM"}) if volume else set()
        allowed = volume is None or group in acl
        if entrypoint == ["icacls"]:  # icacls FOLDER /grant *SID:(OI)(CI)M
            if cmd[:2] != ["C:\\var\\run\\argo", "/grant"] or len(cmd) != 3:
                return 87, "Invalid parameter\r\n"
            if group != "Administrators":
                return 5, ("C:\\var\\run\\argo: Access is denied.\r\n"
                           "Successfully processed 0 files; Failed processing 1 files\r\n")
            if cmd[2] == "*S-1-5-32-545:(OI)(CI)M":
                acl.add("Users")
            return 0, ("processed file: C:\\var\\run\\argo\r\n"
                       "Successfully processed 1 files; Failed processing 0 files\r\n")
        if entrypoint == ["cmd", "/c"]:
            return 0, " ".join(cmd[1:]) + "\r\n"
        if entrypoint == ["cmd", "/S", "/C"]:  # smoke's reader of the volume
            if self.reader_fails:
                return 1, "The device is not ready.\r\n"
            if not allowed:  # dir fails; the reader says so and goes on (`dir ... || echo --- cannot list ---`)
                return 0, "Access is denied.\r\n--- cannot list ---\r\n--- exitcode ---\r\n"
            listing = "".join(f"{name}\r\n" for name in sorted(files) if "\\" not in name)
            if any(name.startswith("outputs\\") for name in files):
                listing += "outputs\r\n"
            answer = listing + "--- exitcode ---\r\n" + files.get("ctr\\main\\exitcode", "")
            typed = re.search(r'type "C:\\var\\run\\argo\\([^"]*)"', " ".join(cmd))
            if typed:  # `type` of a name with a colon in it fails (2>nul hides why): nothing printed
                answer += "\r\n--- parameter ---\r\n" + ("" if ":" in typed.group(1) else files.get(typed.group(1), ""))
            return 0, answer
        if cmd[:1] == ["init"] and not entrypoint:
            files.update({"argoexec": "MZ", "template": dict(e.split("=", 1) for e in spec["Env"])["ARGO_TEMPLATE"]})
            return 0, "level=info msg=\"Starting Workflow Executor\"\r\n"
        if entrypoint == ["/var/run/argo/argoexec"]:
            if not allowed:  # HCS cannot create the process from a file its user may not read: start fails
                return -1, ("hcs::System::CreateProcess: failure in a Windows system call: Access is denied. "
                            "(0x5)")
            if "argoexec" not in files:
                return 1, "The system cannot find the file specified.\r\n"
            if cmd[:1] == ["emissary"]:
                written: dict[str, str] = {}
                code, output = self._cmd(cmd[cmd.index("--") + 1:], written)
                files["ctr\\main\\exitcode"] = str(code)
                output = "" if self.swallow_output else output
                for path in self._output_parameter_paths(files.get("template", "{}")):
                    error = self._save_parameter(files, written, path)
                    if error:
                        return 64, output + f"Error: {error}\r\n"
                return code, output
            return 0, self.version_output
        return 0, self.version_output

    @staticmethod
    def _output_parameter_paths(template: str) -> list[str]:
        outputs = json.loads(template).get("outputs") or {}
        return [p["valueFrom"]["path"] for p in outputs.get("parameters") or []
                if (p.get("valueFrom") or {}).get("path")]

    @staticmethod
    def _save_parameter(files: dict[str, str], written: dict[str, str], path: str) -> str | None:
        """emissary's saveParameter on Windows (cmd/argoexec/commands/emissary.go, v4.1.2): the file is copied to
        "/var/run/argo" + "/outputs/parameters/" + path, the folder made with os.MkdirAll. Constructed: a path with a
        drive letter puts "C:" inside the folder name, and ':' is reserved in Windows file names (Microsoft, "Naming
        Files, Paths, and Namespaces"), so making that folder fails with ERROR_INVALID_NAME."""
        if path not in written:
            return None  # upstream: "cannot save parameter, does not exist", a warning only
        destination = "/var/run/argo/outputs/parameters/" + path
        folder = destination.replace("/", "\\").rsplit("\\", 1)[0]
        if ":" in folder:
            return (f"failed to create directory {folder}: mkdir {folder.split(':')[0]}:: The filename, directory "
                    "name, or volume label syntax is incorrect.")
        key = "outputs\\parameters\\" + "\\".join(p for p in path.replace("/", "\\").split("\\") if p)
        files[key] = written[path]
        return None

    @staticmethod
    def _cmd(argv: list[str], written: dict[str, str] | None = None) -> tuple[int, str]:
        if argv[:2] == ["cmd", "/c"] and len(argv) == 3 and argv[2].startswith("echo ") and ">" in argv[2]:
            text, _, path = argv[2][len("echo "):].partition(">")
            if written is not None:
                written[path.strip()] = text + "\r\n"
            return 0, ""
        if argv[:3] == ["cmd", "/c", "echo"]:
            # Go's exec quotes an argument with spaces; cmd's echo prints its command line as it is.
            return 0, " ".join(f'"{a}"' if " " in a else a for a in argv[3:]) + "\r\n"
        if argv[:3] == ["cmd", "/c", "exit"]:
            return int(argv[3]), ""
        return 9009, f"'{argv[0]}' is not recognized as an internal or external command\r\n"


class WindowsEngineReplay:
    def __init__(self, info: dict, bases: dict[str, str] | None = None, version_output: str = VERSION_OUTPUT):
        self.server = _Server(info, bases or {}, version_output)
        # shutdown() waits for serve_forever to look up: every 50 ms rather than the default 500 ms.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"tcp://{host}:{port}"

    @property
    def recorded(self) -> Recorded:
        return self.server.recorded

    def __enter__(self) -> WindowsEngineReplay:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
