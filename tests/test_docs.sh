#!/usr/bin/env bash
# The READMEs and the pages of docs/, checked: every transcript a README or a docs/*.md page shows
# is run against a freshly started server and compared with what the page says, so the text cannot
# drift from the code. Also: every `make TARGET` and `scripts/NAME` a page mentions exists, every
# relative link resolves; README.md stays at most 1,500 words (wc -w) and every docs/ page it links
# to exists; every line of a ```c block in a chapter README or docs/*.md is a line of the source;
# the call maps of the programs leave out only what README.md says; Part 2 is the same in chapters
# 01 to 03, as README.md says; and the demo shows what each command returned.
# Run alone with `tests/run.sh test_docs` (after `make`). In what follows, "README" stands for any
# of these pages.
#
# How a README marks a checked transcript
# ---------------------------------------
# An HTML comment (invisible on GitHub) on the line just above a ```console block names the server
# to start, as a learner would start it from the repository root, with any extra arguments:
#
#   <!-- doctest: 02-mtls-server/server -->
#   ```console
#   $ curl -k https://localhost:5001/
#   curl: (56) OpenSSL SSL_read: OpenSSL/3.0.19: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0
#   ```
#
# `<!-- doctest: none -->` runs the commands without starting a server. `<!-- doctest: scratch:NAME -->`
# starts a scratch build instead: a chapter compiled with one call switched off, for the passages
# that say "delete this call and see what happens" (the builds are listed in scratch_build below).
# In the block, a line starting with `$ ` is a command (one line, exactly as typed from the
# repository root; `$SERVER_PID` is the server's process, as `$!` gives it to a reader who started
# the server with `&`); the lines after it, up to the next `$ `, are what it prints (stdout and stderr
# together, as a terminal shows them).
#
# `<!-- doctest-log -->` above a ```console block checks the *server's* output instead: its first
# line is `$ SERVER ARGS` (the same server and arguments as the doctest block before it in the same
# README; after a scratch build, the chapter's server as the reader built it) and the rest is what
# that server printed while the commands of that block ran.
#
# Every ```console block in a README must carry one of these two markers (test_every_transcript_is_marked):
# a transcript nobody checks is a transcript that will drift.
#
# How a block is run
# ------------------
# One shunit2 test per block, named after the README and the block's number in it, e.g.
# test_02_mtls_server_README_block_3. The test starts the named server with tests/lib.sh's
# start_server: a free port and the test certificates (a fresh scripts/gen-certs.sh directory).
# In the commands, in the expected output and in the server's arguments, `5001` becomes that port
# and `certs/` that certificate directory. Each command runs with `bash -c` from the repository
# root under `timeout`. curl reads a .curlrc (through CURL_HOME) holding `silent` and `show-error`,
# so that through a pipe it prints what it prints on a terminal (no progress meter, same errors),
# plus `noproxy = "*"` and `max-time = 15`.
#
# How output is compared (both sides get the same treatment)
# ----------------------------------------------------------
# - Trailing spaces and carriage returns are dropped; blank lines at the end do not count; a body
#   without a final newline (curl's `Hello World!`) counts as a line.
# - `OpenSSL/3.0.19` compares as `OpenSSL/<version>` and `, errno N` is dropped, so another OpenSSL
#   patch release does not break the docs.
# - An HTTP `Date:` header line matches any date. A log line's peer `127.0.0.1:40312` matches any
#   port. In OpenSSL's error lines (`40673E4C8A7F0000:error:...:../crypto/x509/x509_cmp.c:403:`) the
#   thread number and the source file and line are ignored.
# - In the expected text, a line that is just `...` matches any number of lines (none included),
#   and `<any>` inside a line matches any text within that line.
# - A line of JSON matches a line of JSON of the same shape: the same keys in the same order, arrays
#   of the same length, values of the same types. Values change from run to run (dates, serial
#   numbers, fingerprints, the random weather), so they are not compared, except booleans and the
#   values of `subject`, `issuer` and `trusted`, which say who the client is.
# - In a server log, the lines before the first connection's line must come in order; after them,
#   each connection's entry (its line starting with the peer address, with the error lines under
#   it) may come in any order. A worker logs its connection when it is done with it, and the
#   client may already be on its next connection: two workers can print in either order.
# Everything else must be equal: the status line, the body, curl's error sentence, the log line.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# The Python half: finds the marked blocks, runs their commands, compares.
# shellcheck disable=SC2016  # Python source: nothing in it is for the shell to expand
_DOCS_PY='
import json, os, re, subprocess, sys, time

MARK = re.compile(r"^<!--\s*doctest:\s*(.*?)\s*-->\s*$")
LOG_MARK = re.compile(r"^<!--\s*doctest-log\s*-->\s*$")
FENCE_OPEN = re.compile(r"^```(console|shell-session)\s*$")
EXACT_KEYS = {"subject", "issuer", "trusted"}


