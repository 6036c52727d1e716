# tests/firefox-get.py PROFILE URL: loads URL in a Firefox that runs with `--marionette` on the
# profile folder PROFILE, prints the text of the page, and asks Firefox to quit (tests/test_browser.sh
# starts Firefox and calls this). When Firefox shows an error page instead, it prints
# `Page load failed: CODE` on stderr, CODE being the code that error page shows (such as
# SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT), and exits 1. Exit 2: neither (Firefox did not answer
# in time, or the page did not finish loading within 20 s).
#
# Marionette is Firefox's own remote-control protocol (geckodriver translates WebDriver into it):
# JSON messages over TCP, each sent as `LENGTH:JSON`. A command is [0, ID, NAME, PARAMETERS], its
# answer [1, ID, ERROR, RESULT]. With the preference marionette.port set to 0, Firefox listens on a
# free port of 127.0.0.1 and writes its number to PROFILE/MarionetteActivePort.
#
# Python's standard library only. Every wait is bounded: 30 s for Firefox to start listening, 20 s
# for the page, 30 s for any answer.
import json, os, socket, sys, time

START_SECONDS, PAGE_SECONDS, ANSWER_SECONDS = 30, 20, 30

# The page's text; an error page has none, but the code it shows (SSL_ERROR_..., SEC_ERROR_...)
# comes from functions that Firefox gives its own error pages only: about:certerror when the
# server's certificate is refused, about:neterror for other failures, TLS alerts included.
PAGE_TEXT = "return document.body ? document.body.textContent : ''"
ERROR_CODE = """
const page = document.documentURI;
if (page.startsWith("about:certerror"))
    return document.getFailedCertSecurityInfo().errorCodeString;
if (page.startsWith("about:neterror"))
    return document.getNetErrorInfo().errorCodeString;
return null;
"""


def connect(profile):
    """Waits until Firefox listens for Marionette, and connects."""
    port_file = os.path.join(profile, "MarionetteActivePort")
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with open(port_file) as f:
                port = int(f.read())
            return socket.create_connection(("127.0.0.1", port), timeout=ANSWER_SECONDS)
        except (OSError, ValueError):   # not written yet (or half written), or not listening yet
            if time.monotonic() > deadline:
                print(f"firefox-get.py: Firefox did not start Marionette within {START_SECONDS} s "
                      f"(no port in {port_file})", file=sys.stderr)
                sys.exit(2)
            time.sleep(0.1)


def receive(sock):
    """Reads one `LENGTH:JSON` message."""
    data = b""
    while b":" not in data:
        data += read_some(sock, 1)
    length, data = data.split(b":", 1)
    while len(data) < int(length):
        data += read_some(sock, int(length) - len(data))
    return json.loads(data)


def read_some(sock, count):
    chunk = sock.recv(count)
    if not chunk:
        raise ConnectionError("Firefox closed the Marionette connection")
    return chunk


commands_sent = 0


def command(sock, name, parameters):
    """Sends a command and returns (error, result) of its answer."""
    global commands_sent
    commands_sent += 1
    message = json.dumps([0, commands_sent, name, parameters]).encode()
    sock.sendall(b"%d:%s" % (len(message), message))
    _, _, error, result = receive(sock)
    return error, result


def load(sock, url):
    """Loads url in a new session; returns the exit status and prints the text or the error."""
    receive(sock)   # Firefox says hello: {"applicationType": "gecko", "marionetteProtocol": 3}
    command(sock, "WebDriver:NewSession", {})
    command(sock, "WebDriver:SetTimeouts", {"pageLoad": PAGE_SECONDS * 1000})
    load_error, _ = command(sock, "WebDriver:Navigate", {"url": url})
    if load_error:
        # Marionette reports an error page as "insecure certificate" or "Reached error page".
        _, result = command(sock, "WebDriver:ExecuteScript", {"script": ERROR_CODE, "args": []})
        if result and result.get("value"):
            print(f"Page load failed: {result['value']}", file=sys.stderr)
            return 1
        # No error page: the load itself went wrong, e.g. it took longer than PAGE_SECONDS.
        print(f"firefox-get.py: {load_error.get('error')}: {load_error.get('message')}", file=sys.stderr)
        return 2
    _, result = command(sock, "WebDriver:ExecuteScript", {"script": PAGE_TEXT, "args": []})
    print(result["value"], end="")
    return 0


def main():
    profile, url = sys.argv[1], sys.argv[2]
    sock = connect(profile)
    try:
        status = load(sock, url)
        command(sock, "Marionette:Quit", {})
        return status
    except TimeoutError:
        print(f"firefox-get.py: no answer from Firefox within {ANSWER_SECONDS} s", file=sys.stderr)
    except ConnectionError as problem:
        print(f"firefox-get.py: {problem}", file=sys.stderr)
    finally:
        sock.close()
    return 2


if __name__ == "__main__":
    sys.exit(main())
