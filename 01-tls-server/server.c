/*
 * Chapter 01: an HTTPS server that proves who it is.
 *
 * This is ordinary TLS, the kind every web site uses: the server sends a certificate, the client
 * checks it, and only the client learns who is on the other end. The server has no idea who the
 * client is: /whoami answers with nothing but nulls. Chapters 02 and 03 change exactly that.
 *
 * Build:  make   (or alone, in this folder: cc server.c -o server -lssl -lcrypto -lpthread)
 * Run:    01-tls-server/server                 (from the repository root, after `make certs`)
 * Try:    curl --cacert certs/ca.crt https://localhost:5001/
 *
 * How to read it: Part 1 is the TLS lesson, told top-down; Part 2, after a banner, is the
 * plumbing (command line, socket, threads, deadlines, HTTP, main): the same in chapters 01 to 03,
 * and without a single OpenSSL call but the last SSL_CTX_free().
 * Left out on purpose: reloading files without a restart, speed settings and limits against
 * slow clients (chapter 05, the production server); keep-alive, chunked bodies, HTTP/2 (never).
 *
 * TLS in the order it runs: the OpenSSL calls, and the function that makes each. Left out: the
 * error queue (ERR_*), and the calls that only read names, dates and versions for the log and the
 * expiry warnings.
 *   At start-up, one context: the settings every connection shares.
 *    1. SSL_CTX_new(TLS_server_method())            create_server_context()
 *    2. SSL_CTX_set_min_proto_version(TLS 1.2)      create_server_context()
 *    3. SSL_CTX_set_cipher_list()                   create_server_context()
 *    4. SSL_CTX_set_options(no renegotiation)       create_server_context()
 *    5. SSL_CTX_set_options(no tickets), SSL_CTX_set_num_tickets(),
 *       SSL_CTX_sess_set_cache_size(), SSL_CTX_set_timeout()   remember_sessions()
 *    6. SSL_CTX_set_keylog_callback()               log_secrets_if_asked(), for Wireshark
 *    7. SSL_CTX_use_certificate_chain_file()        load_server_identity()
 *    8. SSL_CTX_use_PrivateKey_file()               load_server_identity()
 *    9. SSL_CTX_check_private_key()                 load_server_identity()
 *   For each connection:
 *    1. SSL_new(), SSL_set_fd()                     serve_connection()
 *    2. SSL_accept(): the handshake                 tls_handshake()
 *    3. SSL_read_ex(): the request                  read_request_head()
 *    4. SSL_write_ex(): the answer                  tls_write_all()
 *       (after any of 2-4 that could not finish: SSL_get_error(), in wait_for_network())
 *    5. SSL_shutdown(): close_notify                close_tls()
 *    6. SSL_free()                                  serve_connection()
 *    7. OPENSSL_thread_stop(), as its thread ends   end_tls_in_this_thread()
 *   For GET /whoami, between 3 and 4: no call; this server never asks who the client is.
 *   When the server stops: SSL_CTX_free(), in main().
 */

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

/* ---------------------------------------------------------------------------------------------
 * Declarations both parts share
 * ------------------------------------------------------------------------------------------- */

/* A client gets this long for its handshake, its request and our response, all together. Without
 * a deadline, a client that connects and then says nothing would hold a thread forever. */
#define CONNECTION_DEADLINE_MS  10000
/* The request head (request line and headers) must fit in this many bytes, or we answer 431. */
#define MAX_REQUEST_HEAD        8192
#define MAX_RESPONSE            4096

/* The TLS settings every connection starts from, made once at start-up. */
static SSL_CTX *server_ctx;
/* Written once when SIGINT or SIGTERM arrives; every connection polls it, so "readable" means "stop". */
static int stop_pipe[2] = { -1, -1 };
static volatile sig_atomic_t stop_signal;  /* which signal it was, for the log */

/* One client connection, from accept() to close(). */
struct connection {
    int fd;
    SSL *ssl;
    long long deadline_ms;
    char peer[INET6_ADDRSTRLEN + 8];  /* "127.0.0.1:40312" or "[::1]:40312", for the log */
    const char *failure;              /* why the connection ended early, in plain words */
    char failure_text[128];           /* room for a system error's text, when failure needs it */
    unsigned long tls_error;          /* OpenSSL's error (library, reason) when TLS failed, or 0 */
};

/* A parsed request. The pointers point into the connection's request buffer. */
struct request {
    const char *method;
    const char *path;
    int head_only;                    /* HEAD: send the headers of the answer, not its body */
};

struct response {
    int status;
    const char *content_type;
    const char *extra_header;         /* a full "Name: value\r\n" line, or "" */
    char body[MAX_RESPONSE / 2];
    size_t body_length;
};

/* What /whoami says about the client; NULL fields are JSON nulls. Part 1 fills it in. */
struct identity {
    const char *subject, *issuer, *serial, *not_before, *not_after, *sha256;
};

/* Part 1, the lesson, calls these from Part 2. */
static const char *system_error(int error, char *out, size_t size);
static long long now_ms(void);
static void answer_plain_http(int fd);
static size_t end_of_head(const char *data, size_t length, size_t searched);
static int parse_request(char *head, size_t length, struct request *request);
static void route(const struct request *request, struct connection *c, struct response *response);
static int send_response(struct connection *c, const struct request *request,
                         const struct response *response);
static void set_identity(struct response *response, const struct identity *who);
/* And Part 2 calls these of Part 1. */
static void serve_connection(int fd, const char *peer);
static void end_tls_in_this_thread(void);
static int tls_write_all(struct connection *c, const char *data, size_t length);
static void answer_whoami(struct connection *c, struct response *response);
static void printable_request_line(const char *head, size_t length, char *out, size_t size);

/* =============================================================================================
 * =============================================================================================
 *
 *     PART 1: THE TLS LESSON
 *
 *     The context set-up (where this chapter's idea lives), then the life of one connection.
 *
 * =============================================================================================
 * ============================================================================================= */

/* ---------------------------------------------------------------------------------------------
 * TLS context set-up: who we are, and which TLS versions we speak
 * ------------------------------------------------------------------------------------------- */

