/* The gpuaas client: every verb except `server`. Options may appear anywhere
 * on the line; each verb is one row of verb_table. */
#include "cli/cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "cli/http_client.h"
#include "cli/quotas.h"
#include "gpuaas/error.h"
#include "lib/yamljson.h"

#ifndef GPUAAS_VERSION
#define GPUAAS_VERSION "0.1.0"
#endif

#define SPEC_MAX_SIZE (1u << 20) /* the server's body limit; refuse earlier */

struct verb {
    const char *name;
    int (*run)(struct cli_ctx *ctx);
    unsigned verb_opts; /* enum cli_verb_opt bits this verb accepts */
    bool needs_server;
    const char *summary;
    const char *usage;
};

static int verb_submit(struct cli_ctx *ctx);
static int verb_delete(struct cli_ctx *ctx);
static int verb_cancel(struct cli_ctx *ctx);
static int verb_create(struct cli_ctx *ctx);
static int verb_set(struct cli_ctx *ctx);
static int verb_version(struct cli_ctx *ctx);
static int verb_help(struct cli_ctx *ctx);

static const struct verb verb_table[] = {
    {"submit", verb_submit, CLI_OPT_FILE, true, "Submit a job from a YAML or JSON spec",
     "Usage: gpuaas submit -f FILE [-n NAMESPACE] [-o json|yaml]\n"
     "\n"
     "Submit the job spec in FILE (YAML or JSON, at most 1 MiB; '-' reads stdin).\n"
     "-n gives the namespace when the spec has none.\n"
     "\n"
     "Example:\n"
     "  gpuaas submit -f job.yaml\n"
     "  cat job.json | gpuaas submit -f - -n team-ai/project-llm/dev\n"},
    {"get", cli_verb_get, CLI_OPT_JOB | CLI_OPT_STATE | CLI_OPT_LIMIT | CLI_OPT_ALL_NAMESPACES | CLI_OPT_CHUNK_SIZE,
     true,
     "List jobs, pods, nodes, GPUs, namespaces or quotas",
     "Usage: gpuaas get RESOURCE [NAME] [-n NAMESPACE | -A] [-o table|wide|json|yaml]\n"
     "       gpuaas get jobs [-n NAMESPACE | -A] [--state STATE[,STATE...]] [--limit N]\n"
     "                       [--chunk-size N]\n"
     "       gpuaas get pods [NAME] [-n NAMESPACE] [--job JOB]\n"
     "\n"
     "RESOURCE is one of: jobs (job), pods (pod, po), nodes (node, no), gpus (gpu),\n"
     "namespaces (namespace, ns), services (svc), quotas, tokens, bindings,\n"
     "reports (the months whose monthly report is stored; NAME is a month).\n"
     "-n limits jobs and pods to a namespace and its subtree. A job NAME needs its\n"
     "namespace: -n NS, NS/NAME, or a name that is unique across namespaces.\n"
     "-A (--all-namespaces) lists every namespace you may read (the default\n"
     "without -n).\n"
     "\n"
     "Jobs are listed in submission order (by id). --state keeps jobs in the\n"
     "given states: Pending, Running, Succeeded, Failed, Cancelled (any case,\n"
     "comma-separated). --limit N shows the first N; without it every matching\n"
     "job is fetched, page by page (--chunk-size jobs a request, at most and by\n"
     "default 10000). -o json|yaml prints {\"items\", \"count\",\n"
     "\"total\"} and, when --limit left jobs out, the server's \"continue\" token.\n"
     "\n"
     "Pods are the runs of a job's replicas (one per attempt; finished ones stay\n"
     "listed as history). --job keeps the pods of one job; a pod NAME is\n"
     "JOB-rREPLICA-aATTEMPT, e.g. llm-finetune-r0-a0.\n"
     "GPUs show what holds them and, where the node reports it, live use; a GPU\n"
     "NAME is its node or its UUID.\n"
     "Quotas show, for every resource one of them limits, USED/LIMIT of each\n"
     "namespace subtree (\"-\": not limited there); a quota NAME is its namespace\n"
     "(exactly that one), -n lists the quotas set in a subtree.\n"
     "\n"
     "Examples:\n"
     "  gpuaas get jobs -n team-ai\n"
     "  gpuaas get jobs -A --state Pending --limit 20\n"
     "  gpuaas get job llm-finetune -n team-ai/project-llm/dev -o yaml\n"
     "  gpuaas get pods -n team-ai/project-llm/dev --job llm-finetune -o wide\n"
     "  gpuaas get gpus -o wide\n"
     "Tokens (platform admins only) show ID NAME USER ROLE CREATED EXPIRES REVOKED,\n"
     "never their secrets; a token NAME is its ID or its name.\n"
     "Bindings show ROLE SUBJECT (user:NAME or group:NAME) NAMESPACE (* for\n"
     "platform-wide) BUILTIN; a binding NAME is a role or a subject, -n keeps the\n"
     "bindings on exactly that namespace.\n"
     "  gpuaas get quotas -n team-ai\n"
     "  gpuaas get tokens\n"
     "  gpuaas get bindings\n"},
    {"describe", cli_verb_describe, 0, true, "Show a job's spec, state, pods and events",
     "Usage: gpuaas describe job NAME [-n NAMESPACE] [-o json|yaml]\n"
     "       gpuaas describe node|namespace|pod|quota NAME\n"
     "\n"
     "Shows the job's spec, its state and the reason it waits, its pods (each\n"
     "replica attempt: node, devices, exit, times), then its events.\n"
     "A namespace shows its quota (use and limit of each resource) and the\n"
     "quotas of the namespaces above it, which cap it too.\n"
     "-o json|yaml prints {\"job\": JOB, \"pods\": {\"items\": [...], \"count\": N},\n"
     "\"events\": {\"items\": [...], \"count\": N}}.\n"},
    {"logs", cli_verb_logs, CLI_OPT_FOLLOW | CLI_OPT_REPLICA | CLI_OPT_ATTEMPT, true, "Print a job's log",
     "Usage: gpuaas logs JOB [-n NAMESPACE] [--replica N] [--attempt A] [-f|--follow]\n"
     "\n"
     "Prints what one replica of the job wrote to stdout and stderr, byte for byte.\n"
     "--replica picks the replica (default 0), --attempt the attempt (default the\n"
     "latest; a restarted replica has one log per attempt).\n"
     "-f, --follow keeps printing as the log grows: it waits for the replica to be\n"
     "scheduled, and exits 0 once its run has ended and the whole log is printed.\n"
     "Without -f a job that has no pod yet is an error (exit 1).\n"
     "\n"
     "Examples:\n"
     "  gpuaas logs llm-finetune -n team-ai/project-llm/dev\n"
     "  gpuaas logs team-ai/project-llm/dev/llm-finetune --replica 1 -f\n"},
    {"delete", verb_delete, 0, true, "Delete a job, a namespace, a quota or a token",
     "Usage: gpuaas delete job NAME [-n NAMESPACE]\n"
     "       gpuaas delete namespace PATH\n"
     "       gpuaas delete quota NAMESPACE\n"
     "       gpuaas delete token ID (the same as: gpuaas revoke token ID)\n"
     "\n"
     "Deleting an active job cancels it first. A namespace must be empty.\n"
     "Deleting a quota lifts every limit it set; running pods are not touched.\n"},
    {"cancel", verb_cancel, 0, true, "Cancel a job",
     "Usage: gpuaas cancel [job] NAME [-n NAMESPACE]\n"
     "\n"
     "The job becomes Cancelled; a finished job cannot be cancelled.\n"},
    {"create", verb_create, CLI_OPT_USER | CLI_OPT_NAME | CLI_OPT_EXPIRES, true, "Create a namespace or an API token",
     "Usage: gpuaas create namespace PATH\n"
     "       gpuaas create token --user NAME [--name LABEL] [--expires-in DURATION] [-o json|yaml]\n"
     "\n"
     "PATH is org[/project[/env]]; missing ancestors are created too.\n"
     "\n"
     "create token (platform admins only) makes a bearer token for user NAME and\n"
     "prints its secret alone on stdout; the secret is shown only this once (the\n"
     "server keeps its hash), a note on stderr says so. A new user can do nothing\n"
     "until a role is bound (gpuaas bind). --name labels the token (default\n"
     "USER-xxxxxxxx); --expires-in sets its lifetime, at most a year (default:\n"
     "it does not expire). -o json|yaml prints {\"id\", \"name\", \"user\", \"token\",\n"
     "\"expires_at\"}.\n"
     "\n"
     "Examples:\n"
     "  gpuaas create namespace team-ai/project-llm/dev\n"
     "  T=$(gpuaas create token --user alice --expires-in 720h)\n"},
    {"revoke", cli_verb_revoke, 0, true, "Revoke an API token",
     "Usage: gpuaas revoke token ID [-o json|yaml]\n"
     "\n"
     "Revokes the token at once: its next request is refused (401). ID is the\n"
     "token's ID (or its name) from 'gpuaas get tokens'. Platform admins only.\n"
     "\n"
     "Example:\n"
     "  gpuaas revoke token 3\n"},
    {"bind", cli_verb_bind, CLI_OPT_USER | CLI_OPT_GROUP, true, "Bind a role to a user or group",
     "Usage: gpuaas bind ROLE (--user NAME | --group NAME) [-n NAMESPACE]\n"
     "\n"
     "Grants ROLE (platform-admin, namespace-admin, developer or viewer) on the\n"
     "namespace subtree given by -n; without -n the binding is platform-wide\n"
     "(platform admins only, as is granting platform-admin). Binding on a\n"
     "namespace needs namespace-admin of a namespace above it.\n"
     "\n"
     "Examples:\n"
     "  gpuaas bind developer --user alice -n team-ai/project-llm\n"
     "  gpuaas bind viewer --group ml\n"},
    {"unbind", cli_verb_unbind, CLI_OPT_USER | CLI_OPT_GROUP, true, "Remove a role binding",
     "Usage: gpuaas unbind ROLE (--user NAME | --group NAME) [-n NAMESPACE]\n"
     "\n"
     "Removes the binding that 'gpuaas bind' with the same arguments made\n"
     "(no -n: the platform-wide one). See them with 'gpuaas get bindings'.\n"
     "\n"
     "Example:\n"
     "  gpuaas unbind developer --user alice -n team-ai/project-llm\n"},
    {"audit", cli_verb_audit, CLI_OPT_SINCE | CLI_OPT_LIMIT, true, "Show the audit log",
     "Usage: gpuaas audit [--since TIME] [--limit N] [-o table|json|yaml]\n"
     "\n"
     "Lists every mutating request and every refused one, oldest first, as\n"
     "TIME USER METHOD PATH NAMESPACE STATUS CODE MESSAGE. Platform admins only.\n"
     "--since keeps records from TIME on: an RFC 3339 time (2026-11-25T16:00:00Z)\n"
     "or a duration back from now (90s, 30m, 1h, 2d, 1h30m). --limit N caps the\n"
     "number of records (the server's default is 1000). -o json prints the API's\n"
     "{\"items\": [...], \"count\": N}.\n"
     "\n"
     "Examples:\n"
     "  gpuaas audit --since 1h\n"
     "  gpuaas audit --since 2026-11-25T16:00:00Z --limit 50 -o json\n"},
    {"usage", cli_verb_usage, CLI_OPT_MONTH | CLI_OPT_FROM | CLI_OPT_TO | CLI_OPT_BY, true,
     "Show GPU time and cost",
     "Usage: gpuaas usage [--month YYYY-MM | --from TIME --to TIME]\n"
     "                    [--by namespace|project|org|model|capacity|node|node-group|pod]\n"
     "                    [-n NAMESPACE] [-o table|json|yaml|csv]\n"
     "\n"
     "Sums the GPU time of the pods you can see over a period, grouped by --by\n"
     "(default namespace), with its cost where the server has a price.\n"
     "--month picks a calendar month (UTC); --from/--to a period, each an RFC 3339\n"
     "time (2026-11-25T16:00:00Z), a date (2026-11-25) or milliseconds since the\n"
     "epoch; --from alone runs to now, --to alone from the start. Without any of\n"
     "them: everything up to now. -n keeps a namespace and its subtree.\n"
     "\n"
     "The table shows KEY GPU-HOURS PODS COST (\"-\" when there is no price) and a\n"
     "TOTAL line. -o csv prints key,gpu_hours,gpu_seconds,pods,cost,currency then\n"
     "one line per row and a \"total\" line; -o json|yaml prints the API's\n"
     "{\"from\", \"to\", \"by\", \"currency\", \"rows\": [...], \"total\": {...}}.\n"
     "\n"
     "Examples:\n"
     "  gpuaas usage --month 2026-11\n"
     "  gpuaas usage --from 2026-11-01 --to 2026-11-15T12:00:00Z --by model\n"
     "  gpuaas usage --by capacity -n team-ai -o csv > usage.csv\n"},
    {"report", cli_verb_report, CLI_OPT_MONTH | CLI_OPT_FORMAT | CLI_OPT_OUT_FILE, true,
     "Get a month's GPU chargeback report (PDF, CSV or JSON)",
     "Usage: gpuaas report [--month YYYY-MM] [--format pdf|csv|json] [-O FILE] [-n NAMESPACE]\n"
     "\n"
     "The report of a calendar month (UTC; default: the current month so far):\n"
     "totals, cost and GPU-hours per organisation and project, spot vs on-demand,\n"
     "GPU-hours by model, the top 10 consumers, the utilisation distribution,\n"
     "idle allocated GPU-hours and the change from the month before.\n"
     "Once a month has ended the server stores its report (exactly once) and\n"
     "serves that; a month still running is built on demand.\n"
     "\n"
     "--format pdf   a two-page A4 report for executives (charts and tables)\n"
     "--format csv   one flat table: month,section,key,gpu_milli_ms,gpu_seconds,...\n"
     "--format json  the report document (the default; -o yaml prints it as YAML)\n"
     "Without --format, -O FILE's extension (.pdf, .csv) picks it.\n"
     "-O FILE writes the report to FILE ('-': stdout); without it the report goes\n"
     "to stdout, except a PDF when stdout is a terminal (exit 2).\n"
     "-n limits the report to a namespace subtree. A platform-wide report needs a\n"
     "role bound platform-wide (platform-admin, or any role on \"\"); anyone else\n"
     "gets a report of only the namespaces they may read.\n"
     "\n"
     "Examples:\n"
     "  gpuaas report --month 2026-11 -O gpu-report-2026-11.pdf\n"
     "  gpuaas report --month 2026-11 --format csv > 2026-11.csv\n"
     "  gpuaas report -n team-ai --format pdf > team-ai.pdf\n"
     "  gpuaas get reports\n"},
    {"set", verb_set, CLI_OPT_QUOTA, true, "Set the quota of a namespace subtree",
     "Usage: gpuaas set quota NAMESPACE [--gpus N] [--gpus-MODEL N]... [--mig-PROFILE N]...\n"
     "                [--gpu-milli N] [--cpu QUANTITY] [--memory QUANTITY] [--pods N]\n"
     "\n"
     "Sets the limits of NAMESPACE and everything below it (NAMESPACE may also be\n"
     "given with -n). What you set is the whole quota, as kubectl apply does: a\n"
     "limit not given on this line is removed (unlimited), it is not kept from\n"
     "the quota set before. To remove every limit: gpuaas delete quota NAMESPACE.\n"
     "\n"
     "  --gpus N            whole GPUs in use at once, all models together\n"
     "  --gpus-MODEL N      whole GPUs of one model (e.g. --gpus-A100 4)\n"
     "  --mig-PROFILE N     MIG slices of one profile (e.g. --mig-1g.10gb 7)\n"
     "  --gpu-milli N       shares of GPUs, in thousandths (gpu_milli jobs)\n"
     "  --cpu QUANTITY      cores, e.g. 64 or 500m\n"
     "  --memory QUANTITY   e.g. 512Gi\n"
     "  --pods N            running pods (replicas) at once\n"
     "\n"
     "A quota may not exceed the quota of a namespace above it. A job that can\n"
     "never fit is refused at submit; one that fits later waits (Pending) with\n"
     "the quota named in its reason. -o json|yaml prints the API's reply:\n"
     "{\"namespace\", \"limits\", \"used\"}.\n"
     "\n"
     "Examples:\n"
     "  gpuaas set quota team-ai --gpus 8 --gpus-A100 4 --cpu 64 --memory 512Gi\n"
     "  gpuaas set quota team-ai/project-llm/dev --gpus 2 --pods 10\n"},
    {"version", verb_version, 0, false, "Print the client version",
     "Usage: gpuaas version [-o json|yaml]\n"},
    {"help", verb_help, 0, false, "Help about any verb", "Usage: gpuaas help [VERB]\n"},
};

