#!/usr/bin/env bash
# The commands the README gives a learner to start with: `make run-01` (02, 03) starts the
# chapter's server, which answers on the port given with ARGS and stops with status 0 on Ctrl-C or
# SIGTERM, so make does too; `scripts/demo.sh` (what `make demo` runs once the tools are
# installed) walks every chapter and says each one went as expected. Both run in a scratch copy of
# the repository (Makefile, scripts, tests/lib.sh, the built programs, the test certificates as
# certs/), so that they use free ports and leave the real certs/ alone.
# The Makefile's hardening (stack protector, full RELRO, PIE, _FORTIFY_SOURCE when optimised) is
# read from the binaries it builds, with its default CFLAGS and with CFLAGS='-O0 -g'.
# Run alone with `tests/run.sh test_make` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

PROGRAMS=(01-tls-server/server 02-mtls-server/server 03-custom-ca-validation/server 04-client/client)

oneTimeSetUp() {
    local program
    for program in "${PROGRAMS[@]}"; do require_program "$(program_path "$program")" || return 1; done
    make_test_certs || return 1
    # The scratch repository. The programs are copied after their sources and touched, so that
    # make finds them up to date and runs the build under test (BUILD_DIR's, if set).
    TREE=$SHUNIT_TMPDIR/tree
    mkdir -p "$TREE/scripts" "$TREE/tests" "$TREE/certs"
    cp "$ROOT/Makefile" "$TREE/" &&
        cp "$ROOT"/scripts/{gen-certs,demo,curl-checks}.sh "$TREE/scripts/" &&
        cp "$ROOT/tests/lib.sh" "$TREE/tests/" && cp "$CERTS"/* "$TREE/certs/" || return 1
    for program in "${PROGRAMS[@]}"; do
        mkdir -p "$TREE/${program%/*}"
        cp "$ROOT/$program.c" "$TREE/$program.c" && cp "$(program_path "$program")" "$TREE/$program" &&
            touch "$TREE/$program" || return 1
    done
}

# descendant_running PID EXE: prints the PID of the process, PID itself or one of its descendants
# (three generations at most: make may run the command through a shell), whose executable is EXE.
descendant_running() {
    local generation=("$1") next pid child
    for _ in 1 2 3 4; do
        next=()
        for pid in "${generation[@]}"; do
            if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$2" ]]; then echo "$pid"; return 0; fi
            while read -r child; do [[ -z $child ]] || next+=("$child"); done < <(ps -o pid= --ppid "$pid")
        done
        generation=("${next[@]}")
    done
    return 1
}

# check_make_run CHAPTER PROGRAM [TLS_CLIENT]: `make run-CHAPTER ARGS='--port P'` in the scratch
# repository; the server make started answers GET / with `Hello World!` on port P; SIGTERM to that
# server (found by its executable among make's children: make's own PID is not the server's) ends
# it with status 0, and make with it.
check_make_run() {
    local chapter=$1 program=$2 make_pid i started status=0
    local TLS_CLIENT=${3:-}
    SERVER_PORT=$(free_port)
    _lib_scratch make-run.log; SERVER_LOG=$LIB_SCRATCH LOG_MARK=0
    (cd "$TREE" && exec make --no-print-directory "run-$chapter" ARGS="--port $SERVER_PORT") \
        >"$SERVER_LOG" 2>&1 </dev/null &
    make_pid=$!
    LIB_BG_PIDS+=("$make_pid")
    wait_for_log "^Listening on https://localhost:$SERVER_PORT\$" "${START_TIMEOUT:-20}"
    started=$?
    # (Found even when it says something else, so that cleanup_test stops it, not just make.)
    SERVER_PID=$(descendant_running "$make_pid" "$TREE/$program")
    [[ -z $SERVER_PID ]] || LIB_SERVER_PIDS+=("$SERVER_PID")
    if ((started != 0)); then
        fail "make run-$chapter ARGS='--port $SERVER_PORT' did not start the server; it printed:
$(cat "$SERVER_LOG")"
        return 1
    fi
    if [[ -z $SERVER_PID ]]; then
        fail "make run-$chapter: no process running $TREE/$program under make (PID $make_pid)"
        return 1
    fi
    curl_get /
    assert_curl 200 'Hello World!' || return
    # The server is make's child, not ours: its exit status is make's to see, and make exits 0
    # only when the server did (else it says "Error N" and exits 2).
    kill -TERM "$SERVER_PID"
    for ((i = 0; i < ${STOP_TIMEOUT:-30} * 10; i++)); do process_running "$make_pid" || break; sleep 0.1; done
    wait "$make_pid" || status=$?
    assertEquals "make run-$chapter's exit status once its server got SIGTERM; it printed:
$(cat "$SERVER_LOG")" 0 "$status" || return
    assert_log '^Stopping: SIGTERM received$'
}

test_make_run_01_serves_on_the_port_given_in_args() { check_make_run 01 01-tls-server/server; }
test_make_run_02_serves_on_the_port_given_in_args() { check_make_run 02 02-mtls-server/server client; }
test_make_run_03_serves_on_the_port_given_in_args() { check_make_run 03 03-custom-ca-validation/server client; }

test_demo_walks_every_chapter_as_expected() {
    RUN_TIMEOUT=180 run_program --in "$TREE" "$TREE/scripts/demo.sh"
    assertEquals "scripts/demo.sh exit status; its output:
$RUN_STDOUT$RUN_STDERR" 0 "$RUN_STATUS" || return
    local chapter
    for chapter in 01 02 03 04; do
        assert_output_has "$RUN_STDOUT" "^  Chapter $chapter: as expected\$" 'the summary' || return
    done
    assert_output_has "$RUN_STDOUT" '^Chapter 04: all 3 checks as expected\.$' "chapter 04's checks"
}

# --- Hardening: the Makefile's flags survive a user's CFLAGS ---------------------------------------

# build_hardened_01 [MAKE ARGS...]: builds chapter 01 with the repository's Makefile, and ARGS
# (e.g. CFLAGS='-O0 -g'), in a fresh scratch copy; sets BUILT to the program.
build_hardened_01() {
    local tree
    _lib_scratch hardening; tree=$LIB_SCRATCH
    mkdir -p "$tree/01-tls-server" && cp "$ROOT/Makefile" "$tree/" &&
        cp "$ROOT/01-tls-server/server.c" "$tree/01-tls-server/" || return 1
    BUILT=$tree/01-tls-server/server
    RUN_TIMEOUT=180 run_program --in "$tree" "$(command -v make)" --no-print-directory \
        01-tls-server/server "$@"
    assertEquals "make 01-tls-server/server $*: exit status; it printed: $RUN_STDOUT$RUN_STDERR" \
        0 "$RUN_STATUS"
}

# assert_hardened PROGRAM WHAT [FORTIFIED]: full RELRO (a GNU_RELRO segment, and BIND_NOW: every
# symbol resolved at load, so the whole table can be made read-only), a PIE, and the stack
# protector (__stack_chk_fail); with FORTIFIED=yes, _FORTIFY_SOURCE's checked calls (*_chk).
assert_hardened() {
    local program=$1 what=$2 dynamic segments symbols
    dynamic=$(readelf -d -W "$program" 2>&1)
    segments=$(readelf -l -W "$program" 2>&1)
    symbols=$(readelf --dyn-syms -W "$program" 2>&1 | awk '{ print $8 }')
    assert_output_has "$segments" 'GNU_RELRO' "$what: readelf -l (RELRO)" || return 1
    assert_output_has "$dynamic" '\(FLAGS\) +BIND_NOW' "$what: readelf -d (-z now)" || return 1
    assert_output_has "$dynamic" '\(FLAGS_1\) +Flags: .*NOW' "$what: readelf -d (-z now)" || return 1
    assert_output_has "$dynamic" '\(FLAGS_1\) +Flags: .*PIE' "$what: readelf -d (PIE)" || return 1
    assert_output_has "$symbols" '^__stack_chk_fail(@|$)' "$what: the stack protector's symbol" || return 1
    [[ ${3:-} == yes ]] || return 0
    assert_output_has "$symbols" '^__(snprintf|memcpy|printf|fprintf|read)_chk(@|$)' \
        "$what: _FORTIFY_SOURCE's checked calls" || return 1
}

test_the_default_build_has_full_relro_pie_stack_protector_and_fortify() {
    build_hardened_01 || return
    assert_hardened "$BUILT" 'make' yes
}

# A user's CFLAGS replace the default -O2 -g, not the hardening. At -O0, _FORTIFY_SOURCE does
# nothing (glibc warns, and -Werror would stop the build): the Makefile leaves it out there.
test_make_cflags_o0_keeps_relro_pie_and_the_stack_protector() {
    build_hardened_01 CFLAGS='-O0 -g' || return
    assert_output_has "$RUN_STDOUT" ' -O0 -g .*-fstack-protector-strong' 'the compile line' || return
    assert_hardened "$BUILT" "make CFLAGS='-O0 -g'"
}

# shellcheck disable=SC1090
. "$SHUNIT2"
