/* Unit tests for src/gpu/ (nvml.c, model.c, probe.c) through the real
 * dlopen path, against the fake NVML (src/fakenvml/). The fake is found
 * at $GPUAAS_FAKE_NVML_LIB (default build/test/libnvidia-ml-fake.so) and
 * its core-only variant at $GPUAAS_FAKE_NVML_MIN_LIB; each test writes
 * its own description into a fresh temporary directory. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "gpu/gpu.h"
#include "gpu/nvml_types.h"
#include "gpu/probe.h"
#include "gpuaas/error.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define GiB (1024LL * 1024 * 1024)

struct fixture {
    char dir[256];
    char cfg[320];
    char util_dir[320];
    /* contexts a test opened and has not closed: teardown closes them, so
     * one failed assertion does not leave NVML initialised for the next */
    void *open_ctx[4];
};

static struct fixture *g_fx;

static const char *fake_lib(void)
{
    const char *p = getenv("GPUAAS_FAKE_NVML_LIB");
    return p && *p ? p : "build/test/libnvidia-ml-fake.so";
}

static const char *fake_min_lib(void)
{
    const char *p = getenv("GPUAAS_FAKE_NVML_MIN_LIB");
    return p && *p ? p : "build/test/libnvidia-ml-fake-min.so";
}

static int setup(void **state)
{
    static struct fixture fx;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx.dir, sizeof fx.dir, "%s/gpuaas-nvml-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.cfg, sizeof fx.cfg, "%s/fake-nvml.conf", fx.dir);
    snprintf(fx.util_dir, sizeof fx.util_dir, "%s/util", fx.dir);
    setenv("GPUAAS_FAKE_NVML_CONFIG", fx.cfg, 1);
    memset(fx.open_ctx, 0, sizeof fx.open_ctx);
    g_fx = &fx;
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char path[400];
    for (size_t i = 0; i < N(fx->open_ctx); i++)
        gpu_nvml_driver.close(fx->open_ctx[i]);
    g_fx = NULL;
    for (unsigned i = 0; i < GPU_DEVICES_MAX; i++) {
        snprintf(path, sizeof path, "%s/%u", fx->util_dir, i);
        unlink(path);
    }
    rmdir(fx->util_dir);
    unlink(fx->cfg);
    rmdir(fx->dir);
    return 0;
}

/* Replaces the description atomically (new file, rename), as the fake's
 * documentation asks of anything changing it while a process reads it. */
static void write_cfg(const struct fixture *fx, const char *text)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp", fx->cfg);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, fx->cfg), 0);
}

static void write_util(const struct fixture *fx, unsigned index, const char *text)
{
    char path[400];
    if (mkdir(fx->util_dir, 0755) < 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", fx->util_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/%u", fx->util_dir, index);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void *open_ok(const char *lib)
{
    char err[256] = "";
    void *ctx = NULL;
    int r = gpu_nvml_driver.open(lib, &ctx, err, sizeof err);
    if (r != 0)
        fail_msg("open %s: %d (%s)", lib, r, err);
    assert_non_null(ctx);
    for (size_t i = 0; g_fx && i < N(g_fx->open_ctx); i++) {
        if (!g_fx->open_ctx[i]) {
            g_fx->open_ctx[i] = ctx;
            break;
        }
    }
    return ctx;
}

static void close_ctx(void *ctx)
{
    for (size_t i = 0; g_fx && i < N(g_fx->open_ctx); i++)
        if (g_fx->open_ctx[i] == ctx)
            g_fx->open_ctx[i] = NULL;
    gpu_nvml_driver.close(ctx);
}

static struct gpu_info query_ok(void *ctx, unsigned index)
{
    struct gpu_info info;
    int r = gpu_nvml_driver.query(ctx, index, &info);
    if (r != 0)
        fail_msg("query %u: %d", index, r);
    assert_int_equal(info.index, index);
    return info;
}

/* "GPU-" or "MIG-" then 8-4-4-4-12 lower-case hex digits. */
static void assert_uuid_form(const char *uuid, const char *prefix)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    const char *s = uuid;
    if (strncmp(s, prefix, 4) != 0)
        fail_msg("uuid \"%s\" does not start with %s", uuid, prefix);
    s += 4;
    for (size_t g = 0; g < N(groups); g++) {
        for (int i = 0; i < groups[g]; i++, s++)
            if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                fail_msg("uuid \"%s\": not hex at %zu", uuid, (size_t)(s - uuid));
        if (g + 1 < N(groups) && *s++ != '-')
            fail_msg("uuid \"%s\": want '-' after group %zu", uuid, g);
    }
    if (*s)
        fail_msg("uuid \"%s\": trailing characters", uuid);
}

