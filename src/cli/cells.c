#include "cli/cells.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/output.h"
#include "gpuaas/error.h"

/* Appending into a fixed buffer; once something does not fit the text ends
 * in "..." and later appends are dropped. */
struct sbuf {
    char *p;
    size_t size;
    size_t len;
    bool cut;
};

static void sb_init(struct sbuf *b, char *out, size_t size)
{
    *b = (struct sbuf){.p = out, .size = size};
    if (size)
        out[0] = '\0';
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->cut || b->size == 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < b->size - b->len) {
        b->len += (size_t)n;
        return;
    }
    b->cut = true;
    b->len = b->size - 1;
    if (b->size >= 4)
        memcpy(b->p + b->size - 4, "...", 4);
    else
        b->p[b->len] = '\0';
}

static const char *sb_result(const struct sbuf *b) { return b->size && b->p[0] ? b->p : NULL; }

static bool state_in(const char *state, const char *const *names, size_t count)
{
    for (size_t i = 0; state && i < count; i++)
        if (strcmp(state, names[i]) == 0)
            return true;
    return false;
}

bool cli_pod_state_final(const char *state)
{
    static const char *const final[] = {"Succeeded", "Failed", "Killed", "Lost"};
    return state_in(state, final, sizeof final / sizeof final[0]);
}

bool cli_job_state_final(const char *state)
{
    static const char *const final[] = {"Succeeded", "Failed", "Cancelled"};
    return state_in(state, final, sizeof final / sizeof final[0]);
}

int cli_format_bytes(int64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    double v = (double)bytes;
    size_t unit = 0;
    int n;

    if (bytes < 0)
        return GPUAAS_EINVAL;
    if (bytes == 0)
        n = snprintf(out, size, "0");
    else if (bytes < 1024)
        n = snprintf(out, size, "%" PRId64 "B", bytes);
    else {
        v /= 1024;
        while (v >= 1023.95 && unit + 1 < sizeof units / sizeof units[0]) {
            v /= 1024;
            unit++;
        }
        /* one decimal, without a trailing ".0" */
        char num[32];
        size_t len;
        snprintf(num, sizeof num, "%.1f", v);
        len = strlen(num);
        if (len > 2 && strcmp(num + len - 2, ".0") == 0)
            num[len - 2] = '\0';
        n = snprintf(out, size, "%s%s", num, units[unit]);
    }
    if (n < 0 || (size_t)n >= size)
        return GPUAAS_ETOOBIG;
    return n;
}

const char *cli_pod_devices(const json_t *pod, char *out, size_t size)
{
    const json_t *dev;
    struct sbuf b;
    size_t i;

    sb_init(&b, out, size);
    json_array_foreach(json_object_get(pod, "gpus"), i, dev)
    {
        const char *profile = json_string_value(json_object_get(dev, "mig_profile"));
        const char *uuid = json_string_value(json_object_get(dev, "uuid"));
        const json_t *milli = json_object_get(dev, "milli");

        if (b.len)
            sb_printf(&b, ",");
        if (profile)
            sb_printf(&b, "%s", profile);
        else
            sb_printf(&b, "%.*s", CLI_UUID_SHORT, uuid ? uuid : "?");
        if (!profile && json_is_integer(milli) && json_integer_value(milli) > 0 && json_integer_value(milli) < 1000)
            sb_printf(&b, ":%" JSON_INTEGER_FORMAT "m", json_integer_value(milli));
    }
    return sb_result(&b);
}

static const char *signal_name(json_int_t sig)
{
    static const struct {
        int number;
        const char *name;
    } names[] = {
        {1, "SIGHUP"},   {2, "SIGINT"},   {3, "SIGQUIT"}, {4, "SIGILL"},   {6, "SIGABRT"},  {7, "SIGBUS"},
        {8, "SIGFPE"},   {9, "SIGKILL"},  {10, "SIGUSR1"}, {11, "SIGSEGV"}, {12, "SIGUSR2"}, {13, "SIGPIPE"},
        {14, "SIGALRM"}, {15, "SIGTERM"}, {24, "SIGXCPU"}, {25, "SIGXFSZ"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].number == sig)
            return names[i].name;
    return NULL;
}

const char *cli_pod_exit(const json_t *pod, char *out, size_t size)
{
    const json_t *code = json_object_get(pod, "exit_code");
    json_int_t sig = json_integer_value(json_object_get(pod, "exit_signal"));
    const char *name;

    if (size == 0)
        return NULL;
    if (json_is_true(json_object_get(pod, "oom_killed")))
        snprintf(out, size, "OOMKilled");
    else if (sig > 0 && (name = signal_name(sig)))
        snprintf(out, size, "%s", name);
    else if (sig > 0)
        snprintf(out, size, "SIG%" JSON_INTEGER_FORMAT, sig);
    else if (json_is_integer(code))
        snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(code));
    else
        return NULL;
    return out;
}

