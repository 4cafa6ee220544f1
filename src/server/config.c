#include "server/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "gpuaas/error.h"
#include "lib/quantity.h"
#include "lib/tzmonth.h"
#include "lib/yamljson.h"

/* The default: the local host plus simulated nodes, a small spot/on-demand
 * cluster of three GPU models, one GPU split into MIG slices. */
const char config_default_yaml[] =
    "listen: 127.0.0.1:8080\n"
    "data: ./var\n"
    "restart_backoff: 10s   # doubles per restart, at most 5m\n"
    "# price per GPU-hour by model and capacity type (MIG slices and shares pay their part)\n"
    "prices:\n"
    "  currency: USD\n"
    "  gpu_hour:\n"
    "    A10G: {on-demand: 1.006, spot: 0.402}\n"
    "    T4: {on-demand: 0.526, spot: 0.210}\n"
    "    A100: {on-demand: 4.096, spot: 1.639}\n"
    "    H100: {on-demand: 12.29, spot: 4.92}\n"
    "stop_grace: 10s        # SIGTERM, then SIGKILL after this\n"
    "scheduler:\n"
    "  policy: fgdpack          # node choice: fgdpack, fgd, bestfit or firstfit\n"
    "  candidates: 128          # nodes scored per decision (0: every node that fits)\n"
    "  aging: 1h                # a waiting job rises one priority class per this long (0: never)\n"
    "  fair_share_half_life: 1h # past GPU use of a namespace counts half after this long (0: FIFO)\n"
    "  backfill: true           # hold nodes for the first job that does not fit\n"
    "metering:\n"
    "  time_zone: UTC          # calendar months of usage and reports (IANA name)\n"
    "  sample_interval: 15s    # GPU utilisation sampling period\n"
    "  utilisation_factor: false  # bill list price x a factor from each pod's utilisation\n"
    "# the monthly report's heading (any UTF-8), e.g.\n"
    "# report: {title: \"Acme Research GPU platform\"}\n"
    "# /metrics GPU labels: dcgm (dcgm-exporter's modelName) or snake_case (model_name)\n"
    "metrics:\n"
    "  label_style: dcgm\n"
    "nodes:\n"
    "  # this host: its GPUs come from NVML, or from the fake NVML when it has none\n"
    "  - name: local\n"
    "    cpu: 48\n"
    "    memory: 192Gi\n"
    "    labels:\n"
    "      gpuaas.io/instance-type: g5.12xlarge\n"
    "      gpuaas.io/capacity-type: on-demand\n"
    "      gpuaas.io/node-group: g5-on-demand\n"
    "      gpuaas.io/zone: local-a\n"
    "    gpus: discover\n"
    "  # simulated nodes: declared GPUs, pods run as local processes\n"
    "  - name: sim-g4dn-spot-1\n"
    "    cpu: 4\n"
    "    memory: 16Gi\n"
    "    labels:\n"
    "      gpuaas.io/instance-type: g4dn.xlarge\n"
    "      gpuaas.io/capacity-type: spot\n"
    "      gpuaas.io/node-group: g4dn-spot\n"
    "      gpuaas.io/zone: local-b\n"
    "    gpus:\n"
    "      - {model: T4, memory: 16Gi, count: 1}\n"
    "  - name: sim-p4d-1\n"
    "    cpu: 96\n"
    "    memory: 1152Gi\n"
    "    labels:\n"
    "      gpuaas.io/instance-type: p4d.24xlarge\n"
    "      gpuaas.io/capacity-type: on-demand\n"
    "      gpuaas.io/node-group: p4d-on-demand\n"
    "      gpuaas.io/zone: local-a\n"
    "    gpus:\n"
    "      - {model: A100, memory: 40Gi, count: 7}\n"
    "      - {model: A100, memory: 40Gi, mig: [3g.20gb, 2g.10gb, 1g.5gb, 1g.5gb]}\n";

