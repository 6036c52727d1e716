#!/usr/bin/env python3
"""failure-atlas.py: runs every failure mode of mutual TLS against every client, and writes what
each client printed and what chapter 03 logged: docs/failure-atlas.md and docs/failure-atlas.json.

    scripts/failure-atlas.py [--out DIR] [--certs DIR] [--clients curl,go,...]
    scripts/failure-atlas.py --compare COMMITTED.json FRESH.json
    scripts/failure-atlas.py --page JSON

`make atlas` runs the first form. The second prints every cell that differs between two atlases
after masking (see MASKS) and exits 1 when one does: tests/test_atlas.sh compares the committed
atlas with a fresh run that way. The third prints the page made from an atlas's JSON.

How a cell is made: chapter 03's server runs with the set-up of the row (its CA file, CRL or
server certificate), the client connects to https://localhost:PORT/ with the row's client
certificate, trusting our CA only, allowing one TLS version; what the client printed, its exit
status (or the class of the exception it raised), the HTTP status when one came, and the line
chapter 03 logged for the connection go into the cell. Nothing is typed by hand.

The fixtures come from scripts/gen-certs.sh (in a scratch directory, or a copy of --certs DIR),
plus four made here with openssl: the intermediate's client without its intermediate, the client
certificate with another key, a CRL of our CA that expired, and the machine-wide trust file.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "03-custom-ca-validation", "server")
CLIENT_04 = os.path.join(ROOT, "04-client", "client")
ATLAS = os.path.join(ROOT, "scripts", "atlas")
P12_PASSWORD = "mtls-by-example"
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# ---------------------------------------------------------------------------------------------
# The rows: the failure modes, and the accepted cases that surprise people.
# id, side, what it is in plain words, chapter 03's set-up, the client's certificate (a fixture
# name, or None), the server's certificate.
# side: "client" rows are the client's certificate judged by chapter 03; "server" rows are our
# server's certificate judged by the client; "accepted" rows get in.
# ---------------------------------------------------------------------------------------------
ROWS = [
    ("ok", "accepted", "our client certificate, issued by our CA: the baseline that gets in",
     "plain", "client", "server"),
    ("ok-intermediate", "accepted", "a certificate from our intermediate CA, sent with the intermediate",
     "plain", "intermediate-client", "server"),
    ("system-store-ca", "accepted", "chapter 03 trusts the machine's CA bundle plus ours (the English "
     "article's set-up), so a client of another CA the machine trusts gets in", "system-store",
     "other-client", "server"),
    ("no-certificate", "client", "the client sends no certificate at all", "plain", None, "server"),
    ("other-ca", "client", "the client certificate is issued by a CA the server does not trust",
     "plain", "other-client", "server"),
    ("expired", "client", "the client certificate has expired", "plain", "expired-client", "server"),
    ("not-yet-valid", "client", "the client certificate is not valid yet (its notBefore is in the future)",
     "plain", "not-yet-valid-client", "server"),
    ("wrong-purpose", "client", "the client certificate is for servers only (extendedKeyUsage serverAuth)",
     "plain", "server-eku-client", "server"),
    ("self-signed", "client", "the client certificate is self-signed", "plain", "self-signed-client", "server"),
    ("leaf-as-ca", "client", "the client certificate was signed by another leaf (CA:FALSE) certificate",
     "plain", "leaf-signed-client", "server"),
    ("missing-intermediate", "client", "the client sends its certificate without the intermediate CA "
     "that issued it", "plain", "intermediate-leaf-only", "server"),
    ("revoked", "client", "the client certificate is revoked in our CA's CRL", "crl-all",
     "revoked-client", "server"),
    ("revoked-intermediate", "client", "the intermediate CA that issued the client certificate is revoked",
     "crl-intermediate-revoked", "intermediate-client", "server"),
    ("crl-expired", "client", "the server's CRL is past its nextUpdate date", "crl-expired", "client", "server"),
    ("key-mismatch", "client", "the client's private key is not the key of its certificate", "plain",
     "key-mismatch", "server"),
    ("server-name-mismatch", "server", "the server's certificate does not name the host the client "
     "asked for", "plain", "client", "wrong-name-server"),
    ("server-other-ca", "server", "the server's certificate is issued by a CA the client does not trust",
     "plain", "client", "other-ca-server"),
    ("server-expired", "server", "the server's certificate has expired", "plain", "client", "expired-server"),
]
ROW_IDS = [row[0] for row in ROWS]

# chapter 03's set-ups: extra flags.
SETUPS = {
    "plain": [],
    "crl-all": ["--crl", "{certs}/all.crl"],
    "crl-intermediate-revoked": ["--crl", "{certs}/all-intermediate-revoked.crl"],
    "crl-expired": ["--crl", "{certs}/expired-ca.crl"],
    "system-store": ["--ca", "{certs}/machine-trust.crt"],
}

CLIENTS = [
    # id, name in the page, TLS versions it can be held to
    ("curl", "curl", ("1.3", "1.2")),
    ("s_client", "openssl s_client", ("1.3", "1.2")),
    ("gnutls", "gnutls-cli", ("1.3", "1.2")),
    ("python-ssl", "Python ssl", ("1.3", "1.2")),
    ("python-requests", "Python requests", ("1.3", "1.2")),
    ("go", "Go net/http", ("1.3", "1.2")),
    ("node", "Node.js https", ("1.3", "1.2")),
    ("java", "Java HttpClient", ("1.3", "1.2")),
    ("chromium", "Chromium (headless)", ("1.3", "1.2")),
    ("firefox", "Firefox (headless)", ("1.3", "1.2")),
    ("client-04", "04 client", ("1.3", "1.2")),
]
CLIENT_IDS = [c[0] for c in CLIENTS]

# ---------------------------------------------------------------------------------------------
# Masking: what varies from run to run, replaced by a word in capitals. The page explains it.
# ---------------------------------------------------------------------------------------------
MASKS = [
    # the scratch directory of the fixtures: FIXTURES/NAME
    (None, "FIXTURES"),
    # host:port and "port N" (every run picks free ports)
    (re.compile(r"(localhost|127\.0\.0\.1|\[::1\]|::1)([:.])\d{2,5}\b"), r"\1\2PORT"),
    (re.compile(r"\bport[ =]\d{2,5}\b", re.I), "port PORT"),
    # dates and times (certificates are made relative to today; clients print "now")
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?( UTC)?"), "TIME"),
    (re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +"
                r"\d+ \d\d:\d\d:\d\d \w+ \d{4}\b"), "TIME"),
    (re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d+ \d\d:\d\d:\d\d \d{4}( GMT)?"), "TIME"),
    # pointers and thread ids (s_client starts its error lines with the thread's id in hex)
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "HEX"),
    (re.compile(r"\b[0-9A-F]{12,}\b"), "HEX"),
    # serial numbers of certificates (random)
    (re.compile(r"(serial(?: number)?[ :=]+)[0-9a-fA-F:]+", re.I), r"\1SERIAL"),
    # process ids
    (re.compile(r"\bpid[ =:]\d+", re.I), "pid PID"),
]

# Chromium reports one refusal two ways (tests/test_browser.sh, chromium_alert_came_first): when
# the server's alert comes before the request is sent it shows ERR_SOCKET_NOT_CONNECTED, else the
# alert's own code. Cells that show either compare as one, and the page says the cell varies.
CHROMIUM_RACE = ("net::ERR_BAD_SSL_CLIENT_AUTH_CERT", "net::ERR_SOCKET_NOT_CONNECTED")


def mask(text, fixtures=None):
    if not text:
        return text
    if fixtures:
        text = text.replace(fixtures, "FIXTURES")
    for pattern, word in MASKS[1:]:
        text = pattern.sub(word, text)
    return text


# Go's HTTP transport, when chapter 03's 403 (sent before it reads a stranger's request) arrives
# before Go has written its request, reports an error about an answer on an idle connection
# instead of the 403. Which comes first is a matter of scheduling: such a cell compares as the 403.
GO_EARLY_ANSWER = "readLoopPeekFailLocked"


# A client that refuses our server's certificate sends an alert and closes the connection; when
# the close reaches chapter 03 first (Java, in TLS 1.3, either way from run to run), it logs that
# the client closed the connection instead of naming the alert. In the server rows, the two
# compare as one.
CLOSED = "handshake failed: the client closed the connection"
SERVER_ROWS = {r[0] for r in ROWS if r[1] == "server"}


def same_server_log(cell, a, b):
    if a == b:
        return True
    if cell.get("row") in SERVER_ROWS and "handshake failed: " in a and "handshake failed: " in b:
        return CLOSED in a or CLOSED in b
    return False


def comparable(cell):
    """What the comparison looks at: the masked fields, with the two outcomes of each race above
    made one."""
    fields = {field: mask(cell.get(field) or "") for field in COMPARED}
    if cell.get("client") == "go" and GO_EARLY_ANSWER in fields["message"] and \
            "answered 403" in fields["server_log"]:
        fields.update(message="", exit="", http="403")
    if cell.get("client") == "chromium" and cell.get("tls") == "1.3":
        for word in CHROMIUM_RACE:
            fields["message"] = fields["message"].replace(
                word, "net::ERR_BAD_SSL_CLIENT_AUTH_CERT|ERR_SOCKET_NOT_CONNECTED")
    return fields


# ---------------------------------------------------------------------------------------------
# The alert: read from the client's own message (each stack words it its own way).
# ---------------------------------------------------------------------------------------------
ALERT_NUMBERS = {
    "10": "unexpected_message", "20": "bad_record_mac", "40": "handshake_failure", "42": "bad_certificate",
    "43": "unsupported_certificate", "44": "certificate_revoked", "45": "certificate_expired",
    "46": "certificate_unknown", "47": "illegal_parameter", "48": "unknown_ca", "49": "access_denied",
    "50": "decode_error", "51": "decrypt_error", "70": "protocol_version", "80": "internal_error",
    "116": "certificate_required",
}
ALERT_NAMES = set(ALERT_NUMBERS.values())
ALERT_WORDS = {name.replace("_", " "): name for name in ALERT_NAMES}
ALERT_WORDS.update({"unknown certificate authority": "unknown_ca", "certificate is required": "certificate_required",
                    "bad certificate": "bad_certificate", "decryption failed": "decrypt_error",
                    "error in the certificate": "bad_certificate", "unknown ca": "unknown_ca"})
# Firefox's (NSS's) codes for alerts it received.
NSS_ALERTS = {
    "SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT": "certificate_required", "SSL_ERROR_BAD_CERT_ALERT": "bad_certificate",
    "SSL_ERROR_UNKNOWN_CA_ALERT": "unknown_ca", "SSL_ERROR_DECRYPT_ERROR_ALERT": "decrypt_error",
    "SSL_ERROR_HANDSHAKE_FAILURE_ALERT": "handshake_failure", "SSL_ERROR_EXPIRED_CERT_ALERT": "certificate_expired",
    "SSL_ERROR_REVOKED_CERT_ALERT": "certificate_revoked", "SSL_ERROR_CERTIFICATE_UNKNOWN_ALERT": "certificate_unknown",
    "SSL_ERROR_UNSUPPORTED_CERT_ALERT": "unsupported_certificate", "SSL_ERROR_ACCESS_DENIED_ALERT": "access_denied",
}


def alert_in(message):
    """The alert the client says it received, as the RFC names it, or ''."""
    if not message:
        return ""
    m = re.search(r"alert number (\d+)|alert \[(\d+)\]", message, re.I)
    if m:
        return ALERT_NUMBERS.get(m.group(1) or m.group(2), "alert %s" % (m.group(1) or m.group(2)))
    for code, name in NSS_ALERTS.items():
        if code in message:
            return name
    m = re.search(r"ERR_SSL_(?:TLSV13|TLSV1|SSLV3)_ALERT_([A-Z_]+)", message)
    if m:
        return m.group(1).lower()
    patterns = [r"(?:tlsv13|tlsv1|sslv3) alert ([a-z ]+)", r"remote error: tls: ([a-z ]+)",
                r"Received fatal alert: (\w+)", r"Received alert \[\d+\]: ([A-Za-z ]+)"]
    for pattern in patterns:
        m = re.search(pattern, message, re.I)
        if m:
            words = m.group(1).strip().lower().replace("_", " ")
            # the longest alert name the words start with ("certificate required, errno 0")
            for name in sorted(ALERT_WORDS, key=len, reverse=True):
                if words.startswith(name):
                    return ALERT_WORDS[name]
            return words.replace(" ", "_")
    return ""


# ---------------------------------------------------------------------------------------------
# Fixtures and servers
# ---------------------------------------------------------------------------------------------
def run(command, **kwargs):
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("timeout", 60)
    return subprocess.run(command, **kwargs)


def make_fixtures(certs, given):
    if given:
        os.makedirs(certs, exist_ok=True)
        for name in os.listdir(given):
            if os.path.isfile(os.path.join(given, name)):
                shutil.copy2(os.path.join(given, name), certs)
    else:
        done = run([os.path.join(ROOT, "scripts", "gen-certs.sh"), certs], timeout=300)
        if done.returncode:
            sys.exit("scripts/gen-certs.sh failed:\n" + done.stdout.decode() + done.stderr.decode())
    c = lambda name: os.path.join(certs, name)
    # missing-intermediate: only the first certificate of intermediate-client.crt, the leaf.
    with open(c("intermediate-client.crt")) as f:
        pem = f.read()
    leaf = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"
    with open(c("intermediate-leaf-only.crt"), "w") as f:
        f.write(leaf)
    shutil.copy2(c("intermediate-client.key"), c("intermediate-leaf-only.key"))
    # key-mismatch: our client's certificate with another client's key.
    shutil.copy2(c("client.crt"), c("key-mismatch.crt"))
    shutil.copy2(c("other-client.key"), c("key-mismatch.key"))
    # crl-expired: a CRL from our CA whose nextUpdate has passed (revoking nothing).
    db = c("expired-crl-db")
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\ndefault_md = sha256\n"
                "crlnumber = %s/crlnumber\n" % (db, db))
    with open(os.path.join(db, "crlnumber"), "w") as f:
        f.write("01\n")
    done = run(["openssl", "ca", "-batch", "-config", os.path.join(db, "ca.cnf"), "-gencrl",
                "-cert", c("ca.crt"), "-keyfile", c("ca.key"), "-crl_lastupdate", "20240101000000Z",
                "-crl_nextupdate", "20240201000000Z", "-out", c("expired-ca.crl")])
    if done.returncode:
        sys.exit("openssl ca -gencrl failed: " + done.stderr.decode())
    # system-store: the machine's CAs, ours, and other-ca standing for one of the machine's CAs
    # (as in chapter 03's README, "The English article's pitfall").
    with open(c("machine-trust.crt"), "w") as out:
        if os.path.exists(SYSTEM_BUNDLE):
            with open(SYSTEM_BUNDLE) as f:
                out.write(f.read())
        for name in ("ca.crt", "other-ca.crt"):
            with open(c(name)) as f:
                out.write(f.read())


class Server:
    """Chapter 03 with a set-up; its log is read line by line from an offset."""

    def __init__(self, certs, scratch, setup, server_cert):
        self.log_path = tempfile.mktemp(prefix="server-%s-" % setup, suffix=".log", dir=scratch)
        args = [SERVER, "--port", "0", "--cert", "%s/%s.crt" % (certs, server_cert),
                "--key", "%s/%s.key" % (certs, server_cert)]
        extra = [a.format(certs=certs) for a in SETUPS[setup]]
        if "--ca" not in extra:
            args += ["--ca", "%s/ca.crt" % certs]
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args + extra, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=ROOT)
        self.port = None
        for _ in range(200):   # 20 s at most
            with open(self.log_path) as f:
                m = re.search(r"Listening on \S+:(\d+)", f.read())
            if m:
                self.port = m.group(1)
                break
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        if not self.port:
            self.stop()
            with open(self.log_path) as f:
                raise RuntimeError("chapter 03 did not start: " + f.read())
        self.mark = os.path.getsize(self.log_path)

    def new_lines(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.mark)
            return [l for l in f.read().decode(errors="replace").splitlines() if l.strip()]

    def lines_for_case(self, spare_connections=False):
        """The lines logged since the last call: waits (at most 3 s: a client that gave up before
        connecting leaves no line) until one says what became of the connection: a rejection, a
        failed handshake, the request, or no request. With SPARE_CONNECTIONS (a browser), a line
        about a connection that was only closed is not enough."""
        deadline = time.monotonic() + 3   # (a loaded machine: CI runs suites side by side)
        final = re.compile(r' (rejected |handshake failed:|"GET|no request:)')
        lines = self.new_lines()
        while time.monotonic() < deadline:
            done = [l for l in lines if final.search(l)]
            if spare_connections:
                done = [l for l in done if not any(n in l for n in SPARE)]
            if done:
                break
            time.sleep(0.05)
            lines = self.new_lines()
        # What comes later (a browser's spare connection) belongs to this case too: skipped.
        self.mark = os.path.getsize(self.log_path)
        return lines

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# How a browser's spare connection ends (it opens more than it uses, and drops the rest).
SPARE = ("closed the connection", "reset by peer", "Broken pipe", "timed out")


def decisive_line(lines):
    """The line of chapter 03's log that says what it made of the connection. A browser opens
    more connections than the one that matters (it closes spare ones, asks for /favicon.ico):
    a rejection or a failed handshake with a reason says most, then the request line."""
    stripped = [re.sub(r"^(\S+:\d+) ", "", l) for l in lines]
    for test in (lambda l: " rejected " in " " + l,
                 lambda l: l.startswith("handshake failed:") and not any(n in l for n in SPARE),
                 lambda l: '"GET / ' in l or " no request: " in l,
                 lambda l: l.startswith("trusted "),
                 lambda l: True):
        for line, bare in zip(lines, stripped):
            if test(bare):
                return line
    return ""


# ---------------------------------------------------------------------------------------------
# The clients. Each returns a dict: message, exit (or the exception's class), http, and
# optionally connected=False when the client gave up before connecting.
# ---------------------------------------------------------------------------------------------
def identity_files(certs, fixture):
    if not fixture:
        return None, None
    return "%s/%s.crt" % (certs, fixture), "%s/%s.key" % (certs, fixture)


def one_line(text):
    return " ".join(text.split())


def client_curl(ctx, case):
    cert, key = identity_files(ctx.certs, case["fixture"])
    args = ["curl", "-sS", "--max-time", "10", "--cacert", ctx.ca, "--tlsv" + case["tls"], "--tls-max",
            case["tls"], "-o", os.devnull, "-w", "%{http_code}", case["url"]]
    if cert:
        args += ["--cert", cert, "--key", key]
    done = run(args, timeout=20)
    # curl's verdict is its "curl: (N) ..." line; for a certificate problem, lines of advice follow.
    err = [l for l in done.stderr.decode(errors="replace").splitlines() if l.startswith("curl: (")]
    http = done.stdout.decode().strip()
    return {"message": err[0] if err else "", "exit": "exit %d" % done.returncode,
            "http": "" if http in ("", "000") else http}


def client_s_client(ctx, case):
    cert, key = identity_files(ctx.certs, case["fixture"])
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%s" % case["port"], "-servername", "localhost",
            "-verify_hostname", "localhost", "-CAfile", ctx.ca, "-verify_return_error", "-ign_eof",
            "-tls" + case["tls"].replace(".", "_")]
    if cert:
        # -cert reads one certificate; -cert_chain sends the others of the file with it.
        args += ["-cert", cert, "-key", key, "-cert_chain", cert]
    done = run(args, input=REQUEST, timeout=20)
    out = done.stdout.decode(errors="replace") + "\n" + done.stderr.decode(errors="replace")
    lines = out.splitlines()
    message = next((l for l in lines if ":error:" in l), "") or \
        next((l for l in lines if l.startswith("verify error:")), "")
    m = re.search(r"^HTTP/1\.[01] (\d{3})", out, re.M)
    return {"message": message.strip(), "exit": "exit %d" % done.returncode, "http": m.group(1) if m else ""}


def client_gnutls(ctx, case):
    cert, key = identity_files(ctx.certs, case["fixture"])
    args = ["gnutls-cli", "--x509cafile", ctx.ca, "--priority", "NORMAL:-VERS-ALL:+VERS-TLS" + case["tls"],
            "-p", case["port"], "localhost"]
    if cert:
        args += ["--x509certfile", cert, "--x509keyfile", key]
    done = run(args, input=REQUEST, timeout=20)
    out = done.stdout.decode(errors="replace") + "\n" + done.stderr.decode(errors="replace")
    lines = [l.strip() for l in out.splitlines()]
    # gnutls-cli's verdict is its first "*** ..." line; why it refused a server's certificate is on
    # the "- Status:" line before it, and an alert it received on a "Received alert" line.
    verdicts = [l for l in lines if l.startswith("*** ") and "Non fatal" not in l] + \
        [l for l in lines if l.startswith("Error ")]
    status = next((l for l in lines if l.startswith("- Status:") and "NOT" in l), "")
    alert = next((l for l in lines if "Received alert" in l), "")
    parts = [status] + verdicts[:1]
    if alert and not any(alert in part for part in parts):
        parts.append(alert)
    message = " ".join(part for part in parts if part)
    m = re.search(r"^HTTP/1\.[01] (\d{3})", out, re.M)
    return {"message": message, "exit": "exit %d" % done.returncode, "http": m.group(1) if m else ""}


def client_04(ctx, case):
    cert, key = identity_files(ctx.certs, case["fixture"])
    args = [CLIENT_04, "--ca", ctx.ca, case["url"]]
    if cert:
        args[1:1] = ["--cert", cert, "--key", key]
    env = dict(os.environ)
    if case["tls"] == "1.2":   # the 04 client has no version flag: OpenSSL's configuration caps it
        env["OPENSSL_CONF"] = ctx.tls12_conf
    done = run(args, env=env, timeout=20)
    err = [l for l in done.stderr.decode(errors="replace").splitlines() if l.strip()]
    message = err[-1] if err else ""
    m = re.match(r"client: HTTP/1\.[01] (\d{3})", message)
    return {"message": message, "exit": "exit %d" % done.returncode, "http": m.group(1) if m else ""}


class Batch:
    """A client program that runs every case in one process (Go, Node.js, Java, Python): a case
    per line on its stdin, a result per line on its stdout."""

    def __init__(self, command, cwd=None):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, cwd=cwd, text=True)
        self.lock = threading.Lock()

    def ask(self, ctx, case):
        cert, key = identity_files(ctx.certs, case["fixture"])
        line = "\t".join([case["url"], ctx.ca, cert or "", key or "", case["tls"]])
        fields = [f.strip() for f in (self.send(line, 40).split("\t") + ["", "", ""])[:3]]
        return {"http": fields[0], "exit": fields[1], "message": fields[2]}

    def send(self, line, seconds):
        """Writes a case, returns the program's answer line (bounded: SECONDS)."""
        result = [""]
        done = threading.Event()

        def read():
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            result[0] = self.process.stdout.readline()
            done.set()
        threading.Thread(target=read, daemon=True).start()
        if not done.wait(seconds):
            self.process.kill()
            return "no answer from the program within %d s" % seconds
        return result[0].rstrip("\n")

    def close(self):
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def start_batch(ctx, client):
    build = os.path.join(ctx.scratch, "build")
    os.makedirs(build, exist_ok=True)
    if client in ("python-ssl", "python-requests"):
        return Batch([sys.executable, os.path.join(ATLAS, "atlas_client.py"), client.split("-")[1]])
    if client == "node":
        return Batch(["node", os.path.join(ATLAS, "atlas-client.js")])
    if client == "go":
        env = dict(os.environ, GOCACHE=os.path.join(ROOT, "build", "go", "cache"),
                   GOPATH=os.path.join(ROOT, "build", "go", "path"), GOPROXY="off", GO111MODULE="off")
        done = run(["go", "build", "-o", os.path.join(build, "atlas-go"), "atlas_client.go"], cwd=ATLAS,
                   env=env, timeout=300)
        if done.returncode:
            raise RuntimeError("go build failed: " + done.stderr.decode())
        return Batch([os.path.join(build, "atlas-go")])
    if client == "java":
        done = run(["javac", "-d", build, os.path.join(ATLAS, "AtlasClient.java")], timeout=300)
        if done.returncode:
            raise RuntimeError("javac failed: " + done.stderr.decode())
        return Batch(["java", "-cp", build, "AtlasClient"])
    raise ValueError(client)