const char *cli_pod_duration(const json_t *pod, int64_t now, char *out, size_t size)
{
    const json_t *duration = json_object_get(pod, "duration_s");
    const char *started = json_string_value(json_object_get(pod, "started_at"));
    const char *ended = json_string_value(json_object_get(pod, "ended_at"));
    int64_t seconds, t;

    if (json_is_number(duration) && json_number_value(duration) >= 0)
        seconds = (int64_t)json_number_value(duration);
    else if (started && !ended && rfc3339_parse(started, &t) == 0)
        seconds = now - t;
    else
        return NULL;
    if (format_age(seconds, out, size) < 0)
        return NULL;
    return out;
}

const char *cli_holder_text(const json_t *holder, char *out, size_t size)
{
    const char *ns = json_string_value(json_object_get(holder, "namespace"));
    const char *job = json_string_value(json_object_get(holder, "job"));
    const json_t *replica = json_object_get(holder, "replica");
    struct sbuf b;

    if (!json_is_object(holder))
        return NULL;
    sb_init(&b, out, size);
    sb_printf(&b, "%s/%s", ns ? ns : "?", job ? job : "?");
    if (json_is_integer(replica))
        sb_printf(&b, "[r%" JSON_INTEGER_FORMAT "]", json_integer_value(replica));
    return sb_result(&b);
}

const char *cli_gpu_allocated_to(const json_t *gpu, char *out, size_t size)
{
    const json_t *shares = json_object_get(gpu, "shares");
    const json_t *migs = json_object_get(gpu, "mig_devices"), *item;
    json_int_t milli = 0;
    size_t i, held = 0;

    if (json_is_object(json_object_get(gpu, "allocated_to")))
        return cli_holder_text(json_object_get(gpu, "allocated_to"), out, size);
    if (size == 0)
        return NULL;
    if (json_array_size(shares) > 0) {
        json_array_foreach(shares, i, item) {
            milli += json_integer_value(json_object_get(item, "milli"));
        }
        snprintf(out, size, "%zu share%s: %" JSON_INTEGER_FORMAT "m", json_array_size(shares),
                 json_array_size(shares) == 1 ? "" : "s", milli);
        return out;
    }
    json_array_foreach(migs, i, item) {
        if (json_is_object(json_object_get(item, "allocated_to")))
            held++;
    }
    if (held > 0) {
        snprintf(out, size, "%zu/%zu slices", held, json_array_size(migs));
        return out;
    }
    return NULL;
}

const char *cli_gpu_mig_devices(const json_t *gpu, char *out, size_t size)
{
    const json_t *dev;
    char holder[CLI_UUID_SHORT + 256];
    struct sbuf b;
    size_t i;

    sb_init(&b, out, size);
    json_array_foreach(json_object_get(gpu, "mig_devices"), i, dev)
    {
        const char *profile = json_string_value(json_object_get(dev, "profile"));
        const char *who = cli_holder_text(json_object_get(dev, "allocated_to"), holder, sizeof holder);
        sb_printf(&b, "%s%s:%s", b.len ? "," : "", profile ? profile : "?", who ? who : "free");
    }
    return sb_result(&b);
}

const char *cli_gpu_shares(const json_t *gpu, char *out, size_t size)
{
    const json_t *share;
    char holder[256];
    struct sbuf b;
    size_t i;

    sb_init(&b, out, size);
    json_array_foreach(json_object_get(gpu, "shares"), i, share)
    {
        const char *who = cli_holder_text(json_object_get(share, "allocated_to"), holder, sizeof holder);
        sb_printf(&b, "%s%" JSON_INTEGER_FORMAT "m:%s", b.len ? "," : "",
                  json_integer_value(json_object_get(share, "milli")), who ? who : "?");
    }
    return sb_result(&b);
}

/* A live number, or "-". */
static const char *live(const json_t *v, const char *fmt_unit, char *out, size_t size)
{
    if (size == 0)
        return NULL;
    if (json_is_number(v))
        snprintf(out, size, "%.0f%s", json_number_value(v), fmt_unit);
    else
        snprintf(out, size, "-");
    return out;
}

const char *cli_gpu_util(const json_t *gpu, char *out, size_t size)
{
    return live(json_object_get(gpu, "utilization_pct"), "%", out, size);
}

const char *cli_gpu_temperature(const json_t *gpu, char *out, size_t size)
{
    return live(json_object_get(gpu, "temperature_c"), "C", out, size);
}

const char *cli_gpu_power(const json_t *gpu, char *out, size_t size)
{
    return live(json_object_get(gpu, "power_w"), "W", out, size);
}

const char *cli_gpu_memory_used(const json_t *gpu, char *out, size_t size)
{
    const json_t *used = json_object_get(gpu, "memory_used_bytes");
    const char *total = json_string_value(json_object_get(gpu, "memory"));
    char used_text[64] = "-";

    if (!used || json_is_null(used))
        used = json_object_get(gpu, "memory_used");
    if (json_is_string(used))
        snprintf(used_text, sizeof used_text, "%s", json_string_value(used));
    else if (json_is_number(used) && json_number_value(used) >= 0 &&
             cli_format_bytes((int64_t)json_number_value(used), used_text, sizeof used_text) < 0)
        snprintf(used_text, sizeof used_text, "-");
    if (size == 0)
        return NULL;
    if (total)
        snprintf(out, size, "%s/%s", used_text, total);
    else
        snprintf(out, size, "%s", used_text);
    return out;
}
