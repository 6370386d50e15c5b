# hookd — see README.md. Every target works from a clean checkout: when
# neither DATABASE_URL nor DB_CONNECTION_STRING is set, `run` and `test` use
# the project-local Postgres cluster under .data/ (created on first use).

GO ?= go
TOOLS := $(CURDIR)/.tools
STATICCHECK_VERSION := v0.8.2
GO_FILES_DIRS := cmd db hooks internal sql

.PHONY: build run test test-race lint bench db db-stop clean-db

build:
	$(GO) build -o bin/hookd ./cmd/hookd

## run: the server with its example hooks, on the local cluster unless DATABASE_URL is set
run:
	$(GO) run ./cmd/hookd serve --dev

## test: every test, against real Postgres (the harness cluster unless DATABASE_URL is set)
test:
	$(GO) test -count=1 -timeout 15m ./...

test-race:
	$(GO) test -race -count=1 -timeout 25m ./...

## lint: gofmt, go vet, staticcheck (pinned, installed into .tools/)
lint: $(TOOLS)/staticcheck
	@unformatted=$$(gofmt -l $(GO_FILES_DIRS) $$(ls *.go 2>/dev/null)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags deps .
	$(TOOLS)/staticcheck ./...

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## bench: the Go benchmarks (see BENCHMARKS.md for the recorded results);
## installs wrk, the items benchmark's HTTP load client, as root when missing
bench:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's wrk"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null || \
	    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null; } || \
	    echo "installing wrk failed: BenchmarkItemsAPI falls back to its built-in Go client"; \
	  else echo "wrk not found: BenchmarkItemsAPI falls back to its built-in Go client"; fi; }
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

## db / db-stop: start (and print the URL of) or stop the project-local cluster
db:
	$(GO) run ./cmd/hookd dev db start

db-stop:
	$(GO) run ./cmd/hookd dev db stop