#define VERB_COUNT (sizeof verb_table / sizeof verb_table[0])

static const struct verb *verb_lookup(const char *name)
{
    for (size_t i = 0; i < VERB_COUNT; i++)
        if (strcmp(verb_table[i].name, name) == 0)
            return &verb_table[i];
    return NULL;
}

static void print_general_help(FILE *out)
{
    fputs("gpuaas - GPU-as-a-Service client\n"
          "\n"
          "Usage: gpuaas VERB [ARGS] [OPTIONS]\n"
          "\n"
          "Verbs:\n",
          out);
    for (size_t i = 0; i < VERB_COUNT; i++)
        fprintf(out, "  %-10s %s\n", verb_table[i].name, verb_table[i].summary);
    fputs("  server     Run the control plane (see 'gpuaas server --help')\n"
          "\n"
          "Options (anywhere on the line):\n"
          "  --server URL          control plane URL (else $GPUAAS_SERVER, the config file,\n"
          "                        " CLI_DEFAULT_SERVER ")\n"
          "  --token TOKEN         bearer token (else $GPUAAS_TOKEN, ./var/admin.token,\n"
          "                        $GPUAAS_DATA/admin.token, 'token:' in ~/.config/gpuaas/config)\n"
          "  -n, --namespace NS    namespace (org[/project[/env]])\n"
          "  -o, --output FORMAT   table (default), wide, json or yaml (usage: also csv)\n"
          "  -h, --help            help for the verb\n"
          "\n"
          "Exit codes: 0 ok, 1 the server refused, 2 usage error, 3 cannot reach the server.\n"
          "Run 'gpuaas VERB --help' for more about a verb.\n",
          out);
}

