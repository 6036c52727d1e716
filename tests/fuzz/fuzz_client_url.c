/*
 * libFuzzer target: the chapter 04 client's URL parser, fed any text a user could type.
 *
 * scripts/fuzz.sh builds it with -DCHAPTER_SOURCE='"/path/to/04-client/client.c"'. The chapter's
 * file is included whole with its main() renamed, so this harness calls the chapter's own static
 * functions and the lesson carries no fuzzing code at all.
 *
 * The input is one command-line argument (a NUL-terminated string, so it ends at the first NUL
 * byte, as argv does). The harness does what the client does with it: parse_url(), then, for a URL
 * it accepted, verify_server_name() on a TLS connection (the host goes to SNI and to the name
 * check) and the request line that send_request() would write.
 */

#include <stddef.h>
#include <stdint.h>

#define main chapter_main
#include CHAPTER_SOURCE
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SSL_CTX *fuzz_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_ctx = SSL_CTX_new(TLS_client_method());
    if (fuzz_ctx == NULL)
        abort();
    return 0;
}

/* A broken promise of the parser: crash, so that libFuzzer saves the input. */
#define REQUIRE(condition) do { if (!(condition)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct url url;
    char *text;
    char request[MAX_PATH + 1024];
    const char *p;
    SSL *ssl;
    int length;

    /* Exactly the input and a NUL, so that AddressSanitizer catches a read past them. */
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (parse_url(text, &url) != 0) {
        REQUIRE(url.error != NULL);
        free(text);
        return 0;
    }
    free(text);

    /* What the rest of the client relies on. */
    REQUIRE(url.error == NULL);
    REQUIRE(url.host[0] != '\0' && strlen(url.host) < sizeof url.host);
    REQUIRE(url.port >= 1 && url.port <= 65535 && atoi(url.port_text) == url.port);
    REQUIRE(url.path[0] == '/' && strlen(url.path) < sizeof url.path);
    for (p = url.path; *p != '\0'; p++)
        REQUIRE(*p > ' ' && *p < 0x7f);
    for (p = url.host; *p != '\0'; p++)
        REQUIRE(*p > ' ' && *p < 0x7f && *p != '/' && *p != '?' && *p != '#');

    ssl = SSL_new(fuzz_ctx);
    if (ssl != NULL) {
        /* OpenSSL may refuse a name (for example a too-long label); it must not crash on any. */
        (void)verify_server_name(ssl, &url);
        SSL_free(ssl);
    }
    ERR_clear_error();

    /* send_request() refuses a request that does not fit; a parsed URL always fits. */
    length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: [%s]:%d\r\n"
                      "User-Agent: " USER_AGENT "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                      url.path, url.host, url.port);
    REQUIRE(length > 0 && (size_t)length < sizeof request);
    return 0;
}
