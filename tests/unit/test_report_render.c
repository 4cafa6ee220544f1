/* The report renderers on a realistic synthetic month (20 namespaces, some
 * 3000 pods over four GPU models): the CSV adds up to the report's totals
 * exactly, the PDF is a valid two-page A4 document (pdfinfo), its text is
 * extractable (pdftotext), and UTF-8 outside Latin-1 gets a real font
 * (pdffonts names a CJK font). With REPORT_EXAMPLE_DIR set it also writes
 * the example PDF that scripts/report-example turns into docs/ pictures.
 * Also: the config's report.title is validated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/meter.h"
#include "core/model.h"
#include "core/report.h"
#include "report/render.h"
#include "server/config.h"

#define HOUR_MS 3600000LL
#define TITLE "Forschungszentrum Zürich · 研究所 GPU platform"

static const struct meter_prices prices = {
    .currency = "USD",
    .count = 7,
    .items = {{"H100", "on-demand", 12.29},
              {"A100", "on-demand", 4.096},
              {"A100", "spot", 1.639},
              {"A10G", "on-demand", 1.006},
              {"A10G", "spot", 0.402},
              {"T4", "on-demand", 0.526},
              {"T4", "spot", 0.210}},
};

/* ---- a synthetic month ------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}
static double rnd01(void) { return rnd() / 2147483648.0; }

struct tenant {
    const char *ns;
    int weight;
    const char *models; /* what its jobs run on, one letter each: H A G T (A100 spot: a, A10G spot: g) */
    int util_center;    /* typical GPU utilisation of its pods, percent */
};

static const struct tenant tenants[] = {
    {"team-ai/llm/prod", 12, "HAAA", 86},      {"team-ai/llm/dev", 10, "AaaH", 48},
    {"team-ai/llm/staging", 4, "Aa", 61},      {"team-ai/vision/prod", 7, "AAg", 74},
    {"team-ai/vision/dev", 5, "gGT", 33},      {"team-ai/speech/dev", 4, "gT", 41},
    {"research/rl/dev", 8, "aaaG", 57},        {"research/bio/prod", 6, "AA", 79},
    {"research/bio/dev", 3, "gT", 22},         {"research/robotics/dev", 4, "gg", 38},
    {"team-data/etl/prod", 6, "TTT", 64},      {"team-data/analytics/prod", 3, "T", 52},
    {"team-data/analytics/dev", 2, "T", 12},   {"platform/infra/prod", 2, "G", 30},
    {"platform/ci/prod", 5, "TTg", 45},        {"finance-ml/risk/prod", 4, "AG", 71},
    {"finance-ml/risk/dev", 2, "g", 9},        {"finance-ml/fraud/prod", 4, "GG", 66},
    {"research/rl/notebooks", 3, "T", 6},      {"team-ai/llm/eval", 3, "Aa", 58},
};
#define TENANTS (sizeof tenants / sizeof tenants[0])

static void add_pod(struct core_state *st, uint64_t id, const struct tenant *t, int64_t month_from)
{
    struct core_pod pod;
    memset(&pod, 0, sizeof pod);
    pod.id = id;
    pod.job_id = id;
    snprintf(pod.namespace_path, sizeof pod.namespace_path, "%s", t->ns);
    snprintf(pod.job_name, sizeof pod.job_name, "job%llu", (unsigned long long)id);
    snprintf(pod.node, sizeof pod.node, "n%u", rnd() % 40);
    char m = t->models[rnd() % strlen(t->models)];
    const char *model = m == 'H' ? "H100" : m == 'A' || m == 'a' ? "A100" : m == 'G' || m == 'g' ? "A10G" : "T4";
    snprintf(pod.gpu_model, sizeof pod.gpu_model, "%s", model);
    snprintf(pod.capacity_type, sizeof pod.capacity_type, "%s",
             m == 'a' || m == 'g' || (m == 'T' && rnd() % 3) ? "spot" : "on-demand");
    static const int gpu_counts[] = {1, 1, 1, 1, 2, 2, 4, 8};
    int gpus = m == 'H' ? 2 << (rnd() % 3) : gpu_counts[rnd() % 8];
    /* most runs are short; some train for days */
    double hours = 0.1 + 40 * rnd01() * rnd01() * rnd01();
    pod.scheduled_ms = pod.started_ms = month_from + (int64_t)(rnd01() * 29 * 24 * HOUR_MS);
    pod.ended_ms = pod.scheduled_ms + (int64_t)(hours * HOUR_MS);
    pod.state = POD_SUCCEEDED;
    for (int g = 0; g < gpus; g++) {
        struct core_pod_device *d = &pod.devices[pod.device_count++];
        d->gpu = (uint16_t)g;
        d->mig = -1;
        d->milli = 1000;
    }
    assert_int_equal(core_restore_pod(st, &pod), 0);
}

