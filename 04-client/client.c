/*
 * Chapter 04: a client that checks the server, and shows its own certificate.
 *
 * Chapters 01 to 03 built the server's side of mutual TLS. This is the other side: an HTTPS client
 * that
 *   - trusts one CA, ours (certs/ca.crt), and nothing else: not the system's list of public CAs;
 *   - checks the server's certificate: its chain up to that CA, its dates, its purpose, and that
 *     it was issued for the host name or IP address in the URL;
 *   - presents its own certificate when the server asks for one (--cert and --key): the "mutual";
 *   - explains every failure in one sentence, and says what to do where it can.
 * It is the articles' HttpClient, with a client certificate added to its handler and a custom
 * validation that accepts only certificates issued by ca.crt, written in C with OpenSSL.
 * Left out on purpose: keep-alive, chunked bodies and HTTP/2 are never here (one request, then
 * close_notify); resuming a TLS session across runs is exercise 4 (exercises/04-resume-session/).
 *
 * TLS in 19 calls, in the order they run (and the function that makes each one):
 *   At start-up, one context for every connection: whom we trust, and who we are.
 *    1. SSL_CTX_new(TLS_client_method())                 create_client_context()
 *    2. SSL_CTX_set_min_proto_version(TLS1_2_VERSION)    refuse_weak_protocols()
 *    3. SSL_CTX_set_cipher_list(ECDHE with AEAD only)    refuse_weak_protocols()
 *    4. SSL_CTX_set_options(SSL_OP_NO_RENEGOTIATION)     refuse_weak_protocols()
 *    5. SSL_CTX_load_verify_file(--ca)                   trust_only_our_ca()
 *    6. SSL_CTX_set_verify(SSL_VERIFY_PEER, ...)         trust_only_our_ca()
 *    7. SSL_CTX_set_purpose(X509_PURPOSE_SSL_SERVER)     trust_only_our_ca()
 *    8. SSL_CTX_use_certificate_chain_file(--cert)       present_client_certificate()
 *    9. SSL_CTX_use_PrivateKey_file(--key)               present_client_certificate()
 *   10. SSL_CTX_check_private_key()                      present_client_certificate()
 *   11. SSL_CTX_set_cert_cb(note_certificate_request)    create_client_context()
 *   12. SSL_CTX_set_keylog_callback(), if SSLKEYLOGFILE  create_client_context()
 *   Then the request, after connect_to_server() has made the TCP connection:
 *   13. SSL_new(), SSL_set_fd(), SSL_set_app_data()      tls_handshake()
 *   14. SSL_set_hostflags()                              verify_server_name()
 *   15. SSL_set_tlsext_host_name() and SSL_set1_host()   verify_server_name()
 *       (for an IP address: X509_VERIFY_PARAM_set1_ip_asc() on SSL_get0_param())
 *   16. SSL_connect(): the handshake; OpenSSL calls     tls_handshake()
 *       log_verification_step() for each certificate of the server's chain, and
 *       note_certificate_request() if the server asks for ours
 *   17. SSL_write_ex(): the request                      send_request()
 *   18. SSL_read_ex(): the response, up to close_notify  tls_read(), for Part 2's read_response()
 *       (after each I/O call that did not finish: SSL_get_error(), in wait_for_network())
 *   19. SSL_shutdown(): our close_notify                 fetch()
 *   and at the end SSL_free() and SSL_CTX_free(), in main().
 * Left out of the list, as they change nothing: the error queue (ERR_*), and the calls that read
 * the connection and its certificates for the messages and --verbose, and free what they return:
 * SSL_get_version(), SSL_get_cipher_name(), SSL_get_verify_result(), SSL_get_peer_cert_chain(),
 * SSL_alert_desc_string_long(), X509_check_host() to explain a name mismatch, X509_*, ASN1_*,
 * GENERAL_NAMES_*, sk_* and BIO_* to print names, SSL_get_app_data() and X509_STORE_CTX_get_*()
 * in the callbacks.
 *
 * Part 1 below is that lesson, top-down; Part 2, after a banner, is the plumbing (command line,
 * URL, files, sockets, deadlines, HTTP, main) and holds no TLS idea.
 *
 * Build:  cc 04-client/client.c -o 04-client/client -lssl -lcrypto -lpthread   (or: make)
 * Run:    04-client/client --cert certs/client.crt --key certs/client.key https://localhost:5001/
 *         (from the repository root, after `make certs`, with a chapter 02 or 03 server running:
 *         the default --ca, certs/ca.crt, is relative to the directory you run it from)
 * curl's nearest equivalent trusts more: with --cacert certs/ca.crt, Debian's curl still trusts
 * its default CA folder, /etc/ssl/certs, too (curl -v prints both: CAfile and CApath). To trust
 * only our CA, give it an empty folder in place of that one (EMPTY is any empty folder):
 *     curl --cacert certs/ca.crt --capath EMPTY --cert certs/client.crt --key certs/client.key URL
 * Exit status: 0 the server answered 2xx; 1 it answered something else (such as 403);
 *              2 bad command line or unusable file; 3 the server could not be reached, or the
 *              connection broke or timed out; 4 TLS failed (a certificate was refused, either way).
 */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ---------------------------------------------------------------------------------------------
 * Constants and types
 * ------------------------------------------------------------------------------------------- */

#define DEFAULT_CA              "certs/ca.crt"
#define DEFAULT_TIMEOUT_SECONDS 10
#define MAX_TIMEOUT_SECONDS     3600
#define USER_AGENT              "mtls-by-example-client/1.0"
/* Bounds on what a server can make us read: a hostile server must not keep us busy forever. */
#define MAX_PATH                8192
#define MAX_RESPONSE_HEAD       (16 * 1024)
#define MAX_RESPONSE_BODY       (16LL * 1024 * 1024)
#define MAX_INTERIM_RESPONSES   16

/* Exit statuses: a script can tell "the server said no" from "we never got an answer". */
#define EXIT_OK          0  /* the server answered 2xx */
#define EXIT_NOT_2XX     1  /* it answered something else, or an answer we cannot accept */
#define EXIT_USAGE       2  /* bad command line, or a file we cannot use */
#define EXIT_UNREACHABLE 3  /* no connection, a broken connection, or a timeout */
#define EXIT_TLS_FAILED  4  /* the TLS handshake failed: a certificate was refused, either way */

/* Not an OpenSSL error code: what wait_for_network() reports when the deadline passes. */
#define TIMED_OUT (-1)

/* A URL, taken apart by parse_url(). */
struct url {
    char host[256];        /* "localhost", "127.0.0.1" or "::1" (without the brackets) */
    int host_is_ip;        /* an IP address: no SNI, and the certificate needs an IP entry */
    int port;
    char port_text[8];
    char path[MAX_PATH];   /* "/weatherforecast?days=5"; "/" when the URL has none */
    const char *error;     /* why parse_url() refused the URL */
};

struct options {
    const char *cert_file; /* NULL: no client certificate */
    const char *key_file;
    const char *ca_file;
    const char *method;    /* "GET" or "HEAD" */
    int timeout_seconds;
    int verbose;
    int key_log_fd;        /* where TLS secrets go (SSLKEYLOGFILE); -1: nowhere */
    const char *url_text;
    struct url url;
};

/* One connection to the server, and what the TLS callbacks noticed along the way. */
struct connection {
    const struct options *opt;
    int fd;
    SSL *ssl;
    long long deadline_ms;        /* the current step (connect, handshake, response) ends by then */
    int saved_errno;              /* errno when a socket call failed under OpenSSL */
    int handshake_done;
    int certificate_requested;    /* the server asked for our certificate */
    char refused_subject[256];    /* the first certificate that failed verification */
};

/* The status line and the headers that say where the body ends. */
struct response_head {
    int status;                   /* 200 */
    char status_line[128];        /* "HTTP/1.1 200 OK", printable, for the summary line */
    long long content_length;     /* -1 when the server did not send one */
    int transfer_encoding;        /* the body is chunked (or otherwise encoded) */
    const char *error;            /* why parse_response_head() refused the head */
};

