# The `test` target is the CI entry point: .ci/run runs `make test` and
# nothing else, so every check CI makes is here, in order, and stops at the
# first failure. Issue 3 will add starting the Kafka broker (and setting
# SESSIONREC_BROKERS for the integration suite) to `test`.
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

.PHONY: test lint bench fmt fmtcheck

# Every check, in order. Two kinds of test live in `//go:build !race` files,
# so the -race run does not compile them, and the last step runs them
# without the detector: the Hogwild test (lock-free multi-worker training, a
# data race by design) and the allocation tests (the detector makes
# sync.Pool drop items on purpose).
test:
	@$(FMTCHECK)
	$(GO) vet ./...
	$(LINT)
	$(GO) test -race ./...
	$(GO) test -run 'Hogwild|DoesNotAllocate' ./model/

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
