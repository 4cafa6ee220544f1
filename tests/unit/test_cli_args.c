/* Client helpers that need no server: argument parsing, ages, timestamps,
 * table layout, the config file reader and URL escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/args.h"
#include "cli/config.h"
#include "cli/http_client.h"
#include "cli/output.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_anywhere),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_table_layout),
        cmocka_unit_test(test_table_cuts_long_cells),
        cmocka_unit_test(test_text_width),
        cmocka_unit_test(test_config_value),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
