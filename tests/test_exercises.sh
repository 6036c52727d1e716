#!/usr/bin/env bash
# The exercises (exercises/README.md): each self-check (exercises/check.sh N) must FAIL on what a
# learner starts from (the unmodified chapter 03 source, or exercises/03-rotate-ca/start.sh), so
# that it really tests something, and PASS on the reference solution, so that the solution still
# applies to the chapter and still works. Also: a missing answer file is reported with the command
# that creates it.
# Run alone with `tests/run.sh test_exercises` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

CHECK=$ROOT/exercises/check.sh

oneTimeSetUp() {
    require_program "$(program_path 03-custom-ca-validation/server)" && make_test_certs
}

# run_check N [SOURCE]: runs the self-check (at most 120 s) with the suite's certificates. Sets
# CHECK_STATUS and CHECK_OUTPUT.
run_check() {
    CHECK_STATUS=0
    CHECK_OUTPUT=$(cd "$ROOT" && EXERCISE_CERTS=$CERTS timeout -k 5 120 "$CHECK" "$@" 2>&1) || CHECK_STATUS=$?
}

# assert_check_fails_on_start N SOURCE FAIL_PATTERN: the check exits 1, with a FAIL line matching
# FAIL_PATTERN, a hint, and the summary.
assert_check_fails_on_start() {
    run_check "$1" "$2"
    assertEquals "exercises/check.sh $1 on the starting point must fail; it printed:
$CHECK_OUTPUT" 1 "$CHECK_STATUS" || return
    assert_output_has "$CHECK_OUTPUT" "^ *FAIL +$3" "the failing scenario" || return
    assert_output_has "$CHECK_OUTPUT" '^ *hint: ' "a hint for the learner" || return
    assert_output_has "$CHECK_OUTPUT" 'checks fail\. Not yet' "the summary"
}

# assert_solution_passes N: the reference solution passes every scenario.
assert_solution_passes() {
    run_check "$1" --solution
    assertEquals "exercises/check.sh $1 --solution must pass; it printed:
$CHECK_OUTPUT" 0 "$CHECK_STATUS" || return
    if grep -q 'FAIL' <<<"$CHECK_OUTPUT"; then fail "a FAIL line in: $CHECK_OUTPUT"; return; fi
    assert_output_has "$CHECK_OUTPUT" '^All [0-9]+ checks pass' "the summary"
}

test_exercise_1_check_fails_on_the_unmodified_chapter_03() {
    assert_check_fails_on_start 1 03-custom-ca-validation/server.c 'a client from another CA'
}
test_exercise_1_reference_solution_passes() { assert_solution_passes 1; }

test_exercise_2_check_fails_on_the_unmodified_chapter_03() {
    assert_check_fails_on_start 2 03-custom-ca-validation/server.c 'CN=ecdsa-client'
}
test_exercise_2_reference_solution_passes() { assert_solution_passes 2; }

test_exercise_3_check_fails_on_the_starting_script() {
    assert_check_fails_on_start 3 exercises/03-rotate-ca/start.sh 'a client still on the old CA'
}
test_exercise_3_reference_solution_passes() { assert_solution_passes 3; }

# Changing the one line that decides the design is not the whole exercise: the log must still say
# which certificate was refused, and why.
test_exercise_1_check_fails_on_a_one_line_answer() {
    local answer=$LIB_TMP/one-line-answer.c
    awk '/^static int keep_first_problem_and_finish_handshake/ { inside = 1 }
         inside && /^    return 1;$/ { print "    return preverify_ok;"; inside = 0; next }
         { print }' "$ROOT/03-custom-ca-validation/server.c" >"$answer"
    cmp -s "$answer" "$ROOT/03-custom-ca-validation/server.c" &&
        { fail 'could not make the one-line answer (the callback changed?)'; return; }
    assert_check_fails_on_start 1 "$answer" 'the log names the refused certificate'
}

# reference_solution N OUT: writes exercise N's reference solution (a patch on its starting file)
# to OUT.
reference_solution() {
    local base=03-custom-ca-validation/server.c dir
    dir=$(printf '%s\n' "$ROOT"/exercises/0"$1"-*/ | head -n 1)
    [[ $1 != 4 ]] || base=04-client/client.c
    patch -s -o "$2" "$ROOT/$base" "$dir/solution.diff" >/dev/null
}

