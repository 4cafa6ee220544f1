/* A small CSV reader for trace files: a header row naming the columns,
 * fields optionally in double quotes ("" inside quotes is one quote),
 * LF or CRLF line ends. Everything is size-limited; a bad row is reported
 * with its line number. */
#ifndef GPUAAS_SIM_CSV_H
#define GPUAAS_SIM_CSV_H

#include <stddef.h>
#include <stdint.h>

#define CSV_FILE_MAX (256u << 20) /* bytes */
#define CSV_COLUMNS_MAX 64
#define CSV_FIELD_MAX 4096
#define CSV_ROWS_MAX 10000000

struct csv {
    char *data; /* the file, fields rewritten in place and NUL-terminated */
    size_t size;
    size_t cols;
    char *header[CSV_COLUMNS_MAX];
    size_t rows;
    char **fields;  /* rows x cols */
    size_t *lines;  /* line number of each row */
};

/* Reads and splits the file. 0, or -1 with a message "PATH:LINE: what" in err. */
int csv_load(const char *path, struct csv *ret, char *err, size_t err_size);
void csv_free(struct csv *csv);
/* Index of a column by header name, or -1. */
int csv_column(const struct csv *csv, const char *name);
static inline const char *csv_field(const struct csv *csv, size_t row, int col)
{
    return col < 0 ? "" : csv->fields[row * csv->cols + (size_t)col];
}
/* A whole number in [min, max] (a trailing ".0" is accepted). 0 or -1. */
int csv_int(const char *text, int64_t min, int64_t max, int64_t *ret);

#endif
