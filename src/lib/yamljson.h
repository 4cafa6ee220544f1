/* YAML <-> JSON (jansson) conversion, built on libfyaml.
 * YAML specs are converted once to json_t and then validated by the same
 * code as JSON bodies, so both formats give the same errors. */
#ifndef GPUAAS_YAMLJSON_H
#define GPUAAS_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

#define YAMLJSON_MAX_DEPTH 32

struct yamljson_error {
    int line;          /* 1-based, 0 when unknown */
    int column;        /* 1-based, 0 when unknown */
    char message[256]; /* human text, e.g. "mapping values are not allowed here" */
};

/* Parse one YAML (or JSON, which is YAML) document of `len` bytes into a new
 * json_t owned by the caller. Plain scalars are typed like YAML 1.2 core
 * schema: null/~ -> null, true/false -> bool, integers -> integer, floats ->
 * real, everything else (and all quoted scalars) -> string. Mapping keys must
 * be scalars; duplicate keys, anchors/aliases, tags, multiple documents and
 * nesting deeper than YAMLJSON_MAX_DEPTH are rejected.
 * Returns 0 and *ret_json, or GPUAAS_EPARSE with *err filled (err may be NULL). */
int yamljson_parse(const char *text, size_t len, json_t **ret_json, struct yamljson_error *err);

/* Render json as block-style YAML. Returns a malloc'd NUL-terminated string
 * owned by the caller, or NULL on failure. Strings that would change type
 * when read back (e.g. "true", "123", "") are quoted. */
char *yamljson_emit(const json_t *json);

#endif
