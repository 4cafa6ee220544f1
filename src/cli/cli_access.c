/* Access verbs: `create token`, `get tokens`, `revoke token`, `bind`,
 * `unbind`, `get bindings` and `audit`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cli/cli_internal.h"
#include "cli/http_client.h"
#include "cli/output.h"
#include "gpuaas/error.h"
#include "lib/quantity.h"

static bool structured(const struct cli_ctx *ctx)
{
    return ctx->args->output == CLI_OUT_JSON || ctx->args->output == CLI_OUT_YAML;
}

/* Print a table built from items by rows(); "No resources found." on stderr
 * when there is nothing but the header. */
static int print_rows(const char *const *headers, size_t ncols, const json_t *items,
                      int (*rows)(struct table *t, const json_t *item, const char *filter), const char *filter,
                      const char *what)
{
    struct table *t = NULL;
    const json_t *item;
    size_t i;
    int r, rc = CLI_EXIT_OK;

    if (table_new(ncols, &t) < 0)
        return cli_fail("out of memory");
    r = table_add_row(t, headers);
    json_array_foreach(items, i, item)
    {
        if (r < 0)
            break;
        r = rows(t, item, filter);
    }
    if (r < 0) {
        rc = cli_fail("cannot build the table: %s", gpuaas_strerror(r));
    } else if (table_rows(t) <= 1) {
        if (filter)
            rc = cli_fail("%s \"%s\" not found", what, filter);
        else
            fputs("No resources found.\n", stderr);
    } else {
        table_print(t, stdout, 0);
    }
    table_free(t);
    return rc;
}

/* ---- tokens ------------------------------------------------------------ */

static bool token_matches(const json_t *tok, const char *filter)
{
    char buf[32];
    const json_t *idv = json_object_get(tok, "id");
    const char *id = idv ? cli_json_text(idv, buf, sizeof buf) : NULL;
    const char *name = cli_json_str(tok, "name");

    if (!filter)
        return true;
    return (id && strcmp(id, filter) == 0) || (name && strcmp(name, filter) == 0);
}

static int token_rows(struct table *t, const json_t *tok, const char *filter)
{
    char id[32];
    const json_t *idv = json_object_get(tok, "id");
    const char *expires = cli_json_str(tok, "expires_at");

    if (!token_matches(tok, filter))
        return 0;
    const char *cells[] = {
        idv ? cli_json_text(idv, id, sizeof id) : NULL,
        cli_json_str(tok, "name"),
        cli_json_str(tok, "user"),
        cli_json_str(tok, "role"),
        cli_json_str(tok, "created_at"),
        expires && *expires ? expires : "never",
        json_is_true(json_object_get(tok, "revoked")) ? "yes" : "no",
    };
    return table_add_row(t, cells);
}

static const char *const token_headers[] = {"ID", "NAME", "USER", "ROLE", "CREATED", "EXPIRES", "REVOKED"};