# --- Browsers ------------------------------------------------------------------------------------
# As tests/test_browser.sh does: an NSS database (certutil, pk12util) with our CA trusted for TLS
# servers and the row's identity imported from a .p12; Chromium reads it from $HOME/.pki/nssdb and
# is told by its profile's Preferences to pick a certificate without asking; Firefox reads it from
# its profile, whose user.js says "Select Automatically"; tests/firefox-get.py loads the page
# through Marionette. Each cell gets a fresh profile and a chapter 03 of its own (a new origin:
# nothing cached from the cell before).
def p12_for(ctx, fixture):
    if not fixture:
        return None
    p12 = os.path.join(ctx.certs, "%s.atlas.p12" % fixture)
    with ctx.p12_lock:
        if not os.path.exists(p12):
            done = run(["openssl", "pkcs12", "-export", "-in", "%s/%s.crt" % (ctx.certs, fixture), "-inkey",
                        "%s/%s.key" % (ctx.certs, fixture), "-passout", "pass:" + P12_PASSWORD, "-out", p12])
            if done.returncode:
                # (only the first line: the rest is OpenSSL's error queue, with a thread id)
                raise CannotRun("browsers import an identity only from a PKCS#12 file, and openssl "
                                "pkcs12 -export refuses this key and certificate: " +
                                done.stderr.decode(errors="replace").strip().splitlines()[0])
    return p12


