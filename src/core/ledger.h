/* The usage ledger: one interval per pod attempt (from placement to the
 * end; open while the pod holds its devices) with what metering groups by,
 * kept sorted by start so that a query for a month looks only at the
 * intervals that can overlap it. Strings are interned: an entry is 48
 * bytes, so tens of millions of attempts fit in memory. Pure. */
#ifndef GPUAAS_CORE_LEDGER_H
#define GPUAAS_CORE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/hmap.h"

struct core_pod;

struct ledger_entry {
    int64_t start_ms;
    int64_t end_ms;             /* 0: still open (counts up to "now") */
    const struct core_pod *pod; /* the attempt (names, utilisation); may be NULL */
    int32_t milli;              /* milli-GPUs held (meter_device_milli summed) */
    uint32_t ns, node, node_group; /* interned strings */
    uint16_t model, capacity;
};

struct ledger {
    struct ledger_entry *items;
    size_t count, cap;
    char **strings; /* interned: index -> text (owned) */
    size_t string_count, string_cap;
    struct hmap string_index; /* text -> index + 1 */
    int64_t max_len;      /* longest closed interval */
    size_t first_running; /* lowest index of an open interval (count: none) */
    bool unsorted;        /* appended out of order: ledger_sort before relying on the order */
};

/* What one interval is charged to. */
struct ledger_fields {
    const char *ns, *node, *node_group, *model, *capacity;
};

void ledger_init(struct ledger *l);
void ledger_free(struct ledger *l);
/* Adds an interval in start order (end_ms 0: open). 0 or GPUAAS_ENOMEM. */
int ledger_add(struct ledger *l, const struct core_pod *pod, uint64_t pod_id, const struct ledger_fields *f,
               int64_t start_ms, int64_t end_ms, int32_t milli);
/* Appends without keeping the order (restoring); ledger_sort afterwards. */
int ledger_append(struct ledger *l, const struct core_pod *pod, const struct ledger_fields *f, int64_t start_ms,
                  int64_t end_ms, int32_t milli);
void ledger_sort(struct ledger *l);
/* Closes the open interval of (pod, start_ms) at end_ms. GPUAAS_ENOTFOUND if none. */
int ledger_close(struct ledger *l, const struct core_pod *pod, uint64_t pod_id, int64_t start_ms, int64_t end_ms);
const char *ledger_string(const struct ledger *l, uint32_t index);
/* The entries that can overlap [from_ms, to_ms): [*ret_begin, *ret_end). */
void ledger_range(const struct ledger *l, int64_t from_ms, int64_t to_ms, size_t *ret_begin, size_t *ret_end);

#endif
