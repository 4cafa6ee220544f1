/* Access control through the CLI binary ($GPUAAS_BIN): tokens, role
 * bindings, the audit log, as an admin and as a developer. The tests run in
 * order and share the server and alice's token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define NS "team-a/p/dev"

static struct th_server srv;
static char alice_token[512];
static char job_file[700];

struct cli_out {
    int rc;
    char *out;
    char *err;
};

static void cli_out_free(struct cli_out *o)
{
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
}

/* Runs `gpuaas ARGS... --server URL --token TOKEN` (token NULL: the admin's). */
static void cli(struct cli_out *o, const char *token, ...)
{
    char *argv[32];
    int n = 0;
    va_list ap;
    const char *arg;

    argv[n++] = (char *)th_server_bin();
    va_start(ap, token);
    while ((arg = va_arg(ap, const char *)) != NULL && n < 26)
        argv[n++] = (char *)arg;
    va_end(ap);
    argv[n++] = "--server";
    argv[n++] = srv.url;
    argv[n++] = "--token";
    argv[n++] = (char *)(token ? token : srv.token);
    argv[n] = NULL;
    o->out = o->err = NULL;
    o->rc = th_run_capture(argv, &o->out, &o->err, 20000);
    if (!o->out)
        o->out = strdup("");
    if (!o->err)
        o->err = strdup("");
    th_note("$ gpuaas %s %s %s ... -> exit %d", argv[1], n > 6 ? argv[2] : "", n > 7 ? argv[3] : "", o->rc);
}

static void expect_rc(const struct cli_out *o, int rc)
{
    if (o->rc != rc) {
        th_note("expected exit %d, got %d", rc, o->rc);
        th_note("stdout: %.2000s", o->out);
        th_note("stderr: %.2000s", o->err);
    }
    assert_int_equal(o->rc, rc);
}

/* A line of text that contains every one of the NULL-terminated words. */
static bool has_line_with(const char *text, ...)
{
    const char *line = text;

    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        bool all = copy != NULL;
        va_list ap;
        const char *word;
        va_start(ap, text);
        while (all && (word = va_arg(ap, const char *)) != NULL)
            all = strstr(copy, word) != NULL;
        va_end(ap);
        free(copy);
        if (all)
            return true;
        line = end ? end + 1 : NULL;
    }
    return false;
}

static int group_setup(void **state)
{
    (void)state;
    if (th_server_start(&srv, "cli-access") != 0)
        return -1;
    th_log_server = &srv;
    snprintf(job_file, sizeof job_file, "%s/hello.yaml", srv.data_dir);
    return th_write_file(job_file, "kind: Job\n"
                                   "name: hello\n"
                                   "namespace: " NS "\n"
                                   "resources: {gpus: 0, cpu: 1, memory: 64Mi}\n"
                                   "command: [\"true\"]\n");
}