class CannotRun(Exception):
    pass


def nss_database(ctx, directory, fixture):
    os.makedirs(directory, exist_ok=True)
    steps = [["certutil", "-N", "-d", "sql:" + directory, "--empty-password"],
             ["certutil", "-A", "-d", "sql:" + directory, "-n", "ca", "-t", "C,,", "-i", ctx.ca]]
    p12 = p12_for(ctx, fixture)
    if p12:
        steps.append(["pk12util", "-i", p12, "-d", "sql:" + directory, "-W", P12_PASSWORD])
    for step in steps:
        done = run(step)
        if done.returncode:
            raise RuntimeError("%s failed: %s" % (" ".join(step), done.stderr.decode() + done.stdout.decode()))


def issuer_cn(ctx, fixture):
    done = run(["openssl", "x509", "-in", "%s/%s.crt" % (ctx.certs, fixture), "-noout", "-issuer",
                "-nameopt", "multiline"])
    m = re.search(r"commonName\s*=\s*(.+)", done.stdout.decode())
    return m.group(1).strip() if m else ""


def client_chromium(ctx, case):
    home = tempfile.mkdtemp(prefix="chromium-", dir=ctx.scratch)
    nss_database(ctx, os.path.join(home, ".pki", "nssdb"), case["fixture"])
    profile = os.path.join(home, "profile")
    os.makedirs(os.path.join(profile, "Default"))
    if case["fixture"]:
        rule = {"profile": {"content_settings": {"exceptions": {"auto_select_certificate": {
            "https://localhost:%s,*" % case["port"]: {"setting": {"filters": [
                {"ISSUER": {"CN": issuer_cn(ctx, case["fixture"])}}]}}}}}}}
        with open(os.path.join(profile, "Default", "Preferences"), "w") as f:
            json.dump(rule, f)
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home + "/.config", XDG_CACHE_HOME=home + "/.cache")
    # --no-sandbox: the sandbox refuses to run as root and in most containers; the rest keeps
    # Chromium from calling home.
    # --ssl-version-max=tls1.2: Chromium offers TLS 1.2 at most.
    version = ["--ssl-version-max=tls1.2"] if case["tls"] == "1.2" else []
    done = run(["timeout", "-k", "5", "60", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile] + version +
               ["--dump-dom", case["url"]], env=env, timeout=90, stdin=subprocess.DEVNULL)
    err = re.search(r"Page load failed: .*", done.stderr.decode(errors="replace"))
    page = re.sub(r"<[^>]+>", "", done.stdout.decode(errors="replace")).strip()
    message = err.group(0).strip() if err else ("page: " + one_line(page)[:80] if page else "")
    shutil.rmtree(home, ignore_errors=True)
    return {"message": message, "exit": "exit %d" % done.returncode, "http": ""}