def readmes(root):
    """Every README.md of the tree, and every page docs/*.md."""
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("build", "node_modules"))
        rel = os.path.relpath(top, root)
        for name in files:
            if name == "README.md" or (rel == "docs" and name.endswith(".md")):
                found.append(os.path.relpath(os.path.join(top, name), root))
    return sorted(set(found), key=lambda p: (p.count("/"), p))


def parse(root, path):
    """Returns (blocks, problems). A block: dict(line, server, args, commands=[(cmd, [expected])], log)."""
    lines = open(os.path.join(root, path), encoding="utf-8").read().split("\n")
    blocks, problems, i, marked_fences = [], [], 0, set()
    while i < len(lines):
        m, lm = MARK.match(lines[i]), LOG_MARK.match(lines[i])
        if m or lm:
            if i + 1 >= len(lines) or not FENCE_OPEN.match(lines[i + 1]):
                problems.append("%s:%d: a doctest marker must be followed by a ```console block" % (path, i + 1))
                i += 1
                continue
            marked_fences.add(i + 1)
            body, j = [], i + 2
            while j < len(lines) and not lines[j].startswith("```"):
                body.append(lines[j])
                j += 1
            commands = []
            for text in body:
                if text.startswith("$ "):
                    commands.append((text[2:].strip(), []))
                elif commands:
                    commands[-1][1].append(text)
                elif text.strip():
                    problems.append("%s:%d: text before the first `$ ` command" % (path, i + 1))
            if m:
                words = m.group(1).split()
                blocks.append(dict(line=i + 1, server=words[0] if words else "none",
                                   args=words[1:], commands=commands, log=None))
            elif not blocks or blocks[-1]["server"] == "none":
                problems.append("%s:%d: doctest-log needs a doctest block that starts a server before it" % (path, i + 1))
            elif not commands or len(commands) != 1:
                problems.append("%s:%d: doctest-log must hold one `$ SERVER ARGS` line, then the log" % (path, i + 1))
            else:
                started = commands[0][0].split()
                wanted = ([] if blocks[-1]["server"] == "none" else [blocks[-1]["server"]]) + blocks[-1]["args"]
                if started != wanted and not blocks[-1]["server"].startswith("scratch:"):
                    problems.append("%s:%d: doctest-log starts `%s` but the block before it runs `%s`"
                                    % (path, i + 1, " ".join(started), " ".join(wanted)))
                blocks[-1]["log"] = (i + 1, commands[0][1])
            i = j + 1
            continue
        if FENCE_OPEN.match(lines[i]) and i not in marked_fences:
            problems.append("%s:%d: a ```console block with no doctest marker above it" % (path, i + 1))
        if lines[i].startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            i = j + 1
            continue
        i += 1
    return blocks, problems


def rewrite(text, port, certs):
    if port:
        text = re.sub(r"(?<![0-9A-Za-z])5001(?![0-9A-Za-z])", port, text)
    return re.sub(r"(^|[\s=\x27\"(:])certs/", lambda m: m.group(1) + certs + "/", text)


def normalise(line):
    line = line.replace("\r", "").rstrip()
    line = re.sub(r"OpenSSL/[0-9][0-9A-Za-z.\-]*", "OpenSSL/<version>", line)
    line = re.sub(r", errno [0-9]+", "", line)
    line = re.sub(r"^(?i:date): .*", "Date: <date>", line)
    line = re.sub(r"^(127\.0\.0\.1|\[::1\]):[0-9]+(?= )", r"\1:<port>", line)
    line = re.sub(r"^[0-9A-F]{8,16}:error:", "<thread>:error:", line)
    line = re.sub(r":[^:\s]*\.c:[0-9]+:", ":<source>:", line)
    return line


def same_json(e, a, key=None):
    if isinstance(e, dict):
        return isinstance(a, dict) and list(e) == list(a) and all(same_json(e[k], a[k], k) for k in e)
    if isinstance(e, list):
        return isinstance(a, list) and len(e) == len(a) and all(same_json(x, y, key) for x, y in zip(e, a))
    if type(e) is not type(a):
        return False
    if key in EXACT_KEYS or isinstance(e, bool) or e is None:
        return e == a
    return True


def line_matches(expected, actual):
    if expected == actual:
        return True
    if "<any>" in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("<any>"))
        return re.fullmatch(pattern, actual) is not None
    if expected.lstrip()[:1] in ("{", "["):
        try:
            return same_json(json.loads(expected), json.loads(actual))
        except ValueError:
            return False
    return False


