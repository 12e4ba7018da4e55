"""Windows compatibility rules, table-driven from docs/windows.md."""

from __future__ import annotations

import json

import pytest

from builder import compat
from builder.compat import WindowsBuild, host_facts_from_info
from tests.cli import invoke

# (host, image, process, hyperv): every host/image pair the reference states or implies.
CASES = [
    # Hosts older than 20348: process isolation only for the same build (revision may differ).
    ("10.0.17763", "10.0.17763", True, True),
    ("10.0.17763.5329", "10.0.17763.6893", True, True),
    ("10.0.17763", "10.0.18363", False, False),  # newer image: never, not even Hyper-V
    ("10.0.17763", "10.0.20348", False, False),
    ("10.0.18362", "10.0.18362", True, True),
    ("10.0.18363", "10.0.18363", True, True),
    ("10.0.18363", "10.0.18362", False, True),  # 1903 image on 1909 host: Hyper-V only
    ("10.0.18363", "10.0.17763", False, True),
    ("10.0.19041", "10.0.19041", True, True),
    ("10.0.19042", "10.0.19041", False, True),
    ("10.0.19045", "10.0.19042", False, True),  # Windows 10 22H2 host
    ("10.0.19045", "10.0.20348", False, False),
    # Windows Server 2016: build and revision must match for process isolation.
    ("10.0.14393.1000", "10.0.14393.1000", True, True),
    ("10.0.14393.1000", "10.0.14393.2000", False, True),
    ("10.0.14393", "10.0.17763", False, False),
    # Hosts from 20348 on: the window from the newest LTSC strictly older than the host.
    ("10.0.20348", "10.0.20348", True, True),
    ("10.0.20348.169", "10.0.20348.2966", True, True),
    ("10.0.20348", "10.0.17763", False, True),
    ("10.0.20348", "10.0.19042", False, True),
    ("10.0.20348", "10.0.26100", False, False),
    ("10.0.22000", "10.0.20348", True, True),  # Windows 11 21H2
    ("10.0.22621", "10.0.20348", True, True),  # Windows 11 22H2
    ("10.0.22621", "10.0.17763", False, True),
    ("10.0.25398", "10.0.20348", True, True),  # 23H2: runs ltsc2022 images
    ("10.0.25398", "10.0.26100", False, False),
    ("10.0.26100", "10.0.26100", True, True),
    ("10.0.26100", "10.0.20348", True, True),
    ("10.0.26100", "10.0.25398", True, True),
    ("10.0.26100", "10.0.17763", False, True),
    ("10.0.26100", "10.0.18363", False, True),
    ("10.0.26200", "10.0.26100", True, True),  # past 2025: the floor moves to 26100
    ("10.0.26200", "10.0.20348", False, True),
]


@pytest.mark.parametrize("host,image,process,hyperv", CASES, ids=[f"{h}-runs-{i}" for h, i, *_ in CASES])
def test_compat_rules(host, image, process, hyperv):
    answer = compat.compat(host, image)
    assert (answer["process"], answer["hyperv"]) == (process, hyperv), answer["reason"]
    assert answer["reason"]


