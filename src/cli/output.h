/* Human output helpers for the client: kubectl-style aligned tables and
 * ages. Pure apart from table_print(), which writes to the FILE given. */
#ifndef GPUAAS_CLI_OUTPUT_H
#define GPUAAS_CLI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TABLE_MAX_COLUMNS 32
#define TABLE_MAX_ROWS (1u << 20)
/* Cells are cut to this many bytes so that one huge value (a reason, a
 * label) cannot blow the table up. */
#define TABLE_MAX_CELL 1024

struct table;

/* New empty table of ncols (1..TABLE_MAX_COLUMNS) columns, owned by the
 * caller (table_free). Returns 0, GPUAAS_EINVAL or GPUAAS_ENOMEM. */
int table_new(size_t ncols, struct table **ret);
/* Append a row of exactly ncols cells (NULL cells print as "<none>"). The
 * cells are copied, with control characters replaced by '?' so that server
 * data cannot drive the terminal. Returns 0, GPUAAS_ENOMEM or GPUAAS_ELIMIT. */
int table_add_row(struct table *t, const char *const *cells);
/* Rows added so far (the header, if any, counts as one). */
size_t table_rows(const struct table *t);
/* Column width in display cells (UTF-8 code points) of each column. */
size_t table_column_width(const struct table *t, size_t col);
/* Print every row, columns left-aligned and separated by three spaces (as
 * kubectl does), each line prefixed by `indent` spaces; no trailing blanks. */
void table_print(const struct table *t, FILE *out, unsigned indent);
void table_free(struct table *t);

/* Display width of a UTF-8 string: the number of code points. */
size_t text_width(const char *s);

/* "2026-11-25T16:00:00.123Z" / "...+01:00" -> seconds since the epoch.
 * Returns 0 or GPUAAS_EINVAL. */
int rfc3339_parse(const char *text, int64_t *ret_epoch_s);

/* kubectl's age format for a duration in seconds: "45s", "3m20s", "15m",
 * "5h10m", "20h", "4d3h", "30d", "2y10d", "9y". Negative durations beyond
 * clock skew give "<invalid>". Returns the length written or GPUAAS_ETOOBIG. */
int format_age(int64_t seconds, char *out, size_t out_size);

/* Age of an RFC 3339 timestamp at time `now` (epoch seconds); "<unknown>"
 * when the text is NULL or unparsable. */
void format_age_since(const char *rfc3339, int64_t now, char *out, size_t out_size);

#endif
