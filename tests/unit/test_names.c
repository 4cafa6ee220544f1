/* Unit tests for src/core/names.c: DNS labels, namespace paths, label keys
 * and values, and namespace containment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/names.h"
#include "gpuaas/error.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A string of `len` copies of `c` in `buf` (which must hold len + 1). */
static char *repeat(char *buf, char c, size_t len)
{
    memset(buf, c, len);
    buf[len] = '\0';
    return buf;
}

typedef int (*check_fn)(const char *, const char **);

static void expect_ok(check_fn check, const char *text)
{
    const char *why = "untouched";
    int r = check(text, &why);
    if (r != 0)
        fail_msg("\"%s\": want 0, got %d (%s)", text, r, why);
}

/* Invalid input: EINVAL and a reason containing `why_part` (NULL: any
 * non-empty reason). The reason must also be optional (why == NULL). */
static void expect_bad(check_fn check, const char *text, const char *why_part)
{
    const char *why = NULL;
    int r = check(text, &why);
    if (r != GPUAAS_EINVAL)
        fail_msg("\"%s\": want EINVAL, got %d", text ? text : "(null)", r);
    if (!why || !*why)
        fail_msg("\"%s\": no reason given", text ? text : "(null)");
    if (why_part && !strstr(why, why_part))
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text ? text : "(null)", why, why_part);
    assert_int_equal(check(text, NULL), GPUAAS_EINVAL);
}

/* ---- labels --------------------------------------------------------------- */

static void test_label_valid(void **state)
{
    (void)state;
    char buf[128];
    static const char *const ok[] = {"a", "z", "0", "9", "a1", "1a", "gpu-node-01", "a-b-c", "a--b", "123"};
    for (size_t i = 0; i < N(ok); i++)
        expect_ok(names_check_label, ok[i]);
    expect_ok(names_check_label, repeat(buf, 'x', NAME_LABEL_MAX));
    /* 63 characters with hyphens inside still fine */
    repeat(buf, 'b', 63);
    buf[10] = '-';
    expect_ok(names_check_label, buf);
}

static void test_label_length(void **state)
{
    (void)state;
    char buf[128];
    expect_ok(names_check_label, repeat(buf, 'a', 63));
    expect_bad(names_check_label, repeat(buf, 'a', 64), "at most 63");
    expect_bad(names_check_label, repeat(buf, 'a', 100), "at most 63");
}

static void test_label_uppercase(void **state)
{
    (void)state;
    expect_bad(names_check_label, "Abc", "lower case");
    expect_bad(names_check_label, "abC", "lower case");
    expect_bad(names_check_label, "GPU", "lower case");
}

static void test_label_hyphen_edges(void **state)
{
    (void)state;
    expect_bad(names_check_label, "-abc", "start and end");
    expect_bad(names_check_label, "abc-", "start and end");
    expect_bad(names_check_label, "-", "start and end");
    expect_bad(names_check_label, "--", "start and end");
}

static void test_label_bad_characters(void **state)
{
    (void)state;
    static const char *const bad[] = {"a_b", "_a", "a.b", "a b", "a/b", "a:b", "a\tb", "é", "a\x7f",
                                      "a*", "a@b"};
    for (size_t i = 0; i < N(bad); i++)
        expect_bad(names_check_label, bad[i], "may contain only");
}

static void test_label_empty(void **state)
{
    (void)state;
    expect_bad(names_check_label, "", "empty");
    expect_bad(names_check_label, NULL, "empty");
}

/* ---- namespaces ----------------------------------------------------------- */

static int check_namespace_no_depth(const char *path, const char **why)
{
    return names_check_namespace(path, NULL, why);
}

static void expect_ns_depth(const char *path, int want_depth)
{
    int depth = -1;
    const char *why = "untouched";
    int r = names_check_namespace(path, &depth, &why);
    if (r != 0 || depth != want_depth)
        fail_msg("\"%s\": want depth %d, got r=%d depth=%d (%s)", path, want_depth, r, depth, why);
    assert_int_equal(names_check_namespace(path, NULL, NULL), 0);
}

