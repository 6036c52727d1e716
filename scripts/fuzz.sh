#!/usr/bin/env bash
# scripts/fuzz.sh [TARGET...]  (make fuzz): builds the libFuzzer targets in tests/fuzz/ with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer into build/fuzz/, and runs each for FUZZ_SECONDS
# (default 30). Fails on a crash, a hang, a leak or any sanitizer report; the input that caused it
# is saved as build/fuzz/TARGET/crash-* until the next run (replay: build/fuzz/TARGET/fuzzer FILE).
#
# Targets (all by default):
#   request-01 request-02 request-03   each server chapter's HTTP request reader
#   client-url client-response         the chapter 04 client's URL and response parsers
# Seeds are tests/fuzz/server-request/, client-url/ and client-response/; what the fuzzer learns is
# kept in build/fuzz/TARGET/corpus/ for the next run.
set -euo pipefail
# shellcheck source=scripts/hardening-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/hardening-lib.sh"

seconds=${FUZZ_SECONDS:-30}
[[ $seconds =~ ^[1-9][0-9]*$ ]] ||
    die "FUZZ_SECONDS must be a whole number of seconds, not '$seconds'"
fuzz_dir=$ROOT/tests/fuzz
build_dir=$ROOT/build/fuzz

need_tool clang
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d == 0 && n > 0; }' \
    >"$SCRATCH/probe.c"
clang -fsanitize=fuzzer "$SCRATCH/probe.c" -o "$SCRATCH/probe" >"$SCRATCH/probe.log" 2>&1 ||
    die "clang cannot link libFuzzer programs; its runtime is missing (Debian 12: apt-get install \
libclang-rt-dev): $(cat "$SCRATCH/probe.log")"

# The targets: name, harness, chapter source, seed directory, dictionary, largest input. Inputs a
# little longer than each program's buffer reach its "too large" branch.
targets=()
for program in $(servers); do
    chapter=${program%%-*}
    targets+=("request-$chapter fuzz_server_request.c $program.c server-request http.dict 9000")
done
if has_program 04-client/client; then
    client=04-client/client.c
    targets+=("client-url fuzz_client_url.c $client client-url url.dict 17000"
              "client-response fuzz_client_response.c $client client-response http.dict 17500")
fi

# wanted NAME: true when NAME was asked for on the command line, or nothing was.
wanted() {
    local name
    [[ $# -gt 1 ]] || return 0
    for name in "${@:2}"; do [[ $name != "$1" ]] || return 0; done
    return 1
}
for name in "$@"; do
    printf '%s\n' "${targets[@]}" | grep -q "^$name " || die "no such target: $name"
done

results=() failed=0
for target in "${targets[@]}"; do
    read -r name harness source seeds dict max_len <<<"$target"
    wanted "$name" "$@" || continue
    out=$build_dir/$name
    log=$SCRATCH/$name.log
    note "building build/fuzz/$name/fuzzer ($harness with $source)"
    compile clang "$out/fuzzer" "$fuzz_dir/$harness" -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Wall -Wextra \
        -DCHAPTER_SOURCE="\"$ROOT/$source\""
    mkdir -p "$out/corpus"
    rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*  # from an earlier run
    note "fuzzing $name for $seconds s"
    set +e
    (cd "$out" && exec timeout -k 10 $((seconds + 60)) ./fuzzer -max_total_time="$seconds" \
        -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
        -dict="$fuzz_dir/$dict" -artifact_prefix="$out/" corpus "$fuzz_dir/$seeds") >"$log" 2>&1
    status=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    corpus=$(find "$out/corpus" -type f | wc -l)
    if ((status == 0)) &&
       ! grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
        verdict=ok
    else
        verdict="FAILED (exit status $status)"
        failed=$((failed + 1))
        echo "--- last lines of the fuzzer's output for $name:"
        tail -n 60 "$log"
        for artifact in "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*; do
            if [[ -e $artifact ]]; then echo "--- saved input: ${artifact#"$ROOT"/}"; fi
        done
    fi
    results+=("$(printf '%-16s %12s runs %9s exec/s %6s corpus files  %s' "$name" "${runs:-?}" \
        "${speed:-?}" "$corpus" "$verdict")")
done

echo
note "results ($seconds s per target):"
printf '  %s\n' "${results[@]}"
((failed == 0)) || die "$failed target(s) failed"
note "no crash, no sanitizer report"
