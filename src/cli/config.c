#include "cli/config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

#define CONFIG_MAX_SIZE (64 * 1024)

/* Read a small text file whole. Returns 0 and a malloc'd string,
 * GPUAAS_ENOTFOUND when it cannot be opened, GPUAAS_ETOOBIG above max. */
static int read_small_file(const char *path, size_t max, char **ret)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len;
    int r = 0;

    if (!f)
        return GPUAAS_ENOTFOUND;
    buf = malloc(max + 2);
    if (!buf) {
        r = GPUAAS_ENOMEM;
        goto out;
    }
    len = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        r = GPUAAS_ENOTFOUND; /* e.g. a directory: treat as absent */
        goto out;
    }
    if (len > max) {
        r = GPUAAS_ETOOBIG;
        goto out;
    }
    buf[len] = '\0';
    *ret = buf;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return r;
}

static void trim(char **start, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**start)) {
        (*start)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*start)[*len - 1]))
        (*len)--;
}

int cli_config_value(const char *text, const char *key, char *out, size_t out_size)
{
    size_t key_len = strlen(key);
    const char *line = text;

    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char *p = (char *)line, *colon;

        trim(&p, &len);
        colon = len > key_len ? memchr(p, ':', len) : NULL;
        if (p[0] != '#' && colon && (size_t)(colon - p) == key_len && strncmp(p, key, key_len) == 0) {
            char *v = colon + 1;
            size_t vlen = len - key_len - 1;
            trim(&v, &vlen);
            if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
                v++;
                vlen -= 2;
            }
            if (vlen + 1 > out_size)
                return GPUAAS_ETOOBIG;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 0;
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return GPUAAS_ENOTFOUND;
}

static bool token_ok(const char *token)
{
    if (!token[0])
        return false;
    for (const unsigned char *p = (const unsigned char *)token; *p; p++)
        if (*p <= 0x20 || *p == 0x7F)
            return false; /* would break or inject into the HTTP header */
    return true;
}

/* Token from a file holding just the token (admin.token). Returns 0 with
 * *ret set or left NULL when the file is absent or empty. */
static int token_from_file(const char *path, char **ret, char *err, size_t err_size)
{
    char *text = NULL, *p;
    size_t len;
    int r = read_small_file(path, CLI_TOKEN_MAX, &text);

    if (r == GPUAAS_ENOTFOUND)
        return 0;
    if (r == GPUAAS_ETOOBIG) {
        snprintf(err, err_size, "%s: token file larger than %d bytes", path, CLI_TOKEN_MAX);
        return GPUAAS_EINVAL;
    }
    if (r < 0)
        return r;
    p = text;
    len = strlen(text);
    trim(&p, &len);
    p[len] = '\0';
    if (len == 0)
        goto out;
    if (!token_ok(p)) {
        snprintf(err, err_size, "%s: the token contains blanks or control characters", path);
        r = GPUAAS_EINVAL;
        goto out;
    }
    *ret = strdup(p);
    if (!*ret)
        r = GPUAAS_ENOMEM;
out:
    free(text);
    return r;
}

static int dup_checked_token(const char *token, const char *source, char **ret, char *err, size_t err_size)
{
    if (!token_ok(token)) {
        snprintf(err, err_size, "%s: the token is empty or contains blanks or control characters", source);
        return GPUAAS_EINVAL;
    }
    *ret = strdup(token);
    return *ret ? 0 : GPUAAS_ENOMEM;
}

int cli_conn_resolve(const char *opt_server, const char *opt_token, struct cli_conn *ret, char *err,
                     size_t err_size)
{
    struct cli_conn conn = {0};
    const char *env_server = getenv("GPUAAS_SERVER"), *env_token = getenv("GPUAAS_TOKEN");
    const char *data_dir = getenv("GPUAAS_DATA"), *home = getenv("HOME");
    char *path = NULL, *config = NULL;
    char value[CLI_TOKEN_MAX + 1];
    int r = 0;

    if (env_server && !env_server[0])
        env_server = NULL;
    if (env_token && !env_token[0])
        env_token = NULL;

    if (opt_token)
        r = dup_checked_token(opt_token, "--token", &conn.token, err, err_size);
    else if (env_token)
        r = dup_checked_token(env_token, "GPUAAS_TOKEN", &conn.token, err, err_size);
    else
        r = token_from_file("var/admin.token", &conn.token, err, err_size);
    if (r < 0)
        goto out;
    if (!conn.token && data_dir && data_dir[0]) {
        if (asprintf(&path, "%s/admin.token", data_dir) < 0) {
            path = NULL;
            r = GPUAAS_ENOMEM;
            goto out;
        }
        r = token_from_file(path, &conn.token, err, err_size);
        if (r < 0)
            goto out;
        free(path);
        path = NULL;
    }

    /* The config file is only read when something is still missing. */
    if ((!conn.token || (!opt_server && !env_server)) && home && home[0]) {
        if (asprintf(&path, "%s/.config/gpuaas/config", home) < 0) {
            path = NULL;
            r = GPUAAS_ENOMEM;
            goto out;
        }
        r = read_small_file(path, CONFIG_MAX_SIZE, &config);
        if (r == GPUAAS_ETOOBIG) {
            snprintf(err, err_size, "%s: larger than %d bytes", path, CONFIG_MAX_SIZE);
            r = GPUAAS_EINVAL;
            goto out;
        }
        if (r < 0 && r != GPUAAS_ENOTFOUND)
            goto out;
        r = 0;
    }

    if (config && !conn.token && cli_config_value(config, "token", value, sizeof value) == 0 && value[0]) {
        r = dup_checked_token(value, path, &conn.token, err, err_size);
        if (r < 0)
            goto out;
    }
    if (opt_server)
        conn.server = strdup(opt_server);
    else if (env_server)
        conn.server = strdup(env_server);
    else if (config && cli_config_value(config, "server", value, sizeof value) == 0 && value[0])
        conn.server = strdup(value);
    else
        conn.server = strdup(CLI_DEFAULT_SERVER);
    if (!conn.server) {
        r = GPUAAS_ENOMEM;
        goto out;
    }
    *ret = conn;
    conn = (struct cli_conn){0};
out:
    cli_conn_free(&conn);
    free(config);
    free(path);
    return r;
}

void cli_conn_free(struct cli_conn *conn)
{
    if (!conn)
        return;
    free(conn->server);
    free(conn->token);
    conn->server = NULL;
    conn->token = NULL;
}