/* Three GPUs: an A100 split by MIG, an A10G with everything, a T4 that
 * reports only its name (every other call answers NOT_SUPPORTED). */
static const char three_gpus[] =
    "# test description\n"
    "seed unit-test\n"
    "driver 550.54.15\n"
    "gpu name=\"NVIDIA A100-SXM4-40GB\" memory=40Gi mem_used=1Gi temp=30 power_mw=60000 ecc=0 "
    "mig=1g.5gb,1g.5gb,2g.10gb\n"
    "gpu model=A10G memory=24Gi mem_used=512Mi util=37 mem_util=12 temp=34 power_mw=58000 ecc=2  # A10G\n"
    "gpu name=\"Tesla T4\"\n"
    "\n"
    "xid gpu=1 code=79\n";

/* ---- model names ---------------------------------------------------------- */

static void test_model_from_name(void **state)
{
    (void)state;
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"NVIDIA A100-SXM4-40GB", "A100"},
        {"NVIDIA A100-SXM4-80GB", "A100"},
        {"NVIDIA A100 80GB PCIe", "A100"},
        {"NVIDIA A10G", "A10G"},
        {"Tesla T4", "T4"},
        {"NVIDIA H100 80GB HBM3", "H100"},
        {"NVIDIA H100 PCIe", "H100"},
        {"NVIDIA H100 NVL", "H100"},
        {"NVIDIA H200", "H200"},
        {"NVIDIA GH200 480GB", "GH200"},
        {"Tesla V100-SXM2-16GB", "V100"},
        {"Tesla V100S-PCIE-32GB", "V100S"},
        {"NVIDIA L4", "L4"},
        {"NVIDIA L40S", "L40S"},
        {"NVIDIA GeForce RTX 4090", "RTX4090"},
        {"NVIDIA RTX A6000", "RTXA6000"},
        {"NVIDIA RTX 6000 Ada Generation", "RTX6000"},
        {"Quadro RTX 8000", "RTX8000"},
        {"NVIDIA TITAN V", "TITANV"},
        {"NVIDIA A100-SXM4-40GB MIG 1g.5gb", "A100"},
        {"  NVIDIA  A30", "A30"},
        {"NVIDIA", "NVIDIA"},
        {"", ""},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[32] = "junk";
        gpu_model_from_name(cases[i].name, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].name, out, cases[i].want);
    }
}

static void test_model_bounded(void **state)
{
    (void)state;
    char out[8] = "xxxxxxx";
    gpu_model_from_name("NVIDIA A100-SXM4-40GB", out, 3);
    assert_string_equal(out, "A1");
    gpu_model_from_name("NVIDIA A100", out, 1);
    assert_string_equal(out, "");
    strcpy(out, "junk");
    gpu_model_from_name(NULL, out, sizeof out);
    assert_string_equal(out, "");
    gpu_model_from_name("NVIDIA A100", NULL, 0); /* must not crash */
}

/* ---- discovery ------------------------------------------------------------ */

