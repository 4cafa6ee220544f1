/* The store's WAL stays bounded under a steady stream of commits: the
 * writer checkpoints every 256 pages (PRAGMA wal_autocheckpoint), so the
 * next batch starts the WAL again from its beginning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

struct wal_dir {
    char dir[64], db[96], wal[100];
};

static void wal_dir_make(struct wal_dir *w)
{
    snprintf(w->dir, sizeof w->dir, "/tmp/gpuaas-wal.XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->db, sizeof w->db, "%s/gpuaas.db", w->dir);
    snprintf(w->wal, sizeof w->wal, "%s-wal", w->db);
}

static void wal_dir_remove(struct wal_dir *w)
{
    char path[128];
    const char *const suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", w->db, suffixes[i]);
        unlink(path);
    }
    rmdir(w->dir);
}

/* One batch of `count` new namespaces named after `first`. */
static void commit_namespaces(struct store *store, int first, int count)
{
    struct core_namespace ns;
    struct core_effect effect;
    assert_int_equal(store_sqlite_ops.begin(store), 0);
    for (int i = 0; i < count; i++) {
        memset(&ns, 0, sizeof ns);
        snprintf(ns.path, sizeof ns.path, "org-%07d/project-with-a-longer-name-%07d/env", first + i, first + i);
        ns.created_ms = 1700000000000 + first + i;
        memset(&effect, 0, sizeof effect);
        effect.kind = CORE_EFFECT_NAMESPACE_PUT;
        effect.ns = &ns;
        assert_int_equal(store_sqlite_ops.apply(store, &effect), 0);
    }
    assert_int_equal(store_sqlite_ops.commit(store), 0);
}

static long long count_rows(const char *db_path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long long n = -1;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM namespaces", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

/* Many batches without a pause: the WAL file never grows past the
 * checkpoint interval (256 frames of 4 KiB) plus one batch, and nothing
 * written is lost on the way into the database file. */
static void test_wal_stays_bounded(void **state)
{
    (void)state;
    struct wal_dir w;
    wal_dir_make(&w);
    char err[256] = "";
    struct store *store = NULL;
    assert_int_equal(store_sqlite_ops.open(w.db, &store, err, sizeof err), 0);
    long long wal_max = 0;
    int written = 0;
    /* small batches: each rewrites the same last pages, ~4 frames a batch,
     * some 100 x the interval's worth of frames in all */
    while (written < 120000) {
        commit_namespaces(store, written, 20);
        written += 20;
        long long size = file_size(w.wal);
        if (size > wal_max)
            wal_max = size;
    }
    assert_true(wal_max > 100LL * 4096);       /* it did grow ... */
    assert_true(wal_max < (256LL + 64) * 4128); /* ... and started again */
    store_sqlite_ops.close(store);
    assert_int_equal(count_rows(w.db), written);
    wal_dir_remove(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
