#!/usr/bin/env bash
# tests/run.sh, the runner, on small made-up suites: it counts the tests that ran, from shunit2's
# own output; a test planned but never run, or cut short when its suite died or hung, is a
# failure; a suite with no tests is a failure; a missing optional peer is a skip (a failure under
# REQUIRE_PEERS=1); and the last line is `N passed, N failed` alone, with a non-zero exit status
# whenever something failed. Run alone with `tests/run.sh test_runner`.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

oneTimeSetUp() {
    SUITES=$SHUNIT_TMPDIR/suites
    mkdir -p "$SUITES"
    # The made-up suites need no certificates: a placeholder stops the runner from making them.
    mkdir -p "$SHUNIT_TMPDIR/no-certs" && : >"$SHUNIT_TMPDIR/no-certs/ca.crt"
}

# make_suite NAME BODY: writes the suite SUITES/test_NAME.sh: lib.sh, BODY (its test functions), shunit2.
# In BODY a line starts with @ where the suite's line is to start with a test's name (were it to
# start with the name here, shunit2 would take it for a test of this suite).
make_suite() {
    # shellcheck disable=SC2016  # $SHUNIT2 is the made-up suite's to expand
    printf '%s\n' "#!/usr/bin/env bash" ". '$ROOT/tests/lib.sh'" "$2" '. "$SHUNIT2"' |
        sed 's/^@//' >"$SUITES/test_$1.sh"
}

# run_runner SUITE_NAME...: runs tests/run.sh on those made-up suites (environment as given) and
# sets RUN_STATUS, RUN_STDOUT (stdout, then stderr) and LAST_LINE (stdout's).
run_runner() {
    local name paths=()
    for name in "$@"; do paths+=("$SUITES/test_$name.sh"); done
    TEST_CERTS_CACHE=$SHUNIT_TMPDIR/no-certs TEST_JOBS=${TEST_JOBS:-1} RUN_TIMEOUT=60 \
        run_program tests/run.sh "${paths[@]}"
    LAST_LINE=$(tail -n 1 <<<"${RUN_STDOUT%$'\n'}")
    RUN_STDOUT+=$RUN_STDERR
}

# assert_summary LINE STATUS: the runner's last line is exactly LINE and its exit status STATUS
# (0, or 1 for "non-zero").
assert_summary() {
    assertEquals "the runner's last line; its output:
$RUN_STDOUT" "$1" "$LAST_LINE" || return 1
    if [[ $2 == 0 ]]; then
        assertEquals "the runner's exit status" 0 "$RUN_STATUS"
    else
        assertNotEquals "the runner's exit status must be non-zero" 0 "$RUN_STATUS"
    fi
}

FOUR_TESTS_SECOND_ENDS_WITH='
@test_1() { assertTrue true; }
@test_2() { assertTrue true; ENDING }
@test_3() { assertTrue true; }
@test_4() { assertTrue true; }'

test_all_passing_suite_counts_each_test() {
    make_suite passing "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/:;}"
    run_runner passing
    assert_summary '4 passed, 0 failed' 0
}

test_failed_assert_fails_only_that_test() {
    make_suite one_fails "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/assertEquals wanted 1 2;}"
    run_runner one_fails
    assert_summary '3 passed, 1 failed' 1 || return
    assert_output_has "$RUN_STDOUT" '^failed: test_2: ' 'the failed test is named'
}

# shunit2 still prints its report ("Ran 4 tests.") after an exit, counting the tests it planned.
test_suite_that_exits_in_test_2_of_4_counts_3_failed() {
    make_suite exits "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/exit 0;}"
    run_runner exits
    assert_summary '1 passed, 3 failed' 1 || return
    assert_output_has "$RUN_STDOUT" '^failed: test_3 never ran' 'the tests that never ran are named'
}

# Killed outright: no report at all.
test_suite_killed_in_test_2_of_4_counts_3_failed() {
    make_suite killed "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/kill -KILL \$\$;}"
    run_runner killed
    assert_summary '1 passed, 3 failed' 1 || return
    assert_output_has "$RUN_STDOUT" '^failed: test_2: the suite stopped during this test'
}

test_suite_that_hangs_is_stopped_and_its_unfinished_tests_fail() {
    make_suite hangs "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/sleep 60 \& LIB_BG_PIDS+=(\$!); wait \$!;}"
    SUITE_TIMEOUT=2 run_runner hangs
    assert_summary '1 passed, 3 failed' 1 || return
    assert_output_has "$RUN_STDOUT" 'was stopped after 2 s'
}

test_suite_with_no_tests_is_a_failure() {
    make_suite empty 'helper() { :; }'
    run_runner empty
    assert_summary '0 passed, 1 failed' 1 || return
    assert_output_has "$RUN_STDOUT" 'has no tests'
}

test_failed_one_time_set_up_fails_every_test() {
    make_suite no_setup "oneTimeSetUp() { return 1; }${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/:;}"
    run_runner no_setup
    assert_summary '0 passed, 4 failed' 1
}

test_suite_that_exits_non_zero_after_passing_tests_is_a_failure() {
    make_suite exits_late "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/:;}
oneTimeTearDown() { trap '_shunit_cleanup EXIT; exit 5' EXIT; }"
    run_runner exits_late
    assert_summary '4 passed, 1 failed' 1 || return
    assert_output_has "$RUN_STDOUT" 'exited with status 5'
}

# A suite may make its tests at run time, as tests/test_docs.sh does (one per README transcript):
# those count too, passed or failed.
test_tests_made_at_run_time_are_counted() {
    make_suite made_at_run_time '
eval "test_made_1() { assertTrue true; }; test_made_2() { fail made; }"
suite() { suite_addTest test_made_1; suite_addTest test_made_2; }'
    run_runner made_at_run_time
    assert_summary '1 passed, 1 failed' 1
}

MISSING_PEER='
@test_needs_a_peer() { require_peer no-such-peer-program "a made-up interop check" || return 0; fail "ran without its peer"; }
@test_plain() { assertTrue true; }'

test_missing_peer_is_a_skip_not_a_failure() {
    make_suite peer "$MISSING_PEER"
    REQUIRE_PEERS=0 run_runner peer
    assert_summary '1 passed, 0 failed' 0 || return
    assert_output_has "$RUN_STDOUT" '^1 skipped' 'the skip is counted above the last line' || return
    assert_output_has "$RUN_STDOUT" 'test_peer\.sh: no-such-peer-program is not installed; skipping a made-up interop check$' \
        'the skip says why'
}

test_missing_peer_is_a_failure_under_require_peers() {
    make_suite peer "$MISSING_PEER"
    REQUIRE_PEERS=1 run_runner peer
    assert_summary '1 passed, 1 failed' 1 || return
    assert_output_has "$RUN_STDOUT" '^failed: test_needs_a_peer: .*no-such-peer-program is not installed, and REQUIRE_PEERS=1'
}

test_totals_add_up_across_suites_run_side_by_side() {
    make_suite passing "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/:;}"
    make_suite killed "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/kill -KILL \$\$;}"
    make_suite peer "$MISSING_PEER"
    TEST_JOBS=3 REQUIRE_PEERS=0 run_runner passing killed peer
    assert_summary '6 passed, 3 failed' 1
}

test_a_suite_that_does_not_exist_is_a_failure() {
    make_suite passing "${FOUR_TESTS_SECOND_ENDS_WITH/ENDING/:;}"
    run_runner passing no_such_suite
    assert_summary '4 passed, 1 failed' 1
}

# shellcheck disable=SC1090
. "$SHUNIT2"