static void test_namespace_levels(void **state)
{
    (void)state;
    expect_ns_depth("a", 1);
    expect_ns_depth("team-ai", 1);
    expect_ns_depth("team-ai/project-llm", 2);
    expect_ns_depth("team-ai/project-llm/dev", 3);
    expect_ns_depth("0/1/2", 3);
}

static void test_namespace_too_deep(void **state)
{
    (void)state;
    expect_bad(check_namespace_no_depth, "a/b/c/d", "more than three");
    expect_bad(check_namespace_no_depth, "org/proj/env/extra", "more than three");
    expect_bad(check_namespace_no_depth, "a/b/c/d/e/f", "more than three");
}

static void test_namespace_empty_levels(void **state)
{
    (void)state;
    expect_bad(check_namespace_no_depth, "a//b", "empty level");
    expect_bad(check_namespace_no_depth, "/a", "empty level");
    expect_bad(check_namespace_no_depth, "a/", "empty level");
    expect_bad(check_namespace_no_depth, "/", "empty level");
    expect_bad(check_namespace_no_depth, "a/b/", "empty level");
    expect_bad(check_namespace_no_depth, "", "empty");
    expect_bad(check_namespace_no_depth, NULL, "empty");
}

static void test_namespace_bad_labels(void **state)
{
    (void)state;
    expect_bad(check_namespace_no_depth, "..", "may contain only");
    expect_bad(check_namespace_no_depth, ".", "may contain only");
    expect_bad(check_namespace_no_depth, "a/../b", "may contain only");
    expect_bad(check_namespace_no_depth, "a/./b", "may contain only");
    expect_bad(check_namespace_no_depth, "Team/x", "lower case");
    expect_bad(check_namespace_no_depth, "a/-b", "start and end");
    expect_bad(check_namespace_no_depth, "a/b_c", "may contain only");
    expect_bad(check_namespace_no_depth, "a\\b", "may contain only");
}

static void test_namespace_lengths(void **state)
{
    (void)state;
    char l63[64], l64[65], path[512];
    repeat(l63, 'a', 63);
    repeat(l64, 'b', 64);

    /* three labels of 63: the longest valid namespace */
    snprintf(path, sizeof path, "%s/%s/%s", l63, l63, l63);
    assert_int_equal(strlen(path), NS_PATH_MAX);
    expect_ns_depth(path, 3);

    /* one label too long, the path itself short enough */
    snprintf(path, sizeof path, "x/%s", l64);
    expect_bad(check_namespace_no_depth, path, "at most 63");
    snprintf(path, sizeof path, "%s", l64);
    expect_bad(check_namespace_no_depth, path, "at most 63");

    /* over NS_PATH_MAX */
    snprintf(path, sizeof path, "%s/%s/%sa", l63, l63, l63);
    assert_int_equal(strlen(path), NS_PATH_MAX + 1);
    expect_bad(check_namespace_no_depth, path, "too long");
    snprintf(path, sizeof path, "%s%s%s%s", l63, l63, l63, l63);
    expect_bad(check_namespace_no_depth, path, "too long");
}

/* ---- label keys and values ------------------------------------------------ */

static void test_label_key_valid(void **state)
{
    (void)state;
    char buf[300], name63[64];
    static const char *const ok[] = {"app", "A", "a_b", "a.b", "a-b", "Model9", "gpuaas.io/gpu-model",
                                     "example.com/Some_Key.v2", "x/y", "a-b.c/z", "1/2"};
    for (size_t i = 0; i < N(ok); i++)
        expect_ok(names_check_label_key, ok[i]);
    expect_ok(names_check_label_key, repeat(name63, 'k', 63));
    /* prefix + '/' + name == 253 characters */
    repeat(buf, 'p', 189);
    buf[189] = '/';
    repeat(buf + 190, 'n', 63);
    assert_int_equal(strlen(buf), LABEL_KEY_MAX);
    expect_ok(names_check_label_key, buf);
}

