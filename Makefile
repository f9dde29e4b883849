# nettune — build, test and generate. `make test` is the README's test command and what CI runs.
GO      ?= go
PKGS    ?= ./...
# Debian packages the project's own targets need; installed only when missing.
DEPS_GENERATE := clang llvm libbpf-dev bpftool
DEPS_TEST     := prometheus nftables containerd runc containernetworking-plugins busybox-static

.PHONY: build test test-short generate check-generate bench lint deps-generate deps-test run kernel-matrix

# Static: runs on any distribution, and starts without the dynamic loader and libc (about
# 5 ms of every cron run; docs/benchmarks.md).
build:
	CGO_ENABLED=0 $(GO) build -o nettune ./cmd/nettune

run: build
	./nettune advise

# Privileged lab tests change host-wide sysctls (netdev_max_backlog, RPS): packages run one at
# a time (-p 1) so no two lab tests ever overlap. As root they run for real; otherwise they skip.
test: deps-test
	$(GO) vet $(PKGS)
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) test -count=1 -p 1 -timeout 40m $(PKGS)

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
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"

kernel-matrix:
	$(GO) run ./tools/kernelmatrix

deps-generate:
	@./.ci/apt-need $(DEPS_GENERATE)

deps-test:
	@./.ci/apt-need $(DEPS_TEST)
