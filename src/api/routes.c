/* The route table and its handlers. Every route is declared here once, with
 * the permission it needs; the router, the docs and the tests follow it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/web.h"
#include "core/joblist.h"
#include "core/meter.h"
#include "core/model.h"
#include "core/report.h"
#include "core/spec.h"
#include "gpuaas/error.h"
#include "lib/quantity.h"
#include "lib/tzmonth.h"
#include "report/months.h"
#include "report/render.h"

#define EVENTS_PER_JOB_MAX 1000

static void filter_visible(const struct core_state *st, const struct api_request *req, json_t *list, const char *key);
static void reply_visible(const struct core_state *st, const struct api_request *req, json_t *list, const char *key,
                          struct core_reply *reply);

/* ---- health ------------------------------------------------------------------ */

static enum api_outcome h_healthz(struct api_request *req)
{
    return api_answer(req, 200, json_pack("{s:s}", "status", "ok"));
}

static enum api_outcome h_readyz(struct api_request *req)
{
    if (!api_ready(req->server))
        return api_error(req, GPUAAS_EUNAVAIL, NULL, "shutting down");
    return api_answer(req, 200, json_pack("{s:s}", "status", "ready"));
}

/* ---- queries (run in the engine thread) ---------------------------------------- */

static void reply_not_found(struct core_reply *reply, const char *what, const char *name, const char *ns)
{
    reply->err = GPUAAS_ENOTFOUND;
    if (ns)
        snprintf(reply->message, sizeof reply->message, "%s '%.64s' not found in namespace '%.192s'", what, name,
                 ns);
    else
        snprintf(reply->message, sizeof reply->message, "%s '%.200s' not found", what, name);
}

static void reply_json(struct core_reply *reply, json_t *obj)
{
    reply->object = obj;
    reply->err = obj ? 0 : GPUAAS_ENOMEM;
    if (!obj)
        snprintf(reply->message, sizeof reply->message, "out of memory");
}

static void q_namespace_list(const struct core_state *st, struct store *store, const struct store_ops *ops,
                             void *arg, struct core_reply *reply)
{
    (void)store, (void)ops;
    reply_visible(st, arg, core_list_namespaces(st, NULL), "name", reply);
}

static void q_namespace_get(const struct core_state *st, struct store *store, const struct store_ops *ops,
                            void *arg, struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    const struct core_namespace *ns = core_find_namespace(st, req->param);
    if (!ns)
        return reply_not_found(reply, "namespace", req->param, NULL);
    reply_json(reply, core_render_namespace(ns));
}

struct job_list_query {
    unsigned states;
    uint64_t after_id;
    size_t limit;
};

struct job_keep {
    const struct core_state *st;
    const struct rbac_identity *who;
};

/* The RBAC filter of job lists, asked once per namespace. */
static bool job_keep(const char *ns, void *arg)
{
    const struct job_keep *k = arg;
    return core_authorize(k->st, k->who, ACTION_READ, ns) == 0;
}

/* No filter for a caller who reads every namespace (or when there is no
 * identity): the scan then skips the per-job namespace look-up. */
static joblist_keep_fn *job_keep_for(const struct job_keep *k)
{
    return k->who && core_authorize(k->st, k->who, ACTION_READ, "") < 0 ? job_keep : NULL;
}

static void reply_result(struct core_reply *reply, int r, json_t *obj)
{
    if (r < 0) {
        reply->err = r;
        snprintf(reply->message, sizeof reply->message, "listing jobs failed: %s", gpuaas_strerror(r));
        return;
    }
    reply_json(reply, obj);
}

static void q_job_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    const struct job_list_query *lq = req->ereq.query_data;
    struct job_keep k = {st, req->ereq.who};
    struct joblist_query q = {
        .prefix = req->ereq.cmd.namespace_path,
        .states = lq->states,
        .after_id = lq->after_id,
        .limit = lq->limit,
        .keep = job_keep_for(&k),
        .keep_arg = &k,
    };
    json_t *list = NULL;
    int r = joblist_page(st, &q, &list);
    reply_result(reply, r, list);
}

static void q_job_summary(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                          struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    struct job_keep k = {st, req->ereq.who};
    json_t *summary = NULL;
    int r = joblist_summary(st, req->ereq.cmd.namespace_path, job_keep_for(&k), &k, &summary);
    reply_result(reply, r, summary);
}

static void q_job_get(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                      struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    const struct core_job *job = core_find_job(st, req->ereq.cmd.namespace_path, req->ereq.cmd.name);
    if (!job)
        return reply_not_found(reply, "job", req->ereq.cmd.name, req->ereq.cmd.namespace_path);
    reply_json(reply, core_render_job(job));
}

static void q_job_events(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                         struct core_reply *reply)
{
    struct api_request *req = arg;
    const struct core_job *job = core_find_job(st, req->ereq.cmd.namespace_path, req->ereq.cmd.name);
    if (!job)
        return reply_not_found(reply, "job", req->ereq.cmd.name, req->ereq.cmd.namespace_path);
    json_t *list = NULL;
    int r = ops->job_events(store, job->id, EVENTS_PER_JOB_MAX, &list);
    if (r < 0) {
        reply->err = r;
        snprintf(reply->message, sizeof reply->message, "reading events failed: %s", gpuaas_strerror(r));
        return;
    }
    reply_json(reply, list);
}

static void q_node_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                        struct core_reply *reply)
{
    (void)store, (void)ops, (void)arg;
    reply_json(reply, core_list_nodes(st));
}

static void q_node_get(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    const struct core_node *node = core_find_node(st, req->param);
    if (!node)
        return reply_not_found(reply, "node", req->param, NULL);
    reply_json(reply, core_render_node(node));
}

static void q_pod_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    reply_visible(st, req, core_list_pods(st, req->ereq.cmd.namespace_path, req->ereq.cmd.name), "namespace", reply);
}

/* Who holds a GPU is tenant data: holders the caller may not read are
 * shown as "hidden". */