/* Part 1 is told top-down, so most functions are used before they are defined. */
static int refuse_weak_protocols(SSL_CTX *ctx);
static int trust_only_our_ca(SSL_CTX *ctx, const char *ca_file);
static int present_client_certificate(SSL_CTX *ctx, const char *cert_file, const char *key_file);
static int log_verification_step(int preverify_ok, X509_STORE_CTX *store);
static int note_certificate_request(SSL *ssl, void *unused);
static int tls_handshake(struct connection *c, SSL_CTX *ctx);
static int verify_server_name(SSL *ssl, const struct url *url);
static int send_request(struct connection *c);
static int tls_read(struct connection *c, char *data, size_t size, size_t *got);
static int closed_without_close_notify(int error);
static int end_of_data_at_close(struct connection *c, int error, long long received);
static int wait_for_network(struct connection *c, int ret, int *error);
static int report_tls_failure(struct connection *c, int error, const char *step);
static int report_closed_connection(struct connection *c, int error, const char *step);
static void report_alert(struct connection *c, int alert);
static void report_verification_failure(struct connection *c, long result);
static void report_name_mismatch(struct connection *c, X509 *server);
/* Part 2, the plumbing. */
static int file_is_readable(const char *path, const char *what, const char *default_path);
static int open_key_log(struct options *opt);
static void append_to_key_log(const SSL *ssl, const char *line);
static long long now_ms(void);
static int wait_for_socket(int fd, short events, long long deadline_ms);
static int connect_to_server(const struct options *opt, long long deadline_ms, int *fd);
static int format_request(const struct options *opt, char *request, size_t size);
static long parse_response_head(const char *data, size_t length, struct response_head *head);
static int read_response(struct connection *c, struct response_head *head);
static int exit_status_for(const struct response_head *head);
static void subject_text(X509 *cert, char *out, size_t size);
static void certificate_names(X509 *cert, char *out, size_t size);
static void show_server_chain(SSL *ssl);

/* =============================================================================================
 *
 *   PART 1: THE TLS LESSON
 *
 *   The context set-up (whom we trust, who we are), the life of one request, waiting for the
 *   network, and what each handshake failure means.
 *
 * ============================================================================================= */

/* ---------------------------------------------------------------------------------------------
 * TLS context set-up: whom we trust, and who we are
 * ------------------------------------------------------------------------------------------- */

/*
 * One context serves every connection we make; its settings are the client's TLS policy. Returns
 * the context, or NULL after saying why (almost always a file at fault).
 */
static SSL_CTX *create_client_context(const struct options *opt)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        fprintf(stderr, "client: cannot create the TLS context\n");
        return NULL;
    }
    if (!refuse_weak_protocols(ctx) || !trust_only_our_ca(ctx, opt->ca_file))
        goto fail;
    if (opt->cert_file != NULL && !present_client_certificate(ctx, opt->cert_file, opt->key_file))
        goto fail;
    /* Tells us when the server asks for a certificate, whether or not we have one to give. */
    SSL_CTX_set_cert_cb(ctx, note_certificate_request, NULL);
    /* A debugging aid: with SSLKEYLOGFILE set, Wireshark can decrypt our traffic. main() opened
     * the file (open_key_log(), Part 2); OpenSSL hands each new secret to append_to_key_log(). */
    if (opt->key_log_fd >= 0)
        SSL_CTX_set_keylog_callback(ctx, append_to_key_log);
    return ctx;

fail:
    if (opt->verbose)
        ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    return NULL;
}

/*
 * What we will speak at all, whoever the server is.
 *
 * TLS 1.0 and 1.1 have known weaknesses and are deprecated (RFC 8996): TLS 1.2 is the minimum.
 *
 * TLS 1.2 lets the two sides choose from dozens of cipher suites, old ones included; we offer
 * only those with ECDHE and an AEAD cipher. ECDHE makes a fresh key exchange for each connection,
 * so a server key stolen later cannot decrypt a recorded conversation (forward secrecy), which
 * static RSA key exchange (AES256-GCM-SHA384, say) cannot promise. AES-GCM and ChaCha20-Poly1305
 * encrypt and authenticate together (AEAD); the CBC suites with HMAC-SHA1 (ECDHE-RSA-AES128-SHA)
 * are the ones padding-oracle attacks such as Lucky Thirteen went after. A server that has
 * nothing better finds no cipher in common and ends the handshake: no connection rather than a
 * weak one. TLS 1.3 has AEAD suites only, and an (EC)DHE exchange in every full handshake;
 * SSL_CTX_set_cipher_list() leaves its suites as they are.
 *
 * A TLS 1.2 server may start a second handshake inside the connection (renegotiation), for
 * example to ask for a client certificate late. A client that sends one request has nothing to
 * gain from it, and every extra handshake is more code an attacker can reach: we answer the
 * server's HelloRequest with a no_renegotiation alert. (TLS 1.3 has no renegotiation.)
 */
static int refuse_weak_protocols(SSL_CTX *ctx)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        fprintf(stderr, "client: cannot set TLS 1.2 as the minimum version\n");
        return 0;
    }
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        fprintf(stderr, "client: cannot limit TLS 1.2 to ECDHE with AES-GCM or ChaCha20\n");
        return 0;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    return 1;
}

/*
 * A server proves who it is with a certificate signed by a CA the client trusts. Browsers and
 * curl trust the system's long list of public CAs; this client trusts exactly one: the CA in
 * --ca. A certificate from any other CA, even a genuine public one, is refused. By default --ca is
 * certs/ca.crt, relative to the directory the client runs in: where it runs decides whom it
 * trusts, so a script should give --ca a full path.
 *
 * A new SSL_CTX's trust store starts empty: it trusts nobody until we load something into it.
 * SSL_CTX_load_verify_file() puts the certificates of that one file there, and nothing else: we
 * never call SSL_CTX_set_default_verify_paths(), so the system's CAs, and the SSL_CERT_FILE and
 * SSL_CERT_DIR variables that point at them, play no part.
 *
 * SSL_VERIFY_PEER makes a failed check end the handshake. Without it, OpenSSL would check, write
 * the result down, and carry on talking to whoever answered. log_verification_step() only
 * watches the checks; it does not change their outcome.
 *
 * The purpose check requires a certificate meant for a TLS server (extended key usage
 * serverAuth, when the certificate lists usages): a client certificate from our CA, such as
 * certs/client.crt, must not be usable to impersonate a server. SSL_CTX_set_purpose() is the
 * default made explicit: a client's libssl already checks the ssl_server purpose without it, and
 * the call says so where a reader looks for it.
 */
static int trust_only_our_ca(SSL_CTX *ctx, const char *ca_file)
{
    if (!file_is_readable(ca_file, "CA file", DEFAULT_CA))
        return 0;
    if (SSL_CTX_load_verify_file(ctx, ca_file) != 1) {
        fprintf(stderr, "client: the CA file '%s' does not hold a PEM certificate\n", ca_file);
        return 0;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, log_verification_step);
    if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1) {
        fprintf(stderr, "client: cannot require the serverAuth purpose\n");
        return 0;
    }
    return 1;
}

/*
 * Mutual TLS: a server that wants to know who we are sends a CertificateRequest during the
 * handshake. We answer with this certificate, and with any intermediate CA certificates that
 * follow it in the file, so the server can link it to its CA. Then we prove we own it by signing
 * the handshake with the private key; the key itself never leaves this process.
 */
static int present_client_certificate(SSL_CTX *ctx, const char *cert_file, const char *key_file)
{
    int mismatch = 0;

    if (!file_is_readable(cert_file, "certificate file", NULL)
        || !file_is_readable(key_file, "private key file", NULL))
        return 0;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        fprintf(stderr, "client: '%s' does not hold a usable PEM certificate\n", cert_file);
        return 0;
    }
    /* With a key from another pair, every handshake would fail; better to say so now. OpenSSL
     * notices a key of the same type (RSA, EC) as it loads it, and any other kind just below. */
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long error = ERR_peek_last_error();

        mismatch = ERR_GET_LIB(error) == ERR_LIB_X509
                   && ERR_GET_REASON(error) == X509_R_KEY_VALUES_MISMATCH;
        if (!mismatch) {
            fprintf(stderr, "client: '%s' does not hold a usable PEM private key\n", key_file);
            return 0;
        }
    }
    if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "client: the private key '%s' does not match the certificate '%s'\n",
                key_file, cert_file);
        return 0;
    }
    return 1;
}

