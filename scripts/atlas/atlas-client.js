// atlas-client.js: the Node.js client of the failure atlas (scripts/failure-atlas.py). One
// process runs every case. Core modules only.
//
// Each line on stdin is one case, tab-separated: URL CA CERT KEY VERSION (CERT and KEY empty for
// no client certificate; VERSION 1.2 or 1.3). For each, one line on stdout, tab-separated:
// STATUS (the HTTP status, or empty) CODE (Node's error code, or empty) MESSAGE (the error's
// message, or empty). Cases run one after the other: the next starts when the last has printed.
'use strict';
const fs = require('fs');
const https = require('https');
const readline = require('readline');

const oneLine = (s) => String(s).replace(/[\t\r\n]+/g, ' ');

function get(url, caFile, certFile, keyFile, version) {
  return new Promise((resolve) => {
    const tlsVersion = version === '1.2' ? 'TLSv1.2' : 'TLSv1.3';
    const options = {
      ca: fs.readFileSync(caFile),
      minVersion: tlsVersion,
      maxVersion: tlsVersion,
      timeout: 10000,
      agent: false,   // a connection of its own for every case
    };
    if (certFile) {
      options.cert = fs.readFileSync(certFile);
      options.key = fs.readFileSync(keyFile);
    }
    let done = false;
    const finish = (status, code, message) => {
      if (!done) { done = true; resolve([status, code, message]); }
    };
    let request;
    try {
      request = https.request(url, options, (response) => {
        response.resume();
        response.on('end', () => finish(String(response.statusCode), '', ''));
        response.on('error', (e) => finish(String(response.statusCode), e.code || '', e.message));
      });
    } catch (e) {   // a key or certificate Node cannot use fails here, before any connection
      finish('', e.code || e.name, e.message);
      return;
    }
    request.on('timeout', () => request.destroy(new Error('no answer within 10 s')));
    request.on('error', (e) => finish('', e.code || e.name, e.message));
    request.end();
  });
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const f = line.split('\t');
    const [status, code, message] = f.length === 5
      ? await get(...f)
      : ['', '', 'bad case line'];
    process.stdout.write(`${status}\t${code}\t${oneLine(message)}\n`);
  }
}
main();