def lines_match(expected, actual):
    memo = {}
    def match(i, j):
        if (i, j) not in memo:
            if i == len(expected):
                result = j == len(actual)
            elif expected[i] == "...":
                result = match(i + 1, j) or (j < len(actual) and match(i, j + 1))
            else:
                result = j < len(actual) and line_matches(expected[i], actual[j]) and match(i + 1, j + 1)
            memo[(i, j)] = result
        return memo[(i, j)]
    return match(0, 0)


PEER_LINE = re.compile(r"^(127\.0\.0\.1|\[::1\]):<port> ")


def log_entries(lines):
    """The lines before the first peer line, then one list per connection entry."""
    head, entries = [], []
    for line in lines:
        if PEER_LINE.match(line):
            entries.append([line])
        elif entries:
            entries[-1].append(line)
        else:
            head.append(line)
    return head, entries


def log_matches(expected, actual):
    if lines_match(expected, actual):
        return True
    if "..." in expected:
        return False
    (want_head, want), (got_head, got) = log_entries(expected), log_entries(actual)
    if len(want) != len(got) or not lines_match(want_head, got_head):
        return False
    def pair(i, free):
        return i == len(want) or any(lines_match(want[i], got[j]) and pair(i + 1, free - {j})
                                     for j in free)
    return pair(0, frozenset(range(len(got))))


def prepare(lines):
    out = [normalise(l) for l in lines]
    while out and out[-1] == "":
        out.pop()
    return out


def show(title, lines):
    return "%s\n%s" % (title, "\n".join("    | " + l for l in lines) if lines else "    (nothing)")