/* Items of a list reply that match filter, as {"items": [...], "count": N}. */
static json_t *filtered_list(const json_t *items, const char *filter, bool (*keep)(const json_t *, const char *))
{
    json_t *out = json_array();
    const json_t *item;
    size_t i;

    if (!out)
        return NULL;
    json_array_foreach(items, i, item)
    {
        if (keep(item, filter) && json_array_append(out, (json_t *)item) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return json_pack("{s:o,s:I}", "items", out, "count", (json_int_t)json_array_size(out));
}

int cli_get_tokens(struct cli_ctx *ctx, const char *name)
{
    json_t *reply = NULL, *list = NULL;
    const json_t *items;
    int rc = cli_api(ctx, "GET", "/v1/tokens", NULL, &reply);

    if (rc != CLI_EXIT_OK)
        return rc;
    items = json_object_get(reply, "items");
    if (!structured(ctx)) {
        rc = print_rows(token_headers, 7, items, token_rows, name, "token");
    } else if (!name) {
        rc = cli_print_object(ctx, reply);
    } else {
        const json_t *item;
        size_t i, n = 0;
        json_array_foreach(items, i, item)
        {
            if (token_matches(item, name) && n++ == 0)
                list = json_incref((json_t *)item);
        }
        if (n == 0)
            rc = cli_fail("token \"%s\" not found", name);
        else if (n > 1)
            rc = cli_fail("%zu tokens match \"%s\"; give the ID", n, name);
        else
            rc = cli_print_object(ctx, list);
    }
    json_decref(list);
    json_decref(reply);
    return rc;
}

int cli_create_token(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    json_t *body = NULL, *reply = NULL;
    int64_t ttl_ms;
    int rc;

    if (a->npos > 2)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[2]);
    if (!a->user)
        return cli_usage_error(ctx, "create token needs --user NAME");
    if (a->verb_opts & CLI_OPT_GROUP)
        return cli_usage_error(ctx, "--group is not an option of create token");
    if (a->ns)
        return cli_usage_error(ctx, "a token is not in a namespace (bind a role with: gpuaas bind ROLE --user NAME -n NS)");
    if (a->expires_in && quantity_parse_duration_ms(a->expires_in, &ttl_ms) < 0)
        return cli_usage_error(ctx, "--expires-in \"%s\" is not a duration (e.g. 720h, 30d, 1h30m)", a->expires_in);
    body = json_pack("{s:s}", "user", a->user);
    if (!body || (a->name && json_object_set_new(body, "name", json_string(a->name)) < 0) ||
        (a->expires_in && json_object_set_new(body, "expires_in", json_string(a->expires_in)) < 0)) {
        json_decref(body);
        return cli_fail("out of memory");
    }
    rc = cli_api(ctx, "POST", "/v1/tokens", body, &reply);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (structured(ctx)) {
        rc = cli_print_object(ctx, reply);
    } else {
        const char *secret = cli_json_str(reply, "token"), *name = cli_json_str(reply, "name");
        const char *expires = cli_json_str(reply, "expires_at");
        char id[32];
        const json_t *idv = json_object_get(reply, "id");
        const char *id_text = idv ? cli_json_text(idv, id, sizeof id) : NULL;
        if (!secret) {
            rc = cli_fail("the server's reply has no token");
            goto out;
        }
        printf("%s\n", secret);
        fflush(stdout);
        fprintf(stderr,
                "token \"%s\" (id %s) created for user \"%s\"%s%s; the secret above is shown only once: "
                "store it now\n",
                name ? name : "?", id_text ? id_text : "?", a->user, expires && *expires ? ", expires " : "",
                expires && *expires ? expires : "");
    }
out:
    json_decref(reply);
    json_decref(body);
    return rc;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Revoke by id, or by name (looked up in GET /v1/tokens). */
int cli_revoke_token(struct cli_ctx *ctx, const char *arg)
{
    char *path = NULL, *id_q = NULL, idbuf[32];
    const char *id = arg;
    json_t *reply = NULL, *list = NULL;
    int rc;

    if (!all_digits(arg)) {
        const json_t *item;
        size_t i, n = 0;
        rc = cli_api(ctx, "GET", "/v1/tokens", NULL, &list);
        if (rc != CLI_EXIT_OK)
            return rc;
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            const char *name = cli_json_str(item, "name");
            const json_t *idv = json_object_get(item, "id");
            char tmp[32];
            const char *text = idv ? cli_json_text(idv, tmp, sizeof tmp) : NULL;
            if (name && text && strcmp(name, arg) == 0 && n++ == 0)
                snprintf(idbuf, sizeof idbuf, "%s", text);
        }
        json_decref(list);
        if (n == 0)
            return cli_fail("token \"%s\" not found (give its ID or NAME from 'gpuaas get tokens')", arg);
        if (n > 1)
            return cli_fail("%zu tokens are named \"%s\"; give the ID", n, arg);
        id = idbuf;
    }
    id_q = http_escape(id, 0);
    if (!id_q || asprintf(&path, "/v1/tokens/%s", id_q) < 0) {
        path = NULL;
        rc = cli_fail("out of memory");
        goto out;
    }
    rc = cli_api(ctx, "DELETE", path, NULL, &reply);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (structured(ctx))
        rc = cli_print_object(ctx, reply);
    else
        printf("token \"%s\" revoked\n", arg);
out:
    json_decref(reply);
    free(path);
    free(id_q);
    return rc;
}

int cli_verb_revoke(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    int first = 1;

    if (a->npos >= 2 && cli_resource_lookup(a->pos[1]) == CLI_RES_TOKEN)
        first = 2;
    else if (a->npos >= 2 && cli_resource_lookup(a->pos[1]) != CLI_RES_NONE)
        return cli_usage_error(ctx, "revoke supports: revoke token ID");
    if (a->npos <= first)
        return cli_usage_error(ctx, "revoke needs a token ID (see 'gpuaas get tokens')");
    if (a->npos > first + 1)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[first + 1]);
    return cli_revoke_token(ctx, a->pos[first]);
}

