// Client.java: an HTTPS client in Java (java.net.http.HttpClient, JDK 11 or later) that presents
// the client certificate from a PKCS#12 file and trusts only our CA, like the chapter 04 client
// and like the second article's .NET HttpClient. JDK only; no build step:
//
//   java tests/interop/Client.java URL CA [P12 PASSWORD]
//
// Prints the HTTP status code on the first line, then the body. When the request fails it prints
// the exception (its class and message) on stderr and exits 1.

import java.io.FileInputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class Client {
    public static void main(String[] args) throws Exception {
        if (args.length != 2 && args.length != 4) {
            System.err.println("usage: java Client.java URL CA [P12 PASSWORD]");
            System.exit(2);
        }
        try {
            SSLContext tls = SSLContext.getInstance("TLS");
            tls.init(args.length == 4 ? identity(args[2], args[3]) : null, trustOnly(args[1]), null);
            HttpClient client = HttpClient.newBuilder()
                    .sslContext(tls)
                    .connectTimeout(Duration.ofSeconds(10))
                    .build();
            HttpRequest request = HttpRequest.newBuilder(URI.create(args[0]))
                    .timeout(Duration.ofSeconds(10))
                    .build();
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            System.out.print(response.statusCode() + "\n" + response.body());
        } catch (Exception e) {
            System.err.println(e);
            System.exit(1);
        }
    }

    // Our identity: the key and certificate chain from a PKCS#12 file. Java reads both OpenSSL 3's
    // default (AES-256, SHA-256 MAC) and the -legacy format (RC2/3DES, SHA-1 MAC) since JDK 11.0.12.
    static javax.net.ssl.KeyManager[] identity(String p12, String password) throws Exception {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(p12)) {
            keys.load(in, password.toCharArray());
        }
        KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        factory.init(keys, password.toCharArray());
        return factory.getKeyManagers();
    }

    // The trust store: a KeyStore holding our CA's certificate and nothing else, instead of the
    // JDK's cacerts file of public CAs (the .NET article's CustomTrustStore with ca.crt).
    static javax.net.ssl.TrustManager[] trustOnly(String caFile) throws Exception {
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        try (InputStream in = new FileInputStream(caFile)) {
            trusted.setCertificateEntry("our-ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trusted);
        return factory.getTrustManagers();
    }
}
