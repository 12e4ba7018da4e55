"""A stand-in Argo Workflows tree: a small git repository with upstream's build shape, made by the tests.

It follows what argoproj/argo-workflows does (facts read from its ``Makefile``, ``version.go``,
``util/cmd/cmd.go`` and ``Dockerfile.windows``; the code here is written for the tests):

- ``Makefile``: the first target is ``help``, so a bare ``make`` builds nothing. ``BUILD_DATE``,
  ``GIT_COMMIT``, ``GIT_TAG`` (``git describe --exact-match --tags``, else ``untagged``) and
  ``GIT_TREE_STATE`` (``git status --porcelain``) are ``:=`` defaults that make variables given on the
  command line override. ``VERSION`` is ``latest`` unless ``GIT_TAG`` looks like ``vX.Y.Z``, then it is
  the tag. ``LDFLAGS`` stamps ``-X github.com/argoproj/argo-workflows/v4.{version,buildDate,gitCommit,
  gitTreeState}`` and ``gitTag`` when ``GIT_TAG`` is not empty. ``dist/argoexec`` depends on the Go files
  of ``./cmd/argoexec``'s in-module packages (or, with ``HACK_PKG_FILES_AS_PKGS=true``, on the package
  folders, as ``Dockerfile.windows`` uses) and on ``vendor/modules.txt`` (``go mod vendor``); its recipe
  is ``CGO_ENABLED=0 go build -v ... -o $@ ./cmd/argoexec``: GOOS/GOARCH come from the environment and
  the output is ``dist/argoexec`` with no ``.exe`` (Dockerfile.windows copies it to ``argoexec.exe``).
- ``version.go``: the version is the tag when commit, tag and a clean tree are all known, else
  ``<version>+<commit[:7]>`` with ``.dirty`` for a dirty tree (``+unknown`` without a commit).
- ``util/cmd/cmd.go``: ``argoexec: <version>`` then indented BuildDate, GitCommit, GitTreeState,
  GitTag (when set), GoVersion, Compiler, Platform.

A local module (``example.com/standin/apis``, replaced by a folder) stands in for upstream's
dependencies, so ``go mod vendor`` writes ``vendor/modules.txt`` without a network.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE = "github.com/argoproj/argo-workflows/v4"
COMMIT_DATE = "2024-01-02T03:04:05Z"  # every stand-in commit has this date: the build date is derived from it

MAKEFILE = """\
export SHELL:=bash
export SHELLOPTS:=$(if $(SHELLOPTS),$(SHELLOPTS):)pipefail:errexit

.PHONY: help
help: ## Show the documented targets
\t@grep -E '^[a-zA-Z_/-]+:.*?## .*$$' $(MAKEFILE_LIST) | sort

MAKEFLAGS += --no-builtin-rules
.SUFFIXES:

BUILD_DATE     := $(shell date -u +'%Y-%m-%dT%H:%M:%SZ')
GIT_COMMIT     := $(shell git rev-parse HEAD || echo unknown)
GIT_TAG        := $(shell git describe --exact-match --tags --abbrev=0 2> /dev/null || echo untagged)
GIT_TREE_STATE := $(shell if [ -z "`git status --porcelain`" ]; then echo clean; else echo dirty; fi)
RELEASE_TAG    := $(shell if [[ "$(GIT_TAG)" =~ ^v[0-9]+\\.[0-9]+\\.[0-9]+.*$$ ]]; then echo true; else echo false; fi)
VERSION        := latest
ifeq ($(RELEASE_TAG),true)
VERSION        := $(GIT_TAG)
endif

MODULE := github.com/argoproj/argo-workflows/v4
override LDFLAGS += -X $(MODULE).version=$(VERSION) -X $(MODULE).buildDate=$(BUILD_DATE) \\
  -X $(MODULE).gitCommit=$(GIT_COMMIT) -X $(MODULE).gitTreeState=$(GIT_TREE_STATE)
ifneq ($(GIT_TAG),)
override LDFLAGS += -X $(MODULE).gitTag=$(GIT_TAG)
endif

HACK_PKG_FILES_AS_PKGS ?= false
ifneq (,$(filter dist/argoexec,$(MAKECMDGOALS)))
ifeq ($(HACK_PKG_FILES_AS_PKGS),false)
ARGOEXEC_PKG_FILES := $(shell go list -f '{{ join .Deps "\\n" }}' ./cmd/argoexec/ | grep '$(MODULE)/' | \\
  xargs go list -f '{{ range $$f := .GoFiles }}{{ print $$.ImportPath "/" $$f "\\n" }}{{ end }}' | cut -c 39-)
else
ARGOEXEC_PKG_FILES := $(shell echo cmd/argoexec && go list -f '{{ join .Deps "\\n" }}' ./cmd/argoexec/ | \\
  grep '$(MODULE)/' | cut -c 39-)
endif
endif

