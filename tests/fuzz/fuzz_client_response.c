/*
 * libFuzzer target: the chapter 04 client's HTTP response parser, fed what a hostile server could
 * send.
 *
 * scripts/fuzz.sh builds it with -DCHAPTER_SOURCE='"/path/to/04-client/client.c"'. The chapter's
 * file is included whole with its main() renamed, so this harness calls the chapter's own static
 * functions and the lesson carries no fuzzing code at all.
 *
 * The input is the decrypted byte stream from the server. The harness runs the head-reading loop of
 * read_response() on it: the bytes arrive in pieces into a buffer of MAX_RESPONSE_HEAD bytes, and
 * parse_response_head() runs on all that has arrived after each piece; a 1xx head other than 101
 * is dropped and the next one read; the loop ends with a final head, an invalid one, a full buffer, or the end of
 * the stream. Only the TLS reads are left out. The first piece is 1 to 64 bytes long, chosen by
 * the input's length (so heads split anywhere are tried without a prefix byte in the corpus), and
 * each piece is twice as long as the one before, as a real server's TLS records soon are.
 */

#include <stddef.h>
#include <stdint.h>

#define main chapter_main
#include CHAPTER_SOURCE
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise of the parser: crash, so that libFuzzer saves the input. */
#define REQUIRE(condition) do { if (!(condition)) __builtin_trap(); } while (0)

/* parse_response_head() on a copy of exactly the bytes that arrived, so that AddressSanitizer
 * catches a read past them (the client's buffer is larger). */
static long parse_exactly(const char *data, size_t length, struct response_head *head)
{
    char *copy = malloc(length);
    long head_length;

    if (copy == NULL)
        abort();
    memcpy(copy, data, length);
    head_length = parse_response_head(copy, length, head);
    free(copy);
    return head_length;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buffer[MAX_RESPONSE_HEAD];
    struct response_head head;
    size_t used = 0, taken = 0, piece = 1 + size % 64, got;
    long head_length;
    const char *p;

    for (;;) {
        head_length = used > 0 ? parse_exactly(buffer, used, &head) : 0;
        if (head_length < 0) {
            REQUIRE(head.error != NULL);
            return 0;
        }
        REQUIRE((size_t)head_length <= used);
        if (head_length > 0) {
            /* A complete head: a status from 100 to 999, a status line of visible text. */
            REQUIRE(head.status >= 100 && head.status <= 999);
            REQUIRE(head.content_length >= -1);
            REQUIRE(strlen(head.status_line) < sizeof head.status_line);
            for (p = head.status_line; *p != '\0'; p++)
                REQUIRE((*p >= 0x20 && *p < 0x7f) || *p == '\t');
            if (head.status >= 200 || head.status == 101)
                return 0;  /* the answer, or a 101 the client refuses */
            used -= (size_t)head_length;
            memmove(buffer, buffer + head_length, used);
            continue;
        }
        if (used == sizeof buffer || taken == size)
            return 0;  /* a head too large, or the server closed before finishing it */
        got = size - taken;
        if (got > piece)
            got = piece;
        if (got > sizeof buffer - used)
            got = sizeof buffer - used;
        memcpy(buffer + used, data + taken, got);
        used += got;
        taken += got;
        piece *= 2;
    }
}
