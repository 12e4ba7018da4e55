"""Which entry of a multi-platform tag a Windows node takes: Docker Engine's rule and containerd's, case by case.

Every index below is constructed (names and os.version values chosen for the case, no registry involved); the
expected picks follow moby's ``filterManifests`` and containerd/platforms' Windows ``MatchComparer`` as
builder/selection.py cites them.
"""

from __future__ import annotations

import json

import pytest

from builder import compat, selection, store
from builder import table as table_mod
from builder.matrix import load_matrix
from builder.selection import Entry
from tests import matrix_facts
from tests.cli import invoke
from tests.test_table import both_checks

# Constructed: an index as publish writes it, newest build first, each os.version with a revision, then linux.
NEWEST_FIRST = (
    Entry("ltsc2025", os_version="10.0.26100.2894"),
    Entry("ltsc2022", os_version="10.0.20348.3091"),
    Entry("20H2", os_version="10.0.19042.1889"),
    Entry("2004", os_version="10.0.19041.1415"),
    Entry("1909", os_version="10.0.18363.1556"),
    Entry("1903", os_version="10.0.18362.1256"),
    Entry("1809", os_version="10.0.17763.6893"),
    Entry("linux/amd64", os="linux"),
    Entry("linux/arm64", os="linux", architecture="arm64"),
)


def without(*names: str, index=NEWEST_FIRST) -> tuple[Entry, ...]:
    return tuple(e for e in index if e.name not in names)


# Constructed: the same Windows entries, oldest first.
OLDEST_FIRST = tuple(reversed([e for e in NEWEST_FIRST if e.os == "windows"]))
# Constructed: oldest first and os.version without the revision (no real base has one; some hand-made indexes do).
BARE_OLDEST_FIRST = tuple(Entry(e.name, os_version=".".join(e.os_version.split(".")[:3])) for e in OLDEST_FIRST)

CASES = [
    # (what, index, host build, Docker Engine's pick, containerd's pick)
    ("2019 host", NEWEST_FIRST, "10.0.17763", "1809", "1809"),
    ("2019 host with a revision", NEWEST_FIRST, "10.0.17763.6893", "1809", "1809"),
    ("2022 host", NEWEST_FIRST, "10.0.20348", "ltsc2022", "ltsc2022"),
    ("23H2 host", NEWEST_FIRST, "10.0.25398", "ltsc2022", "ltsc2022"),
    ("Windows 11 host", NEWEST_FIRST, "10.0.22631", "ltsc2022", "ltsc2022"),
    ("2025 host, index with a 2025 entry", NEWEST_FIRST, "10.0.26100", "ltsc2025", "ltsc2025"),
    ("2025 host, index without a 2025 entry", without("ltsc2025"), "10.0.26100", "ltsc2022", "ltsc2022"),
    ("Windows 10 22H2 host: Docker takes an older build, containerd needs its own", NEWEST_FIRST, "10.0.19045",
     "20H2", None),
    ("index missing the host's build, nothing older", without("1809"), "10.0.17763", None, None),
    ("index missing the host's build, an older one there", without("1903"), "10.0.18362", "1809", None),
    ("a build that is no release, in the 2022 window", NEWEST_FIRST, "10.0.20349", "ltsc2022", "ltsc2022"),
    ("a future build past 2025", NEWEST_FIRST, "10.0.30000", "ltsc2025", "ltsc2025"),
    ("oldest first, 2025 host: both take the exact build", OLDEST_FIRST, "10.0.26100", "ltsc2025", "ltsc2025"),
    ("oldest first, 23H2 host: Docker keeps list order", OLDEST_FIRST, "10.0.25398", "1809", "ltsc2022"),
    ("oldest first without revisions, 2025 host: no exact match for Docker", BARE_OLDEST_FIRST, "10.0.26100",
     "1809", "ltsc2025"),
    ("linux entries only", without(*[e.name for e in NEWEST_FIRST if e.os == "windows"]), "10.0.26100", None, None),
]


@pytest.mark.parametrize("what,index,host,docker,containerd", CASES, ids=[c[0] for c in CASES])
def test_each_runtime_takes_the_entry_its_rules_pick(what, index, host, docker, containerd):
    picks = selection.picks(index, host)
    assert (picks["docker"].entry.name if picks["docker"].entry else None) == docker, picks["docker"].rule
    assert (picks["containerd"].entry.name if picks["containerd"].entry else None) == containerd, \
        picks["containerd"].rule
    disagreement = selection.disagreement(picks["docker"], picks["containerd"])
    if docker == containerd:
        assert (disagreement is None) == (docker is not None)
    else:
        assert disagreement and (docker or "no entry") in disagreement.replace("finds no entry", "no entry")
    # Never an entry a runtime must refuse: Docker never takes a newer build, containerd only its window.
    for pick in picks.values():
        assert pick.entry is None or pick.entry.os == "windows"
        assert pick.entry is None or compat.build_number(pick.entry.os_version) <= compat.WindowsBuild.parse(host).build


