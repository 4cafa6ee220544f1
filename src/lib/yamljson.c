#include "lib/yamljson.h"

#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

/* ---- plain scalar typing (YAML 1.2 core schema) ---------------------- */

enum plain_kind { PLAIN_STRING, PLAIN_NULL, PLAIN_TRUE, PLAIN_FALSE, PLAIN_INT, PLAIN_FLOAT, PLAIN_NONFINITE };

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_octal(char c) { return c >= '0' && c <= '7'; }

static bool span_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* True when all of s[from..len) satisfy `pred` and there is at least one. */
static bool all_of(const char *s, size_t from, size_t len, bool (*pred)(char))
{
    if (from >= len)
        return false;
    for (size_t i = from; i < len; i++)
        if (!pred(s[i]))
            return false;
    return true;
}

/* [-+]? ( '.' [0-9]+ | [0-9]+ ( '.' [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_core_float(const char *s, size_t len)
{
    size_t i = 0, mant_digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && is_digit(s[i]))
        i++, mant_digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit(s[i]))
            i++, mant_digits++;
    }
    if (mant_digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        if (!all_of(s, i, len, is_digit))
            return false;
        i = len;
    }
    return i == len;
}

static enum plain_kind classify_plain(const char *s, size_t len)
{
    if (len == 0 || span_is(s, len, "~") || span_is(s, len, "null") || span_is(s, len, "Null") ||
        span_is(s, len, "NULL"))
        return PLAIN_NULL;
    if (span_is(s, len, "true") || span_is(s, len, "True") || span_is(s, len, "TRUE"))
        return PLAIN_TRUE;
    if (span_is(s, len, "false") || span_is(s, len, "False") || span_is(s, len, "FALSE"))
        return PLAIN_FALSE;
    size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (all_of(s, sign, len, is_digit))
        return PLAIN_INT;
    if (len > 2 && s[0] == '0' && s[1] == 'o' && all_of(s, 2, len, is_octal))
        return PLAIN_INT;
    if (len > 2 && s[0] == '0' && s[1] == 'x' && all_of(s, 2, len, is_hex))
        return PLAIN_INT;
    if (is_core_float(s, len))
        return PLAIN_FLOAT;
    const char *rest = s + sign;
    size_t rlen = len - sign;
    if (span_is(rest, rlen, ".inf") || span_is(rest, rlen, ".Inf") || span_is(rest, rlen, ".INF") ||
        span_is(s, len, ".nan") || span_is(s, len, ".NaN") || span_is(s, len, ".NAN"))
        return PLAIN_NONFINITE;
    return PLAIN_STRING;
}

static int hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* Converts text already classified PLAIN_INT; fails rather than wrapping
 * when the value does not fit int64. */
static int parse_core_int(const char *s, size_t len, int64_t *ret_value)
{
    unsigned base = 10;
    size_t i = 0;
    bool negative = false;
    if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        i = 2;
    } else if (s[0] == '-' || s[0] == '+') {
        negative = s[0] == '-';
        i = 1;
    }
    /* Accumulate in magnitude; INT64_MIN's magnitude is INT64_MAX + 1. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned)hex_value(s[i]);
        if (v > (limit - d) / base)
            return GPUAAS_EINVAL;
        v = v * base + d;
    }
    if (negative)
        *ret_value = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *ret_value = (int64_t)v;
    return 0;
}

/* strtod in the "C" locale, so a process-wide setlocale() cannot change
 * what "1.5" means. `s` must be NUL-terminated and match is_core_float. */
static int parse_core_float(const char *s, double *ret_value)
{
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0)
        return GPUAAS_ENOMEM;
    char *end = NULL;
    errno = 0;
    double v = strtod_l(s, &end, c_locale);
    freelocale(c_locale);
    if (!end || *end != '\0' || !isfinite(v))
        return GPUAAS_EINVAL;
    *ret_value = v;
    return 0;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
 * jansson requires it; checking first tells bad input apart from ENOMEM. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) {
        *ret_cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *ret_cp = cp;
    return n;
}

static bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* ---- parsing ---------------------------------------------------------- */

struct parse_ctx {
    struct fy_parser *fyp;
    struct fy_diag *diag;
    struct yamljson_error *err;
};