# wrong_solution N OUT SED_SCRIPT: the reference solution of exercise N with one plausible mistake
# (SED_SCRIPT, which must change it). Fails the test when the mistake could not be made.
wrong_solution() {
    reference_solution "$1" "$2.right" && sed "$3" "$2.right" >"$2" || { fail "no reference solution $1"; return 1; }
    if cmp -s "$2" "$2.right"; then fail "the mistake '$3' changed nothing: did the solution change?"; return 1; fi
}

# Exercise 2: the answers a learner is likely to get wrong, each refused by the check.
test_exercise_2_check_fails_on_a_substring_match() {
    wrong_solution 2 "$LIB_TMP/substring.c" \
        's/strcmp(subject, ALLOWED_CLIENT_SUBJECTS\[i\]) == 0/strstr(subject, ALLOWED_CLIENT_SUBJECTS[i]) != NULL/' || return
    assert_check_fails_on_start 2 "$LIB_TMP/substring.c" 'CN=client-evil, issued by our CA'
}

test_exercise_2_check_fails_on_a_prefix_match() {
    wrong_solution 2 "$LIB_TMP/prefix.c" \
        's/strcmp(subject, ALLOWED_CLIENT_SUBJECTS\[i\]) == 0/strncmp(subject, ALLOWED_CLIENT_SUBJECTS[i], strlen(ALLOWED_CLIENT_SUBJECTS[i])) == 0/' || return
    assert_check_fails_on_start 2 "$LIB_TMP/prefix.c" 'CN=client-evil, issued by our CA'
}

test_exercise_2_check_fails_on_a_list_checked_without_trust() {
    wrong_solution 2 "$LIB_TMP/no-trust.c" \
        's/if (client_is_trusted(c->ssl) \&\& client_is_allowed(c->ssl)) {/if (client_is_allowed(c->ssl)) {/' || return
    assert_check_fails_on_start 2 "$LIB_TMP/no-trust.c" 'CN=client issued by another CA'
}

# Exercise 4: a session file opened with fopen(), or one whose mode is set only when created.
test_exercise_4_check_fails_when_an_existing_file_keeps_its_mode() {
    wrong_solution 4 "$LIB_TMP/keeps-mode.c" 's/(S_ISREG(st.st_mode) \&\& fchmod(fd, 0600) != 0)/0/' || return
    assert_check_fails_on_start 4 "$LIB_TMP/keeps-mode.c" 'an existing FILE that others could read'
}

test_exercise_4_check_fails_on_a_world_readable_new_file() {
    wrong_solution 4 "$LIB_TMP/world-readable.c" \
        's/fd = open(session_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);/fd = open(session_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);/; s/(S_ISREG(st.st_mode) \&\& fchmod(fd, 0600) != 0)/(S_ISREG(st.st_mode) \&\& fchmod(fd, 0644) != 0)/' || return
    assert_check_fails_on_start 4 "$LIB_TMP/world-readable.c" 'FILE is readable by its owner only'
}

# wrong_rotation NAME SED_SCRIPT: $LIB_TMP/NAME.sh, the reference rotate.sh changed by SED_SCRIPT
# into a plausible wrong answer (fails the test if the change no longer applies).
wrong_rotation() {
    local solution=$ROOT/exercises/03-rotate-ca/solution/rotate.sh
    WRONG=$LIB_TMP/$1.sh
    sed "$2" "$solution" >"$WRONG"
    if cmp -s "$WRONG" "$solution"; then
        fail "could not make the wrong answer $1 (the reference solution changed?)"
        return 1
    fi
}

# curl alone passes a re-issued server certificate with no extensions at all: it reads localhost
# from the CN and takes any purpose. The check must not.
test_exercise_3_check_refuses_a_server_certificate_without_extensions() {
    wrong_rotation no-extensions 's/-extfile new-server\.ext //' || return
    assert_check_fails_on_start 3 "$WRONG" 'new-server\.crt is issued by new-ca for a TLS server' || return
    assert_output_has "$CHECK_OUTPUT" '^ *FAIL +its subjectAltName names localhost, 127\.0\.0\.1 and ::1' 'the SAN'
}