static void redact_holder(const struct core_state *st, const struct api_request *req, json_t *obj)
{
    json_t *holder = json_object_get(obj, "allocated_to");
    const char *ns = json_string_value(json_object_get(holder, "namespace"));
    if (ns && req->ereq.who && core_authorize(st, req->ereq.who, ACTION_READ, ns) < 0)
        json_object_set_new(obj, "allocated_to", json_string("hidden"));
}

static void redact_holders(const struct core_state *st, const struct api_request *req, json_t *rows)
{
    size_t i, j;
    json_t *row, *sub;
    json_array_foreach(rows, i, row) {
        redact_holder(st, req, row);
        json_array_foreach(json_object_get(row, "shares"), j, sub) redact_holder(st, req, sub);
        json_array_foreach(json_object_get(row, "mig_devices"), j, sub) redact_holder(st, req, sub);
    }
}

static void q_gpu_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    json_t *list = core_list_gpus(st);
    if (list) {
        api_gpu_annotate(req->server, json_object_get(list, "items"));
        redact_holders(st, req, json_object_get(list, "items"));
    }
    reply_json(reply, list);
}

#define LOG_CHUNK_MAX (1024 * 1024)

/* The log of a job's replica (latest attempt, or ?attempt=), from ?offset=,
 * at most LOG_CHUNK_MAX bytes. Headers say where to continue and whether
 * the pod has ended, so `gpuaas logs -f` can follow by polling. */
static void q_job_logs(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    const struct core_job *job = core_find_job(st, req->ereq.cmd.namespace_path, req->ereq.cmd.name);
    if (!job)
        return reply_not_found(reply, "job", req->ereq.cmd.name, req->ereq.cmd.namespace_path);
    const char *replica_text = api_query(req, "replica"), *attempt_text = api_query(req, "attempt");
    const char *offset_text = api_query(req, "offset");
    long replica = replica_text ? strtol(replica_text, NULL, 10) : 0;
    long attempt = attempt_text ? strtol(attempt_text, NULL, 10) : job->attempt;
    long long offset = offset_text ? strtoll(offset_text, NULL, 10) : 0;
    if (offset < 0)
        offset = 0;
    const struct core_pod *pod = NULL;
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *p = value;
        if (p->job_id == job->id && p->replica == replica && p->attempt == attempt)
            pod = p;
    }
    if (!pod) {
        reply->err = GPUAAS_ENOTFOUND;
        snprintf(reply->message, sizeof reply->message, "job '%s' has no pod for replica %ld attempt %ld yet (%s)",
                 job->spec.name, replica, attempt, core_job_state_name(job->state));
        return;
    }
    char path[4096];
    char *data = malloc(LOG_CHUNK_MAX);
    size_t len = 0;
    FILE *f = NULL;
    if (data && api_log_path(req->server, pod->id, path, sizeof path) == 0 && (f = fopen(path, "rb"))) {
        if (fseeko(f, (off_t)offset, SEEK_SET) == 0)
            len = fread(data, 1, LOG_CHUNK_MAX, f);
        fclose(f);
    }
    if (!data) {
        reply->err = GPUAAS_ENOMEM;
        return;
    }
    req->raw_text = data;
    req->raw_len = len;
    snprintf(req->raw_headers[0][0], sizeof req->raw_headers[0][0], "X-Gpuaas-Next-Offset");
    snprintf(req->raw_headers[0][1], sizeof req->raw_headers[0][1], "%lld", offset + (long long)len);
    snprintf(req->raw_headers[1][0], sizeof req->raw_headers[1][0], "X-Gpuaas-Pod-State");
    snprintf(req->raw_headers[1][1], sizeof req->raw_headers[1][1], "%s", core_pod_state_name(pod->state));
    reply->err = 0;
}

static enum api_outcome query(struct api_request *req, engine_query_fn fn)
{
    req->ereq.query = fn;
    req->ereq.query_arg = req;
    return API_SUBMIT;
}

static void set_scope(struct api_request *req, const char *ns)
{
    snprintf(req->ereq.scope, sizeof req->ereq.scope, "%s", ns);
}

/* Keeps the list items the caller may read (key names their namespace). */
static void filter_visible(const struct core_state *st, const struct api_request *req, json_t *list, const char *key)
{
    json_t *items = json_object_get(list, "items");
    if (!req->ereq.who || !items)
        return;
    for (size_t i = json_array_size(items); i-- > 0;) {
        const char *ns = json_string_value(json_object_get(json_array_get(items, i), key));
        if (core_authorize(st, req->ereq.who, ACTION_READ, ns ? ns : "") < 0)
            json_array_remove(items, i);
    }
    json_object_set_new(list, "count", json_integer((json_int_t)json_array_size(items)));
}

/* Answers a list with only the items the caller may read. */
static void reply_visible(const struct core_state *st, const struct api_request *req, json_t *list, const char *key,
                          struct core_reply *reply)
{
    if (list)
        filter_visible(st, req, list, key);
    reply_json(reply, list);
}

/* ?namespace= as a namespace path; required or optional. */
static bool take_namespace_param(struct api_request *req, bool required)
{
    const char *ns = api_query(req, "namespace");
    const char *why;
    if (!ns || !*ns) {
        if (required)
            api_error(req, GPUAAS_EPARSE, "namespace", "query parameter 'namespace' is required");
        return !required;
    }
    if (names_check_namespace(ns, NULL, &why) < 0) {
        api_error(req, GPUAAS_EPARSE, "namespace", "namespace '%.200s' %s", ns, why);
        return false;
    }
    snprintf(req->ereq.cmd.namespace_path, sizeof req->ereq.cmd.namespace_path, "%s", ns);
    set_scope(req, ns);
    /* a list narrowed to one namespace needs read access there */
    if (req->ereq.action == ACTION_AUTHENTICATED)
        req->ereq.action = ACTION_READ;
    return true;
}

