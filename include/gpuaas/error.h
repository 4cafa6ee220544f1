/* gpuaas error codes: every function that can fail returns 0 or one of
 * these negative values; gpuaas_strerror() gives the human text and
 * gpuaas_http_status()/gpuaas_error_code() the API mapping. */
#ifndef GPUAAS_ERROR_H
#define GPUAAS_ERROR_H

enum gpuaas_err {
    GPUAAS_OK = 0,
    GPUAAS_EPARSE = -1,    /* input is not well-formed (JSON/YAML syntax)  -> 400 */
    GPUAAS_EINVAL = -2,    /* well-formed but invalid (field, type, value) -> 422 */
    GPUAAS_ENOTFOUND = -3, /* object does not exist (or is not visible)    -> 404 */
    GPUAAS_EEXIST = -4,    /* object with that name already exists         -> 409 */
    GPUAAS_ECONFLICT = -5, /* object is in a state that forbids the action -> 409 */
    GPUAAS_ETOOBIG = -6,   /* body or field over its hard limit            -> 413 */
    GPUAAS_EAUTH = -7,     /* missing, unknown, expired or revoked token   -> 401 */
    GPUAAS_EPERM = -8,     /* authenticated but not allowed                -> 403 */
    GPUAAS_ELIMIT = -9,    /* a server-side capacity limit was reached     -> 429 */
    GPUAAS_ENOMEM = -10,   /* out of memory                                -> 500 */
    GPUAAS_EIO = -11,      /* store or system I/O failed                   -> 500 */
    GPUAAS_EUNAVAIL = -12, /* server shutting down / not ready             -> 503 */
    GPUAAS_EMETHOD = -13,  /* route exists, method does not                -> 405 */
    GPUAAS_EQUOTA = -14,   /* the request can never fit a quota            -> 422 */
};

/* Static English text for an error code; never NULL. */
const char *gpuaas_strerror(int err);
/* Stable machine-readable code used in API error bodies, e.g. "not_found". */
const char *gpuaas_error_code(int err);
/* HTTP status for an error code (200 for GPUAAS_OK). */
unsigned gpuaas_http_status(int err);

#endif