static void add_month(struct core_state *st, int64_t from, int pods, uint64_t *id, int skew)
{
    int total = 0;
    for (size_t i = 0; i < TENANTS; i++)
        total += tenants[i].weight + (int)(i % 3 == 0 ? skew : 0);
    for (int n = 0; n < pods; n++) {
        int pick = (int)(rnd() % (uint32_t)total);
        size_t i = 0;
        for (; i < TENANTS; i++) {
            pick -= tenants[i].weight + (int)(i % 3 == 0 ? skew : 0);
            if (pick < 0)
                break;
        }
        add_pod(st, ++*id, &tenants[i < TENANTS ? i : 0], from);
    }
}

/* ---- utilisation the way the meter reports it once GPUs are sampled ---------- */

/* A pod's synthetic average utilisation around its tenant's, or none
 * (-1: no samples, about one pod in 25). */
static double pod_util(const struct core_pod *pod)
{
    uint64_t h = pod->id * 0x9e3779b97f4a7c15ULL;
    if ((h >> 40) % 25 == 0)
        return -1;
    int center = 50;
    for (size_t i = 0; i < TENANTS; i++)
        if (strcmp(tenants[i].ns, pod->namespace_path) == 0)
            center = tenants[i].util_center;
    double u = center + (double)((int)((h >> 20) % 41) - 20);
    return u < 0 ? 0 : u > 100 ? 100 : u;
}

static void group_key(const struct core_pod *pod, enum meter_group by, char *out, size_t size)
{
    const char *ns = pod->namespace_path;
    int levels = by == METER_BY_ORG ? 1 : 2;
    size_t n = 0;
    switch (by) {
    case METER_BY_PROJECT:
    case METER_BY_ORG:
        for (int seen = 0; ns[n]; n++)
            if (ns[n] == '/' && ++seen == levels)
                break;
        snprintf(out, size, "%.*s", (int)n, ns);
        return;
    case METER_BY_MODEL: snprintf(out, size, "%s", pod->gpu_model); return;
    case METER_BY_CAPACITY: snprintf(out, size, "%s", pod->capacity_type); return;
    case METER_BY_POD: snprintf(out, size, "%s/%s-r%d-a%d", ns, pod->job_name, pod->replica, pod->attempt); return;
    default: snprintf(out, size, "%s", ns); return;
    }
}

/* Adds util_avg_pct, idle_gpu_seconds and idle_cost to every row of a meter
 * answer (and its total), weighted by GPU time as the meter defines them. */
static void add_util(json_t *usage, const struct core_state *st, enum meter_group by, int64_t from, int64_t to)
{
    json_t *rows = json_object_get(usage, "rows");
    json_t *total = json_object_get(usage, "total");
    size_t n = json_array_size(rows) + 1;
    double *weighted = calloc(n, sizeof *weighted), *sampled = calloc(n, sizeof *sampled);
    double *idle = calloc(n, sizeof *idle);
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        int64_t start = pod->scheduled_ms < from ? from : pod->scheduled_ms;
        int64_t end = pod->ended_ms > to ? to : pod->ended_ms;
        double u = pod_util(pod);
        if (end <= start || u < 0)
            continue;
        double seconds = (double)(end - start) / 1000.0 * pod->device_count;
        char key[NS_PATH_MAX + 64];
        group_key(pod, by, key, sizeof key);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) if (strcmp(json_string_value(json_object_get(row, "key")), key) == 0) break;
        for (size_t k = 0; k < 2; k++) {
            size_t slot = k == 0 ? i : n - 1;
            weighted[slot] += u * seconds;
            sampled[slot] += seconds;
            idle[slot] += u < 10 ? seconds * 0.9 : u < 30 ? seconds * 0.25 : seconds * 0.02;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *row = i + 1 < n ? json_array_get(rows, i) : total;
        json_object_set_new(row, "util_avg_pct", sampled[i] > 0 ? json_real(weighted[i] / sampled[i]) : json_null());
        json_object_set_new(row, "idle_gpu_seconds", json_real(idle[i]));
        double seconds = json_number_value(json_object_get(row, "gpu_seconds"));
        double cost = json_number_value(json_object_get(row, "cost"));
        json_object_set_new(row, "idle_cost", json_real(seconds > 0 ? cost * idle[i] / seconds : 0));
    }
    free(weighted);
    free(sampled);
    free(idle);
}