/* Records the first error only: later ones are usually consequences. */
static int vfail_at(struct parse_ctx *ctx, int rc, int line, int column, const char *fmt, va_list ap)
{
    if (ctx->err && ctx->err->message[0] == '\0') {
        vsnprintf(ctx->err->message, sizeof ctx->err->message, fmt, ap);
        ctx->err->line = line > 0 ? line : 0;
        ctx->err->column = column > 0 ? column : 0;
    }
    return rc;
}

static int fail_at(struct parse_ctx *ctx, int rc, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(struct parse_ctx *ctx, int rc, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(ctx, rc, line, column, fmt, ap);
    va_end(ap);
    return rc;
}

/* A rejection at mark `m`. libfyaml marks are 0-based; an empty plain
 * scalar or an implicit document start has none (position 0 = unknown). */
static int vfail_mark(struct parse_ctx *ctx, const struct fy_mark *m, const char *fmt, va_list ap)
{
    return vfail_at(ctx, GPUAAS_EPARSE, m ? m->line + 1 : 0, m ? m->column + 1 : 0, fmt, ap);
}

static int fail_ev(struct parse_ctx *ctx, struct fy_event *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_ev(struct parse_ctx *ctx, struct fy_event *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_mark(ctx, fy_event_start_mark(ev), fmt, ap);
    va_end(ap);
    return GPUAAS_EPARSE;
}

/* Like fail_ev but at a token inside the event (an anchor or a tag). */
static int fail_tok(struct parse_ctx *ctx, struct fy_event *ev, struct fy_token *tok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_tok(struct parse_ctx *ctx, struct fy_event *ev, struct fy_token *tok, const char *fmt, ...)
{
    const struct fy_mark *m = fy_token_start_mark(tok);
    va_list ap;
    va_start(ap, fmt);
    vfail_mark(ctx, m ? m : fy_event_start_mark(ev), fmt, ap);
    va_end(ap);
    return GPUAAS_EPARSE;
}

/* The parser stopped: report the first diagnostic it collected (its
 * line/column are already 1-based). */
static int fail_from_diag(struct parse_ctx *ctx)
{
    void *iter = NULL;
    struct fy_diag_error *de;
    while ((de = fy_diag_errors_iterate(ctx->diag, &iter)) != NULL) {
        if (de->type >= FYET_ERROR && de->msg)
            return fail_at(ctx, GPUAAS_EPARSE, de->line, de->column, "%s", de->msg);
    }
    return fail_at(ctx, GPUAAS_EPARSE, 0, 0, "invalid YAML");
}

static int next_event(struct parse_ctx *ctx, struct fy_event **ret_ev)
{
    struct fy_event *ev = fy_parser_parse(ctx->fyp);
    if (!ev)
        return fail_from_diag(ctx);
    *ret_ev = ev;
    return 0;
}

static void free_event(struct parse_ctx *ctx, struct fy_event *ev) { fy_parser_event_free(ctx->fyp, ev); }

/* Anchors and tags would make YAML mean more than JSON can; refuse them. */
static int check_props(struct parse_ctx *ctx, struct fy_event *ev, struct fy_token *anchor, struct fy_token *tag)
{
    if (anchor)
        return fail_tok(ctx, ev, anchor, "anchors are not supported");
    if (tag)
        return fail_tok(ctx, ev, tag, "tags are not supported");
    return 0;
}

static int scalar_to_json(struct parse_ctx *ctx, struct fy_event *ev, json_t **ret_json)
{
    struct fy_token *tok = ev->scalar.value;
    size_t len = 0;
    const char *text = fy_token_get_text(tok, &len);
    json_t *j = NULL;
    if (!text) {
        text = "";
        len = 0;
    }
    enum plain_kind kind = fy_token_scalar_style(tok) == FYSS_PLAIN ? classify_plain(text, len) : PLAIN_STRING;
    switch (kind) {
    case PLAIN_NULL:
        j = json_null();
        break;
    case PLAIN_TRUE:
        j = json_true();
        break;
    case PLAIN_FALSE:
        j = json_false();
        break;
    case PLAIN_INT: {
        int64_t v;
        if (parse_core_int(text, len, &v) < 0)
            return fail_ev(ctx, ev, "integer out of range: %.*s", (int)(len > 40 ? 40 : len), text);
        j = json_integer((json_int_t)v);
        break;
    }
    case PLAIN_FLOAT: {
        const char *z = fy_token_get_text0(tok);
        double v;
        if (!z)
            return fail_at(ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
        int r = parse_core_float(z, &v);
        if (r == GPUAAS_ENOMEM)
            return fail_at(ctx, r, 0, 0, "out of memory");
        if (r < 0)
            return fail_ev(ctx, ev, "number out of range: %.*s", (int)(len > 40 ? 40 : len), text);
        j = json_real(v);
        break;
    }
    case PLAIN_NONFINITE:
        return fail_ev(ctx, ev, "infinite and NaN numbers are not supported");
    case PLAIN_STRING:
        if (!utf8_valid(text, len))
            return fail_ev(ctx, ev, "invalid UTF-8 in string");
        j = json_stringn(text, len);
        break;
    }
    if (!j)
        return fail_at(ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
    *ret_json = j;
    return 0;
}

static int build_node(struct parse_ctx *ctx, struct fy_event *ev, int depth, json_t **ret_json);

static int build_sequence(struct parse_ctx *ctx, int depth, json_t **ret_json)
{
    int r = 0;
    json_t *arr = json_array();
    if (!arr)
        return fail_at(ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
    for (;;) {
        struct fy_event *ev;
        json_t *item;
        r = next_event(ctx, &ev);
        if (r < 0)
            goto out;
        if (ev->type == FYET_SEQUENCE_END) {
            free_event(ctx, ev);
            break;
        }
        r = build_node(ctx, ev, depth, &item);
        if (r < 0)
            goto out;
        if (json_array_append_new(arr, item) < 0) {
            r = fail_at(ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
            goto out;
        }
    }
    *ret_json = arr;
    arr = NULL;
out:
    json_decref(arr);
    return r;
}

static int build_mapping(struct parse_ctx *ctx, int depth, json_t **ret_json)
{
    int r = 0;
    struct fy_event *key_ev = NULL;
    json_t *obj = json_object();
    if (!obj)
        return fail_at(ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
    for (;;) {
        json_t *value;
        r = next_event(ctx, &key_ev);
        if (r < 0)
            goto out;
        if (key_ev->type == FYET_MAPPING_END)
            break;
        if (key_ev->type == FYET_ALIAS) {
            r = fail_ev(ctx, key_ev, "aliases are not supported");
            goto out;
        }
        if (key_ev->type != FYET_SCALAR) {
            r = fail_ev(ctx, key_ev, "mapping keys must be scalars");
            goto out;
        }
        r = check_props(ctx, key_ev, key_ev->scalar.anchor, key_ev->scalar.tag);
        if (r < 0)
            goto out;
        size_t klen = 0;
        const char *ktext = fy_token_get_text(key_ev->scalar.value, &klen);
        if (!ktext) {
            ktext = "";
            klen = 0;
        }
        /* Keys become C strings in jansson: no NUL, valid UTF-8. */
        if (memchr(ktext, '\0', klen) || !utf8_valid(ktext, klen)) {
            r = fail_ev(ctx, key_ev, "invalid mapping key");
            goto out;
        }
        const char *key = klen ? fy_token_get_text0(key_ev->scalar.value) : "";
        if (!key) {
            r = fail_at(ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
            goto out;
        }
        if (json_object_get(obj, key)) {
            r = fail_ev(ctx, key_ev, "duplicate key \"%.64s\"", key);
            goto out;
        }
        struct fy_event *value_ev;
        r = next_event(ctx, &value_ev);
        if (r < 0)
            goto out;
        r = build_node(ctx, value_ev, depth, &value);
        if (r < 0)
            goto out;
        if (json_object_set_new(obj, key, value) < 0) {
            r = fail_at(ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
            goto out;
        }
        free_event(ctx, key_ev);
        key_ev = NULL;
    }
    *ret_json = obj;
    obj = NULL;
out:
    if (key_ev)
        free_event(ctx, key_ev);
    json_decref(obj);
    return r;
}

/* Converts the node that starts with `ev` (consumed here) and everything
 * nested in it. `depth` counts the collections around it. */
static int build_node(struct parse_ctx *ctx, struct fy_event *ev, int depth, json_t **ret_json)
{
    int r;
    switch (ev->type) {
    case FYET_SCALAR:
        r = check_props(ctx, ev, ev->scalar.anchor, ev->scalar.tag);
        if (r == 0)
            r = scalar_to_json(ctx, ev, ret_json);
        break;
    case FYET_SEQUENCE_START:
    case FYET_MAPPING_START: {
        bool seq = ev->type == FYET_SEQUENCE_START;
        r = seq ? check_props(ctx, ev, ev->sequence_start.anchor, ev->sequence_start.tag)
                : check_props(ctx, ev, ev->mapping_start.anchor, ev->mapping_start.tag);
        if (r < 0)
            break;
        if (depth + 1 > YAMLJSON_MAX_DEPTH) {
            r = fail_ev(ctx, ev, "nesting deeper than %d levels", YAMLJSON_MAX_DEPTH);
            break;
        }
        r = seq ? build_sequence(ctx, depth + 1, ret_json) : build_mapping(ctx, depth + 1, ret_json);
        break;
    }
    case FYET_ALIAS:
        r = fail_ev(ctx, ev, "aliases are not supported");
        break;
    default:
        r = fail_ev(ctx, ev, "unexpected YAML event");
        break;
    }
    free_event(ctx, ev);
    return r;
}

/* Takes the next event and requires it to be of `type`. */
static int expect_event(struct parse_ctx *ctx, enum fy_event_type type, const char *what)
{
    struct fy_event *ev;
    int r = next_event(ctx, &ev);
    if (r < 0)
        return r;
    if (ev->type != type)
        r = fail_ev(ctx, ev, "%s", what);
    free_event(ctx, ev);
    return r;
}

/* libfyaml silently drops a stream that starts with invalid UTF-8 and
 * passes raw control characters through, so screen the bytes first. */
static int check_input(struct parse_ctx *ctx, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    int line = 1, column = 1;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return fail_at(ctx, GPUAAS_EPARSE, line, column, "invalid UTF-8");
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f)
            return fail_at(ctx, GPUAAS_EPARSE, line, column, "control character U+%04X not allowed", (unsigned)cp);
        if (cp == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
        i += n;
    }
    return 0;
}

/* Collects diagnostics instead of printing them: a request body must never
 * write to the server's stderr. */
static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

int yamljson_parse(const char *text, size_t len, json_t **ret_json, struct yamljson_error *err)
{
    struct parse_ctx ctx = {.err = err};
    struct fy_event *ev = NULL;
    json_t *root = NULL;
    int r;

    if (err)
        err->message[0] = '\0';
    if (!text) {
        text = "";
        len = 0;
    }

    r = check_input(&ctx, text, len);
    if (r < 0)
        goto out;

    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.colorize = false;
    ctx.diag = fy_diag_create(&dcfg);
    if (!ctx.diag) {
        r = fail_at(&ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
        goto out;
    }
    fy_diag_set_collect_errors(ctx.diag, true);

    struct fy_parse_cfg pcfg = {
        .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE,
        .diag = ctx.diag,
    };
    ctx.fyp = fy_parser_create(&pcfg);
    if (!ctx.fyp || fy_parser_set_string(ctx.fyp, text, len) != 0) {
        r = fail_at(&ctx, GPUAAS_ENOMEM, 0, 0, "out of memory");
        goto out;
    }

    r = expect_event(&ctx, FYET_STREAM_START, "invalid YAML stream");
    if (r < 0)
        goto out;
    r = next_event(&ctx, &ev);
    if (r < 0)
        goto out;
    if (ev->type != FYET_DOCUMENT_START) {
        r = fail_at(&ctx, GPUAAS_EPARSE, 0, 0, "empty YAML document");
        goto out;
    }
    free_event(&ctx, ev);
    ev = NULL;

    r = next_event(&ctx, &ev);
    if (r < 0)
        goto out;
    r = build_node(&ctx, ev, 0, &root);
    ev = NULL;
    if (r < 0)
        goto out;

    r = expect_event(&ctx, FYET_DOCUMENT_END, "invalid YAML document end");
    if (r < 0)
        goto out;
    r = next_event(&ctx, &ev);
    if (r < 0)
        goto out;
    if (ev->type == FYET_DOCUMENT_START) {
        /* An implicit start ("...\nb: 2") has no position: point at the
         * second document's first node instead. */
        struct fy_event *content = fy_event_start_mark(ev) ? NULL : fy_parser_parse(ctx.fyp);
        r = fail_ev(&ctx, content ? content : ev, "only one YAML document is allowed");
        if (content)
            free_event(&ctx, content);
        goto out;
    }
    if (ev->type != FYET_STREAM_END) {
        r = fail_ev(&ctx, ev, "invalid YAML stream end");
        goto out;
    }

    *ret_json = root;
    root = NULL;
    r = 0;
out:
    if (ev)
        free_event(&ctx, ev);
    json_decref(root);
    if (ctx.fyp)
        fy_parser_destroy(ctx.fyp);
    if (ctx.diag)
        fy_diag_destroy(ctx.diag);
    return r;
}

/* ---- emitting --------------------------------------------------------- */

struct buf {
    char *data;
    size_t len, cap;
    bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_indent(struct buf *b, int n)
{
    for (int i = 0; i < n; i++)
        buf_add(b, " ", 1);
}

/* YAML 1.1 readers (PyYAML, old tooling) would turn these into booleans,
 * sexagesimal numbers or dates; quoting them costs nothing here. */
static bool looks_like_yaml11(const char *s, size_t len)
{
    static const char *const words[] = {"y",  "Y",  "yes", "Yes", "YES", "n",  "N",   "no",
                                        "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (span_is(s, len, words[i]))
            return true;
    if (!is_digit(s[0]) && s[0] != '+' && s[0] != '-' && s[0] != '.')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]) && !strchr(":._+-eE", s[i]))
            return false;
    return true;
}

/* Plain style only when it reads back as the same string everywhere:
 * ASCII, no indicator at the start, no ": " or " #", and not something
 * the core schema would type as null/bool/number. */
static bool plain_ok(const char *s, size_t len)
{
    if (len == 0 || classify_plain(s, len) != PLAIN_STRING)
        return false;
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]))
        return false;
    /* "..." at the start of a line ends the document. */
    if (len >= 2 && s[0] == '.' && s[1] == '.')
        return false;
    if (s[len - 1] == ' ' || s[len - 1] == ':')
        return false;
    if (span_is(s, len, "<<") || looks_like_yaml11(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            return false;
        if (c == ':' && i + 1 < len && s[i + 1] == ' ')
            return false;
        if (c == '#' && i > 0 && s[i - 1] == ' ')
            return false;
    }
    return true;
}

/* Double-quoted with escapes for everything YAML would not keep verbatim,
 * so any JSON string (newlines, NUL, control characters) survives. */
static int emit_quoted(struct buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    char tmp[16];
    buf_add(b, "\"", 1);
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return GPUAAS_EINVAL;
        switch (cp) {
        case '"':
            buf_puts(b, "\\\"");
            break;
        case '\\':
            buf_puts(b, "\\\\");
            break;
        case '\0':
            buf_puts(b, "\\0");
            break;
        case '\t':
            buf_puts(b, "\\t");
            break;
        case '\n':
            buf_puts(b, "\\n");
            break;
        case '\r':
            buf_puts(b, "\\r");
            break;
        default:
            /* C0/C1 controls, DEL, YAML 1.1 line breaks, BOM, non-characters. */
            if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
                snprintf(tmp, sizeof tmp, "\\x%02" PRIX32, cp);
                buf_puts(b, tmp);
            } else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe || cp == 0xffff) {
                snprintf(tmp, sizeof tmp, "\\u%04" PRIX32, cp);
                buf_puts(b, tmp);
            } else {
                buf_add(b, s + i, n);
            }
            break;
        }
        i += n;
    }
    buf_add(b, "\"", 1);
    return 0;
}

static int emit_string(struct buf *b, const char *s, size_t len)
{
    if (plain_ok(s, len)) {
        buf_add(b, s, len);
        return 0;
    }
    return emit_quoted(b, s, len);
}

/* Shortest "%.*g" that reads back to the same double, printed in the "C"
 * locale, and always with '.' or an exponent so it stays a float. */
static int emit_real(struct buf *b, double v)
{
    char tmp[48];
    if (!isfinite(v))
        return GPUAAS_EINVAL;
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0)
        return GPUAAS_ENOMEM;
    locale_t old = uselocale(c_locale);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod_l(tmp, NULL, c_locale) == v)
            break;
    }
    /* %g turns whole numbers like 1000 into "1e+03"; spell those out. */
    const char *e = strchr(tmp, 'e');
    if (e) {
        int exp10 = atoi(e + 1);
        if (exp10 >= 0 && exp10 < 17)
            snprintf(tmp, sizeof tmp, "%.*g", exp10 + 1, v);
    }
    uselocale(old);
    freelocale(c_locale);
    if (!strpbrk(tmp, ".eE"))
        strcat(tmp, ".0");
    buf_puts(b, tmp);
    return 0;
}

static int emit_scalar(struct buf *b, const json_t *j)
{
    char tmp[32];
    switch (json_typeof(j)) {
    case JSON_NULL:
        buf_puts(b, "null");
        return 0;
    case JSON_TRUE:
        buf_puts(b, "true");
        return 0;
    case JSON_FALSE:
        buf_puts(b, "false");
        return 0;
    case JSON_INTEGER:
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        buf_puts(b, tmp);
        return 0;
    case JSON_REAL:
        return emit_real(b, json_real_value(j));
    case JSON_STRING:
        return emit_string(b, json_string_value(j), json_string_length(j));
    case JSON_OBJECT:
        buf_puts(b, "{}");
        return 0;
    case JSON_ARRAY:
        buf_puts(b, "[]");
        return 0;
    }
    return GPUAAS_EINVAL;
}

/* Non-empty collections go on their own lines; everything else inline. */
static bool is_block(const json_t *j)
{
    return (json_is_object(j) && json_object_size(j) > 0) || (json_is_array(j) && json_array_size(j) > 0);
}

/* YAML caps implicit keys at 1024 characters; longer ones use "? key". */
#define IMPLICIT_KEY_MAX 1000

static int emit_block(struct buf *b, const json_t *j, int indent, bool inline_first, int depth);

/* Writes ": value" or ":\n<block>" after a key. */
static int emit_map_value(struct buf *b, const json_t *v, int indent, int depth)
{
    if (is_block(v)) {
        buf_puts(b, ":\n");
        return emit_block(b, v, indent + 2, false, depth);
    }
    buf_puts(b, ": ");
    int r = emit_scalar(b, v);
    buf_puts(b, "\n");
    return r;
}

static int emit_mapping(struct buf *b, const json_t *obj, int indent, bool inline_first, int depth)
{
    const char *key;
    size_t key_len;
    json_t *v;
    bool first = true;
    json_object_keylen_foreach((json_t *)obj, key, key_len, v)
    {
        if (!(first && inline_first))
            buf_indent(b, indent);
        first = false;
        struct buf kb = {0};
        int r = emit_string(&kb, key, key_len);
        if (r == 0 && kb.failed)
            r = GPUAAS_ENOMEM;
        if (r == 0) {
            if (kb.len > IMPLICIT_KEY_MAX) {
                buf_puts(b, "? ");
                buf_add(b, kb.data, kb.len);
                buf_puts(b, "\n");
                buf_indent(b, indent);
            } else {
                buf_add(b, kb.data, kb.len);
            }
            r = emit_map_value(b, v, indent, depth);
        }
        free(kb.data);
        if (r < 0)
            return r;
    }
    return 0;
}

static int emit_sequence(struct buf *b, const json_t *arr, int indent, bool inline_first, int depth)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        int r;
        if (!(i == 0 && inline_first))
            buf_indent(b, indent);
        buf_puts(b, "- ");
        if (is_block(v)) {
            r = emit_block(b, v, indent + 2, true, depth);
        } else {
            r = emit_scalar(b, v);
            buf_puts(b, "\n");
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* `inline_first`: the caller already wrote "- " on the current line. */
static int emit_block(struct buf *b, const json_t *j, int indent, bool inline_first, int depth)
{
    /* Deeper output could not be read back; this also stops cycles. */
    if (depth >= YAMLJSON_MAX_DEPTH)
        return GPUAAS_EINVAL;
    if (json_is_object(j))
        return emit_mapping(b, j, indent, inline_first, depth + 1);
    return emit_sequence(b, j, indent, inline_first, depth + 1);
}

char *yamljson_emit(const json_t *json)
{
    struct buf b = {0};
    int r;
    if (!json)
        return NULL;
    if (is_block(json)) {
        r = emit_block(&b, json, 0, false, 0);
    } else {
        r = emit_scalar(&b, json);
        buf_puts(&b, "\n");
    }
    if (r < 0 || b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
