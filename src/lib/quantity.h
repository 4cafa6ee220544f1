/* Parsing and formatting of resource quantities and durations, in the
 * habits of Kubernetes: cpu "8" / "500m" / 2.5, memory "32Gi" / "512Mi" /
 * "1G" / 1073741824, durations "90s" / "15m" / "4h" / "2d" / "1h30m".
 * Pure functions: no I/O, no allocation. */
#ifndef GPUAAS_QUANTITY_H
#define GPUAAS_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

/* Hard upper bounds accepted by the parsers (anything above is invalid). */
#define QUANTITY_CPU_MILLI_MAX (1024LL * 1000)        /* 1024 cores */
#define QUANTITY_MEMORY_MAX (64LL << 40)              /* 64 TiB */
#define QUANTITY_DURATION_MS_MAX (366LL * 86400 * 1000) /* one year */

/* "8", "0.5", "500m" -> milli-cores. Returns 0 or GPUAAS_EINVAL. */
int quantity_parse_cpu_milli(const char *text, int64_t *ret_milli);
/* "32Gi", "512Mi", "1G", "1000k", "12345" (bytes) -> bytes.
 * Suffixes: k M G T P (powers of 1000), Ki Mi Gi Ti Pi (powers of 1024). */
int quantity_parse_memory_bytes(const char *text, int64_t *ret_bytes);
/* "90s", "15m", "4h", "2d", "1h30m", "500ms" -> milliseconds (> 0). */
int quantity_parse_duration_ms(const char *text, int64_t *ret_ms);

/* Shortest exact form: 48000 -> "48", 500 -> "500m". Returns written length
 * (excluding NUL) or GPUAAS_ETOOBIG if out_size is too small. */
int quantity_format_cpu_milli(int64_t milli, char *out, size_t out_size);
/* Largest binary unit that divides exactly: 34359738368 -> "32Gi". */
int quantity_format_memory_bytes(int64_t bytes, char *out, size_t out_size);
/* 5400000 -> "1h30m", 500 -> "500ms", 0 -> "0s". */
int quantity_format_duration_ms(int64_t ms, char *out, size_t out_size);

#endif
