// client.go: an HTTPS client in Go that presents our client certificate and trusts only our CA,
// like the chapter 04 client. Standard library only.
//
//	go run tests/interop/client.go URL CA [CERT KEY]
//
// Prints the HTTP status code on the first line, then the body. When the request fails (the server
// refused the handshake, the server's certificate is not trusted...) it prints Go's error on stderr
// and exits 1.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: client URL CA [CERT KEY]")
		os.Exit(2)
	}
	url, caFile := os.Args[1], os.Args[2]

	// The trust store: our CA and nothing else. Leaving RootCAs nil would mean "the system's
	// public CAs", which never signed our server's certificate.
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		fail(err)
	}
	trustStore := x509.NewCertPool()
	if !trustStore.AppendCertsFromPEM(caPEM) {
		fail(fmt.Errorf("%s holds no PEM certificate", caFile))
	}
	config := &tls.Config{RootCAs: trustStore, MinVersion: tls.VersionTLS12}

	// Our identity: the certificate and its private key. Go sends it when the server's
	// CertificateRequest names a CA that issued it (or names none).
	if len(os.Args) == 5 {
		identity, err := tls.LoadX509KeyPair(os.Args[3], os.Args[4])
		if err != nil {
			fail(err)
		}
		config.Certificates = []tls.Certificate{identity}
	}

	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: config},
		Timeout:   10 * time.Second,
	}
	response, err := client.Get(url)
	if err != nil {
		fail(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d\n%s", response.StatusCode, body)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
