# nettune — build, test, install and package. `make test` is the README's test command and what CI runs.

# The Go toolchain: PATH first, then where Go's installer, Debian and snap put it, because
# sudo's secure_path (and root's PATH on many hosts) has no Go. `make GO=/path/to/go` wins.
ifeq ($(origin GO),undefined)
GO := $(firstword $(shell command -v go 2>/dev/null) $(wildcard /usr/local/go/bin/go /usr/lib/go/bin/go) \
	$(shell ls -d /usr/lib/go-*/bin/go 2>/dev/null | sort -V | tail -n 1) $(wildcard /snap/bin/go))
endif
ifeq ($(GO),)
GO = $(error no Go toolchain: none on PATH, in /usr/local/go/bin, /usr/lib/go*/bin or /snap/bin; install Go (go.mod names the version) or run make GO=/path/to/go)
else
# Tests and go generate run `go` themselves.
export PATH := $(abspath $(dir $(GO))):$(PATH)
endif

# `sudo make` in a user's clone: git (gofmt's file list, the VCS stamp `go build` embeds) refuses
# a repository owned by someone else. Root already runs this Makefile, so trusting this one
# directory adds nothing.
ifeq ($(shell id -u),0)
export GIT_CONFIG_COUNT := 1
export GIT_CONFIG_KEY_0 := safe.directory
export GIT_CONFIG_VALUE_0 := $(CURDIR)
endif

PKGS    ?= ./...
# Ignored by git: private tools, generated man pages and completions, the package's staging tree.
CACHE   ?= $(CURDIR)/.cache
BIN     ?= nettune
GEN     ?= $(CACHE)/gen
# Debian packages the project's own targets need; installed only when missing. nftables starts
# no service: Debian ships nftables.service disabled, and its postinst only restarts a running one.
# chromium is the browser test of the HTML report (installed with --no-install-recommends, so it
# starts no services).
DEPS_GENERATE := clang llvm libbpf-dev bpftool
DEPS_TEST     := nftables chromium
# Programs the tests run but must not install: Debian's packages are unpacked into the cache
# (.ci/deb-extract), never registered with dpkg, so no service is installed or started (Debian's
# containerd package would start containerd.service). promtool and the prometheus server are put
# on PATH for the metric and alert tests; internal/ctrtest finds containerd, runc, the CNI
# plugins and the static busybox under CTRTEST itself.
PROMETHEUS    := $(CACHE)/prometheus
CTRTEST       := $(CACHE)/ctrtest

# Reproducible man pages and packages: dated by the last commit.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