class Firefox:
    """One headless Firefox for every cell (scripts/atlas/firefox_batch.py changes its identity and
    TLS version between pages): a Firefox start takes seconds, a page well under one."""

    def __init__(self, ctx):
        self.home = tempfile.mkdtemp(prefix="firefox-", dir=ctx.scratch)
        self.profile = os.path.join(self.home, "profile")
        nss_database(ctx, self.profile, None)
        done = run(["bash", "-c", 'source <(sed -n "/^firefox_preferences()/,/^}/p" "$1"); firefox_preferences',
                    "_", os.path.join(ROOT, "tests", "test_browser.sh")])
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            f.write(done.stdout.decode())
        env = dict(os.environ, HOME=self.home, XDG_CONFIG_HOME=self.home + "/.config",
                   XDG_CACHE_HOME=self.home + "/.cache", MOZ_REMOTE_SETTINGS_DEVTOOLS="1")
        self.firefox = subprocess.Popen(
            ["timeout", "-k", "5", "600", os.environ.get("FIREFOX", "firefox-esr"), "--headless", "--marionette",
             "-remote-allow-system-access", "-no-remote", "-profile", self.profile, "about:blank"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self.batch = Batch([sys.executable, os.path.join(ATLAS, "firefox_batch.py"), self.profile])

    def ask(self, ctx, case):
        line = "\t".join([case["url"], p12_for(ctx, case["fixture"]) or "", P12_PASSWORD, case["tls"]])
        answer = self.batch.send(line, 60)
        return {"message": answer, "exit": "", "http": ""}

    def close(self):
        self.batch.process.stdin.write("\n")
        self.batch.close()
        # firefox_batch.py asked Firefox to quit: 5 s for that, then its process group is stopped.
        try:
            self.firefox.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.firefox.pid, signal.SIGTERM)
            try:
                self.firefox.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.firefox.pid, signal.SIGKILL)
                self.firefox.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def http_from_log(line):
    m = re.search(r'" (\d{3})$', line) or re.search(r"answered (\d{3})$", line)
    return m.group(1) if m else ""