def run_block(readme, index, port, certs, log_path, curl_home, root, build_dir):
    blocks, problems = parse(root, readme)
    block = blocks[index - 1]
    where = "%s:%d" % (readme, block["line"])
    env = dict(os.environ, CURL_HOME=curl_home)
    failures = []
    for command, expected in block["commands"]:
        run = rewrite(command, port, certs)
        if build_dir:
            run = re.sub(r"(^|[\s;&|])(0[0-9]-[a-z0-9-]+/(server|client))(?=\s|$)",
                         lambda m: m.group(1) + os.path.join(build_dir, m.group(2)), run)
        proc = subprocess.run(["timeout", "-k", "2", "30", "bash", "-c", run], cwd=root, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        actual = prepare(proc.stdout.decode("utf-8", "replace").split("\n"))
        wanted = prepare([rewrite(l, port, certs) for l in expected])
        if proc.returncode == 124:
            failures.append("%s: `%s` timed out" % (where, command))
        elif not lines_match(wanted, actual):
            failures.append("%s: `%s` printed something else than the README says.\n%s\n%s"
                            % (where, command, show("README (normalised):", wanted), show("actual (normalised):", actual)))
    if block["log"] is not None and log_path:
        log_line, expected = block["log"]
        wanted = prepare([rewrite(l, port, certs) for l in expected])
        deadline = time.time() + 5
        while True:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                actual = prepare(f.read().split("\n"))
            if log_matches(wanted, actual):
                break
            if time.time() > deadline:
                failures.append("%s:%d: the server log is not what the README says.\n%s\n%s"
                                % (readme, log_line, show("README (normalised):", wanted), show("actual (normalised):", actual)))
                break
            time.sleep(0.1)
    if failures:
        print("\n\n".join(failures))
        sys.exit(1)


CHAPTER_README = re.compile(r"^(0[0-9]-[a-z0-9-]+)/README\.md$")


def chapter_sources(root, folder=None):
    """The sources of the chapter programs: server.c or client.c in FOLDER, or in every chapter."""
    folders = [folder] if folder else sorted(d for d in os.listdir(root) if re.match(r"^0[0-9]-", d))
    return [os.path.join(f, n) for f in folders for n in ("server.c", "client.c")
            if os.path.isfile(os.path.join(root, f, n))]


def c_blocks(root, page):
    """(line, [lines]) for every ```c block of PAGE."""
    lines = open(os.path.join(root, page), encoding="utf-8").read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if re.match(r"^```c\s*$", lines[i]):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            blocks.append((i + 1, lines[i + 1:j]))
            i = j
        elif lines[i].startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            i = j
        i += 1
    return blocks


def c_block_problems(root):
    """A line per ```c block line (trimmed; blank and `...` lines aside) that is not a line of the
    source of the chapter (trimmed): the folder of a chapter README, any chapter for docs/."""
    out = []
    for page in readmes(root):
        m = CHAPTER_README.match(page)
        if not m and not page.startswith("docs/"):
            continue
        sources = chapter_sources(root, m.group(1) if m else None)
        known = set()
        for source in sources:
            known.update(l.strip() for l in open(os.path.join(root, source), encoding="utf-8"))
        for line, body in c_blocks(root, page):
            missing = [l.strip() for l in body if l.strip() not in ("", "...") and l.strip() not in known]
            if missing:
                out.append("%s:%d: %d line(s) of this c block are not in %s, first: %s"
                           % (page, line, len(missing), " or ".join(sources) or "any chapter source (none found)",
                              missing[0]))
    return out


def strip_c(text):
    """C source without comments, string literals and character literals."""
    return re.sub(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|\x27(?:\\.|[^\x27\\\n])*\x27",
                  lambda m: " " if m.group(0)[0] in "/" else "\"\"", text, flags=re.S)


OPENSSL_NAME = r"\b((?:SSL|X509|ERR|OPENSSL|BIO|EVP|PEM|ASN1|BN|RAND|TLS|OBJ|CRYPTO|OSSL|sk|i2d|d2i)_[A-Za-z0-9_]*)"

# The kinds of OpenSSL calls the maps ("TLS in N calls", top comment of each program) leave out, as
# README.md ("How to read a chapter") names them. A call that fits none must be in the map.
MAP_LEAVES_OUT = [
    ("the error queue", r"ERR_.*"),
    ("describing a certificate or connection for a log line, /whoami or an error message",
     r"X509_get0?_.*|X509_NAME_.*|X509_digest|X509_verify_cert_error_string|X509_check_host|EVP_.*|ASN1_.*"
     r"|BIO_(new|free|read|s_mem)|BN_.*|OPENSSL_free|sk_.*|SSL_get_version|SSL_get_cipher_name"
     r"|SSL_alert_desc_string_long|SSL_get_peer_cert_chain|SSL_get_certificate|SSL_get0_peer_certificate"
     r"|SSL_get_verify_result"),
    ("building an argument of a listed call",
     r"TLS_(server|client)_method|X509_LOOKUP_file|SSL_get0_param|SSL_get_ex_data_X509_STORE_CTX_idx"),
    ("the start-up warnings when one of our files expires soon",
     r"BIO_new_file|PEM_X509_INFO_read_bio|X509_CRL_get0_nextUpdate|X509_CRL_get_issuer|X509_cmp_time"
     r"|X509_cmp_current_time"),
    ("the random bytes of the sample data", r"RAND_bytes"),
    ("the helpers inside a verify callback", r"X509_STORE_CTX_.*|SSL_get_app_data"),
]
# What README.md says the map of the 04 client leaves out besides: nothing now.
MAP_LEAVES_OUT_04 = []


def map_problems(root):
    out = []
    for source in chapter_sources(root):
        text = open(os.path.join(root, source), encoding="utf-8").read()
        end = text.find("*/")
        top, code = text[:end], strip_c(text[end + 2:])
        named = set(re.findall(OPENSSL_NAME, top))
        called = {n for n in re.findall(OPENSSL_NAME + r"\s*\(", code) if not n.isupper()}
        extra = MAP_LEAVES_OUT_04 if source.startswith("04-") else []
        for name in sorted(called - named):
            if name in extra or any(re.fullmatch(rx, name) for _, rx in MAP_LEAVES_OUT):
                continue
            out.append("%s calls %s(), which its map leaves out and README.md does not say it does"
                       % (source, name))
        for name in extra:
            if name in named:
                out.append("%s: the map now names %s(); README.md still says it leaves it out" % (source, name))
            if name not in called:
                out.append("%s no longer calls %s(); README.md still names it" % (source, name))
    return out


def main():
    mode, root = sys.argv[1], sys.argv[2]
    if mode == "list":
        for readme in readmes(root):
            blocks, _ = parse(root, readme)
            for n, block in enumerate(blocks, 1):
                print("%s\t%d\t%s\t%s" % (readme, n, block["server"], " ".join(block["args"])))
    elif mode == "problems":
        for readme in readmes(root):
            for problem in parse(root, readme)[1]:
                print(problem)
    elif mode == "run":
        readme, index, port, certs, log_path, curl_home = sys.argv[3:9]
        run_block(readme, int(index), port, certs, log_path, curl_home, root, os.environ.get("BUILD_DIR", ""))
    elif mode == "cblocks":
        for problem in c_block_problems(root):
            print(problem)
    elif mode == "maps":
        for problem in map_problems(root):
            print(problem)
    elif mode == "mentions":
        # Prints "README<TAB>kind<TAB>name" for each make target, script and relative link mentioned.
        code_span = re.compile(r"`([^`\n]+)`")
        for readme in readmes(root):
            text = open(os.path.join(root, readme), encoding="utf-8").read()
            code = [m.group(1) for m in code_span.finditer(re.sub(r"(?ms)^```.*?^```", "", text))]
            for block in re.findall(r"(?ms)^```[^\n]*\n(.*?)^```", text):
                code.extend(block.split("\n"))
            seen = set()
            for snippet in code:
                m = re.match(r"\s*(?:\$ )?make((?:[ \t]+[A-Za-z0-9_.=-]+)*)", snippet)
                for target in (m.group(1).split() if m else []):
                    if target.startswith("-") or "=" in target:  # an option or a VAR=value
                        continue
                    if ("make", target) not in seen:
                        seen.add(("make", target))
                        print("%s\tmake\t%s" % (readme, target))
            for name in re.findall(r"(?<![A-Za-z0-9_./-])scripts/[A-Za-z0-9_.-]*[A-Za-z0-9_-]", text):
                if ("script", name) not in seen:
                    seen.add(("script", name))
                    print("%s\tscript\t%s" % (readme, name))
            for link in re.findall(r"\]\(([^)\s]+)\)", text):
                target = link.split("#")[0]
                if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target) and ("link", target) not in seen:
                    seen.add(("link", target))
                    print("%s\tlink\t%s" % (readme, target))

