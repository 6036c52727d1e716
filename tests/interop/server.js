// server.js: an HTTPS server in Node.js that requires a client certificate issued by our CA, like
// chapter 03 but refusing in the handshake instead of answering 403. Core modules only.
//
//   node tests/interop/server.js PORT CERT KEY CA
//
// Answers every request with "Hello World!" and logs the client's subject.
'use strict';
const fs = require('fs');
const https = require('https');

const [port, certFile, keyFile, caFile] = process.argv.slice(2);
if (!caFile) {
  console.error('usage: node server.js PORT CERT KEY CA');
  process.exit(2);
}

const server = https.createServer({
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  // The CAs whose client certificates we accept: ours only (also named in the CertificateRequest).
  ca: fs.readFileSync(caFile),
  // Ask for a client certificate...
  requestCert: true,
  // ...and end the handshake when there is none or it does not chain to `ca`. With false, the
  // handshake completes and request.socket.authorized says what the check found (chapter 03's way).
  rejectUnauthorized: true,
  minVersion: 'TLSv1.2',
}, (request, response) => {
  const subject = request.socket.getPeerCertificate().subject;
  console.log(`${request.socket.remoteAddress} CN=${subject.CN} ${request.method} ${request.url}`);
  const body = 'Hello World!';
  response.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
});
// A refused handshake never reaches the handler; Node reports it here. (A certificate from another
// CA completes the TLS 1.3 handshake first: Node checks it afterwards and drops the connection
// without an alert, so the client sees a reset.)
server.on('tlsClientError', (error) => {
  console.log(`handshake failed: ${error.code}: ${error.message}`);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`Listening on https://localhost:${port}`));
