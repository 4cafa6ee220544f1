/* Unit tests for src/lib/hmap.c: the string-keyed open-addressing map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpuaas/error.h"
#include "lib/hmap.h"

#define KEY_SIZE 24

/* n keys "key-<i>" in one block; keys[i] points into it. */
struct keyset {
    char *block;
    char **keys;
    size_t n;
};

static void keyset_make(struct keyset *ks, const char *fmt_prefix, size_t n)
{
    ks->n = n;
    ks->block = malloc(n * KEY_SIZE);
    ks->keys = malloc(n * sizeof *ks->keys);
    assert_non_null(ks->block);
    assert_non_null(ks->keys);
    for (size_t i = 0; i < n; i++) {
        ks->keys[i] = ks->block + i * KEY_SIZE;
        snprintf(ks->keys[i], KEY_SIZE, "%s%zu", fmt_prefix, i);
    }
}

static void keyset_free(struct keyset *ks)
{
    free(ks->block);
    free(ks->keys);
}

/* The invariants the header and the implementation promise. */
static void check_invariants(const struct hmap *map)
{
    if (map->capacity == 0) {
        assert_int_equal(map->count, 0);
        assert_null(map->slots);
        return;
    }
    assert_int_equal(map->capacity & (map->capacity - 1), 0); /* power of two */
    size_t old_live = 0;
    for (size_t i = 0; map->old_slots && i < map->old_capacity; i++) {
        const struct hmap_slot *slot = &map->old_slots[i];
        if (slot->key && hmap_get(map, slot->key) == slot->value && slot->value)
            old_live++;
        if (i < map->moved) /* the part already moved holds no entry */
            assert_true(!slot->key || slot->value == NULL);
    }
    assert_true(map->old_slots || map->old_capacity == 0);
    assert_true(map->count <= map->used + old_live);
    assert_true(map->used * 4 < map->capacity * 3); /* load (tombstones included) < 3/4 */
    size_t live = 0;
    const char *key;
    for (size_t it = 0; hmap_next(map, &it, &key, NULL);)
        live++;
    assert_int_equal(live, map->count);
}

static void test_empty_map(void **state)
{
    (void)state;
    struct hmap map;
    hmap_init(&map);
    assert_int_equal(map.count, 0);
    assert_int_equal(map.capacity, 0);
    assert_null(hmap_get(&map, "absent"));
    assert_null(hmap_remove(&map, "absent"));
    size_t it = 0;
    const char *key = "untouched";
    void *value = &it;
    assert_int_equal(hmap_next(&map, &it, &key, &value), 0);
    hmap_free(&map);
    hmap_free(&map); /* twice is fine: free resets */
    hmap_free(NULL);
    check_invariants(&map);
}

static void test_put_get_replace_remove(void **state)
{
    (void)state;
    struct hmap map;
    int one = 1, two = 2, three = 3;
    hmap_init(&map);

    assert_int_equal(hmap_put(&map, "alpha", &one), 0);
    assert_int_equal(hmap_put(&map, "beta", &two), 0);
    assert_int_equal(map.count, 2);
    assert_ptr_equal(hmap_get(&map, "alpha"), &one);
    assert_ptr_equal(hmap_get(&map, "beta"), &two);
    assert_null(hmap_get(&map, "gamma"));
    assert_null(hmap_get(&map, "alph"));
    assert_null(hmap_get(&map, "alphaa"));
    assert_null(hmap_get(&map, ""));

    /* replace: same count, new value */
    assert_int_equal(hmap_put(&map, "alpha", &three), 0);
    assert_int_equal(map.count, 2);
    assert_ptr_equal(hmap_get(&map, "alpha"), &three);

    /* the empty string is a key like any other */
    assert_int_equal(hmap_put(&map, "", &one), 0);
    assert_ptr_equal(hmap_get(&map, ""), &one);
    assert_int_equal(map.count, 3);

    /* remove returns the value, then the key is gone */
    assert_ptr_equal(hmap_remove(&map, "alpha"), &three);
    assert_int_equal(map.count, 2);
    assert_null(hmap_get(&map, "alpha"));
    assert_null(hmap_remove(&map, "alpha"));
    assert_ptr_equal(hmap_get(&map, "beta"), &two);

    /* a removed key can come back */
    assert_int_equal(hmap_put(&map, "alpha", &one), 0);
    assert_ptr_equal(hmap_get(&map, "alpha"), &one);
    assert_int_equal(map.count, 3);
    check_invariants(&map);
    hmap_free(&map);
}