@pytest.mark.parametrize("host,image,process,hyperv", [CASES[2], CASES[7], CASES[26], CASES[13]])
def test_invoke_compat_json_matches_the_rules(host, image, process, hyperv):
    result = invoke("compat", "--host", host, "--image", image, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer == {"process": process, "hyperv": hyperv, "reason": answer["reason"]}
    assert isinstance(answer["reason"], str) and answer["reason"]


def test_invoke_compat_text_explains_the_refusal():
    result = invoke("compat", "--host", "10.0.17763", "--image", "10.0.18363")
    assert result.returncode == 0
    assert "process isolation: no" in result.stdout and "Hyper-V isolation: no" in result.stdout
    assert "newer than the host" in result.stdout


@pytest.mark.parametrize("value", ["10.0", "11.0.17763", "10.0.abc", "17763", "10.0.17763.1.2", ""])
def test_invoke_compat_rejects_malformed_builds(value):
    result = invoke("compat", "--host", value, "--image", "10.0.17763")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --host") and "10.0.BUILD" in lines[0]
    assert "Traceback" not in result.stderr


def test_engine_refuses_to_pull_newer_images():
    assert not compat.engine_can_pull("10.0.17763", "10.0.18363").ok
    assert compat.engine_can_pull("10.0.26100", "10.0.17763").ok


@pytest.mark.parametrize("host,image,offered,method", [
    ("10.0.17763", "10.0.17763", ("process",), compat.BUILD_PROCESS),
    ("10.0.17763", "10.0.18363", ("process", "hyperv"), compat.BUILD_NONE),  # cannot even pull
    ("10.0.20348", "10.0.17763", ("process",), compat.BUILD_NONE),
    ("10.0.20348", "10.0.17763", ("process", "hyperv"), compat.BUILD_HYPERV),
    ("10.0.26100", "10.0.20348", ("process", "hyperv"), compat.BUILD_PROCESS),  # process preferred
    ("10.0.26100", "10.0.20348", ("hyperv",), compat.BUILD_HYPERV),
])
def test_choose_build(host, image, offered, method):
    chosen, isolation, reason = compat.choose_build(host, image, offered)
    assert chosen == method, reason
    assert isolation == {compat.BUILD_PROCESS: "process", compat.BUILD_HYPERV: "hyperv"}.get(method)


# /info payloads constructed from moby's API types (api/types/system Info) in the formats its daemon uses on
# Windows (tests/windows_engine.py says where each comes from): OSVersion, three parts, from 20.10 on; the
# 19.03 engine has none, so its build comes from KernelVersion.
INFO_PAYLOADS = [
    ({"OSType": "windows", "OSVersion": "10.0.17763",
      "KernelVersion": "10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)",
      "OperatingSystem": "Windows Server 2019 Datacenter Version 1809 (OS Build 17763.5329)",
      "Isolation": "process", "ServerVersion": "20.10.9"}, "10.0.17763.5329", "process"),
    ({"OSType": "windows", "OSVersion": "10.0.20348",
      "KernelVersion": "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)",
      "OperatingSystem": "Microsoft Windows Server Version 21H2 (OS Build 20348.169)",
      "Isolation": "process", "ServerVersion": "24.0.7"}, "10.0.20348.169", "process"),
    ({"OSType": "windows", "OSVersion": "10.0.26100", "KernelVersion": "10.0 26100 (26100.1.amd64fre.ge_release)",
      "OperatingSystem": "Microsoft Windows Server Version 24H2 (OS Build 26100.2894)",
      "Isolation": "process", "ServerVersion": "27.5.1"}, "10.0.26100.2894", "process"),
    ({"OSType": "windows", "OSVersion": "10.0.19045",
      "KernelVersion": "10.0 19045 (19041.1.amd64fre.vb_release.191206-1406)",
      "OperatingSystem": "Microsoft Windows Version 22H2 (OS Build 19045.3803)",
      "Isolation": "hyperv", "ServerVersion": "24.0.7"}, "10.0.19045.3803", "hyperv"),
    ({"OSType": "windows", "KernelVersion": "10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)",
      "OperatingSystem": "Windows Server 2019 Datacenter", "ServerVersion": "19.03.5"}, "10.0.17763", "process"),
]


@pytest.mark.parametrize("info,build,isolation", INFO_PAYLOADS)
def test_host_facts_from_windows_info(info, build, isolation):
    facts = host_facts_from_info(info)
    assert facts.is_windows
    assert str(facts.build) == build
    assert facts.default_isolation == isolation
    assert facts.engine_version == info["ServerVersion"]


@pytest.mark.parametrize("os_version,kernel,expected", [
    ("10.0.20348", "10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)", "10.0.20348.169"),
    ("10.0.17763", "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)", "10.0.17763"),
])
def test_os_version_is_read_before_kernel_version(os_version, kernel, expected):
    """OSVersion is what moby reports as the OS's version (RtlGetVersion, through hcsshim's osversion);
    KernelVersion's build comes from GetVersion, which depends on dockerd's manifest (moby
    pkg/parsers/kernel/kernel_windows.go): when they disagree, OSVersion decides."""
    info = {"OSType": "windows", "OSVersion": os_version, "KernelVersion": kernel,
            "OperatingSystem": "Microsoft Windows Server Version 21H2 (OS Build 20348.169)", "ServerVersion": "24.0.7"}
    assert str(host_facts_from_info(info).build) == expected


def test_host_facts_from_linux_info(docker_client):
    facts = host_facts_from_info(docker_client.info())
    assert facts.os_type == "linux" and not facts.is_windows and facts.build is None
    # /info's ServerVersion, checked against the engine's /version (not against one Debian release's 20.10).
    assert facts.engine_version == docker_client.version()["Version"]


def test_builds_order_and_print():
    assert WindowsBuild.parse("10.0.17763") < WindowsBuild.parse("10.0.20348.1")
    assert str(WindowsBuild.parse(" 10.0.20348.2966 ")) == "10.0.20348.2966"
    assert WindowsBuild.parse("10.0.20348.2966").base == "10.0.20348"
