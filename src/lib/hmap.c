#include "lib/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

static const char hmap_tombstone_mark;
#define HMAP_TOMBSTONE (&hmap_tombstone_mark)

/* FNV-1a: fast and deterministic. Key counts are bounded by tenant limits,
 * so adversarial collisions cost time proportional to those limits only. */
static uint64_t hmap_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

void hmap_init(struct hmap *map) { memset(map, 0, sizeof *map); }

void hmap_free(struct hmap *map)
{
    if (!map)
        return;
    free(map->slots);
    memset(map, 0, sizeof *map);
}

static struct hmap_slot *hmap_find(const struct hmap *map, const char *key, uint64_t hash)
{
    if (map->capacity == 0)
        return NULL;
    size_t mask = map->capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct hmap_slot *slot = &map->slots[i];
        if (!slot->key)
            return NULL;
        if (slot->key != HMAP_TOMBSTONE && slot->hash == hash && strcmp(slot->key, key) == 0)
            return slot;
    }
}

static int hmap_resize(struct hmap *map, size_t capacity)
{
    struct hmap_slot *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return GPUAAS_ENOMEM;
    for (size_t i = 0; i < map->capacity; i++) {
        struct hmap_slot *old = &map->slots[i];
        if (!old->key || old->key == HMAP_TOMBSTONE)
            continue;
        size_t j = old->hash & (capacity - 1);
        while (slots[j].key)
            j = (j + 1) & (capacity - 1);
        slots[j] = *old;
    }
    free(map->slots);
    map->slots = slots;
    map->capacity = capacity;
    map->used = map->count;
    return 0;
}

void *hmap_get(const struct hmap *map, const char *key)
{
    struct hmap_slot *slot = hmap_find(map, key, hmap_hash(key));
    return slot ? slot->value : NULL;
}

int hmap_put(struct hmap *map, const char *key, void *value)
{
    uint64_t hash = hmap_hash(key);
    struct hmap_slot *slot = hmap_find(map, key, hash);
    if (slot) {
        slot->key = key;
        slot->value = value;
        return 0;
    }
    /* keep the load (tombstones included) under 3/4 */
    if ((map->used + 1) * 4 >= map->capacity * 3) {
        size_t capacity = map->capacity ? map->capacity : 16;
        while ((map->count + 1) * 2 >= capacity)
            capacity *= 2;
        int r = hmap_resize(map, capacity);
        if (r < 0)
            return r;
    }
    size_t mask = map->capacity - 1;
    size_t i = hash & mask;
    while (map->slots[i].key && map->slots[i].key != HMAP_TOMBSTONE)
        i = (i + 1) & mask;
    if (!map->slots[i].key)
        map->used++;
    map->slots[i] = (struct hmap_slot){.key = key, .hash = hash, .value = value};
    map->count++;
    return 0;
}

void *hmap_remove(struct hmap *map, const char *key)
{
    struct hmap_slot *slot = hmap_find(map, key, hmap_hash(key));
    if (!slot)
        return NULL;
    void *value = slot->value;
    slot->key = HMAP_TOMBSTONE;
    slot->value = NULL;
    map->count--;
    return value;
}

int hmap_next(const struct hmap *map, size_t *iter, const char **ret_key, void **ret_value)
{
    for (size_t i = *iter; i < map->capacity; i++) {
        const struct hmap_slot *slot = &map->slots[i];
        if (slot->key && slot->key != HMAP_TOMBSTONE) {
            *iter = i + 1;
            if (ret_key)
                *ret_key = slot->key;
            if (ret_value)
                *ret_value = slot->value;
            return 1;
        }
    }
    *iter = map->capacity;
    return 0;
}