/* A replacing put must store the new key pointer: the map does not own keys,
 * so the caller may free the old key once the new one is in (the model does
 * this when a node is replaced). ASan reports any later read of the old key. */
static void test_replace_updates_key_pointer(void **state)
{
    (void)state;
    struct hmap map;
    int a = 1, b = 2;
    hmap_init(&map);
    char *old_key = strdup("node-1");
    char *new_key = strdup("node-1");
    assert_non_null(old_key);
    assert_non_null(new_key);
    assert_int_equal(hmap_put(&map, old_key, &a), 0);
    assert_int_equal(hmap_put(&map, new_key, &b), 0);
    free(old_key);
    assert_ptr_equal(hmap_get(&map, "node-1"), &b);
    const char *key = NULL;
    size_t it = 0;
    assert_int_equal(hmap_next(&map, &it, &key, NULL), 1);
    assert_ptr_equal(key, new_key);
    assert_ptr_equal(hmap_remove(&map, "node-1"), &b);
    free(new_key);
    hmap_free(&map);
}

/* Lookups compare content, not pointers. */
static void test_lookup_by_content(void **state)
{
    (void)state;
    struct hmap map;
    int v = 7;
    char stored[] = "team-ai/project";
    char probe[sizeof stored];
    memcpy(probe, stored, sizeof stored);
    hmap_init(&map);
    assert_int_equal(hmap_put(&map, stored, &v), 0);
    assert_ptr_equal(hmap_get(&map, probe), &v);
    assert_ptr_equal(hmap_remove(&map, probe), &v);
    assert_int_equal(map.count, 0);
    hmap_free(&map);
}

static void test_many_keys_growth(void **state)
{
    (void)state;
    enum { MANY = 100000 };
    struct keyset ks, absent;
    keyset_make(&ks, "key-", MANY);
    keyset_make(&absent, "nokey-", 1000);
    int *values = malloc(MANY * sizeof *values);
    assert_non_null(values);
    struct hmap map;
    hmap_init(&map);

    size_t last_capacity = 0;
    unsigned growths = 0;
    for (size_t i = 0; i < MANY; i++) {
        values[i] = (int)i;
        assert_int_equal(hmap_put(&map, ks.keys[i], &values[i]), 0);
        assert_int_equal(map.count, i + 1);
        if (map.capacity != last_capacity) {
            assert_true(map.capacity > last_capacity);
            last_capacity = map.capacity;
            growths++;
        }
    }
    assert_true(growths >= 10); /* 16 -> ... -> at least 131072 */
    assert_true(map.capacity >= MANY * 4 / 3);
    check_invariants(&map);

    for (size_t i = 0; i < MANY; i++) {
        int *v = hmap_get(&map, ks.keys[i]);
        if (v != &values[i])
            fail_msg("key %s: wrong value", ks.keys[i]);
    }
    for (size_t i = 0; i < absent.n; i++)
        assert_null(hmap_get(&map, absent.keys[i]));

    /* replacing every key changes no count and no capacity */
    size_t cap = map.capacity;
    for (size_t i = 0; i < MANY; i++)
        assert_int_equal(hmap_put(&map, ks.keys[i], &values[MANY - 1 - i]), 0);
    assert_int_equal(map.count, MANY);
    assert_int_equal(map.capacity, cap);
    for (size_t i = 0; i < MANY; i += 997)
        assert_ptr_equal(hmap_get(&map, ks.keys[i]), &values[MANY - 1 - i]);

    /* remove the even keys */
    for (size_t i = 0; i < MANY; i += 2)
        assert_ptr_equal(hmap_remove(&map, ks.keys[i]), &values[MANY - 1 - i]);
    assert_int_equal(map.count, MANY / 2);
    for (size_t i = 0; i < MANY; i++) {
        void *v = hmap_get(&map, ks.keys[i]);
        if ((i % 2 == 0) != (v == NULL))
            fail_msg("key %s: present=%d after removing the even keys", ks.keys[i], v != NULL);
    }
    check_invariants(&map);

    hmap_free(&map);
    free(values);
    keyset_free(&ks);
    keyset_free(&absent);
}

