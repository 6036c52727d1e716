#!/usr/bin/env bash
# `make bench` cannot rot: its one-second smoke run must still start every server, load each with
# full and resumed mTLS handshakes, and print its table. Figures are not judged here: timings on a
# shared machine say nothing about the code (see docs/performance.md).
# Run alone with `tests/run.sh test_bench`.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

oneTimeSetUp() {
    require_program "$(program_path 02-mtls-server/server)" &&
        require_program "$(program_path 03-custom-ca-validation/server)" && make_test_certs
}

test_bench_smoke_run_prints_its_table_and_ratios() {
    RUN_TIMEOUT=240 run_program scripts/bench.sh --smoke --markdown --certs "$CERTS"
    assert_run 0 || return
    local server mode
    for server in 05 03 s_server; do
        for mode in full resumed; do
            assert_output_has "$RUN_STDOUT" "^$server +$mode +[0-9]+ +[0-9]+" \
                "a row for $server, $mode handshakes" || return
        done
    done
    assert_output_has "$RUN_STDOUT" '^05 vs nginx, CPU per full handshake' || return
    assert_output_has "$RUN_STDOUT" '^05 vs 03 \(what the production pool and settings buy\)' || return
    assert_output_has "$RUN_STDOUT" '^\| *server *\| *mode' 'the Markdown table (--markdown)'
}

# shellcheck source=/dev/null
. "$SHUNIT2"
