# mtls-by-example: build, certificates, demo and tests.
# Every chapter program is one .c file that builds alone; this Makefile only adds warnings and flags.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARNINGS = -Wall -Wextra -Werror
# pkg-config finds OpenSSL wherever it lives (Homebrew, /usr/local); plain -lssl -lcrypto otherwise.
OPENSSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
OPENSSL_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

SOURCES  := $(wildcard 0*/server.c 0*/client.c)
PROGRAMS := $(SOURCES:.c=)

.PHONY: all certs demo test bench clean run-01 run-02 run-03 diff-02 diff-03 diff-04

all: $(PROGRAMS)

$(PROGRAMS): %: %.c
	$(CC) $(CFLAGS) $(WARNINGS) $(OPENSSL_CFLAGS) -o $@ $< $(OPENSSL_LIBS) -lpthread

certs:
	scripts/gen-certs.sh certs

# make run-01 ARGS='--port 8443': ARGS are passed to the server.
run-01: 01-tls-server/server certs
	01-tls-server/server $(ARGS)

run-02: 02-mtls-server/server certs
	02-mtls-server/server $(ARGS)

run-03: 03-custom-ca-validation/server certs
	03-custom-ca-validation/server $(ARGS)

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

sanitize:
	scripts/sanitize.sh

valgrind:
	scripts/valgrind.sh

fuzz:
	scripts/fuzz.sh

analyze:
	scripts/analyze.sh

# Every failure mode of mutual TLS against every client, in TLS 1.3 and 1.2: docs/failure-atlas.md
# and .json (scripts/failure-atlas.py; `scripts/cert-doctor.sh explain 'TEXT'` reads the JSON).
.PHONY: atlas
atlas: 03-custom-ca-validation/server 04-client/client
	scripts/failure-atlas.py
