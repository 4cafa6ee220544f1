/* `get` and `describe`: how each resource is fetched and shown. One row of
 * view_table per resource: its API path and its table columns. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cells.h"
#include "cli/cli_internal.h"
#include "cli/http_client.h"
#include "cli/output.h"
#include "cli/quotas.h"
#include "core/joblist.h"
#include "gpuaas/error.h"

#define CELL 256 /* bytes of one computed cell; longer text is cut */

/* ---- jansson helpers --------------------------------------------------- */

const json_t *cli_json_at(const json_t *obj, const char *dotted)
{
    char key[128];

    while (obj && *dotted) {
        const char *dot = strchr(dotted, '.');
        size_t len = dot ? (size_t)(dot - dotted) : strlen(dotted);
        if (len >= sizeof key || !json_is_object(obj))
            return NULL;
        memcpy(key, dotted, len);
        key[len] = '\0';
        obj = json_object_get(obj, key);
        dotted += dot ? len + 1 : len;
    }
    return obj;
}

const char *cli_json_str(const json_t *obj, const char *dotted)
{
    return json_string_value(cli_json_at(obj, dotted));
}

const char *cli_json_text(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, size, "%g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

/* v may be NULL: json_typeof() must not see it. */
static const char *text_at(const json_t *obj, const char *dotted, char *buf, size_t size)
{
    const json_t *v = cli_json_at(obj, dotted);
    return v ? cli_json_text(v, buf, size) : NULL;
}

/* Label keys contain dots, so no dotted lookup here. */
static const char *label(const json_t *node, const char *name)
{
    return json_string_value(json_object_get(json_object_get(node, "labels"), name));
}

/* ---- per-resource rows ------------------------------------------------- */

struct row_ctx {
    struct table *table;
    int64_t now;
    const char *filter; /* gpus: node name or GPU UUID to keep; pods: pod name; or NULL */
};

static int add_row(struct row_ctx *rc, const char *const *cells) { return table_add_row(rc->table, cells); }

/* Total GPUs a job asks for: whole GPUs x replicas, "2x1g.10gb", "500m". */
static void job_gpus(const json_t *job, char *out, size_t size)
{
    const json_t *res = json_object_get(job, "resources");
    json_int_t replicas = json_integer_value(json_object_get(job, "replicas"));
    const json_t *gpus = json_object_get(res, "gpus");
    const char *mig = json_string_value(json_object_get(res, "mig"));
    const json_t *milli = json_object_get(res, "gpu_milli");
    char prefix[32] = "";

    if (replicas < 1)
        replicas = 1;
    if (replicas > 1)
        snprintf(prefix, sizeof prefix, "%" JSON_INTEGER_FORMAT "x", replicas);
    if (json_is_integer(gpus) && json_integer_value(gpus) > 0)
        snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(gpus) * replicas);
    else if (mig)
        snprintf(out, size, "%s%s", prefix, mig);
    else if (json_is_integer(milli))
        snprintf(out, size, "%s%" JSON_INTEGER_FORMAT "m", prefix, json_integer_value(milli));
    else
        snprintf(out, size, "0");
}

static int job_rows(struct row_ctx *rc, const json_t *job)
{
    char age[32], gpus[64], id[32], replicas[32], restarts[32];
    const char *reason = cli_json_str(job, "status.reason");

    format_age_since(cli_json_str(job, "status.created_at"), rc->now, age, sizeof age);
    job_gpus(job, gpus, sizeof gpus);
    const char *cells[] = {
        cli_json_str(job, "namespace"),
        cli_json_str(job, "name"),
        cli_json_str(job, "status.state"),
        reason && reason[0] ? reason : NULL,
        gpus,
        age,
        text_at(job, "id", id, sizeof id),
        cli_json_str(job, "priority"),
        text_at(job, "replicas", replicas, sizeof replicas),
        text_at(job, "status.restarts", restarts, sizeof restarts),
    };
    return add_row(rc, cells);
}

static int namespace_rows(struct row_ctx *rc, const json_t *ns)
{
    char age[32];

    format_age_since(cli_json_str(ns, "created_at"), rc->now, age, sizeof age);
    const char *cells[] = {
        cli_json_str(ns, "name"), age, cli_json_str(ns, "org"), cli_json_str(ns, "project"),
        cli_json_str(ns, "env"),
    };
    return add_row(rc, cells);
}

static int node_rows(struct row_ctx *rc, const json_t *node)
{
    const json_t *gpus = json_object_get(node, "gpus"), *gpu;
    const char *model = label(node, "gpuaas.io/gpu-model");
    char count[32], mig[32], cpu[32], memory[32];
    size_t i, nmig = 0;

    json_array_foreach(gpus, i, gpu)
    {
        if (json_is_true(json_object_get(gpu, "mig_mode")))
            nmig++;
        if (!model)
            model = cli_json_str(gpu, "model");
    }
    snprintf(count, sizeof count, "%zu", json_array_size(gpus));
    snprintf(mig, sizeof mig, "%zu", nmig);
    const char *cells[] = {
        cli_json_str(node, "name"),
        cli_json_str(node, "state"),
        count,
        model,
        label(node, "gpuaas.io/capacity-type"),
        label(node, "gpuaas.io/instance-type"),
        text_at(node, "cpu", cpu, sizeof cpu),
        text_at(node, "memory", memory, sizeof memory),
        label(node, "gpuaas.io/zone"),
        label(node, "gpuaas.io/node-group"),
        mig,
    };
    return add_row(rc, cells);
}

/* One row of GET /v1/gpus. */
static int gpu_rows(struct row_ctx *rc, const json_t *gpu)
{
    const char *node = cli_json_str(gpu, "node"), *uuid = cli_json_str(gpu, "uuid");
    char index[32], holder[CELL], util[32], memory[96], temp[32], power[32], migs[CELL], shares[CELL];

    if (rc->filter && !(node && strcmp(rc->filter, node) == 0) && !(uuid && strcmp(rc->filter, uuid) == 0))
        return 0;
    const char *cells[] = {
        node,
        text_at(gpu, "index", index, sizeof index),
        cli_json_str(gpu, "model"),
        json_is_true(json_object_get(gpu, "mig_mode")) ? "on" : "off",
        cli_gpu_allocated_to(gpu, holder, sizeof holder),
        cli_gpu_util(gpu, util, sizeof util),
        cli_gpu_memory_used(gpu, memory, sizeof memory),
        uuid,
        cli_json_str(gpu, "capacity_type"),
        cli_gpu_temperature(gpu, temp, sizeof temp),
        cli_gpu_power(gpu, power, sizeof power),
        cli_gpu_mig_devices(gpu, migs, sizeof migs),
        cli_gpu_shares(gpu, shares, sizeof shares),
    };
    return add_row(rc, cells);
}

