/* Filtered, paged job lists and job counts (see joblist.h). */
#include "core/joblist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpuaas/error.h"
#include "lib/hmap.h"

#define JOB_STATE_COUNT (JOB_CANCELLED + 1)
#define CONTINUE_PREFIX "j1."

/* ---- which jobs match ----------------------------------------------------------- */

/* The namespace decision (subtree and visibility) is made once per
 * namespace: a cache keyed by the jobs' own namespace strings. */
static char cache_yes, cache_no;

struct matcher {
    const char *prefix;
    unsigned states;
    joblist_keep_fn *keep;
    void *keep_arg;
    struct hmap seen; /* namespace path -> &cache_yes / &cache_no */
    const char *last_ns;
    bool last_ok;
};

static void matcher_init(struct matcher *m, const char *prefix, unsigned states, joblist_keep_fn *keep, void *arg)
{
    *m = (struct matcher){.prefix = prefix && *prefix ? prefix : NULL, .states = states, .keep = keep,
                          .keep_arg = arg};
    hmap_init(&m->seen);
}

/* 1 match, 0 no match, GPUAAS_ENOMEM */
static int matcher_test(struct matcher *m, const struct core_job *job)
{
    if (m->states && !(m->states & (1u << job->state)))
        return 0;
    if (!m->prefix && !m->keep)
        return 1;
    const char *ns = job->spec.namespace_path;
    if (m->last_ns && strcmp(m->last_ns, ns) == 0)
        return m->last_ok;
    const char *hit = hmap_get(&m->seen, ns);
    bool ok;
    if (hit) {
        ok = hit == &cache_yes;
    } else {
        ok = (!m->prefix || names_namespace_within(ns, m->prefix)) && (!m->keep || m->keep(ns, m->keep_arg));
        if (hmap_put(&m->seen, ns, ok ? &cache_yes : &cache_no) < 0)
            return GPUAAS_ENOMEM;
    }
    m->last_ns = ns;
    m->last_ok = ok;
    return ok;
}

static void matcher_free(struct matcher *m) { hmap_free(&m->seen); }

/* ---- a page: the `limit` smallest ids above after_id ------------------------------ */

/* A max-heap on id of at most cap jobs. */
struct page_heap {
    const struct core_job **jobs;
    size_t count, cap;
};

static void heap_sift_down(struct page_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < h->count && h->jobs[l]->id > h->jobs[top]->id)
            top = l;
        if (r < h->count && h->jobs[r]->id > h->jobs[top]->id)
            top = r;
        if (top == i)
            return;
        const struct core_job *tmp = h->jobs[i];
        h->jobs[i] = h->jobs[top];
        h->jobs[top] = tmp;
        i = top;
    }
}

static void heap_offer(struct page_heap *h, const struct core_job *job)
{
    if (h->count < h->cap) {
        size_t i = h->count++;
        h->jobs[i] = job;
        while (i > 0 && h->jobs[(i - 1) / 2]->id < h->jobs[i]->id) {
            const struct core_job *tmp = h->jobs[i];
            h->jobs[i] = h->jobs[(i - 1) / 2];
            h->jobs[(i - 1) / 2] = tmp;
            i = (i - 1) / 2;
        }
    } else if (job->id < h->jobs[0]->id) {
        h->jobs[0] = job;
        heap_sift_down(h, 0);
    }
}

static int cmp_job_id(const void *a, const void *b)
{
    uint64_t x = (*(const struct core_job *const *)a)->id, y = (*(const struct core_job *const *)b)->id;
    return x < y ? -1 : x > y;
}

int joblist_page(const struct core_state *st, const struct joblist_query *q, json_t **ret)
{
    if (q->limit < 1 || q->limit > JOBLIST_LIMIT_MAX)
        return GPUAAS_EINVAL;
    struct matcher m;
    matcher_init(&m, q->prefix, q->states, q->keep, q->keep_arg);
    size_t cap = q->limit < st->jobs.count ? q->limit : st->jobs.count;
    struct page_heap heap = {.jobs = malloc((cap ? cap : 1) * sizeof *heap.jobs), .cap = cap};
    json_t *items = NULL, *list = NULL;
    size_t total = 0, after = 0;
    int r = GPUAAS_ENOMEM;
    void *value;
    if (!heap.jobs)
        goto out;
    for (size_t it = 0; hmap_next(&st->jobs, &it, NULL, &value);) {
        const struct core_job *job = value;
        int match = matcher_test(&m, job);
        if (match < 0)
            goto out;
        if (!match)
            continue;
        total++;
        if (job->id <= q->after_id)
            continue;
        after++;
        if (heap.cap)
            heap_offer(&heap, job);
    }
    /* only the page is rendered */
    qsort(heap.jobs, heap.count, sizeof *heap.jobs, cmp_job_id);
    if (!(items = json_array()))
        goto out;
    for (size_t i = 0; i < heap.count; i++)
        if (json_array_append_new(items, core_render_job(heap.jobs[i])) < 0)
            goto out;
    size_t remaining = after - heap.count;
    list = json_pack("{s:O,s:I,s:I,s:I}", "items", items, "count", (json_int_t)heap.count, "total",
                     (json_int_t)total, "remaining", (json_int_t)remaining);
    if (!list)
        goto out;
    if (remaining > 0 && heap.count > 0) {
        char token[JOBLIST_CONTINUE_MAX];
        joblist_format_continue(heap.jobs[heap.count - 1]->id, token, sizeof token);
        if (json_object_set_new(list, "continue", json_string(token)) < 0)
            goto out;
    }
    *ret = list;
    list = NULL;
    r = 0;
out:
    json_decref(list);
    json_decref(items);
    free(heap.jobs);
    matcher_free(&m);
    return r;
}

