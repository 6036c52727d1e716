#!/usr/bin/env bash
# The failure atlas (docs/failure-atlas.md and .json, made by `make atlas`, scripts/failure-atlas.py)
# and `scripts/cert-doctor.sh explain`, which reads it:
#   - a fresh run of every failure mode against every client gives the committed cells, after
#     masking what varies from run to run (ports, times, hex...; the page lists the masks, and the
#     two races it names are the only outcomes taken as one);
#   - the comparison fails when one cell differs, and the committed page is the committed JSON's;
#   - the atlas has every row, every client and both TLS versions, each cell run or saying why not;
#   - explain names the right row for the text of every cell, and for the same refusals worded by
#     other versions of the clients (tests/atlas-variants.txt), and says "not in the atlas" for
#     text it does not know.
# The fresh run takes about two minutes (the two browsers and nine other clients, 396 cells). A
# client that is not installed skips that test (a failure under REQUIRE_PEERS=1, as in CI).
# Run alone with `tests/run.sh test_atlas` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

ATLAS_JSON=$ROOT/docs/failure-atlas.json
ATLAS_PAGE=$ROOT/docs/failure-atlas.md
GENERATOR=$ROOT/scripts/failure-atlas.py
EXPLAIN=$ROOT/scripts/cert-doctor-explain.py
VARIANTS=$ROOT/tests/atlas-variants.txt

oneTimeSetUp() {
    require_program 03-custom-ca-validation/server && require_program 04-client/client && make_test_certs
}

# The tools `make atlas` drives, and the Debian package of each.
ATLAS_PEERS='curl:curl openssl:openssl gnutls-cli:gnutls-bin go:golang-go node:nodejs javac:default-jdk-headless
chromium:chromium firefox-esr:firefox-esr certutil:libnss3-tools pk12util:libnss3-tools'

# compare COMMITTED FRESH: runs the generator's comparison; sets COMPARE_STATUS and COMPARE_OUTPUT.
compare() {
    COMPARE_STATUS=0
    COMPARE_OUTPUT=$(timeout 60 python3 "$GENERATOR" --compare "$1" "$2" 2>&1) || COMPARE_STATUS=$?
}

# edited_copy SCRIPT: prints the name of a copy of the committed JSON changed by the Python
# statements SCRIPT (they see `cells`, the list of cells, and `cell(row, client, tls)`).
edited_copy() {
    local copy
    _lib_scratch atlas.json; copy=$LIB_SCRATCH
    python3 - "$ATLAS_JSON" "$copy" "$1" <<'EOF'
import json, sys
atlas = json.load(open(sys.argv[1]))
cells = atlas["cells"]
def cell(row, client, tls):
    return next(c for c in cells if (c["row"], c["client"], c["tls"]) == (row, client, tls))
exec(sys.argv[3])
json.dump(atlas, open(sys.argv[2], "w"), indent=1)
EOF
    printf '%s' "$copy"
}

test_a_fresh_run_gives_the_committed_atlas() {
    local peer fresh log status=0
    for peer in $ATLAS_PEERS; do
        require_peer "${peer%%:*}" "the failure atlas (Debian/Ubuntu package: ${peer#*:})" || return 0
    done
    python3 -c 'import requests' 2>/dev/null ||
        { missing_peer "Python's requests" "the failure atlas (Debian/Ubuntu package: python3-requests)"; return 0; }
    _lib_scratch atlas; fresh=$LIB_SCRATCH
    _lib_scratch atlas.log; log=$LIB_SCRATCH
    timeout -k 10 500 python3 "$GENERATOR" --out "$fresh" --certs "$CERTS" >"$log" 2>&1 || status=$?
    assertEquals "scripts/failure-atlas.py's exit status; its output: $(tail -n 20 "$log")" 0 "$status" || return
    compare "$ATLAS_JSON" "$fresh/failure-atlas.json"
    assertEquals "the committed atlas against a fresh run (make atlas, then commit docs/failure-atlas.*):
$COMPARE_OUTPUT" 0 "$COMPARE_STATUS"
}

test_the_comparison_fails_when_one_cell_differs() {
    local copy
    copy=$(edited_copy 'cell("no-certificate", "curl", "1.3")["message"] = "curl: (56) tlsv13 alert bad certificate"')
    compare "$ATLAS_JSON" "$copy"
    assertEquals "status of the comparison with one cell changed ($COMPARE_OUTPUT)" 1 "$COMPARE_STATUS"
    assertContains "it names the cell" "$COMPARE_OUTPUT" "no-certificate/curl/TLS 1.3, message"
    assertContains "and counts it" "$COMPARE_OUTPUT" "1 cells differ"
    # The server's log line and the HTTP status count too.
    copy=$(edited_copy 'cell("expired", "go", "1.2")["server_log"] = "127.0.0.1:PORT trusted CN=expired-client"')
    compare "$ATLAS_JSON" "$copy"
    assertEquals "status with chapter 03's line changed ($COMPARE_OUTPUT)" 1 "$COMPARE_STATUS"
    # A cell missing from the fresh run is a difference, not a pass.
    copy=$(edited_copy 'cells.remove(cell("revoked", "java", "1.3"))')
    compare "$ATLAS_JSON" "$copy"
    assertEquals "status with a cell missing ($COMPARE_OUTPUT)" 1 "$COMPARE_STATUS"
}