/* One row of GET /v1/pods: a replica attempt. */
static int pod_rows(struct row_ctx *rc, const json_t *pod)
{
    const char *name = cli_json_str(pod, "name"), *message = cli_json_str(pod, "message");
    const char *started = cli_json_str(pod, "started_at");
    char replica[32], attempt[32], devices[CELL], since[32], duration[32], exit_text[32];

    if (rc->filter && !(name && strcmp(rc->filter, name) == 0))
        return 0;
    if (started)
        format_age_since(started, rc->now, since, sizeof since);
    const char *cells[] = {
        cli_json_str(pod, "namespace"),
        cli_json_str(pod, "job"),
        text_at(pod, "replica", replica, sizeof replica),
        text_at(pod, "attempt", attempt, sizeof attempt),
        cli_json_str(pod, "node"),
        cli_json_str(pod, "state"),
        cli_pod_devices(pod, devices, sizeof devices),
        started ? since : NULL,
        cli_pod_duration(pod, rc->now, duration, sizeof duration),
        cli_pod_exit(pod, exit_text, sizeof exit_text),
        cli_json_str(pod, "gpu_model"),
        cli_json_str(pod, "capacity_type"),
        cli_json_str(pod, "cpu"),
        cli_json_str(pod, "memory"),
        name,
        message && message[0] ? message : NULL,
    };
    return add_row(rc, cells);
}

/* Services, quotas, tokens: whatever the server sends, by common fields. */
static int generic_rows(struct row_ctx *rc, const json_t *obj)
{
    char age[32], name[32];
    const char *state = cli_json_str(obj, "status.state");
    const char *created = cli_json_str(obj, "created_at");

    if (!state)
        state = cli_json_str(obj, "state");
    if (!created)
        created = cli_json_str(obj, "status.created_at");
    format_age_since(created, rc->now, age, sizeof age);
    const char *cells[] = {
        cli_json_str(obj, "namespace"),
        json_object_get(obj, "name") ? text_at(obj, "name", name, sizeof name) : text_at(obj, "id", name, sizeof name),
        state,
        age,
    };
    return add_row(rc, cells);
}

struct view {
    enum cli_resource res;
    const char *path;   /* list route; one object is path + "/" + NAME */
    bool namespaced;    /* -n is sent as ?namespace= */
    size_t ncols;       /* columns of -o table */
    size_t nwide;       /* all columns, for -o wide */
    const char *const *headers;
    int (*rows)(struct row_ctx *rc, const json_t *item);
};

static const char *const job_headers[] = {"NAMESPACE", "NAME", "STATE", "REASON", "GPUS",
                                          "AGE",       "ID",   "PRIORITY", "REPLICAS", "RESTARTS"};
static const char *const namespace_headers[] = {"NAME", "AGE", "ORG", "PROJECT", "ENV"};
static const char *const node_headers[] = {"NAME", "STATE", "GPUS", "MODEL", "CAPACITY-TYPE", "INSTANCE-TYPE",
                                           "CPU",  "MEMORY", "ZONE", "NODE-GROUP", "MIG-GPUS"};
static const char *const gpu_headers[] = {"NODE", "INDEX", "MODEL", "MIG", "ALLOCATED-TO", "UTIL", "MEMORY-USED",
                                          "UUID", "CAPACITY-TYPE", "TEMP", "POWER", "MIG-DEVICES", "SHARES"};
static const char *const pod_headers[] = {"NAMESPACE", "JOB",    "REPLICA",  "ATTEMPT", "NODE",          "STATE",
                                          "GPUS",      "STARTED", "DURATION", "EXIT",    "GPU-MODEL",     "CAPACITY-TYPE",
                                          "CPU",       "MEMORY",  "NAME",     "MESSAGE"};
static const char *const generic_headers[] = {"NAMESPACE", "NAME", "STATE", "AGE"};

static const struct view view_table[] = {
    {CLI_RES_JOB, "/v1/jobs", true, 6, 10, job_headers, job_rows},
    {CLI_RES_NAMESPACE, "/v1/namespaces", false, 2, 5, namespace_headers, namespace_rows},
    {CLI_RES_NODE, "/v1/nodes", false, 8, 11, node_headers, node_rows},
    {CLI_RES_GPU, "/v1/gpus", false, 8, 13, gpu_headers, gpu_rows},
    {CLI_RES_POD, "/v1/pods", true, 10, 16, pod_headers, pod_rows},
    {CLI_RES_SERVICE, "/v1/services", true, 4, 4, generic_headers, generic_rows},
    {CLI_RES_QUOTA, "/v1/quotas", true, 4, 4, generic_headers, generic_rows},
    {CLI_RES_TOKEN, "/v1/tokens", false, 4, 4, generic_headers, generic_rows},
    {CLI_RES_BINDING, "/v1/bindings", false, 4, 4, generic_headers, generic_rows},
};

static const struct view *view_lookup(enum cli_resource res)
{
    for (size_t i = 0; i < sizeof view_table / sizeof view_table[0]; i++)
        if (view_table[i].res == res)
            return &view_table[i];
    return NULL;
}

/* Build the request path for a list (name NULL) or one object. Returns an
 * exit code; *ret is malloc'd. */
static int view_path(struct cli_ctx *ctx, const struct view *v, const char *name, char **ret)
{
    const char *ns = v->namespaced ? ctx->args->ns : NULL;
    char *name_q = NULL, *ns_q = NULL, *path = NULL;
    int rc = CLI_EXIT_OK;

    if (name)
        /* a namespace path (a quota's name too) keeps its slashes */
        name_q = http_escape(name, v->res == CLI_RES_NAMESPACE || v->res == CLI_RES_QUOTA);
    if (ns)
        ns_q = http_escape(ns, 1);
    if ((name && !name_q) || (ns && !ns_q) ||
        asprintf(&path, "%s%s%s%s%s", v->path, name ? "/" : "", name ? name_q : "", ns ? "?namespace=" : "",
                 ns ? ns_q : "") < 0) {
        path = NULL;
        rc = cli_fail("out of memory");
    }
    free(name_q);
    free(ns_q);
    if (rc == CLI_EXIT_OK)
        *ret = path;
    return rc;
}