main()
'

# The interpreter itself, found once (a version-manager shim on PATH can cost a second per call).
# Also put it first on PATH, so that lib.sh's python3 helpers (free_port) skip the shim too.
DOCS_PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || DOCS_PYTHON=python3
[[ $DOCS_PYTHON != /* ]] || PATH=${DOCS_PYTHON%/*}:$PATH
_docs_py() { "${DOCS_PYTHON:-python3}" -c "$_DOCS_PY" "$@"; }

oneTimeSetUp() {
    # What the READMEs show assumes a plain environment: no key log (the servers would print a
    # warning first) and curl's own default CA bundle.
    unset SSLKEYLOGFILE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR
    make_test_certs || return 1
    DOCS_CURL_HOME=$LIB_TMP/curl-home
    mkdir -p "$DOCS_CURL_HOME"
    printf '%s\n' silent show-error 'noproxy = "*"' 'max-time = 15' >"$DOCS_CURL_HOME/.curlrc"
}

# scratch_build NAME: builds (once per run) a chapter with one OpenSSL call switched off and prints
# the program's path, compiled with the Makefile's warnings, -Werror included. As the README words it:
# - "delete this call (or line)": the statements named in `delete` (one per line: the text that
#   starts each) are deleted from a copy of the source, as a reader would delete them (see
#   delete_statements);
# - "replace this line by that one": `replace` holds the line as it is, then the line it becomes;
#   the first must be a line of the source (trimmed), exactly once;
# - "switch this flag off": a few lines in `prelude`, before the source is included, turn the flag
#   into a no-op. <openssl/ssl.h> comes first, so the chapter's own #include of it adds nothing and
#   the macros stay.
scratch_build() {
    local name=$1 chapter prelude='' delete='' replace='' program source
    case $name in
    02-without-session-id-context)
        # Chapter 02 without SSL_CTX_set_session_id_context(): the README shows what happens.
        chapter=02-mtls-server
        delete='if (SSL_CTX_set_session_id_context(' ;;
    02-without-session-id-context-with-tickets)
        # The same, plus OpenSSL's default stateless TLS 1.3 tickets (no SSL_OP_NO_TICKET).
        chapter=02-mtls-server
        delete='if (SSL_CTX_set_session_id_context(
SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);' ;;
    03-without-set-purpose)
        # Chapter 03 without SSL_CTX_set_purpose(): libssl's default purpose check still runs.
        chapter=03-custom-ca-validation
        delete='if (SSL_CTX_set_purpose(' ;;
    03-certificate-optional)
        # Chapter 03 with the client certificate made optional: the no-certificate bug.
        chapter=03-custom-ca-validation
        prelude='#undef SSL_VERIFY_FAIL_IF_NO_PEER_CERT
#define SSL_VERIFY_FAIL_IF_NO_PEER_CERT 0' ;;
    03-certificate-optional-verdict-only)
        # The same, and client_is_trusted() trusting the verdict alone: the no-certificate bug.
        chapter=03-custom-ca-validation
        prelude='#undef SSL_VERIFY_FAIL_IF_NO_PEER_CERT
#define SSL_VERIFY_FAIL_IF_NO_PEER_CERT 0'
        replace='return SSL_get0_peer_certificate(ssl) != NULL && SSL_get_verify_result(ssl) == X509_V_OK;
return SSL_get_verify_result(ssl) == X509_V_OK;' ;;
    01-without-no-renegotiation)
        # Chapter 01 without SSL_OP_NO_RENEGOTIATION: OpenSSL 3's own default for renegotiation.
        chapter=01-tls-server
        delete='SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);' ;;
    *)
        echo "scratch_build: no scratch build called '$name'" >&2
        return 1 ;;
    esac
    program=$LIB_TMP/scratch/$name
    if [[ ! -x $program ]]; then
        mkdir -p "$LIB_TMP/scratch" || return 1
        source=$ROOT/$chapter/server.c
        if [[ -n $delete || -n $replace ]]; then
            source=$program.source.c
            { if [[ -n $delete ]]; then delete_statements "$ROOT/$chapter/server.c" "$delete"
              else cat "$ROOT/$chapter/server.c"; fi; } | replace_line "$replace" >"$source" || return 1
        fi
        printf '#include <openssl/ssl.h>\n%s\n#include "%s"\n' "$prelude" "$source" >"$program.c" || return 1
        # shellcheck disable=SC2046  # pkg-config prints flags to split
        timeout 120 "${CC:-cc}" -O2 -Wall -Wextra -Werror -I"$ROOT/$chapter" $(pkg-config --cflags openssl 2>/dev/null) \
            -o "$program" "$program.c" $(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto) \
            -lpthread >"$program.log" 2>&1 || { cat "$program.log" >&2; return 1; }
    fi
    printf '%s' "$program"
}

# delete_statements SOURCE STARTS: prints SOURCE without the statements that STARTS names, one per
# line: the text a statement's first line holds (it must be on exactly one line of SOURCE). The
# statement runs from that line to the first line ending in `;` (a call; an `if` without braces)
# or, when a line ending in `{` comes first, to the `}` at the first line's indentation (an `if`
# and its error branch).
delete_statements() {
    local source=$1 start count
    while IFS= read -r start; do
        count=$(grep -cF -e "$start" "$source")
        [[ $count == 1 ]] || { echo "delete_statements: '$start' is on $count lines of $source, not 1" >&2; return 1; }
    done <<<"$2"
    awk -v starts="$2" '
        BEGIN { n = split(starts, start, "\n") }
        mode == "" { for (i = 1; i <= n; i++) if (index($0, start[i])) { indent = match($0, /[^ ]/); mode = "head" } }
        mode == "head" { mode = $0 ~ /;[ \t]*$/ ? "" : $0 ~ /\{[ \t]*$/ ? "brace" : "head"; next }
        mode == "brace" { if (match($0, /[^ ]/) == indent && $0 ~ /^ *}/) mode = ""; next }
        { print }' "$source"
}

# replace_line 'OLD<newline>NEW': copies stdin to stdout with the line that is OLD (trimmed) replaced
# by NEW, at OLD's indentation; fails unless OLD is there exactly once. Without OLD, a plain copy.
replace_line() {
    python3 -c 'import sys
if not sys.argv[1]:
    sys.stdout.write(sys.stdin.read()); sys.exit(0)
old, new = sys.argv[1].split("\n")
lines = sys.stdin.read().split("\n")
hits = [i for i, l in enumerate(lines) if l.strip() == old]
if len(hits) != 1:
    sys.exit("replace_line: %r is on %d lines, not 1" % (old, len(hits)))
line = lines[hits[0]]
lines[hits[0]] = line[:len(line) - len(line.lstrip())] + new
sys.stdout.write("\n".join(lines))' "$1"
}

# run_doc_block README INDEX SERVER [ARGS...]: the test behind one marked block.
run_doc_block() {
    local readme=$1 index=$2 server=$3 arg result status program
    shift 3
    local args=()
    for arg in "$@"; do
        arg=${arg//certs\//$CERTS/}
        args+=("$arg")
    done
    SERVER_PORT='' SERVER_LOG=''
    if [[ $server == scratch:* ]]; then
        program=$(scratch_build "${server#scratch:}" 2>&1) || { fail "scratch build failed: $program"; return; }
        start_server "$program" "${args[@]}" || return
    elif [[ $server != none ]]; then
        start_server "$(program_path "$server")" "${args[@]}" || return
    fi
    # SERVER_PID: the server's process, for a README that sends it a signal (`kill -HUP $SERVER_PID`).
    result=$(SERVER_PID=$SERVER_PID _docs_py run "$ROOT" "$readme" "$index" "$SERVER_PORT" "$CERTS" \
             "$SERVER_LOG" "$DOCS_CURL_HOME" 2>&1)
    status=$?
    [[ $status == 0 ]] || fail "$result"
}

# --- Every transcript is marked, every marker is well formed ---------------------------------------

test_every_transcript_is_marked() {
    local problems
    problems=$(_docs_py problems "$ROOT" 2>&1)
    assertEquals "README transcripts that are not checked or not well formed" '' "$problems"
}

# --- What the READMEs mention exists ----------------------------------------------------------------

# The Makefile's targets: the names before `:` on rule lines (not variable assignments).
_makefile_targets() {
    sed -n 's/^\([A-Za-z0-9_. -][A-Za-z0-9_. -]*\):\([^=].*\)\{0,1\}$/\1/p' "$ROOT/Makefile" | tr ' ' '\n' |
        grep -v '^$' | sort -u
}

test_every_make_target_mentioned_exists() {
    local readme kind name missing='' targets
    targets=$(_makefile_targets)
    while IFS=$'\t' read -r readme kind name; do
        [[ $kind == make ]] || continue
        grep -qxF -e "$name" <<<"$targets" || missing+="$readme mentions 'make $name', which the Makefile lacks"$'\n'
    done < <(_docs_py mentions "$ROOT")
    assertEquals "make targets" '' "$missing"
}

test_every_script_mentioned_exists() {
    local readme kind name missing=''
    while IFS=$'\t' read -r readme kind name; do
        [[ $kind == script ]] || continue
        [[ -x $ROOT/$name ]] || missing+="$readme mentions $name, which is not an executable file"$'\n'
    done < <(_docs_py mentions "$ROOT")
    assertEquals "scripts" '' "$missing"
}

# One exception: README.md's chapter table links chapter 05 on a branch where its folder has not
# arrived yet. A link into 05-production-server/ is let through only while that folder is absent.
test_every_relative_link_resolves() {
    local readme kind name path missing=''
    while IFS=$'\t' read -r readme kind name; do
        [[ $kind == link ]] || continue
        path=$(dirname "$readme")/$name
        path=${path#./}
        [[ ! $path == 05-production-server/* || -d $ROOT/05-production-server ]] || continue
        [[ -e $ROOT/$path ]] || missing+="$readme links to $name, which does not exist"$'\n'
    done < <(_docs_py mentions "$ROOT")
    assertEquals "links" '' "$missing"
}

# --- README.md is the newcomer's page: short, and every docs/ page it sends them to is there -------

# The count is `wc -w README.md`: every word of the file, prose, tables, code and comments alike.
README_MAX_WORDS=1500

test_readme_is_at_most_1500_words() {
    local words
    words=$(wc -w <"$ROOT/README.md")
    assertTrue "README.md has $words words (wc -w), more than $README_MAX_WORDS: reference text goes to docs/" \
        "[[ $words -le $README_MAX_WORDS ]]"
}

test_every_docs_page_readme_links_to_exists() {
    local readme kind name pages=0 missing=''
    while IFS=$'\t' read -r readme kind name; do
        [[ $readme == README.md && $kind == link && $name == docs/* ]] || continue
        pages=$((pages + 1))
        [[ -f $ROOT/$name ]] || missing+="README.md links to $name, which does not exist"$'\n'
    done < <(_docs_py mentions "$ROOT")
    assertEquals "docs/ pages README.md links to" '' "$missing"
    assertNotEquals "README.md links to no docs/ page at all" 0 "$pages"
}

# --- Code quoted in the docs is code of the chapters ----------------------------------------------

# Every line of a ```c block in a chapter README (NN-*/README.md) or in docs/*.md, trimmed, blank
# lines and `...` aside, must be a line of the source (trimmed): for a chapter README, the server.c
# or client.c beside it; for docs/, any chapter's.
test_c_blocks_are_lines_of_the_source() {
    local problems
    problems=$(_docs_py cblocks "$ROOT" 2>&1)
    assertEquals "c blocks that are not copied from the source" '' "$problems"
}

# README.md, "How to read a chapter": the map in each program's top comment gives the calls in the
# order they run, and leaves out only the kinds README.md names (listed in MAP_LEAVES_OUT above).
test_call_maps_leave_out_only_what_the_readme_names() {
    local problems
    problems=$(_docs_py maps "$ROOT" 2>&1)
    assertEquals "OpenSSL calls missing from the maps" '' "$problems"
}

# README.md, Quick start: `make demo` prints, for each command, what it returned. For chapter 03's
# key check (another CA's client) that is the 403 and its empty body, not just `ok`.
test_readme_demo_shows_what_each_command_returned() {
    local other
    start_server "$(program_path 03-custom-ca-validation/server)" || return
    RUN_TIMEOUT=60 run_program scripts/curl-checks.sh 03 "$SERVER_PORT" "$CERTS"
    assertEquals "scripts/curl-checks.sh 03 exit status; output: $RUN_STDOUT $RUN_STDERR" 0 "$RUN_STATUS" || return
    other=$(grep -A 3 -e '--cert [^ ]*/other-client\.crt' <<<"$RUN_STDOUT")
    assertEquals "what curl-checks.sh 03 shows for another CA's client" \
        "HTTP 403"$'\n'"(empty body)"$'\n'"ok" "$(sed -n '2,4p' <<<"$other")"
    assertEquals "what curl-checks.sh 03 shows for our client" "HTTP 200"$'\n'"Hello World!" \
        "$(grep -A 2 -e '--cert [^ ]*/client\.crt' <<<"$RUN_STDOUT" | sed -n '2,3p')"
}

