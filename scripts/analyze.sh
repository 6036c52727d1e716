#!/usr/bin/env bash
# scripts/analyze.sh  (make analyze): static analysis of every chapter program, which must find
# nothing. Two tools, because they find different things:
#   gcc -fanalyzer    follows paths through each function and across calls: NULL dereferences,
#                     leaks, double frees, use of uninitialized memory, file descriptor leaks;
#   cppcheck          bounds, portability, and suspicious code.
# A finding that is not a bug is not silenced here: it gets an inline suppression where it occurs
# (`// cppcheck-suppress ID` or a #pragma for gcc) with a comment saying why it is safe.
set -euo pipefail
# shellcheck source=scripts/hardening-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/hardening-lib.sh"

need_tool gcc
need_tool cppcheck
cd "$ROOT"
has_program 04-client/client || true
sources=()
for program in "${PROGRAMS[@]}"; do sources+=("$program.c"); done

failed=0
# Twice: at -O0 (gcc's default) and at -O2 (as the Makefile builds). The analyzer runs on the code
# the compiler has after its early passes, so each level can show paths the other does not.
for source in "${sources[@]}"; do
    for level in -O0 -O2; do
        note "gcc -fanalyzer $level $source"
        # shellcheck disable=SC2086  # OPENSSL_CFLAGS holds several flags
        if ! gcc -fanalyzer -Wall -Wextra -Werror "$level" -fdiagnostics-plain-output \
                $OPENSSL_CFLAGS -c -o /dev/null "$source"; then
            failed=$((failed + 1))
        fi
    done
done

# cppcheck reads OpenSSL's and the C library's interfaces from its own descriptions (--library)
# rather than from the system headers, which it could not parse quietly. TCP_DEFER_ACCEPT gets its
# Linux value so that the Linux-only branch is checked too.
note "cppcheck ${sources[*]}"
if ! cppcheck --enable=warning,portability,performance --std=c11 --error-exitcode=1 --inline-suppr \
        --suppress=missingIncludeSystem --library=openssl --library=posix --library=gnu \
        -DTCP_DEFER_ACCEPT=9 --quiet --template=gcc "${sources[@]}"; then
    failed=$((failed + 1))
fi

((failed == 0)) || die "$failed analysis run(s) found something (see above)"
note "no findings in ${#sources[@]} programs"
