/* See support_rbac.h. */
#include "support_rbac.h"

int srb_server_start(struct th_server *s, const char *tag, const char *config_yaml)
{
    return th_server_start_config(s, tag, config_yaml);
}

int srb_server_try_start(struct th_server *s, const char *tag, const char *config_yaml, long timeout_ms)
{
    return th_server_try_start_config(s, tag, config_yaml, timeout_ms);
}

int srb_server_restart(struct th_server *s, const char *config_yaml)
{
    return th_server_restart_config(s, config_yaml);
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