def test_the_rules_say_why():
    host = "10.0.26100"
    docker = selection.docker_pick(NEWEST_FIRST, host)
    assert docker.rule.startswith("exact build match (10.0.26100.*)")
    assert [e.name for e in docker.candidates] == ["ltsc2025", "ltsc2022", "20H2", "2004", "1909", "1903", "1809"]
    containerd = selection.containerd_pick(NEWEST_FIRST, host)
    assert [e.name for e in containerd.candidates] == ["ltsc2025", "ltsc2022"]
    assert containerd.rule == ("the greatest os.version of the 2 entries of builds 20348 to 26100 "
                               "(the stable-ABI window)")
    assert "build 19045 exactly" in selection.containerd_pick(NEWEST_FIRST, "10.0.19045").rule
    assert "no matching manifest" in selection.docker_pick(without("1809"), "10.0.17763").rule


def test_containerd_orders_matches_by_os_version_as_text_and_keeps_ties_in_order():
    # Constructed: two entries of one build; as text "...999" is greater than "...1000" (Less compares strings).
    index = (Entry("a", os_version="10.0.20348.1000"), Entry("b", os_version="10.0.20348.999"),
             Entry("c", os_version="10.0.20348.999"))
    assert selection.containerd_pick(index, "10.0.20348").entry.name == "b"
    # Docker: both are an exact build match; the first in list order wins.
    assert selection.docker_pick(index, "10.0.20348").entry.name == "a"


def test_an_entry_without_os_version():
    # Constructed: containerd's matcher accepts an empty os.version on any host and orders it after the others;
    # moby does not refuse it either (it has no build to compare).
    index = (Entry("no-version"), Entry("ltsc2022", os_version="10.0.20348.3091"))
    assert selection.containerd_pick(index, "10.0.26100").entry.name == "ltsc2022"
    assert selection.containerd_pick(index, "10.0.17763").entry.name == "no-version"
    assert selection.docker_pick(index, "10.0.17763").entry.name == "no-version"


def test_the_stable_abi_window_is_the_matrix_data():
    assert selection.containerd_window("10.0.17763") == (17763, 17763)
    assert selection.containerd_window("10.0.20348") == (20348, 20348)
    assert selection.containerd_window("10.0.26100") == (20348, 26100)
    assert selection.containerd_window("10.0.30000") == (26100, 30000)
    # A release that joins the list moves the window of the hosts after it.
    assert selection.containerd_window("10.0.31000", (20348, 26100, 30000)) == (30000, 31000)
    # containerd's window is compat's process-isolation rule.
    for host in ("10.0.17763", "10.0.19045", "10.0.20348", "10.0.22631", "10.0.25398", "10.0.26100", "10.0.30000"):
        for image in ("10.0.17763", "10.0.19042", "10.0.20348", "10.0.26100"):
            assert selection.containerd_accepts(host, image) == compat.process_isolation(host, image).ok, (host, image)


def test_a_pending_revision_counts_as_the_exact_build_for_docker():
    # The table's own index (what publish will write) knows builds only; publish copies full os.versions.
    pending = (Entry("1809", os_version="10.0.17763", revision_pending=True),
               Entry("ltsc2022", os_version="10.0.20348", revision_pending=True))
    bare = tuple(Entry(e.name, os_version=e.os_version) for e in pending)
    assert selection.docker_pick(pending, "10.0.20348").rule.startswith("exact build match")
    assert selection.docker_pick(bare, "10.0.20348").rule.startswith("no entry of build 10.0.20348.*")


# -- the table's answer for a node ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


@pytest.mark.parametrize("spelling,build,column", [
    ("2019", "10.0.17763", "1809"), ("ltsc2019", "10.0.17763", "1809"), ("1809", "10.0.17763", "1809"),
    ("10.0.17763", "10.0.17763", "1809"), ("10.0.17763.6893", "10.0.17763.6893", "1809"),
    ("node.kubernetes.io/windows-build=10.0.26100", "10.0.26100", "2025"), ("LTSC2025", "10.0.26100", "2025"),
    ("win11", "10.0.22631", "win11"), ("10.0.20349", "10.0.20349", None),
])
def test_every_spelling_of_a_node(matrix, spelling, build, column):
    node = table_mod.resolve_node(matrix, spelling)
    assert str(node.build) == build and (node.column.name if node.column else None) == column