# part_2 SOURCE: the lines of SOURCE from the PART 2 banner on.
part_2() { sed -n '/PART 2: THE PLUMBING/,$p' "$ROOT/$1"; }

# README.md, "How to read a chapter": Part 2 is the same in chapters 01 to 03, byte for byte.
test_part_2_is_the_same_in_chapters_01_to_03() {
    local one two three
    one=$(part_2 01-tls-server/server.c) two=$(part_2 02-mtls-server/server.c)
    three=$(part_2 03-custom-ca-validation/server.c)
    assertNotEquals "01-tls-server/server.c has no PART 2 banner" '' "$one" || return
    assertEquals "Part 2 of chapters 01 and 02: diff" '' "$(diff <(echo "$one") <(echo "$two"))"
    assertEquals "Part 2 of chapters 02 and 03: diff" '' "$(diff <(echo "$two") <(echo "$three"))"
}

# --- Figures the READMEs quote that vary from machine to machine ------------------------------------

# certificate_request_figures: prints "BYTES NAMES" for the CertificateRequest of the current server
# (its handshake length from `s_client -msg`, and the number of CA names s_client lists).
certificate_request_figures() {
    local out hex names
    out=$(timeout 15 openssl s_client -connect "localhost:$SERVER_PORT" -CAfile "$CERTS/ca.crt" -msg \
          </dev/null 2>/dev/null)
    hex=$(sed -n 's/.*Handshake \[length \([0-9a-f]*\)\], CertificateRequest$/\1/p' <<<"$out" | head -n 1)
    names=$(sed -n '/^Acceptable client certificate CA names/,/^Requested/p' <<<"$out" | grep -c ' = ')
    echo "$((16#${hex:-0})) $names"
}

