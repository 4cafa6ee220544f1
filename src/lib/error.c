#include "gpuaas/error.h"

struct err_info {
    int err;
    unsigned http_status;
    const char *code;
    const char *text;
};

static const struct err_info err_table[] = {
    {GPUAAS_OK, 200, "ok", "success"},
    {GPUAAS_EPARSE, 400, "bad_request", "malformed input"},
    {GPUAAS_EINVAL, 422, "invalid", "invalid value"},
    {GPUAAS_ENOTFOUND, 404, "not_found", "not found"},
    {GPUAAS_EEXIST, 409, "already_exists", "already exists"},
    {GPUAAS_ECONFLICT, 409, "conflict", "conflicts with the current state"},
    {GPUAAS_ETOOBIG, 413, "too_large", "too large"},
    {GPUAAS_EAUTH, 401, "unauthenticated", "missing or invalid credentials"},
    {GPUAAS_EPERM, 403, "forbidden", "not allowed"},
    {GPUAAS_ELIMIT, 429, "limit_reached", "a server limit was reached"},
    {GPUAAS_ENOMEM, 500, "internal", "out of memory"},
    {GPUAAS_EIO, 500, "internal", "storage or system I/O failed"},
    {GPUAAS_EUNAVAIL, 503, "unavailable", "server not ready"},
    {GPUAAS_EMETHOD, 405, "method_not_allowed", "method not allowed"},
    {GPUAAS_EQUOTA, 422, "quota_exceeded", "exceeds a quota"},
};

static const struct err_info *err_lookup(int err)
{
    for (unsigned i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].err == err)
            return &err_table[i];
    return &err_table[11]; /* unknown codes are internal I/O errors */
}

const char *gpuaas_strerror(int err) { return err_lookup(err)->text; }
const char *gpuaas_error_code(int err) { return err_lookup(err)->code; }
unsigned gpuaas_http_status(int err) { return err_lookup(err)->http_status; }
