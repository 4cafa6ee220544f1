/* Durable before acknowledged: 8 client threads submit 200 jobs at once;
 * when about half are acknowledged the server is killed with SIGKILL. After
 * a restart on the same data directory every acknowledged job is there, no
 * job is there twice, nothing appears that was never sent, and the SQLite
 * file passes PRAGMA integrity_check. Three kill cycles, one SIGTERM under
 * the same load (exit status 0, nothing acknowledged lost), then a clean
 * stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define JOBS 200
#define THREADS 8
#define KILL_CYCLES 3
#define CYCLES (KILL_CYCLES + 1) /* and one SIGTERM under the same load */
#define KILL_AFTER_ACKS (JOBS / 2)
#define DNS "durability/load/dev"
#define UNMATCHED_LABEL "test.gpuaas.io/never-matches"

enum job_fate { UNTRIED = 0, SENT, ACKED, REJECTED };

struct cycle {
    int number;
    atomic_int next;
    atomic_int acked;
    atomic_bool stop;
    atomic_bool killed;
    atomic_int transport_errors_before_kill;
    atomic_int refused_before_kill;   /* any non-2xx before the signal */
    atomic_int refused_badly_after;   /* after SIGTERM: anything but 503 */
    unsigned char fate[JOBS];
    long rejected_status[JOBS];
    char first_rejection[512];
    atomic_flag rejection_noted;
};

static struct th_server srv;
static struct th_http http;
static struct cycle cycles[CYCLES];
static int cycles_done;

static void job_name(int cycle, int i, char *out, size_t out_size)
{
    snprintf(out, out_size, "d%d-%04d", cycle, i);
}

static void job_body(const char *name, char *out, size_t out_size)
{
    snprintf(out, out_size,
             "{\"kind\":\"Job\",\"name\":\"%s\",\"namespace\":\"" DNS "\","
             "\"resources\":{\"gpus\":1,\"cpu\":1,\"memory\":\"1Gi\"},"
             "\"selector\":{\"" UNMATCHED_LABEL "\":\"yes\"},"
             "\"command\":[\"sleep\",\"1\"]}",
             name);
}

static void *worker(void *arg)
{
    struct cycle *c = arg;
    struct th_http h;
    if (th_http_init(&h, &srv) != 0)
        return NULL;
    char name[64], body[512];
    while (!atomic_load(&c->stop)) {
        /* should the main thread be slow to kill, hold back so that the
         * kill still lands before all jobs are sent */
        while (atomic_load(&c->acked) >= JOBS * 3 / 4 && !atomic_load(&c->stop))
            th_sleep_ms(1);
        if (atomic_load(&c->stop))
            break;
        int i = atomic_fetch_add(&c->next, 1);
        if (i >= JOBS)
            break;
        job_name(c->number, i, name, sizeof name);
        job_body(name, body, sizeof body);
        c->fate[i] = SENT;
        struct th_resp r;
        struct th_req req = {.method = "POST", .path = "/v1/jobs", .body = body,
                             .timeout_ms = 20000};
        th_http_do(&h, &req, &r);
        if (r.status >= 200 && r.status < 300) {
            c->fate[i] = ACKED;
            atomic_fetch_add(&c->acked, 1);
        } else if (r.status != 0) {
            bool after = atomic_load(&c->killed);
            c->fate[i] = REJECTED;
            if (!after)
                atomic_fetch_add(&c->refused_before_kill, 1);
            else if (r.status != 503)
                atomic_fetch_add(&c->refused_badly_after, 1);
            c->rejected_status[i] = r.status;
            if (!atomic_flag_test_and_set(&c->rejection_noted))
                snprintf(c->first_rejection, sizeof c->first_rejection, "%s: HTTP %ld %.400s",
                         name, r.status, r.body);
        } else if (!atomic_load(&c->killed)) {
            atomic_fetch_add(&c->transport_errors_before_kill, 1);
            if (!atomic_flag_test_and_set(&c->rejection_noted))
                snprintf(c->first_rejection, sizeof c->first_rejection,
                         "%s: no response before the kill: %s", name, r.curl_err);
        } else {
            th_resp_free(&r);
            break; /* the server is gone */
        }
        th_resp_free(&r);
    }
    th_http_free(&h);
    return NULL;
}