/* The {name} path parameter as a job name (anything else cannot exist). */
static bool take_job_name(struct api_request *req)
{
    if (names_check_label(req->param, NULL) < 0) {
        api_error(req, GPUAAS_ENOTFOUND, NULL, "job '%.64s' not found", req->param);
        return false;
    }
    snprintf(req->ereq.cmd.name, sizeof req->ereq.cmd.name, "%s", req->param);
    return true;
}

/* ---- namespaces ----------------------------------------------------------------- */

static enum api_outcome h_namespace_list(struct api_request *req) { return query(req, q_namespace_list); }
static enum api_outcome h_namespace_get(struct api_request *req)
{
    set_scope(req, req->param);
    return query(req, q_namespace_get);
}

static enum api_outcome h_namespace_create(struct api_request *req)
{
    json_t *body = api_body_json(req);
    if (!body)
        return API_ANSWERED;
    enum api_outcome out = API_ANSWERED;
    const char *key, *why;
    json_t *value;
    if (!json_is_object(body)) {
        api_error(req, GPUAAS_EINVAL, NULL, "expected an object like {\"name\": \"team-ai/project-llm/dev\"}");
        goto done;
    }
    json_object_foreach(body, key, value) {
        if (strcmp(key, "name") != 0) {
            api_error(req, GPUAAS_EINVAL, key, "unknown field");
            goto done;
        }
    }
    json_t *name = json_object_get(body, "name");
    if (!name) {
        api_error(req, GPUAAS_EINVAL, "name", "is required");
        goto done;
    }
    if (!json_is_string(name)) {
        api_error(req, GPUAAS_EINVAL, "name", "expected a string");
        goto done;
    }
    if (names_check_namespace(json_string_value(name), NULL, &why) < 0) {
        api_error(req, GPUAAS_EINVAL, "name", "namespace '%.200s' %s", json_string_value(name), why);
        goto done;
    }
    req->ereq.cmd.kind = CORE_CMD_NAMESPACE_CREATE;
    snprintf(req->ereq.cmd.namespace_path, sizeof req->ereq.cmd.namespace_path, "%s", json_string_value(name));
    set_scope(req, json_string_value(name));
    out = API_SUBMIT;
done:
    json_decref(body);
    return out;
}

static enum api_outcome h_namespace_delete(struct api_request *req)
{
    if (names_check_namespace(req->param, NULL, NULL) < 0)
        return api_error(req, GPUAAS_ENOTFOUND, NULL, "namespace '%.200s' not found", req->param);
    req->ereq.cmd.kind = CORE_CMD_NAMESPACE_DELETE;
    snprintf(req->ereq.cmd.namespace_path, sizeof req->ereq.cmd.namespace_path, "%s", req->param);
    set_scope(req, req->param);
    return API_SUBMIT;
}

/* ---- jobs ------------------------------------------------------------------------ */

/* GET /v1/jobs [?namespace=NS] [&state=Pending,Running] [&limit=N] [&continue=TOKEN] */
static enum api_outcome h_job_list(struct api_request *req)
{
    if (!take_namespace_param(req, false))
        return API_ANSWERED;
    const char *states = api_query(req, "state"), *limit = api_query(req, "limit");
    const char *token = api_query(req, "continue");
    struct job_list_query q = {.limit = JOBLIST_LIMIT_DEFAULT};
    char why[160];
    if (states && *states && joblist_parse_states(states, &q.states, why, sizeof why) < 0)
        return api_error(req, GPUAAS_EPARSE, "state", "state: %s", why);
    if (limit && *limit) {
        long n = strspn(limit, "0123456789") == strlen(limit) && strlen(limit) <= 6 ? strtol(limit, NULL, 10) : 0;
        if (n < 1 || n > JOBLIST_LIMIT_MAX)
            return api_error(req, GPUAAS_EPARSE, "limit", "limit must be a whole number from 1 to %d, not '%.32s'",
                             JOBLIST_LIMIT_MAX, limit);
        q.limit = (size_t)n;
    }
    if (token && *token && joblist_parse_continue(token, &q.after_id) < 0)
        return api_error(req, GPUAAS_EPARSE, "continue",
                         "continue must be the token of a previous reply's \"continue\", not '%.64s'", token);
    struct job_list_query *copy = malloc(sizeof *copy);
    if (!copy)
        return api_error(req, GPUAAS_ENOMEM, NULL, "out of memory");
    *copy = q;
    req->ereq.query_data = copy;
    req->ereq.query_data_free = free;
    return query(req, q_job_list);
}

/* GET /v1/job-summary [?namespace=NS]: counts by state and namespace. */
static enum api_outcome h_job_summary(struct api_request *req)
{
    if (!take_namespace_param(req, false))
        return API_ANSWERED;
    return query(req, q_job_summary);
}

static enum api_outcome h_job_get(struct api_request *req)
{
    if (!take_namespace_param(req, true) || !take_job_name(req))
        return API_ANSWERED;
    return query(req, q_job_get);
}

static enum api_outcome h_job_events(struct api_request *req)
{
    if (!take_namespace_param(req, true) || !take_job_name(req))
        return API_ANSWERED;
    return query(req, q_job_events);
}

static enum api_outcome h_job_submit(struct api_request *req)
{
    const char *ns = api_query(req, "namespace");
    json_t *body = api_body_json(req);
    if (!body)
        return API_ANSWERED;
    struct spec_error err;
    int r = spec_parse_job(body, ns && *ns ? ns : NULL, &req->ereq.cmd.job, &err);
    json_decref(body);
    if (r < 0)
        return api_error(req, r, err.field, "%s%s%s", err.field, *err.field ? ": " : "", err.message);
    req->ereq.cmd.kind = CORE_CMD_JOB_SUBMIT;
    set_scope(req, req->ereq.cmd.job.namespace_path);
    return API_SUBMIT;
}

static enum api_outcome h_job_cancel(struct api_request *req)
{
    if (!take_namespace_param(req, true) || !take_job_name(req))
        return API_ANSWERED;
    req->ereq.cmd.kind = CORE_CMD_JOB_CANCEL;
    return API_SUBMIT;
}