/* ---- bindings ---------------------------------------------------------- */

static void binding_subject(const json_t *b, char *out, size_t size)
{
    const char *user = cli_json_str(b, "user"), *group = cli_json_str(b, "group");

    if (user)
        snprintf(out, size, "user:%s", user);
    else if (group)
        snprintf(out, size, "group:%s", group);
    else
        snprintf(out, size, "?");
}

static bool binding_matches(const json_t *b, const char *filter)
{
    char subject[300];
    const char *role = cli_json_str(b, "role");

    if (!filter)
        return true;
    binding_subject(b, subject, sizeof subject);
    return strcmp(subject, filter) == 0 || (role && strcmp(role, filter) == 0);
}

static int binding_rows(struct table *t, const json_t *b, const char *filter)
{
    char subject[300];
    const char *ns = cli_json_str(b, "namespace");

    if (!binding_matches(b, filter))
        return 0;
    binding_subject(b, subject, sizeof subject);
    const char *cells[] = {
        cli_json_str(b, "role"),
        subject,
        ns && *ns ? ns : "*",
        json_is_true(json_object_get(b, "builtin")) ? "yes" : "no",
    };
    return table_add_row(t, cells);
}

static const char *const binding_headers[] = {"ROLE", "SUBJECT", "NAMESPACE", "BUILTIN"};

/* NAME filters by role or by subject ("user:alice"); -n keeps the bindings
 * on that namespace exactly. */
static bool binding_in_ns(const json_t *b, const char *ns)
{
    const char *bns = cli_json_str(b, "namespace");
    return !ns || (bns && strcmp(bns, ns) == 0);
}

int cli_get_bindings(struct cli_ctx *ctx, const char *name)
{
    json_t *reply = NULL, *kept = NULL, *list = NULL;
    const json_t *item;
    size_t i;
    int rc = cli_api(ctx, "GET", "/v1/bindings", NULL, &reply);

    if (rc != CLI_EXIT_OK)
        return rc;
    kept = json_array();
    if (!kept) {
        rc = cli_fail("out of memory");
        goto out;
    }
    json_array_foreach(json_object_get(reply, "items"), i, item)
    {
        if (binding_in_ns(item, ctx->args->ns) && json_array_append(kept, (json_t *)item) < 0) {
            rc = cli_fail("out of memory");
            goto out;
        }
    }
    if (!structured(ctx)) {
        rc = print_rows(binding_headers, 4, kept, binding_rows, name, "binding");
    } else if (!name && !ctx->args->ns) {
        rc = cli_print_object(ctx, reply);
    } else {
        list = filtered_list(kept, name, binding_matches);
        rc = list ? cli_print_object(ctx, list) : cli_fail("out of memory");
    }
out:
    json_decref(list);
    json_decref(kept);
    json_decref(reply);
    return rc;
}

