#!/usr/bin/env bash
# A real browser against chapter 03: headless Chromium presents client.p12 from its own NSS
# database and gets `Hello World!`; without a certificate, with other-ca's, or trusting another CA
# it gets no page, and chapter 03's log says why. The outcomes are the Chromium row of README.md's
# interop table, and the run leaves a screenshot in build/browser/ (README.md, "From a browser",
# says how it becomes docs/browser-hello-world.png).
#
# Each test gets a fresh HOME and profile, so nothing of the user's browser is read or changed:
#   - $HOME/.pki/nssdb, the NSS database Chromium reads on Linux, made with certutil and pk12util:
#     our CA trusted for TLS servers, and the client identity imported from its .p12;
#   - a new --user-data-dir whose Default/Preferences holds the "auto-select certificate" rule for
#     https://localhost:PORT. Without it Chromium waits for someone to pick a certificate in a
#     dialog, which headless never shows. The AutoSelectCertificateForUrls policy fills in the same
#     rule, but Chromium reads policies only from /etc/chromium/policies/managed/, which is the whole
#     machine's; the profile's own setting needs no file outside the test's scratch directory.
# Run alone with `tests/run.sh test_browser` (after `make`).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/interop/helpers.sh
. "$(dirname "$0")/interop/helpers.sh"

SERVER=$(program_path 03-custom-ca-validation/server)
P12_PASSWORD=mtls-by-example   # scripts/gen-certs.sh's password for the .p12 files
ROW='Chromium (headless)'       # the row of README.md's interop table
SCREENSHOT=$ROOT/build/browser/browser-hello-world.png

oneTimeSetUp() { require_program "$SERVER" && make_test_certs; }
oneTimeTearDown() { stop_shared_servers; }