int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (ctx && ctx->verb)
        fprintf(stderr, "\nSee 'gpuaas %s --help' for usage.\n", ctx->verb);
    else
        fputs("\nSee 'gpuaas help' for usage.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_REFUSED;
}

/* Print the API's error body: "error: MESSAGE (field F, HTTP 422 invalid)". */
int cli_report_refusal(const struct cli_ctx *ctx, const struct http_reply *reply)
{
    json_t *err = json_loadb(reply->body, reply->len, 0, NULL);
    const char *message = cli_json_str(err, "error.message");
    const char *field = cli_json_str(err, "error.field");
    const char *code = cli_json_str(err, "error.code");
    long status = reply->status;

    if (message) {
        fprintf(stderr, "error: %s (", message);
        if (field)
            fprintf(stderr, "field %s, ", field);
        fprintf(stderr, "HTTP %ld%s%s)\n", status, code ? " " : "", code ? code : "");
    } else {
        fprintf(stderr, "error: the server replied HTTP %ld without an error message\n", status);
    }
    if (status == 401 && !ctx->conn.token)
        fputs("hint: no token found; pass --token, set GPUAAS_TOKEN, or run from beside the "
              "server's ./var (or set GPUAAS_DATA)\n",
              stderr);
    json_decref(err);
    return CLI_EXIT_REFUSED;
}