/* Print items (an array) as the view's table. */
static int print_table(const struct cli_ctx *ctx, const struct view *v, const json_t *items, const char *filter)
{
    struct row_ctx rc = {.now = (int64_t)time(NULL), .filter = filter};
    size_t ncols = ctx->args->output == CLI_OUT_WIDE ? v->nwide : v->ncols, i;
    const json_t *item;
    int r, exit_code = CLI_EXIT_OK;

    if (table_new(ncols, &rc.table) < 0)
        return cli_fail("out of memory");
    r = table_add_row(rc.table, v->headers);
    json_array_foreach(items, i, item)
    {
        if (r < 0)
            break;
        r = v->rows(&rc, item);
    }
    if (r < 0) {
        exit_code = cli_fail("cannot build the table: %s", gpuaas_strerror(r));
        goto out;
    }
    if (table_rows(rc.table) <= 1) {
        if (filter)
            exit_code = cli_fail("%s \"%s\" not found", cli_resource_name(v->res), filter);
        else if (v->namespaced && ctx->args->ns)
            fprintf(stderr, "No resources found in namespace \"%s\".\n", ctx->args->ns);
        else
            fputs("No resources found.\n", stderr);
        goto out;
    }
    table_print(rc.table, stdout, 0);
out:
    table_free(rc.table);
    return exit_code;
}

/* -o json|yaml of a list filtered on the client: the matching items in the
 * list's shape, {"items": [...], "count": N}. keep() says which. */
static int print_filtered(const struct cli_ctx *ctx, const json_t *items, const char *name,
                          bool (*keep)(const json_t *item, const char *name))
{
    json_t *out = json_array(), *list = NULL;
    const json_t *item;
    size_t i;
    int rc = CLI_EXIT_OK;

    if (!out)
        return cli_fail("out of memory");
    json_array_foreach(items, i, item)
    {
        if (keep(item, name) && json_array_append(out, (json_t *)item) < 0) {
            rc = cli_fail("out of memory");
            goto out;
        }
    }
    list = json_pack("{s:O,s:I}", "items", out, "count", (json_int_t)json_array_size(out));
    rc = list ? cli_print_object(ctx, list) : cli_fail("out of memory");
out:
    json_decref(list);
    json_decref(out);
    return rc;
}

static bool gpu_matches(const json_t *gpu, const char *name)
{
    const char *node = cli_json_str(gpu, "node"), *uuid = cli_json_str(gpu, "uuid");
    return (node && strcmp(name, node) == 0) || (uuid && strcmp(name, uuid) == 0);
}

static bool pod_matches(const json_t *pod, const char *name)
{
    const char *pod_name = cli_json_str(pod, "name");
    return pod_name && strcmp(name, pod_name) == 0;
}

static size_t count_matches(const json_t *items, const char *name, bool (*keep)(const json_t *, const char *))
{
    const json_t *item;
    size_t i, n = 0;

    json_array_foreach(items, i, item)
    {
        if (keep(item, name))
            n++;
    }
    return n;
}

/* `get gpus [NODE|UUID]`: GET /v1/gpus, one row per physical GPU. */
static int get_gpus(struct cli_ctx *ctx, const struct view *v, const char *name)
{
    json_t *reply = NULL;
    const json_t *items;
    int rc = cli_api(ctx, "GET", v->path, NULL, &reply);

    if (rc != CLI_EXIT_OK)
        return rc;
    items = json_object_get(reply, "items");
    if (ctx->args->output != CLI_OUT_JSON && ctx->args->output != CLI_OUT_YAML)
        rc = print_table(ctx, v, items, name);
    else if (!name)
        rc = cli_print_object(ctx, reply);
    else if (count_matches(items, name, gpu_matches) == 0)
        rc = cli_fail("gpu \"%s\" not found", name);
    else
        rc = print_filtered(ctx, items, name, gpu_matches);
    json_decref(reply);
    return rc;
}

int cli_fetch_jobs(struct cli_ctx *ctx, const char *ns, const char *states, long limit, long chunk, json_t **ret)
{
    char *ns_q = ns ? http_escape(ns, 1) : NULL, *states_q = states ? http_escape(states, 0) : NULL;
    char token[JOBLIST_CONTINUE_MAX] = "";
    json_t *all = json_array(), *page = NULL, *out = NULL;
    json_int_t total = 0;
    long got = 0;
    int rc = CLI_EXIT_OK;

    if ((ns && !ns_q) || (states && !states_q) || !all) {
        rc = cli_fail("out of memory");
        goto out;
    }
    for (;;) {
        long want = chunk < 1 || chunk > JOBLIST_LIMIT_MAX ? JOBLIST_LIMIT_MAX : chunk;
        if (limit >= 0 && limit - got < want)
            want = limit - got;
        char *token_q = token[0] ? http_escape(token, 0) : NULL, *path = NULL;
        if ((token[0] && !token_q) ||
            asprintf(&path, "/v1/jobs?limit=%ld%s%s%s%s%s%s", want, ns ? "&namespace=" : "", ns ? ns_q : "",
                     states ? "&state=" : "", states ? states_q : "", token[0] ? "&continue=" : "",
                     token[0] ? token_q : "") < 0) {
            free(token_q);
            rc = cli_fail("out of memory");
            goto out;
        }
        free(token_q);
        rc = cli_api(ctx, "GET", path, NULL, &page);
        free(path);
        if (rc != CLI_EXIT_OK)
            goto out;
        json_t *items = json_object_get(page, "items");
        const char *next = json_string_value(json_object_get(page, "continue"));
        if (!json_is_array(items) || json_array_extend(all, items) < 0) {
            rc = cli_fail("the server's job list has no items");
            goto out;
        }
        got += (long)json_array_size(items);
        total = json_integer_value(json_object_get(page, "total"));
        if (!next || json_array_size(items) == 0) {
            token[0] = '\0';
            break;
        }
        /* a token that does not move on would loop for ever */
        if (strlen(next) >= sizeof token || strcmp(next, token) == 0) {
            rc = cli_fail("the server's continue token is not usable");
            goto out;
        }
        snprintf(token, sizeof token, "%s", next);
        json_decref(page);
        page = NULL;
        if (limit >= 0 && got >= limit)
            break;
    }
    out = json_pack("{s:O,s:I,s:I}", "items", all, "count", (json_int_t)got, "total", (json_int_t)total);
    if (!out || (token[0] && json_object_set_new(out, "continue", json_string(token)) < 0)) {
        rc = cli_fail("out of memory");
        goto out;
    }
    *ret = out;
    out = NULL;
out:
    json_decref(out);
    json_decref(page);
    json_decref(all);
    free(states_q);
    free(ns_q);
    return rc;
}

