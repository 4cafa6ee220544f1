/* HTTP plumbing: one MHD daemon, the request lifecycle, body limits,
 * authentication, routing through the table in routes.c, and the hand-off
 * to the engine with suspend/resume.
 *
 * Lifecycle of a request (MHD calls on_request several times):
 *   1st call    allocate the request, match the route, refuse oversized
 *               bodies by Content-Length
 *   body calls  append to a buffer bounded by body_max
 *   last call   authenticate, run the handler; if it needs the engine,
 *               suspend the connection and queue the engine request
 *   engine done engine thread stores the answer and resumes the connection
 *   next call   queue the response (answering on a later call than the
 *               first keeps keep-alive connections open) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/model.h"
#include "gpuaas/error.h"
#include "lib/clock.h"
#include "lib/jsonfast.h"
#include "lib/yamljson.h"

/* A request is some 8 KiB (identities, the command); freshly allocated ones
 * sat on new heap pages as the jobs kept in memory push the heap's end
 * further, a page fault each. Reused ones are warm. Bodies up to
 * REQUEST_POOL_BODY_MAX keep their buffer too. */
#define REQUEST_POOL_MAX 256
#define REQUEST_POOL_BODY_MAX (64 * 1024)

struct api_server {
    struct MHD_Daemon *daemon;
    struct engine *engine;
    struct auth *auth;
    int64_t (*clock_ms)(void);
    size_t body_max;
    unsigned port;
    api_log_path_fn log_path;
    void *log_path_arg;
    void (*gpu_annotate)(void *arg, json_t *rows);
    void *gpu_annotate_arg;
    metrics_reading_fn gpu_reading;
    void *gpu_reading_arg;
    const struct meter_prices *prices;
    const struct tzmonth_table *months;
    const char *report_title;
    bool metrics_snake_case;
    atomic_bool ready;
    /* finished requests kept for the next ones (see request_new) */
    pthread_mutex_t pool_lock;
    struct api_request *pool[REQUEST_POOL_MAX];
    unsigned pool_count;
};

const struct meter_prices *api_prices(const struct api_server *server) { return server->prices; }
const struct tzmonth_table *api_months(const struct api_server *server) { return server->months; }
const char *api_report_title(const struct api_server *server)
{
    return server->report_title && *server->report_title ? server->report_title : NULL;
}

void api_gpu_annotate(const struct api_server *server, json_t *rows)
{
    if (server->gpu_annotate)
        server->gpu_annotate(server->gpu_annotate_arg, rows);
}

bool api_ready(const struct api_server *server) { return atomic_load(&server->ready); }

/* ---- request statistics (for /metrics) -------------------------------------- */

#define API_ROUTES_TRACKED 64
const double api_latency_bounds_s[API_LATENCY_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1, 0};
static struct api_route_stats route_stats[API_ROUTES_TRACKED + 1];

const struct api_route_stats *api_stats(unsigned route_index)
{
    return &route_stats[route_index < API_ROUTES_TRACKED ? route_index : API_ROUTES_TRACKED];
}

static void count_request(const struct api_request *req)
{
    unsigned index = req->route ? (unsigned)(req->route - api_routes) : api_route_count;
    struct api_route_stats *st = &route_stats[index < API_ROUTES_TRACKED ? index : API_ROUTES_TRACKED];
    unsigned cls = req->status / 100;
    atomic_fetch_add(&st->by_class[cls < 6 ? cls : 5], 1);
    double seconds = (clock_mono_ns() - req->started_ns) / 1e9;
    unsigned b = 0;
    while (b < API_LATENCY_BUCKETS - 1 && seconds > api_latency_bounds_s[b])
        b++;
    atomic_fetch_add(&st->buckets[b], 1);
    atomic_fetch_add(&st->sum_us, (unsigned long long)(seconds * 1e6));
}
struct auth *api_auth(const struct api_server *server) { return server->auth; }
struct engine *api_engine(const struct api_server *server) { return server->engine; }
bool api_metrics_snake_case(const struct api_server *server) { return server->metrics_snake_case; }
void api_gpu_reading(const struct api_server *server, metrics_reading_fn *ret_fn, void **ret_arg)
{
    *ret_fn = server->gpu_reading;
    *ret_arg = server->gpu_reading_arg;
}
int64_t api_now_ms(const struct api_server *server) { return server->clock_ms(); }