/*
 * OpenSSL calls this for each certificate of the chain it built, from the CA at the top down to
 * the server's own certificate (depth 0), and again for each problem it finds. preverify_ok is
 * OpenSSL's verdict, and we return it unchanged: a callback that returned 1 here would accept
 * any certificate at all. We only take notes, for the error message and for --verbose.
 */
static int log_verification_step(int preverify_ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct connection *c = SSL_get_app_data(ssl);
    int error = X509_STORE_CTX_get_error(store);
    char subject[256];

    subject_text(X509_STORE_CTX_get_current_cert(store), subject, sizeof subject);
    if (!preverify_ok && c->refused_subject[0] == '\0')
        snprintf(c->refused_subject, sizeof c->refused_subject, "%s", subject);
    if (c->opt->verbose)
        fprintf(stderr, "* verify depth %d: %s: %s\n", X509_STORE_CTX_get_error_depth(store),
                subject, preverify_ok ? "ok" : X509_verify_cert_error_string(error));
    return preverify_ok;
}

/*
 * OpenSSL calls this when the server's CertificateRequest arrives: the server wants to know who
 * we are. We note it, because a server that asked and got nothing will end the connection, and
 * the error message should then say why.
 */
static int note_certificate_request(SSL *ssl, void *unused)
{
    struct connection *c = SSL_get_app_data(ssl);

    (void)unused;
    c->certificate_requested = 1;
    if (c->opt->verbose) {
        if (SSL_get_certificate(ssl) != NULL) {
            char subject[256];

            subject_text(SSL_get_certificate(ssl), subject, sizeof subject);
            fprintf(stderr, "* the server asks for a client certificate: sending %s\n", subject);
        } else {
            fprintf(stderr, "* the server asks for a client certificate, and we have none\n");
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * One request, top-down: connect, SSL_new, the name to check, the handshake, the request, the
 * response, close_notify
 * ------------------------------------------------------------------------------------------- */

/*
 * The life of one request, the whole story of this client. Each step gets its own --timeout, so a
 * slow step cannot eat the next one's time. Returns an exit status.
 */
static int fetch(struct connection *c, SSL_CTX *ctx)
{
    const struct options *opt = c->opt;
    struct response_head head;
    char subject[256];
    int status;

    /* A TCP connection first (Part 2): TLS runs on top of it. */
    status = connect_to_server(opt, now_ms() + opt->timeout_seconds * 1000LL, &c->fd);
    /* SSL_new, the name we expect, the handshake: after it, the server is verified. */
    if (status == EXIT_OK) {
        c->deadline_ms = now_ms() + opt->timeout_seconds * 1000LL;
        status = tls_handshake(c, ctx);
    }
    /* Only now, over the encrypted connection, does HTTP start. */
    if (status == EXIT_OK) {
        c->deadline_ms = now_ms() + opt->timeout_seconds * 1000LL;
        status = send_request(c);
    }
    /* The answer (Part 2: HTTP), read with tls_read() below; the body goes to stdout. */
    if (status == EXIT_OK)
        status = read_response(c, &head);
    if (status != EXIT_OK)
        return status;

    subject_text(SSL_get0_peer_certificate(c->ssl), subject, sizeof subject);
    fprintf(stderr, "client: %s; %s %s; server %s verified by %s\n", head.status_line,
            SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl), subject, opt->ca_file);
    /* close_notify tells the server we are done. Its result does not matter any more: the whole
     * answer is in, so a server that has already gone cannot change the outcome. */
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    return exit_status_for(&head);
}

/*
 * The TLS handshake: client and server agree on a version and a cipher, the server proves it
 * holds the private key of its certificate, we verify that certificate (the callbacks above
 * watch), the server may ask for ours, and both derive the keys that encrypt everything after.
 * Returns an exit status.
 */
static int tls_handshake(struct connection *c, SSL_CTX *ctx)
{
    int error;

    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set_app_data(c->ssl, c) != 1
        || !verify_server_name(c->ssl, &c->opt->url)) {
        fprintf(stderr, "client: cannot set up the TLS connection\n");
        if (c->opt->verbose)
            ERR_print_errors_fp(stderr);
        return EXIT_TLS_FAILED;
    }
    for (;;) {
        int ret;

        ERR_clear_error();
        errno = 0;  /* so that a stale errno is not mistaken for this call's */
        ret = SSL_connect(c->ssl);
        if (ret == 1)
            break;
        if (!wait_for_network(c, ret, &error))
            return report_tls_failure(c, error, "TLS handshake");
    }
    c->handshake_done = 1;
    if (c->opt->verbose) {
        show_server_chain(c->ssl);
        fprintf(stderr, "* TLS handshake done: %s, %s\n", SSL_get_version(c->ssl),
                SSL_get_cipher_name(c->ssl));
    }
    return EXIT_OK;
}

/*
 * A certificate from our CA is not enough: it must have been issued for the server we meant to
 * reach, or any server holding any certificate from our CA could pose as any other.
 *
 * A DNS name must be one of the certificate's subjectAltName DNS entries, an IP address one of
 * its IP entries. The old habit of also accepting a name found in the subject's common name (CN)
 * is switched off, as browsers (since 2017) and Go do: the CN is free text and was never meant
 * to be checked that way. A wildcard counts only as a whole label: "*.example.com" covers
 * "www.example.com", but a partial one such as "w*.example.com" covers nothing: RFC 9525, the
 * current rules for checking a server's name, says not to match those.
 *
 * SNI (server name indication) tells the server which name we want, so that one server can hold
 * a certificate for each of several names. RFC 6066 does not allow IP addresses there.
 */
static int verify_server_name(SSL *ssl, const struct url *url)
{
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
                           | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (url->host_is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url->host) == 1;
    return SSL_set_tlsext_host_name(ssl, url->host) == 1 && SSL_set1_host(ssl, url->host) == 1;
}

/*
 * The whole request (format_request(), in Part 2) goes out in one SSL_write_ex: one TLS record,
 * one packet. Returns an exit status.
 */
static int send_request(struct connection *c)
{
    char request[MAX_PATH + 1024];
    int length = format_request(c->opt, request, sizeof request), error;
    size_t written;

    if (length < 0) {
        fprintf(stderr, "client: the request does not fit in %zu bytes\n", sizeof request);
        return EXIT_USAGE;
    }
    if (c->opt->verbose)
        fprintf(stderr, "* sending: %s %s HTTP/1.1\n", c->opt->method, c->opt->url.path);
    for (;;) {
        int ret;

        ERR_clear_error();
        errno = 0;
        ret = SSL_write_ex(c->ssl, request, (size_t)length, &written);
        if (ret == 1)
            return EXIT_OK;
        if (!wait_for_network(c, ret, &error))
            return report_tls_failure(c, error, "sending the request");
    }
}

/*
 * Reading the response is Part 2's job, since it is HTTP (read_response()), but every byte of it
 * comes through here: SSL_read_ex() decrypts what has arrived, one TLS record or more, and checks
 * that nobody changed it on the way. Returns SSL_ERROR_NONE with *got bytes, SSL_ERROR_ZERO_RETURN
 * when the server ended the connection properly (close_notify), or the failure: TIMED_OUT, or
 * SSL_get_error()'s verdict, the error queue holding the reason.
 */
static int tls_read(struct connection *c, char *data, size_t size, size_t *got)
{
    int error;

    for (;;) {
        ERR_clear_error();
        errno = 0;
        if (SSL_read_ex(c->ssl, data, size, got) == 1)
            return SSL_ERROR_NONE;
        if (!wait_for_network(c, 0, &error))
            return error;
    }
}

/*
 * How the server ended the connection. close_notify is TLS's own "that is all": an encrypted,
 * authenticated message, which nobody on the way can forge. A TCP connection that simply closes
 * (a FIN or a reset, which anyone on the path can send) may be a server that crashed, or an
 * attacker cutting the data short: a truncation. OpenSSL 3 reports it as SSL_ERROR_SSL with the
 * reason "unexpected eof while reading", or as SSL_ERROR_SYSCALL when the socket failed.
 *
 * When the data says where it ends (an HTTP body with a Content-Length), a truncation is just a
 * short read; when its end is the end of the connection, only close_notify says it is complete.
 */
static int closed_without_close_notify(int error)
{
    unsigned long first = ERR_peek_error();

    return error == SSL_ERROR_SYSCALL
           || (error == SSL_ERROR_SSL && ERR_GET_LIB(first) == ERR_LIB_SSL
               && ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
}

/*
 * The end of data that has no length of its own, such as a body that ends when the connection
 * does: how tls_read() ended says whether it all arrived. Returns EXIT_OK after close_notify;
 * after a truncation, EXIT_UNREACHABLE and a sentence saying that the received bytes may not be
 * all; for any other failure, report_tls_failure()'s status.
 */
static int end_of_data_at_close(struct connection *c, int error, long long received)
{
    if (error == SSL_ERROR_ZERO_RETURN)
        return EXIT_OK;
    if (closed_without_close_notify(error)) {
        fprintf(stderr, "client: the server closed the connection without a TLS close_notify, "
                        "so the body (%lld bytes so far) may be incomplete\n", received);
        ERR_clear_error();
        return EXIT_UNREACHABLE;
    }
    return report_tls_failure(c, error, "reading the response");
}

/* ---------------------------------------------------------------------------------------------
 * Waiting for the network
 * ------------------------------------------------------------------------------------------- */

/*
 * Why the socket is non-blocking: a blocking socket would wait inside SSL_connect() or
 * SSL_read_ex() for as long as the server likes, and a server that never answers would hang us.
 * Non-blocking, OpenSSL returns instead of waiting, and we wait ourselves, with poll() and a
 * deadline (--timeout).
 *
 * SSL_get_error() says why the call returned. SSL_ERROR_WANT_READ: OpenSSL needs bytes from the
 * server first; SSL_ERROR_WANT_WRITE: it needs room to send. A read can want to write, and a write
 * to read (the handshake goes both ways), so we wait for what it asks, not for what we called.
 * Then we make the same call again. Anything else is final: SSL_ERROR_ZERO_RETURN (the server
 * sent close_notify), SSL_ERROR_SYSCALL (the socket failed, errno says how, or the server
 * vanished), or SSL_ERROR_SSL (the error queue says why).
 *
 * SSL_get_error() also looks at the thread's error queue, so each I/O call must start with it
 * empty (ERR_clear_error()): an old entry would turn a harmless WANT_READ into a failure. For the
 * same reason errno is set to 0 before the call, and read here at once, before anything else can
 * change it. Returns 1 to make the same OpenSSL call again, 0 when it failed for good: *error is
 * then SSL_get_error()'s verdict, or TIMED_OUT.
 */
static int wait_for_network(struct connection *c, int ret, int *error)
{
    short events;

    c->saved_errno = errno;
    *error = SSL_get_error(c->ssl, ret);
    if (*error == SSL_ERROR_WANT_READ)
        events = POLLIN;
    else if (*error == SSL_ERROR_WANT_WRITE)
        events = POLLOUT;
    else
        return 0;
    switch (wait_for_socket(c->fd, events, c->deadline_ms)) {
    case 1:
        return 1;
    case 0:
        *error = TIMED_OUT;
        return 0;
    default:
        c->saved_errno = errno;
        *error = SSL_ERROR_SYSCALL;
        return 0;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Handshake failures in plain words
 * ------------------------------------------------------------------------------------------- */

/*
 * A TLS call failed for good. Prints one sentence saying why, and returns the exit status.
 * OpenSSL's full error queue, which names its internal functions, is shown with --verbose.
 *
 * The first error in the queue says why. An error code is a library and a reason, and reason
 * numbers are only unique within their library, so we look at the reason only when the library
 * is libssl's (ERR_LIB_SSL): a reason from another library with the same number means something
 * else. In plain words:
 *   a timeout                       the server did not answer within --timeout (exit 3)
 *   certificate verify failed       our check of the server's certificate failed: which one, and
 *                                   why, comes from report_verification_failure()
 *   an alert from the server        the server ended the handshake and said why in one byte: see
 *                                   report_alert()
 *   the connection closed           with a CertificateRequest and no --cert: the server wants one
 *   wrong version number            the server does not speak TLS at all (plain HTTP?)
 *   unsupported protocol            it speaks only TLS versions older than our TLS 1.2 minimum
 */
static int report_tls_failure(struct connection *c, int error, const char *step)
{
    unsigned long first = ERR_peek_error();
    int reason = ERR_GET_LIB(first) == ERR_LIB_SSL ? ERR_GET_REASON(first) : 0;
    int status = EXIT_TLS_FAILED;

    if (error == TIMED_OUT) {
        fprintf(stderr, "client: %s timed out: no answer within %d seconds\n", step,
                c->opt->timeout_seconds);
        status = EXIT_UNREACHABLE;
    } else if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        report_verification_failure(c, SSL_get_verify_result(c->ssl));
    } else if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
        report_alert(c, reason - SSL_AD_REASON_OFFSET);
    } else if (error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SYSCALL
               || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        status = report_closed_connection(c, error, step);
    } else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG
               || reason == SSL_R_RECORD_LENGTH_MISMATCH) {
        fprintf(stderr, "client: %s failed: the server did not answer in TLS (%s); is this an "
                        "HTTPS port?\n", step, ERR_reason_error_string(first));
    } else if (reason == SSL_R_UNSUPPORTED_PROTOCOL) {
        fprintf(stderr, "client: %s failed: the server and this client have no TLS version in "
                        "common (this client needs TLS 1.2 or later)\n", step);
    } else {
        const char *reason_text = first != 0 ? ERR_reason_error_string(first) : NULL;

        fprintf(stderr, "client: %s failed: %s\n", step,
                reason_text != NULL ? reason_text : "unknown TLS error");
    }
    if (c->opt->verbose)
        ERR_print_errors_fp(stderr);
    ERR_clear_error();
    return status;
}

/*
 * The server closed the connection where we expected TLS: with close_notify, with a bare TCP
 * close, or with a reset. In the handshake, after it asked for the certificate we do not have,
 * that is its refusal: some servers refuse without an alert, or their alert is lost to a TCP
 * reset. Prints one sentence; returns EXIT_TLS_FAILED in the handshake, EXIT_UNREACHABLE after it.
 */
static int report_closed_connection(struct connection *c, int error, const char *step)
{
    if (c->certificate_requested && c->opt->cert_file == NULL) {
        fprintf(stderr, "client: TLS handshake failed: the server requires a client certificate "
                        "and closed the connection; pass --cert and --key\n");
        return EXIT_TLS_FAILED;
    }
    if (error == SSL_ERROR_SYSCALL && c->saved_errno != 0)
        fprintf(stderr, "client: %s failed: the connection broke (%s)\n", step,
                strerror(c->saved_errno));
    else
        fprintf(stderr, "client: %s failed: the server closed the connection\n", step);
    return c->handshake_done ? EXIT_UNREACHABLE : EXIT_TLS_FAILED;
}

/*
 * The server ended the handshake with an alert: a one-byte reason (RFC 8446, section 6.2).
 * OpenSSL reports an alert as the error reason SSL_AD_REASON_OFFSET + its number, such as
 * SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED (1116) for alert 116. The alerts about certificates are
 * how a server says "I do not accept you".
 */
static void report_alert(struct connection *c, int alert)
{
    int about_our_certificate = alert == SSL_AD_HANDSHAKE_FAILURE || alert == SSL_AD_BAD_CERTIFICATE
                                || alert == SSL_AD_UNSUPPORTED_CERTIFICATE
                                || alert == SSL_AD_CERTIFICATE_REVOKED
                                || alert == SSL_AD_CERTIFICATE_EXPIRED
                                || alert == SSL_AD_CERTIFICATE_UNKNOWN || alert == SSL_AD_UNKNOWN_CA
                                || alert == SSL_AD_ACCESS_DENIED
                                || alert == SSL_AD_CERTIFICATE_REQUIRED;

    if (about_our_certificate && c->opt->cert_file == NULL && c->certificate_requested)
        fprintf(stderr, "client: TLS handshake failed: the server requires a client certificate; "
                        "pass --cert and --key\n");
    else if (about_our_certificate && c->opt->cert_file != NULL && c->certificate_requested)
        fprintf(stderr, "client: TLS handshake failed: the server refused our client certificate "
                        "'%s' (alert: %s)\n", c->opt->cert_file, SSL_alert_desc_string_long(alert));
    else if (alert == SSL_AD_PROTOCOL_VERSION)
        fprintf(stderr, "client: TLS handshake failed: the server and this client have no TLS "
                        "version in common (this client needs TLS 1.2 or later)\n");
    else
        fprintf(stderr, "client: TLS handshake failed: the server ended it with the alert '%s'\n",
                SSL_alert_desc_string_long(alert));
}

/* The server's certificate failed our checks: say which check, and on which certificate. */
static void report_verification_failure(struct connection *c, long result)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
    X509 *server = sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
    int not_from_our_ca;

    if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        report_name_mismatch(c, server);
        return;
    }
    not_from_our_ca = result == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
                      || result == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
                      || result == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
                      || result == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
                      || result == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
    fprintf(stderr, "client: server certificate verification failed: %s (%s)%s%s\n",
            X509_verify_cert_error_string(result),
            c->refused_subject[0] != '\0' ? c->refused_subject : "no certificate",
            not_from_our_ca ? "; it was not issued by the CA in " : "",
            not_from_our_ca ? c->opt->ca_file : "");
}

