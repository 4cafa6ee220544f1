/* Where the client finds the server URL and its token. */
#ifndef GPUAAS_CLI_CONFIG_H
#define GPUAAS_CLI_CONFIG_H

#include <stddef.h>

#define CLI_DEFAULT_SERVER "http://127.0.0.1:8080"
#define CLI_TOKEN_MAX 4096 /* bytes; longer token files are refused */

struct cli_conn {
    char *server; /* malloc'd, never NULL after cli_conn_resolve() */
    char *token;  /* malloc'd, NULL when none was found */
};

/* Fill *ret from, in order of precedence:
 *   server: opt_server, $GPUAAS_SERVER, `server:` in ~/.config/gpuaas/config,
 *           CLI_DEFAULT_SERVER;
 *   token:  opt_token, $GPUAAS_TOKEN, ./var/admin.token (the server's default
 *           data dir), $GPUAAS_DATA/admin.token, `token:` in the config file.
 * Returns 0, GPUAAS_EINVAL (a token with blanks or control characters; err
 * says which source) or GPUAAS_ENOMEM. Release with cli_conn_free(). */
int cli_conn_resolve(const char *opt_server, const char *opt_token, struct cli_conn *ret, char *err,
                     size_t err_size);
void cli_conn_free(struct cli_conn *conn);

/* Find `key: value` in config text (one setting a line, '#' comments,
 * optional quotes around the value). Returns 0 with the value copied to
 * out, GPUAAS_ENOTFOUND, or GPUAAS_ETOOBIG when out is too small. */
int cli_config_value(const char *text, const char *key, char *out, size_t out_size);

#endif