vendor/modules.txt: go.mod go.sum
\tgo mod vendor
\t@touch $@

dist/argoexec: $(ARGOEXEC_PKG_FILES) vendor/modules.txt
\tCGO_ENABLED=0 go build -v -gcflags '${GCFLAGS}' -ldflags '${LDFLAGS} -extldflags -static' -o $@ ./cmd/argoexec
"""

VERSION_GO = """\
package argo

import (
\t"fmt"
\t"runtime"

\t"example.com/standin/apis"
)

// Set by -X link flags (see the Makefile); the defaults are what a plain `go build` gives.
var (
\tversion      = "v0.0.0"
\tbuildDate    = "1970-01-01T00:00:00Z"
\tgitCommit    = ""
\tgitTag       = ""
\tgitTreeState = ""
)

// GetVersion: the tag for a clean, tagged commit; else <version>+<commit[:7]>[.dirty].
func GetVersion() apis.Version {
\tv := version
\tif gitCommit != "" && gitTag != "" && gitTreeState == "clean" {
\t\tv = gitTag
\t} else if len(gitCommit) >= 7 {
\t\tv += "+" + gitCommit[:7]
\t\tif gitTreeState != "clean" {
\t\t\tv += ".dirty"
\t\t}
\t} else {
\t\tv += "+unknown"
\t}
\treturn apis.Version{
\t\tVersion: v, BuildDate: buildDate, GitCommit: gitCommit, GitTag: gitTag, GitTreeState: gitTreeState,
\t\tGoVersion: runtime.Version(), Compiler: runtime.Compiler,
\t\tPlatform: fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
\t}
}
"""

CMD_GO = """\
package cmd

import (
\t"fmt"

\t"example.com/standin/apis"
)

// PrintVersion prints the version the way every Argo binary's `version` subcommand does.
func PrintVersion(cliName string, v apis.Version, short bool) {
\tfmt.Printf("%s: %s\\n", cliName, v.Version)
\tif short {
\t\treturn
\t}
\tfmt.Printf("  BuildDate: %s\\n", v.BuildDate)
\tfmt.Printf("  GitCommit: %s\\n", v.GitCommit)
\tfmt.Printf("  GitTreeState: %s\\n", v.GitTreeState)
\tif v.GitTag != "" {
\t\tfmt.Printf("  GitTag: %s\\n", v.GitTag)
\t}
\tfmt.Printf("  GoVersion: %s\\n", v.GoVersion)
\tfmt.Printf("  Compiler: %s\\n", v.Compiler)
\tfmt.Printf("  Platform: %s\\n", v.Platform)
}
"""

MAIN_GO = """\
package main

import (
\t"fmt"
\t"os"

\targo "github.com/argoproj/argo-workflows/v4"
\t"github.com/argoproj/argo-workflows/v4/util/cmd"
)

func main() {
\tif len(os.Args) >= 2 && os.Args[1] == "version" {
\t\tcmd.PrintVersion("argoexec", argo.GetVersion(), len(os.Args) > 2 && os.Args[2] == "--short")
\t\treturn
\t}
\tfmt.Fprintln(os.Stderr, "usage: argoexec version [--short]")
\tos.Exit(2)
}
"""

APIS_GO = """\
package apis

// Version mirrors the fields of upstream's wfv1.Version.
type Version struct {
\tVersion      string
\tBuildDate    string
\tGitCommit    string
\tGitTag       string
\tGitTreeState string
\tGoVersion    string
\tCompiler     string
\tPlatform     string
}
"""


@dataclass(frozen=True)
class StandIn:
    path: Path
    commit: str
    tag: str | None
    go: str


def git(path: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "suite", "GIT_AUTHOR_EMAIL": "suite@example.invalid",
           "GIT_COMMITTER_NAME": "suite", "GIT_COMMITTER_EMAIL": "suite@example.invalid",
           "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_standin(path: Path, *, tag: str | None = "v4.1.2", go: str = "1.19", makefile: str = MAKEFILE,
                 main_go: str = MAIN_GO) -> StandIn:
    """Write the stand-in tree at ``path``, commit it (fixed date) and tag the commit."""
    files = {
        "Makefile": makefile,
        "go.mod": f"module {MODULE}\n\ngo {go}\n\nrequire example.com/standin/apis v0.0.0\n\n"
                  "replace example.com/standin/apis => ./hack/standin-apis\n",
        "go.sum": "",
        ".gitignore": "vendor/\ndist/\n",
        "version.go": VERSION_GO,
        "util/cmd/cmd.go": CMD_GO,
        "cmd/argoexec/main.go": main_go,
        "hack/standin-apis/go.mod": f"module example.com/standin/apis\n\ngo {go}\n",
        "hack/standin-apis/version.go": APIS_GO,
    }
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "--message", "stand-in Argo tree")
    if tag:
        git(path, "tag", tag)
    return StandIn(path, git(path, "rev-parse", "HEAD"), tag, go)
