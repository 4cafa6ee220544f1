/* Support for test_rbac.c and test_sso_audit.c: the real server started
 * with `--config DATA/server.yaml`, and calls made as a given identity.
 * Everything is prefixed srb_ (linked into every integration binary). */
#ifndef GPUAAS_TESTS_SUPPORT_RBAC_H
#define GPUAAS_TESTS_SUPPORT_RBAC_H

#include "harness.h"

/* Thin wrappers of th_server_start_config / th_server_restart_config /
 * th_server_try_start_config (harness.h), kept for test_rbac.c and
 * test_sso_audit.c. Fresh data dir, writes config_yaml to DATA/server.yaml,
 * starts `gpuaas server --config ... --listen ... --data ...` and waits until
 * it is ready and DATA/admin.token is readable. 0 or -1 (the log is printed). */
int srb_server_start(struct th_server *s, const char *tag, const char *config_yaml);
/* Starts it again on the same data dir (it must be stopped); config_yaml
 * replaces DATA/server.yaml unless NULL. 0 or -1. */
int srb_server_restart(struct th_server *s, const char *config_yaml);
/* Like srb_server_start/restart but only reports whether the server came up
 * (no retries; on failure the server is reaped and the log kept). */
int srb_server_try_start(struct th_server *s, const char *tag, const char *config_yaml, long timeout_ms);

/* One request with an explicit bearer token ("": no Authorization header)
 * or, if authorization is not NULL, that raw header. Returns the status. */
long srb_call(struct th_http *h, const char *token, const char *authorization, const char *method, const char *path,
              const char *body, struct th_resp *r);

/* error.message of an error reply, or "" */
const char *srb_msg(const struct th_resp *r);

#endif
