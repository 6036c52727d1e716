# mtls-by-example: build, certificates, demo and tests.
# Every chapter program is one .c file that builds alone; this Makefile only adds warnings and flags.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARNINGS = -Wall -Wextra -Werror
# pkg-config finds OpenSSL wherever it lives (Homebrew, /usr/local); plain -lssl -lcrypto otherwise.
OPENSSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
OPENSSL_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
# Hardening, kept apart from CFLAGS so that `make CFLAGS=-O0 -g` keeps it: a stack protector
# (a canary before each return address), full RELRO (the relocations are made read-only once the
# program is loaded, -z now resolving every symbol first), a position-independent executable (for
# address randomisation), and _FORTIFY_SOURCE (checked versions of memcpy, snprintf... where
# the compiler knows the buffer's size). _FORTIFY_SOURCE needs optimisation: glibc warns without
# it, and -Werror would stop the build; so it comes only when CFLAGS hold an -O other than -O0.
OPTIMISED  = $(filter-out -O0,$(filter -O%,$(CFLAGS)))
HARDENING  = -fstack-protector-strong -fPIE $(if $(OPTIMISED),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
HARDENING_LDFLAGS = -pie -Wl,-z,relro,-z,now

SOURCES  := $(wildcard 0*/server.c 0*/client.c)
PROGRAMS := $(SOURCES:.c=)

.PHONY: all certs demo test bench clean run-01 run-02 run-03 run-05 diff-02 diff-03 diff-04 diff-05

all: $(PROGRAMS)

$(PROGRAMS): %: %.c
	$(CC) $(CFLAGS) $(HARDENING) $(WARNINGS) $(OPENSSL_CFLAGS) -o $@ $< $(HARDENING_LDFLAGS) $(OPENSSL_LIBS) -lpthread

certs:
	scripts/gen-certs.sh certs

# make run-01 ARGS='--port 8443': ARGS are passed to the server.
run-01: 01-tls-server/server certs
	01-tls-server/server $(ARGS)

run-02: 02-mtls-server/server certs
	02-mtls-server/server $(ARGS)

run-03: 03-custom-ca-validation/server certs
	03-custom-ca-validation/server $(ARGS)

run-05: 05-production-server/server certs
	05-production-server/server $(ARGS)

demo:
	scripts/deps.sh
	$(MAKE) all
	scripts/demo.sh

test: all
	tests/run.sh

bench: all
	scripts/bench.sh

# Breaks each behaviour of tests/mutants.list on purpose and checks that a test notices.
.PHONY: mutants
mutants:
	CC='$(CC)' scripts/mutants.sh

# Each chapter is the previous one plus one idea: these show just that idea.
diff-02:
	-diff -u 01-tls-server/server.c 02-mtls-server/server.c
diff-03:
	-diff -u 02-mtls-server/server.c 03-custom-ca-validation/server.c
# Chapter 05 is chapter 03 made ready to run for months: this is its lesson.
diff-05:
	-diff -u 03-custom-ca-validation/server.c 05-production-server/server.c

# Chapter 04 is a new program, the client: its lesson is chapter 03's TLS set-up seen from the
# other side, so this compares the two "TLS context set-up" sections.
TLS_SETUP_SECTION = sed -n '/^ \* TLS context set-up/,/^\/\* ---/p'
diff-04:
	@a=$$(mktemp) && b=$$(mktemp) && \
	$(TLS_SETUP_SECTION) 03-custom-ca-validation/server.c > $$a && \
	$(TLS_SETUP_SECTION) 04-client/client.c > $$b && \
	{ diff -u --label 03-custom-ca-validation/server.c --label 04-client/client.c $$a $$b; \
	  rm -f $$a $$b; }; true

# make check-exercise N=1: the self-check of exercise N (exercises/README.md); SOURCE=FILE checks
# another file than the one the exercise's README names.
.PHONY: check-exercise
check-exercise: 03-custom-ca-validation/server
	exercises/check.sh $(N) $(SOURCE)

clean:
	rm -f $(PROGRAMS)
	rm -rf build

# ---------------------------------------------------------------------------------------------
# Hardening: sanitizers, valgrind's memcheck, fuzzing and static analysis. Each script builds
# its own copies of the programs under build/ (gitignored) and leaves the normal build alone.
.PHONY: sanitize valgrind fuzz analyze

# make sanitize SUITES='test_01_tls_server test_keylog': only those suites on the sanitizer builds.
sanitize:
	scripts/sanitize.sh $(SUITES)

valgrind:
	scripts/valgrind.sh

fuzz:
	scripts/fuzz.sh

analyze:
	scripts/analyze.sh

# The Illustrated mTLS Connection: real connections between the chapters' programs, captured on lo
# (root or CAP_NET_RAW on dumpcap), decoded by tshark with the key log, written to docs/illustrated/.
.PHONY: illustrate
illustrate: all certs
	scripts/illustrate.sh

# Every failure mode of mutual TLS against every client, in TLS 1.3 and 1.2: docs/failure-atlas.md
# and .json (scripts/failure-atlas.py; `scripts/cert-doctor.sh explain 'TEXT'` reads the JSON).
.PHONY: atlas
atlas: 03-custom-ca-validation/server 04-client/client
	scripts/failure-atlas.py