static enum api_outcome h_job_delete(struct api_request *req)
{
    if (!take_namespace_param(req, true) || !take_job_name(req))
        return API_ANSWERED;
    req->ereq.cmd.kind = CORE_CMD_JOB_DELETE;
    return API_SUBMIT;
}

static enum api_outcome h_job_logs(struct api_request *req)
{
    if (!take_namespace_param(req, true) || !take_job_name(req))
        return API_ANSWERED;
    return query(req, q_job_logs);
}

/* ---- quotas -------------------------------------------------------------------------- */

static void q_quota_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                         struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    reply_visible(st, req, core_list_quotas(st, req->ereq.cmd.namespace_path), "namespace", reply);
}

static void q_quota_get(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                        struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    const struct core_namespace *ns = core_find_namespace(st, req->param);
    if (!ns || !ns->has_quota) {
        reply->err = GPUAAS_ENOTFOUND;
        snprintf(reply->message, sizeof reply->message, "no quota on namespace '%.200s'", req->param);
        return;
    }
    reply_json(reply, core_render_quota(ns));
}

static enum api_outcome h_quota_list(struct api_request *req)
{
    if (!take_namespace_param(req, false))
        return API_ANSWERED;
    return query(req, q_quota_list);
}

static enum api_outcome h_quota_get(struct api_request *req)
{
    if (names_check_namespace(req->param, NULL, NULL) < 0)
        return api_error(req, GPUAAS_ENOTFOUND, NULL, "no quota on namespace '%.200s'", req->param);
    set_scope(req, req->param);
    return query(req, q_quota_get);
}

/* PUT replaces the whole quota of a namespace subtree. */
static enum api_outcome h_quota_put(struct api_request *req)
{
    if (names_check_namespace(req->param, NULL, NULL) < 0)
        return api_error(req, GPUAAS_ENOTFOUND, NULL, "namespace '%.200s' not found", req->param);
    json_t *body = api_body_json(req);
    if (!body)
        return API_ANSWERED;
    char field[64] = "", why[160] = "";
    struct quota_amounts *limit = malloc(sizeof *limit);
    int r = limit ? quota_from_json(body, limit, field, sizeof field, why, sizeof why) : GPUAAS_ENOMEM;
    json_decref(body);
    if (r < 0) {
        free(limit);
        return api_error(req, r, field, "%s%s%s", field, *field ? ": " : "", why);
    }
    req->ereq.cmd.kind = CORE_CMD_QUOTA_SET;
    req->ereq.cmd.quota = limit;
    set_scope(req, req->param);
    snprintf(req->ereq.cmd.namespace_path, sizeof req->ereq.cmd.namespace_path, "%s", req->param);
    return API_SUBMIT;
}

static enum api_outcome h_quota_delete(struct api_request *req)
{
    if (names_check_namespace(req->param, NULL, NULL) < 0)
        return api_error(req, GPUAAS_ENOTFOUND, NULL, "no quota on namespace '%.200s'", req->param);
    req->ereq.cmd.kind = CORE_CMD_QUOTA_DELETE;
    set_scope(req, req->param);
    snprintf(req->ereq.cmd.namespace_path, sizeof req->ereq.cmd.namespace_path, "%s", req->param);
    return API_SUBMIT;
}

/* ---- pods and GPUs ------------------------------------------------------------------ */

static enum api_outcome h_pod_list(struct api_request *req)
{
    if (!take_namespace_param(req, false))
        return API_ANSWERED;
    const char *job = api_query(req, "job");
    if (job && *job) {
        if (names_check_label(job, NULL) < 0)
            return api_error(req, GPUAAS_EPARSE, "job", "'%.64s' is not a job name", job);
        snprintf(req->ereq.cmd.name, sizeof req->ereq.cmd.name, "%s", job);
    }
    return query(req, q_pod_list);
}

static enum api_outcome h_gpu_list(struct api_request *req) { return query(req, q_gpu_list); }

/* ---- nodes ------------------------------------------------------------------------ */

static enum api_outcome h_node_list(struct api_request *req) { return query(req, q_node_list); }
static enum api_outcome h_node_get(struct api_request *req) { return query(req, q_node_get); }

/* ---- metrics ---------------------------------------------------------------------------- */

static enum api_outcome h_metrics(struct api_request *req) { return query(req, api_metrics_query); }

/* ---- the dashboard ------------------------------------------------------------------------ */

/* Static files without a token: the page asks for one and sends it with
 * every /v1 call, so what it shows is what the caller's role may read. */
static enum api_outcome serve_web(struct api_request *req, const char *name)
{
    const struct web_asset *file = web_find(name);
    if (!file)
        return api_error(req, GPUAAS_ENOTFOUND, NULL, "no file '%.64s' in the dashboard", name);
    req->raw_text = (char *)file->data;
    req->raw_len = file->len;
    req->raw_static = true;
    req->raw_content_type = web_content_type(name);
    static const char *const headers[][2] = {
        {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"Cache-Control", "no-cache"},
        {"Referrer-Policy", "no-referrer"},
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        snprintf(req->raw_headers[i][0], sizeof req->raw_headers[i][0], "%s", headers[i][0]);
        snprintf(req->raw_headers[i][1], sizeof req->raw_headers[i][1], "%s", headers[i][1]);
    }
    req->status = 200;
    return API_ANSWERED;
}

static enum api_outcome h_ui(struct api_request *req) { return serve_web(req, "index.html"); }
static enum api_outcome h_ui_file(struct api_request *req) { return serve_web(req, req->param); }

/* ---- usage ------------------------------------------------------------------------------ */

struct usage_query {
    int64_t from_ms, to_ms;
    enum meter_group by;
};

struct usage_filter {
    const struct core_state *st;
    const struct api_request *req;
    const char *prefix; /* "" : everything the caller may read */
};

static bool usage_keep(const char *ns, void *arg)
{
    struct usage_filter *f = arg;
    if (f->prefix[0] && !names_namespace_within(ns, f->prefix))
        return false;
    return !f->req->ereq.who || core_authorize(f->st, f->req->ereq.who, ACTION_READ, ns) == 0;
}