/* Growing moves the old slots a few at a time: right after a growth the old
 * array is still there, and every key is found, removed, replaced and
 * iterated exactly once wherever it sits; random operations against a
 * plain array as the reference. */
static void test_incremental_growth(void **state)
{
    (void)state;
    enum { KEYS = 60000, STEPS = 400000 };
    struct keyset ks;
    keyset_make(&ks, "g-", KEYS);
    int *values = calloc(KEYS, sizeof *values);
    void **expect = calloc(KEYS, sizeof *expect); /* NULL: absent */
    unsigned char *seen = calloc(KEYS, 1);
    assert_non_null(values);
    assert_non_null(expect);
    assert_non_null(seen);
    struct hmap map;
    hmap_init(&map);
    size_t live = 0;
    unsigned growths_in_progress = 0, big_growths = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (size_t step = 0; step < STEPS; step++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t k = (size_t)(rng % KEYS);
        unsigned op = (unsigned)((rng >> 32) % 10);
        size_t capacity_before = map.capacity;
        if (op < 6) {
            values[k] = (int)step;
            assert_int_equal(hmap_put(&map, ks.keys[k], &values[k]), 0);
            live += expect[k] == NULL;
            expect[k] = &values[k];
        } else if (op < 9) {
            assert_ptr_equal(hmap_remove(&map, ks.keys[k]), expect[k]);
            live -= expect[k] != NULL;
            expect[k] = NULL;
        } else {
            assert_ptr_equal(hmap_get(&map, ks.keys[k]), expect[k]);
        }
        assert_int_equal(map.count, live);
        if (map.capacity > capacity_before && capacity_before >= 4096) {
            big_growths++;
            /* one put did not move thousands of entries at once */
            assert_non_null(map.old_slots);
        }
        if (map.old_slots) {
            growths_in_progress++;
            if (growths_in_progress % 500 == 1) {
                check_invariants(&map);
                memset(seen, 0, KEYS);
                const char *key;
                void *value;
                for (size_t it = 0; hmap_next(&map, &it, &key, &value);) {
                    size_t i = (size_t)(((const char *)key - ks.block) / KEY_SIZE);
                    assert_true(i < KEYS);
                    assert_int_equal(seen[i], 0);
                    seen[i] = 1;
                    assert_ptr_equal(value, expect[i]);
                }
                for (size_t i = 0; i < KEYS; i++)
                    assert_int_equal(seen[i], expect[i] != NULL);
            }
        }
    }
    assert_true(big_growths >= 2);
    assert_true(growths_in_progress > 1000);
    for (size_t i = 0; i < KEYS; i++)
        assert_ptr_equal(hmap_get(&map, ks.keys[i]), expect[i]);
    check_invariants(&map);
    hmap_free(&map);
    free(values);
    free(expect);
    free(seen);
    keyset_free(&ks);
}

/* Removing leaves tombstones; inserts must reuse or clean them up so that a
 * map with a steady number of live keys does not grow without bound, and
 * lookups must still probe past tombstones. */
static void test_tombstone_reuse(void **state)
{
    (void)state;
    enum { LIVE = 64, CYCLES = 200000 };
    struct keyset ks;
    keyset_make(&ks, "t", LIVE + CYCLES);
    int v = 0;
    struct hmap map;
    hmap_init(&map);
    for (size_t i = 0; i < LIVE; i++)
        assert_int_equal(hmap_put(&map, ks.keys[i], &v), 0);
    size_t max_capacity = 0;
    for (size_t c = 0; c < CYCLES; c++) {
        /* remove the oldest key, insert a brand-new one */
        assert_ptr_equal(hmap_remove(&map, ks.keys[c]), &v);
        assert_int_equal(hmap_put(&map, ks.keys[c + LIVE], &v), 0);
        assert_int_equal(map.count, LIVE);
        assert_true(map.used * 4 < map.capacity * 3);
        if (map.capacity > max_capacity)
            max_capacity = map.capacity;
        if (c % 9973 == 0) {
            for (size_t k = c + 1; k <= c + LIVE; k++)
                assert_ptr_equal(hmap_get(&map, ks.keys[k]), &v);
            assert_null(hmap_get(&map, ks.keys[c]));
        }
    }
    /* 64 live keys never need more than 256 slots */
    assert_true(max_capacity <= 256);
    for (size_t k = CYCLES; k < CYCLES + LIVE; k++)
        assert_ptr_equal(hmap_get(&map, ks.keys[k]), &v);
    for (size_t k = 0; k < CYCLES; k += 1009)
        assert_null(hmap_get(&map, ks.keys[k]));
    check_invariants(&map);
    hmap_free(&map);
    keyset_free(&ks);
}