static void test_discovery(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, three_gpus);
    void *ctx = open_ok(fake_lib());

    char version[96];
    assert_int_equal(gpu_nvml_driver.driver_version(ctx, version, sizeof version), 0);
    assert_string_equal(version, "550.54.15");
    unsigned count = 0;
    assert_int_equal(gpu_nvml_driver.count(ctx, &count), 0);
    assert_int_equal(count, 3);

    struct gpu_info a100 = query_ok(ctx, 0);
    assert_string_equal(a100.name, "NVIDIA A100-SXM4-40GB");
    assert_string_equal(a100.model, "A100");
    assert_uuid_form(a100.uuid, "GPU-");
    assert_int_equal(a100.memory_total_bytes, 40 * GiB);
    assert_int_equal(a100.memory_used_bytes, 1 * GiB);
    assert_int_equal(a100.utilization_pct, -1); /* MIG on: NVML has none */
    assert_int_equal(a100.temperature_c, 30);
    assert_int_equal(a100.power_mw, 60000);
    assert_int_equal(a100.ecc_uncorrected, 0);
    assert_int_equal(a100.xid_last, 0);
    assert_int_equal(a100.mig_mode, 1);
    assert_int_equal(a100.mig_count, 3);
    static const char *const profiles[] = {"1g.5gb", "1g.5gb", "2g.10gb"};
    static const int64_t mig_mem[] = {5 * GiB, 5 * GiB, 10 * GiB};
    for (unsigned i = 0; i < 3; i++) {
        assert_string_equal(a100.mig[i].profile, profiles[i]);
        assert_uuid_form(a100.mig[i].uuid, "MIG-");
        assert_int_equal(a100.mig[i].gpu_instance_id, i + 1);
        assert_int_equal(a100.mig[i].compute_instance_id, 0);
        assert_int_equal(a100.mig[i].memory_total_bytes, mig_mem[i]);
    }

    struct gpu_info a10g = query_ok(ctx, 1);
    assert_string_equal(a10g.name, "NVIDIA A10G");
    assert_string_equal(a10g.model, "A10G");
    assert_uuid_form(a10g.uuid, "GPU-");
    assert_int_equal(a10g.memory_total_bytes, 24 * GiB);
    assert_int_equal(a10g.memory_used_bytes, 512LL << 20);
    assert_int_equal(a10g.utilization_pct, 37);
    assert_int_equal(a10g.memory_utilization_pct, 12);
    assert_int_equal(a10g.temperature_c, 34);
    assert_int_equal(a10g.power_mw, 58000);
    assert_int_equal(a10g.ecc_uncorrected, 2);
    assert_int_equal(a10g.mig_mode, -1);
    assert_int_equal(a10g.mig_count, 0);
    assert_int_equal(a10g.xid_last, 79);

    /* a GPU that reports only its name: every other field "not available" */
    struct gpu_info t4 = query_ok(ctx, 2);
    assert_string_equal(t4.name, "Tesla T4");
    assert_string_equal(t4.model, "T4");
    assert_uuid_form(t4.uuid, "GPU-");
    assert_int_equal(t4.memory_total_bytes, -1);
    assert_int_equal(t4.memory_used_bytes, -1);
    assert_int_equal(t4.utilization_pct, -1);
    assert_int_equal(t4.memory_utilization_pct, -1);
    assert_int_equal(t4.temperature_c, -1);
    assert_int_equal(t4.power_mw, -1);
    assert_int_equal(t4.ecc_uncorrected, -1);
    assert_int_equal(t4.mig_mode, -1);
    assert_int_equal(t4.mig_count, 0);
    assert_int_equal(t4.xid_last, 0);

    /* every GPU and MIG UUID distinct */
    const char *uuids[] = {a100.uuid, a100.mig[0].uuid, a100.mig[1].uuid, a100.mig[2].uuid,
                           a10g.uuid, t4.uuid};
    for (size_t i = 0; i < N(uuids); i++)
        for (size_t j = i + 1; j < N(uuids); j++)
            if (strcmp(uuids[i], uuids[j]) == 0)
                fail_msg("uuid %zu and %zu are both %s", i, j, uuids[i]);

    struct gpu_info untouched = {.index = 77};
    assert_int_equal(gpu_nvml_driver.query(ctx, 3, &untouched), GPUAAS_ENOTFOUND);
    assert_int_equal(untouched.index, 77);
    close_ctx(ctx);
}

static void test_mig_mode_off_and_empty(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, "gpu model=A100 memory=40Gi util=5 mig_mode=0\n"
                  "gpu model=H100 memory=80Gi mig_mode=1\n"
                  "gpu model=H100 memory=80Gi mig=-,3g.40gb,-,-,1g.10gb+me\n");
    void *ctx = open_ok(fake_lib());
    struct gpu_info off = query_ok(ctx, 0);
    assert_int_equal(off.mig_mode, 0);
    assert_int_equal(off.mig_count, 0);
    assert_int_equal(off.utilization_pct, 5);
    struct gpu_info on = query_ok(ctx, 1);
    assert_int_equal(on.mig_mode, 1);
    assert_int_equal(on.mig_count, 0);
    /* empty slots (NVML_ERROR_NOT_FOUND) are skipped, not the end */
    struct gpu_info sparse = query_ok(ctx, 2);
    assert_int_equal(sparse.mig_count, 2);
    assert_string_equal(sparse.mig[0].profile, "3g.40gb");
    assert_int_equal(sparse.mig[0].gpu_instance_id, 2);
    assert_string_equal(sparse.mig[1].profile, "1g.10gb+me");
    assert_int_equal(sparse.mig[1].gpu_instance_id, 5);
    assert_int_equal(sparse.mig[1].memory_total_bytes, 10 * GiB);
    close_ctx(ctx);
}