/*
 * The certificate is not for the host in the URL. The usual case: it names other hosts, and we
 * list them. Two near misses get their own sentence, because the names look right:
 *   - an IP address written in a DNS entry (DNS:127.0.0.1): an IP address is only ever compared
 *     with the IP entries (IP:127.0.0.1), which hold it in binary;
 *   - a name in the subject's CN only, which verify_server_name() does not accept.
 * To tell them apart, X509_check_host() compares the host with the certificate's names again,
 * with verify_server_name()'s flags but as if it were a DNS name: it then says which DNS entry
 * matched (dns_entry). Without NEVER_CHECK_SUBJECT it falls back to the CN the old way (keeping
 * NO_PARTIAL_WILDCARDS, so that a partial wildcard is not mistaken for a CN match).
 */
static void report_name_mismatch(struct connection *c, X509 *server)
{
    const char *host = c->opt->url.host;
    unsigned int as_dns_name = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
                               | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
    char names[512] = "", *dns_entry = NULL;

    if (server != NULL && c->opt->url.host_is_ip
        && X509_check_host(server, host, 0, as_dns_name, &dns_entry) == 1) {
        fprintf(stderr, "client: server name mismatch: the certificate names %s as a DNS name "
                        "(DNS:%s), but an IP address must be in an IP entry (IP:%s)\n", host,
                dns_entry, host);
        OPENSSL_free(dns_entry);
        return;
    }
    if (server != NULL
        && X509_check_host(server, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) {
        fprintf(stderr, "client: server name mismatch: the name %s appears only in the "
                        "certificate's subject CN, which is not accepted; the server needs a "
                        "subjectAltName\n", host);
        return;
    }
    if (server != NULL)
        certificate_names(server, names, sizeof names);
    fprintf(stderr, "client: server name mismatch: %s is not in the certificate%s%s%s\n", host,
            names[0] != '\0' ? " (it names " : "", names, names[0] != '\0' ? ")" : "");
}

/* =============================================================================================
 *
 *   PART 2: THE PLUMBING
 *
 *   No TLS idea below this line: the command line, the URL, files, the TCP connection and its
 *   deadlines, the HTTP text, certificates printed as text, and main(). Read it when you need to;
 *   the lesson is all above.
 *
 * ============================================================================================= */

/* ---------------------------------------------------------------------------------------------
 * Command line and URL
 * ------------------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: client [--cert FILE --key FILE] [--ca FILE] [--method GET|HEAD]\n"
            "              [--timeout SECONDS] [--verbose] https://HOST[:PORT]/PATH\n"
            "\n"
            "  --cert FILE         client certificate (PEM; intermediates after it are sent too)\n"
            "  --key FILE          private key of the client certificate (PEM)\n"
            "  --ca FILE           the only CA trusted to issue the server's certificate\n"
            "                      (default %s, relative to the current directory:\n"
            "                      where you run the client decides whom it trusts)\n"
            "  --method M          GET or HEAD (default GET)\n"
            "  --timeout SECONDS   limit for connecting, for the handshake, and for the response,\n"
            "                      each (default %d)\n"
            "  --verbose           show the server's chain and each verification step\n"
            "  --help              show this help\n"
            "\n"
            "HOST is a DNS name, an IPv4 address, or an IPv6 address in brackets: https://[::1]/\n"
            "The body goes to stdout; a summary line, or why it failed, to stderr.\n"
            "Exit status: 0 answer 2xx, 1 other answer, 2 usage or file error,\n"
            "             3 connection failed or timed out, 4 TLS failed.\n",
            DEFAULT_CA, DEFAULT_TIMEOUT_SECONDS);
}

/* Returns 1 and stores the number when text is a whole decimal number in [min, max]. */
static int parse_number(const char *text, int min, int max, int *number)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        return 0;
    *number = (int)value;
    return 1;
}

