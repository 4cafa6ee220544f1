/* Client helpers that need no server: argument parsing, ages, timestamps,
 * table layout, the config file reader, URL escaping, response headers and
 * the cells computed from pod and GPU objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/args.h"
#include "cli/cells.h"
#include "cli/config.h"
#include "cli/http_client.h"
#include "cli/output.h"
#include "cli/quotas.h"
#include "cli/usage.h"
#include "gpuaas/error.h"

static int parse(struct cli_args *a, char *err, size_t err_size, int argc, ...)
{
    char *argv[16];
    va_list ap;

    va_start(ap, argc);
    argv[0] = "gpuaas";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return cli_args_parse(argc, argv, a, err, err_size);
}

static void test_options_anywhere(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    assert_int_equal(parse(&a, err, sizeof err, 8, "-n", "team-ai", "get", "--server=http://h:1", "jobs", "-ojson",
                           "x"),
                     0);
    assert_int_equal(a.npos, 3);
    assert_string_equal(a.pos[0], "get");
    assert_string_equal(a.pos[1], "jobs");
    assert_string_equal(a.pos[2], "x");
    assert_string_equal(a.ns, "team-ai");
    assert_string_equal(a.server, "http://h:1");
    assert_int_equal(a.output, CLI_OUT_JSON);
    assert_true(a.output_set);
    assert_false(a.help);
}

static void test_value_forms(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    assert_int_equal(parse(&a, err, sizeof err, 7, "submit", "-f", "-", "--token", "T", "-o=yaml"), 0);
    assert_string_equal(a.file, "-"); /* "-" is a value, not an option */
    assert_true(a.verb_opts & CLI_OPT_FILE);
    assert_string_equal(a.token, "T");
    assert_int_equal(a.output, CLI_OUT_YAML);

    assert_int_equal(parse(&a, err, sizeof err, 4, "get", "--", "-weird"), 0);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[1], "-weird");

    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "--namespace=a/b"), 0);
    assert_string_equal(a.ns, "a/b");

    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "-h"), 0);
    assert_true(a.help);
}

static void test_bad_options(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "--bogus"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "-x"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "-n"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "needs an argument"));
    assert_int_equal(parse(&a, err, sizeof err, 4, "get", "-o", "xml"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "get", "-n", ""), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "--help=yes"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "-hx"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 10, "a", "b", "c", "d", "e", "f", "g", "h", "i"), GPUAAS_EINVAL);
}

static void test_logs_flags(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    /* after the verb `logs`, -f is --follow and takes no value */
    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "train", "-f"), 0);
    assert_true(a.follow);
    assert_null(a.file);
    assert_int_equal(a.verb_opts, CLI_OPT_FOLLOW);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[1], "train");
    assert_int_equal(a.replica, -1);
    assert_int_equal(a.attempt, -1);

    assert_int_equal(parse(&a, err, sizeof err, 8, "logs", "-f", "--replica", "2", "--attempt=3", "-n", "a/b/c"), 0);
    assert_true(a.follow);
    assert_int_equal(a.npos, 1); /* -f took no value */
    assert_int_equal(a.replica, 2);
    assert_int_equal(a.attempt, 3);
    assert_string_equal(a.ns, "a/b/c");
    assert_int_equal(a.verb_opts, CLI_OPT_FOLLOW | CLI_OPT_REPLICA | CLI_OPT_ATTEMPT);

    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "train", "--follow"), 0);
    assert_true(a.follow);

    /* elsewhere -f is still --filename */
    assert_int_equal(parse(&a, err, sizeof err, 4, "submit", "-f", "logs"), 0);
    assert_false(a.follow);
    assert_string_equal(a.file, "logs");
    assert_int_equal(a.npos, 1);
    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "-f"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "x", "-fx"), GPUAAS_EINVAL);

    assert_int_equal(parse(&a, err, sizeof err, 5, "get", "pods", "--job", "train"), 0);
    assert_string_equal(a.job, "train");
    assert_int_equal(a.verb_opts, CLI_OPT_JOB);

    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "x", "--replica=0"), 0);
    assert_int_equal(a.replica, 0);
    assert_int_equal(parse(&a, err, sizeof err, 5, "logs", "x", "--replica", "abc"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--replica"));
    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "x", "--attempt=-1"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "x", "--attempt=1x"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "x", "--attempt=99999999999"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "x", "--attempt="), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "logs", "x", "--follow=yes"), GPUAAS_EINVAL);

    assert_string_equal(cli_verb_opt_flag(CLI_OPT_FILE), "-f/--filename");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_FOLLOW), "-f/--follow");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_REPLICA | CLI_OPT_JOB), "--replica");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_ATTEMPT), "--attempt");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_JOB), "--job");
    assert_string_equal(cli_verb_opt_flag(0), "");
}

static void test_resources(void **state)
{
    (void)state;
    assert_int_equal(cli_resource_lookup("jobs"), CLI_RES_JOB);
    assert_int_equal(cli_resource_lookup("job"), CLI_RES_JOB);
    assert_int_equal(cli_resource_lookup("ns"), CLI_RES_NAMESPACE);
    assert_int_equal(cli_resource_lookup("namespaces"), CLI_RES_NAMESPACE);
    assert_int_equal(cli_resource_lookup("no"), CLI_RES_NODE);
    assert_int_equal(cli_resource_lookup("gpu"), CLI_RES_GPU);
    assert_int_equal(cli_resource_lookup("Jobs"), CLI_RES_NONE);
    assert_int_equal(cli_resource_lookup("widgets"), CLI_RES_NONE);
    assert_string_equal(cli_resource_name(CLI_RES_NAMESPACE), "namespace");
}

static void check_age(int64_t seconds, const char *want)
{
    char buf[32];
    assert_true(format_age(seconds, buf, sizeof buf) > 0);
    assert_string_equal(buf, want);
}