/* `get jobs [-n NS | -A] [--state S,...] [--limit N]`. */
static int get_jobs(struct cli_ctx *ctx, const struct view *v)
{
    const struct cli_args *a = ctx->args;
    json_t *reply = NULL;
    int rc = cli_fetch_jobs(ctx, a->ns, a->state, a->limit, a->chunk_size, &reply);

    if (rc != CLI_EXIT_OK)
        return rc;
    if (a->output == CLI_OUT_JSON || a->output == CLI_OUT_YAML) {
        rc = cli_print_object(ctx, reply);
    } else {
        rc = print_table(ctx, v, json_object_get(reply, "items"), NULL);
        if (rc == CLI_EXIT_OK && json_object_get(reply, "continue"))
            fprintf(stderr, "(%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " matching jobs shown; raise --limit for more)\n",
                    json_integer_value(json_object_get(reply, "count")),
                    json_integer_value(json_object_get(reply, "total")));
    }
    json_decref(reply);
    return rc;
}

int cli_fetch_pods(struct cli_ctx *ctx, const char *ns, const char *job, json_t **ret)
{
    char *ns_q = ns ? http_escape(ns, 1) : NULL, *job_q = job ? http_escape(job, 0) : NULL, *path = NULL;
    int rc;

    if ((ns && !ns_q) || (job && !job_q) ||
        asprintf(&path, "/v1/pods%s%s%s%s%s%s", ns || job ? "?" : "", ns ? "namespace=" : "", ns ? ns_q : "",
                 ns && job ? "&" : "", job ? "job=" : "", job ? job_q : "") < 0) {
        path = NULL;
        rc = cli_fail("out of memory");
    } else {
        rc = cli_api(ctx, "GET", path, NULL, ret);
    }
    free(path);
    free(job_q);
    free(ns_q);
    return rc;
}

/* ---- quotas ------------------------------------------------------------- */

#define QUOTA_COLS_MAX (TABLE_MAX_COLUMNS - 1) /* after NAMESPACE */

static void put_clean(const char *s, FILE *out);

/* `get quotas` as a table: NAMESPACE, then USED/LIMIT for every resource one
 * of the quotas limits (-o wide: gpus, gpu_milli, cpu, memory, pods always). */
static int print_quota_table(const struct cli_ctx *ctx, const json_t *items)
{
    struct cli_quota_col cols[QUOTA_COLS_MAX];
    const char *headers[TABLE_MAX_COLUMNS], *cells[TABLE_MAX_COLUMNS];
    char text[QUOTA_COLS_MAX][160];
    struct table *t = NULL;
    const json_t *quota;
    size_t ncols, i;
    int r;

    if (json_array_size(items) == 0) {
        if (ctx->args->ns)
            fprintf(stderr, "No quotas found in namespace \"%s\".\n", ctx->args->ns);
        else
            fputs("No quotas found.\n", stderr);
        return CLI_EXIT_OK;
    }
    ncols = cli_quota_columns(items, ctx->args->output == CLI_OUT_WIDE, cols, QUOTA_COLS_MAX);
    if (ncols > QUOTA_COLS_MAX) {
        fprintf(stderr, "note: %zu limited resources; the table shows the first %d (all of them: -o json)\n",
                ncols, QUOTA_COLS_MAX);
        ncols = QUOTA_COLS_MAX;
    }
    if (table_new(ncols + 1, &t) < 0)
        return cli_fail("out of memory");
    headers[0] = "NAMESPACE";
    for (i = 0; i < ncols; i++)
        headers[i + 1] = cols[i].header;
    r = table_add_row(t, headers);
    json_array_foreach(items, i, quota)
    {
        if (r < 0)
            break;
        cells[0] = cli_json_str(quota, "namespace");
        for (size_t c = 0; c < ncols; c++)
            cells[c + 1] = cli_quota_cell(quota, &cols[c], text[c], sizeof text[c]);
        r = table_add_row(t, cells);
    }
    if (r == 0)
        table_print(t, stdout, 0);
    table_free(t);
    return r < 0 ? cli_fail("cannot build the table: %s", gpuaas_strerror(r)) : CLI_EXIT_OK;
}

/* `get quotas [NAMESPACE] [-n SUBTREE]`: GET /v1/quotas or /v1/quotas/NS. */
static int get_quotas(struct cli_ctx *ctx, const struct view *v, const char *name)
{
    const struct cli_args *a = ctx->args;
    char *path = NULL;
    json_t *reply = NULL, *single = NULL;
    int rc;

    if (name && a->ns && strcmp(name, a->ns) != 0)
        return cli_usage_error(ctx, "get quotas NAMESPACE shows that namespace's quota; -n \"%s\" differs "
                                    "(-n alone lists the quotas set in a subtree)", a->ns);
    rc = view_path(ctx, v, name, &path);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (name) {
        /* view_path added ?namespace= for -n; the one quota needs none */
        char *q = strchr(path, '?');
        if (q)
            *q = '\0';
    }
    rc = cli_api(ctx, "GET", path, NULL, &reply);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->output == CLI_OUT_JSON || a->output == CLI_OUT_YAML) {
        rc = cli_print_object(ctx, reply);
    } else if (name) {
        single = json_array();
        if (!single || json_array_append(single, reply) < 0) {
            rc = cli_fail("out of memory");
            goto out;
        }
        rc = print_quota_table(ctx, single);
    } else {
        rc = print_quota_table(ctx, json_object_get(reply, "items"));
    }
out:
    json_decref(single);
    json_decref(reply);
    free(path);
    return rc;
}

/* GET /v1/quotas/NS without complaint when there is none: CLI_EXIT_OK with
 * *ret NULL on 404, and on 403 too (with *ret_hidden set: a caller bound
 * below a namespace may not read its quota). Other failures are printed;
 * their exit code returned. */