enum api_outcome api_answer(struct api_request *req, unsigned status, json_t *answer)
{
    json_decref(req->answer);
    req->status = status;
    req->answer = answer;
    return API_ANSWERED;
}

static json_t *error_body(int err, const char *field, const char *message)
{
    json_t *inner = json_pack("{s:s,s:s}", "code", gpuaas_error_code(err), "message", message);
    if (inner && field && *field)
        json_object_set_new(inner, "field", json_string(field));
    return json_pack("{s:o}", "error", inner);
}

enum api_outcome api_error(struct api_request *req, int err, const char *field, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return api_answer(req, gpuaas_http_status(err), error_body(err, field, message));
}

const char *api_query(struct api_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool content_type_is_yaml(const char *type)
{
    if (!type)
        return false;
    return strncasecmp(type, "application/yaml", 16) == 0 || strncasecmp(type, "application/x-yaml", 18) == 0 ||
           strncasecmp(type, "text/yaml", 9) == 0;
}

json_t *api_body_json(struct api_request *req)
{
    const char *type = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (req->body_len == 0) {
        api_error(req, GPUAAS_EPARSE, NULL, "the request needs a body (JSON or YAML)");
        return NULL;
    }
    if (content_type_is_yaml(type)) {
        struct yamljson_error yerr = {0};
        json_t *doc = NULL;
        if (yamljson_parse(req->body, req->body_len, &doc, &yerr) < 0) {
            api_error(req, GPUAAS_EPARSE, NULL, "invalid YAML at line %d, column %d: %s", yerr.line, yerr.column,
                      yerr.message);
            return NULL;
        }
        return doc;
    }
    json_error_t jerr;
    json_t *doc = jsonfast_loadb(req->body, req->body_len, &jerr);
    if (!doc)
        api_error(req, GPUAAS_EPARSE, NULL, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                  jerr.text);
    return doc;
}

/* ---- routing --------------------------------------------------------------- */

/* Matches path against pattern; a {param} takes one segment, {param*} the
 * rest of the path. The captured text goes to param. */
static bool route_match(const char *pattern, const char *path, char *param, size_t param_size)
{
    while (*pattern) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            bool rest = close && close > pattern && close[-1] == '*';
            size_t len = rest ? strlen(path) : strcspn(path, "/");
            if (len == 0 || len >= param_size)
                return false;
            memcpy(param, path, len);
            param[len] = '\0';
            path += len;
            pattern = close + 1;
            continue;
        }
        if (*pattern++ != *path++)
            return false;
    }
    return *path == '\0';
}

/* Finds the route; *ret_err is GPUAAS_ENOTFOUND or GPUAAS_EMETHOD when none. */
static const struct api_route *route_find(const char *method, const char *path, char *param,
                                          size_t param_size, int *ret_err)
{
    *ret_err = GPUAAS_ENOTFOUND;
    for (unsigned i = 0; i < api_route_count; i++) {
        char scratch[API_PARAM_MAX + 1];
        if (!route_match(api_routes[i].pattern, path, scratch, sizeof scratch))
            continue;
        if (strcmp(api_routes[i].method, method) != 0) {
            *ret_err = GPUAAS_EMETHOD;
            continue;
        }
        route_match(api_routes[i].pattern, path, param, param_size);
        return &api_routes[i];
    }
    return NULL;
}

/* ---- responses ------------------------------------------------------------- */

static enum MHD_Result send_raw(struct api_request *req)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        req->raw_len, req->raw_text, req->raw_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    req->raw_text = NULL; /* MHD owns it now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            req->raw_content_type ? req->raw_content_type
                            : req->raw_is_json    ? "application/json"
                                                  : "text/plain; charset=utf-8");
    for (size_t i = 0; i < sizeof req->raw_headers / sizeof req->raw_headers[0]; i++)
        if (req->raw_headers[i][0][0])
            MHD_add_response_header(resp, req->raw_headers[i][0], req->raw_headers[i][1]);
    count_request(req);
    enum MHD_Result ret = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_answer(struct api_request *req)
{
    if (req->raw_text && (req->status == 200 || req->status == 201))
        return send_raw(req);
    char *text = req->answer ? json_dumps(req->answer, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) : NULL;
    size_t len = text ? strlen(text) : 0;
    if (text) {
        char *grown = realloc(text, len + 2);
        if (grown) {
            text = grown;
            text[len++] = '\n';
            text[len] = '\0';
        }
    }
    struct MHD_Response *resp;
    if (text)
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    else {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n";
        req->status = 500;
        resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (req->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"gpuaas\"");
    count_request(req);
    enum MHD_Result ret = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- engine hand-off --------------------------------------------------------- */