static void test_age(void **state)
{
    char tiny[3];
    (void)state;

    check_age(-5, "<invalid>");
    check_age(-1, "0s"); /* small clock skew reads as now */
    check_age(5, "5s");
    check_age(119, "119s");
    check_age(180, "3m");
    check_age(200, "3m20s");
    check_age(15 * 60 + 59, "15m");
    check_age(2 * 3600, "120m"); /* kubectl counts minutes up to 3h */
    check_age(3 * 3600, "3h");
    check_age(5 * 3600 + 600, "5h10m");
    check_age(20 * 3600 + 59, "20h");
    check_age(4 * 86400, "4d");
    check_age(4 * 86400 + 3 * 3600, "4d3h");
    check_age(30 * 86400, "30d");
    check_age((365 * 2 + 10) * 86400LL, "2y10d");
    check_age(365 * 9 * 86400LL, "9y");
    assert_int_equal(format_age(3600 * 5 + 60, tiny, sizeof tiny), GPUAAS_ETOOBIG);
}

static void test_rfc3339(void **state)
{
    int64_t t;
    char buf[32];
    (void)state;

    assert_int_equal(rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(rfc3339_parse("2026-11-25T16:00:00.123Z", &t), 0);
    assert_int_equal(t, 1795622400);
    assert_int_equal(rfc3339_parse("2026-11-25T17:30:00+01:30", &t), 0);
    assert_int_equal(t, 1795622400);
    assert_int_equal(rfc3339_parse("2026-11-25T14:00:00-02:00", &t), 0);
    assert_int_equal(t, 1795622400);
    assert_int_equal(rfc3339_parse("2026-11-25 16:00:00Z", &t), 0);
    assert_int_equal(rfc3339_parse("2026-11-25T16:00:00", &t), GPUAAS_EINVAL);
    assert_int_equal(rfc3339_parse("2026-13-25T16:00:00Z", &t), GPUAAS_EINVAL);
    assert_int_equal(rfc3339_parse("2026-11-25T16:00:00.Z", &t), GPUAAS_EINVAL);
    assert_int_equal(rfc3339_parse("2026-11-25T16:00:00Zjunk", &t), GPUAAS_EINVAL);
    assert_int_equal(rfc3339_parse("", &t), GPUAAS_EINVAL);
    assert_int_equal(rfc3339_parse(NULL, &t), GPUAAS_EINVAL);

    format_age_since("2026-11-25T16:00:00Z", 1795622400 + 300, buf, sizeof buf);
    assert_string_equal(buf, "5m");
    format_age_since("yesterday", 0, buf, sizeof buf);
    assert_string_equal(buf, "<unknown>");
    format_age_since(NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "<unknown>");
}

/* Print t into a memory buffer; returns malloc'd text. */
static char *render(const struct table *t, unsigned indent)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    table_print(t, f, indent);
    fclose(f);
    return text;
}

static void test_table_layout(void **state)
{
    const char *header[] = {"NAME", "STATE", "AGE"};
    const char *row1[] = {"a-long-name", "Running", "5s"};
    const char *row2[] = {"b", NULL, "3m"};
    const char *row3[] = {"caf\xc3\xa9", "Bad\nLine", "1d"};
    struct table *t;
    char *text;
    (void)state;

    assert_int_equal(table_new(0, &t), GPUAAS_EINVAL);
    assert_int_equal(table_new(3, &t), 0);
    assert_int_equal(table_add_row(t, header), 0);
    assert_int_equal(table_add_row(t, row1), 0);
    assert_int_equal(table_add_row(t, row2), 0);
    assert_int_equal(table_add_row(t, row3), 0);
    assert_int_equal(table_rows(t), 4);
    assert_int_equal(table_column_width(t, 0), 11);
    assert_int_equal(table_column_width(t, 1), 8); /* "Bad?Line" and "<none>" */
    assert_int_equal(table_column_width(t, 2), 3);
    assert_int_equal(table_column_width(t, 9), 0);

    text = render(t, 0);
    assert_string_equal(text, "NAME          STATE      AGE\n"
                              "a-long-name   Running    5s\n"
                              "b             <none>     3m\n"
                              "caf\xc3\xa9          Bad?Line   1d\n");
    free(text);
    text = render(t, 2);
    assert_true(strncmp(text, "  NAME ", 7) == 0);
    free(text);
    table_free(t);
    table_free(NULL);
}

static void test_table_cuts_long_cells(void **state)
{
    char *big = malloc(TABLE_MAX_CELL * 2 + 1);
    const char *row[1] = {big};
    struct table *t;
    (void)state;

    assert_non_null(big);
    memset(big, 'x', TABLE_MAX_CELL * 2);
    big[TABLE_MAX_CELL * 2] = '\0';
    assert_int_equal(table_new(1, &t), 0);
    assert_int_equal(table_add_row(t, row), 0);
    assert_int_equal(table_column_width(t, 0), TABLE_MAX_CELL + 3);
    table_free(t);
    free(big);
}

static void test_text_width(void **state)
{
    (void)state;
    assert_int_equal(text_width(""), 0);
    assert_int_equal(text_width("abc"), 3);
    assert_int_equal(text_width("\xe2\x9c\x93 ok"), 4);
}