static int fetch_quota(struct cli_ctx *ctx, const char *ns, json_t **ret, bool *ret_hidden)
{
    struct http_reply reply = {0};
    char *ns_q = http_escape(ns, 1), *path = NULL;
    int rc;

    *ret = NULL;
    *ret_hidden = false;
    if (!ns_q || asprintf(&path, "/v1/quotas/%s", ns_q) < 0) {
        free(ns_q);
        return cli_fail("out of memory");
    }
    free(ns_q);
    rc = cli_request(ctx, "GET", path, NULL, NULL, &reply);
    free(path);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (reply.status == 404 || reply.status == 403) {
        *ret_hidden = reply.status == 403;
        rc = CLI_EXIT_OK;
    } else if (reply.status < 200 || reply.status > 299) {
        rc = cli_report_refusal(ctx, &reply);
    } else {
        *ret = json_loadb(reply.body, reply.len, 0, NULL);
        rc = *ret ? CLI_EXIT_OK : cli_fail("the server's quota reply is not JSON");
    }
    http_reply_free(&reply);
    return rc;
}

/* `describe namespace`: the quota of the namespace (RESOURCE USED LIMIT) and
 * those of the namespaces above it, which cap it as well. */
static int print_namespace_quotas(struct cli_ctx *ctx, const char *ns, FILE *out)
{
    char path[256], used[64], limit[64], summary[1024];
    json_t *quota = NULL;
    bool above = false, hidden = false;
    int rc = fetch_quota(ctx, ns, &quota, &hidden);

    if (rc != CLI_EXIT_OK) {
        fputs("Quota:   <unavailable>\n", out);
        return rc;
    }
    if (!quota) {
        fputs(hidden ? "Quota:   <not visible to you>\n" : "Quota:   <none>\n", out);
    } else {
        struct cli_quota_col cols[QUOTA_COLS_MAX];
        size_t n = cli_quota_columns(quota, false, cols, QUOTA_COLS_MAX);
        struct table *t = NULL;
        const char *const headers[] = {"RESOURCE", "USED", "LIMIT"};
        int r = table_new(3, &t);
        if (r == 0)
            r = table_add_row(t, headers);
        for (size_t i = 0; r == 0 && i < n && i < QUOTA_COLS_MAX; i++) {
            cli_quota_values(quota, &cols[i], used, sizeof used, limit, sizeof limit);
            const char *cells[] = {cols[i].label, used, limit};
            r = table_add_row(t, cells);
        }
        if (r == 0 && n == 0)
            fputs("Quota:   no limits\n", out);
        else if (r == 0) {
            fputs("Quota:\n", out);
            table_print(t, out, 2);
        }
        table_free(t);
        json_decref(quota);
        if (r < 0)
            return cli_fail("cannot print the quota: %s", gpuaas_strerror(r));
    }
    /* ancestors, nearest first; those the caller may not read are left out */
    snprintf(path, sizeof path, "%s", ns);
    for (char *slash; (slash = strrchr(path, '/'));) {
        *slash = '\0';
        rc = fetch_quota(ctx, path, &quota, &hidden);
        if (rc != CLI_EXIT_OK)
            return rc;
        if (!quota)
            continue;
        struct cli_quota_col cols[QUOTA_COLS_MAX];
        size_t n = cli_quota_columns(quota, false, cols, QUOTA_COLS_MAX), len = 0;
        summary[0] = '\0';
        for (size_t i = 0; i < n && i < QUOTA_COLS_MAX && len < sizeof summary; i++) {
            cli_quota_values(quota, &cols[i], used, sizeof used, limit, sizeof limit);
            int w = snprintf(summary + len, sizeof summary - len, "%s%s %s/%s", len ? ", " : "", cols[i].label,
                             used, limit);
            if (w < 0)
                break;
            len += (size_t)w;
        }
        if (!above)
            fputs("Quotas above:\n", out);
        above = true;
        fprintf(out, "  %s: ", path);
        put_clean(summary[0] ? summary : "no limits", out);
        fputc('\n', out);
        json_decref(quota);
    }
    return CLI_EXIT_OK;
}

/* `get pods [NAME] [-n NS] [--job JOB]`: NAME (JOB-rN-aA) is matched here. */
static int get_pods(struct cli_ctx *ctx, const struct view *v, const char *name)
{
    json_t *reply = NULL;
    const json_t *items;
    size_t matches;
    int rc = cli_fetch_pods(ctx, ctx->args->ns, ctx->args->job, &reply);

    if (rc != CLI_EXIT_OK)
        return rc;
    items = json_object_get(reply, "items");
    if (ctx->args->output != CLI_OUT_JSON && ctx->args->output != CLI_OUT_YAML) {
        if (!name && ctx->args->job && json_array_size(items) == 0) {
            fprintf(stderr, "No pods found for job \"%s\"%s%s%s.\n", ctx->args->job,
                    ctx->args->ns ? " in namespace \"" : "", ctx->args->ns ? ctx->args->ns : "",
                    ctx->args->ns ? "\"" : "");
            rc = CLI_EXIT_OK;
        } else {
            rc = print_table(ctx, v, items, name);
        }
        goto out;
    }
    if (!name) {
        rc = cli_print_object(ctx, reply);
        goto out;
    }
    /* one pod: the object itself, as `get job NAME -o json` prints a job */
    matches = count_matches(items, name, pod_matches);
    if (matches == 0) {
        rc = cli_fail("pod \"%s\" not found", name);
    } else if (matches > 1) {
        rc = cli_usage_error(ctx, "pod \"%s\" exists in %zu namespaces; say which with -n NAMESPACE", name, matches);
    } else {
        const json_t *item;
        size_t i;
        json_array_foreach(items, i, item)
        {
            if (pod_matches(item, name))
                rc = cli_print_object(ctx, item);
        }
    }
out:
    json_decref(reply);
    return rc;
}