static int group_teardown(void **state)
{
    (void)state;
    th_server_destroy(&srv);
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_help(void **state)
{
    (void)state;
    static const char *const verbs[] = {"bind", "unbind", "audit", "revoke", "create"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        char *argv[] = {(char *)th_server_bin(), (char *)verbs[i], "--help", NULL};
        char *out = NULL, *err = NULL;
        int rc = th_run_capture(argv, &out, &err, 20000);
        assert_int_equal(rc, 0);
        assert_non_null(out);
        assert_non_null(strstr(out, "Usage: gpuaas"));
        free(out);
        free(err);
    }
    TH_PASS();
}

static void test_create_token(void **state)
{
    (void)state;
    struct cli_out o;

    cli(&o, NULL, "create", "namespace", NS, NULL);
    expect_rc(&o, 0);
    cli_out_free(&o);

    /* the secret alone on stdout, the note on stderr */
    cli(&o, NULL, "create", "token", "--user", "alice", NULL);
    expect_rc(&o, 0);
    size_t len = strlen(o.out);
    assert_true(len > 5 && o.out[len - 1] == '\n');
    assert_null(strchr(o.out, ' '));
    assert_ptr_equal(strchr(o.out, '\n'), o.out + len - 1);
    assert_true(len - 1 < sizeof alice_token);
    memcpy(alice_token, o.out, len - 1);
    alice_token[len - 1] = '\0';
    assert_non_null(strstr(o.err, "once"));
    cli_out_free(&o);

    /* -o json: the API object, with the secret */
    cli(&o, NULL, "create", "token", "--user", "bob", "--name", "ci", "--expires-in", "720h", "-o", "json", NULL);
    expect_rc(&o, 0);
    json_t *j = json_loads(o.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(th_jstr(j, "user"), "bob");
    assert_string_equal(th_jstr(j, "name"), "ci");
    assert_non_null(th_jstr(j, "token"));
    assert_true(strlen(th_jstr(j, "expires_at")) > 0);
    assert_true(json_is_integer(json_object_get(j, "id")));
    json_decref(j);
    cli_out_free(&o);

    /* usage errors */
    cli(&o, NULL, "create", "token", NULL);
    expect_rc(&o, 2);
    cli_out_free(&o);
    cli(&o, NULL, "create", "token", "--user", "carol", "--expires-in", "soon", NULL);
    expect_rc(&o, 2);
    cli_out_free(&o);
    TH_PASS();
}

static void test_get_tokens(void **state)
{
    (void)state;
    struct cli_out o;

    cli(&o, NULL, "get", "tokens", NULL);
    expect_rc(&o, 0);
    assert_true(has_line_with(o.out, "ID", "NAME", "USER", "ROLE", "CREATED", "EXPIRES", "REVOKED", NULL));
    assert_true(has_line_with(o.out, " alice ", " no", NULL));
    assert_true(has_line_with(o.out, "ci", "bob", NULL));
    /* never a secret */
    assert_null(strstr(o.out, alice_token));
    cli_out_free(&o);
    TH_PASS();
}

static void test_bind(void **state)
{
    (void)state;
    struct cli_out o;

    cli(&o, NULL, "bind", "developer", "--user", "alice", "-n", "team-a/p", NULL);
    expect_rc(&o, 0);
    cli_out_free(&o);

    cli(&o, NULL, "get", "bindings", NULL);
    expect_rc(&o, 0);
    assert_true(has_line_with(o.out, "ROLE", "SUBJECT", "NAMESPACE", "BUILTIN", NULL));
    assert_true(has_line_with(o.out, "developer", "user:alice", "team-a/p", NULL));
    cli_out_free(&o);

    /* platform-wide for a group, shown as *; unbind removes it */
    cli(&o, NULL, "bind", "viewer", "--group", "ml", NULL);
    expect_rc(&o, 0);
    cli_out_free(&o);
    cli(&o, NULL, "get", "bindings", NULL);
    expect_rc(&o, 0);
    assert_true(has_line_with(o.out, "viewer", "group:ml", "*", NULL));
    cli_out_free(&o);
    cli(&o, NULL, "unbind", "viewer", "--group", "ml", NULL);
    expect_rc(&o, 0);
    cli_out_free(&o);
    cli(&o, NULL, "get", "bindings", NULL);
    expect_rc(&o, 0);
    assert_false(has_line_with(o.out, "group:ml", NULL));
    assert_true(has_line_with(o.out, "user:alice", NULL));
    cli_out_free(&o);

    /* usage: exactly one subject */
    cli(&o, NULL, "bind", "developer", "-n", "team-a/p", NULL);
    expect_rc(&o, 2);
    cli_out_free(&o);
    cli(&o, NULL, "bind", "developer", "--user", "a", "--group", "b", NULL);
    expect_rc(&o, 2);
    cli_out_free(&o);
    /* not a role: the server refuses */
    cli(&o, NULL, "bind", "wizard", "--user", "alice", "-n", "team-a/p", NULL);
    expect_rc(&o, 1);
    cli_out_free(&o);
    TH_PASS();
}

static void test_alice_works(void **state)
{
    (void)state;
    struct cli_out o;

    cli(&o, alice_token, "submit", "-f", job_file, NULL);
    expect_rc(&o, 0);
    cli_out_free(&o);

    cli(&o, alice_token, "get", "jobs", NULL);
    expect_rc(&o, 0);
    assert_true(has_line_with(o.out, NS, "hello", NULL));
    cli_out_free(&o);

    /* outside her subtree: refused */
    cli(&o, alice_token, "create", "namespace", "team-b", NULL);
    expect_rc(&o, 1);
    assert_non_null(strstr(o.err, "error:"));
    cli_out_free(&o);

    /* platform verbs are for platform admins */
    cli(&o, alice_token, "audit", NULL);
    expect_rc(&o, 1);
    cli_out_free(&o);
    cli(&o, alice_token, "create", "token", "--user", "alice", NULL);
    expect_rc(&o, 1);
    cli_out_free(&o);
    TH_PASS();
}

static void test_revoke(void **state)
{
    (void)state;
    struct cli_out o;
    char id[32] = "";

    cli(&o, NULL, "get", "tokens", "-o", "json", NULL);
    expect_rc(&o, 0);
    json_t *j = json_loads(o.out, 0, NULL), *item;
    size_t i;
    assert_non_null(j);
    json_array_foreach(json_object_get(j, "items"), i, item)
    {
        const char *user = th_jstr(item, "user");
        if (user && strcmp(user, "alice") == 0)
            snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(item, "id")));
    }
    json_decref(j);
    cli_out_free(&o);
    assert_true(id[0] != '\0');

    cli(&o, NULL, "revoke", "token", id, NULL);
    expect_rc(&o, 0);
    cli_out_free(&o);

    cli(&o, alice_token, "get", "jobs", NULL);
    expect_rc(&o, 1);
    assert_non_null(strstr(o.err, "unauthenticated"));
    cli_out_free(&o);

    cli(&o, NULL, "get", "tokens", NULL);
    expect_rc(&o, 0);
    assert_true(has_line_with(o.out, " alice ", "yes", NULL));
    cli_out_free(&o);

    /* delete token is the same verb; bob's "ci" by name */
    cli(&o, NULL, "delete", "token", "ci", NULL);
    expect_rc(&o, 0);
    cli_out_free(&o);
    cli(&o, NULL, "revoke", "token", "no-such-token", NULL);
    expect_rc(&o, 1);
    cli_out_free(&o);
    cli(&o, NULL, "revoke", "token", NULL);
    expect_rc(&o, 2);
    cli_out_free(&o);
    TH_PASS();
}

