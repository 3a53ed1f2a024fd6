# garssld — build, test and run on Debian 12 (bookworm), as root.
#   make demo   install what is missing, build, run the pipeline on the bundled sample
#   make test   install what is missing, gofmt/vet, go test -race ./...
#   make bench  the benchmarks quoted in the closing notes, then a one-hour live soak
#   make install DESTDIR=/tmp/pkg PREFIX=/usr

SHELL       := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO          ?= go
PREFIX      ?= /usr/local
DESTDIR     ?=
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
BIN         := bin

# Debian packages: FFmpeg 5.1 headers for go-astiav v0.16.0, the ffmpeg CLI
# that makes test media, the MQTT broker the tests publish to, and faketime
# (a test's RTP sender with its clock set off).
DEB_PKGS := pkg-config gcc libc6-dev \
	libavcodec-dev libavformat-dev libavdevice-dev libavfilter-dev \
	libswscale-dev libswresample-dev libavutil-dev \
	ffmpeg mosquitto mosquitto-clients time faketime

.PHONY: all deps build test vet fmt-check bench demo install clean

all: build

deps:
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is needed at /usr/local/go/bin (Debian 12's golang package is too old)"; exit 1; }
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/garssld ./cmd/garssld
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/omnisim ./cmd/omnisim

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet: deps
	$(GO) vet ./...

test: deps fmt-check vet
	$(GO) test -race -count=1 -timeout 40m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 60m ./...
	./scripts/bench-dump.sh
	./scripts/soak-udp.sh

demo: build
	./scripts/demo.sh

install: build
	install -D -m 0755 $(BIN)/garssld $(DESTDIR)$(PREFIX)/bin/garssld
	install -D -m 0755 $(BIN)/omnisim $(DESTDIR)$(PREFIX)/bin/omnisim
	install -D -m 0644 systemd/garssld.service $(DESTDIR)/lib/systemd/system/garssld.service
	install -D -m 0640 configs/garssld.hcl $(DESTDIR)/etc/garssl/garssld.hcl

clean:
	rm -rf $(BIN)