/* Creations answer 201 (jobs, namespaces, bindings, tokens). */
static unsigned status_for_success(const struct api_request *req)
{
    static const char *const created[] = {"/v1/jobs", "/v1/namespaces", "/v1/bindings", "/v1/tokens"};
    if (strcmp(req->method, "POST") != 0)
        return 200;
    for (unsigned i = 0; i < sizeof created / sizeof created[0]; i++)
        if (strcmp(req->route->pattern, created[i]) == 0)
            return 201;
    return 200;
}

/* Engine thread: the answer is durable; wake the connection. */
static void on_engine_done(struct engine_request *ereq)
{
    struct api_request *req = ereq->done_arg;
    struct core_reply *reply = &ereq->reply;
    if (reply->err == 0 && req->raw_text) {
        req->status = 200;
    } else if (reply->err == 0 && reply->text) {
        /* already JSON text: sent as it is */
        req->raw_text = reply->text;
        req->raw_len = reply->text_len;
        req->raw_is_json = true;
        reply->text = NULL;
        req->status = status_for_success(req);
    } else if (reply->err == 0) {
        api_answer(req, status_for_success(req), reply->object);
        reply->object = NULL;
    } else {
        api_answer(req, gpuaas_http_status(reply->err), error_body(reply->err, reply->field, reply->message));
    }
    MHD_resume_connection(req->conn);
}

static void start_engine_request(struct api_request *req)
{
    req->ereq.done = on_engine_done;
    req->ereq.done_arg = req;
    req->waiting = true;
    /* suspend first: the engine may answer before this thread returns */
    MHD_suspend_connection(req->conn);
    int r = engine_submit(req->server->engine, &req->ereq);
    if (r < 0) {
        api_error(req, r, NULL, r == GPUAAS_ELIMIT ? "server busy: too many requests queued, retry later"
                                                    : "server is shutting down");
        MHD_resume_connection(req->conn);
    }
}

/* ---- the MHD callbacks -------------------------------------------------------- */

/* A request refused before it reached the engine still goes to the audit log. */
static void audit_refusal(struct api_request *req, const char *url)
{
    struct store_audit a = {.status = req->status};
    snprintf(a.user, sizeof a.user, "%s", req->identity.user[0] ? req->identity.user : "-");
    snprintf(a.method, sizeof a.method, "%s", req->method);
    snprintf(a.path, sizeof a.path, "%s", url);
    snprintf(a.namespace_path, sizeof a.namespace_path, "%s", req->ereq.scope);
    json_t *err = json_object_get(req->answer, "error");
    snprintf(a.code, sizeof a.code, "%s", json_string_value(json_object_get(err, "code")) ?: "");
    snprintf(a.message, sizeof a.message, "%s", json_string_value(json_object_get(err, "message")) ?: "");
    engine_post_audit(req->server->engine, &a);
}