static void collect_uuids(void *ctx, char out[4][96])
{
    struct gpu_info g0 = query_ok(ctx, 0), g1 = query_ok(ctx, 1);
    assert_int_equal(g0.mig_count, 2);
    snprintf(out[0], 96, "%s", g0.uuid);
    snprintf(out[1], 96, "%s", g0.mig[0].uuid);
    snprintf(out[2], 96, "%s", g0.mig[1].uuid);
    snprintf(out[3], 96, "%s", g1.uuid);
}

static void test_uuids_stable(void **state)
{
    struct fixture *fx = *state;
    static const char cfg[] = "seed s1\ngpu model=A100 memory=40Gi mig=3g.20gb,3g.20gb\n"
                              "gpu model=A100 memory=40Gi\n";
    char first[4][96], again[4][96], both[4][96], other[4][96];
    write_cfg(fx, cfg);

    void *ctx = open_ok(fake_lib());
    collect_uuids(ctx, first);
    close_ctx(ctx);

    ctx = open_ok(fake_lib());
    void *ctx2 = open_ok(fake_lib()); /* two at once share the library */
    collect_uuids(ctx, again);
    collect_uuids(ctx2, both);
    close_ctx(ctx2);
    close_ctx(ctx);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(first[i], again[i]);
        assert_string_equal(first[i], both[i]);
    }

    /* another seed: other UUIDs, still distinct from each other */
    write_cfg(fx, "seed s2\ngpu model=A100 memory=40Gi mig=3g.20gb,3g.20gb\n"
                  "gpu model=A100 memory=40Gi\n");
    ctx = open_ok(fake_lib());
    collect_uuids(ctx, other);
    close_ctx(ctx);
    for (int i = 0; i < 4; i++) {
        assert_string_not_equal(first[i], other[i]);
        for (int j = i + 1; j < 4; j++)
            assert_string_not_equal(other[i], other[j]);
    }
}

/* ---- changes while open ------------------------------------------------- */

static void test_util_follows_file(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, "gpu model=A10G memory=24Gi util=10\ngpu model=A10G memory=24Gi util=20\n");
    void *ctx = open_ok(fake_lib());
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 10);

    write_cfg(fx, "gpu model=A10G memory=24Gi util=90 mem_util=40\n"
                  "gpu model=A10G memory=24Gi util=20\n");
    struct gpu_info g = query_ok(ctx, 0);
    assert_int_equal(g.utilization_pct, 90);
    assert_int_equal(g.memory_utilization_pct, 40);

    /* util/<index> wins over the file, for that GPU only */
    write_util(fx, 0, "55\n");
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 55);
    assert_int_equal(query_ok(ctx, 1).utilization_pct, 20);
    write_util(fx, 0, "100");
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 100);
    /* an override that is not 0..100 is ignored */
    write_util(fx, 0, "101");
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 90);
    write_util(fx, 0, "");
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 90);
    close_ctx(ctx);
}

static void test_broken_rewrite_keeps_state(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, "gpu model=A10G memory=24Gi util=10\n");
    void *ctx = open_ok(fake_lib());
    write_cfg(fx, "gpu model=A10G memory=24Gi util=bogus\n");
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 10);
    /* a torn write that loses GPUs is ignored too */
    write_cfg(fx, "");
    unsigned count = 0;
    assert_int_equal(gpu_nvml_driver.count(ctx, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 10);
    write_cfg(fx, "gpu model=A10G memory=24Gi util=11\n");
    assert_int_equal(query_ok(ctx, 0).utilization_pct, 11);
    close_ctx(ctx);
}