/* The report of November 2026, with utilisation from the synthetic samples. */
static json_t *example_report(struct core_state *st, const char *title)
{
    int64_t oct_from, oct_to, nov_from, nov_to, now;
    meter_month_range("2026-10", &oct_from, &oct_to);
    meter_month_range("2026-11", &nov_from, &nov_to);
    now = nov_to + 5 * 60000;
    core_state_init(st);
    uint64_t id = 0;
    rng_state = 0x9e3779b97f4a7c15ULL;
    add_month(st, oct_from, 2600, &id, 0);
    add_month(st, nov_from, 3000, &id, 3);
    static const enum meter_group groups[] = {METER_BY_NAMESPACE, METER_BY_PROJECT, METER_BY_ORG,
                                              METER_BY_MODEL,     METER_BY_CAPACITY, METER_BY_POD};
    json_t *u[6];
    for (size_t g = 0; g < 6; g++) {
        u[g] = meter_usage(st, nov_from, nov_to, now, groups[g], &prices, NULL, NULL);
        assert_non_null(u[g]);
        add_util(u[g], st, groups[g], nov_from, nov_to);
    }
    json_t *prev = meter_usage(st, oct_from, oct_to, now, METER_BY_ORG, &prices, NULL, NULL);
    struct report_inputs in = {u[0], u[1], u[2], u[3], u[4], u[5], prev, prev};
    struct report_options opt = {.month = "2026-11", .now_ms = now, .prices = &prices, .scope = "platform",
                                 .title = title};
    json_t *report = NULL;
    assert_int_equal(report_assemble(&opt, &in, &report), 0);
    for (size_t g = 0; g < 6; g++)
        json_decref(u[g]);
    json_decref(prev);
    return report;
}

/* ---- helpers ------------------------------------------------------------------ */

static char *run_tool(const char *tool, const char *arg1, const char *path)
{
    char cmd[1024], *out = NULL;
    size_t cap = 0, len = 0;
    snprintf(cmd, sizeof cmd, "%s %s '%s' %s 2>&1", tool, arg1, path, strcmp(tool, "pdftotext") == 0 ? "-" : "");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        memcpy(out + len, buf, n);
        len += n;
    }
    int rc = pclose(p);
    if (!out)
        out = calloc(1, 1);
    out[len] = '\0';
    if (rc != 0)
        fail_msg("%s failed (%d): %s", cmd, rc, out);
    return out;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Renders the PDF into a temp file; checks pdfinfo's page count and size. */
