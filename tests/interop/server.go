// server.go: an HTTPS server in Go that requires a client certificate issued by our CA, like
// chapter 03 but refusing in the handshake instead of answering 403. Standard library only.
//
//	go run tests/interop/server.go PORT CERT KEY CA
//
// Answers every request with "Hello World!" and logs the client's subject.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: server PORT CERT KEY CA")
		os.Exit(2)
	}
	port, certFile, keyFile, caFile := os.Args[1], os.Args[2], os.Args[3], os.Args[4]

	// The CAs whose client certificates we accept: ours only. Go also sends their names in the
	// CertificateRequest, so a client knows which of its certificates to offer.
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		log.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(caPEM) {
		log.Fatalf("%s holds no PEM certificate", caFile)
	}

	server := &http.Server{
		Addr: "127.0.0.1:" + port,
		TLSConfig: &tls.Config{
			// Ask for a certificate, refuse the handshake without one or with one that does
			// not chain to clientCAs: chapters 02 and 03 in one setting.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  clientCAs,
			MinVersion: tls.VersionTLS12,
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Only verified clients get here: r.TLS.VerifiedChains[0][0] is their certificate.
			log.Printf("%s %s %s %s", r.RemoteAddr, r.TLS.VerifiedChains[0][0].Subject, r.Method, r.URL.Path)
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "Hello World!")
		}),
		// Handshake failures (no certificate, unknown CA) are logged here by net/http.
		ErrorLog: log.Default(),
	}
	log.Printf("Listening on https://localhost:%s", port)
	log.Fatal(server.ListenAndServeTLS(certFile, keyFile))
}