static void test_xid_and_ecc(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, "gpu model=A100 memory=40Gi ecc=0\ngpu model=A100 memory=40Gi ecc=0\n");
    void *ctx = open_ok(fake_lib());
    assert_int_equal(query_ok(ctx, 0).xid_last, 0);
    assert_int_equal(query_ok(ctx, 0).ecc_uncorrected, 0);

    write_cfg(fx, "gpu model=A100 memory=40Gi ecc=3\ngpu model=A100 memory=40Gi ecc=0\n"
                  "xid gpu=0 code=48\n");
    struct gpu_info g0 = query_ok(ctx, 0);
    assert_int_equal(g0.xid_last, 48);
    assert_int_equal(g0.ecc_uncorrected, 3);
    assert_int_equal(query_ok(ctx, 1).xid_last, 0);

    /* appended events arrive in order; the last one is kept */
    write_cfg(fx, "gpu model=A100 memory=40Gi ecc=3\ngpu model=A100 memory=40Gi ecc=0\n"
                  "xid gpu=0 code=48\nxid gpu=1 code=13\nxid gpu=0 code=79\nxid gpu=0 code=94\n");
    assert_int_equal(query_ok(ctx, 1).xid_last, 13);
    assert_int_equal(query_ok(ctx, 0).xid_last, 94);
    /* seen events stay seen */
    assert_int_equal(query_ok(ctx, 0).xid_last, 94);
    close_ctx(ctx);
}

/* Queries from several threads while the file is rewritten: every query
 * succeeds and sees one of the written states, never a mix or garbage. */
struct hammer {
    void *ctx;
    int bad;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 300; i++) {
        struct gpu_info g;
        unsigned index = (unsigned)i % 2;
        if (gpu_nvml_driver.query(h->ctx, index, &g) != 0)
            h->bad++;
        else if (index == 0 && g.utilization_pct != 10 && g.utilization_pct != 90)
            h->bad++;
        else if (index == 1 && (g.mig_count != 1 || strcmp(g.mig[0].profile, "1g.5gb") != 0))
            h->bad++;
    }
    return NULL;
}

static void test_concurrent_queries(void **state)
{
    struct fixture *fx = *state;
    static const char *const states[] = {
        "gpu model=A30 memory=24Gi util=10 mig_mode=0\ngpu model=A100 memory=40Gi mig=1g.5gb\n",
        "gpu model=A30 memory=24Gi util=90 mig_mode=0 temp=40\ngpu model=A100 memory=40Gi mig=1g.5gb\n",
    };
    write_cfg(fx, states[0]);
    struct hammer h[4];
    pthread_t tid[4];
    void *ctx = open_ok(fake_lib());
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.ctx = ctx};
        assert_int_equal(pthread_create(&tid[i], NULL, hammer_thread, &h[i]), 0);
    }
    for (int i = 0; i < 40; i++)
        write_cfg(fx, states[i % 2]);
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        bad += h[i].bad;
    }
    assert_int_equal(bad, 0);
    close_ctx(ctx);
}

/* ---- failures --------------------------------------------------------------- */

static void test_missing_library(void **state)
{
    (void)state;
    char err[256] = "";
    void *ctx = (void *)&err; /* must stay untouched */
    int r = gpu_nvml_driver.open("/nonexistent/libnvidia-ml.so.1", &ctx, err, sizeof err);
    assert_int_equal(r, GPUAAS_ENOTFOUND);
    assert_ptr_equal(ctx, (void *)&err);
    assert_non_null(strstr(err, "/nonexistent/libnvidia-ml.so.1"));
}

static void test_not_an_nvml_library(void **state)
{
    (void)state;
    char err[256] = "";
    void *ctx = NULL;
    int r = gpu_nvml_driver.open("libm.so.6", &ctx, err, sizeof err);
    assert_int_equal(r, GPUAAS_ENOTFOUND);
    assert_null(ctx);
    if (!strstr(err, "lacks nvmlInit_v2"))
        fail_msg("message: %s", err);
}

static void test_config_not_set(void **state)
{
    (void)state;
    char err[256] = "";
    void *ctx = NULL;
    unsetenv("GPUAAS_FAKE_NVML_CONFIG");
    int r = gpu_nvml_driver.open(fake_lib(), &ctx, err, sizeof err);
    assert_true(r < 0);
    assert_null(ctx);
    if (!strstr(err, "GPUAAS_FAKE_NVML_CONFIG not set"))
        fail_msg("message: %s", err);
}

static void test_config_missing_file(void **state)
{
    (void)state; /* the fixture's file was never written */
    char err[256] = "";
    void *ctx = NULL;
    assert_int_equal(gpu_nvml_driver.open(fake_lib(), &ctx, err, sizeof err), GPUAAS_EUNAVAIL);
    if (!strstr(err, "cannot open"))
        fail_msg("message: %s", err);
}