int cli_verb_get(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    const struct view *v;
    const char *name = a->npos > 2 ? a->pos[2] : NULL;
    char *path = NULL, *job_ns = NULL, *job_name = NULL;
    json_t *reply = NULL, *single = NULL;
    enum cli_resource res;
    int rc;

    if (a->npos < 2)
        return cli_usage_error(ctx, "say what to get: jobs, pods, nodes, gpus, namespaces, quotas, tokens, bindings "
                                    "or reports");
    if (a->npos > 3)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[3]);
    res = cli_resource_lookup(a->pos[1]);
    if (res == CLI_RES_REPORT)
        return cli_get_reports(ctx, name);
    v = view_lookup(res);
    if (!v)
        return cli_usage_error(ctx, "unknown resource type \"%s\"", a->pos[1]);
    if (a->job && res != CLI_RES_POD)
        return cli_usage_error(ctx, "--job only applies to get pods");
    if (a->all_namespaces && a->ns)
        return cli_usage_error(ctx, "-A (all namespaces) and -n %s cannot both be given", a->ns);
    const char *list_flag = a->state ? "--state" : a->limit >= 0 ? "--limit" : a->chunk_size >= 0 ? "--chunk-size" : NULL;
    if (list_flag && res != CLI_RES_JOB)
        return cli_usage_error(ctx, "%s only applies to get jobs", list_flag);
    if (list_flag && name)
        return cli_usage_error(ctx, "%s lists jobs; it does not go with a job NAME", list_flag);
    if (a->chunk_size > JOBLIST_LIMIT_MAX)
        return cli_usage_error(ctx, "--chunk-size is at most %d", JOBLIST_LIMIT_MAX);
    if (a->state) {
        unsigned states;
        char why[160];
        if (joblist_parse_states(a->state, &states, why, sizeof why) < 0)
            return cli_usage_error(ctx, "--state: %s", why);
    }
    if (res == CLI_RES_JOB && !name)
        return get_jobs(ctx, v);
    if (res == CLI_RES_GPU)
        return get_gpus(ctx, v, name);
    if (res == CLI_RES_POD)
        return get_pods(ctx, v, name);
    if (res == CLI_RES_QUOTA)
        return get_quotas(ctx, v, name);
    if (res == CLI_RES_TOKEN)
        return cli_get_tokens(ctx, name);
    if (res == CLI_RES_BINDING)
        return cli_get_bindings(ctx, name);

    if (res == CLI_RES_JOB && name) {
        rc = cli_resolve_job(ctx, name, &job_ns, &job_name);
        if (rc != CLI_EXIT_OK)
            goto out;
        path = cli_job_path(job_ns, job_name, "");
        rc = path ? CLI_EXIT_OK : cli_fail("out of memory");
    } else {
        rc = view_path(ctx, v, name, &path);
    }
    if (rc != CLI_EXIT_OK)
        goto out;
    rc = cli_api(ctx, "GET", path, NULL, &reply);
    if (rc != CLI_EXIT_OK)
        goto out;

    if (a->output == CLI_OUT_JSON || a->output == CLI_OUT_YAML) {
        rc = cli_print_object(ctx, reply);
    } else if (name) {
        single = json_array();
        if (!single || json_array_append(single, reply) < 0) {
            rc = cli_fail("out of memory");
            goto out;
        }
        rc = print_table(ctx, v, single, NULL);
    } else {
        rc = print_table(ctx, v, json_object_get(reply, "items"), NULL);
    }
out:
    json_decref(single);
    json_decref(reply);
    free(job_name);
    free(job_ns);
    free(path);
    return rc;
}

/* ---- describe ---------------------------------------------------------- */

/* Write text with control characters shown as '?'. */
static void put_clean(const char *s, FILE *out)
{
    for (; *s; s++)
        fputc(((unsigned char)*s < 0x20 || *s == 0x7F) ? '?' : *s, out);
}

/* "max_runtime" -> "Max runtime", "id" -> "ID", "created_at" -> "Created". */
static void pretty_label(const char *key, char *out, size_t size)
{
    static const char *const acronyms[][2] = {
        {"id", "ID"},
        {"cpu", "CPU"},
        {"gpus", "GPUs"},
        {"uuid", "UUID"},
        {"gpu_milli", "GPU milli"},
        {"gpu_model", "GPU model"},
        {"gpus_allocated", "GPUs allocated"},
        {"job_id", "Job ID"},
        {"oom_killed", "OOM killed"},
        {"duration_s", "Duration (s)"},
    };
    size_t len = strlen(key), i;

    for (i = 0; i < sizeof acronyms / sizeof acronyms[0]; i++)
        if (strcmp(key, acronyms[i][0]) == 0) {
            snprintf(out, size, "%s", acronyms[i][1]);
            return;
        }
    if (len > 3 && strcmp(key + len - 3, "_at") == 0)
        len -= 3;
    if (len >= size)
        len = size - 1;
    for (i = 0; i < len; i++)
        out[i] = key[i] == '_' ? ' ' : key[i];
    out[i] = '\0';
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
}

static bool is_scalar(const json_t *v) { return !json_is_object(v) && !json_is_array(v); }

static void describe_value(const json_t *v, unsigned indent, int64_t now, bool timestamp, FILE *out);

/* "Label:" padded to `width`, then the value (inline or on following lines).
 * dash: the first field of a list item, written "- label:" like YAML. */
static void describe_field(const char *label_text, const json_t *v, unsigned indent, size_t width, int64_t now,
                           bool timestamp, bool dash, FILE *out)
{
    if (dash)
        fprintf(out, "%*s- ", (int)indent - 2, "");
    else
        fprintf(out, "%*s", (int)indent, "");
    put_clean(label_text, out);
    fputc(':', out);
    if ((json_is_object(v) && json_object_size(v) > 0) || (json_is_array(v) && json_array_size(v) > 0 &&
                                                           !is_scalar(json_array_get(v, 0)))) {
        fputc('\n', out);
        describe_value(v, indent + 2, now, false, out);
        return;
    }
    fprintf(out, "%*s", (int)(width > text_width(label_text) ? width - text_width(label_text) : 0) + 1, "");
    describe_value(v, indent, now, timestamp, out);
}

/* Fields of a non-empty object, keys aligned. */
static void describe_fields(const json_t *obj, unsigned indent, int64_t now, bool dash, FILE *out)
{
    const char *key;
    const json_t *item;
    size_t width = 0;

    json_object_foreach((json_t *)obj, key, item)
    if (text_width(key) > width)
        width = text_width(key);
    json_object_foreach((json_t *)obj, key, item)
    {
        describe_field(key, item, indent, width + 1, now, false, dash, out);
        dash = false;
    }
}