/* The files the set-up reads, named on the command line (Part 2; the flags are at the end of
 * Part 1). */
#define DEFAULT_CERT            "certs/server.crt"
#define DEFAULT_KEY             "certs/server.key"
struct tls_files {
    const char *cert_file;
    const char *key_file;
};

static int load_server_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file);
static int log_secrets_if_asked(SSL_CTX *ctx);
static void remember_sessions(SSL_CTX *ctx);
static void warn_if_expiring(const char *file);

/*
 * One context holds what every connection shares: our certificate and key, the TLS versions and
 * ciphers we accept, the session cache. Each connection then gets an SSL object made from it.
 */
static SSL_CTX *create_server_context(const struct tls_files *files)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        fprintf(stderr, "server: cannot create the TLS context\n");
        ERR_print_errors_fp(stderr);
        return NULL;
    }
    /* TLS 1.0 and 1.1 have known weaknesses and are deprecated (RFC 8996): refuse them. In
     * TLS 1.2, accept only an ephemeral key exchange (ECDHE: a stolen key cannot decrypt
     * recorded traffic) with an AEAD cipher (GCM or ChaCha20-Poly1305: no CBC, no SHA-1). TLS
     * 1.3's suites all have both, and are set apart (SSL_CTX_set_ciphersuites). */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1
        || SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        fprintf(stderr, "server: cannot set the TLS versions and ciphers\n");
        ERR_print_errors_fp(stderr);
        goto fail;
    }
    /* In TLS 1.2 either side may ask to renegotiate, and each renegotiation costs the server a
     * full handshake: an easy denial of service. OpenSSL 3 already refuses a renegotiation the
     * client starts (unless SSL_OP_ALLOW_CLIENT_RENEGOTIATION is set); this option also stops the
     * server from ever starting one. TLS 1.3 has no renegotiation at all. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    remember_sessions(ctx);
    if (!log_secrets_if_asked(ctx) || !load_server_identity(ctx, files->cert_file, files->key_file))
        goto fail;
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* OpenSSL's own messages ("no such file", "no start line") do not say which of our files was at
 * fault, so we open each file ourselves first and name it when it cannot be read. */
static int file_is_readable(const char *path, const char *what, const char *default_path)
{
    FILE *f = fopen(path, "r");
    char reason[128];

    if (f == NULL) {
        fprintf(stderr, "server: cannot read the %s '%s': %s%s\n", what, path,
                system_error(errno, reason, sizeof reason),
                strcmp(path, default_path) == 0 ? " (run 'make certs' to create it)" : "");
        return 0;
    }
    fclose(f);
    return 1;
}

/* A file we could read but OpenSSL could not use: name it, then print OpenSSL's reasons. */
static int pem_file_unusable(const char *path, const char *what)
{
    fprintf(stderr, "server: '%s' does not hold a usable PEM %s\n", path, what);
    ERR_print_errors_fp(stderr);
    return 0;
}

/* A certificate's subject or issuer on one line, like "CN=client,O=Example" (RFC 2253), with
 * control characters escaped: a certificate's names are chosen by whoever made it. */
static void name_to_text(const X509_NAME *name, char *out, size_t size)
{
    BIO *text = BIO_new(BIO_s_mem());
    int length = 0;

    if (text != NULL && X509_NAME_print_ex(text, name, 0, XN_FLAG_RFC2253) >= 0)
        length = BIO_read(text, out, (int)size - 1);
    out[length > 0 ? length : 0] = '\0';
    BIO_free(text);
}

/* A certificate's date as "2026-01-31T12:00:00Z" (ISO 8601, UTC). */
static void iso8601(const ASN1_TIME *time, char *out, size_t size)
{
    struct tm t;

    if (ASN1_TIME_to_tm(time, &t) == 1)
        snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900, t.tm_mon + 1,
                 t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
    else
        snprintf(out, size, "unknown");
}

/* How many days ahead the expiry warnings look. */
#define EXPIRY_WARNING_DAYS     7

/* Nothing warns before the day a file of ours runs out (a certificate's notAfter date), so we do,
 * at start-up: after that day it is refused. */
static void warn_if_expiring(const char *file)
{
    BIO *in = BIO_new_file(file, "r");
    STACK_OF(X509_INFO) *items = in != NULL ? PEM_X509_INFO_read_bio(in, NULL, NULL, NULL) : NULL;
    time_t soon = time(NULL) + EXPIRY_WARNING_DAYS * 24 * 60 * 60;
    char name[256], date[80];
    int i;

    for (i = 0; i < sk_X509_INFO_num(items); i++) {
        X509_INFO *item = sk_X509_INFO_value(items, i);
        const ASN1_TIME *end = item->x509 != NULL ? X509_get0_notAfter(item->x509) : NULL;

        if (end == NULL || X509_cmp_time(end, &soon) > 0)
            continue;
        name_to_text(X509_get_subject_name(item->x509), name, sizeof name);
        iso8601(end, date, sizeof date);
        fprintf(stderr, "server: warning: the certificate %s in '%s' %s %s; after that date %s\n",
                name, file, X509_cmp_current_time(end) < 0 ? "expired on" : "expires on", date,
                "it is refused");
    }
    sk_X509_INFO_pop_free(items, X509_INFO_free);
    BIO_free(in);
    ERR_clear_error();
}

/*
 * The server's identity is a certificate (public: our name, our public key, and a CA's signature
 * over both) and the matching private key (secret: it proves we own that certificate, by signing
 * the handshake). The certificate file is read as a chain: our certificate first, then any
 * intermediate CA certificates, which are all sent to the client so it can link us to a CA it trusts.
 */
static int load_server_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file)
{
    if (!file_is_readable(cert_file, "certificate file", DEFAULT_CERT)
        || !file_is_readable(key_file, "private key file", DEFAULT_KEY))
        return 0;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        return pem_file_unusable(cert_file, "certificate");
    warn_if_expiring(cert_file);
    /* OpenSSL compares the key with the certificate as it loads it; a mismatch is reported below. */
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1
        && !(ERR_GET_LIB(ERR_peek_last_error()) == ERR_LIB_X509
             && ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH))
        return pem_file_unusable(key_file, "private key");
    /* A key from another pair would let the server start and then fail every handshake. */
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "server: the private key '%s' does not match the certificate '%s'\n",
                key_file, cert_file);
        ERR_print_errors_fp(stderr);
        return 0;
    }
    return 1;
}

