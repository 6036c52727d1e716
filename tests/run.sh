#!/usr/bin/env bash
# tests/run.sh [SUITE...]: runs the shunit2 suites tests/test_*.sh (all, sorted; or only those
# named, e.g. `tests/run.sh test_01_tls_server`, or given as paths), shows each suite's output, and
# ends with one line alone: `N passed, N failed` (plus `, N skipped` when shunit2 skipped some).
# Exits non-zero when anything failed. A suite that crashes, hangs (SUITE_TIMEOUT seconds, default
# 600) or prints no shunit2 result counts as one failure. shunit2 is $SHUNIT2, else the system's
# (see tests/lib.sh). TEST_JOBS=N runs up to N suites at once (each output is shown whole, in
# order, once all have finished); the suites mostly wait on the network, so this saves time.
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

# Certificates are made once per run; tests/lib.sh's make_test_certs copies them for each suite.
if [[ -x scripts/gen-certs.sh ]] &&
   timeout 300 scripts/gen-certs.sh "$scratch/certs" >"$scratch/gen-certs.log" 2>&1; then
    export TEST_CERTS_CACHE=$scratch/certs
else
    echo "note: scripts/gen-certs.sh failed; each suite will try again and show why"
fi

# parse_result LOG: prints "RAN FAILED SKIPPED HAS_RESULT" for one suite's output. A test failed
# when its section (from the line naming it to the next test) holds an ASSERT or shunit2:ERROR line.
parse_result() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        /^test[A-Za-z0-9_-]*$/ { current = $0; next }
        /^ASSERT:|^shunit2:(ERROR|FATAL)/ {
            if (!(current in failed)) { failed[current] = 1; nfailed++ }
        }
        /^Ran [0-9]+ tests?\.$/ { ran = $2; has_result = 1 }
        /^(OK|FAILED)( |$)/ {
            if (match($0, /skipped=[0-9]+/)) skipped = substr($0, RSTART + 8, RLENGTH - 8)
            if ($1 == "FAILED" && nfailed == 0) nfailed = 1
        }
        END { printf "%d %d %d %d\n", ran, nfailed, skipped, has_result }'
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
total_passed=0 total_failed=0 total_skipped=0
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
    read -r ran failed skipped has_result < <(parse_result "$scratch/$index.log")
    if [[ $has_result == 0 ]]; then
        echo "$suite printed no shunit2 result (exit status $status): counted as 1 failure"
        failed=1
    elif [[ $status != 0 && $failed == 0 ]]; then
        echo "$suite exited with status $status: counted as 1 failure"
        failed=1
    fi
    [[ $status != 124 ]] || echo "$suite was stopped after ${SUITE_TIMEOUT:-600} s"
    passed=$((ran - failed - skipped))
    ((passed >= 0)) || passed=0
    skipped_note=''
    ((skipped == 0)) || skipped_note=", $skipped skipped"
    echo "--- $suite: $passed passed, $failed failed$skipped_note"
    echo
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
done

summary="$total_passed passed, $total_failed failed"
((total_skipped == 0)) || summary+=", $total_skipped skipped"
echo "$summary"
((total_failed == 0))