/* Removing a key and putting it back lands in its own tombstone. */
static void test_same_key_reinsert_reuses_slot(void **state)
{
    (void)state;
    struct keyset ks;
    keyset_make(&ks, "k", 10);
    int v = 0;
    struct hmap map;
    hmap_init(&map);
    for (size_t i = 0; i < ks.n; i++)
        assert_int_equal(hmap_put(&map, ks.keys[i], &v), 0);
    size_t used = map.used, cap = map.capacity;
    for (int round = 0; round < 1000; round++) {
        for (size_t i = 0; i < ks.n; i++) {
            assert_ptr_equal(hmap_remove(&map, ks.keys[i]), &v);
            assert_int_equal(hmap_put(&map, ks.keys[i], &v), 0);
        }
    }
    assert_int_equal(map.count, ks.n);
    assert_int_equal(map.used, used);
    assert_int_equal(map.capacity, cap);
    check_invariants(&map);
    hmap_free(&map);
    keyset_free(&ks);
}

static void test_iteration_visits_each_live_key_once(void **state)
{
    (void)state;
    enum { KEYS = 5000 };
    struct keyset ks;
    keyset_make(&ks, "it-", KEYS);
    size_t *ids = malloc(KEYS * sizeof *ids);
    unsigned *seen = calloc(KEYS, sizeof *seen);
    assert_non_null(ids);
    assert_non_null(seen);
    struct hmap map;
    hmap_init(&map);
    for (size_t i = 0; i < KEYS; i++) {
        ids[i] = i;
        assert_int_equal(hmap_put(&map, ks.keys[i], &ids[i]), 0);
    }
    /* remove every third key; replace every fifth live value with itself */
    for (size_t i = 0; i < KEYS; i += 3)
        assert_ptr_equal(hmap_remove(&map, ks.keys[i]), &ids[i]);
    for (size_t i = 1; i < KEYS; i += 5)
        if (i % 3 != 0)
            assert_int_equal(hmap_put(&map, ks.keys[i], &ids[i]), 0);

    size_t visits = 0;
    const char *key;
    void *value;
    for (size_t it = 0; hmap_next(&map, &it, &key, &value);) {
        size_t id = *(size_t *)value;
        assert_true(id < KEYS);
        assert_ptr_equal(key, ks.keys[id]);
        seen[id]++;
        visits++;
    }
    assert_int_equal(visits, map.count);
    for (size_t i = 0; i < KEYS; i++) {
        unsigned want = i % 3 == 0 ? 0 : 1;
        if (seen[i] != want)
            fail_msg("key %s seen %u times, want %u", ks.keys[i], seen[i], want);
    }

    /* NULL outputs are allowed; the iterator is exhausted afterwards */
    size_t it = 0, n = 0;
    while (hmap_next(&map, &it, NULL, NULL))
        n++;
    assert_int_equal(n, map.count);
    assert_int_equal(hmap_next(&map, &it, NULL, NULL), 0);

    /* empty after removing everything: iteration yields nothing */
    for (size_t i = 0; i < KEYS; i++)
        hmap_remove(&map, ks.keys[i]);
    assert_int_equal(map.count, 0);
    it = 0;
    assert_int_equal(hmap_next(&map, &it, &key, &value), 0);
    for (size_t i = 0; i < KEYS; i++)
        assert_null(hmap_get(&map, ks.keys[i]));

    hmap_free(&map);
    free(ids);
    free(seen);
    keyset_free(&ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map),
        cmocka_unit_test(test_put_get_replace_remove),
        cmocka_unit_test(test_replace_updates_key_pointer),
        cmocka_unit_test(test_lookup_by_content),
        cmocka_unit_test(test_many_keys_growth),
        cmocka_unit_test(test_tombstone_reuse),
        cmocka_unit_test(test_incremental_growth),
        cmocka_unit_test(test_same_key_reinsert_reuses_slot),
        cmocka_unit_test(test_iteration_visits_each_live_key_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
