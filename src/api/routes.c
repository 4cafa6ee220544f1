/* The route table and its handlers. Every route is declared here once, with
 * the permission it needs; the router, the docs and the tests follow it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/model.h"
#include "core/spec.h"
#include "gpuaas/error.h"

#define EVENTS_PER_JOB_MAX 1000

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
    (void)store, (void)ops, (void)arg;
    reply_json(reply, core_list_namespaces(st, NULL));
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

static void q_job_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    reply_json(reply, core_list_jobs(st, req->ereq.cmd.namespace_path));
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
    reply_json(reply, core_list_pods(st, req->ereq.cmd.namespace_path, req->ereq.cmd.name));
}

static void q_gpu_list(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    json_t *list = core_list_gpus(st);
    if (list)
        api_gpu_annotate(req->server, json_object_get(list, "items"));
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
static enum api_outcome h_namespace_get(struct api_request *req) { return query(req, q_namespace_get); }

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
    return API_SUBMIT;
}

/* ---- jobs ------------------------------------------------------------------------ */

static enum api_outcome h_job_list(struct api_request *req)
{
    if (!take_namespace_param(req, false))
        return API_ANSWERED;
    return query(req, q_job_list);
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
    reply_json(reply, core_list_quotas(st, req->ereq.cmd.namespace_path));
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
    snprintf(req->ereq.cmd.namespace_path, sizeof req->ereq.cmd.namespace_path, "%s", req->param);
    return API_SUBMIT;
}

static enum api_outcome h_quota_delete(struct api_request *req)
{
    if (names_check_namespace(req->param, NULL, NULL) < 0)
        return api_error(req, GPUAAS_ENOTFOUND, NULL, "no quota on namespace '%.200s'", req->param);
    req->ereq.cmd.kind = CORE_CMD_QUOTA_DELETE;
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

const struct api_route api_routes[] = {
    {"GET", "/healthz", h_healthz, API_PERM_PUBLIC, "liveness"},
    {"GET", "/readyz", h_readyz, API_PERM_PUBLIC, "readiness"},
    {"GET", "/v1/namespaces", h_namespace_list, API_PERM_READ, "list namespaces"},
    {"POST", "/v1/namespaces", h_namespace_create, API_PERM_WRITE, "create a namespace (and its parents)"},
    {"GET", "/v1/namespaces/{path*}", h_namespace_get, API_PERM_READ, "get a namespace"},
    {"DELETE", "/v1/namespaces/{path*}", h_namespace_delete, API_PERM_WRITE, "delete an empty namespace"},
    {"GET", "/v1/jobs", h_job_list, API_PERM_READ, "list jobs (?namespace= subtree)"},
    {"POST", "/v1/jobs", h_job_submit, API_PERM_WRITE, "submit a job"},
    {"GET", "/v1/jobs/{name}", h_job_get, API_PERM_READ, "get a job"},
    {"DELETE", "/v1/jobs/{name}", h_job_delete, API_PERM_WRITE, "delete a job (cancelling it if active)"},
    {"GET", "/v1/jobs/{name}/events", h_job_events, API_PERM_READ, "a job's events"},
    {"POST", "/v1/jobs/{name}/cancel", h_job_cancel, API_PERM_WRITE, "cancel a job"},
    {"GET", "/v1/jobs/{name}/logs", h_job_logs, API_PERM_READ, "a replica's log (?replica=&attempt=&offset=)"},
    {"GET", "/v1/pods", h_pod_list, API_PERM_READ, "list pods: usage records (?namespace=&job=)"},
    {"GET", "/v1/gpus", h_gpu_list, API_PERM_READ, "list GPUs with what holds them"},
    {"GET", "/v1/quotas", h_quota_list, API_PERM_READ, "list quotas with use (?namespace= subtree)"},
    {"GET", "/v1/quotas/{path*}", h_quota_get, API_PERM_READ, "a namespace's quota and use"},
    {"PUT", "/v1/quotas/{path*}", h_quota_put, API_PERM_WRITE, "set a namespace subtree's quota"},
    {"DELETE", "/v1/quotas/{path*}", h_quota_delete, API_PERM_WRITE, "remove a namespace's quota"},
    {"GET", "/v1/nodes", h_node_list, API_PERM_READ, "list nodes"},
    {"GET", "/v1/nodes/{name}", h_node_get, API_PERM_READ, "get a node"},
};
const unsigned api_route_count = sizeof api_routes / sizeof api_routes[0];