static void run_handler(struct api_request *req, const char *url)
{
    bool mutating = strcmp(req->method, "GET") != 0;
    if (req->body_too_big) {
        api_error(req, GPUAAS_ETOOBIG, NULL, "request body is larger than %zu bytes", req->server->body_max);
        if (mutating)
            audit_refusal(req, url);
        return;
    }
    if (req->route->action != ACTION_PUBLIC) {
        const char *why = NULL;
        const char *authz = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (auth_check(req->server->auth, authz, req->server->clock_ms(), &req->who, &why) < 0) {
            api_error(req, GPUAAS_EAUTH, NULL, "%s", why);
            audit_refusal(req, url);
            return;
        }
        /* roles come from bindings; a platform-admin token carries the group
         * that the built-in binding makes platform-admin */
        snprintf(req->identity.user, sizeof req->identity.user, "%s", req->who.name);
        req->identity.group_count = 0;
        for (unsigned i = 0; i < req->who.group_count && i < RBAC_GROUPS_MAX; i++)
            snprintf(req->identity.groups[req->identity.group_count++], sizeof req->identity.groups[0], "%s",
                     req->who.groups[i]);
        if (strcmp(req->who.role, AUTH_ROLE_PLATFORM_ADMIN) == 0 && req->identity.group_count < RBAC_GROUPS_MAX)
            snprintf(req->identity.groups[req->identity.group_count++], sizeof req->identity.groups[0], "%s",
                     CORE_PLATFORM_ADMINS_GROUP);
        req->ereq.who = &req->identity;
        req->ereq.action = req->route->action;
    }
    req->ereq.audit = mutating;
    struct store_audit *a = &req->ereq.audit_record;
    snprintf(a->user, sizeof a->user, "%s", req->identity.user[0] ? req->identity.user : "-");
    snprintf(a->method, sizeof a->method, "%s", req->method);
    snprintf(a->path, sizeof a->path, "%s", url);
    if (req->route->handler(req) == API_SUBMIT) {
        a->ok_status = status_for_success(req);
        start_engine_request(req);
    } else if (req->status >= 400 && (mutating || req->status == 401)) {
        audit_refusal(req, url);
    }
}

static struct api_request *request_new(struct api_server *server)
{
    struct api_request *req = NULL;
    pthread_mutex_lock(&server->pool_lock);
    if (server->pool_count > 0)
        req = server->pool[--server->pool_count];
    pthread_mutex_unlock(&server->pool_lock);
    if (!req)
        return calloc(1, sizeof *req);
    char *body = req->body;
    size_t body_cap = req->body_cap;
    memset(req, 0, sizeof *req);
    req->body = body;
    req->body_cap = body_cap;
    return req;
}

