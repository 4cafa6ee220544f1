#include "sim/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_free(struct csv *csv)
{
    if (!csv)
        return;
    free(csv->data);
    free(csv->fields);
    free(csv->lines);
    memset(csv, 0, sizeof *csv);
}

static int read_file(const char *path, char **ret, size_t *ret_size, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    int rc = -1;
    if (!buf) {
        snprintf(err, err_size, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= CSV_FILE_MAX) {
                snprintf(err, err_size, "%s: larger than %u MiB", path, CSV_FILE_MAX >> 20);
                goto out;
            }
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                snprintf(err, err_size, "%s: out of memory", path);
                goto out;
            }
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, err_size, "%s: read error", path);
                goto out;
            }
            break;
        }
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        snprintf(err, err_size, "%s: not a text file (NUL byte)", path);
        goto out;
    }
    *ret = buf;
    *ret_size = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* Splits one record starting at *pos into fields (rewritten in place).
 * Returns the number of fields, or -1 with err set. */
static int split_record(char *data, size_t size, size_t *pos, size_t *line, char **fields, size_t max, char *err,
                        size_t err_size, const char *path)
{
    size_t p = *pos, n = 0;
    size_t start_line = *line;
    for (;;) {
        if (n == max) {
            snprintf(err, err_size, "%s:%zu: more than %zu fields", path, start_line, max);
            return -1;
        }
        char *out = data + p;
        fields[n++] = out;
        size_t flen = 0;
        if (p < size && data[p] == '"') {
            p++;
            for (;;) {
                if (p >= size) {
                    snprintf(err, err_size, "%s:%zu: unterminated quoted field", path, start_line);
                    return -1;
                }
                if (data[p] == '"') {
                    if (p + 1 < size && data[p + 1] == '"') {
                        out[flen++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (data[p] == '\n')
                    (*line)++;
                out[flen++] = data[p++];
                if (flen > CSV_FIELD_MAX) {
                    snprintf(err, err_size, "%s:%zu: field longer than %d bytes", path, start_line, CSV_FIELD_MAX);
                    return -1;
                }
            }
            if (p < size && data[p] != ',' && data[p] != '\n' && data[p] != '\r') {
                snprintf(err, err_size, "%s:%zu: text after a closing quote", path, start_line);
                return -1;
            }
        } else {
            while (p < size && data[p] != ',' && data[p] != '\n' && data[p] != '\r') {
                if (data[p] == '"') {
                    snprintf(err, err_size, "%s:%zu: quote inside an unquoted field", path, start_line);
                    return -1;
                }
                out[flen++] = data[p++];
                if (flen > CSV_FIELD_MAX) {
                    snprintf(err, err_size, "%s:%zu: field longer than %d bytes", path, start_line, CSV_FIELD_MAX);
                    return -1;
                }
            }
        }
        char sep = p < size ? data[p] : '\n';
        if (sep == '\r') {
            if (p + 1 < size && data[p + 1] != '\n') {
                snprintf(err, err_size, "%s:%zu: stray carriage return", path, start_line);
                return -1;
            }
            p++;
            sep = '\n';
        }
        out[flen] = '\0'; /* the separator's byte (or one before) is free to overwrite */
        p++;
        if (sep == '\n') {
            (*line)++;
            *pos = p;
            return (int)n;
        }
    }
}

int csv_load(const char *path, struct csv *ret, char *err, size_t err_size)
{
    struct csv csv = {0};
    size_t cap = 0;
    char *row[CSV_COLUMNS_MAX];
    if (read_file(path, &csv.data, &csv.size, err, err_size) < 0)
        return -1;
    size_t pos = 0, line = 1;
    if (csv.size == 0) {
        snprintf(err, err_size, "%s:1: empty file (a header row is needed)", path);
        goto fail;
    }
    int n = split_record(csv.data, csv.size, &pos, &line, csv.header, CSV_COLUMNS_MAX, err, err_size, path);
    if (n < 0)
        goto fail;
    csv.cols = (size_t)n;
    for (size_t c = 0; c < csv.cols; c++)
        for (size_t d = 0; d < c; d++)
            if (strcmp(csv.header[c], csv.header[d]) == 0) {
                snprintf(err, err_size, "%s:1: column '%s' appears twice", path, csv.header[c]);
                goto fail;
            }
    while (pos < csv.size) {
        size_t row_line = line;
        /* blank lines are skipped */
        if (csv.data[pos] == '\n' || (csv.data[pos] == '\r' && pos + 1 < csv.size && csv.data[pos + 1] == '\n')) {
            pos += csv.data[pos] == '\r' ? 2 : 1;
            line++;
            continue;
        }
        n = split_record(csv.data, csv.size, &pos, &line, row, CSV_COLUMNS_MAX, err, err_size, path);
        if (n < 0)
            goto fail;
        if ((size_t)n != csv.cols) {
            snprintf(err, err_size, "%s:%zu: %d fields, the header has %zu", path, row_line, n, csv.cols);
            goto fail;
        }
        if (csv.rows == CSV_ROWS_MAX) {
            snprintf(err, err_size, "%s:%zu: more than %u rows", path, row_line, CSV_ROWS_MAX);
            goto fail;
        }
        if (csv.rows == cap) {
            cap = cap ? cap * 2 : 1024;
            char **fields = realloc(csv.fields, cap * csv.cols * sizeof *fields);
            size_t *lines = fields ? realloc(csv.lines, cap * sizeof *lines) : NULL;
            if (fields)
                csv.fields = fields;
            if (!fields || !lines) {
                snprintf(err, err_size, "%s: out of memory", path);
                goto fail;
            }
            csv.lines = lines;
        }
        memcpy(csv.fields + csv.rows * csv.cols, row, csv.cols * sizeof *row);
        csv.lines[csv.rows++] = row_line;
    }
    *ret = csv;
    return 0;
fail:
    csv_free(&csv);
    return -1;
}

int csv_column(const struct csv *csv, const char *name)
{
    for (size_t c = 0; c < csv->cols; c++)
        if (strcmp(csv->header[c], name) == 0)
            return (int)c;
    return -1;
}

int csv_int(const char *text, int64_t min, int64_t max, int64_t *ret)
{
    const char *p = text;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        while (*p == '0')
            p++;
    }
    if (*p || v < min || v > max)
        return -1;
    *ret = v;
    return 0;
}