static int url_error(struct url *url, const char *why)
{
    url->error = why;
    return -1;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/*
 * Takes https://host[:port]/path apart. Returns 0, or -1 with url->error saying why the URL
 * cannot be used. It only reads text, so a fuzzer can call it with anything.
 */
static int parse_url(const char *text, struct url *url)
{
    const char *host, *rest;
    size_t host_length, path_length, i;
    unsigned char address[sizeof(struct in6_addr)];

    memset(url, 0, sizeof *url);
    url->port = 443;
    if (strncasecmp(text, "https://", 8) != 0)
        return url_error(url, "it must start with https:// (this client speaks only HTTPS)");
    host = text + 8;
    if (*host == '[') {
        /* An IPv6 address is written in brackets, because its colons would look like a port. */
        const char *close = strchr(host, ']');

        if (close == NULL)
            return url_error(url, "the IPv6 address has no closing ]");
        host_length = (size_t)(close - host - 1);
        if (host_length == 0 || host_length >= INET6_ADDRSTRLEN)
            return url_error(url, "the text in [ ] is not an IPv6 address");
        memcpy(url->host, host + 1, host_length);
        if (inet_pton(AF_INET6, url->host, address) != 1)
            return url_error(url, "the text in [ ] is not an IPv6 address");
        url->host_is_ip = 1;
        rest = close + 1;
    } else {
        host_length = strcspn(host, ":/?#");
        if (host_length == 0)
            return url_error(url, "it has no host name");
        if (host_length >= sizeof url->host)
            return url_error(url, "the host name is longer than 255 characters");
        memcpy(url->host, host, host_length);
        for (i = 0; i < host_length; i++) {
            char ch = url->host[i];

            if (!is_digit(ch) && !(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z')
                && ch != '-' && ch != '.' && ch != '_')
                return url_error(url, "the host must be a DNS name, an IPv4 address, or an IPv6 "
                                      "address in [ ]");
        }
        if (inet_pton(AF_INET, url->host, address) == 1)
            url->host_is_ip = 1;
        else if (strspn(url->host, "0123456789.") == host_length)
            return url_error(url, "the host looks like an IPv4 address but is not one");
        rest = host + host_length;
    }

    if (*rest == ':') {
        size_t digits = strspn(++rest, "0123456789");

        url->port = 0;
        for (i = 0; i < digits && i < 6; i++)
            url->port = url->port * 10 + (rest[i] - '0');
        if (digits == 0 || digits > 5 || url->port < 1 || url->port > 65535)
            return url_error(url, "the port must be a number from 1 to 65535");
        rest += digits;
    }
    if (*rest != '\0' && *rest != '/' && *rest != '?' && *rest != '#')
        return url_error(url, "the host (and port) must be followed by /path, or nothing");
    snprintf(url->port_text, sizeof url->port_text, "%d", url->port);

    /* The #fragment is for the browser; it is never sent to the server. */
    path_length = strcspn(rest, "#");
    if (path_length + 2 > sizeof url->path)
        return url_error(url, "the path is too long");
    if (*rest != '/')
        url->path[0] = '/';  /* https://host and https://host?q mean / and /?q */
    memcpy(url->path + strlen(url->path), rest, path_length);
    for (i = 0; url->path[i] != '\0'; i++)
        if ((unsigned char)url->path[i] <= ' ' || (unsigned char)url->path[i] >= 0x7f)
            return url_error(url, "the path contains a space or a character that must be "
                                  "percent-encoded");
    return 0;
}

/* Returns 1 when the command line is good; otherwise explains in one sentence and returns 0. */
static int parse_command_line(int argc, char **argv, struct options *opt)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        }
        if (strcmp(arg, "--verbose") == 0) {
            opt->verbose = 1;
            continue;
        }
        if (arg[0] != '-') {
            if (opt->url_text != NULL) {
                fprintf(stderr, "client: give one URL, not two ('%s' and '%s')\n", opt->url_text,
                        arg);
                return 0;
            }
            opt->url_text = arg;
            continue;
        }
        if (strcmp(arg, "--cert") != 0 && strcmp(arg, "--key") != 0 && strcmp(arg, "--ca") != 0
            && strcmp(arg, "--method") != 0 && strcmp(arg, "--timeout") != 0) {
            fprintf(stderr, "client: unknown option '%s'\n", arg);
            return 0;
        }
        if (value == NULL) {
            fprintf(stderr, "client: %s needs a value\n", arg);
            return 0;
        }
        i++;
        if (strcmp(arg, "--cert") == 0) {
            opt->cert_file = value;
        } else if (strcmp(arg, "--key") == 0) {
            opt->key_file = value;
        } else if (strcmp(arg, "--ca") == 0) {
            opt->ca_file = value;
        } else if (strcmp(arg, "--method") == 0) {
            if (strcmp(value, "GET") != 0 && strcmp(value, "HEAD") != 0) {
                fprintf(stderr, "client: --method must be GET or HEAD, not '%s'\n", value);
                return 0;
            }
            opt->method = value;
        } else if (!parse_number(value, 1, MAX_TIMEOUT_SECONDS, &opt->timeout_seconds)) {
            fprintf(stderr, "client: --timeout must be a number of seconds from 1 to %d, "
                            "not '%s'\n", MAX_TIMEOUT_SECONDS, value);
            return 0;
        }
    }
    if (opt->url_text == NULL) {
        fprintf(stderr, "client: no URL given\n");
        return 0;
    }
    if ((opt->cert_file == NULL) != (opt->key_file == NULL)) {
        fprintf(stderr, "client: --cert and --key go together: the certificate is useless without "
                        "its private key\n");
        return 0;
    }
    if (parse_url(opt->url_text, &opt->url) != 0) {
        fprintf(stderr, "client: bad URL '%s': %s\n", opt->url_text, opt->url.error);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Files: naming the one at fault, and the key log
 * ------------------------------------------------------------------------------------------- */

/*
 * OpenSSL's own messages ("no such file", "no start line") do not say which of our files was at
 * fault, so we open each file ourselves first and name it when it cannot be read.
 */
static int file_is_readable(const char *path, const char *what, const char *default_path)
{
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        fprintf(stderr, "client: cannot read the %s '%s': %s%s\n", what, path, strerror(errno),
                default_path != NULL && strcmp(path, default_path) == 0
                    ? " (run 'make certs' to create it)" : "");
        return 0;
    }
    fclose(f);
    return 1;
}