static void test_audit(void **state)
{
    (void)state;
    struct cli_out o;

    cli(&o, NULL, "audit", "--since", "10m", NULL);
    expect_rc(&o, 0);
    assert_true(has_line_with(o.out, "TIME", "USER", "METHOD", "PATH", "NAMESPACE", "STATUS", "CODE", "MESSAGE",
                              NULL));
    assert_true(has_line_with(o.out, " alice ", "POST", "/v1/jobs", NS, "201", NULL));
    assert_true(has_line_with(o.out, " alice ", "POST", "/v1/namespaces", "team-b", NULL));
    cli_out_free(&o);

    /* -o json: the API's items, alice's submit and her refusal among them */
    cli(&o, NULL, "audit", "--since", "10m", "-o", "json", NULL);
    expect_rc(&o, 0);
    json_t *j = json_loads(o.out, 0, NULL), *item;
    size_t i;
    bool submit = false, refused = false;
    assert_non_null(j);
    json_array_foreach(json_object_get(j, "items"), i, item)
    {
        const char *user = th_jstr(item, "user"), *path = th_jstr(item, "path");
        json_int_t status = json_integer_value(json_object_get(item, "status"));
        if (!user || !path || strcmp(user, "alice") != 0)
            continue;
        if (strcmp(path, "/v1/jobs") == 0 && status == 201)
            submit = true;
        if (strcmp(path, "/v1/namespaces") == 0 && status >= 400)
            refused = true;
    }
    json_decref(j);
    cli_out_free(&o);
    assert_true(submit);
    assert_true(refused);

    /* --limit, an RFC 3339 --since, a --since in the future */
    cli(&o, NULL, "audit", "--since", "2000-01-01T00:00:00Z", "--limit", "2", "-o", "json", NULL);
    expect_rc(&o, 0);
    j = json_loads(o.out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    cli_out_free(&o);
    cli(&o, NULL, "audit", "--since", "2100-01-01T00:00:00Z", NULL);
    expect_rc(&o, 0);
    assert_false(has_line_with(o.out, "alice", NULL));
    cli_out_free(&o);

    /* usage errors and an unreachable server */
    cli(&o, NULL, "audit", "--since", "yesterday", NULL);
    expect_rc(&o, 2);
    cli_out_free(&o);
    cli(&o, NULL, "audit", "extra", NULL);
    expect_rc(&o, 2);
    cli_out_free(&o);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", th_free_port());
    char *argv[] = {(char *)th_server_bin(), "audit", "--server", url, "--token", srv.token, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(th_run_capture(argv, &out, &err, 20000), 3);
    free(out);
    free(err);
    TH_PASS();
}

#define T(f) cmocka_unit_test_setup_teardown(f, th_setup_mark, th_teardown_report)

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        T(test_help),   T(test_create_token), T(test_get_tokens), T(test_bind),
        T(test_alice_works), T(test_revoke),  T(test_audit),
    };
    int rc = cmocka_run_group_tests_name("cli_access", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
