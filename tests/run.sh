#!/usr/bin/env bash
# tests/run.sh [SUITE...]: runs the shunit2 suites tests/test_*.sh (all, sorted; or only those
# named, e.g. `tests/run.sh test_01_tls_server`, or given as paths), shows each suite's output, and
# ends with one line alone: `N passed, N failed`. Tests skipped with skip_test or require_peer
# (tests/lib.sh) are neither: they are counted and listed, with their reason, above that line.
# Exits non-zero when anything failed.
#
# The count comes from shunit2's own output, test by test: shunit2 prints each test's name as it
# starts it, so a test passed only when its name was printed, its section (up to the next name or
# shunit2's "Ran N tests.") holds no ASSERT or shunit2:ERROR line, and the suite went on past it.
# A suite may also make test functions at run time (tests/test_docs.sh makes one per README
# transcript): a line that is only a test function's name starts a test, planned or not.
# A test the suite planned (a test function shunit2 would run) but never started, or started and
# never finished because the suite died or hung (SUITE_TIMEOUT seconds, default 600), is a failure;
# so is a suite with no tests, and a suite that exits non-zero with no failed test to show for it.
# shunit2 is $SHUNIT2, else the system's (see tests/lib.sh). TEST_JOBS=N runs up to N suites at
# once (each output is shown whole, in order, once all have finished); the suites mostly wait on the
# network, so this saves time.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

if [[ -t 1 ]]; then SHUNIT_COLOR=always; else SHUNIT_COLOR=none; fi
export SHUNIT_COLOR

suites=()
if [[ $# -gt 0 ]]; then
    for name in "$@"; do
        if [[ -f $name ]]; then suites+=("$name"); continue; fi
        name=${name##*/}
        suites+=("tests/${name%.sh}.sh")
    done
else
    while IFS= read -r suite; do suites+=("$suite"); done < <(printf '%s\n' tests/test_*.sh | LC_ALL=C sort)
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Certificates are made once per run (an enclosing run's are reused: tests/test_runner.sh runs
# this script); tests/lib.sh's make_test_certs copies them for each suite.
if [[ -n ${TEST_CERTS_CACHE:-} && -f $TEST_CERTS_CACHE/ca.crt ]]; then
    :
elif [[ -x scripts/gen-certs.sh ]] &&
   timeout 300 scripts/gen-certs.sh "$scratch/certs" >"$scratch/gen-certs.log" 2>&1; then
    export TEST_CERTS_CACHE=$scratch/certs
else
    echo "note: scripts/gen-certs.sh failed; each suite will try again and show why"
fi

# planned_tests SUITE: the test functions shunit2 will run, in its order (the same pattern as its
# _shunit_extractTestFunctions), one per line.
planned_tests() {
    grep -E '^[[:space:]]*((function test[A-Za-z0-9_-]*)|(test[A-Za-z0-9_-]* *\(\)))' "$1" |
        sed 's/^[^A-Za-z0-9_-]*//; s/^function //; s/\([A-Za-z0-9_-]*\).*/\1/'
}

# parse_result SUITE LOG: reads one suite's output, test by test, and prints one line per test:
# "passed NAME", "failed NAME WHY", "skipped NAME WHY", or "never-ran NAME". A test's section runs
# from the line naming it to the next test's name or to shunit2's "Ran N tests.".
parse_result() {
    sed 's/\x1b\[[0-9;]*m//g' "$2" | awk -v planned="$(planned_tests "$1" | tr '\n' ' ')" '
        BEGIN { n = split(planned, names, " "); for (i = 1; i <= n; i++) is_test[names[i]] = 1 }
        function close_section(finished) {
            if (current == "") return
            if (current in failed) print "failed " current " " failed[current]
            else if (!finished) print "failed " current " the suite stopped during this test"
            else if (current in skipped) print "skipped " current " " skipped[current]
            else print "passed " current
            current = ""
        }
        ($0 in is_test || $0 ~ /^test[A-Za-z0-9_]+$/) && !($0 in started) {
            close_section(1); current = $0; started[$0] = 1; next
        }
        /^Ran [0-9]+ tests?\.$/ { close_section(1); next }
        current != "" && /^(ASSERT:|shunit2:(ERROR|FATAL))/ && !(current in failed) {
            failed[current] = substr($0, 1, 160)
        }
        current != "" && /^SKIPPED: / && !(current in skipped) { skipped[current] = substr($0, 10, 160) }
        END {
            close_section(0)
            for (i = 1; i <= n; i++) if (!(names[i] in started)) print "never-ran " names[i]
        }'
}

# run_suite INDEX SUITE: runs one suite; its output goes to INDEX.log (and to the terminal when
# suites run one at a time), its exit status to INDEX.status.
run_suite() {
    if ((jobs == 1)); then
        timeout -k 10 "${SUITE_TIMEOUT:-600}" bash "$2" </dev/null 2>&1 | tee "$scratch/$1.log"
        echo "${PIPESTATUS[0]}" >"$scratch/$1.status"
    else
        timeout -k 10 "${SUITE_TIMEOUT:-600}" bash "$2" </dev/null >"$scratch/$1.log" 2>&1
        echo "$?" >"$scratch/$1.status"
    fi
}

jobs=${TEST_JOBS:-1}
total_passed=0 total_failed=0 skipped_lines=()
for index in "${!suites[@]}"; do
    if ((jobs > 1)) && [[ -f ${suites[index]} ]]; then
        while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
        run_suite "$index" "${suites[index]}" &
    fi
done
wait

for index in "${!suites[@]}"; do
    suite=${suites[index]}
    echo "=== $suite"
    if [[ ! -f $suite ]]; then
        echo "no such suite: $suite"
        total_failed=$((total_failed + 1))
        continue
    fi
    if ((jobs == 1)); then run_suite "$index" "$suite"; else cat "$scratch/$index.log"; fi
    status=$(cat "$scratch/$index.status")
    passed=0 failed=0 skipped=0 problems=()
    while read -r outcome name why; do
        case $outcome in
            passed) passed=$((passed + 1)) ;;
            skipped) skipped=$((skipped + 1)); skipped_lines+=("$suite: $why") ;;
            failed) failed=$((failed + 1)); problems+=("failed: $name: $why") ;;
            never-ran) failed=$((failed + 1)); problems+=("failed: $name never ran (the suite stopped before it)") ;;
        esac
    done < <(parse_result "$suite" "$scratch/$index.log")
    if ((passed + failed + skipped == 0)); then
        problems+=("$suite has no tests: counted as 1 failure")
        failed=1
    elif [[ $status != 0 && $failed == 0 ]]; then
        problems+=("$suite exited with status $status: counted as 1 failure")
        failed=1
    fi
    [[ $status != 124 ]] || problems+=("$suite was stopped after ${SUITE_TIMEOUT:-600} s")
    for line in "${problems[@]}"; do echo "$line"; done
    skipped_note=''
    ((skipped == 0)) || skipped_note=", $skipped skipped"
    echo "--- $suite: $passed passed, $failed failed$skipped_note"
    echo
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
done

if ((${#skipped_lines[@]} > 0)); then
    echo "${#skipped_lines[@]} skipped (neither passed nor failed), how many for each reason:"
    printf '%s\n' "${skipped_lines[@]}" | uniq -c
fi
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
