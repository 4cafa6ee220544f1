/* Shared between the client's verb files (cli.c, cli_get.c); not a public
 * interface. */
#ifndef GPUAAS_CLI_INTERNAL_H
#define GPUAAS_CLI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/args.h"
#include "cli/config.h"

/* Process exit codes (docs: INTERFACE.md). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1,     /* the server refused, or a client-side failure */
    CLI_EXIT_USAGE = 2,       /* bad command line or spec file */
    CLI_EXIT_UNREACHABLE = 3, /* no HTTP reply from the server */
};

struct http_reply;

struct cli_ctx {
    const struct cli_args *args;
    const char *verb;      /* canonical verb name, for messages */
    struct cli_conn conn;  /* resolved before a verb that needs the server runs */
};

/* Print "error: ..." and a pointer to the verb's help to stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "error: ..." to stderr; returns CLI_EXIT_REFUSED. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One API call. body may be NULL. On CLI_EXIT_OK *ret is the reply's JSON
 * (owned by the caller; an empty reply gives an empty object). Otherwise the
 * problem was already printed and the exit code is returned. */
int cli_api(struct cli_ctx *ctx, const char *method, const char *path_query, const json_t *body, json_t **ret);

/* One request whose reply may be anything (a text/plain log). accept and
 * body_text may be NULL. A transport failure is printed and its exit code
 * returned; on CLI_EXIT_OK *ret holds the reply whatever its HTTP status
 * (release it with http_reply_free). */
int cli_request(struct cli_ctx *ctx, const char *method, const char *path_query, const char *accept,
                const char *body_text, struct http_reply *ret);

/* Print the API's error reply (non-2xx) to stderr; returns CLI_EXIT_REFUSED. */
int cli_report_refusal(const struct cli_ctx *ctx, const struct http_reply *reply);

/* Print obj in the -o json / -o yaml form. Returns an exit code. */
int cli_print_object(const struct cli_ctx *ctx, const json_t *obj);

/* Resolve a job argument to (namespace, name): "NS/NAME", -n NS, or, with
 * neither, a search of every visible job for that name. On CLI_EXIT_OK both
 * are malloc'd and owned by the caller. */
int cli_resolve_job(struct cli_ctx *ctx, const char *arg, char **ret_ns, char **ret_name);

/* "/v1/jobs/NAME?namespace=NS" style paths with escaping; suffix may be "".
 * Returns a malloc'd string or NULL when out of memory. */
char *cli_job_path(const char *ns, const char *name, const char *suffix);

/* GET /v1/pods?namespace=NS&job=JOB (either may be NULL: no filter). The
 * namespace selects its subtree. Returns an exit code; *ret as cli_api. */
int cli_fetch_pods(struct cli_ctx *ctx, const char *ns, const char *job, json_t **ret);

/* GET /v1/jobs page by page (ns and states may be NULL: no filter), at
 * most chunk jobs a request (chunk < 1: the server's maximum), following
 * "continue" until limit jobs (limit < 0: every one). *ret is
 * {"items", "count", "total"} with the last page's "continue" token when
 * the limit left jobs out. Returns an exit code; *ret as cli_api. */
int cli_fetch_jobs(struct cli_ctx *ctx, const char *ns, const char *states, long limit, long chunk, json_t **ret);

/* Verb handlers implemented in cli_get.c and cli_logs.c. */
int cli_verb_get(struct cli_ctx *ctx);
int cli_verb_describe(struct cli_ctx *ctx);
int cli_verb_logs(struct cli_ctx *ctx);

/* Access verbs, in cli_access.c: `create token`, `revoke token ID`, `bind`,
 * `unbind`, `audit`, and `get tokens|bindings [NAME]`. */
int cli_create_token(struct cli_ctx *ctx);
int cli_revoke_token(struct cli_ctx *ctx, const char *id_or_name);
int cli_verb_revoke(struct cli_ctx *ctx);
int cli_verb_bind(struct cli_ctx *ctx);
int cli_verb_unbind(struct cli_ctx *ctx);
int cli_verb_audit(struct cli_ctx *ctx);
int cli_get_tokens(struct cli_ctx *ctx, const char *name);
int cli_get_bindings(struct cli_ctx *ctx, const char *name);

/* `usage`, in cli_usage.c. */
int cli_verb_usage(struct cli_ctx *ctx);

/* `report` and `get reports [MONTH]`, in cli_report.c. */
int cli_verb_report(struct cli_ctx *ctx);
int cli_get_reports(struct cli_ctx *ctx, const char *name);

/* Small jansson helpers. */
const json_t *cli_json_at(const json_t *obj, const char *dotted);
const char *cli_json_str(const json_t *obj, const char *dotted);
/* Scalar as text ("17", "2.5", "true", the string itself); NULL for
 * null/missing/containers. buf holds numbers. */
const char *cli_json_text(const json_t *v, char *buf, size_t size);

#endif
