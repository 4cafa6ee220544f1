/* The client's HTTP transport (libcurl): one request per call, no
 * connection reuse, hard limits on time and reply size. */
#ifndef GPUAAS_CLI_HTTP_CLIENT_H
#define GPUAAS_CLI_HTTP_CLIENT_H

#include <stddef.h>

#define HTTP_MAX_REPLY (64u << 20)     /* reply bodies above this are refused */
#define HTTP_CONNECT_TIMEOUT_S 5L
#define HTTP_TOTAL_TIMEOUT_S 60L
#define HTTP_MAX_HEADERS (64u << 10)   /* header bytes kept per reply; more are dropped */

struct http_reply {
    long status;    /* HTTP status code */
    char *body;     /* NUL-terminated, malloc'd, owned by the reply; may hold
                     * any bytes (a text/plain log), len says how many */
    size_t len;     /* bytes in body, excluding the NUL */
    char *headers;  /* the final response's header lines ("Name: value\r\n"...),
                     * NUL-terminated, malloc'd, owned by the reply */
};

/* Why a request got no HTTP reply (the return value of http_request). */
enum http_fail {
    HTTP_FAIL_NONE = 0,
    HTTP_FAIL_UNREACHABLE, /* connect refused, DNS, timeout, reset: exit 3 */
    HTTP_FAIL_BAD_URL,     /* malformed URL or protocol: a usage error */
    HTTP_FAIL_TOO_LARGE,   /* reply body over HTTP_MAX_REPLY */
    HTTP_FAIL_OTHER,       /* out of memory, TLS setup, ... */
};

/* Send `method` to base_url + path_query (path_query starts with '/').
 * token may be NULL (no Authorization header). accept is the Accept header's
 * value (NULL: application/json). body may be NULL; when it is set it is
 * sent as application/json. On HTTP_FAIL_NONE *ret is filled and must be
 * released with http_reply_free(); otherwise detail (if not NULL) holds a
 * one-line reason. */
enum http_fail http_request(const char *base_url, const char *token, const char *method, const char *path_query,
                            const char *accept, const char *body, size_t body_len, struct http_reply *ret,
                            char *detail, size_t detail_size);

void http_reply_free(struct http_reply *reply);

/* The value of header `name` (case-insensitive) in a block of header lines
 * as kept in http_reply.headers, blanks around it trimmed, copied to out
 * (cut to size). Returns out, or NULL when the header is absent. The first
 * occurrence wins. */
const char *http_header_find(const char *headers, const char *name, char *out, size_t size);

/* http_header_find() on a reply. */
const char *http_reply_header(const struct http_reply *reply, const char *name, char *out, size_t size);

/* Percent-encode text for a URL path segment or query value: unreserved
 * characters stay, '/' stays when keep_slash. Returns a malloc'd string
 * owned by the caller, or NULL when out of memory. */
char *http_escape(const char *text, int keep_slash);

#endif
