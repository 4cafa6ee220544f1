#include "cli/http_client.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GPUAAS_VERSION
#define GPUAAS_VERSION "0.1.0"
#endif

struct sink {
    char *buf;
    size_t len;
    size_t cap;
    bool too_large;
    bool no_memory;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;

    if (n > HTTP_MAX_REPLY - s->len) {
        s->too_large = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *grown;
        while (cap < s->len + n + 1)
            cap *= 2;
        grown = realloc(s->buf, cap);
        if (!grown) {
            s->no_memory = true;
            return 0;
        }
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* Header lines of the final response: a new status line ("HTTP/1.1 100
 * Continue", then "HTTP/1.1 200 OK") starts the block over. */
struct header_sink {
    char *buf;
    size_t len;
    size_t cap;
    bool no_memory;
};

static size_t header_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct header_sink *h = userdata;
    size_t n = size * nmemb;

    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        h->len = 0;
    if (h->len + n + 1 > HTTP_MAX_HEADERS)
        return n; /* keep what fits; a header this late is not one we read */
    if (h->len + n + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        char *grown;
        while (cap < h->len + n + 1)
            cap *= 2;
        grown = realloc(h->buf, cap);
        if (!grown) {
            h->no_memory = true;
            return 0;
        }
        h->buf = grown;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    h->buf[h->len] = '\0';
    return n;
}

const char *http_header_find(const char *headers, const char *name, char *out, size_t size)
{
    size_t name_len = strlen(name);
    const char *line = headers;

    if (!headers || size == 0)
        return NULL;
    while (*line) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        if ((size_t)(end - line) > name_len && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *v = line + name_len + 1;
            size_t len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            len = (size_t)(end - v);
            if (len >= size)
                len = size - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return NULL;
}

const char *http_reply_header(const struct http_reply *reply, const char *name, char *out, size_t size)
{
    return reply ? http_header_find(reply->headers, name, out, size) : NULL;
}

char *http_escape(const char *text, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(text);
    char *out = malloc(len * 3 + 1), *p = out;

    if (!out)
        return NULL;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("-._~", *s) || (keep_slash && *s == '/')) {
            *p++ = (char)*s;
        } else {
            *p++ = '%';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 0xF];
        }
    }
    *p = '\0';
    return out;
}

static enum http_fail classify(CURLcode code, const struct sink *s)
{
    switch (code) {
    case CURLE_OK:
        return HTTP_FAIL_NONE;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (s->no_memory)
            return HTTP_FAIL_OTHER;
        return HTTP_FAIL_TOO_LARGE;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return HTTP_FAIL_BAD_URL;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
        return HTTP_FAIL_OTHER;
    default:
        /* refused, unresolvable, timed out, reset, TLS handshake: the
         * server could not be reached or did not answer */
        return HTTP_FAIL_UNREACHABLE;
    }
}

enum http_fail http_request(const char *base_url, const char *token, const char *method, const char *path_query,
                            const char *accept, const char *body, size_t body_len, struct http_reply *ret,
                            char *detail, size_t detail_size)
{
    enum http_fail fail = HTTP_FAIL_OTHER;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct sink sink = {0};
    struct header_sink hsink = {0};
    struct curl_slist *headers = NULL, *grown;
    char *url = NULL, *auth = NULL, *accept_line = NULL;
    size_t base_len = strlen(base_url);
    CURL *curl = NULL;
    CURLcode code;
    long status = 0;

    if (detail && detail_size)
        detail[0] = '\0';
    while (base_len > 0 && base_url[base_len - 1] == '/')
        base_len--;
    if (asprintf(&url, "%.*s%s", (int)base_len, base_url, path_query) < 0) {
        url = NULL;
        goto out;
    }
    curl = curl_easy_init();
    if (!curl)
        goto out;

    if (asprintf(&accept_line, "Accept: %s", accept ? accept : "application/json") < 0) {
        accept_line = NULL;
        goto out;
    }
    grown = curl_slist_append(headers, accept_line);
    if (!grown)
        goto out;
    headers = grown;
    if (body) {
        grown = curl_slist_append(headers, "Content-Type: application/json");
        if (!grown)
            goto out;
        headers = grown;
    }
    if (token) {
        if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
            auth = NULL;
            goto out;
        }
        grown = curl_slist_append(headers, auth);
        if (!grown)
            goto out;
        headers = grown;
    }

    curl_easy_setopt(curl, CURLOPT_URL, url);
    /* send "a/../b" as typed, so the server rejects it instead of curl
     * silently addressing another object */
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "gpuaas-cli/" GPUAAS_VERSION);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, HTTP_TOTAL_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_REPLY);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_write);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &hsink);
    if (strcmp(method, "GET") != 0) {
        if (strcmp(method, "POST") == 0) {
            curl_easy_setopt(curl, CURLOPT_POST, 1L);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        } else {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
            if (body) {
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            }
        }
    }

    code = curl_easy_perform(curl);
    fail = classify(code, &sink);
    if (fail != HTTP_FAIL_NONE && hsink.no_memory)
        fail = HTTP_FAIL_OTHER;
    if (fail != HTTP_FAIL_NONE) {
        if (detail && detail_size)
            snprintf(detail, detail_size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(code));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (!sink.buf)
        sink.buf = strdup("");
    if (!hsink.buf)
        hsink.buf = strdup("");
    if (!sink.buf || !hsink.buf) {
        fail = HTTP_FAIL_OTHER;
        goto out;
    }
    ret->status = status;
    ret->body = sink.buf;
    ret->len = sink.len;
    ret->headers = hsink.buf;
    sink.buf = NULL;
    hsink.buf = NULL;

out:
    if (fail == HTTP_FAIL_OTHER && detail && detail_size && !detail[0])
        snprintf(detail, detail_size, "out of memory");
    free(sink.buf);
    free(hsink.buf);
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    free(accept_line);
    free(auth);
    free(url);
    return fail;
}

void http_reply_free(struct http_reply *reply)
{
    if (!reply)
        return;
    free(reply->body);
    free(reply->headers);
    reply->body = NULL;
    reply->headers = NULL;
    reply->len = 0;
}