# 03 README, "The English article's pitfall": with the system's CAs in --ca, the CertificateRequest
# names every certificate of the file, and is over 100 times the size of the one naming our CA only.
test_03_readme_certificate_request_names_every_ca_of_the_machine_trust_file() {
    local system=/etc/ssl/certs/ca-certificates.crt bundle small large count
    [[ -r $system ]] || { skip_test "no $system on this system"; return; }
    bundle=$CERTS/machine-trust-test.crt
    cat "$system" "$CERTS/ca.crt" "$CERTS/other-ca.crt" >"$bundle"
    count=$(grep -c 'BEGIN CERTIFICATE' "$bundle")
    start_server "$(program_path 03-custom-ca-validation/server)" || return
    read -r -a small <<<"$(certificate_request_figures)"
    start_server "$(program_path 03-custom-ca-validation/server)" --ca "$bundle" || return
    read -r -a large <<<"$(certificate_request_figures)"
    assertEquals "CA names with our CA only (bytes: ${small[0]})" 1 "${small[1]}"
    assertEquals "CA names with the machine's CAs (bytes: ${large[0]})" "$count" "${large[1]}"
    assertTrue "the CertificateRequest grows from ${small[0]} to ${large[0]} bytes, not over 100 times" \
        "((${small[0]} > 0 && ${large[0]} > 100 * ${small[0]}))"
}

