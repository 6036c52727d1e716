// AtlasClient.java: the Java client of the failure atlas (scripts/failure-atlas.py), with
// java.net.http.HttpClient. One JVM runs every case. JDK only.
//
// Each line on stdin is one case, tab-separated: URL CA CERT KEY VERSION (CERT and KEY: PEM files,
// empty for no client certificate; VERSION 1.2 or 1.3). For each, one line on stdout,
// tab-separated: STATUS (the HTTP status, or empty) CLASS (the exception's class, or empty)
// MESSAGE (the exception as Java prints it, or empty).
//
// The key and certificate are read from PEM into a KeyStore in memory, as a PKCS#12 file would
// fill it: Java, like a .p12, does not check that the key belongs to the certificate, so a
// mismatched pair reaches the server, which is what the key-mismatch row shows.

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

public class AtlasClient {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split("\t", -1);
            String result;
            if (f.length != 5) {
                result = "\t\tbad case line";
            } else {
                result = get(f[0], f[1], f[2], f[3], f[4]);
            }
            System.out.println(result);
            System.out.flush();
        }
        System.exit(0);
    }

    static String get(String url, String ca, String cert, String key, String version) {
        try {
            char[] password = "atlas".toCharArray();
            KeyManagerFactory keys = null;
            if (!cert.isEmpty()) {
                KeyStore store = KeyStore.getInstance("PKCS12");
                store.load(null, null);
                store.setKeyEntry("identity", privateKey(key), password, certificates(cert));
                keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                keys.init(store, password);
            }
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            trusted.setCertificateEntry("our-ca", certificates(ca)[0]);
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(trusted);
            SSLContext tls = SSLContext.getInstance("TLS");
            tls.init(keys == null ? null : keys.getKeyManagers(), trust.getTrustManagers(), null);
            SSLParameters parameters = tls.getDefaultSSLParameters();
            parameters.setProtocols(new String[] { "TLSv" + version });
            // A new client (and SSLContext) per case: no connection or session is reused.
            HttpClient client = HttpClient.newBuilder().sslContext(tls).sslParameters(parameters)
                    .version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
            HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build();
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            return response.statusCode() + "\t\t";
        } catch (Exception e) {
            return "\t" + e.getClass().getName() + "\t" + String.valueOf(e).replaceAll("[\t\r\n]+", " ");
        }
    }

    static Certificate[] certificates(String file) throws Exception {
        try (InputStream in = new FileInputStream(file)) {
            return CertificateFactory.getInstance("X.509").generateCertificates(in).toArray(new Certificate[0]);
        }
    }

    // A PKCS#8 PEM key ("BEGIN PRIVATE KEY", what OpenSSL 3 writes), RSA or EC.
    static PrivateKey privateKey(String file) throws Exception {
        String pem = Files.readString(Path.of(file)).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem));
        try {
            return KeyFactory.getInstance("RSA").generatePrivate(spec);
        } catch (Exception notRsa) {
            return KeyFactory.getInstance("EC").generatePrivate(spec);
        }
    }
}