int cli_request(struct cli_ctx *ctx, const char *method, const char *path_query, const char *accept,
                const char *body_text, struct http_reply *ret)
{
    char detail[CURL_ERROR_SIZE + 64];
    enum http_fail fail;

    fail = http_request(ctx->conn.server, ctx->conn.token, method, path_query, accept, body_text,
                        body_text ? strlen(body_text) : 0, ret, detail, sizeof detail);
    switch (fail) {
    case HTTP_FAIL_NONE:
        return CLI_EXIT_OK;
    case HTTP_FAIL_UNREACHABLE:
        fprintf(stderr, "error: cannot reach the server at %s: %s\n", ctx->conn.server, detail);
        return CLI_EXIT_UNREACHABLE;
    case HTTP_FAIL_BAD_URL:
        return cli_usage_error(NULL, "bad server URL \"%s\": %s", ctx->conn.server, detail);
    case HTTP_FAIL_TOO_LARGE:
        return cli_fail("the reply from %s is larger than %u MiB", ctx->conn.server, HTTP_MAX_REPLY >> 20);
    case HTTP_FAIL_OTHER:
        break;
    }
    return cli_fail("request to %s failed: %s", ctx->conn.server, detail);
}

int cli_api(struct cli_ctx *ctx, const char *method, const char *path_query, const json_t *body, json_t **ret)
{
    struct http_reply reply = {0};
    char *body_text = NULL;
    json_t *json = NULL;
    json_error_t jerr;
    int rc;

    if (body) {
        body_text = json_dumps(body, JSON_COMPACT);
        if (!body_text)
            return cli_fail("out of memory");
    }
    rc = cli_request(ctx, method, path_query, NULL, body_text, &reply);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (reply.status < 200 || reply.status > 299) {
        rc = cli_report_refusal(ctx, &reply);
        goto out;
    }
    json = reply.len ? json_loadb(reply.body, reply.len, 0, &jerr) : json_object();
    if (!json) {
        rc = cli_fail("the server's reply (HTTP %ld) is not JSON: %s", reply.status,
                      reply.len ? jerr.text : "out of memory");
        goto out;
    }
    *ret = json;
    rc = CLI_EXIT_OK;
out:
    http_reply_free(&reply);
    free(body_text);
    return rc;
}

