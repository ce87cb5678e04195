# weft: `make run` starts a server with the example workflows on the
# embedded defaults; `make cluster` starts cluster mode on this machine;
# `make test` runs every test with the race detector.

GO      ?= go
BIN     := bin/weft
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run cluster test test-short fuzz bench vet fmt clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/weft

run: build
	./$(BIN) serve

# Three NATS JetStream servers and three weft nodes on loopback (nodes on
# 8081-8083, NATS on 4222-4224), from the weft binary alone: weft cluster
# up, which prints the nodes and their token; Ctrl-C stops them all.
# Flags for it: make cluster CLUSTER_FLAGS='--nodes 2 --sync always'.
cluster: build
	./$(BIN) cluster up $(CLUSTER_FLAGS)

test: vet
	$(GO) test -race -count=1 -timeout 15m ./...

test-short:
	$(GO) test -race -short ./...

# Each fuzz target for a while (FUZZTIME=30s make fuzz).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeFrame -fuzztime $(FUZZTIME) ./transport/ws/
	$(GO) test -run '^$$' -fuzz FuzzFollow -fuzztime $(FUZZTIME) ./events/
	$(GO) test -run '^$$' -fuzz FuzzCanonical -fuzztime $(FUZZTIME) ./events/
	$(GO) test -run '^$$' -fuzz FuzzFrameInto -fuzztime $(FUZZTIME) ./events/
	$(GO) test -run '^$$' -fuzz FuzzDecodeStream -fuzztime $(FUZZTIME) ./workflows/openai/
	$(GO) test -run '^$$' -fuzz FuzzAuthenticate -fuzztime $(FUZZTIME) ./transport/auth/
	$(GO) test -run '^$$' -fuzz FuzzFromRequest -fuzztime $(FUZZTIME) ./transport/auth/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRollup -fuzztime $(FUZZTIME) ./persistence/
	$(GO) test -run '^$$' -fuzz FuzzListFilters -fuzztime $(FUZZTIME) ./persistence/
	$(GO) test -run '^$$' -fuzz FuzzParseAddress -fuzztime $(FUZZTIME) ./client/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME) ./cluster/peers/
	$(GO) test -run '^$$' -fuzz FuzzDecodeReply -fuzztime $(FUZZTIME) ./cluster/peers/
	$(GO) test -run '^$$' -fuzz FuzzToken -fuzztime $(FUZZTIME) ./cluster/peers/

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

vet:
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