/* ---- counts ------------------------------------------------------------------------ */

struct ns_count {
    const char *ns; /* points into a job's spec */
    bool shown;     /* in the subtree and visible */
    int64_t by_state[JOB_STATE_COUNT];
    int64_t total;
};

static int cmp_ns_count(const void *a, const void *b)
{
    return strcmp((*(const struct ns_count *const *)a)->ns, (*(const struct ns_count *const *)b)->ns);
}

/* {["namespace",] "total", "by_state"}; ns NULL: the overall counts */
static json_t *render_counts(const char *ns, const int64_t *by_state, int64_t total)
{
    json_t *states = json_object(), *obj = json_object();
    int failed = !states || !obj;
    for (int s = 0; states && s < JOB_STATE_COUNT; s++)
        failed |= json_object_set_new(states, core_job_state_name((enum job_state)s), json_integer(by_state[s]));
    if (ns && obj)
        failed |= json_object_set_new(obj, "namespace", json_string(ns));
    if (obj) {
        failed |= json_object_set_new(obj, "total", json_integer(total));
        failed |= json_object_set(obj, "by_state", states);
    }
    json_decref(states);
    if (failed) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int joblist_summary(const struct core_state *st, const char *prefix, joblist_keep_fn *keep, void *keep_arg,
                    json_t **ret)
{
    struct matcher m;
    struct hmap groups;
    struct ns_count **sorted = NULL;
    int64_t by_state[JOB_STATE_COUNT] = {0}, total = 0;
    json_t *namespaces = NULL, *summary = NULL;
    int r = GPUAAS_ENOMEM;
    void *value;
    matcher_init(&m, prefix, 0, keep, keep_arg);
    hmap_init(&groups);
    /* one look-up per job: the group remembers whether it is shown */
    for (size_t it = 0; hmap_next(&st->jobs, &it, NULL, &value);) {
        const struct core_job *job = value;
        struct ns_count *g = hmap_get(&groups, job->spec.namespace_path);
        if (!g) {
            int match = matcher_test(&m, job);
            if (match < 0 || !(g = calloc(1, sizeof *g)))
                goto out;
            g->ns = job->spec.namespace_path;
            g->shown = match;
            if (hmap_put(&groups, g->ns, g) < 0) {
                free(g);
                goto out;
            }
        }
        if (!g->shown)
            continue;
        g->by_state[job->state]++;
        g->total++;
        by_state[job->state]++;
        total++;
    }
    if (!(sorted = malloc((groups.count ? groups.count : 1) * sizeof *sorted)))
        goto out;
    size_t n = 0;
    for (size_t it = 0; hmap_next(&groups, &it, NULL, &value);)
        if (((struct ns_count *)value)->shown)
            sorted[n++] = value;
    qsort(sorted, n, sizeof *sorted, cmp_ns_count);
    if (!(namespaces = json_array()))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(namespaces, render_counts(sorted[i]->ns, sorted[i]->by_state, sorted[i]->total)) < 0)
            goto out;
    }
    if (!(summary = render_counts(NULL, by_state, total)) || json_object_set(summary, "namespaces", namespaces) < 0)
        goto out;
    *ret = summary;
    summary = NULL;
    r = 0;
out:
    json_decref(summary);
    json_decref(namespaces);
    free(sorted);
    for (size_t it = 0; hmap_next(&groups, &it, NULL, &value);)
        free(value);
    hmap_free(&groups);
    matcher_free(&m);
    return r;
}

/* ---- parameters -------------------------------------------------------------------- */

int joblist_parse_states(const char *text, unsigned *ret_states, char *why, size_t why_size)
{
    unsigned states = 0;
    size_t len = strlen(text);
    if (len == 0 || len > JOBLIST_STATES_TEXT_MAX) {
        snprintf(why, why_size, "expected a comma-separated list of job states (at most %d characters)",
                 JOBLIST_STATES_TEXT_MAX);
        return GPUAAS_EINVAL;
    }
    for (const char *p = text;;) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (int s = 0; s < JOB_STATE_COUNT && !found; s++) {
            const char *name = core_job_state_name((enum job_state)s);
            if (n == strlen(name) && strncasecmp(p, name, n) == 0) {
                states |= 1u << s;
                found = true;
            }
        }
        if (!found) {
            snprintf(why, why_size,
                     "unknown job state '%.*s' (expected Pending, Running, Succeeded, Failed or Cancelled, "
                     "comma-separated)",
                     (int)(n > 32 ? 32 : n), p);
            return GPUAAS_EINVAL;
        }
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    *ret_states = states;
    return 0;
}

void joblist_format_continue(uint64_t last_id, char *out, size_t size)
{
    snprintf(out, size, CONTINUE_PREFIX "%" PRIx64, last_id);
}

int joblist_parse_continue(const char *token, uint64_t *ret_after_id)
{
    size_t plen = strlen(CONTINUE_PREFIX), len = strlen(token);
    if (len <= plen || len > plen + 16 || strncmp(token, CONTINUE_PREFIX, plen) != 0)
        return GPUAAS_EINVAL;
    uint64_t id = 0;
    for (const char *p = token + plen; *p; p++) {
        int digit = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (digit < 0)
            return GPUAAS_EINVAL;
        id = id << 4 | (uint64_t)digit;
    }
    if (id == 0)
        return GPUAAS_EINVAL;
    *ret_after_id = id;
    return 0;
}