# ---------------------------------------------------------------------------------------------
# Running a client's cases
# ---------------------------------------------------------------------------------------------
class Context:
    pass


NOT_RUN = {}   # (client, TLS version): why that client cannot be held to that version


def not_run_reason(client, row, tls):
    if (client, tls) in NOT_RUN:
        return NOT_RUN[(client, tls)]
    return None


# What each client needs installed.
NEEDS = {"curl": "curl", "s_client": "openssl", "gnutls": "gnutls-cli", "python-ssl": "python3",
         "python-requests": "python3", "go": "go", "node": "node", "java": "javac", "chromium": "chromium",
         "firefox": os.environ.get("FIREFOX", "firefox-esr"), "client-04": "openssl"}


def missing(client):
    """Why CLIENT cannot run here ('' when it can)."""
    tools = [NEEDS[client]] + (["certutil", "pk12util"] if client in ("chromium", "firefox") else [])
    for tool in tools:
        if not shutil.which(tool):
            return "%s is not installed" % tool
    if client == "python-requests" and run([sys.executable, "-c", "import requests"]).returncode:
        return "Python's requests is not installed"
    return ""


def run_client(ctx, client, versions=None):
    """Every cell of one client (in VERSIONS, default all it can do). Command-line clients share
    one chapter 03 per set-up; a batch client runs all its cases in one process; a browser gets a
    chapter 03 per cell."""
    cells = []
    versions = versions or dict((c[0], c[2]) for c in CLIENTS)[client]
    servers = {}
    batch = None
    browser = client in ("chromium", "firefox")
    absent = missing(client)
    if absent:
        return [{"row": r[0], "client": client, "tls": tls, "not_run": absent}
                for tls in versions for r in ROWS if not ctx.rows or r[0] in ctx.rows]
    try:
        if client in ("python-ssl", "python-requests", "go", "node", "java"):
            batch = start_batch(ctx, client)
        elif client == "firefox":
            batch = Firefox(ctx)
        for tls in versions:
            for row_id, side, _, setup, fixture, server_cert in ROWS:
                if ctx.rows and row_id not in ctx.rows:
                    continue
                cell = {"row": row_id, "client": client, "tls": tls}
                reason = not_run_reason(client, row_id, tls)
                if reason:
                    cell["not_run"] = reason
                    cells.append(cell)
                    continue
                key = (setup, server_cert)
                if browser:
                    server = Server(ctx.certs, ctx.scratch, setup, server_cert)
                else:
                    if key not in servers:
                        servers[key] = Server(ctx.certs, ctx.scratch, setup, server_cert)
                    server = servers[key]
                case = {"fixture": fixture, "tls": tls, "port": server.port,
                        "url": "https://localhost:%s/" % server.port}
                try:
                    if batch:
                        result = batch.ask(ctx, case)
                    else:
                        result = {"curl": client_curl, "s_client": client_s_client, "gnutls": client_gnutls,
                                  "client-04": client_04, "chromium": client_chromium}[client](ctx, case)
                    lines = server.lines_for_case(spare_connections=browser)
                except CannotRun as why:
                    cell["not_run"] = mask(str(why), ctx.certs)
                    cells.append(cell)
                    continue
                finally:
                    if browser:   # a chapter 03 of its own: stopped whatever happened
                        server.stop()
                if os.environ.get("ATLAS_VERBOSE"):
                    print("%6.1f s %s TLS %s %s: %s" % (time.monotonic() - ctx.started, client, tls, row_id,
                                                        result["message"][:60]), file=sys.stderr)
                line = decisive_line(lines)
                message = mask(result["message"], ctx.certs)
                cell.update({
                    "message": message,
                    "exit": result["exit"],
                    "alert": alert_in(result["message"]) or ("none: the handshake completed" if
                                                             (result["http"] or http_from_log(line)) else ""),
                    "http": result["http"] or (http_from_log(line) if browser else ""),
                    "server_log": mask(line, ctx.certs),
                })
                if browser and len(lines) > 1:
                    cell["server_log_all"] = [mask(l, ctx.certs) for l in lines]
                if client == "chromium" and tls == "1.3" and result["message"].endswith(CHROMIUM_RACE):
                    cell["varies"] = ("Chromium shows %s or %s for this refusal in TLS 1.3, depending on "
                                      "whether the server's alert comes before or after it sends its request"
                                      % CHROMIUM_RACE)
                if client == "go" and GO_EARLY_ANSWER in result["message"]:
                    cell["varies"] = ("Go shows this or the 403, depending on whether chapter 03's answer "
                                      "comes before or after Go writes its request")
                cells.append(cell)
    finally:
        if batch:
            batch.close()
        for server in servers.values():
            server.stop()
    return cells