# Masked values and the two named races compare equal; nothing else does.
test_the_comparison_takes_only_masked_values_and_the_named_races_as_equal() {
    local copy
    copy=$(edited_copy '
c = cell("ok", "curl", "1.3"); c["server_log"] = c["server_log"].replace("PORT", "41234")
c = cell("no-certificate", "chromium", "1.3")
c["message"] = "Page load failed: net::ERR_SOCKET_NOT_CONNECTED" if "AUTH_CERT" in c["message"] else "Page load failed: net::ERR_BAD_SSL_CLIENT_AUTH_CERT"
c = cell("expired", "go", "1.3"); c.update(message="Get \"https://localhost:PORT/\": readLoopPeekFailLocked: <nil>", exit="*errors.errorString", http="")
c = cell("server-expired", "java", "1.3")
c["server_log"] = "127.0.0.1:PORT handshake failed: " + ("sslv3 alert certificate unknown" if "closed" in c["server_log"] else "the client closed the connection")')
    compare "$ATLAS_JSON" "$copy"
    assertEquals "a port, Chromium's other word, Go's early answer, a client's close ($COMPARE_OUTPUT)" 0 "$COMPARE_STATUS"
    copy=$(edited_copy 'cell("no-certificate", "chromium", "1.3")["message"] = "Page load failed: net::ERR_CONNECTION_RESET"')
    compare "$ATLAS_JSON" "$copy"
    assertEquals "a third Chromium word is a difference ($COMPARE_OUTPUT)" 1 "$COMPARE_STATUS"
    copy=$(edited_copy 'cell("no-certificate", "chromium", "1.2")["message"] = "Page load failed: net::ERR_SOCKET_NOT_CONNECTED"')
    compare "$ATLAS_JSON" "$copy"
    assertEquals "Chromium's race is TLS 1.3's only ($COMPARE_OUTPUT)" 1 "$COMPARE_STATUS"
    copy=$(edited_copy 'cell("no-certificate", "java", "1.3")["server_log"] = "127.0.0.1:PORT handshake failed: the client closed the connection"')
    compare "$ATLAS_JSON" "$copy"
    assertEquals "a client's close stands for its alert in the server rows only ($COMPARE_OUTPUT)" 1 "$COMPARE_STATUS"
}

test_the_committed_page_is_made_from_the_committed_json() {
    local page
    _lib_scratch atlas.md; page=$LIB_SCRATCH
    python3 "$GENERATOR" --page "$ATLAS_JSON" >"$page"
    assertTrue "docs/failure-atlas.md is not the page of docs/failure-atlas.json (make atlas): $(diff "$ATLAS_PAGE" "$page" | head -n 10)" \
        "cmp -s '$ATLAS_PAGE' '$page'"
}

test_the_atlas_has_every_row_and_client_in_both_versions() {
    local problems
    problems=$(python3 - "$ATLAS_JSON" <<'EOF'
import json, sys
atlas = json.load(open(sys.argv[1]))
rows = ["ok", "system-store-ca", "no-certificate", "other-ca", "expired", "not-yet-valid", "wrong-purpose",
        "self-signed", "leaf-as-ca", "missing-intermediate", "revoked", "revoked-intermediate", "crl-expired",
        "key-mismatch", "server-name-mismatch", "server-other-ca", "server-expired"]
clients = ["curl", "s_client", "gnutls", "python-ssl", "python-requests", "go", "node", "java", "chromium",
           "firefox", "client-04"]
cells = {(c["row"], c["client"], c["tls"]): c for c in atlas["cells"]}
for row in rows:
    for client in clients:
        for tls in ("1.3", "1.2"):
            c = cells.get((row, client, tls))
            if c is None:
                print("no cell", row, client, tls)
            elif "not_run" in c:
                if not c["not_run"].strip():
                    print("not run without a reason", row, client, tls)
            elif not (c.get("message") or c.get("http")):
                print("neither a message nor an HTTP status", row, client, tls)
            elif row != "key-mismatch" and not c.get("server_log"):
                print("no line of chapter 03", row, client, tls)
run = sum(1 for c in atlas["cells"] if "not_run" not in c)
if run < 0.9 * len(atlas["cells"]):
    print("only %d of %d cells were run" % (run, len(atlas["cells"])))
EOF
)
    assertEquals "rows, clients and versions of docs/failure-atlas.json" '' "$problems"
}

# explain_check: runs the explain of scripts/cert-doctor-explain.py over "ROW<TAB>TEXT" lines on
# stdin; prints a line per text whose row is not among the first three candidates (ROW may be
# `a|b`: either is right). A text the atlas holds word for word for more than three rows (the 403
# every stranger gets, say) is right when its row is among the candidates and explain says that
# the text alone cannot choose.
explain_check() {
    # (The program is an argument: stdin carries the lines.)
    python3 -c "$_ATLAS_EXPLAIN_CHECK" "$EXPLAIN" "${FAILURE_ATLAS_JSON:-$ATLAS_JSON}"
}
_ATLAS_EXPLAIN_CHECK='import importlib.machinery, json, sys
explain = importlib.machinery.SourceFileLoader("explain", sys.argv[1]).load_module()
atlas = json.load(open(sys.argv[2]))
checked = 0
for line in sys.stdin:
    want, text = line.rstrip("\n").split("\t", 1)
    checked += 1
    found, lines = explain.explain(text, atlas)
    rows = [l.split(": ", 1)[0].split(". ", 1)[1] for l in lines if l.startswith("  ") and ". " in l[:6]]
    shared = any("print text this close" in l for l in lines)
    wanted = set(want.split("|"))
    if found and (wanted & set(rows[:3]) or (shared and wanted & set(rows))):
        continue
    print("%s: %r -> %s" % (want, text[:120], rows[:5] if found else "not in the atlas"))
if checked < 20:
    print("only %d texts were checked" % checked)'

test_explain_names_the_row_of_every_cell_of_the_atlas() {
    local misses
    misses=$(python3 -c 'import json, sys
seen = set()
for c in json.load(open(sys.argv[1]))["cells"]:
    for text in (c.get("message"), c.get("server_log")):
        if text and (c["row"], text) not in seen:
            seen.add((c["row"], text))
            print("%s\t%s" % (c["row"], text))' "$ATLAS_JSON" | explain_check)
    assertEquals "texts of docs/failure-atlas.json that explain does not trace to their row" '' "$misses"
}

test_explain_names_the_row_of_the_same_refusals_worded_by_other_versions() {
    local misses
    misses=$(grep -v -e '^#' -e '^$' "$VARIANTS" | explain_check)
    assertEquals "wordings of tests/atlas-variants.txt that explain does not trace to their row" '' "$misses"
}

test_cert_doctor_explain_names_the_row_and_the_next_command() {
    run_program scripts/cert-doctor.sh explain \
        'curl: (56) OpenSSL SSL_read: OpenSSL/3.1.4: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0'
    assert_run 0 || return
    assertEquals "its first candidate" '  1. no-certificate: the client sends no certificate at all' \
        "$(sed -n '2p' <<<"$RUN_STDOUT" | sed 's/ (seen from.*//')"
    assertContains "the next step" "$RUN_STDOUT" $'\nnext: openssl s_client -connect HOST:PORT -cert CLIENT.crt'
    run_program scripts/cert-doctor.sh explain \
        'Get "https://api:8443/": x509: certificate is valid for www.example.com, not api'
    assert_run 0 || return
    assertContains "a server's name: its row" "$RUN_STDOUT" '  1. server-name-mismatch: '
    assertContains "and the doctor on the server's certificate" "$RUN_STDOUT" \
        'next: scripts/cert-doctor.sh SERVER.crt --for server --host HOST'
}

test_cert_doctor_explain_says_when_a_text_is_not_in_the_atlas() {
    run_program scripts/cert-doctor.sh explain 'Segmentation fault (core dumped)'
    assert_run 1 || return
    assertContains "$RUN_STDOUT" 'explain: not in the atlas'
    assertContains "$RUN_STDOUT" 'next: scripts/cert-doctor.sh CERT'
    run_program scripts/cert-doctor.sh explain
    assert_run 2 'usage: scripts/cert-doctor.sh explain'
}

# explain knows only what the JSON says: rename a row there and the answer follows.
test_explain_reads_the_atlas_json() {
    local copy
    copy=$(edited_copy '
for r in atlas["rows"]:
    if r["id"] == "crl-expired": r["id"] = "stale-crl"
for c in cells:
    if c["row"] == "crl-expired": c["row"] = "stale-crl"')
    FAILURE_ATLAS_JSON=$copy run_program scripts/cert-doctor.sh explain \
        '127.0.0.1:5001 rejected CN=a issued by CN=b: CRL has expired (the CRL from CN=b); answered 403'
    assert_run 0 && assertContains "$RUN_STDOUT" '  1. stale-crl: '
}

# shellcheck source=/dev/null
. "$SHUNIT2"