int cli_print_object(const struct cli_ctx *ctx, const json_t *obj)
{
    char *text;

    if (ctx->args->output == CLI_OUT_YAML)
        text = yamljson_emit(obj);
    else
        text = json_dumps(obj, JSON_INDENT(2));
    if (!text)
        return cli_fail("cannot render the reply as %s", ctx->args->output == CLI_OUT_YAML ? "YAML" : "JSON");
    fputs(text, stdout);
    if (!text[0] || text[strlen(text) - 1] != '\n')
        fputc('\n', stdout);
    free(text);
    return CLI_EXIT_OK;
}

char *cli_job_path(const char *ns, const char *name, const char *suffix)
{
    char *ns_q = http_escape(ns, 1), *name_q = http_escape(name, 0), *path = NULL;

    if (ns_q && name_q && asprintf(&path, "/v1/jobs/%s%s?namespace=%s", name_q, suffix, ns_q) < 0)
        path = NULL;
    free(ns_q);
    free(name_q);
    return path;
}

int cli_resolve_job(struct cli_ctx *ctx, const char *arg, char **ret_ns, char **ret_name)
{
    const char *slash = strrchr(arg, '/'), *ns = ctx->args->ns;
    char *found_ns = NULL, *name = NULL;
    json_t *list = NULL;
    size_t matches = 0, i;
    json_t *item;
    int rc;

    if (slash) {
        /* "team-ai/project-llm/dev/llm-finetune": namespace path, then name */
        if (slash == arg || slash[1] == '\0')
            return cli_usage_error(ctx, "bad job name \"%s\"", arg);
        if (ns && (strlen(ns) != (size_t)(slash - arg) || strncmp(ns, arg, (size_t)(slash - arg)) != 0))
            return cli_usage_error(ctx, "job \"%s\" is not in namespace \"%s\" given by -n", arg, ns);
        found_ns = strndup(arg, (size_t)(slash - arg));
        name = strdup(slash + 1);
    } else if (ns) {
        found_ns = strdup(ns);
        name = strdup(arg);
    } else {
        /* No namespace given: accept a name that is unique among visible jobs. */
        rc = cli_fetch_jobs(ctx, NULL, NULL, -1, -1, &list);
        if (rc != CLI_EXIT_OK)
            return rc;
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            const char *item_name = cli_json_str(item, "name");
            const char *item_ns = cli_json_str(item, "namespace");
            if (!item_name || !item_ns || strcmp(item_name, arg) != 0)
                continue;
            if (++matches == 1)
                found_ns = strdup(item_ns);
        }
        json_decref(list);
        if (matches == 0) {
            free(found_ns);
            return cli_fail("job \"%s\" not found in any namespace you can see", arg);
        }
        if (matches > 1) {
            free(found_ns);
            return cli_usage_error(ctx, "job \"%s\" exists in %zu namespaces; say which with -n NAMESPACE", arg,
                                   matches);
        }
        name = strdup(arg);
    }
    if (!found_ns || !name) {
        free(found_ns);
        free(name);
        return cli_fail("out of memory");
    }
    *ret_ns = found_ns;
    *ret_name = name;
    return CLI_EXIT_OK;
}

