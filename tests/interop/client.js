// client.js: an HTTPS client in Node.js that presents our client certificate and trusts only our
// CA, like the chapter 04 client. Core modules only.
//
//   node tests/interop/client.js URL CA [CERT KEY]           the certificate and key as PEM files
//   node tests/interop/client.js URL CA --pfx P12 PASSWORD    the same from a PKCS#12 file
//
// Prints the HTTP status code on the first line, then the body. When the request fails it prints
// Node's error (its code and message) on stderr and exits 1.
'use strict';
const fs = require('fs');
const https = require('https');

const [url, caFile, ...identity] = process.argv.slice(2);
if (!url || !caFile || ![0, 2, 3].includes(identity.length)) {
  console.error('usage: node client.js URL CA [CERT KEY | --pfx P12 PASSWORD]');
  process.exit(2);
}

const options = {
  // `ca` replaces Node's built-in list of public CAs: only our CA is trusted for the server.
  ca: fs.readFileSync(caFile),
  minVersion: 'TLSv1.2',
  timeout: 10000,
  // A fresh connection every time, so each run shows one full handshake.
  agent: false,
};
if (identity[0] === '--pfx') {
  // PKCS#12 holds the key, the certificate and its chain; `passphrase` opens it.
  options.pfx = fs.readFileSync(identity[1]);
  options.passphrase = identity[2];
} else if (identity.length === 2) {
  options.cert = fs.readFileSync(identity[0]);
  options.key = fs.readFileSync(identity[1]);
}

let request;
try {
  request = https.request(url, options, (response) => {
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk) => { body += chunk; });
    response.on('end', () => process.stdout.write(`${response.statusCode}\n${body}`));
  });
} catch (error) {
  // A key, certificate or PKCS#12 file Node cannot use fails here, before any connection.
  console.error(`${error.code || 'error'}: ${error.message}`);
  process.exit(1);
}
request.on('timeout', () => request.destroy(new Error('no answer within 10 s')));
request.on('error', (error) => {
  console.error(`${error.code || 'error'}: ${error.message}`);
  process.exitCode = 1;
});
request.end();