static uint64_t fnv1a(const char *s, uint64_t seed)
{
    uint64_t h = seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Stable UUIDs for simulated devices, so they survive restarts unchanged. */
static void sim_uuid(char *out, size_t size, const char *prefix, const char *node, unsigned gpu, int mig)
{
    char key[128];
    snprintf(key, sizeof key, "%s/%u/%d", node, gpu, mig);
    uint64_t a = fnv1a(key, 1469598103934665603ULL), b = fnv1a(key, 0x9e3779b97f4a7c15ULL);
    snprintf(out, size, "%s-%08x-%04x-%04x-%04x-%012llx", prefix, (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xffff, (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
}

static int fail(char *err, size_t err_size, const char *where, const char *what)
{
    snprintf(err, err_size, "%s: %s", where, what);
    return GPUAAS_EINVAL;
}

/* Quantities may be written as numbers or strings in YAML. */
static const char *quantity_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

/* One config node ({name, cpu, memory, labels, gpus: [{model, memory,
 * count | mig}]}) into the API's Node JSON. */
static int expand_node(const json_t *in, size_t node_index, json_t **ret_node, struct server_config *cfg,
                       char *err, size_t err_size)
{
    char where[96], buf[2][32];
    snprintf(where, sizeof where, "nodes[%zu]", node_index);
    const char *name = NULL;
    json_t *cpu = NULL, *memory = NULL, *labels = NULL, *gpus = NULL;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)in, &jerr, JSON_STRICT, "{s:s,s?o,s?o,s?o,s?o}", "name", &name, "cpu", &cpu,
                       "memory", &memory, "labels", &labels, "gpus", &gpus) < 0)
        return fail(err, err_size, where, jerr.text);
    const char *cpu_text = cpu ? quantity_text(cpu, buf[0], sizeof buf[0]) : "0";
    const char *mem_text = memory ? quantity_text(memory, buf[1], sizeof buf[1]) : "0";
    if (!cpu_text || !mem_text)
        return fail(err, err_size, where, "cpu and memory must be quantities like 48 and 192Gi");
    json_t *node = json_pack("{s:s,s:s,s:s,s:s,s:o,s:[]}", "name", name, "state", "Ready", "cpu", cpu_text, "memory",
                             mem_text, "labels", labels ? json_deep_copy(labels) : json_object(), "gpus");
    if (!node)
        return GPUAAS_ENOMEM;
    if (json_is_string(gpus) && strcmp(json_string_value(gpus), "discover") == 0) {
        if (cfg->discover_node[0]) {
            json_decref(node);
            return fail(err, err_size, where, "only one node (this host) can have 'gpus: discover'");
        }
        snprintf(cfg->discover_node, sizeof cfg->discover_node, "%s", name);
        gpus = NULL;
    }
    if (gpus && !json_is_array(gpus)) {
        json_decref(node);
        return fail(err, err_size, where, "gpus must be a list or 'discover'");
    }
    json_t *out_gpus = json_object_get(node, "gpus");
    const char *first_model = NULL;
    unsigned index = 0;
    for (size_t g = 0; gpus && g < json_array_size(gpus); g++) {
        const char *model = NULL;
        json_t *gmem = NULL, *mig = NULL;
        json_int_t count = 1;
        char gwhere[128];
        snprintf(gwhere, sizeof gwhere, "%s.gpus[%zu]", where, g);
        if (json_unpack_ex(json_array_get(gpus, g), &jerr, JSON_STRICT, "{s:s,s:o,s?I,s?o}", "model", &model,
                           "memory", &gmem, "count", &count, "mig", &mig) < 0 ||
            count < 1 || count > CORE_NODE_GPUS_MAX || (mig && (!json_is_array(mig) || count != 1))) {
            json_decref(node);
            return fail(err, err_size, gwhere,
                        "expected {model, memory, count} or {model, memory, mig: [profiles]} (count 1..16)");
        }
        const char *gmem_text = quantity_text(gmem, buf[0], sizeof buf[0]);
        if (!first_model)
            first_model = model;
        for (json_int_t c = 0; c < count; c++, index++) {
            char uuid[64];
            sim_uuid(uuid, sizeof uuid, "GPU", name, index, -1);
            json_t *migs = json_array();
            for (size_t m = 0; mig && m < json_array_size(mig); m++) {
                char mig_uuid[64];
                sim_uuid(mig_uuid, sizeof mig_uuid, "MIG", name, index, (int)m);
                json_array_append_new(migs, json_pack("{s:O,s:s}", "profile", json_array_get(mig, m), "uuid",
                                                      mig_uuid));
            }
            json_array_append_new(out_gpus, json_pack("{s:I,s:s,s:s,s:s,s:b,s:o}", "index", (json_int_t)index,
                                                      "uuid", uuid, "model", model, "memory",
                                                      gmem_text ? gmem_text : "?", "mig_mode", mig != NULL,
                                                      "mig_devices", migs));
        }
    }
    json_t *out_labels = json_object_get(node, "labels");
    if (first_model && !json_object_get(out_labels, "gpuaas.io/gpu-model"))
        json_object_set_new(out_labels, "gpuaas.io/gpu-model", json_string(first_model));
    /* validate through the core's own parser, so config and store agree */
    struct core_node *check = malloc(sizeof *check);
    char why[256];
    int r = check ? core_node_from_json(node, check, why, sizeof why) : GPUAAS_ENOMEM;
    free(check);
    if (r < 0) {
        json_decref(node);
        return r == GPUAAS_ENOMEM ? r : fail(err, err_size, where, why);
    }
    *ret_node = node;
    return 0;
}

/* prices: {currency: USD, gpu_hour: {A10G: {on-demand: 1.006, spot: 0.402}}} */
static int parse_prices(const json_t *prices, struct meter_prices *out, char *err, size_t err_size)
{
    const char *currency = "USD";
    json_t *per_hour = NULL;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)prices, &jerr, JSON_STRICT, "{s?s,s:o}", "currency", &currency, "gpu_hour",
                       &per_hour) < 0 ||
        !json_is_object(per_hour))
        return fail(err, err_size, "prices", "expected {currency, gpu_hour: {MODEL: {on-demand: N, spot: N}}}");
    snprintf(out->currency, sizeof out->currency, "%.7s", currency);
    out->count = 0;
    const char *model, *capacity;
    json_t *by_capacity, *value;
    json_object_foreach(per_hour, model, by_capacity) {
        if (!json_is_object(by_capacity) || strlen(model) >= sizeof out->items[0].model)
            return fail(err, err_size, "prices.gpu_hour", "each model maps capacity types to prices");
        json_object_foreach(by_capacity, capacity, value) {
            if ((strcmp(capacity, "on-demand") != 0 && strcmp(capacity, "spot") != 0) || !json_is_number(value) ||
                json_number_value(value) < 0 || out->count >= METER_PRICES_MAX)
                return fail(err, err_size, "prices.gpu_hour", "capacity types are on-demand and spot, prices >= 0");
            struct meter_price *p = &out->items[out->count++];
            snprintf(p->model, sizeof p->model, "%s", model);
            snprintf(p->capacity_type, sizeof p->capacity_type, "%s", capacity);
            p->per_gpu_hour = json_number_value(value);
        }
    }
    return 0;
}