/* ---- submit ---------------------------------------------------------- */

/* Read at most SPEC_MAX_SIZE bytes from path ("-" = stdin). Returns an exit
 * code; on success *ret_text is malloc'd and NUL-terminated. */
static int read_spec(const struct cli_ctx *ctx, const char *path, char **ret_text, size_t *ret_len)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    char *buf = NULL;
    size_t len;
    int rc = CLI_EXIT_USAGE;

    if (!f)
        return cli_usage_error(ctx, "cannot read %s: %s", path, strerror(errno));
    buf = malloc(SPEC_MAX_SIZE + 2);
    if (!buf) {
        rc = cli_fail("out of memory");
        goto out;
    }
    len = fread(buf, 1, SPEC_MAX_SIZE + 1, f);
    if (ferror(f)) {
        rc = cli_usage_error(ctx, "cannot read %s: %s", is_stdin ? "standard input" : path, strerror(errno));
        goto out;
    }
    if (len > SPEC_MAX_SIZE) {
        rc = cli_usage_error(ctx, "%s: the spec is larger than %u MiB", is_stdin ? "<stdin>" : path,
                             SPEC_MAX_SIZE >> 20);
        goto out;
    }
    buf[len] = '\0';
    *ret_text = buf;
    *ret_len = len;
    buf = NULL;
    rc = CLI_EXIT_OK;
out:
    free(buf);
    if (!is_stdin)
        fclose(f);
    return rc;
}

static int verb_submit(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    const char *shown, *spec_ns;
    struct yamljson_error yerr = {0};
    char *text = NULL, *path = NULL, *ns_q = NULL;
    json_t *spec = NULL, *job = NULL;
    size_t len = 0;
    int rc;

    if (!a->file)
        return cli_usage_error(ctx, "submit needs -f FILE (or -f - for standard input)");
    if (a->npos > 1)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[1]);
    shown = strcmp(a->file, "-") == 0 ? "<stdin>" : a->file;

    rc = read_spec(ctx, a->file, &text, &len);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (yamljson_parse(text, len, &spec, &yerr) < 0) {
        fprintf(stderr, "%s:", shown);
        if (yerr.line > 0)
            fprintf(stderr, "%d:%d:", yerr.line, yerr.column);
        fprintf(stderr, " %s\n", yerr.message[0] ? yerr.message : "cannot parse the spec");
        spec = NULL;
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (!json_is_object(spec)) {
        rc = cli_usage_error(ctx, "%s: a job spec must be a mapping of fields", shown);
        goto out;
    }

    spec_ns = cli_json_str(spec, "namespace");
    if (a->ns && spec_ns && strcmp(a->ns, spec_ns) != 0) {
        rc = cli_usage_error(ctx, "the spec's namespace \"%s\" differs from -n \"%s\"", spec_ns, a->ns);
        goto out;
    }
    if (a->ns && !json_object_get(spec, "namespace")) {
        ns_q = http_escape(a->ns, 1);
        if (!ns_q || asprintf(&path, "/v1/jobs?namespace=%s", ns_q) < 0) {
            path = NULL;
            rc = cli_fail("out of memory");
            goto out;
        }
    }

    rc = cli_api(ctx, "POST", path ? path : "/v1/jobs", spec, &job);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->output == CLI_OUT_JSON || a->output == CLI_OUT_YAML) {
        rc = cli_print_object(ctx, job);
    } else {
        const char *name = cli_json_str(job, "name"), *ns = cli_json_str(job, "namespace");
        printf("job \"%s\" submitted in namespace \"%s\"\n", name ? name : "?", ns ? ns : "?");
    }
out:
    json_decref(job);
    json_decref(spec);
    free(ns_q);
    free(path);
    free(text);
    return rc;
}

/* ---- delete / cancel / create ------------------------------------------ */

/* Print the result of a mutation: the object for -o json|yaml, else a
 * kubectl-style line such as `job "x" deleted`. */
static int report_done(const struct cli_ctx *ctx, const json_t *obj, const char *kind, const char *name,
                       const char *what)
{
    if (ctx->args->output == CLI_OUT_JSON || ctx->args->output == CLI_OUT_YAML)
        return cli_print_object(ctx, obj);
    printf("%s \"%s\" %s\n", kind, name, what);
    return CLI_EXIT_OK;
}

/* POST/DELETE on one job, e.g. cancel or delete. */
static int job_action(struct cli_ctx *ctx, const char *arg, const char *method, const char *suffix,
                      const char *what)
{
    char *ns = NULL, *name = NULL, *path = NULL;
    json_t *job = NULL;
    int rc = cli_resolve_job(ctx, arg, &ns, &name);

    if (rc != CLI_EXIT_OK)
        return rc;
    path = cli_job_path(ns, name, suffix);
    if (!path) {
        rc = cli_fail("out of memory");
        goto out;
    }
    rc = cli_api(ctx, method, path, NULL, &job);
    if (rc == CLI_EXIT_OK)
        rc = report_done(ctx, job, "job", name, what);
out:
    json_decref(job);
    free(path);
    free(name);
    free(ns);
    return rc;
}

