// atlas_client.go: the Go client of the failure atlas (scripts/failure-atlas.py). One process runs
// every case, so that `make atlas` compiles and starts Go once. Standard library only.
//
// Each line on stdin is one case, tab-separated: URL CA CERT KEY VERSION (CERT and KEY empty for
// no client certificate; VERSION 1.2 or 1.3). For each, one line on stdout, tab-separated:
// STATUS (the HTTP status, or empty) TYPE (the Go type of the innermost error, or empty) MESSAGE
// (the error as Go prints it, or empty).
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Split(in.Text(), "\t")
		if len(f) != 5 {
			fmt.Println("\t\tbad case line")
			continue
		}
		status, kind, message := get(f[0], f[1], f[2], f[3], f[4])
		fmt.Printf("%s\t%s\t%s\n", status, kind, oneLine(message))
	}
}

func get(url, caFile, certFile, keyFile, version string) (string, string, string) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return "", typeOf(err), err.Error()
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	// Both ends of the range at the version of the case: the handshake uses that one or fails.
	v := uint16(tls.VersionTLS13)
	if version == "1.2" {
		v = tls.VersionTLS12
	}
	config := &tls.Config{RootCAs: roots, MinVersion: v, MaxVersion: v}
	if certFile != "" {
		identity, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return "", typeOf(err), err.Error()
		}
		config.Certificates = []tls.Certificate{identity}
	}
	// A transport per case and no keep-alive: every case makes its own connection and handshake.
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: config, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
	response, err := client.Get(url)
	if err != nil {
		return "", typeOf(err), err.Error()
	}
	defer response.Body.Close()
	io.Copy(io.Discard, response.Body)
	return fmt.Sprint(response.StatusCode), "", ""
}

// typeOf: the type of the innermost error Go wrapped (what a program would test with errors.As).
func typeOf(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return fmt.Sprintf("%T", err)
		}
		err = inner
	}
}

func oneLine(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}