struct usage_store {
    struct store *store;
    const struct store_ops *ops;
};

/* A pod crossing the range's edge: its utilisation from the hourly rollups. */
static int usage_util_window(void *arg, uint64_t pod_id, int64_t from_ms, int64_t to_ms, struct core_pod_util *ret)
{
    struct usage_store *us = arg;
    return us->ops->pod_util_range ? us->ops->pod_util_range(us->store, pod_id, from_ms, to_ms, ret)
                                   : GPUAAS_ENOTFOUND;
}

static void q_usage(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                    struct core_reply *reply)
{
    struct api_request *req = arg;
    struct usage_query *q = req->ereq.query_data;
    struct usage_filter f = {st, req, req->ereq.cmd.namespace_path};
    struct usage_store us = {store, ops};
    const struct tzmonth_table *months = api_months(req->server);
    struct meter_query mq = {
        .from_ms = q->from_ms,
        .to_ms = q->to_ms,
        .now_ms = api_now_ms(req->server),
        .by = q->by,
        .prices = api_prices(req->server),
        .keep = usage_keep,
        .keep_arg = &f,
        .util_window = usage_util_window,
        .util_window_arg = &us,
        .time_zone = months && months->zone[0] ? months->zone : "UTC",
    };
    reply_json(reply, meter_usage_query(st, &mq));
}

/* GET /v1/usage?month=2026-11 | from=T&to=T [&by=namespace|project|org|model|capacity|node|node-group|series|pod]
 * [&namespace=NS]; a month is a calendar month in metering.time_zone */
static enum api_outcome h_usage(struct api_request *req)
{
    if (!take_namespace_param(req, false))
        return API_ANSWERED;
    struct usage_query *q = calloc(1, sizeof *q);
    if (!q)
        return api_error(req, GPUAAS_ENOMEM, NULL, "out of memory");
    const char *month = api_query(req, "month"), *from = api_query(req, "from"), *to = api_query(req, "to");
    const char *by = api_query(req, "by");
    int r = 0;
    if (month) /* a calendar month in the configured time zone */
        r = tzmonth_range(api_months(req->server), month, &q->from_ms, &q->to_ms);
    else {
        q->to_ms = api_now_ms(req->server);
        q->from_ms = 0;
        if (from)
            r = meter_parse_time(from, &q->from_ms);
        if (r == 0 && to)
            r = meter_parse_time(to, &q->to_ms);
    }
    if (r < 0 || q->to_ms < q->from_ms) {
        free(q);
        return api_error(req, GPUAAS_EPARSE, month ? "month" : "from",
                         "expected month=YYYY-MM, or from/to as YYYY-MM-DD[THH:MM[:SS]Z] or milliseconds, from <= to");
    }
    if (by && meter_group_from_name(by, &q->by) < 0) {
        free(q);
        return api_error(req, GPUAAS_EPARSE, "by",
                         "by must be namespace, project, org, model, capacity, node, node-group, series or pod");
    }
    req->ereq.query_data = q;
    req->ereq.query_data_free = free;
    return query(req, q_usage);
}

/* ---- monthly reports ------------------------------------------------------------------- */

/* Platform-wide reports (the stored ones included) are for identities that
 * read every namespace: platform-admin, or any role bound platform-wide.
 * Anyone else gets a report built on demand from only the namespaces they
 * may read, the same filter as /v1/usage: never more than usage shows them. */
static bool reads_everything(const struct core_state *st, const struct api_request *req)
{
    return !req->ereq.who || rbac_role_at(st->bindings, st->binding_count, req->ereq.who, "") >= ROLE_VIEWER;
}

static int report_list_each(const char *month, int64_t generated_ms, const char *json_text, void *arg)
{
    json_t **ctx = arg; /* [0] items, [1] non-NULL: figures too */
    char generated[40];
    core_format_time(generated_ms, generated, sizeof generated);
    json_t *item = json_pack("{s:s,s:s}", "month", month, "generated_at", generated);
    if (item && ctx[1]) {
        json_t *doc = json_loads(json_text, 0, NULL);
        json_t *total = json_object_get(doc, "total");
        json_object_set(item, "gpu_hours", json_object_get(total, "gpu_hours"));
        json_object_set(item, "cost", json_object_get(total, "cost"));
        json_object_set(item, "currency", json_object_get(doc, "currency"));
        json_decref(doc);
    }
    return item && json_array_append_new(ctx[0], item) == 0 ? 0 : 1;
}

static void q_report_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                          struct core_reply *reply)
{
    json_t *items = json_array();
    /* the totals are platform-wide figures */
    json_t *ctx[2] = {items, reads_everything(st, arg) ? items : NULL};
    if (!items || ops->report_each(store, report_list_each, ctx) < 0) {
        json_decref(items);
        reply->err = GPUAAS_EIO;
        snprintf(reply->message, sizeof reply->message, "cannot read the stored reports");
        return;
    }
    reply_json(reply, json_pack("{s:o,s:I}", "items", items, "count", (json_int_t)json_array_size(items)));
}

static enum api_outcome h_report_list(struct api_request *req) { return query(req, q_report_list); }

enum report_format { REPORT_JSON, REPORT_CSV, REPORT_PDF };

struct report_query {
    char month[REPORT_MONTH_LEN + 1];
    int64_t from_ms, to_ms;
    enum report_format format;
};