def versions_of_clients():
    """One line per client: its version (shown in the page, not compared)."""
    def first_line(command, pattern=None):
        try:
            done = run(command, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "not installed"
        text = (done.stdout + done.stderr).decode(errors="replace")
        if pattern:
            m = re.search(pattern, text)
            return m.group(0) if m else text.strip().splitlines()[0] if text.strip() else ""
        return text.strip().splitlines()[0] if text.strip() else ""
    return {
        "curl": first_line(["curl", "--version"]),
        "s_client": first_line(["openssl", "version"]),
        "gnutls": first_line(["gnutls-cli", "--version"]),
        "python-ssl": first_line([sys.executable, "-c", "import ssl,sys;print('Python', sys.version.split()[0], ssl.OPENSSL_VERSION)"]),
        "python-requests": first_line([sys.executable, "-c", "import requests,urllib3;print('requests', requests.__version__, 'urllib3', urllib3.__version__)"]),
        "go": first_line(["go", "version"]),
        "node": first_line(["node", "-p", "'Node.js ' + process.version + ', OpenSSL ' + process.versions.openssl"]),
        "java": first_line(["java", "-version"]),
        "chromium": first_line(["chromium", "--version"], r"Chromium [0-9.]+"),
        "firefox": first_line([os.environ.get("FIREFOX", "firefox-esr"), "--version"]),
        "client-04": "04-client/client, " + first_line(["openssl", "version"]),
    }


def generate(args):
    started = time.monotonic()
    for program in (SERVER, CLIENT_04):
        if not os.access(program, os.X_OK):
            sys.exit("%s is not built; run 'make' first" % os.path.relpath(program, ROOT))
    scratch = tempfile.mkdtemp(prefix="failure-atlas-")
    ctx = Context()
    ctx.scratch = scratch
    ctx.started = started
    ctx.certs = os.path.join(scratch, "fixtures")
    ctx.p12_lock = threading.Lock()
    ctx.rows = args.rows.split(",") if args.rows else None
    try:
        make_fixtures(ctx.certs, args.certs)
        if os.environ.get("ATLAS_VERBOSE"):
            print("%6.1f s fixtures made" % (time.monotonic() - started), file=sys.stderr)
        ctx.ca = os.path.join(ctx.certs, "ca.crt")
        ctx.tls12_conf = os.path.join(scratch, "openssl-max-tls12.cnf")
        with open(ctx.tls12_conf, "w") as f:
            f.write("openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n"
                    "system_default = system_default_sect\n[system_default_sect]\nMaxProtocol = TLSv1.2\n")
        clients = args.clients.split(",") if args.clients else CLIENT_IDS
        # The browsers take longest: they start first, beside the command-line clients, and
        # Chromium (a start per cell) runs its two TLS versions side by side.
        units = [(c, None) for c in clients]
        if "chromium" in clients:
            units.remove(("chromium", None))
            units[:0] = [("chromium", ("1.3",)), ("chromium", ("1.2",))]
        units.sort(key=lambda u: u[0] not in ("firefox", "chromium"))
        results = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(run_client, ctx, c, v): (c, v) for c, v in units}
            for future in concurrent.futures.as_completed(futures):
                client, versions = futures[future]
                results[(client, versions)] = future.result()
                print("failure-atlas: %s%s done (%d s)" % (client, " TLS " + versions[0] if versions else "",
                                                         time.monotonic() - started), file=sys.stderr)
        cells = [cell for c in CLIENT_IDS for tls in ("1.3", "1.2") for unit in units if unit[0] == c
                 for cell in results[unit] if cell["tls"] == tls]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    versions = versions_of_clients()
    atlas = {
        "about": "What each client prints, and what chapter 03 logs, for each way mutual TLS fails. "
                 "Made by `make atlas` (scripts/failure-atlas.py); docs/failure-atlas.md is the same "
                 "data as a page.",
        "masks": MASK_WORDS,
        "rows": [{"id": r[0], "side": r[1], "what": r[2], "server_setup": r[3],
                  "client_certificate": r[4], "server_certificate": r[5]} for r in ROWS],
        "clients": [{"id": c[0], "name": c[1], "version": v} for c, v in
                    zip(CLIENTS, [versions[c[0]] for c in CLIENTS])],
        "cells": cells,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "failure-atlas.json"), "w") as f:
        json.dump(atlas, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(args.out, "failure-atlas.md"), "w") as f:
        f.write(page(atlas))
    print("failure-atlas: wrote %s/failure-atlas.md and .json (%d cells, %d s)"
          % (args.out, len(cells), time.monotonic() - started), file=sys.stderr)