# --- One test per marked block ---------------------------------------------------------------------

DOCS_TESTS=(test_every_transcript_is_marked test_every_make_target_mentioned_exists
            test_every_script_mentioned_exists test_every_relative_link_resolves
            test_readme_is_at_most_1500_words test_every_docs_page_readme_links_to_exists
            test_c_blocks_are_lines_of_the_source test_call_maps_leave_out_only_what_the_readme_names
            test_part_2_is_the_same_in_chapters_01_to_03
            test_readme_demo_shows_what_each_command_returned
            test_03_readme_certificate_request_names_every_ca_of_the_machine_trust_file)
while IFS=$'\t' read -r _readme _index _server _args; do
    [[ -n $_readme ]] || continue
    _name=${_readme%.md}
    _name=test_${_name//[^A-Za-z0-9]/_}_block_$_index
    # shellcheck disable=SC2086  # the arguments are words, split on purpose
    eval "$_name() { run_doc_block $(printf '%q ' "$_readme" "$_index" "$_server" $_args); }"
    DOCS_TESTS+=("$_name")
done < <(_docs_py list "$ROOT")
unset _readme _index _server _args _name

suite() {
    local t
    for t in "${DOCS_TESTS[@]}"; do suite_addTest "$t"; done
}

# shellcheck disable=SC1090
. "$SHUNIT2"