static int namespace_action(struct cli_ctx *ctx, const char *ns, const char *method, const char *what)
{
    char *ns_q = http_escape(ns, 1), *path = NULL;
    json_t *body = NULL, *reply = NULL;
    int rc;

    if (!ns_q) {
        rc = cli_fail("out of memory");
        goto out;
    }
    if (strcmp(method, "POST") == 0) {
        body = json_pack("{s:s}", "name", ns);
        path = strdup("/v1/namespaces");
    } else if (asprintf(&path, "/v1/namespaces/%s", ns_q) < 0) {
        path = NULL;
    }
    if (!path || (strcmp(method, "POST") == 0 && !body)) {
        rc = cli_fail("out of memory");
        goto out;
    }
    rc = cli_api(ctx, method, path, body, &reply);
    if (rc == CLI_EXIT_OK)
        rc = report_done(ctx, reply, "namespace", ns, what);
out:
    json_decref(reply);
    json_decref(body);
    free(path);
    free(ns_q);
    return rc;
}

/* ---- quotas ------------------------------------------------------------ */

/* The namespace of `set quota NS` / `delete quota NS`: the argument after
 * `quota`, or -n. Returns an exit code. */
static int quota_namespace(struct cli_ctx *ctx, const char **ret)
{
    const struct cli_args *a = ctx->args;

    if (a->npos > 3)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[3]);
    if (a->npos == 3 && a->ns && strcmp(a->ns, a->pos[2]) != 0)
        return cli_usage_error(ctx, "namespace \"%s\" differs from -n \"%s\"", a->pos[2], a->ns);
    *ret = a->npos == 3 ? a->pos[2] : a->ns;
    if (!*ret)
        return cli_usage_error(ctx, "say which namespace: %s quota NAMESPACE", ctx->verb);
    return CLI_EXIT_OK;
}

static char *quota_path(const char *ns)
{
    char *ns_q = http_escape(ns, 1), *path = NULL;

    if (ns_q && asprintf(&path, "/v1/quotas/%s", ns_q) < 0)
        path = NULL;
    free(ns_q);
    return path;
}

static int verb_set(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    const char *ns = NULL;
    char err[512], *path = NULL;
    json_t *body = NULL, *reply = NULL;
    int rc, r;

    if (a->npos < 2 || cli_resource_lookup(a->pos[1]) != CLI_RES_QUOTA)
        return cli_usage_error(ctx, "set supports: set quota NAMESPACE --gpus N ...");
    rc = quota_namespace(ctx, &ns);
    if (rc != CLI_EXIT_OK)
        return rc;
    r = cli_quota_body(a->quota, a->nquota, &body, err, sizeof err);
    if (r == GPUAAS_ENOMEM)
        return cli_fail("out of memory");
    if (r < 0)
        return cli_usage_error(ctx, "%s", err);
    path = quota_path(ns);
    if (!path) {
        rc = cli_fail("out of memory");
        goto out;
    }
    rc = cli_api(ctx, "PUT", path, body, &reply);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->output == CLI_OUT_JSON || a->output == CLI_OUT_YAML) {
        rc = cli_print_object(ctx, reply);
    } else {
        char summary[1024];
        printf("quota \"%s\" set: %s\n", ns, cli_quota_summary(reply, summary, sizeof summary));
    }
out:
    json_decref(reply);
    json_decref(body);
    free(path);
    return rc;
}

static int quota_delete(struct cli_ctx *ctx)
{
    const char *ns = NULL;
    char *path = NULL;
    json_t *reply = NULL;
    int rc = quota_namespace(ctx, &ns);

    if (rc != CLI_EXIT_OK)
        return rc;
    path = quota_path(ns);
    if (!path)
        return cli_fail("out of memory");
    rc = cli_api(ctx, "DELETE", path, NULL, &reply);
    if (rc == CLI_EXIT_OK)
        rc = report_done(ctx, reply, "quota", ns, "deleted");
    json_decref(reply);
    free(path);
    return rc;
}

static int verb_delete(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    enum cli_resource res;

    if (a->npos >= 2 && cli_resource_lookup(a->pos[1]) == CLI_RES_QUOTA)
        return quota_delete(ctx);
    if (a->npos < 3)
        return cli_usage_error(ctx, "delete needs a resource and a name: delete job NAME | delete namespace PATH | "
                                    "delete quota NAMESPACE");
    if (a->npos > 3)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[3]);
    res = cli_resource_lookup(a->pos[1]);
    if (res == CLI_RES_JOB)
        return job_action(ctx, a->pos[2], "DELETE", "", "deleted");
    if (res == CLI_RES_NAMESPACE)
        return namespace_action(ctx, a->pos[2], "DELETE", "deleted");
    if (res == CLI_RES_TOKEN)
        return cli_revoke_token(ctx, a->pos[2]);
    return cli_usage_error(ctx, "cannot delete \"%s\": delete supports job, namespace, quota and token", a->pos[1]);
}

