#!/usr/bin/env python3
"""firefox_batch.py PROFILE: loads pages in one headless Firefox, changing the client identity
between them, for the failure atlas (scripts/failure-atlas.py). Starting Firefox takes seconds;
this starts it once per TLS version and keeps it.

Firefox must already run with `--marionette -remote-allow-system-access` (the second lets
Marionette run scripts in Firefox's privileged context) on PROFILE (an NSS database with our CA trusted, and
tests/test_browser.sh's user.js: "Select Automatically", Marionette on a free port). Each line on
stdin is one case, tab-separated: URL P12 PASSWORD VERSION (P12 empty: no identity; VERSION 1.2
or 1.3, the highest TLS version Firefox may offer). Before loading URL,
every certificate with a private key is deleted from Firefox's database and P12 is imported, in
Firefox's privileged ("chrome") context, as the certificate manager's Import button does. Each
URL is a new origin (a chapter 03 of its own), so no connection or TLS session is reused. For each
case, one line on stdout: `page: TEXT`, `Page load failed: CODE` (the code of Firefox's error page,
as tests/firefox-get.py reads it), or `error: WHY`. An empty line on stdin asks Firefox to quit.
"""
import importlib.machinery
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
firefox_get = importlib.machinery.SourceFileLoader(
    "firefox_get", os.path.join(HERE, "..", "..", "tests", "firefox-get.py")).load_module()

SWITCH_IDENTITY = """
const [path, password, version, keep] = arguments;
const Cc = Components.classes, Ci = Components.interfaces;
const certdb = Cc["@mozilla.org/security/x509certdb;1"].getService(Ci.nsIX509CertDB);
// Forget every certificate an earlier .p12 brought (identities, and CA certificates such as an
// intermediate, which would complete a chain the next identity sends without it): all but our
// trusted CA and Firefox's built-in roots.
for (const cert of certdb.getCerts()) {
  try {
    if (!cert.isBuiltInRoot && cert.commonName != keep) certdb.deleteCertificate(cert);
  } catch (e) {}
}
// The highest TLS version Firefox offers: 3 is TLS 1.2, 4 TLS 1.3.
Cc["@mozilla.org/preferences-service;1"].getService(Ci.nsIPrefBranch)
  .setIntPref("security.tls.version.max", version == "1.2" ? 3 : 4);
// Forget TLS sessions and remembered client-certificate choices.
Cc["@mozilla.org/security/sdr;1"].getService(Ci.nsISecretDecoderRing).logoutAndTeardown();
if (path) {
  const file = Cc["@mozilla.org/file/local;1"].createInstance(Ci.nsIFile);
  file.initWithPath(path);
  const status = certdb.importPKCS12File(file, password);
  if (status) return "import failed: " + status;
}
let users = 0;
for (const cert of certdb.getCerts()) if (cert.certType == Ci.nsIX509Cert.USER_CERT) users++;
return "identities: " + users;
"""


def main():
    sock = firefox_get.connect(sys.argv[1])
    firefox_get.receive(sock)   # Firefox says hello
    firefox_get.command(sock, "WebDriver:NewSession", {})
    firefox_get.command(sock, "WebDriver:SetTimeouts", {"pageLoad": firefox_get.PAGE_SECONDS * 1000})
    for line in sys.stdin:
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 4:
            break
        url, p12, password, version = fields
        firefox_get.command(sock, "Marionette:SetContext", {"value": "chrome"})
        error, result = firefox_get.command(sock, "WebDriver:ExecuteScript",
                                            {"script": SWITCH_IDENTITY, "args": [p12, password, version, "mtls-by-example CA"]})
        firefox_get.command(sock, "Marionette:SetContext", {"value": "content"})
        if error:
            print("error: switching the identity failed: %s" % error.get("message"), flush=True)
            continue
        print("# %s" % result.get("value"), file=sys.stderr, flush=True)
        load_error, _ = firefox_get.command(sock, "WebDriver:Navigate", {"url": url})
        if load_error:
            _, result = firefox_get.command(sock, "WebDriver:ExecuteScript",
                                            {"script": firefox_get.ERROR_CODE, "args": []})
            if result and result.get("value"):
                print("Page load failed: %s" % result["value"], flush=True)
            else:
                print("error: %s: %s" % (load_error.get("error"), load_error.get("message")), flush=True)
            continue
        _, result = firefox_get.command(sock, "WebDriver:ExecuteScript",
                                        {"script": firefox_get.PAGE_TEXT, "args": []})
        print("page: %s" % (" ".join(str(result["value"]).split()) or "(empty)"), flush=True)
    firefox_get.command(sock, "Marionette:Quit", {})
    sock.close()


if __name__ == "__main__":
    main()