static void check_integrity(const char *when)
{
    char path[700];
    snprintf(path, sizeof path, "%s/gpuaas.db", srv.data_dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK)
        th_note("%s: cannot open %s read-only: %s", when, path,
                db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    assert_int_equal(rc, SQLITE_OK);

    sqlite3_stmt *st = NULL;
    char result[256] = "";
    rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(result, sizeof result, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(result, sizeof result, "(error: %s)", sqlite3_errmsg(db));
    sqlite3_finalize(st);

    char mode[32] = "";
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);

    if (strcmp(result, "ok") != 0)
        th_note("%s: PRAGMA integrity_check: %s", when, result);
    assert_string_equal(result, "ok");
    if (strcmp(mode, "wal") != 0)
        th_note("%s: journal_mode is '%s', expected wal", when, mode);
    assert_string_equal(mode, "wal");
}

static int group_setup(void **state)
{
    (void)state;
    if (th_server_start(&srv, "durability") != 0)
        return -1;
    th_log_server = &srv;
    if (th_http_init(&http, &srv) != 0)
        return -1;
    struct th_resp r;
    long st = th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" DNS "\"}", NULL, &r);
    if (st != 201)
        th_note("POST /v1/namespaces " DNS ": HTTP %ld %s", st, r.body);
    th_resp_free(&r);
    return st == 201 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    th_http_free(&http);
    th_server_destroy(&srv);
    return 0;
}

/* Checks the restarted server against everything the cycles so far sent. */
static void check_after_restart(void)
{
    int acked_total = 0, attempted_total = 0, missing = 0;
    char name[64], path[256];
    for (int k = 0; k < cycles_done; k++) {
        for (int i = 0; i < JOBS; i++) {
            if (cycles[k].fate[i] != UNTRIED)
                attempted_total++;
            if (cycles[k].fate[i] != ACKED)
                continue;
            acked_total++;
            job_name(k, i, name, sizeof name);
            snprintf(path, sizeof path, "/v1/jobs/%s?namespace=" DNS, name);
            struct th_resp r;
            th_call(&http, "GET", path, NULL, NULL, &r);
            if (r.status != 200) {
                if (missing < 10)
                    th_note("acknowledged job %s is gone after kill -9: GET answered %ld %.200s",
                            name, r.status, r.body);
                missing++;
            }
            th_resp_free(&r);
        }
    }
    if (missing)
        th_note("%d of %d acknowledged jobs lost", missing, acked_total);
    assert_int_equal(missing, 0);

    struct th_resp r;
    th_call(&http, "GET", "/v1/jobs?namespace=" DNS, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *items = json_object_get(r.json, "items");
    assert_true(json_is_array(items));
    int listed = (int)json_array_size(items);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), listed);

    /* distinct names and ids, all of them sent by some cycle */
    unsigned char *seen = calloc((size_t)CYCLES * JOBS, 1);
    assert_non_null(seen);
    json_t *ids = json_object();
    int dupes = 0, unknown = 0, dupe_ids = 0;
    size_t idx;
    json_t *item;
    json_array_foreach(items, idx, item)
    {
        char idkey[32];
        snprintf(idkey, sizeof idkey, "%lld",
                 (long long)json_integer_value(json_object_get(item, "id")));
        if (json_object_get(ids, idkey) != NULL) {
            th_note("id %s is used by two jobs", idkey);
            dupe_ids++;
        }
        json_object_set_new(ids, idkey, json_true());
        const char *n = th_jstr(item, "name");
        int k = -1, i = -1;
        char tail;
        if (n == NULL || sscanf(n, "d%d-%d%c", &k, &i, &tail) != 2 || k < 0 ||
            k >= cycles_done || i < 0 || i >= JOBS || cycles[k].fate[i] == UNTRIED) {
            th_note("listed job %s was never sent", n != NULL ? n : "(no name)");
            unknown++;
            continue;
        }
        if (seen[k * JOBS + i]++) {
            th_note("job %s is listed twice", n);
            dupes++;
        }
    }
    free(seen);
    json_decref(ids);
    th_note("after restart: %d acknowledged, %d listed, %d attempted", acked_total, listed,
            attempted_total);
    th_resp_free(&r);
    assert_int_equal(dupes, 0);
    assert_int_equal(dupe_ids, 0);
    assert_int_equal(unknown, 0);
    assert_true(listed >= acked_total);
    assert_true(listed <= attempted_total);
}

