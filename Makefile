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

bench: test-deps build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)
	$(BIN) bench collect
	$(BIN) bench speed

demo: build
	./$(BIN) demo --log-level warn $(DEMO_FLAGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin data