# make install: PREFIX=/usr/local by default, DESTDIR for staging.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/nettune
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
UNITS       := nettune.service nettune.timer nettune-serve.service nettune-restore.service
DOCS        := README.md $(wildcard docs/*.md)
# configs/ minus the units: the example config, cron, Prometheus rules, dashboard, DaemonSet.
EXAMPLES    := nettune.yaml nettune.cron prometheus/alerts.yaml grafana/nettune.json kubernetes/daemonset.yaml

.PHONY: build test test-short fuzz generate check-generate bench lint deps-generate deps-test run kernel-matrix \
	gendocs install uninstall deb image tools-test

# Static: runs on any distribution, and starts without the dynamic loader and libc (about
# 5 ms of every cron run; docs/benchmarks.md).
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN) ./cmd/nettune

run: build
	./$(BIN) advise

# Privileged lab tests change host-wide sysctls (netdev_max_backlog, RPS): packages run one at
# a time (-p 1) so no two lab tests ever overlap. As root they run for real; otherwise they skip.
# tools/dist is its own module (the packaging libraries stay out of nettune's dependencies).
test: export PATH := $(PROMETHEUS)/usr/bin:$(PATH)
test: deps-test tools-test
	$(GO) vet $(PKGS)
	cd tools/dist && $(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) test -count=1 -p 1 -timeout 40m $(PKGS)
	cd tools/dist && $(GO) test -count=1 -p 1 -timeout 20m ./...
	GO=$(GO) ./.ci/fuzz $(FUZZTIME_TEST)

# Every fuzz target (.ci/fuzz lists them) for FUZZTIME each; `make test` runs them briefly, by
# count: a count has no deadline to race (go.dev/issue/75804) and costs the same on a busy host.
FUZZTIME      ?= 1m
FUZZTIME_TEST ?= 2000x
fuzz:
	GO=$(GO) ./.ci/fuzz $(FUZZTIME)

test-short:
	$(GO) test -short -count=1 $(PKGS)

generate: deps-generate
	$(GO) generate ./bpf/...

# CI: the committed bpf2go output must be exactly what `make generate` produces.
check-generate: generate
	git diff --exit-code -- bpf/ || { echo "bpf2go output differs from the committed files: run make generate and commit"; exit 1; }

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -p 1 $(PKGS)

lint:
	$(GO) vet $(PKGS)
	cd tools/dist && $(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"

kernel-matrix:
	$(GO) run ./tools/kernelmatrix

deps-generate:
	@./.ci/apt-need $(DEPS_GENERATE)

deps-test:
	@./.ci/apt-need $(DEPS_TEST)

tools-test:
	@./.ci/deb-extract prometheus $(PROMETHEUS) usr/bin/promtool usr/bin/prometheus
	@./.ci/deb-extract containerd $(CTRTEST)/containerd usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr
	@./.ci/deb-extract runc $(CTRTEST)/runc usr/sbin/runc
	@./.ci/deb-extract containernetworking-plugins $(CTRTEST)/containernetworking-plugins usr/lib/cni/bridge usr/lib/cni/host-local usr/lib/cni/loopback
	@./.ci/deb-extract busybox-static $(CTRTEST)/busybox-static bin/busybox

# Man pages (one per command) and bash/zsh/fish completions, generated from the commands.
gendocs:
	$(GO) run ./cmd/internal/gendocs -out $(GEN)

# Under sudo, install builds as the user who ran sudo: the clone gets no root-owned files.
BUILD_AS := $(if $(and $(filter 0,$(shell id -u)),$(filter-out root,$(SUDO_USER))),sudo -u '$(SUDO_USER)' -H)

# Builds, then installs; units run $(BINDIR)/nettune.
install:
	$(BUILD_AS) $(MAKE) build gendocs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/nettune
	for u in $(UNITS); do \
		sed 's|/usr/local/bin/nettune|$(BINDIR)/nettune|g' configs/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	install -m 0644 $(GEN)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(GEN)/completions/nettune.bash $(DESTDIR)$(BASHCOMPDIR)/nettune
	install -m 0644 $(GEN)/completions/_nettune $(DESTDIR)$(ZSHCOMPDIR)/_nettune
	install -m 0644 $(GEN)/completions/nettune.fish $(DESTDIR)$(FISHCOMPDIR)/nettune.fish
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	for e in $(EXAMPLES); do install -D -m 0644 configs/$$e $(DESTDIR)$(DOCDIR)/examples/$$e || exit 1; done

# Removes exactly the files install put (man pages by name: nettune.1 and nettune-*.1) and
# nettune's own directories once empty; shared ones (share/man/man1, ...) stay, as they may
# have been there before.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nettune $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(DESTDIR)$(MANDIR)/man1/nettune.1 $(DESTDIR)$(MANDIR)/man1/nettune-*.1 \
		$(DESTDIR)$(BASHCOMPDIR)/nettune $(DESTDIR)$(ZSHCOMPDIR)/_nettune $(DESTDIR)$(FISHCOMPDIR)/nettune.fish \
		$(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS))) $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(EXAMPLES))
	for d in prometheus grafana kubernetes; do rmdir $(DESTDIR)$(DOCDIR)/examples/$$d 2>/dev/null || true; done
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# The Debian package (tools/dist/deb): the tree `make install PREFIX=/usr` stages, maintainer
# scripts that enable nothing. Written to $(DEB_OUT) as nettune_<version>_<arch>.deb.
DEB_STAGE ?= $(CACHE)/deb/root
DEB_OUT   ?= $(CURDIR)
deb:
	rm -rf $(DEB_STAGE)
	$(MAKE) install DESTDIR=$(DEB_STAGE) PREFIX=/usr ZSHCOMPDIR=/usr/share/zsh/vendor-completions
	cd tools/dist && $(GO) run ./deb -root $(abspath $(DEB_STAGE)) -out $(abspath $(DEB_OUT))

# The container image (tools/dist/image): the static binary as /nettune on an empty base,
# written as an OCI archive without a container daemon; the name's tag is the version.
IMAGE_OUT  ?= $(CURDIR)/nettune-image.tar
IMAGE_REPO ?= docker.io/library/nettune
image: build
	cd tools/dist && $(GO) run ./image -bin $(abspath $(BIN)) -out $(abspath $(IMAGE_OUT)) -repo $(IMAGE_REPO)