def test_the_table_resolves_each_column_and_prefers_with_a_named_rule(matrix):
    records = both_checks(target="v4.1.2-windows-ltsc2022", host="10.0.26100.2894", runner="windows-2025")
    model = table_mod.build_table(matrix, records, table_mod.Publication("registry.example/argoexec"))
    node = table_mod.resolve_node(matrix, "2025")
    (answer,) = table_mod.resolve(model, node, "v4.1.2")
    assert answer.index.reference == "registry.example/argoexec:v4.1.2"
    assert answer.taken["docker"].row.base == answer.taken["containerd"].row.base == "ltsc2025"
    assert answer.disagreement is None
    # Verified beats predicted: the ltsc2022 image was run on a 2025 node, ltsc2025 was not.
    assert (answer.preferred.row.base, answer.preferred.rule) == ("ltsc2022", table_mod.PREFER_VERIFIED)
    (newer,) = table_mod.resolve(model, node, "v4.0.10")
    assert (newer.preferred.row.base, newer.preferred.rule) == ("ltsc2025", table_mod.PREFER_CLOSEST)
    (win10,) = table_mod.resolve(model, table_mod.resolve_node(matrix, "win10-22h2"), "v4.1.2")
    assert win10.taken["containerd"].row is None and win10.taken["docker"].placement.isolation == "hyperv"
    assert win10.disagreement == "Docker Engine takes 20H2; containerd finds no entry"
    document = json.loads(json.dumps(model.to_json()))
    assert set(document["resolution"]["v4.1.2"]) == set(matrix_facts.HOST_NAMES)
    assert document["resolution"]["v4.1.2"]["2025"]["preferred"]["rule"] == table_mod.PREFER_VERIFIED


# -- invoke which ------------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path) -> str:
    """An empty results database: every cell is the rules' prediction."""
    path = tmp_path / "r.sqlite"
    store.connect(path).close()
    return str(path)


def test_invoke_which_answers_for_a_label_value(db):
    result = invoke("which", "--offline", "--node", "10.0.26100", "--argo", matrix_facts.NEWEST_ARGO, "--db", db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    repo = matrix_facts.MATRIX.registries.publish
    assert lines[0] == "Windows Server 2025, build 10.0.26100:"
    # The answer first: what to pull, the isolation, how sure.
    assert lines[1] == f"{matrix_facts.NEWEST_ARGO}: pull {repo}:{matrix_facts.NEWEST_ARGO}-windows-ltsc2025 " \
        "(not published yet)"
    assert lines[2] == "  isolation: process"
    assert lines[3].startswith("  how sure: predicted by the rule: process isolation on a 10.0.26100 host")
    assert "Docker Engine and containerd take its ltsc2025 entry" in " ".join(result.stdout.split())
    assert "<argo>" not in result.stdout
    # Each runtime's rule and the preference only with --verbose.
    assert "exact build match" not in result.stdout
    verbose = invoke("which", "--offline", "--node", "10.0.26100", "--argo", matrix_facts.NEWEST_ARGO, "--db", db,
                     "--verbose").stdout
    flat = " ".join(verbose.split())
    assert "Docker Engine: the ltsc2025 entry (10.0.26100): exact build match" in flat
    assert "containerd: the ltsc2025 entry (10.0.26100): the greatest os.version of the 2 entries" in flat
    assert "picked by: the base build closest to the node breaks ties" in flat


def test_invoke_which_json_and_a_build_that_is_no_column(db):
    result = invoke("which", "--offline", "--node", "10.0.20349", "--format", "json", "--db", db)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["node"] == {"build": "10.0.20349", "spelling": "10.0.20349", "column": None, "label": None}
    assert [a["argo"] for a in answer["answers"]] == list(matrix_facts.ARGO_TAGS)
    first = answer["answers"][0]
    assert first["docker"]["entry"]["name"] == first["containerd"]["entry"]["name"] == "ltsc2022"
    assert first["preferred"]["state"] == "predicted" and first["preferred"]["isolation"] == "process"
    text = invoke("which", "--offline", "--node", "10.0.20349", "--db", db).stdout
    assert text.splitlines()[0] == "A 10.0.20349 node (no column: the rules decide; nearest: 2022, 10.0.20348):"


def test_invoke_which_helm_values(db):
    result = invoke("which", "--offline", "--node", "2019", "--format", "helm", "--db", db)
    assert result.returncode == 0, result.stderr
    import yaml

    values = yaml.safe_load(result.stdout)
    repo = matrix_facts.MATRIX.registries.publish
    registry, repository = repo.split("/", 1)
    assert values == {"executor": {"image": {"registry": registry, "repository": repository,
                                             "tag": matrix_facts.NEWEST_ARGO}}}
    assert "Docker Engine takes its 1809 entry" in result.stdout
    two = invoke("which", "--offline", "--node", "2019", "--format", "helm", "--argo", "v4.1.2", "--argo", "v4.0.10")
    assert two.returncode == 2 and two.stderr.strip() == ("error: --format helm sets one executor image: give one "
                                                          "--argo (default: the newest)")


@pytest.mark.parametrize("args,start", [
    (("which",), "error: --node is required"),
    (("which", "--node", "11.0.17763"), "error: --node 11.0.17763: unknown node ("),
    (("which", "--node", "2019", "--format", "yaml"), "error: --format yaml: expected text, json or helm"),
])
def test_invoke_which_refuses_in_one_line(args, start):
    result = invoke(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start) and "Traceback" not in result.stderr


def test_compat_takes_release_names_too():
    result = invoke("compat", "--host", "2019", "--image", "ltsc2022", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hyperv"] is False
    by_label = invoke("compat", "--host", "node.kubernetes.io/windows-build=10.0.26100", "--image", "2022")
    assert by_label.stdout.splitlines()[0] == "image 10.0.20348 on host 10.0.26100"