static void describe_value(const json_t *v, unsigned indent, int64_t now, bool timestamp, FILE *out)
{
    char buf[64];
    const json_t *item;
    size_t i;

    if (json_is_object(v) && json_object_size(v) > 0) {
        describe_fields(v, indent, now, false, out);
        return;
    }
    if (json_is_array(v) && json_array_size(v) > 0) {
        if (!is_scalar(json_array_get(v, 0))) {
            json_array_foreach(v, i, item)
            {
                if (json_is_object(item) && json_object_size(item) > 0) {
                    describe_fields(item, indent + 2, now, true, out);
                } else if (json_is_array(item) && json_array_size(item) > 0) {
                    char *compact = json_dumps(item, JSON_COMPACT);
                    fprintf(out, "%*s- ", (int)indent, "");
                    put_clean(compact ? compact : "?", out);
                    fputc('\n', out);
                    free(compact);
                } else {
                    fprintf(out, "%*s- ", (int)indent, "");
                    describe_value(item, indent, now, false, out);
                }
            }
            return;
        }
        /* a list of scalars, e.g. a command line: shell-like, quoted where needed */
        json_array_foreach(v, i, item)
        {
            const char *s = cli_json_text(item, buf, sizeof buf);
            if (i)
                fputc(' ', out);
            if (!s || !s[0] || strpbrk(s, " \t'\"\\$")) {
                fputc('"', out);
                put_clean(s ? s : "null", out);
                fputc('"', out);
            } else {
                put_clean(s, out);
            }
        }
        fputc('\n', out);
        return;
    }
    {
        const char *s = cli_json_text(v, buf, sizeof buf);
        int64_t t;
        put_clean(s ? s : "<none>", out);
        if (s && timestamp && rfc3339_parse(s, &t) == 0 && format_age(now - t, buf, sizeof buf) >= 0)
            fprintf(out, " (%s ago)", buf);
        fputc('\n', out);
    }
}

/* Identity fields come first, then the status, then the rest of the spec
 * (as kubectl describe does); unknown fields are shown too, in the
 * server's order. */
static const char *const describe_first[] = {"name", "namespace", "id", "kind", "priority", "replicas"};

static bool is_describe_first(const char *key)
{
    for (size_t i = 0; i < sizeof describe_first / sizeof describe_first[0]; i++)
        if (strcmp(key, describe_first[i]) == 0)
            return true;
    return false;
}

/* pass 0: describe_first keys; 1: status fields; 2: the remaining keys. */
static bool describe_in_pass(int pass, const json_t *obj, const char *key, const json_t *v)
{
    if (pass == 1)
        return true;
    if (obj && strcmp(key, "status") == 0 && json_is_object(v))
        return false;
    return (pass == 0) == is_describe_first(key);
}

static void describe_object(const json_t *obj, int64_t now, FILE *out)
{
    const json_t *status = json_object_get(obj, "status"), *v;
    const char *key;
    char text[128];
    size_t width = 0;

    if (!json_is_object(status))
        status = NULL;
    for (int pass = 0; pass < 3; pass++)
        json_object_foreach((json_t *)(pass == 1 ? status : obj), key, v)
        {
            if (!describe_in_pass(pass, obj, key, v))
                continue;
            pretty_label(key, text, sizeof text);
            if (text_width(text) > width)
                width = text_width(text);
        }
    for (int pass = 0; pass < 3; pass++) {
        /* pass 0 walks describe_first so identity fields keep that order */
        if (pass == 0) {
            for (size_t i = 0; i < sizeof describe_first / sizeof describe_first[0]; i++) {
                v = json_object_get(obj, describe_first[i]);
                if (!v)
                    continue;
                pretty_label(describe_first[i], text, sizeof text);
                describe_field(text, v, 0, width + 1, now, false, false, out);
            }
            continue;
        }
        json_object_foreach((json_t *)(pass == 1 ? status : obj), key, v)
        {
            size_t len = strlen(key);
            if (!describe_in_pass(pass, obj, key, v))
                continue;
            pretty_label(key, text, sizeof text);
            describe_field(text, v, 0, width + 1, now, len > 3 && strcmp(key + len - 3, "_at") == 0, false, out);
        }
    }
}

static int print_events(const json_t *events, int64_t now, FILE *out)
{
    const char *const headers[] = {"TYPE", "AGE", "MESSAGE"};
    const json_t *items = json_object_get(events, "items"), *ev;
    struct table *t = NULL;
    size_t i;
    int r;

    if (json_array_size(items) == 0) {
        fputs("Events:  <none>\n", out);
        return 0;
    }
    r = table_new(3, &t);
    if (r < 0)
        return r;
    r = table_add_row(t, headers);
    json_array_foreach(items, i, ev)
    {
        char age[32];
        if (r < 0)
            break;
        format_age_since(cli_json_str(ev, "time"), now, age, sizeof age);
        const char *cells[] = {cli_json_str(ev, "type"), age, cli_json_str(ev, "message")};
        r = table_add_row(t, cells);
    }
    if (r == 0) {
        fputs("Events:\n", out);
        table_print(t, out, 2);
    }
    table_free(t);
    return r;
}

/* The pods of one job out of a GET /v1/pods reply (a job's name may have
 * been used before in the namespace: the id tells its pods apart), as a
 * new list {"items": [...], "count": N}; NULL when out of memory. */
static json_t *job_pods(const json_t *reply, const json_t *job)
{
    const json_t *id = json_object_get(job, "id"), *pod;
    const char *ns = cli_json_str(job, "namespace"), *name = cli_json_str(job, "name");
    json_t *items = json_array(), *list;
    size_t i;

    if (!items)
        return NULL;
    json_array_foreach(json_object_get(reply, "items"), i, pod)
    {
        const char *pod_ns = cli_json_str(pod, "namespace"), *pod_job = cli_json_str(pod, "job");
        const json_t *job_id = json_object_get(pod, "job_id");
        if (!pod_ns || !ns || strcmp(pod_ns, ns) != 0 || !pod_job || !name || strcmp(pod_job, name) != 0)
            continue;
        if (json_is_integer(id) && json_is_integer(job_id) && !json_equal(id, job_id))
            continue;
        if (json_array_append(items, (json_t *)pod) < 0) {
            json_decref(items);
            return NULL;
        }
    }
    list = json_pack("{s:o,s:I}", "items", items, "count", (json_int_t)json_array_size(items));
    return list;
}