static void q_report_get(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                         struct core_reply *reply)
{
    struct api_request *req = arg;
    struct report_query *q = req->ereq.query_data;
    int64_t now = api_now_ms(req->server);
    const char *prefix = req->ereq.cmd.namespace_path;
    bool everything = reads_everything(st, req);
    if (q->from_ms > now) {
        reply->err = GPUAAS_EINVAL;
        snprintf(reply->field, sizeof reply->field, "month");
        snprintf(reply->message, sizeof reply->message, "month %s has not started yet", q->month);
        return;
    }
    json_t *report = NULL;
    bool stored = false;
    int r;
    if (everything && !prefix[0] && now >= q->to_ms) {
        /* a closed month: the report stored when it closed */
        int64_t generated_ms;
        char *text = NULL;
        r = ops->report_get(store, q->month, &generated_ms, &text);
        if (r == 0) {
            report = json_loads(text, 0, NULL);
            free(text);
            stored = report != NULL;
        } else if (r != GPUAAS_ENOTFOUND) {
            reply->err = r;
            snprintf(reply->message, sizeof reply->message, "cannot read the stored report: %s", gpuaas_strerror(r));
            return;
        }
    }
    if (!report) {
        struct usage_filter f = {st, req, prefix};
        char scope[NS_PATH_MAX + RBAC_SUBJECT_MAX + 64];
        if (everything)
            snprintf(scope, sizeof scope, "%s%s", prefix[0] ? "namespace " : "platform", prefix);
        else if (prefix[0])
            snprintf(scope, sizeof scope, "namespace %s, as readable by %s", prefix, req->ereq.who->user);
        else
            snprintf(scope, sizeof scope, "namespaces readable by %s", req->ereq.who->user);
        struct report_options opt = {.month = q->month, .now_ms = now, .prices = api_prices(req->server),
                                     .keep = everything && !prefix[0] ? NULL : usage_keep, .keep_arg = &f,
                                     .scope = scope, .title = api_report_title(req->server)};
        if ((r = report_set_months(&opt, api_months(req->server))) < 0 ||
            (r = report_build(st, &opt, &report)) < 0) {
            reply->err = r;
            snprintf(reply->message, sizeof reply->message, "cannot build the report: %s", gpuaas_strerror(r));
            return;
        }
    }
    json_object_set_new(report, "stored", json_boolean(stored));
    reply_json(reply, report);
}

/* HTTP thread: the report as CSV or PDF (rendering never holds the engine). */
static void report_finish(struct api_request *req)
{
    struct report_query *q = req->ereq.query_data;
    char *data = NULL;
    size_t len = 0;
    int r = q->format == REPORT_CSV ? report_render_csv(req->answer, &data, &len)
                                    : report_render_pdf(req->answer, &data, &len);
    if (r < 0) {
        api_error(req, r, NULL, "cannot render the report: %s", gpuaas_strerror(r));
        return;
    }
    req->raw_text = data;
    req->raw_len = len;
    req->raw_content_type = q->format == REPORT_CSV ? "text/csv; charset=utf-8" : "application/pdf";
    snprintf(req->raw_headers[0][0], sizeof req->raw_headers[0][0], "Content-Disposition");
    snprintf(req->raw_headers[0][1], sizeof req->raw_headers[0][1], "attachment; filename=\"gpuaas-report-%s.%s\"",
             q->month, q->format == REPORT_CSV ? "csv" : "pdf");
}

/* GET /v1/reports/{YYYY-MM}?format=json|csv|pdf[&namespace=NS] */
static enum api_outcome h_report_get(struct api_request *req)
{
    if (!take_namespace_param(req, false))
        return API_ANSWERED;
    struct report_query *q = calloc(1, sizeof *q);
    if (!q)
        return api_error(req, GPUAAS_ENOMEM, NULL, "out of memory");
    req->ereq.query_data = q;
    req->ereq.query_data_free = free;
    if (strlen(req->param) != REPORT_MONTH_LEN || tzmonth_range(api_months(req->server), req->param, &q->from_ms, &q->to_ms) < 0)
        return api_error(req, GPUAAS_EPARSE, "month", "'%.32s' is not a month YYYY-MM (e.g. 2026-11)", req->param);
    snprintf(q->month, sizeof q->month, "%s", req->param);
    const char *format = api_query(req, "format");
    if (!format || strcmp(format, "json") == 0)
        q->format = REPORT_JSON;
    else if (strcmp(format, "csv") == 0)
        q->format = REPORT_CSV;
    else if (strcmp(format, "pdf") == 0)
        q->format = REPORT_PDF;
    else
        return api_error(req, GPUAAS_EPARSE, "format", "format must be json, csv or pdf");
    if (q->format != REPORT_JSON)
        req->finish = report_finish;
    return query(req, q_report_get);
}

/* ---- role bindings --------------------------------------------------------------------- */

static void q_binding_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                           struct core_reply *reply)
{
    (void)store, (void)ops;
    reply_visible(st, arg, core_list_bindings(st), "namespace", reply);
}

static enum api_outcome h_binding_list(struct api_request *req) { return query(req, q_binding_list); }

/* {"role": "developer", "user": "alice" | "group": "ml", "namespace": "team-ai/p"} */
static enum api_outcome binding_from_body(struct api_request *req, enum core_cmd_kind kind)
{
    json_t *body = api_body_json(req);
    if (!body)
        return API_ANSWERED;
    const char *role = NULL, *user = NULL, *group = NULL, *ns = "";
    json_error_t jerr;
    enum api_outcome out = API_ANSWERED;
    struct rbac_binding *b = &req->ereq.cmd.binding;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s,s?s,s?s,s?s}", "role", &role, "user", &user, "group", &group,
                       "namespace", &ns) < 0) {
        api_error(req, GPUAAS_EINVAL, NULL, "expected {role, user | group, namespace}: %s", jerr.text);
        goto done;
    }
    if (rbac_role_from_name(role, &b->role) < 0) {
        api_error(req, GPUAAS_EINVAL, "role", "'%.32s' is not a role (platform-admin, namespace-admin, developer, viewer)",
                  role);
        goto done;
    }
    if (!user == !group) {
        api_error(req, GPUAAS_EINVAL, "user", "give exactly one of user or group");
        goto done;
    }
    const char *subject = user ? user : group;
    if (!*subject || strlen(subject) >= sizeof b->subject) {
        api_error(req, GPUAAS_EINVAL, user ? "user" : "group", "must be 1-127 characters");
        goto done;
    }
    if (*ns && names_check_namespace(ns, NULL, NULL) < 0) {
        api_error(req, GPUAAS_EINVAL, "namespace", "'%.200s' is not a namespace", ns);
        goto done;
    }
    b->is_group = group != NULL;
    snprintf(b->subject, sizeof b->subject, "%s", subject);
    snprintf(b->namespace_path, sizeof b->namespace_path, "%s", ns);
    req->ereq.cmd.kind = kind;
    set_scope(req, ns);
    /* platform-wide bindings and platform-admin grants are for platform admins */
    if (!*ns || b->role == ROLE_PLATFORM_ADMIN)
        req->ereq.action = ACTION_PLATFORM;
    out = API_SUBMIT;