# A subjectAltName for the name alone: curl on localhost passes it, the 04 client on 127.0.0.1 not.
test_exercise_3_check_refuses_a_server_certificate_without_its_ip_addresses() {
    wrong_rotation dns-only 's/subjectAltName = DNS:localhost, IP:127\.0\.0\.1, IP:::1/subjectAltName = DNS:localhost/' || return
    assert_check_fails_on_start 3 "$WRONG" 'its subjectAltName names localhost, 127\.0\.0\.1 and ::1' || return
    assert_output_has "$CHECK_OUTPUT" 'missing: IP:127\.0\.0\.1 IP:::1' 'what is missing'
}

# certs/ may hold folders (chapter 03's README has scripts/article-certs.sh write certs/article/):
# the check copies the files only, and says nothing about the folders.
test_check_copies_only_the_files_of_the_certificate_folder() {
    local certs=$LIB_TMP/certs-with-a-folder
    mkdir -p "$certs/article" && cp -p "$CERTS"/*.* "$certs"/ && touch "$certs/article/ca.crt" &&
        printf '%s\n' 'exit 3' >"$LIB_TMP/stops-at-once.sh"
    CHECK_STATUS=0
    CHECK_OUTPUT=$(cd "$ROOT" && EXERCISE_CERTS=$certs timeout -k 5 120 "$CHECK" 3 "$LIB_TMP/stops-at-once.sh" 2>&1) ||
        CHECK_STATUS=$?
    assertEquals "exit status; output: $CHECK_OUTPUT" 1 "$CHECK_STATUS" || return
    assert_output_has "$CHECK_OUTPUT" 'The script failed' 'it ran the script' || return
    if grep -q 'cp:' <<<"$CHECK_OUTPUT"; then fail "cp complained: $CHECK_OUTPUT"; fi
}

# The starting point's new CA follows certs/README.md: RSA-3072 for a CA that signs for ten years,
# and it outlives the client certificate it signs.
test_exercise_3_start_makes_a_3072_bit_ca_that_outlives_what_it_signs() {
    local dir=$LIB_TMP/start out status=0
    mkdir -p "$dir" && cp -p "$CERTS"/ca.* "$dir"/
    out=$(cd "$ROOT" && timeout 120 bash exercises/03-rotate-ca/start.sh "$dir" 2>&1) || status=$?
    assertEquals "exit status; output: $out" 0 "$status" || return
    assert_output_has "$(openssl x509 -in "$dir/new-ca.crt" -noout -text)" 'Public-Key: \(3072 bit\)' 'the new CA key' || return
    # Valid for nine years or more from now, and longer than new-client.crt.
    openssl x509 -in "$dir/new-ca.crt" -noout -checkend $((9 * 365 * 86400)) >/dev/null
    assertEquals 'new-ca.crt valid nine years from now' 0 $? || return
    [[ $(date -d "$(openssl x509 -in "$dir/new-ca.crt" -noout -enddate | cut -d= -f2)" +%s) -gt \
       $(date -d "$(openssl x509 -in "$dir/new-client.crt" -noout -enddate | cut -d= -f2)" +%s) ]]
    assertEquals 'new-ca.crt ends after new-client.crt' 0 $?
}

test_exercise_4_check_fails_on_the_unmodified_04_client() {
    assert_check_fails_on_start 4 04-client/client.c 'first run with --session FILE'
}
test_exercise_4_reference_solution_passes() { assert_solution_passes 4; }

test_missing_answer_file_says_how_to_start() {
    run_check 1 "$LIB_TMP/no-such-server.c"
    assertEquals "exit status" 1 "$CHECK_STATUS" || return
    assert_output_has "$CHECK_OUTPUT" "There is no .*no-such-server\.c yet" || return
    assert_output_has "$CHECK_OUTPUT" "cp 03-custom-ca-validation/server\.c "
}

test_bad_exercise_number_is_a_usage_error() {
    run_check 9
    assertEquals "exit status (output: $CHECK_OUTPUT)" 2 "$CHECK_STATUS" || return
    assert_output_has "$CHECK_OUTPUT" 'exercises/check\.sh N'
}

test_every_exercise_has_a_readme_and_a_reference_solution() {
    local dir missing=''
    for dir in "$ROOT"/exercises/0[1-9]-*/; do
        [[ -f $dir/README.md ]] || missing+=" ${dir}README.md"
        [[ -f $dir/solution.diff || -d $dir/solution ]] || missing+=" ${dir}solution"
    done
    assertEquals "missing exercise files" '' "$missing"
}

# shellcheck disable=SC1090
. "$SHUNIT2"
