# garssld — build, test and run on Debian 12 (bookworm), as root.
#   make demo   install what is missing, build, run the pipeline on the bundled sample
#   make test   install what is missing, gofmt/vet, go test -race ./...
#   make bench  the benchmarks quoted in the closing notes, and the long
#               soaks (a broker restarted every 20 s for 3 minutes)
#   make install DESTDIR=/tmp/pkg PREFIX=/usr
#   make deb    dist/garssld_<version>_amd64.deb and _arm64.deb (nfpm; the
#               arm64 binary cross-compiled with cgo against Debian's
#               multiarch FFmpeg)

SHELL       := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO          ?= go
PREFIX      ?= /usr/local
DESTDIR     ?=
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
BIN         := bin
BINDIR      ?= $(PREFIX)/bin
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR      ?= $(PREFIX)/share/doc/garssld

# Debian packages: FFmpeg 5.1 headers for go-astiav v0.16.0, the ffmpeg CLI
# that makes test media, the MQTT broker the tests publish to, and systemd
# for systemd-analyze, which checks the unit (container images lack it),
# openssl for the TLS test certificates, python3-paho-mqtt for the
# README's Python subscriber, which a docs test runs, faketime (a test's
# RTP sender with its clock set off), jq, with which `make demo`
# prints the detections, curl, with which scripts/bench-daemon.sh
# reads /metrics and omnisim's /stats, and chromium, the headless browser
# the live view's tests drive (internal/browsertest).
DEB_PKGS := pkg-config gcc libc6-dev \
	libavcodec-dev libavformat-dev libavdevice-dev libavfilter-dev \
	libswscale-dev libswresample-dev libavutil-dev \
	ffmpeg mosquitto mosquitto-clients openssl time systemd python3-paho-mqtt faketime jq curl chromium

# make deb: nfpm (a Go tool pinned in go.mod), dpkg-shlibdeps for Depends,
# lintian, the arm64 cross compiler, and qemu to run the arm64 binary in
# scripts/test-deb.sh.
DEB_BUILD_PKGS := dpkg-dev lintian man-db crossbuild-essential-arm64 qemu-user-static
# FFmpeg's -dev packages for arm64 (Debian multiarch). Without them
# `make deb` builds amd64 alone and says so.
DEB_ARM64_PKGS := libc6-dev:arm64 libavcodec-dev:arm64 libavformat-dev:arm64 libavdevice-dev:arm64 \
	libavfilter-dev:arm64 libswscale-dev:arm64 libswresample-dev:arm64 libavutil-dev:arm64
# A Debian version that grows with each commit: 0.0~git<commit time>.<hash>.
DEB_VERSION ?= $(shell TZ=UTC git log -1 --format='0.0~git%cd.%h' --date=format-local:%Y%m%d%H%M%S 2>/dev/null || echo 0.0~dev)

.PHONY: all deps deb-deps build test test-deb vet fmt-check bench demo install unit deb clean

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
	$(MAKE) test-deb

# The packages, then scripts/test-deb.sh: contents, lintian, install,
# upgrade, remove, purge on this machine, and the arm64 binary under qemu.
test-deb: deb
	DEB_VERSION=$(DEB_VERSION) ./scripts/test-deb.sh

deb-deps: deps
	@missing=$$(for p in $(DEB_BUILD_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@missing=$$(for p in $(DEB_ARM64_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ dpkg --add-architecture arm64 && apt-get update -qq && \
		  apt-get install -y -qq --no-install-recommends $$missing; } || \
		echo "make deb-deps: COULD NOT INSTALL the arm64 packages ($$missing): make deb builds amd64 only"; \
	fi

deb: deb-deps
	DEB_VERSION=$(DEB_VERSION) ./scripts/build-deb.sh

# GARSSLD_BIN: process benchmarks (eval, score) run the built binary. The
# live view's detection → browser latency needs a few hundred detections
# for a p99, not a time budget: it runs on its own with a count.
bench: build
	GARSSLD_BIN=$(CURDIR)/$(BIN)/garssld $(GO) test -run '^$$' -bench . -skip ViewDetectionToBrowser -benchmem -count 1 -timeout 60m ./...
	$(GO) test -run '^$$' -bench ViewDetectionToBrowser -benchtime 400x -count 1 -timeout 20m ./daemon/
	./scripts/bench-dump.sh
	./scripts/bench-daemon.sh
	./scripts/soak-udp.sh
	GARSSLD_FLAP_FULL=1 $(GO) test -race -count=1 -run TestReconnectsKeepUpWithFlappingBroker -v ./publish/

demo: build
	./scripts/demo.sh

# make install [DESTDIR=/tmp/pkg] [PREFIX=/usr]: the binaries, the systemd
# unit (ExecStart pointing at $(BINDIR)), the sysusers file, the README and
# the reference config, and /etc/garssl/garssld.hcl from configs/installed.hcl
# unless one exists. Without DESTDIR it also creates the garssl user.
install: build
	install -D -m 0755 $(BIN)/garssld $(DESTDIR)$(BINDIR)/garssld
	install -D -m 0755 $(BIN)/omnisim $(DESTDIR)$(BINDIR)/omnisim
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	$(MAKE) -s unit UNIT_OUT=$(DESTDIR)$(UNITDIR)/garssld.service
	install -D -m 0644 systemd/garssld.sysusers $(DESTDIR)$(SYSUSERSDIR)/garssld.conf
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -D -m 0644 configs/garssld.hcl $(DESTDIR)$(DOCDIR)/garssld.reference.hcl
	@if [ -e $(DESTDIR)/etc/garssl/garssld.hcl ]; then \
		echo "kept the existing $(DESTDIR)/etc/garssl/garssld.hcl"; \
	else \
		install -D -m 0644 configs/installed.hcl $(DESTDIR)/etc/garssl/garssld.hcl; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
		systemd-sysusers $(SYSUSERSDIR)/garssld.conf; \
		systemctl daemon-reload 2>/dev/null || true; \
		echo "next: edit /etc/garssl/garssld.hcl, run 'garssld check --config /etc/garssl/garssld.hcl', then 'systemctl enable --now garssld'"; \
	fi

# make unit UNIT_OUT=F [PREFIX=…]: the unit with ExecStart and the README
# under PREFIX; make install and make deb install it.
unit:
	sed -e 's|/usr/local/bin/garssld|$(BINDIR)/garssld|g' -e 's|/usr/local/share/doc/garssld|$(DOCDIR)|g' \
		systemd/garssld.service > $(UNIT_OUT)
	chmod 0644 $(UNIT_OUT)

clean:
	rm -rf $(BIN) dist