done:
    json_decref(body);
    return out;
}

static enum api_outcome h_binding_create(struct api_request *req)
{
    return binding_from_body(req, CORE_CMD_BINDING_PUT);
}

static enum api_outcome h_binding_delete(struct api_request *req)
{
    return binding_from_body(req, CORE_CMD_BINDING_DELETE);
}

/* ---- tokens ------------------------------------------------------------------------------ */

#define TOKEN_TTL_MAX_MS (366LL * 86400 * 1000)

struct token_request {
    struct store_token token;
    char secret[AUTH_TOKEN_TEXT_MAX];
};

static int token_to_json_each(const struct store_token *t, void *arg)
{
    char created[40], expires[40];
    core_format_time(t->created_ms, created, sizeof created);
    core_format_time(t->expires_ms, expires, sizeof expires);
    json_array_append_new(arg, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:b}", "id", (json_int_t)t->id, "name", t->name,
                                         "user", t->user[0] ? t->user : t->name, "role", t->role, "created_at",
                                         created, "expires_at", t->expires_ms ? expires : "", "revoked",
                                         t->revoked != 0));
    return 0;
}

static void q_token_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                         struct core_reply *reply)
{
    (void)st, (void)arg;
    json_t *items = json_array();
    if (!items || ops->token_each(store, token_to_json_each, items) < 0) {
        json_decref(items);
        reply->err = GPUAAS_EIO;
        snprintf(reply->message, sizeof reply->message, "cannot read tokens");
        return;
    }
    reply_json(reply, json_pack("{s:o,s:I}", "items", items, "count", (json_int_t)json_array_size(items)));
}

static enum api_outcome h_token_list(struct api_request *req) { return query(req, q_token_list); }

static void q_token_create(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                           struct core_reply *reply)
{
    (void)st;
    struct api_request *req = arg;
    struct token_request *tr = req->ereq.query_data;
    int r = ops->token_insert(store, &tr->token, &tr->token.id);
    if (r == 0)
        r = auth_add(api_auth(req->server), &tr->token);
    if (r < 0) {
        reply->err = r;
        snprintf(reply->message, sizeof reply->message, "%s",
                 r == GPUAAS_EEXIST ? "a token with this name exists" : "cannot store the token");
        return;
    }
    char expires[40] = "";
    if (tr->token.expires_ms)
        core_format_time(tr->token.expires_ms, expires, sizeof expires);
    /* the secret is in this answer only; the store keeps its hash */
    reply_json(reply, json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)tr->token.id, "name", tr->token.name,
                                "user", tr->token.user, "token", tr->secret, "expires_at", expires));
}

static enum api_outcome h_token_create(struct api_request *req)
{
    json_t *body = api_body_json(req);
    if (!body)
        return API_ANSWERED;
    const char *user = NULL, *name = NULL, *ttl = NULL;
    json_error_t jerr;
    enum api_outcome out = API_ANSWERED;
    struct token_request *tr = calloc(1, sizeof *tr);
    if (!tr) {
        api_error(req, GPUAAS_ENOMEM, NULL, "out of memory");
        goto done;
    }
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s,s?s,s?s}", "user", &user, "name", &name, "expires_in",
                       &ttl) < 0) {
        api_error(req, GPUAAS_EINVAL, NULL, "expected {user, name?, expires_in?}: %s", jerr.text);
        goto done;
    }
    if (!*user || strlen(user) >= sizeof tr->token.user) {
        api_error(req, GPUAAS_EINVAL, "user", "must be 1-127 characters");
        goto done;
    }
    int64_t ttl_ms = 0;
    if (ttl && (quantity_parse_duration_ms(ttl, &ttl_ms) < 0 || ttl_ms > TOKEN_TTL_MAX_MS)) {
        api_error(req, GPUAAS_EINVAL, "expires_in", "'%.32s' is not a duration of at most a year (e.g. 720h)", ttl);
        goto done;
    }
    if (auth_generate(tr->secret, sizeof tr->secret, tr->token.hash) < 0) {
        api_error(req, GPUAAS_EIO, NULL, "cannot generate a token");
        goto done;
    }
    int64_t now = api_now_ms(req->server);
    snprintf(tr->token.user, sizeof tr->token.user, "%s", user);
    if (name && *name)
        snprintf(tr->token.name, sizeof tr->token.name, "%.63s", name);
    else /* a unique label from the secret's hash */
        snprintf(tr->token.name, sizeof tr->token.name, "%.40s-%02x%02x%02x%02x", user, tr->token.hash[0],
                 tr->token.hash[1], tr->token.hash[2], tr->token.hash[3]);
    tr->token.created_ms = now;
    tr->token.expires_ms = ttl_ms ? now + ttl_ms : 0;
    req->ereq.query_data = tr;
    req->ereq.query_data_free = free;
    tr = NULL;
    out = query(req, q_token_create);
done:
    free(tr);
    json_decref(body);
    return out;
}

static void q_token_revoke(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                           struct core_reply *reply)
{
    (void)st;
    struct api_request *req = arg;
    int64_t id = strtoll(req->param, NULL, 10);
    int r = id > 0 ? ops->token_revoke(store, id) : GPUAAS_ENOTFOUND;
    if (r == 0)
        auth_revoke(api_auth(req->server), id);
    if (r < 0) {
        reply->err = r;
        snprintf(reply->message, sizeof reply->message, "token %.32s not found", req->param);
        return;
    }
    reply_json(reply, json_pack("{s:I,s:b}", "id", (json_int_t)id, "revoked", 1));
}