/* Sessions kept for resumption, oldest dropped first: a bound on the memory they take. */
#define SESSION_CACHE_SIZE      256
/* How long a session can wait to be resumed (OpenSSL's default: 7200 s); nginx's default. */
#define SESSION_LIFETIME_SECONDS 300

/*
 * A client that comes back can resume its session: a short handshake with no certificates and no
 * signatures, relying on what the full handshake established. The session waits in this server's
 * memory, and the client gets only its name (a short ticket, one per handshake). The alternative,
 * TLS's default, hands the client the whole session encrypted with a key only the server knows.
 * Resuming skips every check of the full handshake, so a session must not wait long: five
 * minutes still covers a client's burst of connections.
 */
static void remember_sessions(SSL_CTX *ctx)
{
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_sess_set_cache_size(ctx, SESSION_CACHE_SIZE);
    SSL_CTX_set_timeout(ctx, SESSION_LIFETIME_SECONDS);
}

/*
 * SSLKEYLOGFILE is the convention curl and browsers share for debugging: each session's secrets
 * are appended to that file, so Wireshark can decrypt a capture. Anyone who can read the file can
 * read the traffic, so it is off unless the variable is set, we warn when it is, the file is made
 * readable by its owner only, and a symbolic link is refused (it could point anywhere).
 */
static void append_to_key_log(const SSL *ssl, const char *line)
{
    const char *path = getenv("SSLKEYLOGFILE");
    int fd = path != NULL ? open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC) : -1;
    char text[1024];
    int length = snprintf(text, sizeof text, "%s\n", line);

    (void)ssl;
    if (fd >= 0) {
        /* One write() to a file opened O_APPEND: lines from two connections land whole. */
        if (length > 0 && (size_t)length < sizeof text && write(fd, text, (size_t)length) < 0) {
            /* Nowhere to report it: the key log is a debugging aid, never needed to serve. */
        }
        close(fd);
    }
}