/*
 * SSLKEYLOGFILE is the convention curl and browsers share for debugging: each session's secrets
 * are appended to that file, so Wireshark can decrypt a capture. Anyone holding the file can read
 * the traffic, so it is off unless the variable is set, we warn when it is, and the file must be
 * readable by its owner only:
 *   - a new file is created with mode 0600;
 *   - a file that is already there keeps its own mode, so one that its group or others may read
 *     or write is narrowed to 0600 (fchmod() on the file we opened, not on a name that could
 *     have been swapped since), with a warning;
 *   - a symbolic link is refused (O_NOFOLLOW): whoever made it would choose where the secrets go.
 * Sets opt->key_log_fd, -1 without SSLKEYLOGFILE. Returns 0 after saying why the file cannot be
 * used safely; a file that cannot be opened at all only costs the key log, with a warning.
 */
static int open_key_log(struct options *opt)
{
    const char *path = getenv("SSLKEYLOGFILE");
    struct stat st;
    int fd;

    opt->key_log_fd = -1;
    if (path == NULL)
        return 1;
    fprintf(stderr, "client: warning: SSLKEYLOGFILE is set; TLS secrets are written to '%s'\n",
            path);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ELOOP) {
        fprintf(stderr, "client: the key log file '%s' (SSLKEYLOGFILE) is a symbolic link; "
                        "refusing to follow it: name the file itself\n", path);
        return 0;
    }
    if (fd < 0) {
        fprintf(stderr, "client: warning: cannot open the key log file '%s': %s; no secrets are "
                        "written\n", path, strerror(errno));
        return 1;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
        if (fchmod(fd, 0600) != 0) {
            fprintf(stderr, "client: the key log file '%s' (SSLKEYLOGFILE) can be read by others "
                            "(mode %04o), and its mode cannot be changed: %s\n", path,
                    (unsigned)(st.st_mode & 07777), strerror(errno));
            close(fd);
            return 0;
        }
        fprintf(stderr, "client: warning: the key log file '%s' could be read or written by "
                        "others (mode %04o); its mode is now 0600\n", path,
                (unsigned)(st.st_mode & 07777));
    }
    opt->key_log_fd = fd;
    return 1;
}

/* OpenSSL calls this with each new secret, as one line of text (create_client_context()). */
static void append_to_key_log(const SSL *ssl, const char *line)
{
    const struct connection *c = SSL_get_app_data(ssl);
    char text[512];
    int length = snprintf(text, sizeof text, "%s\n", line);

    if (c == NULL || length < 0 || (size_t)length >= sizeof text)
        return;
    if (write(c->opt->key_log_fd, text, (size_t)length) != length) {
        /* A debugging aid that failed: the connection itself is unaffected. */
    }
}

/* ---------------------------------------------------------------------------------------------
 * The TCP connection, and deadlines
 * ------------------------------------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits until fd is ready for events. Returns 1 when it is, 0 at the deadline, -1 on error. */
static int wait_for_socket(int fd, short events, long long deadline_ms)
{
    struct pollfd p = { fd, events, 0 };

    for (;;) {
        long long left = deadline_ms - now_ms();
        int ready;

        if (left <= 0)
            return 0;
        ready = poll(&p, 1, (int)left);
        if (ready > 0)
            return 1;
        if (ready < 0 && errno != EINTR)
            return -1;
    }
}

/*
 * Tries each address of the host in turn (localhost is often ::1 and 127.0.0.1) until one
 * accepts. The socket is non-blocking from the start, so that connect(), and later every TLS
 * read and write, can be given a deadline with poll(). Returns an exit status; on success *fd
 * is the connected socket.
 */
static int connect_to_server(const struct options *opt, long long deadline_ms, int *fd)
{
    const struct url *url = &opt->url;
    struct addrinfo hints, *addresses, *a;
    int err, saved_errno = 0, timed_out = 0, so_error = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (url->host_is_ip ? AI_NUMERICHOST : 0);
    err = getaddrinfo(url->host, url->port_text, &hints, &addresses);
    if (err != 0) {
        fprintf(stderr, "client: cannot resolve the host name %s: %s\n", url->host,
                err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
        return EXIT_UNREACHABLE;
    }
    *fd = -1;
    for (a = addresses; a != NULL && *fd < 0 && !timed_out; a = a->ai_next) {
        char address[INET6_ADDRSTRLEN];
        socklen_t length = sizeof so_error;
        int on = 1, ready;

        if (opt->verbose && getnameinfo(a->ai_addr, a->ai_addrlen, address, sizeof address, NULL,
                                        0, NI_NUMERICHOST) == 0)
            fprintf(stderr, "* connecting to %s port %d\n", address, url->port);
        *fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (*fd < 0) {
            saved_errno = errno;
            continue;
        }
        /* TCP_NODELAY: our request is complete when we send it; Nagle would only delay it. */
        if (fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK) != 0
            || setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
            saved_errno = errno;
        } else if (connect(*fd, a->ai_addr, a->ai_addrlen) == 0) {
            break;
        } else if (errno != EINPROGRESS) {
            saved_errno = errno;
        } else if ((ready = wait_for_socket(*fd, POLLOUT, deadline_ms)) <= 0) {
            saved_errno = errno;
            timed_out = ready == 0;
        } else if (getsockopt(*fd, SOL_SOCKET, SO_ERROR, &so_error, &length) != 0
                   || so_error != 0) {
            /* The socket became writable because connect() finished: SO_ERROR says how. */
            saved_errno = so_error != 0 ? so_error : errno;
        } else {
            break;
        }
        close(*fd);
        *fd = -1;
    }
    freeaddrinfo(addresses);
    if (*fd >= 0)
        return EXIT_OK;
    if (timed_out)
        fprintf(stderr, "client: cannot connect to %s port %d: no answer within %d seconds\n",
                url->host, url->port, opt->timeout_seconds);
    else
        fprintf(stderr, "client: cannot connect to %s port %d: %s\n", url->host, url->port,
                strerror(saved_errno));
    return EXIT_UNREACHABLE;
}

