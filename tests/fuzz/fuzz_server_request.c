/*
 * libFuzzer target: a chapter server's HTTP request reader, fed what a hostile client could send.
 *
 * scripts/fuzz.sh builds it once per server chapter with -DCHAPTER_SOURCE='"/path/to/server.c"'.
 * The chapter's file is included whole with its main() renamed, so this harness calls the chapter's
 * own static functions and the lesson carries no fuzzing code at all.
 *
 * The input is the decrypted bytes the client sent. The harness does what serve_connection() does
 * with them once read_request_head() has returned: at most MAX_REQUEST_HEAD bytes, a NUL after
 * them; a head without its blank line is a 431 when that many arrived (else the connection ended:
 * no request); then printable_request_line() for the log, parse_request() when the head is
 * complete, and route(). Only send_response() is left out: it needs a live TLS connection.
 */

#include <stddef.h>
#include <stdint.h>

#define main chapter_main
#include CHAPTER_SOURCE
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* route() reads the client's verdict from the connection's SSL (chapter 03), so it gets a real,
 * unconnected one: its verify result is X509_V_OK, as for a trusted client. */
static SSL_CTX *fuzz_ctx;
static SSL *fuzz_ssl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_ctx = SSL_CTX_new(TLS_server_method());
    fuzz_ssl = fuzz_ctx != NULL ? SSL_new(fuzz_ctx) : NULL;
    if (fuzz_ssl == NULL)
        abort();
    return 0;
}

/* A broken promise of the parser: crash, so that libFuzzer saves the input. */
#define REQUIRE(condition) do { if (!(condition)) __builtin_trap(); } while (0)

/* /whoami describes the client's certificate, and an unconnected SSL has none; in the server,
 * chapters 02 and 03 never get this far without one. */
static int is_whoami(const char *path)
{
    return strncmp(path, "/whoami", 7) == 0 && (path[7] == '\0' || path[7] == '?');
}

/* serve_connection() from the point where read_request_head() has returned with status 200
 * (head complete) or 431 (buffer full), with the checks the rest of the server relies on. */
static void serve_head(char *head, size_t length, int status)
{
    char request_line[256];
    struct connection c;
    struct request request = { NULL, NULL, 0 };
    struct response response;
    const char *p;

    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.ssl = fuzz_ssl;
    response.status = status;
    printable_request_line(head, length, request_line, sizeof request_line);
    REQUIRE(strlen(request_line) < sizeof request_line);
    for (p = request_line; *p != '\0'; p++)
        REQUIRE(*p >= 0x20 && *p < 0x7f && *p != '"');

    if (response.status == 200) {
        response.status = parse_request(head, length, &request);
        REQUIRE(response.status == 200 || response.status == 400);
    }
    if (response.status == 200) {
        /* What route() relies on: a method made of token characters, and a path that starts
         * with / and holds nothing but visible ASCII. */
        REQUIRE(request.method != NULL && request.method[0] != '\0');
        for (p = request.method; *p != '\0'; p++)
            REQUIRE(is_token_char(*p));
        REQUIRE(request.path != NULL && request.path[0] == '/');
        for (p = request.path; *p != '\0'; p++)
            REQUIRE(*p > ' ' && *p < 0x7f);
        REQUIRE(request.head_only == (strcmp(request.method, "HEAD") == 0));
        if (is_whoami(request.path))
            return;
    }
    route(&request, &c, &response);
    REQUIRE(response.body_length <= sizeof response.body);
    REQUIRE(response.content_type != NULL && response.extra_header != NULL);
    REQUIRE(response.status >= 200 && response.status <= 599);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The server's buffer holds MAX_REQUEST_HEAD + 1 bytes; this one holds exactly what arrived
     * and its NUL, so that AddressSanitizer catches a read past them. */
    size_t length = size < MAX_REQUEST_HEAD ? size : MAX_REQUEST_HEAD;
    char *head = malloc(length + 1);

    if (head == NULL)
        return 0;
    memcpy(head, data, length);
    head[length] = '\0';
    /* read_request_head() searches each new piece (and the 3 bytes before it) as it arrives:
     * arriving in pieces of any size must find the end exactly where one search of the whole
     * head does. The first byte picks the size of the pieces. */
    if (length > 0) {
        size_t piece = (unsigned char)head[0] % 16 + 1, seen = 0, found = 0;

        while (found == 0 && seen < length) {
            size_t now = seen + piece < length ? seen + piece : length;

            found = end_of_head(head, now, seen);
            seen = now;
        }
        REQUIRE(found == end_of_head(head, length, 0));
    }
    if (end_of_head(head, length, 0) != 0)
        serve_head(head, length, 200);
    else if (length == MAX_REQUEST_HEAD)
        serve_head(head, length, 431);
    /* else the client closed before its head was complete: nothing is parsed */
    free(head);
    return 0;
}