static int log_secrets_if_asked(SSL_CTX *ctx)
{
    const char *path = getenv("SSLKEYLOGFILE");
    struct stat info;
    int fd;

    if (path == NULL)
        return 1;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &info) != 0 || ((info.st_mode & 077) != 0 && fchmod(fd, 0600) != 0)) {
        fprintf(stderr, "server: cannot use the key log SSLKEYLOGFILE='%s': %s\n", path,
                errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return 0;
    }
    if ((info.st_mode & 077) != 0)
        fprintf(stderr, "server: warning: others could read the key log '%s'; it is now mode 0600\n",
                path);
    close(fd);
    fprintf(stderr, "server: warning: SSLKEYLOGFILE is set; TLS secrets are written to '%s'\n", path);
    SSL_CTX_set_keylog_callback(ctx, append_to_key_log);
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * One connection: handshake, request, response, all before one deadline
 * ------------------------------------------------------------------------------------------- */

static int tls_handshake(struct connection *c);
static int wait_for_network(struct connection *c, int ret);
static void close_after_failed_handshake(struct connection *c);
static void answer_one_request(struct connection *c);

/*
 * The life of one connection, in a thread of its own (Part 2), with a freshly accepted socket.
 * The SSL object holds this connection's TLS state; it reads its settings from the shared context.
 */
static void serve_connection(int fd, const char *peer)
{
    struct connection c = { .fd = fd, .deadline_ms = now_ms() + CONNECTION_DEADLINE_MS };

    snprintf(c.peer, sizeof c.peer, "%s", peer);
    c.ssl = SSL_new(server_ctx);
    if (c.ssl == NULL || SSL_set_fd(c.ssl, fd) != 1) {
        printf("%s cannot create the TLS connection\n", c.peer);
        ERR_print_errors_fp(stdout);
    } else if (!tls_handshake(&c)) {
        close_after_failed_handshake(&c);
    } else {
        answer_one_request(&c);
    }
    SSL_free(c.ssl);
    ERR_clear_error();
}

/* Called by Part 2 as a connection's thread ends. OpenSSL keeps some state per thread (its error
 * queue) and frees it as the thread exits; freed now, before the thread says it is done, it is
 * gone by the time main() returns, and a leak checker sees a clean exit. */
static void end_tls_in_this_thread(void)
{
    OPENSSL_thread_stop();
}

/*
 * The TLS handshake: the client and server agree on a version and cipher, the server proves
 * it holds the private key for its certificate, and both derive the keys that encrypt the rest.
 * That proof is a signature: in TLS 1.3 over the whole handshake so far (the CertificateVerify
 * message, which only TLS 1.3 servers send); in TLS 1.2 over the key exchange parameters (the
 * ServerKeyExchange message).
 */
static int tls_handshake(struct connection *c)
{
    int ret;

    for (;;) {
        ERR_clear_error();
        errno = 0;
        ret = SSL_accept(c->ssl);
        if (ret == 1)
            return 1;
        if (!wait_for_network(c, ret))
            return 0;
    }
}

static int read_request_head(struct connection *c, char *head, size_t size, size_t *length);
static void close_tls(struct connection *c, int client_may_still_send);

/* Over TLS, a request is read and answered as over plain TCP; only the calls change. */
static void answer_one_request(struct connection *c)
{
    struct request request = { NULL, NULL, 0 };
    struct response response;
    /* Zero-filled (8 KiB, about a microsecond): gcc's analyzer cannot see that SSL_read_ex()
     * fills what read_request_head() then reads, and this settles it for every path. */
    char head[MAX_REQUEST_HEAD + 1] = "", request_line[256];
    size_t length = 0;

    response.status = read_request_head(c, head, sizeof head, &length);
    if (response.status == 0) {
        printf("%s %s %s no request: %s\n", c->peer, SSL_get_version(c->ssl),
               SSL_get_cipher_name(c->ssl), c->failure);
        return;
    }
    printable_request_line(head, length, request_line, sizeof request_line);
    if (response.status == 200)
        response.status = parse_request(head, length, &request);
    route(&request, c, &response);
    if (!send_response(c, &request, &response)) {
        printf("%s %s %s \"%s\" %d not delivered: %s\n", c->peer, SSL_get_version(c->ssl),
               SSL_get_cipher_name(c->ssl), request_line, response.status, c->failure);
        return;
    }
    printf("%s %s %s \"%s\" %d\n", c->peer, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
           request_line, response.status);
    close_tls(c, response.status == 431);
}

/*
 * Reads until the blank line that ends the request head. Returns 200 when it arrived, 431 when
 * it did not fit in the buffer, 0 when the connection ended first (c->failure says why).
 */
static int read_request_head(struct connection *c, char *head, size_t size, size_t *length)
{
    size_t got;
    int ret;

    *length = 0;
    while (*length < size - 1) {
        ERR_clear_error();
        errno = 0;
        ret = SSL_read_ex(c->ssl, head + *length, size - 1 - *length, &got);
        if (ret == 1) {
            *length += got;
            head[*length] = '\0';
            if (end_of_head(head, *length, *length - got) != 0)
                return 200;
        } else if (!wait_for_network(c, ret)) {
            return 0;
        }
    }
    return 431;
}

/* Called by send_response() in Part 2. */
static int tls_write_all(struct connection *c, const char *data, size_t length)
{
    size_t written;
    int ret;

    while (length > 0) {
        ERR_clear_error();
        errno = 0;
        ret = SSL_write_ex(c->ssl, data, length, &written);
        if (ret == 1) {
            data += written;
            length -= written;
        } else if (!wait_for_network(c, ret)) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Waiting for the network
 * ------------------------------------------------------------------------------------------- */

static const char *describe_tls_error(unsigned long error);

/*
 * Our sockets are non-blocking: a blocking read() could wait forever for a silent client, and we
 * want every connection to end by its deadline. So when OpenSSL needs the network and it is not
 * ready, SSL_accept/SSL_read_ex/SSL_write_ex return at once, and SSL_get_error() says why:
 *   SSL_ERROR_WANT_READ   it needs bytes from the client first (say, the rest of a record);
 *   SSL_ERROR_WANT_WRITE  the kernel's send buffer is full;
 * and we simply call the same function again once poll() says the socket is ready. Either may
 * happen in any call: a TLS read can need to write (a key update) and a write can need to read.
 * SSL_get_error() works out its answer from OpenSSL's thread-local error queue, so that queue
 * must be empty before each I/O call (hence ERR_clear_error() before every one): an old error
 * left there would turn a harmless WANT_READ into a failure. Likewise errno, which
 * SSL_ERROR_SYSCALL sends us to read: set to 0 before the call, it cannot hold an older error.
 * Returns 1 to try the OpenSSL call again, 0 when the connection is over (c->failure says why).
 */
static int wait_for_network(struct connection *c, int ret)
{
    struct pollfd fds[2] = { { c->fd, 0, 0 }, { stop_pipe[0], POLLIN, 0 } };
    long long left;
    int ready;

    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        fds[0].events = POLLIN;
        break;
    case SSL_ERROR_WANT_WRITE:
        fds[0].events = POLLOUT;
        break;
    case SSL_ERROR_ZERO_RETURN:
        c->failure = "the client closed the connection";
        return 0;
    case SSL_ERROR_SYSCALL:
        c->failure = errno != 0 ? system_error(errno, c->failure_text, sizeof c->failure_text)
                                : "the client closed the connection";
        ERR_clear_error();
        return 0;
    default:
        c->tls_error = ERR_peek_last_error();
        c->failure = describe_tls_error(ERR_peek_last_error());
        ERR_clear_error();
        return 0;
    }
    left = c->deadline_ms - now_ms();
    if (left <= 0) {
        c->failure = "timed out";
        return 0;
    }
    ready = poll(fds, 2, (int)left);
    if (ready < 0 && errno == EINTR)
        return 1;
    if (ready < 0) {
        c->failure = system_error(errno, c->failure_text, sizeof c->failure_text);
        return 0;
    }
    if (fds[1].revents != 0) {
        c->failure = "the server is stopping";
        return 0;
    }
    if (ready == 0) {
        c->failure = "timed out";
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Handshake failures, in plain words
 * ------------------------------------------------------------------------------------------- */

/*
 * OpenSSL names for handshake failures, and what they mean in plain words. Anything not listed
 * is logged with OpenSSL's own reason string. An OpenSSL error code packs a library and a reason,
 * and each library numbers its reasons from 1: all of these are libssl's (ERR_LIB_SSL), and the
 * same number from libcrypto's X509 or PEM code means something else, so both are compared.
 */
static const struct {
    int reason;
    const char *words;
} handshake_failures[] = {
    { SSL_R_HTTP_REQUEST, "the client sent plain HTTP to this HTTPS port" },
    { SSL_R_WRONG_VERSION_NUMBER, "the client does not speak TLS (wrong version number)" },
    { SSL_R_UNSUPPORTED_PROTOCOL, "the client offered only TLS versions older than 1.2" },
    { SSL_R_NO_SHARED_CIPHER, "the client offered no cipher suite this server accepts" },
    { SSL_R_UNEXPECTED_EOF_WHILE_READING, "the client closed the connection" },
    { SSL_R_TLSV1_ALERT_UNKNOWN_CA, "the client does not trust the CA that issued our certificate" },
    { SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, "the client rejected our certificate" },
    { SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED, "the client says our certificate has expired" },
};

static const char *describe_tls_error(unsigned long error)
{
    size_t i;
    const char *reason;

    for (i = 0; i < sizeof handshake_failures / sizeof handshake_failures[0]; i++)
        if (ERR_GET_LIB(error) == ERR_LIB_SSL
            && ERR_GET_REASON(error) == handshake_failures[i].reason)
            return handshake_failures[i].words;
    reason = ERR_reason_error_string(error);
    return reason != NULL ? reason : "TLS error";
}

/* ---------------------------------------------------------------------------------------------
 * Who the client is: GET /whoami
 * ------------------------------------------------------------------------------------------- */

/* Called by route() in Part 2: what the client's certificate says about it. This server never
 * asks for one (chapter 02 does), so it knows nothing about the client: every field is null. */
static void answer_whoami(struct connection *c, struct response *response)
{
    struct identity who = { NULL, NULL, NULL, NULL, NULL, NULL };

    (void)c;
    set_identity(response, &who);
}

/* ---------------------------------------------------------------------------------------------
 * Closing: close_notify after the answer, a short linger after a failure
 * ------------------------------------------------------------------------------------------- */

/* How long, at most, we wait for a client to finish sending after we have answered or refused
 * it: long enough for the last bytes in flight, too short for a client to hold a thread. */
#define LINGER_MS               1000

/*
 * close_notify tells the client the answer is complete and was not cut short: without it, a
 * client cannot tell our end from an attacker cutting the connection. When we answered before
 * reading all the client sent (431), what it still sends is read and thrown away for a moment:
 * closing a socket with unread bytes in it makes the kernel send a reset (RST), which can destroy
 * our answer before the client reads it.
 */
static void close_tls(struct connection *c, int client_may_still_send)
{
    char discard[4096];
    size_t got;
    int ret;

    ERR_clear_error();
    /* 1: both sides said close_notify; 0: ours is sent, which is all a server that closes needs. */
    if (SSL_shutdown(c->ssl) < 0)
        return;
    if (c->deadline_ms > now_ms() + LINGER_MS)
        c->deadline_ms = now_ms() + LINGER_MS;
    while (client_may_still_send) {
        ERR_clear_error();
        ret = SSL_read_ex(c->ssl, discard, sizeof discard, &got);
        if (ret != 1 && !wait_for_network(c, ret))
            break;
    }
}

/* A client that speaks plain HTTP to this port gets a plain answer it can read, as nginx does. */
static void answer_plain_http(int fd)
{
    static const char body[] = "This port speaks HTTPS: use https:// in the URL.\n";
    char answer[256];
    int length = snprintf(answer, sizeof answer,
                          "HTTP/1.1 400 Bad Request\r\n"
                          "Content-Type: text/plain\r\n"
                          "Content-Length: %zu\r\n"
                          "Connection: close\r\n"
                          "\r\n"
                          "%s",
                          sizeof body - 1, body);

    if (write(fd, answer, (size_t)length) < 0) {
        /* The client is gone; there is nobody left to tell. */
    }
}

/*
 * After a failed handshake our alert (or the plain-HTTP answer) is on its way, but the client may
 * have sent more: a TLS 1.3 client sends its request right after its Finished, without waiting.
 * Closing with those bytes unread makes the kernel send a reset, and the client's kernel then
 * throws away the alert its program has not read yet: the client reports "connection reset"
 * instead of the reason. So we send our FIN, then read and drop what arrives until the client
 * closes too: at most LINGER_MS, never past the deadline, and not once the server is stopping.
 */
static void close_after_failed_handshake(struct connection *c)
{
    char discard[4096];
    long long until = now_ms() + LINGER_MS, left;
    struct pollfd fds[2] = { { c->fd, POLLIN, 0 }, { stop_pipe[0], POLLIN, 0 } };

    printf("%s handshake failed: %s\n", c->peer, c->failure);
    if (ERR_GET_LIB(c->tls_error) == ERR_LIB_SSL && ERR_GET_REASON(c->tls_error) == SSL_R_HTTP_REQUEST)
        answer_plain_http(c->fd);
    if (until > c->deadline_ms)
        until = c->deadline_ms;
    if (shutdown(c->fd, SHUT_WR) != 0)
        return;
    for (;;) {
        left = until - now_ms();
        if (left <= 0 || poll(fds, 2, (int)left) <= 0 || fds[1].revents != 0
            || read(c->fd, discard, sizeof discard) <= 0)
            return;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Command-line files: the flags that name what the set-up reads (Part 2's parser asks here)
 * ------------------------------------------------------------------------------------------- */

#define TLS_FILES_DEFAULTS      { DEFAULT_CERT, DEFAULT_KEY }
#define TLS_FILES_SYNOPSIS      "[--cert FILE] [--key FILE]"
#define TLS_FILES_HELP \
    "  --cert FILE           server certificate chain, PEM (default " DEFAULT_CERT ")\n" \
    "  --key FILE            server private key, PEM (default " DEFAULT_KEY ")\n"

/* Returns 0 when the flag is not one of ours. */
static int set_tls_file(struct tls_files *files, const char *flag, const char *value)
{
    if (strcmp(flag, "--cert") == 0)
        files->cert_file = value;
    else if (strcmp(flag, "--key") == 0)
        files->key_file = value;
    else
        return 0;
    return 1;
}

/* =============================================================================================
 *     PART 2: THE PLUMBING
 *
 *     The same in chapters 01 to 03, byte for byte, and no TLS in it: the command line, the
 *     socket, a thread per connection, stopping, HTTP, the routes and main.
 * ============================================================================================= */

/* ---------------------------------------------------------------------------------------------
 * Command line and listening socket
 * ------------------------------------------------------------------------------------------- */

#define DEFAULT_PORT            5001
#define DEFAULT_BIND            "127.0.0.1"
#define DEFAULT_MAX_CONNECTIONS 128   /* more wait in the kernel's listen queue */
#define MAX_CONNECTIONS_LIMIT   4096

struct options {
    int port;
    const char *bind_address;
    int max_connections;
    struct tls_files tls;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: server [--port N] [--bind ADDR] " TLS_FILES_SYNOPSIS " [--max-connections N]\n"
            "\n"
            "  --port N              TCP port to listen on (default %d; 0 picks a free one)\n"
            "  --bind ADDR           address to listen on (default %s; ::1 and 0.0.0.0 work too)\n"
            TLS_FILES_HELP
            "  --max-connections N   connections served at the same time (default %d)\n"
            "  --help                show this help\n",
            DEFAULT_PORT, DEFAULT_BIND, DEFAULT_MAX_CONNECTIONS);
}

/* Is text a whole decimal number in [min, max]? */
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

static int parse_command_line(int argc, char **argv, struct options *opt)
{
    int i;

    /* Every option but --help takes a value, so the arguments come in pairs. */
    for (i = 1; i < argc; i += 2) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        struct tls_files probe = opt->tls;

        if (strcmp(flag, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(flag, "--port") != 0 && strcmp(flag, "--bind") != 0
            && strcmp(flag, "--max-connections") != 0 && !set_tls_file(&probe, flag, "")) {
            fprintf(stderr, "server: unknown option '%s'\n", flag);
            return 0;
        }
        if (value == NULL) {
            fprintf(stderr, "server: %s needs a value\n", flag);
            return 0;
        }
        if (strcmp(flag, "--port") == 0 && !parse_number(value, 0, 65535, &opt->port)) {
            fprintf(stderr, "server: --port must be a number from 0 to 65535, not '%s'\n", value);
            return 0;
        }
        if (strcmp(flag, "--max-connections") == 0
            && !parse_number(value, 1, MAX_CONNECTIONS_LIMIT, &opt->max_connections)) {
            fprintf(stderr, "server: --max-connections must be a number from 1 to %d, not '%s'\n",
                    MAX_CONNECTIONS_LIMIT, value);
            return 0;
        }
        if (strcmp(flag, "--bind") == 0)
            opt->bind_address = value;
        set_tls_file(&opt->tls, flag, value);
    }
    return 1;
}

/* strerror() may return a buffer that another thread overwrites; strerror_r() (POSIX's, which
 * returns 0 on success) writes into ours. */
static const char *system_error(int error, char *out, size_t size)
{
    if (strerror_r(error, out, size) != 0)  /* an unknown error: say its number */
        snprintf(out, size, "system error %d", error);
    return out;
}

/* Returns a listening socket, or -1 after saying why. *port is updated when it was 0. */
static int open_listening_socket(const char *bind_address, int *port)
{
    struct addrinfo hints, *addresses, *a;
    char service[16];
    int fd = -1, err, saved_errno = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", *port);
    err = getaddrinfo(bind_address, service, &hints, &addresses);
    if (err != 0) {
        fprintf(stderr, "server: cannot use --bind '%s': %s\n", bind_address, gai_strerror(err));
        return -1;
    }
    for (a = addresses; a != NULL && fd < 0; a = a->ai_next) {
        int on = 1;

        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        /* Listen again at once after a restart; never wait in accept() (a client may leave). */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0
            || fcntl(fd, F_SETFL, O_NONBLOCK) != 0
            || bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            saved_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(addresses);
    if (fd < 0) {
        fprintf(stderr, "server: cannot listen on %s port %d: %s\n", bind_address, *port,
                strerror(saved_errno));
        return -1;
    }
    if (*port == 0) {
        struct sockaddr_storage bound;
        socklen_t length = sizeof bound;

        if (getsockname(fd, (struct sockaddr *)&bound, &length) != 0) {
            fprintf(stderr, "server: cannot tell which port was chosen: %s\n", strerror(errno));
            close(fd);
            return -1;
        }
        *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    }
    return fd;
}

/* "127.0.0.1:40312" or "[::1]:40312", for the log: the address accept() gave, which stays known
 * even when the client has gone by the time we look. */
static void describe_peer(const struct sockaddr_storage *address, socklen_t length, char *out,
                          size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?", port[6] = "?";   /* "65535" */
    int v6 = address->ss_family == AF_INET6;

    if (getnameinfo((const struct sockaddr *)address, length, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        v6 = 0;
    snprintf(out, size, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* ---------------------------------------------------------------------------------------------
 * Connections: a thread each, at most --max-connections at once, until SIGINT or SIGTERM
 * ------------------------------------------------------------------------------------------- */

/* A clock that only moves forward, for each connection's deadline. */
static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A signal handler may do little safely; write() is allowed, and wakes all who poll the stop pipe:
 * the accept loop and every connection. Nobody reads the pipe, so it stays readable. */
static void request_stop(int signal_number)
{
    int saved_errno = errno;

    stop_signal = signal_number;
    if (write(stop_pipe[1], "x", 1) < 0) { /* full: a stop was requested already */ }
    errno = saved_errno;
}

/* Ample for our buffers and OpenSSL's calls; the default, 8 MiB a thread, would reserve 1 GiB of
 * address space for 128 connections. */
#define THREAD_STACK_SIZE       (512 * 1024)

static struct {
    pthread_mutex_t lock;
    pthread_cond_t one_ended;
    int running;
} connections = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

/* Adds change to the count of running connections, once fewer than wait_below are running. */
static void count_connections(int change, int wait_below)
{
    pthread_mutex_lock(&connections.lock);
    while (connections.running >= wait_below)
        pthread_cond_wait(&connections.one_ended, &connections.lock);
    connections.running += change;
    pthread_cond_signal(&connections.one_ended);
    pthread_mutex_unlock(&connections.lock);
}

struct accepted { int fd; char peer[INET6_ADDRSTRLEN + 8]; };

static void *connection_thread(void *arg)
{
    struct accepted *a = arg;
    int on = 1;

    /* Non-blocking, so Part 1 can keep the deadline; no Nagle delay: each message is complete. */
    if (fcntl(a->fd, F_SETFL, O_NONBLOCK) != 0
        || setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0)
        printf("%s cannot set up the socket: %s\n", a->peer, strerror(errno));
    else
        serve_connection(a->fd, a->peer);
    close(a->fd);
    free(a);
    end_tls_in_this_thread();
    count_connections(-1, INT_MAX);
    return NULL;
}

/* Starts a detached thread for the connection; returns 0 (and logs why) when it could not. */
static int start_connection_thread(int fd, const struct sockaddr_storage *address, socklen_t length)
{
    struct accepted *a = malloc(sizeof *a);
    pthread_attr_t attributes;
    pthread_t thread;
    int err = a == NULL ? ENOMEM : pthread_attr_init(&attributes);

    if (err == 0) {
        a->fd = fd;
        describe_peer(address, length, a->peer, sizeof a->peer);
        if ((err = pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED)) == 0
            && (err = pthread_attr_setstacksize(&attributes, THREAD_STACK_SIZE)) == 0)
            err = pthread_create(&thread, &attributes, connection_thread, a);
        pthread_attr_destroy(&attributes);
    }
    if (err != 0) {
        printf("cannot start a thread for a connection: %s; new connections wait a second\n",
               strerror(err));
        free(a);
    }
    return err == 0;
}

/* Until SIGINT or SIGTERM: a thread per connection, so a slow client holds up only itself; at
 * --max-connections, wait for one to end. After a failed accept() or thread start (out of
 * descriptors, memory or threads), pause a second: a log line a second, not one per try. */
static void accept_connections(int listen_fd, int max_connections)
{
    struct pollfd fds[2] = { { listen_fd, POLLIN, 0 }, { stop_pipe[0], POLLIN, 0 } };
    struct sockaddr_storage address;
    socklen_t length;
    int fd;

    for (;;) {
        count_connections(+1, max_connections);
        while (poll(fds, 2, -1) < 0 && errno == EINTR)
            ;
        if (fds[1].revents != 0)
            break;
        length = sizeof address;
        fd = accept(listen_fd, (struct sockaddr *)&address, &length);
        if (fd >= 0 && start_connection_thread(fd, &address, length))
            continue;
        count_connections(-1, INT_MAX);
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                       || errno == ECONNABORTED))
            continue;  /* the client left before we took it: nothing wrong here */
        if (fd < 0)
            printf("accept failed: %s; new connections wait a second\n", strerror(errno));
        else
            close(fd);
        if (poll(&fds[1], 1, 1000) < 0) { /* a signal: look at the stop pipe again */ }
    }
    count_connections(-1, INT_MAX);
    count_connections(0, 1);  /* every connection sees the stop too: wait until all have ended */
}
/* ---------------------------------------------------------------------------------------------
 * HTTP request parsing: a small, strict HTTP/1.x reader
 * ------------------------------------------------------------------------------------------- */

/* Returns the length of the request head including its blank line, or 0 if it is not complete.
 * The first `searched` bytes were looked at before (when fewer had arrived): only the new ones
 * are, plus the 3 before them, where a "\r\n\r\n" may have begun. Searching from the start after
 * every read would cost a client sending one byte per TLS record 8192 * 8192 / 2 steps. */
static size_t end_of_head(const char *data, size_t length, size_t searched)
{
    size_t i;

    for (i = searched > 3 ? searched - 3 : 0; i + 1 < length; i++) {
        if (data[i] == '\n' && data[i + 1] == '\n')
            return i + 2;
        if (i + 3 < length && memcmp(data + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    }
    return 0;
}

static int is_token_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
           || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Splits off one line (ending in LF or CRLF) and returns it NUL-terminated, or NULL at the end. */
static char *next_line(char **cursor, char *end)
{
    char *line = *cursor, *lf = memchr(line, '\n', (size_t)(end - line));

    if (lf == NULL)
        return NULL;
    *cursor = lf + 1;
    if (lf > line && lf[-1] == '\r')
        lf--;
    *lf = '\0';
    return line;
}

/* Parses "METHOD /path HTTP/1.x" and the header lines after it, in place. Returns 200 when the
 * request is well formed, 400 otherwise. Only what this server uses is kept. */
static int parse_request(char *head, size_t length, struct request *request)
{
    char *cursor = head, *end = head + end_of_head(head, length, 0), *line, *p;
    int hosts = 0, http11;

    if (memchr(head, '\0', (size_t)(end - head)) != NULL)
        return 400;
    line = next_line(&cursor, end);
    if (line == NULL)
        return 400;
    request->method = line;
    for (p = line; is_token_char(*p); p++)
        ;
    if (p == line || *p != ' ')
        return 400;
    *p++ = '\0';
    request->path = p;
    if (*p != '/')
        return 400;
    while (*p > ' ' && *p < 0x7f)
        p++;
    if (*p != ' ')
        return 400;
    *p++ = '\0';
    if (strcmp(p, "HTTP/1.1") != 0 && strcmp(p, "HTTP/1.0") != 0)
        return 400;
    http11 = p[7] == '1';
    request->head_only = strcmp(request->method, "HEAD") == 0;

    while ((line = next_line(&cursor, end)) != NULL && *line != '\0') {
        for (p = line; is_token_char(*p); p++)
            ;
        if (p == line || *p != ':')
            return 400;
        for (p++; *p != '\0'; p++)
            if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
                return 400;
        if (strncasecmp(line, "Host:", 5) == 0)
            hosts++;
    }
    /* HTTP/1.1 requires exactly one Host header (RFC 9112, section 3.2). */
    if (http11 && hosts != 1)
        return 400;
    return 200;
}

/* ---------------------------------------------------------------------------------------------
 * Routes, responses and the log line
 * ------------------------------------------------------------------------------------------- */

static void set_body(struct response *response, int status, const char *content_type, const char *body)
{
    response->status = status;
    response->content_type = content_type;
    response->body_length = strlen(body);
    memcpy(response->body, body, response->body_length);
}

/* The sample data of the ASP.NET "weatherforecast" template the articles start from. The numbers
 * are made up, so any randomness will do: rand_r() with a seed from the clock needs no lock. */
static void weather_forecast(struct response *response)
{
    static const char *const summaries[] = { "Freezing", "Bracing", "Chilly", "Cool", "Mild",
                                             "Warm", "Balmy", "Hot", "Sweltering", "Scorching" };
    unsigned int seed = (unsigned int)now_ms();
    size_t used = 1;
    int day;

    set_body(response, 200, "application/json", "[");
    for (day = 1; day <= 5; day++) {
        time_t t = time(NULL) + day * 24 * 60 * 60;
        int celsius = -20 + rand_r(&seed) % 75;
        struct tm date;
        char ymd[16];

        localtime_r(&t, &date);
        strftime(ymd, sizeof ymd, "%Y-%m-%d", &date);
        used += (size_t)snprintf(response->body + used, sizeof response->body - used,
            "%s{\"date\":\"%s\",\"temperatureC\":%d,\"temperatureF\":%d,\"summary\":\"%s\"}",
            day > 1 ? "," : "", ymd, celsius, 32 + (int)(celsius / 0.5556), summaries[rand_r(&seed) % 10]);
    }
    response->body[used++] = ']';
    response->body_length = used;
}

/* A JSON string, quotes included, with quotes, backslashes and control characters escaped; or
 * null. A certificate's names are chosen by whoever made it, so they are escaped like any input. */
static size_t json_string(const char *text, char *out, size_t size)
{
    size_t used = 0;

    if (text == NULL)
        return (size_t)snprintf(out, size, "null");
    out[used++] = '"';
    for (; *text != '\0' && used + 8 < size; text++) {
        if (*text == '"' || *text == '\\')
            used += (size_t)snprintf(out + used, size - used, "\\%c", *text);
        else if ((unsigned char)*text < 0x20)
            used += (size_t)snprintf(out + used, size - used, "\\u%04x", *text);
        else
            out[used++] = *text;
    }
    out[used++] = '"';
    out[used] = '\0';
    return used;
}

/* GET /whoami's answer: the six fields Part 1 found, in this order, as one JSON object. */
static void set_identity(struct response *response, const struct identity *who)
{
    const char *names[] = { "subject", "issuer", "serial", "notBefore", "notAfter", "sha256" };
    const char *values[] = { who->subject, who->issuer, who->serial,
                             who->not_before, who->not_after, who->sha256 };
    size_t used = 0, i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        used += (size_t)snprintf(response->body + used, sizeof response->body - used, "%s\"%s\":",
                                 i == 0 ? "{" : ",", names[i]);
        used += json_string(values[i], response->body + used, sizeof response->body - used - 2);
    }
    response->body[used++] = '}';
    response->status = 200;
    response->content_type = "application/json";
    response->body_length = used;
}

/* Chooses the answer. A status other than 200 means the request was already refused. */
static void route(const struct request *request, struct connection *c, struct response *response)
{
    const char *path = request->path;
    size_t path_length;

    response->extra_header = "";
    if (response->status != 200) {   /* 400 or 431 */
        set_body(response, response->status, "text/plain",
                 response->status == 400 ? "Bad Request\n" : "Request headers too large\n");
        return;
    }
    if (strcmp(request->method, "GET") != 0 && strcmp(request->method, "HEAD") != 0) {
        set_body(response, 405, "text/plain", "Method Not Allowed\n");
        response->extra_header = "Allow: GET, HEAD\r\n";
        return;
    }
    path_length = strcspn(path, "?");  /* the query string plays no part in routing */
    if (path_length == 1 && path[0] == '/')
        set_body(response, 200, "text/plain", "Hello World!");
    else if (path_length == 16 && strncmp(path, "/weatherforecast", 16) == 0)
        weather_forecast(response);
    else if (path_length == 7 && strncmp(path, "/whoami", 7) == 0)
        answer_whoami(c, response);   /* Part 1: what the chapter knows about its client */
    else
        set_body(response, 404, "text/plain", "Not Found\n");
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default:  return "Internal Server Error";
    }
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110); the C locale names days in English. */
static void http_date(char *out, size_t size)
{
    time_t t = time(NULL);
    struct tm now;

    if (gmtime_r(&t, &now) == NULL || strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &now) == 0)
        snprintf(out, size, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* The whole response goes out in one write: one TLS record and one packet, not a dribble. */
static int send_response(struct connection *c, const struct request *request,
                         const struct response *response)
{
    char message[MAX_RESPONSE], date[64];
    int length;

    http_date(date, sizeof date);
    length = snprintf(message, sizeof message,
                      "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "%sConnection: close\r\n\r\n",
                      response->status, status_text(response->status), date,
                      response->content_type, response->body_length, response->extra_header);
    if (length < 0 || (size_t)length + response->body_length > sizeof message) {
        c->failure = "response too large";
        return 0;
    }
    if (!request->head_only) {
        memcpy(message + length, response->body, response->body_length);
        length += (int)response->body_length;
    }
    return tls_write_all(c, message, (size_t)length);
}

/* Copies the request line into out, with anything unprintable replaced, for a safe log line. */
static void printable_request_line(const char *head, size_t length, char *out, size_t size)
{
    size_t i;

    for (i = 0; i < length && i + 1 < size && head[i] != '\r' && head[i] != '\n'; i++)
        out[i] = head[i] >= 0x20 && head[i] < 0x7f && head[i] != '"' ? head[i] : '?';
    out[i] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * main: set up, serve until SIGINT or SIGTERM, shut down cleanly
 * ------------------------------------------------------------------------------------------- */

/* Started with stdin, stdout or stderr closed, a server would hand out 0, 1 or 2 to a socket,
 * and write its log into a client's connection. */
static int open_standard_streams(void)
{
    int fd;

    for (fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    struct options opt = { DEFAULT_PORT, DEFAULT_BIND, DEFAULT_MAX_CONNECTIONS, TLS_FILES_DEFAULTS };
    struct sigaction stop = { .sa_handler = request_stop };
    int listen_fd;

    if (!open_standard_streams())
        return 1;
    if (!parse_command_line(argc, argv, &opt)) {
        usage(stderr);
        return 2;
    }
    /* A client that disconnects while we write must not kill the server with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* Log lines never interleave: one printf() each, written whole at its '\n' under a lock. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    server_ctx = create_server_context(&opt.tls);
    if (server_ctx == NULL)
        return 1;
    listen_fd = open_listening_socket(opt.bind_address, &opt.port);
    if (listen_fd < 0 || pipe(stop_pipe) != 0 || fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK) != 0
        || sigaction(SIGINT, &stop, NULL) != 0 || sigaction(SIGTERM, &stop, NULL) != 0) {
        if (listen_fd >= 0) {
            fprintf(stderr, "server: cannot set up stopping: %s\n", strerror(errno));
            close(listen_fd);
        }
        SSL_CTX_free(server_ctx);
        return 1;
    }
    printf("Listening on https://localhost:%d\n", opt.port);
    accept_connections(listen_fd, opt.max_connections);
    printf("Stopping: %s received\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");

    close(listen_fd);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    SSL_CTX_free(server_ctx);
    return 0;
}
