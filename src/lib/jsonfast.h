/* A fast reader for JSON request bodies. It builds the same json_t tree as
 * json_loadb(buf, len, JSON_REJECT_DUPLICATES, err) (jansson 2.14), but reads
 * the buffer in one pass without jansson's per-character stream. It accepts
 * only what it has fully checked; on anything else (every error, and a few
 * rare valid shapes, see JSONFAST_MAX_DEPTH) it hands the buffer to
 * json_loadb, so error texts, lines and columns are jansson's own. */
#ifndef GPUAAS_JSONFAST_H
#define GPUAAS_JSONFAST_H

#include <jansson.h>
#include <stddef.h>

/* Deeper nesting of objects and arrays is left to json_loadb. */
#define JSONFAST_MAX_DEPTH 64

/* Same contract as json_loadb(buf, len, JSON_REJECT_DUPLICATES, err): the
 * top level is an object or an array, nothing but whitespace may follow it.
 * Returns a new json_t owned by the caller, or NULL with *err filled
 * (err may be NULL). On success *err is set as json_loadb sets it. */
json_t *jsonfast_loadb(const char *buf, size_t len, json_error_t *err);

/* The fast path alone: the tree json_loadb would build, or NULL where the
 * fast path declines (json_loadb would reject the input, or it is a shape
 * the fast path leaves to jansson). For tests and benchmarks. */
json_t *jsonfast_parse(const char *buf, size_t len);

#endif
