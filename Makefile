# Tributary — see README.md. `make demo` and `make test` work on a fresh machine.
GO       ?= go
BIN      := bin/cdpctl
PKGS     := ./...
export TRIBUTARY_MINIO ?= $(HOME)/.cache/tributary/bin/minio

.PHONY: all build test test-deps bench demo lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/cdpctl

test-deps:
	./internal/testenv/install-deps.sh

# Unit, integration and fuzz-seed tests. Integration tests start the embedded
# broker, MinIO, OpenSSH and Redis on 127.0.0.1 themselves.
test: test-deps build
	TRIBUTARY_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 14m -p 2 $(PKGS)

# Figures go to docs/BENCHMARKS.md with the date. Go benchmarks (identity's
# FEBRL4 and historical_50k evaluations, reconcile swap, …), then the CLI ones.
bench: test-deps build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)
	$(BIN) bench collect --log-level warn
	$(BIN) bench speed --log-level warn
	$(BIN) bench land --log-level warn
	$(BIN) bench ingest --log-level warn
	$(BIN) bench pipeline --customers 200000 --log-level warn

demo: build
	./$(BIN) demo --log-level warn $(DEMO_FLAGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin data
