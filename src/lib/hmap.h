/* String-keyed hash map with open addressing (linear probing).
 * Growing is incremental: the old slot array stays beside the new one and
 * every put or remove moves a bounded number of its entries, so no single
 * call rehashes the whole map (a 200,000-job map took ~20 ms in one go).
 * The map does not own keys or values: a key must stay valid and unchanged
 * while its entry is in the map (usually it points into the value).
 * Pure: no I/O; memory through malloc/free only. */
#ifndef GPUAAS_HMAP_H
#define GPUAAS_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
    const char *key; /* NULL: empty; HMAP_TOMBSTONE: deleted */
    uint64_t hash;
    void *value;
};

struct hmap {
    struct hmap_slot *slots;
    size_t capacity; /* power of two, 0 when empty */
    size_t count;    /* live entries, in both slot arrays */
    size_t used;     /* live + tombstones in slots */
    /* while growing: the previous array, emptied from index `moved` up */
    struct hmap_slot *old_slots;
    size_t old_capacity;
    size_t moved;
};

void hmap_init(struct hmap *map);
/* Frees the slot array only (keys/values belong to the caller). NULL-safe. */
void hmap_free(struct hmap *map);
void *hmap_get(const struct hmap *map, const char *key);
/* Inserts or replaces. Returns 0, or GPUAAS_ENOMEM (map unchanged). */
int hmap_put(struct hmap *map, const char *key, void *value);
/* Removes and returns the value, or NULL if absent. */
void *hmap_remove(struct hmap *map, const char *key);

/* Iteration: for (size_t it = 0; hmap_next(map, &it, &key, &value);) ...
 * The map must not be modified during iteration. */
int hmap_next(const struct hmap *map, size_t *iter, const char **ret_key, void **ret_value);

#endif