# need_chromium: true when chromium, certutil and pk12util are installed; otherwise the test is
# skipped (failed under REQUIRE_PEERS=1) and the caller returns.
need_chromium() {
    local tool package
    for tool in chromium:chromium certutil:libnss3-tools pk12util:libnss3-tools; do
        package=${tool#*:} tool=${tool%%:*}
        command -v "$tool" >/dev/null 2>&1 && continue
        skip_or_fail_missing "$tool" "the browser test needs it (Debian/Ubuntu package: $package)"
        return 1
    done
}

# browser_profile IDENTITY [TRUSTED_CA]: a fresh HOME (BROWSER_HOME) whose NSS database trusts
# $CERTS/TRUSTED_CA.crt (default ca) for TLS servers and holds IDENTITY's key and certificate from
# $CERTS/IDENTITY.p12 (none: no identity), and a fresh profile (BROWSER_DATA) that picks, without
# asking, a certificate issued by IDENTITY's CA for https://localhost:SERVER_PORT.
browser_profile() {
    local identity=$1 trusted=${2:-ca} nssdb issuer_cn='mtls-by-example CA' log
    _lib_scratch browser; BROWSER_HOME=$LIB_SCRATCH/home BROWSER_DATA=$LIB_SCRATCH/profile
    nssdb=$BROWSER_HOME/.pki/nssdb
    [[ $identity != other-client ]] || issuer_cn='Other CA'
    mkdir -p "$nssdb" "$BROWSER_DATA/Default"
    log=$LIB_SCRATCH.log
    # An empty database (no password), our CA trusted to identify TLS servers ("C,,": the first
    # of the three trust fields is for TLS), then the client's key and certificate. pk12util also
    # stores the CA certificate from the .p12, without trusting it.
    if ! { certutil -N -d "sql:$nssdb" --empty-password &&
           certutil -A -d "sql:$nssdb" -n "$trusted" -t 'C,,' -i "$CERTS/$trusted.crt" &&
           { [[ $identity == none ]] ||
             pk12util -i "$CERTS/$identity.p12" -d "sql:$nssdb" -W "$P12_PASSWORD"; }; } >"$log" 2>&1; then
        fail "could not make the NSS database in $nssdb: $(cat "$log")"
        return 1
    fi
    # The auto-select rule: for this origin, send a certificate whose issuer is IDENTITY's CA.
    printf '{"profile":{"content_settings":{"exceptions":{"auto_select_certificate":{"https://localhost:%s,*":{"setting":{"filters":[{"ISSUER":{"CN":"%s"}}]}}}}}}}\n' \
        "$SERVER_PORT" "$issuer_cn" >"$BROWSER_DATA/Default/Preferences"
}

# browser_get PATH [CHROMIUM ARGS...]: loads https://localhost:SERVER_PORT/PATH in headless
# Chromium (at most 60 s) with the profile of browser_profile and prints the page (--dump-dom),
# unless ARGS ask for something else (--screenshot). Sets BROWSER_EXIT, BROWSER_DOM, BROWSER_TEXT
# (the text of the page's <pre>, which is how Chromium shows text/plain and JSON) and BROWSER_ERROR
# (Chromium's "Page load failed: net::ERR_..." line, if any).
browser_get() {
    local url=https://localhost:$SERVER_PORT$1 out mode=(--dump-dom)
    shift
    [[ $# == 0 ]] || mode=("$@")
    _lib_scratch chromium; out=$LIB_SCRATCH
    BROWSER_EXIT=0
    # --no-sandbox: Chromium's sandbox refuses to run as root (CI) or in most containers.
    # --disable-quic: TCP and TLS only, like our server. The rest keeps Chromium from calling home.
    HOME=$BROWSER_HOME XDG_CONFIG_HOME=$BROWSER_HOME/.config XDG_CACHE_HOME=$BROWSER_HOME/.cache \
        timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$BROWSER_DATA" "${mode[@]}" "$url" >"$out" 2>"$out.err" </dev/null ||
        BROWSER_EXIT=$?
    _lib_slurp BROWSER_DOM "$out"
    BROWSER_TEXT=$(sed -n 's|.*<pre[^>]*>\(.*\)</pre>.*|\1|p' "$out" | sed 's/&quot;/"/g; s/&amp;/\&/g')
    BROWSER_ERROR=$(grep -o 'Page load failed: .*' "$out.err" | head -n 1)
    # shellcheck disable=SC2153  # _lib_slurp set BROWSER_DOM
    BROWSER_DETAIL="exit $BROWSER_EXIT, ${BROWSER_ERROR:-no load error}, page '$BROWSER_DOM'"
}

# browser_outcome: 200 when the page is `Hello World!`, refused when Chromium could not load it,
# else what it showed.
browser_outcome() {
    if [[ $BROWSER_TEXT == 'Hello World!' ]]; then OUTCOME=200
    elif [[ -n $BROWSER_ERROR ]]; then OUTCOME=refused
    else OUTCOME="page '$BROWSER_DOM'"
    fi
}

# check_browser COLUMN IDENTITY TRUSTED_CA LOG: Chromium with IDENTITY's .p12 imported and
# TRUSTED_CA trusted loads / from chapter 03; what it gets must be the README's cell in COLUMN,
# and chapter 03 must log LOG (after the client's address) for that connection.
check_browser() {
    local column=$1 identity=$2 trusted=$3 logged=$4 problems
    shared_server chapter-03 "$SERVER" || return
    browser_profile "$identity" "$trusted" || return
    browser_get /
    browser_outcome
    problems=$(outcome_against_readme "$ROW" "$column" "$OUTCOME" "$BROWSER_DETAIL")
    assertEquals "README.md's interop table" '' "$problems" || return
    assert_log "^127\\.0\\.0\\.1:[0-9]+ $logged" "chapter 03's log for Chromium"
}

test_chromium_presents_client_p12_and_shows_hello_world() {
    need_chromium || return 0
    check_browser 1 client ca 'trusted CN=client issued by CN=mtls-by-example CA'
}

test_chromium_whoami_shows_cn_client() {
    need_chromium || return 0
    shared_server chapter-03 "$SERVER" || return
    browser_profile client || return
    browser_get /whoami
    assertContains "the page ($BROWSER_DETAIL)" "$BROWSER_TEXT" '"subject":"CN=client","issuer":"CN=mtls-by-example CA"'
    assertContains "the page ($BROWSER_DETAIL)" "$BROWSER_TEXT" '"trusted":true'
}

test_chromium_without_a_client_certificate_gets_no_page() {
    need_chromium || return 0
    check_browser 2 none ca 'handshake failed: the client sent no certificate, and one is required'
}

# Chromium offers only certificates whose issuer is among the CA names of the server's
# CertificateRequest (chapter 03 names our CA): other-client is never sent, so chapter 03 sees no
# certificate at all instead of answering 403.
test_chromium_never_offers_another_cas_certificate() {
    need_chromium || return 0
    check_browser 3 other-client ca 'handshake failed: the client sent no certificate, and one is required'
}

test_chromium_trusting_another_ca_refuses_our_server() {
    need_chromium || return 0
    check_browser 4 client other-ca 'handshake failed: .+'
}

# png_ink FILE: prints "WIDTH HEIGHT INK" for the PNG FILE, INK counting the bytes of its image data
# that are neither 0 nor 255 (filter bytes left out): 0 for a blank white page. Python's zlib
# only, so no imaging library is needed.
png_ink() {
    python3 -c 'import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG file")
pos, idat = 8, b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", data[pos + 8:pos + 18])
    elif kind == b"IDAT":
        idat += data[pos + 8:pos + 8 + length]
    pos += 12 + length
raw = zlib.decompress(idat)
row = len(raw) // height
print(width, height, sum(1 for i, b in enumerate(raw) if i % row and b not in (0, 255)))' "$1"
}

# The picture in README.md: what success looks like.
test_chromium_screenshot_of_hello_world() {
    need_chromium || return 0
    shared_server chapter-03 "$SERVER" || return
    browser_profile client || return
    mkdir -p "${SCREENSHOT%/*}" && rm -f "$SCREENSHOT"
    # (A window less than about 120 pixels high gives a blank picture.)
    browser_get / --screenshot="$SCREENSHOT" --window-size=480,120
    assertTrue "Chromium wrote $SCREENSHOT ($BROWSER_DETAIL)" "[[ -s '$SCREENSHOT' ]]" || return
    local width height ink
    read -r width height ink < <(png_ink "$SCREENSHOT")
    assertEquals "size of $SCREENSHOT" '480x120' "${width}x$height"
    assertNotEquals "ink in $SCREENSHOT (0: a blank page)" 0 "${ink:-0}"
    assertTrue "$SCREENSHOT is under 50 KB" "[[ $(wc -c <"$SCREENSHOT") -lt 51200 ]]"
    assert_log '^127\.0\.0\.1:[0-9]+ TLSv1\.3 [A-Z0-9_]+ "GET / HTTP/1\.1" 200$' "chapter 03's log for the screenshot"
}

# The copy in docs/ that README.md shows (copied by hand from the test's, see README.md) must be a
# picture of the page, not a blank one.
test_committed_screenshot_shows_the_page() {
    local committed=$ROOT/docs/browser-hello-world.png width height ink
    read -r width height ink < <(png_ink "$committed")
    assertEquals "size of $committed" '480x120' "${width}x$height"
    assertNotEquals "ink in $committed (0: a blank page)" 0 "${ink:-0}"
    assertTrue "$committed is under 50 KB" "[[ $(wc -c <"$committed") -lt 51200 ]]"
}

# shellcheck source=/dev/null
. "$SHUNIT2"
