#!/usr/bin/env bash
# scripts/sanitize.sh [SUITE...]  (make sanitize): builds every chapter program with
# AddressSanitizer (which includes LeakSanitizer) and UndefinedBehaviorSanitizer into
# build/sanitize/, then runs the test suite (tests/run.sh: all suites, or the SUITEs named) on those
# builds. Fails when a test fails or when any program printed a sanitizer report, even one no test
# noticed. Ends with the runner's `N passed, N failed` line.
#
# The compiler is clang when installed, else gcc; SANITIZE_CC=gcc (or any other) overrides that.
# Servers stop on SIGTERM by returning from main, so memory still held at exit is a real leak.
set -euo pipefail
# shellcheck source=scripts/hardening-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/hardening-lib.sh"

if [[ -n ${SANITIZE_CC:-} ]]; then
    cc=$SANITIZE_CC
elif command -v clang >/dev/null 2>&1; then
    cc=clang
else
    cc=gcc
fi
need_tool "$cc"
build_dir=$ROOT/build/sanitize
reports=$SCRATCH/reports
mkdir -p "$reports"

for program in "${PROGRAMS[@]}"; do
    note "building build/sanitize/$program with $cc"
    build_program "$cc" "$build_dir" "$program" -g -O1 -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra
done
has_program 04-client/client || true

# Every report stops the program (halt_on_error, abort_on_error), and goes to a file of its own
# (log_path, one file per process) as well as failing the test that ran it: tests often throw a
# program's stderr away, so the files are where no report can hide.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:\
detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1:\
log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="log_path=$reports/lsan"
export BUILD_DIR=$build_dir

note "running the test suite on the sanitizer builds (BUILD_DIR=build/sanitize)"
set +e
"$ROOT/tests/run.sh" "$@" 2>&1 | tee "$SCRATCH/run.log"
run_status=${PIPESTATUS[0]}
set -e
summary=$(tail -n 1 "$SCRATCH/run.log")

report_pattern='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
report_files=("$reports"/*)
[[ -e ${report_files[0]} ]] || report_files=()
found=0
for file in "${report_files[@]}"; do
    echo "=== sanitizer report ${file##*/}:"
    cat "$file"
    found=$((found + 1))
done
# Reports that reached a log or stderr some other way (for example a suite showing a server log).
if grep -Eq "$report_pattern" "$SCRATCH/run.log"; then
    echo "=== sanitizer reports in the suites' output:"
    grep -E "$report_pattern" "$SCRATCH/run.log"
    found=$((found + 1))
fi

if ((found > 0)); then
    note "FAILED: sanitizer reports above (${#report_files[@]} report files)"
elif ((run_status != 0)); then
    note "FAILED: the test suite failed on the sanitizer builds"
else
    note "no sanitizer report"
fi
echo "$summary"
((found == 0 && run_status == 0))
