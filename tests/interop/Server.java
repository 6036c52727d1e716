// Server.java: an HTTPS server in Java (com.sun.net.httpserver, part of the JDK) that requires a
// client certificate issued by our CA, refusing in the handshake otherwise. JDK only:
//
//   java tests/interop/Server.java PORT CERT KEY CA
//
// CERT and KEY are PEM files as scripts/gen-certs.sh makes them (the key unencrypted PKCS#8,
// "BEGIN PRIVATE KEY"). Answers every request with "Hello World!" and logs the client's subject.

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

public class Server {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: java Server.java PORT CERT KEY CA");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);

        // Who we are: our key and certificate chain, in an in-memory KeyStore.
        char[] none = new char[0];
        KeyStore identity = KeyStore.getInstance("PKCS12");
        identity.load(null, null);
        identity.setKeyEntry("server", readKey(args[2]), none, readCertificates(args[1]));
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(identity, none);

        // Whom we trust for client certificates: our CA alone, not the JDK's cacerts.
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        trusted.setCertificateEntry("our-ca", readCertificates(args[3])[0]);
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(trusted);

        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(keys.getKeyManagers(), trust.getTrustManagers(), null);

        HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(tls) {
            @Override
            public void configure(HttpsParameters params) {
                SSLParameters tlsParams = tls.getDefaultSSLParameters();
                // Require a client certificate that chains to our CA: without one, or with one
                // from another CA, the handshake ends with an alert.
                tlsParams.setNeedClientAuth(true);
                tlsParams.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
                params.setSSLParameters(tlsParams);
            }
        });
        server.createContext("/", exchange -> {
            X509Certificate client = (X509Certificate)
                    ((HttpsExchange) exchange).getSSLSession().getPeerCertificates()[0];
            System.out.println(exchange.getRemoteAddress() + " " + client.getSubjectX500Principal()
                    + " " + exchange.getRequestMethod() + " " + exchange.getRequestURI());
            byte[] body = "Hello World!".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
        System.out.println("Listening on https://localhost:" + port);
    }

    static Certificate[] readCertificates(String file) throws Exception {
        try (InputStream in = new FileInputStream(file)) {
            return CertificateFactory.getInstance("X.509").generateCertificates(in).toArray(new Certificate[0]);
        }
    }

    // A PEM "PRIVATE KEY" is base64 of PKCS#8, which names its algorithm (RSA or EC) inside.
    static PrivateKey readKey(String file) throws Exception {
        String pem = Files.readString(Path.of(file));
        byte[] der = Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        try {
            return KeyFactory.getInstance("RSA").generatePrivate(spec);
        } catch (java.security.spec.InvalidKeySpecException notRsa) {
            return KeyFactory.getInstance("EC").generatePrivate(spec);
        }
    }
}