static int verb_cancel(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    int first = 1;

    /* `cancel job NAME` reads like the other verbs; accept it too */
    if (a->npos == 3 && cli_resource_lookup(a->pos[1]) == CLI_RES_JOB)
        first = 2;
    if (a->npos <= first)
        return cli_usage_error(ctx, "cancel needs a job name");
    if (a->npos > first + 1)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[first + 1]);
    return job_action(ctx, a->pos[first], "POST", "/cancel", "cancelled");
}

static int verb_create(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;

    if (a->npos >= 2 && cli_resource_lookup(a->pos[1]) == CLI_RES_TOKEN)
        return cli_create_token(ctx);
    if (a->npos < 2 || cli_resource_lookup(a->pos[1]) != CLI_RES_NAMESPACE)
        return cli_usage_error(ctx, "create supports: create namespace PATH | create token --user NAME");
    if (a->verb_opts & (CLI_OPT_USER | CLI_OPT_NAME | CLI_OPT_EXPIRES))
        return cli_usage_error(ctx, "%s is not an option of create namespace",
                               cli_verb_opt_flag(a->verb_opts & (CLI_OPT_USER | CLI_OPT_NAME | CLI_OPT_EXPIRES)));
    if (a->npos < 3)
        return cli_usage_error(ctx, "create namespace needs a PATH, e.g. team-ai/project-llm/dev");
    if (a->npos > 3)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[3]);
    return namespace_action(ctx, a->pos[2], "POST", "created");
}

/* ---- version / help ---------------------------------------------------- */

static int verb_version(struct cli_ctx *ctx)
{
    json_t *v;
    int rc;

    if (ctx->args->npos > 1)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", ctx->args->pos[1]);
    if (ctx->args->output != CLI_OUT_JSON && ctx->args->output != CLI_OUT_YAML) {
        printf("gpuaas client version %s\n", GPUAAS_VERSION);
        return CLI_EXIT_OK;
    }
    v = json_pack("{s:{s:s}}", "client", "version", GPUAAS_VERSION);
    if (!v)
        return cli_fail("out of memory");
    rc = cli_print_object(ctx, v);
    json_decref(v);
    return rc;
}

static int verb_help(struct cli_ctx *ctx)
{
    const struct verb *v;

    if (ctx->args->npos < 2) {
        print_general_help(stdout);
        return CLI_EXIT_OK;
    }
    if (ctx->args->npos > 2)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", ctx->args->pos[2]);
    v = verb_lookup(ctx->args->pos[1]);
    if (!v)
        return cli_usage_error(ctx, "unknown verb \"%s\"", ctx->args->pos[1]);
    fputs(v->usage, stdout);
    return CLI_EXIT_OK;
}

/* ---- entry ------------------------------------------------------------- */

int cli_main(int argc, char **argv)
{
    struct cli_args args;
    struct cli_ctx ctx = {.args = &args};
    const struct verb *verb;
    char err[512];
    int rc, r;

    if (cli_args_parse(argc, argv, &args, err, sizeof err) < 0) {
        verb = argc > 1 ? verb_lookup(argv[1]) : NULL; /* only to point at the right help */
        ctx.verb = verb ? verb->name : NULL;
        return cli_usage_error(&ctx, "%s", err);
    }
    if (args.npos == 0) {
        if (args.help) {
            print_general_help(stdout);
            return CLI_EXIT_OK;
        }
        print_general_help(stderr);
        return CLI_EXIT_USAGE;
    }
    verb = verb_lookup(args.pos[0]);
    if (!verb)
        return cli_usage_error(NULL, "unknown verb \"%s\"", args.pos[0]);
    ctx.verb = verb->name;
    if (args.help) {
        fputs(verb->usage, stdout);
        return CLI_EXIT_OK;
    }
    if ((args.verb_opts & ~verb->verb_opts) & CLI_OPT_QUOTA)
        return cli_usage_error(&ctx, "--%.*s is not an option of %s (quota limits go with: gpuaas set quota NS)",
                               (int)args.quota[0].name_len, args.quota[0].name, verb->name);
    if (args.verb_opts & ~verb->verb_opts)
        return cli_usage_error(&ctx, "%s is not an option of %s", cli_verb_opt_flag(args.verb_opts & ~verb->verb_opts),
                               verb->name);
    if (args.output == CLI_OUT_CSV && verb->run != cli_verb_usage && verb->run != verb_help)
        return cli_usage_error(&ctx, "-o csv is only supported by usage; %s prints table, wide, json or yaml",
                               verb->name);
    if (!verb->needs_server)
        return verb->run(&ctx);

    r = cli_conn_resolve(args.server, args.token, &ctx.conn, err, sizeof err);
    if (r == GPUAAS_EINVAL)
        return cli_usage_error(&ctx, "%s", err);
    if (r < 0)
        return cli_fail("%s", gpuaas_strerror(r));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_conn_free(&ctx.conn);
        return cli_fail("cannot initialise libcurl");
    }
    rc = verb->run(&ctx);
    curl_global_cleanup();
    cli_conn_free(&ctx.conn);
    return rc;
}