static void test_malformed_config(void **state)
{
    struct fixture *fx = *state;
    static char many_gpus[17 * 16 + 1], long_line[1100], big[70000], many_mig[128];
    many_gpus[0] = '\0';
    for (int i = 0; i < 17; i++)
        strcat(many_gpus, "gpu model=T4\n");
    memset(long_line, 'x', sizeof long_line - 1);
    memcpy(long_line, "# ", 2);
    long_line[sizeof long_line - 1] = '\0';
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = i % 64 == 63 ? '\n' : '#';
    big[sizeof big - 1] = '\0';
    snprintf(many_mig, sizeof many_mig, "gpu model=A100 mig=%s",
             "1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb");

    static const char *const good = "gpu model=T4\n";
    const struct {
        const char *text, *want;
    } cases[] = {
        {"gpu model=T4\nbogus 1\n", ":2: unknown directive \"bogus\""},
        {"gpu model=T4 colour=green\n", ":1: unknown gpu key \"colour\""},
        {"gpu model=T4 util=101\n", "util: want 0..100"},
        {"gpu model=T4 util=-1\n", "util: want 0..100"},
        {"gpu model=T4 memory=24Xi\n", "memory: want bytes"},
        {"gpu model=T4 memory=99999999999999999999\n", "memory: want bytes"},
        {"gpu model=T4 memory=8Gi mem_used=9Gi\n", "mem_used"},
        {"gpu model=A100 mig=3g.xx\n", "mig: want profiles"},
        {"gpu model=A100 mig=1g.5gb,,1g.5gb\n", "mig: want profiles"},
        {"gpu model=A100 mig_mode=0 mig=1g.5gb\n", "mig_mode=1"},
        {"gpu model=T4 model=T4\n", "given twice"},
        {"gpu memory=16Gi\n", "needs name= or model="},
        {"gpu name=\"NVIDIA 0123456789012345678901234567890123456789012345678901234567\"\n",
         "name must be 1..63 characters"},
        {"gpu name=\"NVIDIA T4\n", "unterminated quote"},
        {"gpu model=T4 oops\n", "want key=value"},
        {"gpu model=T4\nxid gpu=1 code=79\n", "xid names gpu 1"},
        {"gpu model=T4\nxid gpu=0\n", "xid: want"},
        {"driver\n", "driver: want one word"},
        {"driver 1 2\n", "driver: unexpected"},
        {many_gpus, ":17: at most 16 gpu lines"},
        {many_mig, "at most 7 MIG devices"},
        {long_line, "line longer than 1024 bytes"},
        {big, "larger than 65536 bytes"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char err[512] = "";
        void *ctx = NULL;
        write_cfg(fx, cases[i].text);
        int r = gpu_nvml_driver.open(fake_lib(), &ctx, err, sizeof err);
        bool opened = ctx != NULL;
        gpu_nvml_driver.close(ctx);
        if (r != GPUAAS_EUNAVAIL || opened || !strstr(err, cases[i].want))
            fail_msg("case %zu: r=%d, message \"%s\", want \"%s\"", i, r, err, cases[i].want);
    }
    /* and the fake recovers once the file is fixed */
    write_cfg(fx, good);
    close_ctx(open_ok(fake_lib()));
}

/* A library exporting only init, shutdown, count and handles: everything
 * else reads "not available" and nothing fails. */
static void test_core_only_library(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, three_gpus);
    void *ctx = open_ok(fake_min_lib());
    char version[96] = "junk";
    assert_int_equal(gpu_nvml_driver.driver_version(ctx, version, sizeof version), 0);
    assert_string_equal(version, "");
    unsigned count = 0;
    assert_int_equal(gpu_nvml_driver.count(ctx, &count), 0);
    assert_int_equal(count, 3);
    struct gpu_info g = query_ok(ctx, 0);
    assert_string_equal(g.uuid, "");
    assert_string_equal(g.name, "");
    assert_string_equal(g.model, "");
    assert_int_equal(g.memory_total_bytes, -1);
    assert_int_equal(g.utilization_pct, -1);
    assert_int_equal(g.temperature_c, -1);
    assert_int_equal(g.power_mw, -1);
    assert_int_equal(g.mig_mode, -1);
    assert_int_equal(g.mig_count, 0);
    assert_int_equal(g.ecc_uncorrected, -1);
    assert_int_equal(g.xid_last, -1);
    close_ctx(ctx);
}

