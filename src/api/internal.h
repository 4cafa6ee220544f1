/* Shared between the HTTP plumbing (http.c) and the route handlers (routes.c). */
#ifndef GPUAAS_API_INTERNAL_H
#define GPUAAS_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "api/api.h"
#include "core/names.h"
#include "core/rbac.h"


enum api_outcome {
    API_ANSWERED,  /* req->status and req->answer are set */
    API_SUBMIT,    /* req->ereq is ready for the engine */
};

struct api_request;
typedef enum api_outcome (*api_handler_fn)(struct api_request *req);

struct api_route {
    const char *method;
    const char *pattern; /* "/v1/jobs/{name}", "/v1/namespaces/{path*}" */
    api_handler_fn handler;
    /* What the caller needs (core/rbac.h): PUBLIC routes need no token;
     * the handler sets the namespace the action is on. Lists answer
     * AUTHENTICATED callers with only what they may read. */
    enum rbac_action action;
    const char *summary;
};

extern const struct api_route api_routes[];
extern const unsigned api_route_count;

#define API_PARAM_MAX (NS_PATH_MAX + 1)

struct api_request {
    struct api_server *server;
    struct MHD_Connection *conn;
    const char *method;
    const struct api_route *route;
    char param[API_PARAM_MAX + 1];
    char *body;
    size_t body_len, body_cap;
    bool body_too_big;
    bool waiting;
    struct auth_identity who;
    struct rbac_identity identity;
    int64_t started_ns; /* monotonic, for the latency histogram */
    /* the answer */
    unsigned status;
    json_t *answer;
    char *raw_text;          /* plain-text answer (logs), or JSON text made by the engine */
    size_t raw_len;
    bool raw_is_json;
    const char *raw_content_type; /* overrides text/plain (static string) */
    bool raw_static;         /* raw_text is static data: not freed */
    char raw_headers[4][2][64];
    /* Turns a successful JSON answer into its final form (raw_text) in the
     * HTTP thread, after the engine answered; may replace it with an error. */
    void (*finish)(struct api_request *req);
    struct engine_request ereq;
};

/* Helpers for handlers. */
enum api_outcome api_answer(struct api_request *req, unsigned status, json_t *answer);
enum api_outcome api_error(struct api_request *req, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *api_query(struct api_request *req, const char *key);
/* Reads the body as JSON or YAML (by Content-Type) into a new json_t;
 * answers 400 itself and returns NULL when it is not well-formed. */
json_t *api_body_json(struct api_request *req);
bool api_ready(const struct api_server *server);
/* Request counts and latency per route and status class, kept by http.c
 * with atomics and read by metrics.c. Index api_route_count: no route. */
#define API_LATENCY_BUCKETS 8
extern const double api_latency_bounds_s[API_LATENCY_BUCKETS]; /* the last is +Inf */
struct api_route_stats {
    _Atomic unsigned long long by_class[6];   /* [status / 100] */
    _Atomic unsigned long long buckets[API_LATENCY_BUCKETS];
    _Atomic unsigned long long sum_us;
};
const struct api_route_stats *api_stats(unsigned route_index);

/* metrics.c: the /metrics text, as a query in the engine thread. */
void api_metrics_query(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply);
struct auth *api_auth(const struct api_server *server);
struct engine *api_engine(const struct api_server *server);
bool api_metrics_snake_case(const struct api_server *server);
void api_gpu_reading(const struct api_server *server, metrics_reading_fn *ret_fn, void **ret_arg);
int64_t api_now_ms(const struct api_server *server);

#endif