static void test_label_key_invalid(void **state)
{
    (void)state;
    char buf[300];
    expect_bad(names_check_label_key, "", "empty");
    expect_bad(names_check_label_key, NULL, "empty");
    expect_bad(names_check_label_key, "/a", "prefix must not be empty");
    expect_bad(names_check_label_key, "a/", "1-63");
    expect_bad(names_check_label_key, "a/b/c", "at most one '/'");
    expect_bad(names_check_label_key, "Example.com/x", "prefix");
    expect_bad(names_check_label_key, "ex_ample.com/x", "prefix");
    expect_bad(names_check_label_key, "_a", "start and end");
    expect_bad(names_check_label_key, "a_", "start and end");
    expect_bad(names_check_label_key, ".a", "start and end");
    expect_bad(names_check_label_key, "a b", "may contain only");
    expect_bad(names_check_label_key, "a:b", "may contain only");
    expect_bad(names_check_label_key, repeat(buf, 'k', 64), "1-63");
    /* 254 characters in all, name part within 63 */
    repeat(buf, 'p', 190);
    buf[190] = '/';
    repeat(buf + 191, 'n', 63);
    assert_int_equal(strlen(buf), LABEL_KEY_MAX + 1);
    expect_bad(names_check_label_key, buf, "253");
}

static void test_label_value(void **state)
{
    (void)state;
    char buf[128];
    expect_ok(names_check_label_value, "");
    expect_ok(names_check_label_value, "A100");
    expect_ok(names_check_label_value, "any printable: ~!@#$%^&*()_+{}|\"<>? ");
    expect_ok(names_check_label_value, repeat(buf, 'v', LABEL_VALUE_MAX));
    expect_bad(names_check_label_value, repeat(buf, 'v', LABEL_VALUE_MAX + 1), "at most 63");
    expect_bad(names_check_label_value, "tab\there", "printable");
    expect_bad(names_check_label_value, "nl\n", "printable");
    expect_bad(names_check_label_value, "del\x7f", "printable");
    expect_bad(names_check_label_value, "caf\xc3\xa9", "printable");
    expect_bad(names_check_label_value, NULL, "string");
}

/* ---- containment ---------------------------------------------------------- */

static void test_namespace_within(void **state)
{
    (void)state;
    assert_true(names_namespace_within("a", "a"));
    assert_true(names_namespace_within("a/b", "a"));
    assert_true(names_namespace_within("a/b/c", "a"));
    assert_true(names_namespace_within("a/b/c", "a/b"));
    assert_true(names_namespace_within("a/b/c", "a/b/c"));

    assert_false(names_namespace_within("ab", "a"));
    assert_false(names_namespace_within("ab/c", "a"));
    assert_false(names_namespace_within("a/bc", "a/b"));
    assert_false(names_namespace_within("a", "a/b"));
    assert_false(names_namespace_within("b/a", "a"));
    assert_false(names_namespace_within("a-b", "a"));
    assert_false(names_namespace_within("", "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_valid),          cmocka_unit_test(test_label_length),
        cmocka_unit_test(test_label_uppercase),      cmocka_unit_test(test_label_hyphen_edges),
        cmocka_unit_test(test_label_bad_characters), cmocka_unit_test(test_label_empty),
        cmocka_unit_test(test_namespace_levels),     cmocka_unit_test(test_namespace_too_deep),
        cmocka_unit_test(test_namespace_empty_levels), cmocka_unit_test(test_namespace_bad_labels),
        cmocka_unit_test(test_namespace_lengths),    cmocka_unit_test(test_label_key_valid),
        cmocka_unit_test(test_label_key_invalid),    cmocka_unit_test(test_label_value),
        cmocka_unit_test(test_namespace_within),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