#define UTIL_SAMPLE_MIN_MS 1000
#define UTIL_SAMPLE_MAX_MS 600000

/* scheduler: {policy: fgdpack, candidates: 128, aging: 1h, fair_share_half_life: 1h, backfill: true} */
/* A duration like 1h, or 0 (YAML gives 0 as a number); at most max_ms. */
static int duration_or_zero(const json_t *v, int64_t max_ms, int64_t *ret_ms)
{
    if (json_is_integer(v) && json_integer_value(v) == 0) {
        *ret_ms = 0;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    if (strcmp(json_string_value(v), "0") == 0) {
        *ret_ms = 0;
        return 0;
    }
    return quantity_parse_duration_ms(json_string_value(v), ret_ms) < 0 || *ret_ms > max_ms ? -1 : 0;
}

static int parse_scheduler(const json_t *sched, struct server_config *cfg, char *err, size_t err_size)
{
    const char *policy = "fgdpack";
    json_t *aging = NULL, *half_life = NULL;
    json_int_t candidates = PLACE_CANDIDATES_DEFAULT;
    int backfill = 1;
    json_error_t jerr;
    if (sched && json_unpack_ex((json_t *)sched, &jerr, JSON_STRICT, "{s?s,s?I,s?o,s?o,s?b}", "policy", &policy,
                                "candidates", &candidates, "aging", &aging, "fair_share_half_life", &half_life,
                                "backfill", &backfill) < 0)
        return fail(err, err_size, "scheduler",
                    "expected {policy: fgdpack|fgd|bestfit|firstfit, candidates: 128, aging: 1h, "
                    "fair_share_half_life: 1h, backfill: true|false}");
    enum place_policy p;
    if (place_policy_from_name(policy, &p) < 0)
        return fail(err, err_size, "scheduler.policy", "one of fgdpack, fgd, bestfit, firstfit");
    if (candidates < 0 || candidates > 100000)
        return fail(err, err_size, "scheduler.candidates", "an integer from 0 to 100000");
    cfg->sched_aging_ms = cfg->sched_half_life_ms = 3600000;
    if (aging && duration_or_zero(aging, 30LL * 86400000, &cfg->sched_aging_ms) < 0)
        return fail(err, err_size, "scheduler.aging", "a duration like 1h (at most 30d), or 0");
    if (half_life && duration_or_zero(half_life, 365LL * 86400000, &cfg->sched_half_life_ms) < 0)
        return fail(err, err_size, "scheduler.fair_share_half_life", "a duration like 1h (at most 365d), or 0");
    cfg->sched_policy = (int)p;
    cfg->sched_candidates = (uint32_t)candidates;
    cfg->sched_backfill = backfill != 0;
    return 0;
}

/* metering: {time_zone: Europe/Berlin, sample_interval: 15s, utilisation_factor: false} */
static int parse_metering(const json_t *metering, struct server_config *cfg, char *err, size_t err_size)
{
    const char *zone = "UTC", *interval = "15s";
    int factor = 0;
    json_error_t jerr;
    if (metering && json_unpack_ex((json_t *)metering, &jerr, JSON_STRICT, "{s?s,s?s,s?b}", "time_zone", &zone,
                                   "sample_interval", &interval, "utilisation_factor", &factor) < 0)
        return fail(err, err_size, "metering", "expected {time_zone: NAME, sample_interval: 15s, utilisation_factor: "
                                               "true|false}");
    char why[256];
    if (tzmonth_check(zone, why, sizeof why) < 0)
        return fail(err, err_size, "metering.time_zone", why);
    if (quantity_parse_duration_ms(interval, &cfg->util_sample_ms) < 0 || cfg->util_sample_ms < UTIL_SAMPLE_MIN_MS ||
        cfg->util_sample_ms > UTIL_SAMPLE_MAX_MS)
        return fail(err, err_size, "metering.sample_interval", "a duration from 1s to 10m, like 15s");
    snprintf(cfg->time_zone, sizeof cfg->time_zone, "%s", zone);
    cfg->prices.utilisation_factor = factor != 0;
    return 0;
}

/* report: {title: "Acme Research GPU platform"} (any UTF-8, no control characters) */
static int parse_report(const json_t *report, struct server_config *cfg, char *err, size_t err_size)
{
    const char *title = "";
    json_error_t jerr;
    if (json_unpack_ex((json_t *)report, &jerr, JSON_STRICT, "{s?s}", "title", &title) < 0)
        return fail(err, err_size, "report", "expected {title: TEXT}");
    if (strlen(title) > REPORT_TITLE_MAX)
        return fail(err, err_size, "report.title", "must be at most 128 bytes");
    for (const unsigned char *p = (const unsigned char *)title; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return fail(err, err_size, "report.title", "must not contain control characters");
    snprintf(cfg->report_title, sizeof cfg->report_title, "%s", title);
    return 0;
}

int config_parse(const char *text, size_t len, struct server_config *cfg, char *err, size_t err_size)
{
    struct yamljson_error yerr = {0};
    json_t *doc = NULL, *nodes = NULL, *out_nodes = NULL;
    const char *listen = "127.0.0.1:8080", *data = "./var", *backoff = "10s", *grace = "10s";
    const char *nvml_library = "", *fake_library = "", *fake_nvml = "";
    json_t *sso = NULL, *prices = NULL, *metering = NULL, *report = NULL, *metrics = NULL, *scheduler = NULL;
    json_error_t jerr;
    int r;
    memset(cfg, 0, sizeof *cfg);
    if ((r = yamljson_parse(text, len, &doc, &yerr)) < 0) {
        snprintf(err, err_size, "line %d, column %d: %s", yerr.line, yerr.column, yerr.message);
        return r;
    }
    if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s?s,s?s,s?s,s?s,s?s,s?s,s?s,s?o,s?o,s?o,s?o,s?o,s?o,s?o}", "listen", &listen,
                       "data", &data, "restart_backoff", &backoff, "stop_grace", &grace, "nvml_library",
                       &nvml_library, "fake_nvml_library", &fake_library, "fake_nvml", &fake_nvml, "nodes", &nodes,
                       "sso", &sso, "prices", &prices, "metering", &metering, "report", &report, "metrics", &metrics,
                       "scheduler", &scheduler) < 0) {
        r = fail(err, err_size, "config", jerr.text);
        goto out;
    }
    if (quantity_parse_duration_ms(backoff, &cfg->restart_backoff_ms) < 0 ||
        quantity_parse_duration_ms(grace, &cfg->stop_grace_ms) < 0 || cfg->stop_grace_ms > 3600000) {
        r = fail(err, err_size, "config", "restart_backoff and stop_grace must be durations like 10s (grace at most 1h)");
        goto out;
    }
    if (strlen(listen) >= sizeof cfg->listen || strlen(data) >= sizeof cfg->data_dir || !*data) {
        r = fail(err, err_size, "config", "listen or data is too long or empty");
        goto out;
    }
    if (nodes && (!json_is_array(nodes) || json_array_size(nodes) > CONFIG_NODES_MAX)) {
        r = fail(err, err_size, "nodes", "must be a list of at most 1000 nodes");
        goto out;
    }
    out_nodes = json_array();
    for (size_t i = 0; nodes && i < json_array_size(nodes); i++) {
        json_t *node;
        if ((r = expand_node(json_array_get(nodes, i), i, &node, cfg, err, err_size)) < 0)
            goto out;
        json_array_append_new(out_nodes, node);
    }
    if (sso) {
        json_t *mappings = NULL;
        const char *issuer, *audience, *jwks, *groups_claim = NULL, *username_claim = NULL;
        if (json_unpack_ex(sso, &jerr, JSON_STRICT, "{s:s,s:s,s:s,s?s,s?s,s?o}", "issuer", &issuer, "audience",
                           &audience, "jwks", &jwks, "groups_claim", &groups_claim, "username_claim",
                           &username_claim, "role_mappings", &mappings) < 0) {
            r = fail(err, err_size, "sso", jerr.text);
            goto out;
        }
        if (mappings && (!json_is_array(mappings) || json_array_size(mappings) > 256)) {
            r = fail(err, err_size, "sso.role_mappings", "must be a list of at most 256 {group, role, namespace}");
            goto out;
        }
        cfg->sso = json_incref(sso);
    }
    if (prices && (r = parse_prices(prices, &cfg->prices, err, err_size)) < 0)
        goto out;
    if ((r = parse_scheduler(scheduler, cfg, err, err_size)) < 0)
        goto out;
    if ((r = parse_metering(metering, cfg, err, err_size)) < 0)
        goto out;
    if (report && (r = parse_report(report, cfg, err, err_size)) < 0)
        goto out;
    if (metrics) {
        /* dcgm: dcgm-exporter's label names (modelName), which promtool's
         * lint flags as camelCase; snake_case: model_name */
        const char *style = "dcgm";
        if (json_unpack_ex(metrics, &jerr, JSON_STRICT, "{s?s}", "label_style", &style) < 0 ||
            (strcmp(style, "dcgm") != 0 && strcmp(style, "snake_case") != 0)) {
            r = fail(err, err_size, "metrics", "expected {label_style: dcgm | snake_case}");
            goto out;
        }
        cfg->metrics_snake_case = strcmp(style, "snake_case") == 0;
    }
    snprintf(cfg->nvml_library, sizeof cfg->nvml_library, "%s", nvml_library);
    snprintf(cfg->fake_nvml_library, sizeof cfg->fake_nvml_library, "%s", fake_library);
    snprintf(cfg->fake_nvml, sizeof cfg->fake_nvml, "%s", fake_nvml);
    snprintf(cfg->listen, sizeof cfg->listen, "%s", listen);
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", data);
    cfg->nodes = out_nodes;
    out_nodes = NULL;
    r = 0;
out:
    json_decref(out_nodes);
    json_decref(doc);
    return r;
}

int config_load_file(const char *path, struct server_config *cfg, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return GPUAAS_EIO;
    }
    char *text = malloc(CONFIG_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, CONFIG_FILE_MAX + 1, f) : 0;
    fclose(f);
    int r;
    if (!text)
        r = GPUAAS_ENOMEM;
    else if (len > CONFIG_FILE_MAX) {
        snprintf(err, err_size, "%s is larger than %d bytes", path, CONFIG_FILE_MAX);
        r = GPUAAS_ETOOBIG;
    } else {
        char inner[512];
        r = config_parse(text, len, cfg, inner, sizeof inner);
        if (r < 0)
            snprintf(err, err_size, "%s: %s", path, inner);
    }
    free(text);
    return r;
}

void config_release(struct server_config *cfg)
{
    if (!cfg)
        return;
    json_decref(cfg->nodes);
    cfg->nodes = NULL;
    json_decref(cfg->sso);
    cfg->sso = NULL;
}