/* ---------------------------------------------------------------------------------------------
 * HTTP: the request we send, the response we accept
 * ------------------------------------------------------------------------------------------- */

/*
 * The request: "Connection: close" asks the server to close after its answer; the Host header
 * names the site we want, with the port when it is not the default. Returns its length, or -1
 * when it does not fit in size bytes.
 */
static int format_request(const struct options *opt, char *request, size_t size)
{
    const struct url *url = &opt->url;
    char port[16] = "";
    int ipv6 = strchr(url->host, ':') != NULL, length;

    if (url->port != 443)
        snprintf(port, sizeof port, ":%d", url->port);
    length = snprintf(request, size,
                      "%s %s HTTP/1.1\r\n"
                      "Host: %s%s%s%s\r\n"
                      "User-Agent: " USER_AGENT "\r\n"
                      "Accept: */*\r\n"
                      "Connection: close\r\n"
                      "\r\n",
                      opt->method, url->path, ipv6 ? "[" : "", url->host, ipv6 ? "]" : "", port);
    return length < 0 || (size_t)length >= size ? -1 : length;
}

/* The characters allowed in a header name (RFC 9110, section 5.6.2). */
static int is_token_char(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static long head_error(struct response_head *head, const char *why)
{
    head->error = why;
    return -1;
}

/*
 * "HTTP/1.1 200 OK": the version, a three-digit status, and an optional reason phrase. Only
 * HTTP/1.0 and HTTP/1.1 are accepted: they are what we speak, and another version (HTTP/2.0 is
 * binary, HTTP/0.9 has no status line, HTTP/1.2 does not exist) means the rest cannot be read the
 * way this client reads it. Returns 1, or 0 with head->error set.
 */
static int parse_status_line(const char *line, size_t length, struct response_head *head)
{
    size_t i;

    if (length < 12 || memcmp(line, "HTTP/", 5) != 0 || !is_digit(line[5]) || line[6] != '.'
        || !is_digit(line[7]) || line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10])
        || !is_digit(line[11]) || (length > 12 && line[12] != ' ') || line[9] == '0') {
        head->error = "the status line is not 'HTTP/1.x NNN reason'";
        return 0;
    }
    if (line[5] != '1' || (line[7] != '0' && line[7] != '1')) {
        head->error = "it is not HTTP/1.0 or HTTP/1.1, the only versions this client speaks";
        return 0;
    }
    head->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    for (i = 0; i < length && i + 1 < sizeof head->status_line; i++)
        head->status_line[i] = (unsigned char)line[i] < 0x7f ? line[i] : '?';
    head->status_line[i] = '\0';
    return 1;
}

/* "Name: value". Only the headers that say where the body ends matter to us. */
static int parse_header_line(const char *line, size_t length, struct response_head *head)
{
    const char *colon = memchr(line, ':', length), *value, *end = line + length, *p;

    if (colon == NULL || colon == line) {
        head->error = "a header line has no name or no colon";
        return 0;
    }
    for (p = line; p < colon; p++) {
        if (!is_token_char(*p)) {
            head->error = "a header name contains a space or a character not allowed there";
            return 0;
        }
    }
    for (value = colon + 1; value < end && (*value == ' ' || *value == '\t'); value++)
        ;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;

    if (colon - line == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        long long number = 0;

        if (value == end || end - value > 15) {
            head->error = "the Content-Length header is not a number";
            return 0;
        }
        for (p = value; p < end; p++) {
            if (!is_digit(*p)) {
                head->error = "the Content-Length header is not a number";
                return 0;
            }
            number = number * 10 + (*p - '0');
        }
        /* Two different lengths would make the end of the body ambiguous (RFC 9112, 6.3). */
        if (head->content_length >= 0 && head->content_length != number) {
            head->error = "it has two different Content-Length headers";
            return 0;
        }
        head->content_length = number;
    } else if (colon - line == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        head->transfer_encoding = 1;
    }
    return 1;
}

/*
 * Parses the response head: the status line, the headers, and the empty line after them, at the
 * start of data. Lines may end in CRLF or LF. Returns the length of the head once it is complete,
 * 0 while more bytes are needed, or -1 with head->error set if it is not valid HTTP. It only
 * reads data[0] to data[length - 1], so a fuzzer can call it with anything.
 */
static long parse_response_head(const char *data, size_t length, struct response_head *head)
{
    const char *line = data, *end = data + length, *newline;
    memset(head, 0, sizeof *head);
    head->content_length = -1;
    /* Something that is not HTTP at all is refused at once, not after 16 KiB of it. */
    if (memcmp(data, "HTTP/", length < 5 ? length : 5) != 0)
        return head_error(head, "it does not start with HTTP/");
    while ((newline = memchr(line, '\n', (size_t)(end - line))) != NULL) {
        size_t line_length = (size_t)(newline - line), i;

        if (line_length > 0 && line[line_length - 1] == '\r')
            line_length--;
        /* No control characters (NUL, a lone CR, escape sequences) except tab. */
        for (i = 0; i < line_length; i++)
            if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
                return head_error(head, "it contains a control character");
        if (line == data) {
            if (!parse_status_line(line, line_length, head))
                return -1;
        } else if (line_length == 0) {
            return (long)(newline + 1 - data);
        } else if (!parse_header_line(line, line_length, head)) {
            return -1;
        }
        line = newline + 1;
    }
    return 0;
}

static int write_body(const char *data, size_t length)
{
    if (length > 0 && fwrite(data, 1, length, stdout) != length) {
        fprintf(stderr, "client: cannot write the body to standard output: %s\n", strerror(errno));
        return 0;
    }
    return 1;
}

/*
 * Reads, through tls_read() (Part 1), until a final response head has arrived, and parses it into
 * head. A 1xx response is only news ("103 Early Hints"): the real answer follows it. Returns an
 * exit status; on EXIT_OK, buffer[0] to buffer[*used - 1] holds the head, *head_length bytes,
 * and the start of the body after it.
 */
static int read_response_head(struct connection *c, char *buffer, size_t *used,
                              long *head_length, struct response_head *head)
{
    size_t have = 0, got;
    long length;
    int error, interim_responses = 0;

    for (;;) {
        length = have > 0 ? parse_response_head(buffer, have, head) : 0;
        if (length < 0) {
            fprintf(stderr, "client: the server's response is not valid HTTP: %s\n", head->error);
            return EXIT_NOT_2XX;
        }
        if (length > 0 && head->status >= 200)
            break;
        if (length > 0 && head->status == 101) {
            /* "101 Switching Protocols" answers a request to change protocol (Upgrade: websocket,
             * h2c). We never ask for one, so what would follow is not HTTP/1.1 and not an answer
             * to our request: treating it as news and reading on would take that protocol's bytes
             * for the response. We stop, and say so. */
            fprintf(stderr, "client: the server switched to another protocol (%s), which this "
                            "client never asked for\n", head->status_line);
            return EXIT_NOT_2XX;
        }
        if (length > 0) {
            /* A few interim responses are normal; an endless stream of them is a server keeping
             * us busy. */
            if (++interim_responses > MAX_INTERIM_RESPONSES) {
                fprintf(stderr, "client: the server sent more than %d interim (1xx) responses\n",
                        MAX_INTERIM_RESPONSES);
                return EXIT_NOT_2XX;
            }
            have -= (size_t)length;
            memmove(buffer, buffer + length, have);
            continue;
        }
        if (have == MAX_RESPONSE_HEAD) {
            fprintf(stderr, "client: the server's response head is larger than %d KiB\n",
                    MAX_RESPONSE_HEAD / 1024);
            return EXIT_NOT_2XX;
        }
        error = tls_read(c, buffer + have, MAX_RESPONSE_HEAD - have, &got);
        if (error != SSL_ERROR_NONE)
            return report_tls_failure(c, error, "reading the response");
        have += got;
    }
    *used = have;
    *head_length = length;
    return EXIT_OK;
}

