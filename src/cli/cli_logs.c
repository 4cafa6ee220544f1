/* `gpuaas logs JOB [--replica N] [--attempt A] [-f]`: a replica's log,
 * written to stdout byte for byte. The server hands out at most 1 MiB per
 * call with the offset to continue from (X-Gpuaas-Next-Offset) and the
 * pod's state (X-Gpuaas-Pod-State); following is polling on those. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cells.h"
#include "cli/cli_internal.h"
#include "cli/http_client.h"

#define LOG_POLL_MS 500
#define LOG_CHUNK_MAX (1u << 20) /* the most bytes the server sends per call */

struct log_target {
    char *ns;
    char *name;
    int replica;
    int attempt; /* -1: not known yet (the server then picks the latest) */
};

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* GET the job; *ret_final says whether it has ended. Also refuses a
 * replica the job does not have, which would otherwise be waited for. */
static int check_job(struct cli_ctx *ctx, const struct log_target *t, json_t **ret_job, bool *ret_final)
{
    char *path = cli_job_path(t->ns, t->name, "");
    json_t *job = NULL;
    json_int_t replicas;
    int rc;

    if (!path)
        return cli_fail("out of memory");
    rc = cli_api(ctx, "GET", path, NULL, &job);
    free(path);
    if (rc != CLI_EXIT_OK)
        return rc;
    replicas = json_integer_value(json_object_get(job, "replicas"));
    if (replicas < 1)
        replicas = 1;
    if (t->replica >= replicas) {
        rc = cli_fail("job \"%s\" has %" JSON_INTEGER_FORMAT " replica%s; --replica goes from 0 to %" JSON_INTEGER_FORMAT,
                      t->name, replicas, replicas == 1 ? "" : "s", replicas - 1);
        json_decref(job);
        return rc;
    }
    *ret_final = cli_job_state_final(cli_json_str(job, "status.state"));
    if (ret_job)
        *ret_job = job;
    else
        json_decref(job);
    return CLI_EXIT_OK;
}

/* Pin t->attempt to the replica's latest attempt, so that every chunk of
 * one run comes from the same log even if the replica restarts meanwhile.
 * Leaves it at -1 when the replica has no pod yet. */
static int find_attempt(struct cli_ctx *ctx, struct log_target *t, bool *ret_final)
{
    json_t *job = NULL, *pods = NULL;
    const json_t *pod, *id;
    size_t i;
    int rc;

    rc = check_job(ctx, t, &job, ret_final);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_fetch_pods(ctx, t->ns, t->name, &pods);
    if (rc != CLI_EXIT_OK)
        goto out;
    id = json_object_get(job, "id");
    json_array_foreach(json_object_get(pods, "items"), i, pod)
    {
        const char *ns = cli_json_str(pod, "namespace");
        const json_t *job_id = json_object_get(pod, "job_id");
        json_int_t attempt = json_integer_value(json_object_get(pod, "attempt"));
        if (!ns || strcmp(ns, t->ns) != 0 || json_integer_value(json_object_get(pod, "replica")) != t->replica)
            continue;
        /* an earlier job of the same name left pods too */
        if (json_is_integer(id) && json_is_integer(job_id) && !json_equal(id, job_id))
            continue;
        if (attempt > t->attempt && attempt <= INT32_MAX)
            t->attempt = (int)attempt;
    }
out:
    json_decref(pods);
    json_decref(job);
    return rc;
}

static char *log_path(const struct log_target *t, long long offset)
{
    char *base = cli_job_path(t->ns, t->name, "/logs"), *path = NULL;
    char attempt[32] = "";

    if (!base)
        return NULL;
    if (t->attempt >= 0)
        snprintf(attempt, sizeof attempt, "&attempt=%d", t->attempt);
    if (asprintf(&path, "%s&replica=%d%s&offset=%lld", base, t->replica, attempt, offset) < 0)
        path = NULL;
    free(base);
    return path;
}

/* Print the log from offset 0; with follow, until the run has ended and
 * everything it wrote is out. */
static int stream_log(struct cli_ctx *ctx, struct log_target *t, bool follow)
{
    struct http_reply reply = {0};
    long long offset = 0;
    bool pinned = t->attempt >= 0, job_final = false;
    int rc = CLI_EXIT_OK;

    for (;;) {
        char header[64], *path, *end;
        long long next;
        bool pod_final;

        http_reply_free(&reply);
        if (!pinned) {
            rc = find_attempt(ctx, t, &job_final);
            if (rc != CLI_EXIT_OK)
                break;
            pinned = t->attempt >= 0;
            if (!pinned && follow && !job_final) {
                sleep_ms(LOG_POLL_MS);
                continue;
            }
            /* no pod and nothing to wait for: the server says so below */
        }
        path = log_path(t, offset);
        if (!path) {
            rc = cli_fail("out of memory");
            break;
        }
        rc = cli_request(ctx, "GET", path, "text/plain, application/json", NULL, &reply);
        free(path);
        if (rc != CLI_EXIT_OK)
            break;

        if (reply.status == 404 && follow) {
            /* no pod for this replica (attempt) yet: wait while the job may still start one */
            rc = check_job(ctx, t, NULL, &job_final);
            if (rc != CLI_EXIT_OK)
                break;
            if (job_final) {
                rc = cli_report_refusal(ctx, &reply);
                break;
            }
            sleep_ms(LOG_POLL_MS);
            continue;
        }
        if (reply.status < 200 || reply.status > 299) {
            rc = cli_report_refusal(ctx, &reply);
            break;
        }

        if (reply.len > 0 && (fwrite(reply.body, 1, reply.len, stdout) != reply.len || fflush(stdout) != 0)) {
            rc = cli_fail("cannot write the log: %s", strerror(errno));
            break;
        }
        next = offset + (long long)reply.len;
        if (http_reply_header(&reply, "X-Gpuaas-Next-Offset", header, sizeof header)) {
            errno = 0;
            long long v = strtoll(header, &end, 10);
            if (errno == 0 && end != header && *end == '\0' && v >= offset)
                next = v;
        }
        offset = next;
        pod_final = cli_pod_state_final(http_reply_header(&reply, "X-Gpuaas-Pod-State", header, sizeof header));

        if (!follow) {
            if (reply.len < LOG_CHUNK_MAX)
                break; /* all there is now */
            continue;
        }
        if (reply.len == 0 && pod_final)
            break; /* ended, and every byte is out */
        if (reply.len < LOG_CHUNK_MAX && !pod_final)
            sleep_ms(LOG_POLL_MS);
    }
    http_reply_free(&reply);
    return rc;
}

int cli_verb_logs(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    struct log_target t = {.replica = a->replica >= 0 ? a->replica : 0, .attempt = a->attempt};
    int rc;

    if (a->npos < 2)
        return cli_usage_error(ctx, "logs needs a job name");
    if (a->npos > 2)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[2]);
    if (a->output_set)
        return cli_usage_error(ctx, "-o/--output does not apply to logs: the log is printed as it was written");
    rc = cli_resolve_job(ctx, a->pos[1], &t.ns, &t.name);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = stream_log(ctx, &t, a->follow);
    free(t.name);
    free(t.ns);
    return rc;
}