static void check_pdf(const json_t *report, char *path, size_t path_size)
{
    char *pdf = NULL;
    size_t len = 0;
    assert_int_equal(report_render_pdf(report, &pdf, &len), 0);
    assert_true(len > 1000);
    assert_memory_equal(pdf, "%PDF-", 5);
    snprintf(path, path_size, "%s/gpuaas-report-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, pdf, len);
    free(pdf);
    char *info = run_tool("pdfinfo", "", path);
    char pages[32];
    snprintf(pages, sizeof pages, "Pages:           %d\n", REPORT_PDF_PAGES);
    if (!strstr(info, pages))
        fail_msg("pdfinfo does not say %s: %s", pages, info);
    assert_non_null(strstr(info, "595.276 x 841.89 pts (A4)"));
    free(info);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_csv_adds_up(void **state)
{
    (void)state;
    struct core_state st;
    json_t *report = example_report(&st, NULL);
    char *csv = NULL;
    size_t len = 0;
    assert_int_equal(report_render_csv(report, &csv, &len), 0);
    assert_int_equal(strlen(csv), len);
    assert_int_equal(strncmp(csv, REPORT_CSV_HEADER "\n", strlen(REPORT_CSV_HEADER) + 1), 0);
    long long total = -1, ns_sum = 0, org_sum = 0, project_sum = 0, util_sum = 0;
    int namespaces = 0, top = 0, lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (lines == 1)
            continue;
        char month[16], section[32], key[256], seconds[64];
        long long milli;
        assert_int_equal(sscanf(line, "%15[^,],%31[^,],%255[^,],%lld,%63[^,]", month, section, key, &milli, seconds),
                         5);
        assert_string_equal(month, "2026-11");
        /* gpu_seconds is the exact decimal of gpu_milli_ms */
        char exact[64];
        snprintf(exact, sizeof exact, "%s%lld.%06lld", milli < 0 ? "-" : "", llabs(milli) / 1000000,
                 llabs(milli) % 1000000);
        assert_string_equal(seconds, exact);
        if (strcmp(section, "total") == 0)
            total = milli;
        else if (strcmp(section, "namespace") == 0) {
            ns_sum += milli;
            namespaces++;
        } else if (strcmp(section, "org") == 0)
            org_sum += milli;
        else if (strcmp(section, "project") == 0)
            project_sum += milli;
        else if (strcmp(section, "utilisation") == 0)
            util_sum += milli;
        else if (strcmp(section, "top_consumer") == 0)
            top++;
    }
    long long expected = json_integer_value(json_object_get(json_object_get(report, "total"), "gpu_milli_ms"));
    assert_true(expected > 0);
    assert_int_equal(total, expected);
    assert_int_equal(ns_sum, expected);
    assert_int_equal(org_sum, expected);
    assert_int_equal(project_sum, expected);
    assert_int_equal(util_sum, expected);
    assert_int_equal(namespaces, (int)TENANTS);
    assert_int_equal(top, 10);
    free(csv);
    json_decref(report);
    core_state_free(&st);
}

static void test_csv_quotes_and_na(void **state)
{
    (void)state;
    json_t *report = json_pack("{s:s,s:s,s:{s:I,s:f,s:f,s:I,s:n},s:{s:s,s:{}},s:{},s:[{s:s,s:I}]}", "month",
                               "2026-11", "currency", "", "total", "gpu_milli_ms", (json_int_t)-1500001,
                               "gpu_seconds", -1.500001, "gpu_hours", 0.0, "pods", (json_int_t)0, "cost", "previous",
                               "month", "2026-10", "total", "change", "models", "key", "A100, \"SXM\"",
                               "gpu_milli_ms", (json_int_t)7);
    assert_non_null(report);
    char *csv = NULL;
    size_t len = 0;
    assert_int_equal(report_render_csv(report, &csv, &len), 0);
    assert_non_null(strstr(csv, "\n2026-11,total,total,-1500001,-1.500001,0,0,n/a,,n/a,n/a,n/a,n/a,n/a,n/a\n"));
    assert_non_null(strstr(csv, "\n2026-11,model,\"A100, \"\"SXM\"\"\",7,0.000007,n/a,n/a,n/a,,"));
    free(csv);
    json_t *bad = json_object();
    assert_int_equal(report_render_csv(bad, &csv, &len) < 0, 1);
    assert_int_equal(report_render_pdf(bad, &csv, &len) < 0, 1);
    json_decref(bad);
    json_decref(report);
}

static void test_pdf_two_pages_and_utf8(void **state)
{
    (void)state;
    struct core_state st;
    json_t *report = example_report(&st, TITLE);
    char path[512];
    check_pdf(report, path, sizeof path);
    /* the text is there, CJK included, and a CJK font carries it */
    char *text = run_tool("pdftotext", "-enc UTF-8", path);
    assert_non_null(strstr(text, "研究所"));
    assert_non_null(strstr(text, "Zürich"));
    assert_non_null(strstr(text, "team-ai/llm/prod"));
    assert_non_null(strstr(text, "Top 10 consumers"));
    assert_non_null(strstr(text, "November 2026"));
    assert_non_null(strstr(text, "page 2 of 2"));
    free(text);
    char *fonts = run_tool("pdffonts", "", path);
    if (!strstr(fonts, "CJK"))
        fail_msg("no CJK font embedded for the title: %s", fonts);
    free(fonts);
    const char *dir = getenv("REPORT_EXAMPLE_DIR");
    if (dir && *dir) {
        char *pdf = NULL, out[1024];
        size_t len = 0;
        assert_int_equal(report_render_pdf(report, &pdf, &len), 0);
        snprintf(out, sizeof out, "%s/report-example.pdf", dir);
        write_file(out, pdf, len);
        free(pdf);
        char *csv = NULL;
        assert_int_equal(report_render_csv(report, &csv, &len), 0);
        snprintf(out, sizeof out, "%s/report-example.csv", dir);
        write_file(out, csv, len);
        free(csv);
        char *json = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        snprintf(out, sizeof out, "%s/report-example.json", dir);
        write_file(out, json, strlen(json));
        free(json);
    }
    unlink(path);
    json_decref(report);
    core_state_free(&st);
}

/* An empty month, no prices, a very long namespace: still two pages. */
static void test_pdf_edge_cases(void **state)
{
    (void)state;
    struct core_state st;
    core_state_init(&st);
    struct report_options opt = {.month = "2026-02", .now_ms = 1795622400000LL};
    json_t *report = NULL;
    assert_int_equal(report_build(&st, &opt, &report), 0);
    char path[512];
    check_pdf(report, path, sizeof path);
    char *text = run_tool("pdftotext", "-enc UTF-8", path);
    assert_non_null(strstr(text, "No GPU time this month."));
    assert_non_null(strstr(text, "n/a"));
    free(text);
    unlink(path);
    json_decref(report);

    struct core_pod pod;
    memset(&pod, 0, sizeof pod);
    pod.id = 1;
    char label[64];
    memset(label, 'x', 63);
    label[63] = '\0';
    snprintf(pod.namespace_path, sizeof pod.namespace_path, "%s/%s/%s", label, label, label);
    snprintf(pod.gpu_model, sizeof pod.gpu_model, "A100");
    snprintf(pod.capacity_type, sizeof pod.capacity_type, "spot");
    pod.scheduled_ms = 1795622400000LL - 3 * HOUR_MS;
    pod.ended_ms = 1795622400000LL - HOUR_MS;
    pod.state = POD_SUCCEEDED;
    pod.device_count = 1;
    pod.devices[0].mig = -1;
    pod.devices[0].milli = 1000;
    assert_int_equal(core_restore_pod(&st, &pod), 0);
    opt.month = "2026-11";
    opt.prices = &prices;
    assert_int_equal(report_build(&st, &opt, &report), 0);
    check_pdf(report, path, sizeof path);
    unlink(path);
    json_decref(report);
    core_state_free(&st);
}

/* report: {title} in the server config: any UTF-8, bounded, no control characters. */
static void test_config_title(void **state)
{
    (void)state;
    struct server_config cfg;
    char err[256];
    const char ok[] = "report: {title: \"Forschungszentrum Zürich · 研究所\"}\n";
    assert_int_equal(config_parse(ok, strlen(ok), &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.report_title, "Forschungszentrum Zürich · 研究所");
    config_release(&cfg);
    char long_title[300];
    snprintf(long_title, sizeof long_title, "report: {title: \"%0129d\"}\n", 0);
    const char *bad[] = {long_title, "report: {title: \"a\\tb\"}\n", "report: {heading: x}\n",
                         "report: {title: [1]}\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(config_parse(bad[i], strlen(bad[i]), &cfg, err, sizeof err) < 0);
        assert_non_null(strstr(err, "report"));
        config_release(&cfg);
    }
    assert_int_equal(config_parse(config_default_yaml, strlen(config_default_yaml), &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.report_title, "");
    config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_adds_up),
        cmocka_unit_test(test_csv_quotes_and_na),
        cmocka_unit_test(test_pdf_two_pages_and_utf8),
        cmocka_unit_test(test_pdf_edge_cases),
        cmocka_unit_test(test_config_title),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