/*
 * Copies the body to stdout as it arrives, starting with the got bytes already in buffer (of size
 * bytes): Content-Length bytes, or, without a length, everything until the server ends the
 * connection, which only a close_notify makes a proper end (end_of_data_at_close(), Part 1).
 * Returns an exit status.
 */
static int read_body(struct connection *c, const struct response_head *head, char *buffer,
                     size_t size, size_t got)
{
    long long remaining = head->content_length, received = 0;  /* remaining: -1 until close */
    int error;

    for (;;) {
        if (remaining >= 0 && (long long)got > remaining)
            got = (size_t)remaining;  /* anything after the announced length is not ours */
        if (received + (long long)got > MAX_RESPONSE_BODY) {
            fprintf(stderr, "client: the response body is larger than the %lld MiB this client "
                            "accepts\n", MAX_RESPONSE_BODY / (1024 * 1024));
            return EXIT_NOT_2XX;
        }
        if (!write_body(buffer, got))
            return EXIT_USAGE;
        received += (long long)got;
        if (remaining >= 0)
            remaining -= (long long)got;
        if (remaining == 0)
            return EXIT_OK;
        error = tls_read(c, buffer, size, &got);
        if (error == SSL_ERROR_NONE)
            continue;
        if (remaining < 0)
            return end_of_data_at_close(c, error, received);  /* no length: TLS says if it is all */
        if (error == SSL_ERROR_ZERO_RETURN || closed_without_close_notify(error)) {
            fprintf(stderr, "client: the server closed the connection after %lld of the %lld body "
                            "bytes it announced\n", received, head->content_length);
            ERR_clear_error();
            return EXIT_UNREACHABLE;
        }
        return report_tls_failure(c, error, "reading the response");
    }
}

/*
 * The HTTP answer, read through tls_read() (Part 1): the head (read_response_head()), then the
 * body, which goes to stdout as it arrives. Returns an exit status; EXIT_OK means the whole
 * response arrived, whatever its status.
 */
static int read_response(struct connection *c, struct response_head *head)
{
    char buffer[MAX_RESPONSE_HEAD];
    size_t used = 0;
    long head_length = 0;
    int status = read_response_head(c, buffer, &used, &head_length, head);

    if (status != EXIT_OK)
        return status;
    if (c->opt->verbose)
        fprintf(stderr, "* response: %s\n", head->status_line);
    /* Responses to HEAD, 204 and 304 never have a body, whatever their headers say. */
    if (strcmp(c->opt->method, "HEAD") == 0 || head->status == 204 || head->status == 304)
        return EXIT_OK;
    if (head->transfer_encoding) {
        fprintf(stderr, "client: the server sent its body with a Transfer-Encoding (such as "
                        "chunked), which this client does not decode\n");
        return EXIT_NOT_2XX;
    }
    if (head->content_length > MAX_RESPONSE_BODY) {
        fprintf(stderr, "client: the response body (%lld bytes) is larger than the %lld MiB this "
                        "client accepts\n", head->content_length,
                MAX_RESPONSE_BODY / (1024 * 1024));
        return EXIT_NOT_2XX;
    }
    /* The bytes after the head in the buffer are the start of the body. */
    used -= (size_t)head_length;
    memmove(buffer, buffer + head_length, used);
    status = read_body(c, head, buffer, sizeof buffer, used);
    if (status == EXIT_OK && fflush(stdout) != 0) {
        fprintf(stderr, "client: cannot write the body to standard output: %s\n", strerror(errno));
        return EXIT_USAGE;
    }
    return status;
}

/* The exit status of a complete answer: 0 for 2xx, 1 for any other status (403, 404...). */
static int exit_status_for(const struct response_head *head)
{
    return head->status >= 200 && head->status <= 299 ? EXIT_OK : EXIT_NOT_2XX;
}

/* ---------------------------------------------------------------------------------------------
 * Certificates as text, for the messages and --verbose
 * ------------------------------------------------------------------------------------------- */

/* A certificate name as one line, "CN=localhost,O=Example"; odd characters come out escaped. */
static void name_text(const X509_NAME *name, char *out, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int length = 0;

    if (bio != NULL && name != NULL && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
        length = BIO_read(bio, out, (int)size - 1);
    if (length <= 0)
        length = snprintf(out, size, "(no name)");
    out[length] = '\0';
    BIO_free(bio);
}

static void subject_text(X509 *cert, char *out, size_t size)
{
    name_text(cert != NULL ? X509_get_subject_name(cert) : NULL, out, size);
}

/* Copies n bytes into out, each unprintable one as '?'. A certificate can hold anything. */
static void append_printable(char *out, size_t size, const unsigned char *text, int n)
{
    size_t used = strlen(out);
    int i;

    for (i = 0; i < n && used + 1 < size; i++)
        out[used++] = text[i] >= 0x20 && text[i] < 0x7f ? (char)text[i] : '?';
    out[used] = '\0';
}

/* An IP entry holds the address in binary: 4 bytes for IPv4, 16 for IPv6. */
static int ip_entry_text(const ASN1_OCTET_STRING *entry, char *out, size_t size)
{
    int length = ASN1_STRING_length(entry);

    return (length == 4 || length == 16)
           && inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(entry), out,
                        (socklen_t)size) != NULL;
}

/* The names a certificate is valid for, its subjectAltName: "DNS:localhost, IP:127.0.0.1". */
static void certificate_names(X509 *cert, char *out, size_t size)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int i;

    out[0] = '\0';
    for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        const char *separator = out[0] != '\0' ? ", " : "";
        char ip[INET6_ADDRSTRLEN];

        if (name->type == GEN_DNS) {
            append_printable(out, size, (const unsigned char *)separator, (int)strlen(separator));
            append_printable(out, size, (const unsigned char *)"DNS:", 4);
            append_printable(out, size, ASN1_STRING_get0_data(name->d.dNSName),
                             ASN1_STRING_length(name->d.dNSName));
        } else if (name->type == GEN_IPADD && ip_entry_text(name->d.iPAddress, ip, sizeof ip)) {
            append_printable(out, size, (const unsigned char *)separator, (int)strlen(separator));
            append_printable(out, size, (const unsigned char *)"IP:", 3);
            append_printable(out, size, (const unsigned char *)ip, (int)strlen(ip));
        }
    }
    GENERAL_NAMES_free(names);
}

/* The chain the server sent, its own certificate first, each with the CA that signed it. */
static void show_server_chain(SSL *ssl)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    char subject[256], issuer[256], names[512];
    int i;

    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *cert = sk_X509_value(chain, i);

        subject_text(cert, subject, sizeof subject);
        name_text(X509_get_issuer_name(cert), issuer, sizeof issuer);
        certificate_names(cert, names, sizeof names);
        fprintf(stderr, "* server certificate %d: subject %s\n*   issuer %s%s%s\n", i, subject,
                issuer, names[0] != '\0' ? "\n*   names " : "", names);
    }
}

/* ---------------------------------------------------------------------------------------------
 * main: the command line, the context, one request
 * ------------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    struct options opt;
    struct connection c;
    SSL_CTX *ctx;
    int status;

    memset(&opt, 0, sizeof opt);
    opt.ca_file = DEFAULT_CA;
    opt.method = "GET";
    opt.timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
    if (!parse_command_line(argc, argv, &opt)) {
        fprintf(stderr, "usage: client [--cert FILE --key FILE] [--ca FILE] [--method GET|HEAD] "
                        "[--timeout SECONDS] [--verbose] URL (see --help)\n");
        return EXIT_USAGE;
    }
    /* A server that closes while we write must not kill us with SIGPIPE: we want the error. */
    signal(SIGPIPE, SIG_IGN);

    if (!open_key_log(&opt))
        return EXIT_USAGE;
    ctx = create_client_context(&opt);
    if (ctx == NULL) {
        if (opt.key_log_fd >= 0)
            close(opt.key_log_fd);
        return EXIT_USAGE;
    }
    memset(&c, 0, sizeof c);
    c.opt = &opt;
    c.fd = -1;
    status = fetch(&c, ctx);

    ERR_clear_error();
    SSL_free(c.ssl);
    if (c.fd >= 0)
        close(c.fd);
    if (opt.key_log_fd >= 0)
        close(opt.key_log_fd);
    SSL_CTX_free(ctx);
    return status;
}
