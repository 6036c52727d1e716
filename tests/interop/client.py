#!/usr/bin/env python3
"""client.py: an HTTPS client with Python's `requests` that presents our client certificate and
trusts only our CA, like the chapter 04 client.

    python3 tests/interop/client.py URL CA [CERT KEY]

Prints the HTTP status code on the first line, then the body. When the request fails it prints
the exception requests raised on stderr and exits 1.
"""
import sys

import requests

if len(sys.argv) not in (3, 5):
    sys.exit("usage: client.py URL CA [CERT KEY]")
url, ca_file = sys.argv[1], sys.argv[2]

try:
    response = requests.get(
        url,
        # verify=FILE trusts the CAs in FILE *instead of* the certifi bundle of public CAs.
        verify=ca_file,
        # cert=(certificate, key): our identity, sent when the server asks for one.
        cert=tuple(sys.argv[3:5]) or None,
        timeout=10,
    )
except requests.exceptions.RequestException as error:
    # requests wraps the ssl module's error; its text holds OpenSSL's reason.
    sys.exit("%s: %s" % (type(error).__name__, error))
sys.stdout.write("%d\n%s" % (response.status_code, response.text))