/* graceful: SIGTERM instead of SIGKILL, and the exit status must be 0 */
static void run_cycle(int number, bool graceful)
{
    struct cycle *c = &cycles[number];
    memset(c, 0, sizeof *c);
    c->number = number;
    atomic_flag_clear(&c->rejection_noted);
    cycles_done = number + 1;

    if (srv.pid <= 0)
        fail_msg("the server is not running (an earlier cycle failed)");

    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, worker, c), 0);

    long long deadline = th_now_ms() + 60000;
    while (atomic_load(&c->acked) < KILL_AFTER_ACKS && atomic_load(&c->next) < JOBS + THREADS &&
           th_now_ms() < deadline && th_server_alive(&srv))
        th_sleep_ms(1);
    int acked_at_kill = atomic_load(&c->acked);
    atomic_store(&c->killed, true);
    int exit_status = 0;
    if (graceful) {
        /* the clients keep sending on their open connections while the
         * server shuts down; each stops when its connection is refused */
        exit_status = th_server_stop(&srv);
        atomic_store(&c->stop, true);
    } else {
        atomic_store(&c->stop, true);
        th_server_kill9(&srv);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);

    int acked = 0, rejected = 0, sent = 0;
    for (int i = 0; i < JOBS; i++) {
        acked += c->fate[i] == ACKED;
        rejected += c->fate[i] == REJECTED;
        sent += c->fate[i] != UNTRIED;
    }
    th_note("cycle %d: %s with %d acknowledged; %d sent, %d acknowledged, %d refused", number,
            graceful ? "SIGTERM" : "kill -9", acked_at_kill, sent, acked, rejected);
    if (c->first_rejection[0] != '\0')
        th_note("cycle %d: first failure: %s", number, c->first_rejection);
    /* before the signal every submit must have been acknowledged; during a
     * graceful stop a refusal may only be 503 unavailable */
    assert_int_equal(atomic_load(&c->refused_before_kill), 0);
    assert_int_equal(atomic_load(&c->refused_badly_after), 0);
    assert_int_equal(atomic_load(&c->transport_errors_before_kill), 0);
    if (graceful)
        assert_int_equal(exit_status, 0);
    assert_true(acked_at_kill >= KILL_AFTER_ACKS);
    if (!graceful)
        assert_true(sent < JOBS); /* the kill really interrupted the load */

    /* the crashed store is consistent as it lies on disk */
    char when[64];
    snprintf(when, sizeof when, "after %s (cycle %d)", graceful ? "SIGTERM under load" : "kill -9",
             number + 1);
    check_integrity(when);

    assert_int_equal(th_server_restart(&srv), 0);
    th_http_retarget(&http, &srv);
    check_after_restart();

    /* an acknowledged name is still taken */
    for (int i = 0; i < JOBS; i++) {
        if (c->fate[i] != ACKED)
            continue;
        char name[64], body[512];
        job_name(number, i, name, sizeof name);
        job_body(name, body, sizeof body);
        struct th_resp r;
        th_call(&http, "POST", "/v1/jobs", body, NULL, &r);
        if (r.status != 409)
            th_note("re-submitting acknowledged job %s: HTTP %ld %.200s (expected 409)", name,
                    r.status, r.body);
        assert_int_equal(r.status, 409);
        assert_string_equal(th_err_code(&r) ? th_err_code(&r) : "", "already_exists");
        th_resp_free(&r);
        break;
    }
}

static void test_kill9_cycle_1(void **state)
{
    (void)state;
    run_cycle(0, false);
    TH_PASS();
}

static void test_kill9_cycle_2(void **state)
{
    (void)state;
    run_cycle(1, false);
    TH_PASS();
}

static void test_kill9_cycle_3(void **state)
{
    (void)state;
    run_cycle(2, false);
    TH_PASS();
}

static void test_sigterm_under_load(void **state)
{
    (void)state;
    run_cycle(3, true);
    TH_PASS();
}

static void test_sigterm_then_integrity(void **state)
{
    (void)state;
    if (srv.pid <= 0) {
        /* an earlier cycle left it stopped: what it left must still open */
        th_note("the server is not running; restarting it first");
        assert_int_equal(th_server_restart(&srv), 0);
        th_http_retarget(&http, &srv);
        check_after_restart();
    }
    assert_int_equal(th_server_stop(&srv), 0);
    check_integrity("after SIGTERM");
    TH_PASS();
}

#define T(f) cmocka_unit_test_setup_teardown(f, th_setup_mark, th_teardown_report)

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        T(test_kill9_cycle_1),
        T(test_kill9_cycle_2),
        T(test_kill9_cycle_3),
        T(test_sigterm_under_load),
        T(test_sigterm_then_integrity),
    };
    int rc = cmocka_run_group_tests_name("durability", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
