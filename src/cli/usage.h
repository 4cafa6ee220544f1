/* Pure helpers of the `usage` verb (GPU time and cost): argument checks, the
 * request path and CSV quoting. No I/O. */
#ifndef GPUAAS_CLI_USAGE_H
#define GPUAAS_CLI_USAGE_H

#include <stdbool.h>
#include <stddef.h>

/* Whether text is a month YYYY-MM (year 1970..9999, month 01..12), as the
 * server's ?month= takes it. */
bool cli_usage_month_valid(const char *text);

/* Whether text is a grouping the server knows: namespace, project, org,
 * model, capacity, node, node-group, series or pod. */
bool cli_usage_by_valid(const char *text);

/* Check the combination of --month/--from/--to/--by (each may be NULL).
 * Returns 0, or GPUAAS_EINVAL with a one-line reason in err. */
int cli_usage_check(const char *month, const char *from, const char *to, const char *by, char *err,
                    size_t err_size);

/* "/v1/usage?month=...&from=...&to=...&by=...&namespace=..." with the
 * parameters given (NULL ones left out), each value URL-escaped. Returns a
 * malloc'd string or NULL when out of memory. */
char *cli_usage_path(const char *month, const char *from, const char *to, const char *by, const char *ns);

/* One CSV field as RFC 4180 wants it: as is when it holds no comma, quote,
 * CR or LF (and does not start or end with a blank); otherwise in double
 * quotes with each quote doubled. NULL is the empty field. Returns a malloc'd
 * string or NULL when out of memory. */
char *cli_csv_field(const char *text);

/* Upper-case ASCII copy of text into out (cut to out_size - 1 bytes). */
void cli_upper(const char *text, char *out, size_t out_size);

#endif
