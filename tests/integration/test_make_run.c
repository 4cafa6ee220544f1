/* The README's run command works: `make run ARGS="--listen 127.0.0.1:PORT
 * --data DIR"` from the repository root brings up a server that answers
 * GET /healthz with 200 and a JSON body within 30 s, writes its admin token
 * (mode 0600) and store into DIR, and goes away on SIGTERM to the process
 * group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define RUN_TIMEOUT_MS 30000

static char tmpdir[512];
static char logpath[700];
static pid_t make_pid;
static pid_t make_pgid; /* kept after make exits: the server may outlive it */

static void print_make_log(void)
{
    char *text = th_read_file(logpath, NULL);
    th_note("---- %s ----\n%s---- end ----", logpath, text != NULL ? text : "(empty)\n");
    free(text);
}

static int group_setup(void **state)
{
    (void)state;
    if (th_make_tempdir("makerun", tmpdir, sizeof tmpdir) != 0)
        return -1;
    snprintf(logpath, sizeof logpath, "%s/make-run.log", tmpdir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (make_pgid > 0)
        kill(-make_pgid, SIGKILL);
    if (make_pid > 0)
        th_wait(make_pid, 5000);
    const char *keep = getenv("TH_KEEP");
    if (keep == NULL || strcmp(keep, "1") != 0)
        th_rm_rf(tmpdir);
    return 0;
}

static long get_healthz(const char *url, char **ret_body)
{
    struct th_http h = {0};
    h.curl = curl_easy_init();
    if (h.curl == NULL)
        return 0;
    snprintf(h.url, sizeof h.url, "%s", url);
    struct th_resp r;
    struct th_req req = {.method = "GET", .path = "/healthz", .token = "", .timeout_ms = 1000};
    th_http_do(&h, &req, &r);
    th_http_free(&h);
    long status = r.status;
    if (ret_body != NULL) {
        *ret_body = r.body;
        r.body = NULL;
    }
    th_resp_free(&r);
    return status;
}

static void test_make_run_serves_healthz(void **state)
{
    (void)state;
    if (access("Makefile", R_OK) != 0)
        fail_msg("run this test from the repository root (no ./Makefile in the working directory)");

    int port = th_free_port();
    assert_true(port > 0);
    char args[700], url[64];
    snprintf(args, sizeof args, "ARGS=--listen 127.0.0.1:%d --data %s", port, tmpdir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);

    /* a make started by `make test` must not inherit its jobserver */
    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");
    char *argv[] = {"make", "--no-print-directory", "run", args, NULL};
    make_pid = th_spawn(argv, logpath, true);
    assert_true(make_pid > 0);
    make_pgid = make_pid;

    long long deadline = th_now_ms() + RUN_TIMEOUT_MS;
    long status = 0;
    char *body = NULL;
    int exited = -2;
    while (th_now_ms() < deadline) {
        exited = th_wait(make_pid, 0);
        if (exited != -2)
            break;
        free(body);
        body = NULL;
        status = get_healthz(url, &body);
        if (status == 200)
            break;
        th_sleep_ms(100);
    }
    if (status != 200) {
        if (exited != -2) {
            th_note("`make run` exited with status %d before /healthz answered", exited);
            make_pid = 0;
        } else {
            th_note("GET %s/healthz: no 200 within %d ms (last status %ld)", url, RUN_TIMEOUT_MS,
                    status);
        }
        print_make_log();
        free(body);
    }
    assert_int_equal(status, 200);

    json_t *j = json_loads(body, 0, NULL);
    if (!json_is_object(j))
        th_note("/healthz body is not a JSON object: %s", body);
    assert_true(json_is_object(j));
    const char *st = th_jstr(j, "status");
    assert_non_null(st);
    assert_string_equal(st, "ok");
    json_decref(j);
    free(body);

    /* it used the data directory it was given */
    char path[800];
    struct stat sb;
    snprintf(path, sizeof path, "%s/admin.token", tmpdir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/gpuaas.db", tmpdir);
    assert_int_equal(stat(path, &sb), 0);

    /* SIGTERM to the whole group: make and the server it exec'd */
    assert_int_equal(kill(-make_pid, SIGTERM), 0);
    int rc = th_wait(make_pid, 15000);
    if (rc == -2) {
        th_note("`make run` did not exit within 15 s of SIGTERM");
        print_make_log();
    }
    assert_true(rc != -2);
    make_pid = 0;
    /* and the server is gone: the port stops answering */
    deadline = th_now_ms() + 10000;
    while (th_now_ms() < deadline && (status = get_healthz(url, NULL)) != 0)
        th_sleep_ms(50);
    if (status != 0) {
        th_note("the server still answers /healthz after SIGTERM to the group");
        print_make_log();
    }
    assert_int_equal(status, 0);
    TH_PASS();
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_run_serves_healthz),
    };
    int rc = cmocka_run_group_tests_name("make_run", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