MASK_WORDS = {
    "FIXTURES": "the scratch folder holding the certificates of the run",
    "PORT": "a TCP port: every run picks free ports (localhost:PORT, 127.0.0.1:PORT, port PORT)",
    "TIME": "a date and time: the fixtures are made relative to today, and clients print the time now",
    "HEX": "a pointer or thread id in hex (0x..., or 12 hex digits or more: s_client starts its "
           "error lines with its thread's id)",
    "SERIAL": "a certificate's serial number (random)",
    "PID": "a process id",
}

# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------
def md(text):
    return (text or "").replace("|", "\\|").replace("`", "'")


def code(text):
    if not text:
        return "—"
    text = text.replace("|", "\\|")
    ticks = "``" if "`" in text else "`"
    return "%s%s%s" % (ticks, text, ticks)


def glance(cell, side):
    """A cell in a word or two, for the overview."""
    if cell is None:
        return "?"
    if "not_run" in cell:
        return "not run"
    if cell.get("http"):
        return cell["http"]
    if not cell.get("server_log") or (side == "client" and not cell.get("alert") and
                                      "the client closed the connection" in cell["server_log"]):
        return "local"
    if cell.get("alert") and side != "server":
        return cell["alert"]
    return "refused"


def page(atlas):
    rows = {r["id"]: r for r in atlas["rows"]}
    clients = {c["id"]: c for c in atlas["clients"]}
    out = []
    w = out.append
    w("# The failure atlas: every way mutual TLS fails, as each client says it\n")
    w("<!-- Made by `make atlas` (scripts/failure-atlas.py) from a run; do not edit by hand: "
      "tests/test_atlas.sh compares this data with a fresh run. -->\n")
    w("Each row below is one way a mutual-TLS connection goes wrong (or goes right when you might not "
      "expect it), played for real against chapter 03's server by every client this suite knows, in "
      "TLS 1.3 and TLS 1.2. Each cell is what that client printed, its exit status or the class of the "
      "exception it raised, the alert it says it received, the HTTP status if an answer came, and the "
      "line chapter 03 logged for the same connection.\n")
    w("Pasted an error and want to know which row it is? `scripts/cert-doctor.sh explain 'THE TEXT'` "
      "reads this atlas (docs/failure-atlas.json) and names the likely rows, most likely first, then "
      "the one check that tells them apart.\n")
    w("## How to read a cell\n")
    w("- **message**: the client's own line: curl's and the 04 client's last stderr line, "
      "`openssl s_client`'s first `:error:` line (else its `verify error:` line), gnutls-cli's `***` "
      "verdict and its `Received alert` line, the exception's text for Python, Go, Node.js and Java "
      "(one process per client runs all its cells: `scripts/atlas/`), the browser's error code "
      "(`Page load failed: ...`) or the start of the page it showed. `—`: the client printed nothing.")
    w("- **exit**: the process's exit status, or for the programs that run all their cells in one "
      "process the class (Java, Python), type (Go) or code (Node.js) of the error.")
    w("- **alert**: the TLS alert named in the client's message, as RFC 8446 names it; `none: the "
      "handshake completed` when an HTTP answer came; empty when the client's words name no alert "
      "(it may have sent one itself: chapter 03's log then says which, e.g. \"the client does not "
      "trust the CA that issued our certificate\" is the client's `unknown_ca`). No capture is "
      "made: the alert is what the client reports.")
    w("- **HTTP**: the status of the answer, if one came (for the browsers, from chapter 03's log).")
    w("- **chapter 03 logged**: its line for that connection (for a browser, which opens spare "
      "connections too, the line that says most: a rejection, a failed handshake with a reason, the "
      "request). For the server rows it says how the client's refusal looked from the server.\n")
    w("**Masked values.** What changes from run to run is replaced by a word in capitals, here and in "
      "the JSON:\n")
    for word, why in atlas["masks"].items():
        w("- `%s`: %s" % (word, why))
    w("")
    w("**Cells that vary.** Chromium reports one refusal of a TLS 1.3 client certificate two ways, "
      "`%s` or `%s`, depending on whether the server's alert arrives before Chromium sends its "
      "request (tests/test_browser.sh explains the race). Go's HTTP client, when chapter 03's 403 "
      "(sent before it reads a stranger's request) arrives before Go has written its request, "
      "reports `readLoopPeekFailLocked: <nil>` instead of the 403. A cell that shows the less "
      "usual outcome says *varies* (for Chromium, every TLS 1.3 cell with either word: there both "
      "happen). And in the server rows, a client that refuses our certificate sends an alert and "
      "closes: when the close reaches chapter 03 first (Java in TLS 1.3, from run to run), the log "
      "says `handshake failed: the client closed the connection` instead of naming the alert. The "
      "comparison with a fresh run takes either outcome of these three races, and nothing else.\n"
      % CHROMIUM_RACE)
    w("**Fixtures.** Those of scripts/gen-certs.sh (certs/README.md says what each is), plus four made "
      "by scripts/failure-atlas.py: `intermediate-leaf-only` (intermediate-client's certificate "
      "without the intermediate), `key-mismatch` (client.crt with other-client.key), `expired-ca.crl` "
      "(a CRL of our CA whose nextUpdate passed in 2024) and `machine-trust.crt` (the system's CA "
      "bundle, our CA, and other-ca standing for one of the machine's CAs).\n")
    w("## At a glance\n")
    w("What each client got, TLS 1.3 first and then TLS 1.2 when it differs: the HTTP status when an "
      "answer came; the alert the client says it received; `refused` when the client refused our "
      "server's certificate (or the handshake failed without an alert it names); `local` when it "
      "gave up on its own before the handshake was done (a key that is not the certificate's). Where "
      "a client holding a certificate shows `certificate_required` (TLS 1.2: `handshake_failure`), "
      "it did not send it: Go, Java and the browsers offer only a certificate they can chain to one of "
      "the CA names chapter 03's CertificateRequest lists (the browsers also skip one whose dates or "
      "purpose do not fit), and chapter 03 logs that no certificate came. The sections below have "
      "every word.\n")
    by_key = {(c["row"], c["client"], c["tls"]): c for c in atlas["cells"]}
    w("| row | " + " | ".join(c["name"] for c in atlas["clients"]) + " |")
    w("| --- |" + " --- |" * len(atlas["clients"]))
    for r in atlas["rows"]:
        outcomes = []
        for c in atlas["clients"]:
            both = [glance(by_key.get((r["id"], c["id"], tls)), r["side"]) for tls in ("1.3", "1.2")]
            outcomes.append(both[0] if both[0] == both[1] else "%s / %s" % tuple(both))
        w("| [%s](#%s) | %s |" % (r["id"], r["id"], " | ".join(outcomes)))
    w("")
    w("## The rows\n")
    w("| row | side | what goes wrong | chapter 03 runs with | the client presents | server certificate |")
    w("| --- | --- | --- | --- | --- | --- |")
    for r in atlas["rows"]:
        setup = " ".join(a.format(certs="FIXTURES") for a in SETUPS[r["server_setup"]]) or "`--ca ca.crt`"
        if SETUPS[r["server_setup"]]:
            setup = "`%s`" % setup
        w("| [%s](#%s) | %s | %s | %s | %s | %s |" % (r["id"], r["id"], r["side"], md(r["what"]), setup,
                                                    r["client_certificate"] or "nothing",
                                                    r["server_certificate"]))
    w("")
    w("## The clients\n")
    w("Versions of the run that made this page (not compared by the test: another machine may have "
      "others).\n")
    for c in atlas["clients"]:
        w("- **%s**: %s" % (c["name"], md(c["version"])))
    w("")
    by_row = {}
    for cell in atlas["cells"]:
        by_row.setdefault(cell["row"], []).append(cell)
    for r in atlas["rows"]:
        w('## %s\n' % r["id"])
        w("%s. Side: %s.\n" % (r["what"][0].upper() + r["what"][1:], r["side"]))
        w("| client | TLS | message | exit | alert | HTTP | chapter 03 logged |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for cell in by_row.get(r["id"], []):
            name = clients[cell["client"]]["name"]
            if "not_run" in cell:
                w("| %s | %s | not run: %s | | | | |" % (name, cell["tls"], md(cell["not_run"])))
                continue
            message = code(cell["message"])
            if cell.get("varies"):
                message += " (*varies*: %s)" % md(cell["varies"])
            w("| %s | %s | %s | %s | %s | %s | %s |" % (name, cell["tls"], message, md(cell["exit"]) or "—",
                                                   md(cell["alert"]) or "—", cell["http"] or "—",
                                                   code(cell["server_log"])))
        w("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Comparing two atlases
# ---------------------------------------------------------------------------------------------
COMPARED = ("message", "exit", "alert", "http", "server_log", "not_run")


def compare(committed_file, fresh_file):
    with open(committed_file) as f:
        committed = json.load(f)
    with open(fresh_file) as f:
        fresh = json.load(f)
    key = lambda cell: (cell["row"], cell["client"], cell["tls"])
    old = {key(c): c for c in committed["cells"]}
    new = {key(c): c for c in fresh["cells"]}
    problems = []
    for k in sorted(set(old) | set(new)):
        if k not in new:
            problems.append("%s/%s/TLS %s: in %s only" % (k[0], k[1], k[2], committed_file))
            continue
        if k not in old:
            problems.append("%s/%s/TLS %s: in %s only" % (k[0], k[1], k[2], fresh_file))
            continue
        a_cell, b_cell = comparable(old[k]), comparable(new[k])
        for field in COMPARED:
            a, b = a_cell[field], b_cell[field]
            if field == "server_log" and same_server_log(old[k], a, b):
                continue
            if a != b:
                problems.append("%s/%s/TLS %s, %s: committed %r, fresh run %r" % (k[0], k[1], k[2], field, a, b))
    for line in problems:
        print(line)
    if problems:
        print("%d cells differ: run `make atlas` and commit docs/failure-atlas.*, or fix what changed"
              % len(problems))
        return 1
    print("the atlases agree (%d cells)" % len(old))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"))
    parser.add_argument("--certs", help="copy the fixtures of scripts/gen-certs.sh from DIR instead of making them")
    parser.add_argument("--clients", help="only these clients (comma-separated ids)")
    parser.add_argument("--rows", help="only these rows (comma-separated ids; for trying things out)")
    # Three clients side by side: most of the time goes in waiting for the network and for Chromium
    # and Firefox to start, and the two browsers start first.
    parser.add_argument("--jobs", type=int, default=3, help="clients run side by side (default 3)")
    parser.add_argument("--compare", nargs=2, metavar=("COMMITTED", "FRESH"))
    parser.add_argument("--page", metavar="JSON", help="print the page made from JSON")
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if args.page:
        with open(args.page) as f:
            sys.stdout.write(page(json.load(f)))
        return
    generate(args)


if __name__ == "__main__":
    main()