static void request_free(struct api_server *server, struct api_request *req)
{
    if (req->body_cap > REQUEST_POOL_BODY_MAX) {
        free(req->body);
        req->body = NULL;
        req->body_cap = 0;
    }
    pthread_mutex_lock(&server->pool_lock);
    if (server->pool_count < REQUEST_POOL_MAX) {
        server->pool[server->pool_count++] = req;
        req = NULL;
    }
    pthread_mutex_unlock(&server->pool_lock);
    if (req) {
        free(req->body);
        free(req);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct api_server *server = cls;
    struct api_request *req = *con_cls;
    (void)version;

    if (!req) {
        req = request_new(server);
        if (!req)
            return MHD_NO;
        req->started_ns = clock_mono_ns();
        req->server = server;
        req->conn = conn;
        req->method = method;
        *con_cls = req;
        int route_err;
        req->route = route_find(method, url, req->param, sizeof req->param, &route_err);
        size_t url_len = strlen(url);
        if (!req->route && url_len > 1 && url_len < 512 && url[url_len - 1] == '/') {
            /* "/ui/" is "/ui": one trailing slash is not part of a resource's name */
            char trimmed[512];
            memcpy(trimmed, url, url_len - 1);
            trimmed[url_len - 1] = '\0';
            int trimmed_err;
            const struct api_route *route = route_find(method, trimmed, req->param, sizeof req->param, &trimmed_err);
            if (route)
                req->route = route;
        }
        if (!req->route)
            api_error(req, route_err, NULL, route_err == GPUAAS_EMETHOD ? "method %s not allowed on %.200s"
                                                                        : "no route for %s %.200s",
                      method, url);
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > server->body_max) {
            req->body_too_big = true;
            if (req->route) /* refuse before reading a byte; MHD closes the connection */
                api_error(req, GPUAAS_ETOOBIG, NULL, "request body is larger than %zu bytes", server->body_max);
            return send_answer(req);
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->body_too_big || !req->route)
            return MHD_YES; /* drain and discard */
        if (req->body_len + n > server->body_max) {
            req->body_too_big = true;
            free(req->body);
            req->body = NULL;
            req->body_len = req->body_cap = 0;
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t cap = req->body_cap ? req->body_cap : 4096;
            while (cap < req->body_len + n + 1)
                cap *= 2;
            char *grown = realloc(req->body, cap);
            if (!grown)
                return MHD_NO;
            req->body = grown;
            req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }

    if (req->finish && req->status == 200 && req->answer && !req->raw_text)
        req->finish(req); /* e.g. a report rendered as CSV or PDF, here rather than in the engine */
    if (req->answer || req->status)
        return send_answer(req); /* routing error, or the engine's answer after resume */
    if (req->waiting)
        return MHD_YES;
    run_handler(req, url);
    if (req->waiting)
        return MHD_YES;
    return send_answer(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct api_request *req = *con_cls;
    if (!req)
        return;
    json_decref(req->answer);
    if (!req->raw_static)
        free(req->raw_text);
    if (req->ereq.query_data_free)
        req->ereq.query_data_free(req->ereq.query_data);
    core_reply_clear(&req->ereq.reply);
    core_cmd_clear(&req->ereq.cmd);
    request_free(req->server, req);
    *con_cls = NULL;
}

/* ---- start and stop ------------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *addr, char *err, size_t err_size)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, err_size, "listen address '%s' must be HOST:PORT", listen);
        return GPUAAS_EINVAL;
    }
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || port > 65535) {
        snprintf(err, err_size, "listen address '%s': bad port", listen);
        return GPUAAS_EINVAL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    memset(addr, 0, sizeof *addr);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        host[strlen(host) - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1)
            return 0;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof host, "127.0.0.1");
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1)
            return 0;
    }
    snprintf(err, err_size, "listen address '%s': '%s' is not an IP address", listen, host);
    return GPUAAS_EINVAL;
}

int api_start(const struct api_config *cfg, struct engine *engine, struct auth *auth, int64_t (*clock_ms)(void),
              struct api_server **ret_server, char *err, size_t err_size)
{
    struct sockaddr_storage addr;
    int r = parse_listen(cfg->listen, &addr, err, err_size);
    if (r < 0)
        return r;
    struct api_server *server = calloc(1, sizeof *server);
    if (!server)
        return GPUAAS_ENOMEM;
    pthread_mutex_init(&server->pool_lock, NULL);
    server->engine = engine;
    server->auth = auth;
    server->clock_ms = clock_ms;
    server->body_max = cfg->body_max ? cfg->body_max : API_BODY_MAX;
    server->log_path = cfg->log_path;
    server->log_path_arg = cfg->log_path_arg;
    server->gpu_annotate = cfg->gpu_annotate;
    server->prices = cfg->prices;
    server->months = cfg->months;
    server->report_title = cfg->report_title;
    server->gpu_annotate_arg = cfg->gpu_annotate_arg;
    server->metrics_snake_case = cfg->metrics_snake_case;
    server->gpu_reading = cfg->gpu_reading;
    server->gpu_reading_arg = cfg->gpu_reading_arg;
    /* Each connection's buffer for the request line and headers (bodies
     * stream through on_request). MHD clears it for every request, so it is
     * kept small: 16 KiB holds any sane header set, an SSO token included;
     * larger headers get 431. */
    enum { CONNECTION_MEMORY = 16 * 1024 };
    /* half the CPUs poll connections: the engine thread, SQLite's writes
     * and the pods need the rest (measured: on 2 CPUs one polling thread
     * serves 30 % more durable submissions than two) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads ? cfg->threads : (unsigned)(cpus > 1 ? cpus / 2 : 1);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, server, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_CONNECTION_LIMIT, 4096U, MHD_OPTION_CONNECTION_TIMEOUT, 60U,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024U,
        MHD_OPTION_END);
    if (!server->daemon) {
        snprintf(err, err_size, "cannot listen on %s (address in use or not available)", cfg->listen);
        free(server);
        return GPUAAS_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : 0;
    atomic_store(&server->ready, true);
    *ret_server = server;
    return 0;
}

unsigned api_port(const struct api_server *server) { return server->port; }

int api_log_path(const struct api_server *server, uint64_t pod_id, char *out, size_t out_size)
{
    if (!server->log_path)
        return GPUAAS_ENOTFOUND;
    return server->log_path(server->log_path_arg, pod_id, out, out_size);
}

void api_quiesce(struct api_server *server)
{
    if (!server)
        return;
    atomic_store(&server->ready, false);
}

void api_stop(struct api_server *server)
{
    if (!server)
        return;
    MHD_stop_daemon(server->daemon);
    for (unsigned i = 0; i < server->pool_count; i++) {
        free(server->pool[i]->body);
        free(server->pool[i]);
    }
    pthread_mutex_destroy(&server->pool_lock);
    free(server);
}
