#!/usr/bin/env bash
# The mutant list (tests/mutants.list, run by `make mutants`), checked without building it: every
# mutant must still break what it says it breaks. A refactoring that changes the line a mutant
# rewrites would turn it into a no-op that "survives" for the wrong reason, or hides a real gap;
# this suite says so in seconds, during `make test`. Also: what scripts/mutants.sh calls an error.
# Run alone with `tests/run.sh test_mutants_list`.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

MUTANTS=scripts/mutants.sh

# mutants_with LIST_TEXT [ARGS...]: runs scripts/mutants.sh ARGS on a list holding LIST_TEXT
# (run_program: RUN_STATUS, RUN_STDOUT, RUN_STDERR), building into the scratch directory.
mutants_with() {
    local list=$SHUNIT_TMPDIR/mutants.list
    printf '%s\n' "$1" >"$list"
    shift
    MUTANTS_LIST=$list MUTANTS_BUILD_DIR=$SHUNIT_TMPDIR/build run_program "$MUTANTS" "$@"
}

test_every_mutant_applies_exactly_once_to_the_current_source() {
    run_program "$MUTANTS" --check
    assert_run 0 || return
    assertEquals 'no mutant in error' '' "$(grep '^ERROR' <<<"$RUN_STDOUT")" || return
    assert_output_has "$RUN_STDOUT" '^mutants: [0-9]+ mutants checked, 0 in error$'
}

test_the_list_holds_at_least_15_mutants() {
    local count
    count=$(grep -c '^name:' "$ROOT/tests/mutants.list")
    assertTrue "tests/mutants.list holds $count mutants, wanted at least 15" "[ $count -ge 15 ]"
}

test_a_mutant_matching_nothing_or_twice_is_an_error() {
    mutants_with '
name:  gone
file:  04-client/client.c
subst: s/this text is not in the client//
tests: test_04_client test_help_prints_usage_on_stdout_and_exits_0
why:   the line it broke was rewritten

name:  twice
file:  04-client/client.c
subst: s/return 1;/return 0;/
tests: test_04_client test_help_prints_usage_on_stdout_and_exits_0
why:   breaks more than it says' --check
    assertEquals "exit status (stdout: $RUN_STDOUT; stderr: $RUN_STDERR)" 1 "$RUN_STATUS" || return
    assert_output_has "$RUN_STDOUT" '^ERROR +gone +the substitution matches 0 times in 04-client/client\.c, not once$' || return
    assert_output_has "$RUN_STDOUT" '^ERROR +twice +the substitution matches [0-9]+ times in 04-client/client\.c, not once$' || return
    assert_output_has "$RUN_STDOUT" '^mutants: 2 mutants checked, 2 in error$'
}

test_a_mutant_naming_a_missing_test_or_file_is_an_error() {
    # shunit2 runs a test it is given by name even if no such function exists, and passes it.
    mutants_with '
name:  no-test
file:  04-client/client.c
subst: s/return preverify_ok;/return 1;/
tests: test_04_client test_server_certificate_from_another_ca_is_refused test_that_was_renamed
why:   x

name:  no-file
file:  05-gone/server.c
subst: s/a/b/
tests: test_04_client test_help_prints_usage_on_stdout_and_exits_0
why:   x' --check
    assertEquals "exit status (stdout: $RUN_STDOUT; stderr: $RUN_STDERR)" 1 "$RUN_STATUS" || return
    assert_output_has "$RUN_STDOUT" '^ERROR +no-test +no test test_that_was_renamed in tests/test_04_client\.sh$' || return
    assert_output_has "$RUN_STDOUT" '^ERROR +no-file +no such file: 05-gone/server\.c$'
}

test_a_list_with_a_mistake_is_refused_before_anything_runs() {
    mutants_with '
name:  typo
file:  04-client/client.c
subts: s/return preverify_ok;/return 1;/' --check
    assertEquals "exit status (stdout: $RUN_STDOUT; stderr: $RUN_STDERR)" 1 "$RUN_STATUS" || return
    assert_output_has "$RUN_STDERR" "line 4: unknown key 'subts'"
}

test_a_mutant_that_does_not_compile_is_an_error_and_a_survivor_fails_the_run() {
    # The whole run, on two mutants of the client and one quick test: the unchanged programs are
    # built, the test passes on them, then each mutant is built and the test runs on it. A third
    # mutant breaks a script: its test runs from a copy of the repository, and the script in the
    # repository stays as it is.
    RUN_TIMEOUT=300 mutants_with '
name:  does-not-compile
file:  04-client/client.c
subst: s/return preverify_ok;/return preverify_ok/
tests: test_04_client test_help_prints_usage_on_stdout_and_exits_0
why:   a syntax error is not a kill

name:  comment-only
file:  04-client/client.c
subst: s/we return it unchanged/we return it as it is/
tests: test_04_client test_help_prints_usage_on_stdout_and_exits_0
why:   nothing a test can see

name:  script-message
file:  scripts/cert-doctor.sh
subst: s/die_usage "unknown option \x27\$1\x27"/die_usage "unknown flag \x27\$1\x27"/
tests: test_cert_doctor test_usage_errors_exit_2_naming_the_problem
why:   a usage error that no longer names what is wrong'
    assertEquals "exit status (stdout: $RUN_STDOUT; stderr: $RUN_STDERR)" 1 "$RUN_STATUS" || return
    assert_output_has "$RUN_STDOUT" '^ERROR +does-not-compile +does not compile .*build\.log\): .*error' || return
    assert_output_has "$RUN_STDOUT" '^SURVIVED comment-only +\(ran test_04_client:test_help_prints_usage_on_stdout_and_exits_0\)$' || return
    assert_output_has "$RUN_STDOUT" '^killed +script-message +by test_cert_doctor:test_usage_errors_exit_2_naming_the_problem$' || return
    assert_output_has "$(cat "$SHUNIT_TMPDIR/build/script-message/tree/scripts/cert-doctor.sh")" 'unknown flag' 'the copy' || return
    assert_output_has "$(cat "$ROOT/scripts/cert-doctor.sh")" "die_usage \"unknown option '\\\$1'\"" 'the repository' || return
    assert_output_has "$RUN_STDOUT" '^mutants: 1 killed, 1 survived, 1 in error \([0-9]+ s\)$'
}

# shellcheck source=/dev/null
. "$SHUNIT2"
