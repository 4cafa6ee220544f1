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
    free(map->old_slots);
    memset(map, 0, sizeof *map);
}

static struct hmap_slot *slots_find(struct hmap_slot *slots, size_t capacity, const char *key, uint64_t hash)
{
    if (capacity == 0)
        return NULL;
    size_t mask = capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct hmap_slot *slot = &slots[i];
        if (!slot->key)
            return NULL;
        if (slot->key != HMAP_TOMBSTONE && slot->hash == hash && strcmp(slot->key, key) == 0)
            return slot;
    }
}

static struct hmap_slot *hmap_find(const struct hmap *map, const char *key, uint64_t hash)
{
    struct hmap_slot *slot = slots_find(map->slots, map->capacity, key, hash);
    if (!slot && map->old_slots)
        slot = slots_find(map->old_slots, map->old_capacity, key, hash);
    return slot;
}

/* Places an entry known to be absent into the current array (which has room). */
static void slots_insert(struct hmap *map, const struct hmap_slot *entry)
{
    size_t mask = map->capacity - 1;
    size_t i = entry->hash & mask;
    while (map->slots[i].key && map->slots[i].key != HMAP_TOMBSTONE)
        i = (i + 1) & mask;
    if (!map->slots[i].key)
        map->used++;
    map->slots[i] = *entry;
}

/* Old slots emptied per put or remove while growing. The new array is at
 * least as large as the old one and starts at most half full, so the old
 * one is empty after old_capacity / HMAP_MOVE_SLOTS calls, before the new
 * one passes 3/4 full (1/2 + 1/32). */
#define HMAP_MOVE_SLOTS 32

static void hmap_move_some(struct hmap *map, size_t max_slots)
{
    size_t left = map->old_capacity - map->moved;
    size_t end = map->moved + (max_slots < left ? max_slots : left);
    while (map->moved < end) {
        struct hmap_slot *old = &map->old_slots[map->moved++];
        if (!old->key || old->key == HMAP_TOMBSTONE)
            continue;
        slots_insert(map, old);
        /* a tombstone keeps the probe chains of the entries still here */
        old->key = HMAP_TOMBSTONE;
        old->value = NULL;
    }
    if (map->moved >= map->old_capacity) {
        free(map->old_slots);
        map->old_slots = NULL;
        map->old_capacity = 0;
        map->moved = 0;
    }
}

static int hmap_grow(struct hmap *map, size_t capacity)
{
    if (map->old_slots) /* the previous growth first (see HMAP_MOVE_SLOTS: not expected) */
        hmap_move_some(map, SIZE_MAX);
    struct hmap_slot *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return GPUAAS_ENOMEM;
    if (map->count == 0) {
        free(map->slots);
    } else {
        map->old_slots = map->slots;
        map->old_capacity = map->capacity;
        map->moved = 0;
    }
    map->slots = slots;
    map->capacity = capacity;
    map->used = 0;
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
        int r = hmap_grow(map, capacity);
        if (r < 0)
            return r;
    }
    slots_insert(map, &(struct hmap_slot){.key = key, .hash = hash, .value = value});
    map->count++;
    if (map->old_slots)
        hmap_move_some(map, HMAP_MOVE_SLOTS);
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
    if (map->old_slots)
        hmap_move_some(map, HMAP_MOVE_SLOTS);
    return value;
}

/* The iterator runs over the current array, then the old one. */
int hmap_next(const struct hmap *map, size_t *iter, const char **ret_key, void **ret_value)
{
    size_t total = map->capacity + (map->old_slots ? map->old_capacity : 0);
    for (size_t i = *iter; i < total; i++) {
        const struct hmap_slot *slot = i < map->capacity ? &map->slots[i] : &map->old_slots[i - map->capacity];
        if (slot->key && slot->key != HMAP_TOMBSTONE) {
            *iter = i + 1;
            if (ret_key)
                *ret_key = slot->key;
            if (ret_value)
                *ret_value = slot->value;
            return 1;
        }
    }
    *iter = total;
    return 0;
}
