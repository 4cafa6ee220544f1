/* See support_rbac.h. */
#include "support_rbac.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int srb_read_admin_token(struct th_server *s)
{
    char path[700];
    snprintf(path, sizeof path, "%s/admin.token", s->data_dir);
    char *text = th_read_file(path, NULL);
    if (text == NULL)
        return -1;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    int ok = n > 0 && n < sizeof s->token;
    if (ok)
        snprintf(s->token, sizeof s->token, "%s", text);
    free(text);
    return ok ? 0 : -1;
}

/* 0 ready, -1 timeout, -2 exited */
static int srb_wait_ready(struct th_server *s, long timeout_ms)
{
    struct th_http h;
    memset(&h, 0, sizeof h);
    h.curl = curl_easy_init();
    if (h.curl == NULL)
        return -1;
    snprintf(h.url, sizeof h.url, "%s", s->url);
    long long deadline = th_now_ms() + timeout_ms;
    int stage = 0, rc = -1;
    while (th_now_ms() < deadline) {
        if (!th_server_alive(s)) {
            rc = -2;
            break;
        }
        if (stage == 1) {
            if (srb_read_admin_token(s) == 0)
                stage = 2;
            else {
                th_sleep_ms(20);
                continue;
            }
        }
        struct th_req req = {.method = "GET", .path = stage == 0 ? "/healthz" : "/readyz", .token = "",
                             .timeout_ms = 1000};
        struct th_resp r;
        th_http_do(&h, &req, &r);
        long status = r.status;
        th_resp_free(&r);
        if (stage == 0 && status == 200) {
            stage = 1;
            continue;
        }
        if (stage == 2 && status == 200) {
            rc = 0;
            break;
        }
        th_sleep_ms(25);
    }
    th_http_free(&h);
    return rc;
}

static int srb_spawn_once(struct th_server *s, long timeout_ms)
{
    char cfg[700], listen_arg[64];
    snprintf(cfg, sizeof cfg, "%s/server.yaml", s->data_dir);
    s->port = th_free_port();
    if (s->port <= 0)
        return -1;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", s->port);
    s->token[0] = '\0';
    s->starts++;
    FILE *log = fopen(s->log_path, "a");
    if (log != NULL) {
        fprintf(log, "==== support_rbac: start #%d: %s server --config %s --listen %s --data %s ====\n", s->starts,
                th_server_bin(), cfg, listen_arg, s->data_dir);
        fclose(log);
    }
    char *argv[] = {(char *)th_server_bin(), "server", "--config", cfg, "--listen", listen_arg, "--data",
                    s->data_dir, NULL};
    pid_t pid = th_spawn(argv, s->log_path, false);
    if (pid < 0)
        return -1;
    s->pid = pid;
    return srb_wait_ready(s, timeout_ms);
}

static int srb_spawn(struct th_server *s)
{
    for (int attempt = 1; attempt <= 3; attempt++) {
        int rc = srb_spawn_once(s, TH_START_TIMEOUT_MS);
        if (rc == 0)
            return 0;
        if (rc == -2 && attempt < 3) {
            th_note("server exited during start (attempt %d); retrying on another port", attempt);
            continue;
        }
        th_server_print_log(s, 40);
        if (s->pid > 0)
            th_server_kill9(s);
        return -1;
    }
    return -1;
}

static int srb_prepare(struct th_server *s, const char *tag, const char *config_yaml)
{
    memset(s, 0, sizeof *s);
    if (th_make_tempdir(tag, s->data_dir, sizeof s->data_dir) != 0)
        return -1;
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->data_dir);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/server.yaml", s->data_dir);
    return th_write_file(cfg, config_yaml);
}

int srb_server_start(struct th_server *s, const char *tag, const char *config_yaml)
{
    if (srb_prepare(s, tag, config_yaml) != 0)
        return -1;
    return srb_spawn(s);
}

int srb_server_try_start(struct th_server *s, const char *tag, const char *config_yaml, long timeout_ms)
{
    if (srb_prepare(s, tag, config_yaml) != 0)
        return -1;
    int rc = srb_spawn_once(s, timeout_ms);
    if (rc != 0 && s->pid > 0)
        th_server_kill9(s);
    return rc == 0 ? 0 : -1;
}

int srb_server_restart(struct th_server *s, const char *config_yaml)
{
    if (s->pid > 0)
        th_server_kill9(s);
    if (config_yaml != NULL) {
        char cfg[700];
        snprintf(cfg, sizeof cfg, "%s/server.yaml", s->data_dir);
        if (th_write_file(cfg, config_yaml) != 0)
            return -1;
    }
    return srb_spawn(s);
}

long srb_call(struct th_http *h, const char *token, const char *authorization, const char *method, const char *path,
              const char *body, struct th_resp *r)
{
    struct th_req req = {.method = method, .path = path, .body = body, .token = token ? token : "",
                         .authorization = authorization};
    th_http_do(h, &req, r);
    return r->status;
}

const char *srb_msg(const struct th_resp *r)
{
    const char *m = th_err_message(r);
    return m ? m : "";
}
