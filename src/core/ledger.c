#include "core/ledger.h"

#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "gpuaas/error.h"

void ledger_init(struct ledger *l)
{
    memset(l, 0, sizeof *l);
    hmap_init(&l->string_index);
}

void ledger_free(struct ledger *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->string_count; i++)
        free(l->strings[i]);
    free(l->strings);
    free(l->items);
    hmap_free(&l->string_index);
    memset(l, 0, sizeof *l);
}

const char *ledger_string(const struct ledger *l, uint32_t index)
{
    return index < l->string_count ? l->strings[index] : "";
}

static int intern(struct ledger *l, const char *text, uint32_t *ret)
{
    if (!text)
        text = "";
    size_t found = (size_t)(uintptr_t)hmap_get(&l->string_index, text);
    if (found) {
        *ret = (uint32_t)(found - 1);
        return 0;
    }
    if (l->string_count >= UINT32_MAX - 1)
        return GPUAAS_ELIMIT;
    if (l->string_count == l->string_cap) {
        size_t cap = l->string_cap ? l->string_cap * 2 : 64;
        char **grown = realloc(l->strings, cap * sizeof *grown);
        if (!grown)
            return GPUAAS_ENOMEM;
        l->strings = grown;
        l->string_cap = cap;
    }
    char *copy = strdup(text);
    if (!copy || hmap_put(&l->string_index, copy, (void *)(uintptr_t)(l->string_count + 1)) < 0) {
        free(copy);
        return GPUAAS_ENOMEM;
    }
    l->strings[l->string_count] = copy;
    *ret = (uint32_t)l->string_count++;
    return 0;
}

static int make_entry(struct ledger *l, const struct core_pod *pod, const struct ledger_fields *f, int64_t start_ms,
                      int64_t end_ms, int32_t milli, struct ledger_entry *e)
{
    uint32_t model, capacity;
    memset(e, 0, sizeof *e);
    int r;
    if ((r = intern(l, f->ns, &e->ns)) < 0 || (r = intern(l, f->node, &e->node)) < 0 ||
        (r = intern(l, f->node_group, &e->node_group)) < 0 || (r = intern(l, f->model, &model)) < 0 ||
        (r = intern(l, f->capacity, &capacity)) < 0)
        return r;
    if (model > UINT16_MAX || capacity > UINT16_MAX)
        return GPUAAS_ELIMIT; /* models and capacity types are few; the table is shared with names */
    e->model = (uint16_t)model;
    e->capacity = (uint16_t)capacity;
    e->start_ms = start_ms;
    e->end_ms = end_ms;
    e->pod = pod;
    e->milli = milli;
    return 0;
}

static int grow(struct ledger *l)
{
    if (l->count < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 1024;
    struct ledger_entry *grown = realloc(l->items, cap * sizeof *grown);
    if (!grown)
        return GPUAAS_ENOMEM;
    l->items = grown;
    l->cap = cap;
    return 0;
}

static uint64_t entry_id(const struct ledger_entry *e) { return e->pod ? e->pod->id : 0; }

/* Order: start, then pod id (deterministic). */
static int cmp_key(int64_t start, uint64_t id, const struct ledger_entry *e)
{
    if (start != e->start_ms)
        return start < e->start_ms ? -1 : 1;
    uint64_t other = entry_id(e);
    return id < other ? -1 : id > other;
}

/* First index whose start is >= start_ms. */
static size_t lower_bound(const struct ledger *l, int64_t start_ms)
{
    size_t lo = 0, hi = l->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->items[mid].start_ms < start_ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void note_closed(struct ledger *l, const struct ledger_entry *e)
{
    if (e->end_ms && e->end_ms - e->start_ms > l->max_len)
        l->max_len = e->end_ms - e->start_ms;
}

int ledger_add(struct ledger *l, const struct core_pod *pod, uint64_t pod_id, const struct ledger_fields *f,
               int64_t start_ms, int64_t end_ms, int32_t milli)
{
    struct ledger_entry e;
    int r;
    if ((r = make_entry(l, pod, f, start_ms, end_ms, milli, &e)) < 0 || (r = grow(l)) < 0)
        return r;
    if (l->unsorted)
        ledger_sort(l);
    /* almost always at the end: time only moves forward */
    size_t pos = l->count;
    while (pos > 0 && cmp_key(start_ms, pod_id, &l->items[pos - 1]) < 0)
        pos = pos > 64 ? lower_bound(l, start_ms) : pos - 1;
    while (pos < l->count && cmp_key(start_ms, pod_id, &l->items[pos]) > 0)
        pos++;
    memmove(l->items + pos + 1, l->items + pos, (l->count - pos) * sizeof *l->items);
    l->items[pos] = e;
    l->count++;
    if (end_ms == 0 && pos <= l->first_running)
        l->first_running = pos;
    else if (pos <= l->first_running)
        l->first_running++;
    note_closed(l, &e);
    return 0;
}

int ledger_append(struct ledger *l, const struct core_pod *pod, const struct ledger_fields *f, int64_t start_ms,
                  int64_t end_ms, int32_t milli)
{
    struct ledger_entry e;
    int r;
    if ((r = make_entry(l, pod, f, start_ms, end_ms, milli, &e)) < 0 || (r = grow(l)) < 0)
        return r;
    if (l->count && cmp_key(start_ms, entry_id(&e), &l->items[l->count - 1]) < 0)
        l->unsorted = true;
    bool none_open = l->first_running == l->count;
    l->items[l->count++] = e;
    if (none_open && end_ms != 0)
        l->first_running = l->count;
    note_closed(l, &e);
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct ledger_entry *x = a;
    return cmp_key(x->start_ms, entry_id(x), b);
}

void ledger_sort(struct ledger *l)
{
    if (l->count > 1)
        qsort(l->items, l->count, sizeof *l->items, cmp_entry);
    l->unsorted = false;
    l->max_len = 0;
    l->first_running = l->count;
    for (size_t i = 0; i < l->count; i++) {
        note_closed(l, &l->items[i]);
        if (l->items[i].end_ms == 0 && l->first_running == l->count)
            l->first_running = i;
    }
}

int ledger_close(struct ledger *l, const struct core_pod *pod, uint64_t pod_id, int64_t start_ms, int64_t end_ms)
{
    if (l->unsorted)
        ledger_sort(l);
    for (size_t i = lower_bound(l, start_ms); i < l->count && l->items[i].start_ms == start_ms; i++) {
        struct ledger_entry *e = &l->items[i];
        if (e->end_ms != 0 || (e->pod != pod && entry_id(e) != pod_id))
            continue;
        e->end_ms = end_ms > start_ms ? end_ms : start_ms;
        note_closed(l, e);
        while (l->first_running < l->count && l->items[l->first_running].end_ms != 0)
            l->first_running++;
        return 0;
    }
    return GPUAAS_ENOTFOUND;
}

void ledger_range(const struct ledger *l, int64_t from_ms, int64_t to_ms, size_t *ret_begin, size_t *ret_end)
{
    if (l->unsorted) {
        *ret_begin = 0;
        *ret_end = l->count;
        return;
    }
    /* a closed interval starting before from - max_len ended before from */
    size_t begin = lower_bound(l, from_ms - l->max_len);
    if (l->first_running < begin)
        begin = l->first_running;
    *ret_begin = begin;
    *ret_end = lower_bound(l, to_ms);
}
