# The two commands a new machine needs (see README.md):
#   go run ./cmd/ftpd     serve ./ftproot on 127.0.0.1:2121, anonymous read-only
#   make test             install what the tests need, then run every check
.PHONY: test test-deps weed lint run fuzz bench

GO ?= go

run:
	$(GO) run ./cmd/ftpd

# test-deps installs the real FTP clients the end-to-end tests drive (lftp,
# curl, ncftp's ncftpls; Python's ftplib ships with python3): each entry is
# command:package. As root it uses apt-get; as
# another user it says what is missing. In CI a missing client fails the
# tests themselves (they do not skip when CI is set).
test-deps:
	@missing=""; \
	for c in lftp:lftp curl:curl python3:python3 ncftpls:ncftp; do \
		command -v $${c%%:*} >/dev/null 2>&1 || missing="$$missing $${c#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing test clients:$$missing (install them, or run make test as root)"; \
		fi; \
	fi
	@# PostgreSQL's server (the fleet tests start a throwaway cluster with
	@# initdb and pg_ctl as the postgres user; internal/pgtest).
	@if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing: postgresql"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
		else \
			echo "missing: postgresql (install it, or run make test as root)"; \
		fi; \
	fi
	$(GO) mod download
	@$(MAKE) --no-print-directory weed

# weed builds SeaweedFS (the S3 store the ftp/shell/s3 tests and the
# --storage s3 end-to-end test start as `weed mini`) once per machine:
# inside its own module directory, where it is the main module (its
# go.mod has replace directives, so `go install pkg@version` refuses it),
# never in this project's go.mod (its dependency graph is enormous). The
# binary is cached by version; cold it takes about 7 minutes (26.5 on a
# busy box) and 4 GB of module and build caches, warm 15 s.
# internal/s3test.WeedVersion must name the same version (a test checks).
WEED_VERSION = v0.0.0-20261109003541-7506e5f91cd6
weed:
	@bin="$$($(GO) env GOPATH)/bin/weed-$(WEED_VERSION)"; \
	if [ ! -x "$$bin" ]; then \
		echo "building SeaweedFS $(WEED_VERSION) into $$bin (once per machine)"; \
		tmp=$$(mktemp -d); \
		src=$$(cd "$$tmp" && $(GO) mod download -json github.com/seaweedfs/seaweedfs@$(WEED_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
		rmdir "$$tmp"; \
		[ -n "$$src" ] || { echo "downloading SeaweedFS $(WEED_VERSION) failed"; exit 1; }; \
		mkdir -p "$$(dirname "$$bin")"; \
		(cd "$$src" && $(GO) build -o "$$bin.tmp" ./weed) && mv "$$bin.tmp" "$$bin"; \
	fi

# lint: gofmt, go vet, and the same vet for 32-bit Linux plus builds for
# FreeBSD and macOS (field widths of syscall types differ there).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOARCH=386 $(GO) vet ./...
	GOOS=freebsd $(GO) build ./...
	GOOS=darwin $(GO) build ./...

test: test-deps lint
	$(GO) test -race -count=1 -timeout 30m ./...

# Short fuzzing runs of every fuzz target (the corpus under testdata/fuzz
# is replayed by make test anyway). FUZZTIME=10m make fuzz for longer.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzFraming$$' -fuzztime=$(FUZZTIME) ./linereceiver
	$(GO) test -run='^$$' -fuzz='^FuzzParsePORT$$' -fuzztime=$(FUZZTIME) ./ftp/ftpwire
	$(GO) test -run='^$$' -fuzz='^FuzzParseEPRT$$' -fuzztime=$(FUZZTIME) ./ftp/ftpwire
	$(GO) test -run='^$$' -fuzz='^FuzzPassiveReplies$$' -fuzztime=$(FUZZTIME) ./ftp/ftpwire
	$(GO) test -run='^$$' -fuzz='^FuzzResolve$$' -fuzztime=$(FUZZTIME) ./ftp/shell
	$(GO) test -run='^$$' -fuzz='^FuzzUsersFile$$' -fuzztime=$(FUZZTIME) ./ftp/auth
	$(GO) test -run='^$$' -fuzz='^FuzzSession$$' -fuzztime=$(FUZZTIME) ./ftp
	$(GO) test -run='^$$' -fuzz='^FuzzReplies$$' -fuzztime=$(FUZZTIME) ./ftp/client
	$(GO) test -run='^$$' -fuzz='^FuzzTLSRecords$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./reactor
	$(GO) test -run='^$$' -fuzz='^FuzzTLSHandshakeInput$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./reactor

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