static int binding_action(struct cli_ctx *ctx, bool create)
{
    const struct cli_args *a = ctx->args;
    const char *ns = a->ns ? a->ns : "";
    json_t *body = NULL, *reply = NULL;
    int rc;

    if (a->npos < 2)
        return cli_usage_error(ctx, "%s needs a ROLE (platform-admin, namespace-admin, developer or viewer)",
                               ctx->verb);
    if (a->npos > 2)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[2]);
    if (!a->user == !a->group)
        return cli_usage_error(ctx, "%s needs exactly one of --user NAME or --group NAME", ctx->verb);
    body = json_pack("{s:s,s:s,s:s}", "role", a->pos[1], a->user ? "user" : "group", a->user ? a->user : a->group,
                     "namespace", ns);
    if (!body)
        return cli_fail("out of memory");
    rc = cli_api(ctx, create ? "POST" : "DELETE", "/v1/bindings", body, &reply);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (structured(ctx)) {
        rc = cli_print_object(ctx, reply);
    } else {
        printf("binding %s %s:%s ", a->pos[1], a->user ? "user" : "group", a->user ? a->user : a->group);
        if (*ns)
            printf("on namespace \"%s\"", ns);
        else
            printf("platform-wide");
        printf(" %s\n", create ? "created" : "removed");
    }
out:
    json_decref(reply);
    json_decref(body);
    return rc;
}

int cli_verb_bind(struct cli_ctx *ctx) { return binding_action(ctx, true); }
int cli_verb_unbind(struct cli_ctx *ctx) { return binding_action(ctx, false); }

/* ---- audit ------------------------------------------------------------- */

static int audit_rows(struct table *t, const json_t *e, const char *filter)
{
    char status[32];
    const json_t *sv = json_object_get(e, "status");
    const char *ns = cli_json_str(e, "namespace"), *code = cli_json_str(e, "code");
    const char *message = cli_json_str(e, "message");

    (void)filter;
    const char *cells[] = {
        cli_json_str(e, "time"),
        cli_json_str(e, "user"),
        cli_json_str(e, "method"),
        cli_json_str(e, "path"),
        ns && *ns ? ns : "-",
        sv ? cli_json_text(sv, status, sizeof status) : NULL,
        code && *code ? code : "-",
        message && *message ? message : "",
    };
    return table_add_row(t, cells);
}

static const char *const audit_headers[] = {"TIME", "USER",   "METHOD", "PATH",
                                            "NAMESPACE", "STATUS", "CODE", "MESSAGE"};

int cli_verb_audit(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    char path[96];
    size_t len;
    int64_t since_ms = 0;
    json_t *reply = NULL;
    int rc;

    if (a->npos > 1)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[1]);
    if (a->ns)
        return cli_usage_error(ctx, "audit lists the whole platform's log; -n is not an option of audit");
    if (a->since) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        if (cli_since_parse(a->since, (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, &since_ms) < 0)
            return cli_usage_error(ctx,
                                   "--since \"%s\" is neither an RFC 3339 time (2026-11-25T16:00:00Z) nor a "
                                   "duration back from now (1h, 30m)",
                                   a->since);
    }
    len = (size_t)snprintf(path, sizeof path, "/v1/audit");
    if (a->since)
        len += (size_t)snprintf(path + len, sizeof path - len, "?since=%" PRId64, since_ms);
    if (a->limit > 0)
        snprintf(path + len, sizeof path - len, "%slimit=%d", a->since ? "&" : "?", a->limit);
    rc = cli_api(ctx, "GET", path, NULL, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (structured(ctx))
        rc = cli_print_object(ctx, reply);
    else
        rc = print_rows(audit_headers, 8, json_object_get(reply, "items"), audit_rows, NULL, "audit record");
    json_decref(reply);
    return rc;
}