static void test_config_value(void **state)
{
    const char *text = "# gpuaas client\n"
                       "  server:   http://gpu.example:8080  \n"
                       "tokenizer: no\n"
                       "token: 'abc123'\n"
                       "#token: old\n"
                       "empty:\n";
    char out[64], tiny[4];
    (void)state;

    assert_int_equal(cli_config_value(text, "server", out, sizeof out), 0);
    assert_string_equal(out, "http://gpu.example:8080");
    assert_int_equal(cli_config_value(text, "token", out, sizeof out), 0);
    assert_string_equal(out, "abc123");
    assert_int_equal(cli_config_value(text, "empty", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(cli_config_value(text, "namespace", out, sizeof out), GPUAAS_ENOTFOUND);
    assert_int_equal(cli_config_value(text, "server", tiny, sizeof tiny), GPUAAS_ETOOBIG);
    assert_int_equal(cli_config_value("", "token", out, sizeof out), GPUAAS_ENOTFOUND);
}

static void test_escape(void **state)
{
    char *s;
    (void)state;

    s = http_escape("team-ai/project_llm/dev.1~", 1);
    assert_string_equal(s, "team-ai/project_llm/dev.1~");
    free(s);
    s = http_escape("a/b c?&=#%", 0);
    assert_string_equal(s, "a%2Fb%20c%3F%26%3D%23%25");
    free(s);
    s = http_escape("\xc3\xa9", 1);
    assert_string_equal(s, "%C3%A9");
    free(s);
}

static void test_header_find(void **state)
{
    const char *headers = "HTTP/1.1 200 OK\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "X-Gpuaas-Next-Offset:   1048576  \r\n"
                          "x-gpuaas-pod-state: Running\r\n"
                          "X-Gpuaas-Pod: no colon here\r\n"
                          "X-Empty:\r\n"
                          "\r\n";
    struct http_reply reply = {.headers = (char *)headers};
    char out[64], tiny[4];
    (void)state;

    assert_non_null(http_header_find(headers, "X-Gpuaas-Next-Offset", out, sizeof out));
    assert_string_equal(out, "1048576");
    assert_non_null(http_header_find(headers, "X-GPUAAS-POD-STATE", out, sizeof out)); /* any case */
    assert_string_equal(out, "Running");
    assert_non_null(http_reply_header(&reply, "content-type", out, sizeof out));
    assert_string_equal(out, "text/plain; charset=utf-8");
    assert_non_null(http_header_find(headers, "X-Empty", out, sizeof out));
    assert_string_equal(out, "");
    assert_null(http_header_find(headers, "X-Gpuaas", out, sizeof out)); /* a prefix is not a name */
    assert_null(http_header_find(headers, "Missing", out, sizeof out));
    assert_null(http_header_find(NULL, "Missing", out, sizeof out));
    assert_null(http_reply_header(NULL, "Missing", out, sizeof out));
    assert_non_null(http_header_find(headers, "X-Gpuaas-Next-Offset", tiny, sizeof tiny));
    assert_string_equal(tiny, "104"); /* cut to fit */
    assert_non_null(http_header_find("A: 1", "a", out, sizeof out)); /* no line end */
    assert_string_equal(out, "1");
}

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s", jerr.text);
    return j;
}

static void test_cells_states_bytes(void **state)
{
    char out[32], tiny[3];
    (void)state;

    assert_true(cli_pod_state_final("Succeeded"));
    assert_true(cli_pod_state_final("Failed"));
    assert_true(cli_pod_state_final("Killed"));
    assert_true(cli_pod_state_final("Lost"));
    assert_false(cli_pod_state_final("Running"));
    assert_false(cli_pod_state_final("Scheduled"));
    assert_false(cli_pod_state_final("succeeded"));
    assert_false(cli_pod_state_final(NULL));
    assert_true(cli_job_state_final("Cancelled"));
    assert_false(cli_job_state_final("Pending"));
    assert_false(cli_job_state_final(NULL));

    assert_int_equal(cli_format_bytes(0, out, sizeof out), 1);
    assert_string_equal(out, "0");
    assert_true(cli_format_bytes(512, out, sizeof out) > 0);
    assert_string_equal(out, "512B");
    assert_true(cli_format_bytes(1024, out, sizeof out) > 0);
    assert_string_equal(out, "1Ki");
    assert_true(cli_format_bytes(1536, out, sizeof out) > 0);
    assert_string_equal(out, "1.5Ki");
    assert_true(cli_format_bytes(4509715660LL, out, sizeof out) > 0);
    assert_string_equal(out, "4.2Gi");
    assert_true(cli_format_bytes(80LL << 30, out, sizeof out) > 0);
    assert_string_equal(out, "80Gi");
    assert_true(cli_format_bytes((1LL << 30) - 1, out, sizeof out) > 0);
    assert_string_equal(out, "1Gi"); /* 1023.99...Mi rounds up a unit */
    assert_int_equal(cli_format_bytes(-1, out, sizeof out), GPUAAS_EINVAL);
    assert_int_equal(cli_format_bytes(80LL << 30, tiny, sizeof tiny), GPUAAS_ETOOBIG);
}

static void test_cells_pods(void **state)
{
    json_t *whole = parse_json("{\"gpus\":[{\"uuid\":\"GPU-bf6f78bd-c6a6-b151\",\"gpu_index\":0,\"milli\":1000},"
                               "{\"uuid\":\"GPU-ecdb6235-78ce\",\"gpu_index\":1,\"milli\":1000}],"
                               "\"state\":\"Failed\",\"exit_code\":3,\"exit_signal\":0,\"oom_killed\":false,"
                               "\"started_at\":\"2026-11-25T16:00:00Z\",\"ended_at\":\"2026-11-25T16:03:20Z\","
                               "\"duration_s\":200.4}");
    json_t *mig = parse_json("{\"gpus\":[{\"uuid\":\"MIG-1234\",\"gpu_index\":3,\"milli\":1000,\"mig_index\":0,"
                             "\"mig_profile\":\"1g.10gb\"}],\"exit_code\":null,\"exit_signal\":9,"
                             "\"started_at\":\"2026-11-25T16:00:00Z\",\"ended_at\":null}");
    json_t *share = parse_json("{\"gpus\":[{\"uuid\":\"GPU-5c531a17-8004\",\"milli\":250}],\"exit_code\":137,"
                               "\"exit_signal\":0,\"oom_killed\":true,\"started_at\":null,\"ended_at\":null}");
    json_t *none = parse_json("{\"gpus\":[],\"exit_code\":null,\"exit_signal\":77}");
    char out[CLI_UUID_SHORT * 2 + 2], small[16];
    int64_t t0 = 1795622400; /* 2026-11-25T16:00:00Z */
    (void)state;

    assert_string_equal(cli_pod_devices(whole, out, sizeof out), "GPU-bf6f78bd,GPU-ecdb6235");
    assert_string_equal(cli_pod_devices(mig, out, sizeof out), "1g.10gb");
    assert_string_equal(cli_pod_devices(share, out, sizeof out), "GPU-5c531a17:250m");
    assert_null(cli_pod_devices(none, out, sizeof out));
    /* too long for the buffer: cut, marked */
    assert_string_equal(cli_pod_devices(whole, small, sizeof small), "GPU-bf6f78bd...");

    assert_string_equal(cli_pod_exit(whole, out, sizeof out), "3");
    assert_string_equal(cli_pod_exit(mig, out, sizeof out), "SIGKILL");
    assert_string_equal(cli_pod_exit(share, out, sizeof out), "OOMKilled");
    assert_string_equal(cli_pod_exit(none, out, sizeof out), "SIG77");
    json_object_set_new(none, "exit_signal", json_integer(0));
    assert_null(cli_pod_exit(none, out, sizeof out)); /* still running */

    assert_string_equal(cli_pod_duration(whole, t0 + 9999, out, sizeof out), "3m20s");
    assert_string_equal(cli_pod_duration(mig, t0 + 45, out, sizeof out), "45s"); /* running: since start */
    assert_null(cli_pod_duration(share, t0, out, sizeof out));                /* never started */
    json_decref(whole);
    json_decref(mig);
    json_decref(share);
    json_decref(none);
}

static void test_cells_gpus(void **state)
{
    json_t *whole = parse_json("{\"memory\":\"80Gi\",\"allocated\":true,\"allocated_to\":{\"pod\":4,"
                               "\"namespace\":\"team-a/p/dev\",\"job\":\"train\",\"replica\":1},\"milli_used\":0,"
                               "\"shares\":[],\"mig_devices\":[],\"utilization_pct\":37,"
                               "\"memory_used_bytes\":4509715660,\"temperature_c\":45,\"power_w\":123.4}");
    json_t *shared = parse_json("{\"memory\":\"24Gi\",\"allocated\":true,\"allocated_to\":null,"
                                "\"shares\":[{\"milli\":250,\"allocated_to\":{\"pod\":1,\"namespace\":\"a\",\"job\":\"x\",\"replica\":0}},"
                                "{\"milli\":500,\"allocated_to\":{\"pod\":2,\"namespace\":\"a\",\"job\":\"y\",\"replica\":0}},"
                                "{\"milli\":0,\"allocated_to\":null}],"
                                "\"mig_devices\":[],\"utilization_pct\":null,\"memory_used\":\"3Gi\"}");
    json_t *mig = parse_json("{\"memory\":\"40Gi\",\"allocated_to\":null,\"shares\":[],\"mig_devices\":["
                             "{\"profile\":\"3g.20gb\",\"uuid\":\"MIG-1\",\"allocated_to\":{\"pod\":7,\"namespace\":\"b\","
                             "\"job\":\"inf\",\"replica\":2}},"
                             "{\"profile\":\"2g.10gb\",\"uuid\":\"MIG-2\",\"allocated_to\":null},"
                             "{\"profile\":\"1g.5gb\",\"uuid\":\"MIG-3\",\"allocated_to\":{\"pod\":8,\"namespace\":\"b\","
                             "\"job\":\"inf\",\"replica\":3}},"
                             "{\"profile\":\"1g.5gb\",\"uuid\":\"MIG-4\",\"allocated_to\":null}]}");
    json_t *free_gpu = parse_json("{\"memory\":\"16Gi\",\"allocated_to\":null,\"shares\":[],\"mig_devices\":["
                                  "{\"profile\":\"1g.5gb\",\"uuid\":\"MIG-9\",\"allocated_to\":null}]}");
    char out[256];
    (void)state;

    assert_string_equal(cli_gpu_allocated_to(whole, out, sizeof out), "team-a/p/dev/train[r1]");
    assert_string_equal(cli_gpu_allocated_to(shared, out, sizeof out), "3 shares: 750m");
    assert_string_equal(cli_gpu_allocated_to(mig, out, sizeof out), "2/4 slices");
    assert_null(cli_gpu_allocated_to(free_gpu, out, sizeof out));
    assert_null(cli_holder_text(json_null(), out, sizeof out));

    assert_string_equal(cli_gpu_mig_devices(mig, out, sizeof out),
                        "3g.20gb:b/inf[r2],2g.10gb:free,1g.5gb:b/inf[r3],1g.5gb:free");
    assert_null(cli_gpu_mig_devices(whole, out, sizeof out));
    assert_string_equal(cli_gpu_shares(shared, out, sizeof out), "250m:a/x[r0],500m:a/y[r0],0m:?");
    assert_null(cli_gpu_shares(whole, out, sizeof out));

    assert_string_equal(cli_gpu_util(whole, out, sizeof out), "37%");
    assert_string_equal(cli_gpu_util(shared, out, sizeof out), "-"); /* null */
    assert_string_equal(cli_gpu_util(mig, out, sizeof out), "-");    /* absent */
    assert_string_equal(cli_gpu_memory_used(whole, out, sizeof out), "4.2Gi/80Gi");
    assert_string_equal(cli_gpu_memory_used(shared, out, sizeof out), "3Gi/24Gi");
    assert_string_equal(cli_gpu_memory_used(mig, out, sizeof out), "-/40Gi");
    assert_string_equal(cli_gpu_temperature(whole, out, sizeof out), "45C");
    assert_string_equal(cli_gpu_temperature(mig, out, sizeof out), "-");
    assert_string_equal(cli_gpu_power(whole, out, sizeof out), "123W");
    assert_string_equal(cli_gpu_power(mig, out, sizeof out), "-");
    json_decref(whole);
    json_decref(shared);
    json_decref(mig);
    json_decref(free_gpu);
}

/* ---- quotas ------------------------------------------------------------------- */

static void test_quota_flags(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    assert_true(cli_is_quota_flag("gpus", 4));
    assert_true(cli_is_quota_flag("gpus-A100", 9));
    assert_true(cli_is_quota_flag("mig-1g.10gb", 11));
    assert_true(cli_is_quota_flag("gpu-milli", 9));
    assert_true(cli_is_quota_flag("cpu", 3));
    assert_true(cli_is_quota_flag("memory", 6));
    assert_true(cli_is_quota_flag("pods", 4));
    assert_false(cli_is_quota_flag("gpus-", 5));
    assert_false(cli_is_quota_flag("mig-", 4));
    assert_false(cli_is_quota_flag("mig", 3));
    assert_false(cli_is_quota_flag("gpu", 3));
    assert_false(cli_is_quota_flag("podsx", 5));
    assert_false(cli_is_quota_flag("gpus=3", 4 + 2)); /* the length says where the name ends */

    assert_int_equal(parse(&a, err, sizeof err, 13, "set", "quota", "team-ai", "--gpus", "8", "--gpus-A100=4",
                           "--mig-1g.10gb", "7", "-o", "json", "--cpu=64", "--memory"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--memory"));
    assert_int_equal(parse(&a, err, sizeof err, 14, "set", "quota", "team-ai", "--gpus", "8", "--gpus-A100=4",
                           "--mig-1g.10gb", "7", "-o", "json", "--cpu=64", "--memory", "512Gi"),
                     0);
    assert_int_equal(a.npos, 3);
    assert_string_equal(a.pos[2], "team-ai");
    assert_int_equal(a.output, CLI_OUT_JSON);
    assert_int_equal(a.verb_opts, CLI_OPT_QUOTA);
    assert_int_equal(a.nquota, 5);
    assert_int_equal(a.quota[0].name_len, 4);
    assert_int_equal(strncmp(a.quota[0].name, "gpus", 4), 0);
    assert_string_equal(a.quota[0].value, "8");
    assert_int_equal(a.quota[1].name_len, 9);
    assert_int_equal(strncmp(a.quota[1].name, "gpus-A100", 9), 0);
    assert_string_equal(a.quota[1].value, "4");
    assert_string_equal(a.quota[2].value, "7");
    assert_string_equal(a.quota[3].value, "64");
    assert_string_equal(a.quota[4].value, "512Gi");
    /* a value may look like a flag: the verb refuses it, not the parser */
    assert_int_equal(parse(&a, err, sizeof err, 5, "set", "quota", "--gpus", "-1"), 0);
    assert_string_equal(a.quota[0].value, "-1");
    assert_int_equal(parse(&a, err, sizeof err, 4, "set", "quota", "--gpus="), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--gpus"));
    assert_int_equal(parse(&a, err, sizeof err, 4, "set", "quota", "--gpux=1"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "unknown flag"));
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_QUOTA), "--gpus/--cpu/--memory/--pods (quota limits)");

    /* at most CLI_MAX_QUOTA_FLAGS */
    char *argv[2 * CLI_MAX_QUOTA_FLAGS + 8];
    char names[CLI_MAX_QUOTA_FLAGS + 1][32];
    int argc = 0;
    argv[argc++] = "gpuaas";
    argv[argc++] = "set";
    for (int i = 0; i <= CLI_MAX_QUOTA_FLAGS; i++) {
        snprintf(names[i], sizeof names[i], "--gpus-M%d", i);
        argv[argc++] = names[i];
        argv[argc++] = "1";
    }
    assert_int_equal(cli_args_parse(argc, argv, &a, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "too many quota limits"));
    assert_int_equal(cli_args_parse(argc - 2, argv, &a, err, sizeof err), 0);
    assert_int_equal(a.nquota, CLI_MAX_QUOTA_FLAGS);
}

static struct cli_quota_flag qf(const char *name, const char *value)
{
    return (struct cli_quota_flag){.name = name, .name_len = strlen(name), .value = value};
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *text = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got %s, want %s", text ? text : "?", want_text);
    }
    json_decref(want);
}

static void test_quota_body(void **state)
{
    char err[256];
    json_t *body = NULL;
    (void)state;

    struct cli_quota_flag all[] = {qf("gpus", "8"),        qf("gpus-A100", "4"), qf("mig-1g.10gb", "7"),
                                   qf("gpu-milli", "4000"), qf("cpu", "64"),      qf("memory", "512Gi"),
                                   qf("pods", "100"),       qf("gpus-H100", "0")};
    assert_int_equal(cli_quota_body(all, 8, &body, err, sizeof err), 0);
    assert_json(body, "{\"gpus\":8,\"gpus_per_model\":{\"A100\":4,\"H100\":0},\"mig\":{\"1g.10gb\":7},"
                      "\"gpu_milli\":4000,\"cpu\":\"64\",\"memory\":\"512Gi\",\"pods\":100}");
    json_decref(body);

    /* cpu and memory go as text: the server judges them */
    struct cli_quota_flag cpu[] = {qf("cpu", "500m"), qf("memory", "lots")};
    assert_int_equal(cli_quota_body(cpu, 2, &body, err, sizeof err), 0);
    assert_json(body, "{\"cpu\":\"500m\",\"memory\":\"lots\"}");
    json_decref(body);

    /* only given flags: nothing else appears (the whole quota is what is given) */
    struct cli_quota_flag one[] = {qf("pods", "0")};
    assert_int_equal(cli_quota_body(one, 1, &body, err, sizeof err), 0);
    assert_json(body, "{\"pods\":0}");
    json_decref(body);

    /* the fair-share weight travels with the limits */
    struct cli_quota_flag weight[] = {qf("gpus", "16"), qf("weight", "3")};
    assert_int_equal(cli_quota_body(weight, 2, &body, err, sizeof err), 0);
    assert_json(body, "{\"gpus\":16,\"weight\":3}");
    json_decref(body);

    body = NULL;
    assert_int_equal(cli_quota_body(NULL, 0, &body, err, sizeof err), GPUAAS_EINVAL);
    assert_null(body);
    assert_non_null(strstr(err, "delete quota"));

    const char *bad_counts[] = {"-1", "x", "1.5", "", " 1", "1 ", "+2", "99999999999999999999", "0x10"};
    for (size_t i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; i++) {
        struct cli_quota_flag f[] = {qf("gpus-A100", bad_counts[i])};
        assert_int_equal(cli_quota_body(f, 1, &body, err, sizeof err), GPUAAS_EINVAL);
        assert_non_null(strstr(err, "--gpus-A100"));
        assert_non_null(strstr(err, "non-negative integer"));
    }
    struct cli_quota_flag twice[] = {qf("gpus", "1"), qf("pods", "2"), qf("gpus", "2")};
    assert_int_equal(cli_quota_body(twice, 3, &body, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--gpus is given more than once"));
    struct cli_quota_flag twice_model[] = {qf("mig-1g.5gb", "1"), qf("mig-1g.5gb", "2")};
    assert_int_equal(cli_quota_body(twice_model, 2, &body, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--mig-1g.5gb"));
    /* a model and a profile may share a name */
    struct cli_quota_flag same_name[] = {qf("gpus-X", "1"), qf("mig-X", "2")};
    assert_int_equal(cli_quota_body(same_name, 2, &body, err, sizeof err), 0);
    assert_json(body, "{\"gpus_per_model\":{\"X\":1},\"mig\":{\"X\":2}}");
    json_decref(body);
    struct cli_quota_flag unknown[] = {qf("job", "x")};
    assert_int_equal(cli_quota_body(unknown, 1, &body, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--job is not a quota limit"));
    /* names come from argv with "=VALUE" behind them */
    struct cli_quota_flag eq = {.name = "gpus-A10G=3", .name_len = 9, .value = "3"};
    assert_int_equal(cli_quota_body(&eq, 1, &body, err, sizeof err), 0);
    assert_json(body, "{\"gpus_per_model\":{\"A10G\":3}}");
    json_decref(body);
    struct cli_quota_flag not_utf8[] = {qf("memory", "\xff")};
    assert_int_equal(cli_quota_body(not_utf8, 1, &body, err, sizeof err), GPUAAS_EINVAL);
}

static void test_quota_columns_cells(void **state)
{
    (void)state;
    json_t *items = json_loads(
        "[{\"namespace\":\"team-ai\",\"limits\":{\"gpus\":8,\"gpus_per_model\":{\"H100\":2,\"A100\":4},"
        "\"mig\":{\"1g.10gb\":7},\"cpu\":\"64\",\"memory\":\"512Gi\"},"
        "\"used\":{\"gpus\":3,\"gpus_per_model\":{\"A100\":3},\"mig\":{},\"gpu_milli\":0,\"cpu\":\"500m\","
        "\"memory\":\"32Gi\",\"pods\":3}},"
        "{\"namespace\":\"team-ai/dev\",\"limits\":{\"pods\":1,\"gpus_per_model\":{\"A100\":1}},"
        "\"used\":{\"gpus\":1,\"gpus_per_model\":{\"A100\":1},\"mig\":{},\"gpu_milli\":0,\"cpu\":\"0\","
        "\"memory\":\"0\",\"pods\":1}}]",
        0, NULL);
    assert_non_null(items);
    struct cli_quota_col cols[16];
    size_t n = cli_quota_columns(items, false, cols, 16);
    const char *want_headers[] = {"GPUS", "A100", "H100", "MIG-1g.10gb", "CPU", "MEMORY", "PODS"};
    const char *want_labels[] = {"gpus", "gpus.A100", "gpus.H100", "mig.1g.10gb", "cpu", "memory", "pods"};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(cols[i].header, want_headers[i]);
        assert_string_equal(cols[i].label, want_labels[i]);
    }
    const json_t *org = json_array_get(items, 0), *dev = json_array_get(items, 1);
    const char *want_org[] = {"3/8", "3/4", "0/2", "0/7", "500m/64", "32Gi/512Gi", "-"};
    const char *want_dev[] = {"-", "1/1", "-", "-", "-", "-", "1/1"};
    char cell[64], used[32], limit[32];
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(cli_quota_cell(org, &cols[i], cell, sizeof cell), want_org[i]);
        assert_string_equal(cli_quota_cell(dev, &cols[i], cell, sizeof cell), want_dev[i]);
    }
    assert_true(cli_quota_values(org, &cols[1], used, sizeof used, limit, sizeof limit));
    assert_string_equal(used, "3");
    assert_string_equal(limit, "4");
    assert_false(cli_quota_values(dev, &cols[0], used, sizeof used, limit, sizeof limit));
    assert_string_equal(used, "1");
    assert_string_equal(limit, "-");

    /* wide: the plain resources always, in their order */
    n = cli_quota_columns(items, true, cols, 16);
    assert_int_equal(n, 8);
    assert_string_equal(cols[4].header, "GPU-MILLI");
    assert_string_equal(cols[4].label, "gpu_milli");
    assert_string_equal(cli_quota_cell(org, &cols[4], cell, sizeof cell), "-");
    /* fewer slots than columns: the count says how many there are */
    assert_int_equal(cli_quota_columns(items, false, cols, 2), 7);
    assert_string_equal(cols[1].header, "A100");
    /* one object works as a list of one */
    assert_int_equal(cli_quota_columns(dev, false, cols, 16), 2);
    assert_string_equal(cols[0].header, "A100");
    assert_string_equal(cols[1].header, "PODS");
    assert_int_equal(cli_quota_columns(NULL, false, cols, 16), 0);
    assert_int_equal(cli_quota_columns(NULL, true, cols, 16), 5);

    char summary[256];
    assert_string_equal(cli_quota_summary(org, summary, sizeof summary),
                        "gpus 8, gpus.A100 4, gpus.H100 2, mig.1g.10gb 7, cpu 64, memory 512Gi");
    assert_string_equal(cli_quota_summary(dev, summary, sizeof summary), "gpus.A100 1, pods 1");
    json_t *none = json_pack("{s:s,s:{},s:{}}", "namespace", "x", "limits", "used");
    assert_string_equal(cli_quota_summary(none, summary, sizeof summary), "no limits");
    /* a used value the server left out reads 0; cut text stays terminated */
    assert_int_equal(cli_quota_columns(json_array_get(items, 0), false, cols, 16), 6);
    assert_string_equal(cli_quota_cell(none, &cols[0], cell, sizeof cell), "-");
    json_t *partial = json_pack("{s:s,s:{s:i},s:{}}", "namespace", "x", "limits", "gpus", 5, "used");
    assert_string_equal(cli_quota_cell(partial, &cols[0], cell, sizeof cell), "0/5");
    assert_string_equal(cli_quota_summary(org, summary, 12), "gpus 8, gpu");
    json_decref(partial);
    json_decref(none);
    json_decref(items);
}

/* --user/--group/--name/--expires-in/--since/--limit and the verbs that use them */
static void test_access_flags(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    assert_int_equal(parse(&a, err, sizeof err, 8, "create", "token", "--user", "alice", "--name=ci", "--expires-in",
                           "720h"),
                     0);
    assert_string_equal(a.user, "alice");
    assert_string_equal(a.name, "ci");
    assert_string_equal(a.expires_in, "720h");
    assert_int_equal(a.verb_opts, CLI_OPT_USER | CLI_OPT_NAME | CLI_OPT_EXPIRES);
    assert_null(a.group);
    assert_int_equal(a.limit, -1);

    assert_int_equal(parse(&a, err, sizeof err, 6, "bind", "viewer", "--group", "ml", "-nteam-a"), 0);
    assert_string_equal(a.group, "ml");
    assert_string_equal(a.ns, "team-a");
    assert_int_equal(a.verb_opts, CLI_OPT_GROUP);

    assert_int_equal(parse(&a, err, sizeof err, 6, "audit", "--since", "10m", "--limit", "50"), 0);
    assert_string_equal(a.since, "10m");
    assert_int_equal(a.limit, 50);
    assert_int_equal(a.verb_opts, CLI_OPT_SINCE | CLI_OPT_LIMIT);

    assert_int_equal(parse(&a, err, sizeof err, 4, "audit", "--limit", "0"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--limit"));
    assert_int_equal(parse(&a, err, sizeof err, 4, "audit", "--limit", "-3"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 3, "bind", "--user"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 3, "bind", "--user="), GPUAAS_EINVAL);

    assert_string_equal(cli_verb_opt_flag(CLI_OPT_USER), "--user");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_SINCE | CLI_OPT_LIMIT), "--since");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_EXPIRES), "--expires-in");

    assert_int_equal(cli_resource_lookup("bindings"), CLI_RES_BINDING);
    assert_int_equal(cli_resource_lookup("binding"), CLI_RES_BINDING);
    assert_int_equal(cli_resource_lookup("rolebindings"), CLI_RES_BINDING);
    assert_string_equal(cli_resource_name(CLI_RES_BINDING), "binding");
    assert_int_equal(cli_resource_lookup("tokens"), CLI_RES_TOKEN);
}

static void test_since_parse(void **state)
{
    const int64_t now = 1795622400000LL; /* 2026-11-25T16:00:00Z */
    int64_t ms = 0;
    (void)state;

    /* durations back from now */
    assert_int_equal(cli_since_parse("1h", now, &ms), 0);
    assert_int_equal(ms, now - 3600000);
    assert_int_equal(cli_since_parse("30m", now, &ms), 0);
    assert_int_equal(ms, now - 1800000);
    assert_int_equal(cli_since_parse("1h30m", now, &ms), 0);
    assert_int_equal(ms, now - 5400000);
    assert_int_equal(cli_since_parse("90s", now, &ms), 0);
    assert_int_equal(ms, now - 90000);
    assert_int_equal(cli_since_parse("2d", now, &ms), 0);
    assert_int_equal(ms, now - 2 * 86400000LL);
    /* longer ago than the epoch: from the start */
    assert_int_equal(cli_since_parse("1h", 1000, &ms), 0);
    assert_int_equal(ms, 0);

    /* RFC 3339 times */
    assert_int_equal(cli_since_parse("2026-11-25T16:00:00Z", now, &ms), 0);
    assert_int_equal(ms, 1795622400000LL);
    assert_int_equal(cli_since_parse("2026-11-25T16:00:00.250Z", now, &ms), 0);
    assert_int_equal(ms, 1795622400250LL);
    assert_int_equal(cli_since_parse("2026-11-25T16:00:00.5Z", now, &ms), 0);
    assert_int_equal(ms, 1795622400500LL);
    assert_int_equal(cli_since_parse("2026-11-25T16:00:00.123456789Z", now, &ms), 0);
    assert_int_equal(ms, 1795622400123LL);
    assert_int_equal(cli_since_parse("2026-11-25T17:00:00+01:00", now, &ms), 0);
    assert_int_equal(ms, 1795622400000LL);
    assert_int_equal(cli_since_parse("1970-01-01T00:00:00Z", now, &ms), 0);
    assert_int_equal(ms, 0);

    /* neither */
    ms = 42;
    assert_int_equal(cli_since_parse("", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse(NULL, now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse("yesterday", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse("10", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse("-1h", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse("0s", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse("2026-11-25", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse("2026-11-25T16:00:00", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(cli_since_parse("2026-13-25T16:00:00Z", now, &ms), GPUAAS_EINVAL);
    assert_int_equal(ms, 42);
}

static void test_usage_flags(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    assert_int_equal(parse(&a, err, sizeof err, 9, "usage", "--month", "2026-11", "--by=capacity", "-o", "csv",
                           "-n", "a/b"),
                     0);
    assert_string_equal(a.month, "2026-11");
    assert_string_equal(a.by, "capacity");
    assert_string_equal(a.ns, "a/b");
    assert_int_equal(a.output, CLI_OUT_CSV);
    assert_int_equal(a.verb_opts, CLI_OPT_MONTH | CLI_OPT_BY);
    assert_int_equal(parse(&a, err, sizeof err, 6, "usage", "--from", "2026-11-01", "--to", "2026-11-02T00:00:00Z"),
                     0);
    assert_string_equal(a.from, "2026-11-01");
    assert_string_equal(a.to, "2026-11-02T00:00:00Z");
    assert_null(a.month);
    assert_int_equal(a.verb_opts, CLI_OPT_FROM | CLI_OPT_TO);
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_MONTH), "--month");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_BY), "--by");
    assert_int_equal(parse(&a, err, sizeof err, 3, "usage", "--month="), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "usage", "-o", "tsv"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "csv"));
}

static void test_usage_check(void **state)
{
    char err[256];
    (void)state;

    assert_true(cli_usage_month_valid("2026-11"));
    assert_true(cli_usage_month_valid("1970-01"));
    assert_true(cli_usage_month_valid("2026-12"));
    assert_false(cli_usage_month_valid("2026-13"));
    assert_false(cli_usage_month_valid("2026-00"));
    assert_false(cli_usage_month_valid("1969-12"));
    assert_false(cli_usage_month_valid("2026-1"));
    assert_false(cli_usage_month_valid("2026-011"));
    assert_false(cli_usage_month_valid("2026/11"));
    assert_false(cli_usage_month_valid("+026-11"));
    assert_false(cli_usage_month_valid("2026-11-01"));
    assert_false(cli_usage_month_valid(""));
    assert_false(cli_usage_month_valid(NULL));

    for (size_t i = 0; i < 7; i++)
        assert_true(cli_usage_by_valid(
            (const char *[]){"namespace", "project", "org", "model", "capacity", "node", "pod"}[i]));
    assert_false(cli_usage_by_valid("Namespace"));
    assert_false(cli_usage_by_valid("gpu"));
    assert_false(cli_usage_by_valid(""));
    assert_false(cli_usage_by_valid(NULL));

    assert_int_equal(cli_usage_check(NULL, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(cli_usage_check("2026-11", NULL, NULL, "model", err, sizeof err), 0);
    assert_int_equal(cli_usage_check(NULL, "2026-11-01", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(cli_usage_check("2026-11", "2026-11-01", NULL, NULL, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "not both"));
    assert_int_equal(cli_usage_check("2026-11", NULL, "2026-11-02", NULL, err, sizeof err), GPUAAS_EINVAL);
    assert_int_equal(cli_usage_check("11-2026", NULL, NULL, NULL, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "YYYY-MM"));
    assert_int_equal(cli_usage_check(NULL, NULL, NULL, "gpu", err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--by"));
}

static void test_usage_path(void **state)
{
    char *p;
    (void)state;

    p = cli_usage_path(NULL, NULL, NULL, NULL, NULL);
    assert_string_equal(p, "/v1/usage");
    free(p);
    p = cli_usage_path("2026-11", NULL, NULL, "model", "team-ai/p x");
    assert_string_equal(p, "/v1/usage?month=2026-11&by=model&namespace=team-ai/p%20x");
    free(p);
    p = cli_usage_path(NULL, "2026-11-01T10:00:00+01:00", "1700000000000", NULL, NULL);
    assert_string_equal(p, "/v1/usage?from=2026-11-01T10%3A00%3A00%2B01%3A00&to=1700000000000");
    free(p);
}

static void test_csv_field(void **state)
{
    char *f;
    char up[8];
    (void)state;

#define CSV_IS(in, want)                                                                                           \
    do {                                                                                                           \
        f = cli_csv_field(in);                                                                                     \
        assert_non_null(f);                                                                                        \
        assert_string_equal(f, want);                                                                              \
        free(f);                                                                                                   \
    } while (0)
    CSV_IS(NULL, "");
    CSV_IS("", "");
    CSV_IS("team-ai/project-llm/dev", "team-ai/project-llm/dev");
    CSV_IS("A100-80GB", "A100-80GB");
    CSV_IS("a,b", "\"a,b\"");
    CSV_IS("say \"hi\"", "\"say \"\"hi\"\"\"");
    CSV_IS("\"", "\"\"\"\"");
    CSV_IS("line\nbreak", "\"line\nbreak\"");
    CSV_IS("cr\rx", "\"cr\rx\"");
    CSV_IS(" lead", "\" lead\"");
    CSV_IS("trail ", "\"trail \"");
    CSV_IS("in side", "in side");
#undef CSV_IS

    cli_upper("namespace", up, sizeof up);
    assert_string_equal(up, "NAMESPA");
    cli_upper("org", up, sizeof up);
    assert_string_equal(up, "ORG");
    cli_upper("a-1b", up, sizeof up);
    assert_string_equal(up, "A-1B");
}

static void test_report_flags(void **state)
{
    struct cli_args a;
    char err[256];
    (void)state;

    assert_int_equal(parse(&a, err, sizeof err, 7, "report", "--month", "2026-11", "--format=pdf", "-O", "nov.pdf"),
                     0);
    assert_string_equal(a.pos[0], "report");
    assert_string_equal(a.month, "2026-11");
    assert_string_equal(a.format, "pdf");
    assert_string_equal(a.out_file, "nov.pdf");
    assert_int_equal(a.verb_opts, CLI_OPT_MONTH | CLI_OPT_FORMAT | CLI_OPT_OUT_FILE);
    assert_int_equal(parse(&a, err, sizeof err, 3, "report", "--output-file=x.csv"), 0);
    assert_string_equal(a.out_file, "x.csv");
    assert_null(a.format);
    assert_int_equal(parse(&a, err, sizeof err, 3, "report", "-O"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 3, "report", "--format="), GPUAAS_EINVAL);
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_FORMAT), "--format");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_OUT_FILE), "-O/--output-file");
    assert_int_equal(cli_resource_lookup("reports"), CLI_RES_REPORT);
    assert_string_equal(cli_resource_name(CLI_RES_REPORT), "report");
}

/* get jobs --state S --limit N --chunk-size N -A */
static void test_job_list_flags(void **state)
{
    (void)state;
    struct cli_args a;
    char err[256];

    assert_int_equal(parse(&a, err, sizeof err, 9, "get", "jobs", "--state", "Pending,Running", "--limit", "20", "-A",
                           "--chunk-size=500"),
                     0);
    assert_string_equal(a.state, "Pending,Running");
    assert_int_equal(a.limit, 20);
    assert_int_equal(a.chunk_size, 500);
    assert_true(a.all_namespaces);
    assert_int_equal(a.verb_opts, CLI_OPT_STATE | CLI_OPT_LIMIT | CLI_OPT_ALL_NAMESPACES | CLI_OPT_CHUNK_SIZE);

    assert_int_equal(parse(&a, err, sizeof err, 3, "get", "jobs"), 0);
    assert_null(a.state);
    assert_false(a.all_namespaces);
    assert_int_equal(a.chunk_size, -1);
    assert_int_equal(a.verb_opts, 0);

    assert_int_equal(parse(&a, err, sizeof err, 4, "get", "jobs", "--all-namespaces"), 0);
    assert_true(a.all_namespaces);
    assert_int_equal(parse(&a, err, sizeof err, 4, "get", "jobs", "-A=x"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "get", "jobs", "--state"), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 4, "get", "jobs", "--state="), GPUAAS_EINVAL);
    assert_int_equal(parse(&a, err, sizeof err, 5, "get", "jobs", "--chunk-size", "0"), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "--chunk-size"));
    assert_int_equal(parse(&a, err, sizeof err, 5, "get", "jobs", "--chunk-size", "ten"), GPUAAS_EINVAL);

    assert_string_equal(cli_verb_opt_flag(CLI_OPT_STATE), "--state");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_ALL_NAMESPACES), "-A/--all-namespaces");
    assert_string_equal(cli_verb_opt_flag(CLI_OPT_CHUNK_SIZE), "--chunk-size");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_anywhere),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_logs_flags),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_table_layout),
        cmocka_unit_test(test_table_cuts_long_cells),
        cmocka_unit_test(test_text_width),
        cmocka_unit_test(test_config_value),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_header_find),
        cmocka_unit_test(test_cells_states_bytes),
        cmocka_unit_test(test_cells_pods),
        cmocka_unit_test(test_cells_gpus),
        cmocka_unit_test(test_quota_flags),
        cmocka_unit_test(test_quota_body),
        cmocka_unit_test(test_quota_columns_cells),
        cmocka_unit_test(test_access_flags),
        cmocka_unit_test(test_since_parse),
        cmocka_unit_test(test_usage_flags),
        cmocka_unit_test(test_usage_check),
        cmocka_unit_test(test_usage_path),
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_report_flags),
        cmocka_unit_test(test_job_list_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
