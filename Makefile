# The `test` target is the CI entry point: .ci/run runs `make test` and
# nothing else, so every check CI makes is here, in order, and stops at the
# first failure. That includes the Kafka broker the integration suite runs
# against: after the static checks, `test` starts a single-node Apache Kafka
# with deploy/kafka/kafka.sh (Maven fetches it, Java 17 runs it; no Docker),
# gives the go test steps SESSIONREC_BROKERS=127.0.0.1:PORT, and stops the
# broker when they end, pass or fail. deploy/README.md has the details; set
# SESSIONREC_KAFKA_PORT (default 19092) if that port is taken.
#
# POSIX make; all targets are phony. Override the tools on the command line,
# e.g. `make test GO=go1.26.8`.
#
# GOFLAGS: the environment's GOFLAGS is passed through untouched, and this
# file adds nothing to it. Flags that belong to one step (-race, -run,
# -bench) are given on that step's command line only: in GOFLAGS they would
# also apply to `go vet`, to building the linter with `go tool`, and to the
# Hogwild step that must run without -race.

.POSIX:
.SUFFIXES:

GO = go
GOFMT = gofmt

# The Go files gofmt checks: the tracked ones plus new files not yet added
# (untracked and not ignored), so that a file is checked before its first
# commit. On a clean CI checkout this is exactly the tracked files.
GOFILES = git ls-files -z --cached --others --exclude-standard -- '*.go'

# Fails, listing them, when any Go file is not gofmt-formatted; a file that
# does not parse fails too, with gofmt's error.
FMTCHECK = files=$$($(GOFILES) | xargs -0 $(GOFMT) -l) || exit 1; \
	if [ -n "$$files" ]; then \
		echo "gofmt: these files are not formatted (run make fmt):"; \
		echo "$$files"; \
		exit 1; \
	fi

LINT = $(GO) tool golangci-lint run ./...

KAFKA = deploy/kafka/kafka.sh
# The test broker's SASL_SSL listener (its plaintext one is on 19092).
KAFKA_SECURE_PORT = 19094

# The go test steps of `test`, run with the broker up. -count=1: a cached
# result would not have met this broker; the gate runs every test.
TEST_RACE = $(GO) test -count=1 -race ./...
TEST_NORACE = $(GO) test -count=1 -run 'Hogwild|DoesNotAllocate' ./model/

.PHONY: test lint bench fmt fmtcheck kafka-start kafka-stop screenshot

# Every check, in order. Two kinds of test live in `//go:build !race` files,
# so the -race run does not compile them, and the last step runs them
# without the detector: the Hogwild test (lock-free multi-worker training, a
# data race by design) and the allocation tests (the detector makes
# sync.Pool drop items on purpose).
#
# deploy/tools.sh installs Debian's chromium and prometheus when they are
# missing: the browser test and the Prometheus scrape test drive them.
#
# The go test steps run in one shell that starts the broker first and whose
# EXIT trap always stops it, also when a step fails or make is interrupted,
# and then exits with the tests' status. The broker starts only after the
# static checks pass, so a lint failure does not wait for Kafka.
test:
	@$(FMTCHECK)
	$(GO) vet ./...
	$(LINT)
	deploy/tools.sh
	@trap 'st=$$?; $(KAFKA) stop; exit $$st' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	echo '$(KAFKA) start'; \
	env=$$(SESSIONREC_KAFKA_SECURE_PORT=$(KAFKA_SECURE_PORT) $(KAFKA) start) || exit 1; \
	for kv in $$env; do export "$$kv"; echo "$$kv"; done; \
	echo "$(TEST_RACE)"; \
	$(TEST_RACE) || exit; \
	echo "$(TEST_NORACE)"; \
	$(TEST_NORACE)

# The linter alone (config: .golangci.yml).
lint:
	$(LINT)

# Smoke run: every benchmark once, no tests. Not timing; use
# `go test -bench ... -count 10` and benchstat for numbers.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# Rewrites the Go files in place with gofmt.
fmt:
	$(GOFILES) | xargs -0 $(GOFMT) -l -w

# The gofmt check of `test`, alone.
fmtcheck:
	@$(FMTCHECK)

# The broker of `test`, for running the integration tests by hand:
#   make kafka-start
#   SESSIONREC_BROKERS=127.0.0.1:19092 go test ./processor/
#   make kafka-stop
# kafka-start prints the SESSIONREC_BROKERS line and leaves the broker
# running; a `make test` meanwhile reuses it and stops it when done.
kafka-start:
	$(KAFKA) start

kafka-stop:
	$(KAFKA) stop

# The README's picture of the live page: the browser test against a demo,
# writing its screenshot there.
screenshot:
	deploy/tools.sh
	SESSIONREC_SCREENSHOT=$(CURDIR)/processor/web/doc/page.png $(GO) test -count=1 -run TestBrowserPage ./cmd/sessionrec/