/* Every open is paired with nvmlShutdown, and the last close unloads the
 * library. The test holds its own handle on the fake to look inside. */
static void test_close_shuts_down_and_unloads(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, "gpu model=T4\n");
    void *pin = dlopen(fake_lib(), RTLD_NOW | RTLD_LOCAL);
    if (!pin)
        fail_msg("dlopen %s: %s", fake_lib(), dlerror());
    __typeof__(nvmlDeviceGetCount_v2) *count =
        (__typeof__(nvmlDeviceGetCount_v2) *)dlsym(pin, "nvmlDeviceGetCount_v2");
    assert_non_null(count);
    unsigned n = 0;
    assert_int_equal(count(&n), NVML_ERROR_UNINITIALIZED);

    void *a = open_ok(fake_lib());
    void *b = open_ok(fake_lib());
    assert_int_equal(count(&n), NVML_SUCCESS);
    assert_int_equal(n, 1);
    close_ctx(a);
    assert_int_equal(count(&n), NVML_SUCCESS); /* b still holds it */
    close_ctx(b);
    assert_int_equal(count(&n), NVML_ERROR_UNINITIALIZED);
    /* the XID event set is freed too: the fake has only 8 */
    for (int i = 0; i < 10; i++) {
        void *c = open_ok(fake_lib());
        assert_int_equal(query_ok(c, 0).xid_last, 0);
        close_ctx(c);
    }
    dlclose(pin);
    void *still = dlopen(fake_lib(), RTLD_NOW | RTLD_NOLOAD);
    if (still) {
        dlclose(still);
        fail_msg("%s is still loaded after every close", fake_lib());
    }
}

static void test_close_null(void **state)
{
    (void)state;
    gpu_nvml_driver.close(NULL);
    assert_string_equal(gpu_nvml_driver.name, "nvml");
}

/* ---- probe ------------------------------------------------------------------ */

static json_t *probe_json(const char *lib, int *ret_r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    *ret_r = gpu_probe_print(lib, out);
    assert_int_equal(fclose(out), 0);
    json_error_t jerr;
    json_t *root = json_loads(buf, 0, &jerr);
    if (!root)
        fail_msg("probe output is not JSON (%s): %s", jerr.text, buf);
    free(buf);
    return root;
}

static void test_probe(void **state)
{
    struct fixture *fx = *state;
    write_cfg(fx, three_gpus);
    int r;
    json_t *root = probe_json(fake_lib(), &r);
    assert_int_equal(r, 0);
    assert_string_equal(json_string_value(json_object_get(root, "driver_version")), "550.54.15");
    assert_int_equal(json_integer_value(json_object_get(root, "count")), 3);
    json_t *gpus = json_object_get(root, "gpus");
    assert_int_equal(json_array_size(gpus), 3);
    json_t *a100 = json_array_get(gpus, 0);
    assert_string_equal(json_string_value(json_object_get(a100, "model")), "A100");
    assert_true(json_is_true(json_object_get(a100, "mig_mode")));
    assert_int_equal(json_array_size(json_object_get(a100, "mig")), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(a100, "mig"), 2), "profile")),
        "2g.10gb");
    json_t *t4 = json_array_get(gpus, 2);
    assert_true(json_is_null(json_object_get(t4, "temperature_c")));
    assert_true(json_is_null(json_object_get(t4, "mig_mode")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(gpus, 1), "xid_last")), 79);
    json_decref(root);

    root = probe_json("/nonexistent/libnvidia-ml.so.1", &r);
    assert_int_equal(r, GPUAAS_ENOTFOUND);
    assert_string_equal(json_string_value(json_object_get(root, "code")), "not_found");
    assert_non_null(strstr(json_string_value(json_object_get(root, "error")), "/nonexistent/"));
    json_decref(root);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_from_name),
        cmocka_unit_test(test_model_bounded),
        T(test_discovery),
        T(test_mig_mode_off_and_empty),
        T(test_uuids_stable),
        T(test_util_follows_file),
        T(test_broken_rewrite_keeps_state),
        T(test_xid_and_ecc),
        T(test_concurrent_queries),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_not_an_nvml_library),
        T(test_config_not_set),
        T(test_config_missing_file),
        T(test_malformed_config),
        T(test_core_only_library),
        T(test_close_shuts_down_and_unloads),
        cmocka_unit_test(test_close_null),
        T(test_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