static int print_pods(const json_t *pods, int64_t now, FILE *out)
{
    const char *const headers[] = {"REPLICA", "ATTEMPT", "NODE", "STATE", "DEVICES", "EXIT",
                                   "STARTED", "ENDED",   "DURATION", "MESSAGE"};
    const json_t *items = json_object_get(pods, "items"), *pod;
    struct table *t = NULL;
    size_t i;
    int r;

    if (json_array_size(items) == 0) {
        fputs("Pods:    <none>\n", out);
        return 0;
    }
    r = table_new(sizeof headers / sizeof headers[0], &t);
    if (r < 0)
        return r;
    r = table_add_row(t, headers);
    json_array_foreach(items, i, pod)
    {
        const char *started = cli_json_str(pod, "started_at"), *ended = cli_json_str(pod, "ended_at");
        const char *message = cli_json_str(pod, "message");
        char replica[32], attempt[32], devices[CELL], exit_text[32], since[32], until[32], duration[32];
        if (r < 0)
            break;
        if (started)
            format_age_since(started, now, since, sizeof since);
        if (ended)
            format_age_since(ended, now, until, sizeof until);
        const char *cells[] = {
            text_at(pod, "replica", replica, sizeof replica),
            text_at(pod, "attempt", attempt, sizeof attempt),
            cli_json_str(pod, "node"),
            cli_json_str(pod, "state"),
            cli_pod_devices(pod, devices, sizeof devices),
            cli_pod_exit(pod, exit_text, sizeof exit_text),
            started ? since : NULL,
            ended ? until : NULL,
            cli_pod_duration(pod, now, duration, sizeof duration),
            message && message[0] ? message : NULL,
        };
        r = table_add_row(t, cells);
    }
    if (r == 0) {
        fputs("Pods:\n", out);
        table_print(t, out, 2);
    }
    table_free(t);
    return r;
}

static int describe_job(struct cli_ctx *ctx, const char *arg)
{
    char *ns = NULL, *name = NULL, *path = NULL, *events_path = NULL;
    json_t *job = NULL, *events = NULL, *pod_reply = NULL, *pods = NULL, *all = NULL;
    int64_t now = (int64_t)time(NULL);
    int rc, events_rc, pods_rc, r;

    rc = cli_resolve_job(ctx, arg, &ns, &name);
    if (rc != CLI_EXIT_OK)
        return rc;
    path = cli_job_path(ns, name, "");
    events_path = cli_job_path(ns, name, "/events");
    if (!path || !events_path) {
        rc = cli_fail("out of memory");
        goto out;
    }
    rc = cli_api(ctx, "GET", path, NULL, &job);
    if (rc != CLI_EXIT_OK)
        goto out;
    pods_rc = cli_fetch_pods(ctx, ns, name, &pod_reply);
    if (pods_rc == CLI_EXIT_OK) {
        pods = job_pods(pod_reply, job);
        if (!pods)
            pods_rc = cli_fail("out of memory");
    }
    events_rc = cli_api(ctx, "GET", events_path, NULL, &events);

    if (ctx->args->output == CLI_OUT_JSON || ctx->args->output == CLI_OUT_YAML) {
        if (pods_rc != CLI_EXIT_OK || events_rc != CLI_EXIT_OK) {
            rc = pods_rc != CLI_EXIT_OK ? pods_rc : events_rc;
            goto out;
        }
        all = json_pack("{s:O,s:O,s:O}", "job", job, "pods", pods, "events", events);
        rc = all ? cli_print_object(ctx, all) : cli_fail("out of memory");
        goto out;
    }
    describe_object(job, now, stdout);
    if (pods_rc != CLI_EXIT_OK) {
        fputs("Pods:    <unavailable>\n", stdout);
        rc = pods_rc;
    } else {
        r = print_pods(pods, now, stdout);
        if (r < 0)
            rc = cli_fail("cannot print the pods: %s", gpuaas_strerror(r));
    }
    if (events_rc != CLI_EXIT_OK) {
        fputs("Events:  <unavailable>\n", stdout);
        if (rc == CLI_EXIT_OK)
            rc = events_rc;
        goto out;
    }
    r = print_events(events, now, stdout);
    if (r < 0 && rc == CLI_EXIT_OK)
        rc = cli_fail("cannot print the events: %s", gpuaas_strerror(r));
out:
    json_decref(all);
    json_decref(events);
    json_decref(pods);
    json_decref(pod_reply);
    json_decref(job);
    free(events_path);
    free(path);
    free(name);
    free(ns);
    return rc;
}

/* `describe pod NAME`: there is no one-pod route; find it in the list. */
static int describe_pod(struct cli_ctx *ctx, const char *name)
{
    json_t *reply = NULL;
    const json_t *items, *pod, *found = NULL;
    size_t i, matches = 0;
    int rc = cli_fetch_pods(ctx, ctx->args->ns, NULL, &reply);

    if (rc != CLI_EXIT_OK)
        return rc;
    items = json_object_get(reply, "items");
    json_array_foreach(items, i, pod)
    {
        if (pod_matches(pod, name) && ++matches == 1)
            found = pod;
    }
    if (matches == 0)
        rc = cli_fail("pod \"%s\" not found", name);
    else if (matches > 1)
        rc = cli_usage_error(ctx, "pod \"%s\" exists in %zu namespaces; say which with -n NAMESPACE", name, matches);
    else if (ctx->args->output == CLI_OUT_JSON || ctx->args->output == CLI_OUT_YAML)
        rc = cli_print_object(ctx, found);
    else
        describe_object(found, (int64_t)time(NULL), stdout);
    json_decref(reply);
    return rc;
}

int cli_verb_describe(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    const struct view *v;
    enum cli_resource res;
    char *path = NULL;
    json_t *obj = NULL;
    int rc;

    if (a->npos < 3)
        return cli_usage_error(ctx, "describe needs a resource and a name, e.g. describe job NAME");
    if (a->npos > 3)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[3]);
    res = cli_resource_lookup(a->pos[1]);
    if (res == CLI_RES_JOB)
        return describe_job(ctx, a->pos[2]);
    if (res == CLI_RES_POD)
        return describe_pod(ctx, a->pos[2]);
    v = view_lookup(res);
    if (!v || res == CLI_RES_GPU || res == CLI_RES_TOKEN || res == CLI_RES_BINDING)
        return cli_usage_error(ctx, "cannot describe \"%s\"", a->pos[1]);

    /* Other objects have no events: show their fields the same way. */
    rc = view_path(ctx, v, a->pos[2], &path);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_api(ctx, "GET", path, NULL, &obj);
    if (rc == CLI_EXIT_OK) {
        if (a->output == CLI_OUT_JSON || a->output == CLI_OUT_YAML) {
            rc = cli_print_object(ctx, obj);
        } else {
            describe_object(obj, (int64_t)time(NULL), stdout);
            if (res == CLI_RES_NAMESPACE) {
                const char *ns = cli_json_str(obj, "name");
                rc = print_namespace_quotas(ctx, ns ? ns : a->pos[2], stdout);
            }
        }
    }
    json_decref(obj);
    free(path);
    return rc;
}