static enum api_outcome h_token_revoke(struct api_request *req) { return query(req, q_token_revoke); }

/* ---- audit ---------------------------------------------------------------------------------- */

#define AUDIT_LIST_MAX 10000

static void q_audit_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                         struct core_reply *reply)
{
    (void)st;
    struct api_request *req = arg;
    const char *since = api_query(req, "since"), *limit_text = api_query(req, "limit");
    int64_t since_ms = since ? strtoll(since, NULL, 10) : 0;
    long limit = limit_text ? strtol(limit_text, NULL, 10) : 1000;
    if (limit <= 0 || limit > AUDIT_LIST_MAX)
        limit = AUDIT_LIST_MAX;
    json_t *list = NULL;
    int r = ops->audit_list(store, since_ms, (int)limit, &list);
    if (r < 0) {
        reply->err = r;
        snprintf(reply->message, sizeof reply->message, "cannot read the audit log");
        return;
    }
    reply_json(reply, list);
}

static enum api_outcome h_audit_list(struct api_request *req) { return query(req, q_audit_list); }

const struct api_route api_routes[] = {
    {"GET", "/healthz", h_healthz, ACTION_PUBLIC, "liveness"},
    {"GET", "/readyz", h_readyz, ACTION_PUBLIC, "readiness"},
    {"GET", "/metrics", h_metrics, ACTION_PLATFORM, "Prometheus metrics (DCGM names per GPU, gpuaas_* platform)"},
    {"GET", "/ui", h_ui, ACTION_PUBLIC, "the web dashboard (static; its data calls carry the token)"},
    {"GET", "/ui/{file}", h_ui_file, ACTION_PUBLIC, "the dashboard's static files"},
    {"GET", "/v1/namespaces", h_namespace_list, ACTION_AUTHENTICATED, "list namespaces"},
    {"POST", "/v1/namespaces", h_namespace_create, ACTION_ADMINISTER, "create a namespace (and its parents)"},
    {"GET", "/v1/namespaces/{path*}", h_namespace_get, ACTION_READ, "get a namespace"},
    {"DELETE", "/v1/namespaces/{path*}", h_namespace_delete, ACTION_ADMINISTER, "delete an empty namespace"},
    {"GET", "/v1/jobs", h_job_list, ACTION_AUTHENTICATED,
     "list jobs by id (?namespace= subtree, &state=, &limit=, &continue=)"},
    {"GET", "/v1/job-summary", h_job_summary, ACTION_AUTHENTICATED,
     "job counts by state and namespace (?namespace= subtree)"},
    {"POST", "/v1/jobs", h_job_submit, ACTION_WRITE, "submit a job"},
    {"GET", "/v1/jobs/{name}", h_job_get, ACTION_READ, "get a job"},
    {"DELETE", "/v1/jobs/{name}", h_job_delete, ACTION_WRITE, "delete a job (cancelling it if active)"},
    {"GET", "/v1/jobs/{name}/events", h_job_events, ACTION_READ, "a job's events"},
    {"POST", "/v1/jobs/{name}/cancel", h_job_cancel, ACTION_WRITE, "cancel a job"},
    {"GET", "/v1/jobs/{name}/logs", h_job_logs, ACTION_READ, "a replica's log (?replica=&attempt=&offset=)"},
    {"GET", "/v1/pods", h_pod_list, ACTION_AUTHENTICATED, "list pods: usage records (?namespace=&job=)"},
    {"GET", "/v1/gpus", h_gpu_list, ACTION_AUTHENTICATED, "list GPUs with what holds them"},
    {"GET", "/v1/usage", h_usage, ACTION_AUTHENTICATED, "GPU time and cost (?month= | ?from=&to=, &by=, &namespace=)"},
    {"GET", "/v1/reports", h_report_list, ACTION_AUTHENTICATED, "stored monthly reports (figures for platform readers)"},
    {"GET", "/v1/reports/{month}", h_report_get, ACTION_AUTHENTICATED,
     "a month's report (?format=json|csv|pdf, ?namespace=): stored once closed, else built now"},
    {"GET", "/v1/quotas", h_quota_list, ACTION_AUTHENTICATED, "list quotas with use (?namespace= subtree)"},
    {"GET", "/v1/quotas/{path*}", h_quota_get, ACTION_READ, "a namespace's quota and use"},
    {"PUT", "/v1/quotas/{path*}", h_quota_put, ACTION_ADMINISTER, "set a namespace subtree's quota"},
    {"DELETE", "/v1/quotas/{path*}", h_quota_delete, ACTION_ADMINISTER, "remove a namespace's quota"},
    {"GET", "/v1/nodes", h_node_list, ACTION_AUTHENTICATED, "list nodes"},
    {"GET", "/v1/bindings", h_binding_list, ACTION_AUTHENTICATED, "list role bindings (those the caller may see)"},
    {"POST", "/v1/bindings", h_binding_create, ACTION_ADMINISTER, "bind a role to a user or group on a namespace subtree"},
    {"DELETE", "/v1/bindings", h_binding_delete, ACTION_ADMINISTER, "remove a role binding (same body as POST)"},
    {"GET", "/v1/tokens", h_token_list, ACTION_PLATFORM, "list API tokens (never their secrets)"},
    {"POST", "/v1/tokens", h_token_create, ACTION_PLATFORM, "create a token for a user (the secret is shown once)"},
    {"DELETE", "/v1/tokens/{name}", h_token_revoke, ACTION_PLATFORM, "revoke a token by id"},
    {"GET", "/v1/audit", h_audit_list, ACTION_PLATFORM, "the audit log (?since=&limit=)"},
    {"GET", "/v1/nodes/{name}", h_node_get, ACTION_AUTHENTICATED, "get a node"},
};
const unsigned api_route_count = sizeof api_routes / sizeof api_routes[0];
