/* The executive PDF: two A4 pages, always.
 *   page 1: headline figures, cost per project, GPU-hours by model, spot vs
 *           on-demand, month over month;
 *   page 2: top 10 consumers, cost per organisation and project,
 *           utilisation distribution, idle allocated GPU-hours.
 * Lists longer than their space are cut with a line saying how many more
 * there are (the CSV has them all). Text goes through pango, whose font
 * fallback finds a glyph for any UTF-8 text among the installed fonts
 * (DejaVu first, Noto CJK for Chinese, Japanese and Korean). */
#include <cairo-pdf.h>
#include <cairo.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"
#include "report/render.h"

#define PAGE_W 595.276 /* A4 in points */
#define PAGE_H 841.89
#define MARGIN 40.0
#define CONTENT_W (PAGE_W - 2 * MARGIN)
#define FONT_FAMILY "DejaVu Sans, Noto Sans CJK SC, Noto Sans, sans-serif"

/* colours, 0xRRGGBB */
#define C_NAVY 0x1f2a44
#define C_TEXT 0x1f2937
#define C_MUTED 0x6b7280
#define C_RULE 0xe5e7eb
#define C_TILE 0xf3f5f9
#define C_STRIPE 0xf8fafc
#define C_BLUE 0x2f6db5
#define C_TEAL 0x2a9d8f
#define C_ORANGE 0xe76f51
#define C_GREY 0xb8c0cc
#define C_WHITE 0xffffff

static pthread_mutex_t render_lock = PTHREAD_MUTEX_INITIALIZER;

#ifdef __SANITIZE_ADDRESS__
/* Sanitizer builds: fontconfig, cairo, pango and glib keep process-wide
 * caches (fonts, font maps, type registries) until exit by design; they are
 * not leaks of ours. LeakSanitizer reads this hook at start. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libcairo.so\nleak:libpango-1.0.so\nleak:libpangocairo-1.0.so\n"
           "leak:libpangoft2-1.0.so\nleak:libglib-2.0.so\nleak:libgobject-2.0.so\nleak:libharfbuzz.so\n"
           "leak:libfreetype.so\n";
}
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }
#endif

enum align { AL_LEFT, AL_RIGHT, AL_CENTER };

struct pdf {
    cairo_t *cr;
    const json_t *report;
    const char *currency; /* "" when there are no prices */
    char month_name[40];  /* "November 2026" */
    char prev_name[40];
    char prev_short[16];  /* "Oct 2026" */
    char month_short[16];
};

/* ---- small helpers ------------------------------------------------------------ */

static void set_color(cairo_t *cr, unsigned rgb)
{
    cairo_set_source_rgb(cr, ((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0, (rgb & 0xff) / 255.0);
}

static void fill_rect(cairo_t *cr, double x, double y, double w, double h, unsigned rgb)
{
    set_color(cr, rgb);
    cairo_rectangle(cr, x, y, w, h);
    cairo_fill(cr);
}

static void hline(cairo_t *cr, double x, double y, double w, double width, unsigned rgb)
{
    set_color(cr, rgb);
    cairo_set_line_width(cr, width);
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x + w, y);
    cairo_stroke(cr);
}

static void rounded_rect(cairo_t *cr, double x, double y, double w, double h, double r)
{
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
}

/* Draws one line of text with its top at y, cut with an ellipsis to w
 * (w <= 0: no limit). Returns the height used. */
static double text(struct pdf *p, double x, double y, double w, enum align align, double size, bool bold,
                   unsigned rgb, const char *s)
{
    PangoLayout *layout = pango_cairo_create_layout(p->cr);
    PangoFontDescription *font = pango_font_description_from_string(FONT_FAMILY);
    pango_font_description_set_absolute_size(font, size * PANGO_SCALE);
    pango_font_description_set_weight(font, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(layout, font);
    pango_layout_set_text(layout, s, -1);
    if (w > 0) {
        pango_layout_set_width(layout, (int)(w * PANGO_SCALE));
        pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
        pango_layout_set_alignment(layout, align == AL_RIGHT    ? PANGO_ALIGN_RIGHT
                                           : align == AL_CENTER ? PANGO_ALIGN_CENTER
                                                                : PANGO_ALIGN_LEFT);
    }
    int width, height;
    pango_layout_get_pixel_size(layout, &width, &height);
    set_color(p->cr, rgb);
    cairo_move_to(p->cr, x, y);
    pango_cairo_show_layout(p->cr, layout);
    pango_font_description_free(font);
    g_object_unref(layout);
    return height;
}

/* Wrapped text within w; returns the height used. */
static double paragraph(struct pdf *p, double x, double y, double w, double size, unsigned rgb, const char *s)
{
    PangoLayout *layout = pango_cairo_create_layout(p->cr);
    PangoFontDescription *font = pango_font_description_from_string(FONT_FAMILY);
    pango_font_description_set_absolute_size(font, size * PANGO_SCALE);
    pango_layout_set_font_description(layout, font);
    pango_layout_set_width(layout, (int)(w * PANGO_SCALE));
    pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_text(layout, s, -1);
    int width, height;
    pango_layout_get_pixel_size(layout, &width, &height);
    set_color(p->cr, rgb);
    cairo_move_to(p->cr, x, y);
    pango_cairo_show_layout(p->cr, layout);
    pango_font_description_free(font);
    g_object_unref(layout);
    return height;
}

static bool number(const json_t *obj, const char *key, double *ret)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *ret = json_number_value(v);
    return true;
}

static double number_or_zero(const json_t *obj, const char *key)
{
    double v = 0;
    number(obj, key, &v);
    return v;
}

/* 1234567.891 with 2 decimals -> "1,234,567.89" */
static void thousands(double v, int decimals, char *out, size_t size)
{
    char digits[64];
    snprintf(digits, sizeof digits, "%.*f", decimals, fabs(v));
    if (fabs(v) >= 1e15) {
        snprintf(out, size, "%s%s", v < 0 ? "-" : "", digits);
        return;
    }
    const char *dot = strchr(digits, '.');
    size_t int_len = dot ? (size_t)(dot - digits) : strlen(digits);
    size_t o = 0;
    bool negative = v < 0 && strspn(digits, "0.") != strlen(digits);
    if (negative && o + 1 < size)
        out[o++] = '-';
    for (size_t i = 0; i < int_len && o + 2 < size; i++) {
        if (i > 0 && (int_len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    for (const char *d = dot; d && *d && o + 1 < size; d++)
        out[o++] = *d;
    out[o] = '\0';
}

static void money(const struct pdf *p, double v, char *out, size_t size)
{
    char amount[64];
    thousands(v, 2, amount, sizeof amount);
    snprintf(out, size, "%s%s%s", p->currency, p->currency[0] ? " " : "", amount);
}

/* whole units once the cents no longer matter to the reader */
static void money_compact(const struct pdf *p, double v, char *out, size_t size)
{
    char amount[64];
    thousands(v, fabs(v) >= 1000 ? 0 : 2, amount, sizeof amount);
    snprintf(out, size, "%s%s%s", p->currency, p->currency[0] ? " " : "", amount);
}

static void money_or_na(const struct pdf *p, const json_t *row, const char *key, char *out, size_t size)
{
    double v;
    if (number(row, key, &v))
        money(p, v, out, size);
    else
        snprintf(out, size, "n/a");
}

/* GPU-hours: whole hours when large, more decimals when small */
static void hours(double v, char *out, size_t size)
{
    double a = fabs(v);
    thousands(v, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 || a == 0 ? 2 : 3, out, size);
}

static void percent_or_na(const json_t *obj, const char *key, bool signed_change, char *out, size_t size)
{
    double v;
    if (!number(obj, key, &v))
        snprintf(out, size, "n/a");
    else if (signed_change)
        snprintf(out, size, "%s%.1f %%", v > 0 ? "+" : v < 0 ? "\u2212" : "\u00b1", fabs(v));
    else
        snprintf(out, size, "%.1f %%", v);
}

static void month_name(const char *month, bool abbreviated, char *out, size_t size)
{
    static const char *const names[] = {"January", "February", "March",     "April",   "May",      "June",
                                        "July",    "August",   "September", "October", "November", "December"};
    int y = 0, m = 0;
    if (month && sscanf(month, "%4d-%2d", &y, &m) == 2 && m >= 1 && m <= 12)
        snprintf(out, size, "%.*s %d", abbreviated ? 3 : 20, names[m - 1], y);
    else
        snprintf(out, size, "%s", month ? month : "?");
}

static const char *str(const json_t *obj, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : fallback;
}

/* "2026-12-01T00:00:00.000Z" -> "2026-12-01 00:00 UTC" */
static void short_time(const char *iso, char *out, size_t size)
{
    if (iso && strlen(iso) >= 16)
        snprintf(out, size, "%.10s %.5s UTC", iso, iso + 11);
    else
        snprintf(out, size, "%s", iso ? iso : "?");
}

static double share_of(double part, double whole) { return whole > 0 ? part * 100.0 / whole : 0; }

/* ---- building blocks ---------------------------------------------------------- */

static double section_title(struct pdf *p, double x, double y, double w, const char *title, const char *note)
{
    text(p, x, y, w, AL_LEFT, 11, true, C_NAVY, title);
    if (note)
        text(p, x, y + 2, w, AL_RIGHT, 7.5, false, C_MUTED, note);
    hline(p->cr, x, y + 17, w, 0.6, C_RULE);
    return 23;
}

static void tile(struct pdf *p, double x, double y, double w, double h, const char *label, const char *value,
                 const char *sub, unsigned sub_rgb)
{
    set_color(p->cr, C_TILE);
    rounded_rect(p->cr, x, y, w, h, 6);
    cairo_fill(p->cr);
    fill_rect(p->cr, x, y + 8, 3, h - 16, C_BLUE);
    text(p, x + 12, y + 9, w - 20, AL_LEFT, 7.5, true, C_MUTED, label);
    text(p, x + 12, y + 23, w - 20, AL_LEFT, 15, true, C_TEXT, value);
    text(p, x + 12, y + h - 18, w - 20, AL_LEFT, 7.5, false, sub_rgb, sub);
}

struct bar {
    char label[160];
    double value;
    char value_text[64];
    unsigned rgb;
};

/* Horizontal bars: label, bar scaled to the largest value, value text. */
static void hbars(struct pdf *p, double x, double y, double w, double h, const struct bar *bars, size_t n,
                  const char *empty_text)
{
    if (n == 0) {
        text(p, x, y + 4, w, AL_LEFT, 8.5, false, C_MUTED, empty_text);
        return;
    }
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (bars[i].value > max)
            max = bars[i].value;
    double row = h / (double)n;
    if (row > 19)
        row = 19;
    double label_w = w * 0.34, value_w = 78, bar_x = x + label_w + 6, bar_w = w - label_w - 6 - value_w - 4;
    double bar_h = row * 0.62;
    for (size_t i = 0; i < n; i++) {
        double ry = y + row * (double)i;
        text(p, x, ry + (row - 11) / 2, label_w, AL_LEFT, 8, false, C_TEXT, bars[i].label);
        double len = max > 0 ? bar_w * bars[i].value / max : 0;
        if (len < 1 && bars[i].value > 0)
            len = 1;
        fill_rect(p->cr, bar_x, ry + (row - bar_h) / 2, bar_w, bar_h, C_STRIPE);
        fill_rect(p->cr, bar_x, ry + (row - bar_h) / 2, len, bar_h, bars[i].rgb);
        text(p, bar_x + bar_w + 4, ry + (row - 11) / 2, value_w, AL_RIGHT, 8, false, C_TEXT, bars[i].value_text);
    }
}

struct col {
    const char *title;
    double width;
    enum align align;
};

#define TABLE_ROW_H 15.0

static double table_header(struct pdf *p, double x, double y, const struct col *cols, size_t ncols)
{
    double cx = x, w = 0;
    for (size_t c = 0; c < ncols; c++)
        w += cols[c].width;
    fill_rect(p->cr, x, y, w, TABLE_ROW_H + 2, C_NAVY);
    for (size_t c = 0; c < ncols; c++) {
        text(p, cx + 4, y + 3.5, cols[c].width - 8, cols[c].align, 7.5, true, C_WHITE, cols[c].title);
        cx += cols[c].width;
    }
    return TABLE_ROW_H + 2;
}

static double table_row(struct pdf *p, double x, double y, const struct col *cols, size_t ncols,
                        const char *const *cells, size_t index, bool bold, double indent_first)
{
    double cx = x, w = 0;
    for (size_t c = 0; c < ncols; c++)
        w += cols[c].width;
    if (index % 2 == 1)
        fill_rect(p->cr, x, y, w, TABLE_ROW_H, C_STRIPE);
    for (size_t c = 0; c < ncols; c++) {
        double pad = c == 0 ? indent_first : 0;
        text(p, cx + 4 + pad, y + 3, cols[c].width - 8 - pad, cols[c].align, 7.5, bold, C_TEXT, cells[c]);
        cx += cols[c].width;
    }
    hline(p->cr, x, y + TABLE_ROW_H, w, 0.4, C_RULE);
    return TABLE_ROW_H;
}

static void footer(struct pdf *p, int page)
{
    char left[256], right[64];
    snprintf(left, sizeof left, "gpuaas \u00b7 GPU usage and chargeback \u00b7 %s \u00b7 scope: %s", p->month_name,
             str(p->report, "scope", "platform"));
    snprintf(right, sizeof right, "page %d of %d", page, REPORT_PDF_PAGES);
    hline(p->cr, MARGIN, PAGE_H - 34, CONTENT_W, 0.6, C_RULE);
    text(p, MARGIN, PAGE_H - 29, CONTENT_W - 80, AL_LEFT, 7, false, C_MUTED, left);
    text(p, MARGIN, PAGE_H - 29, CONTENT_W, AL_RIGHT, 7, false, C_MUTED, right);
}

/* ---- page 1 ----------------------------------------------------------------- */

static void header_band(struct pdf *p, bool first)
{
    const json_t *r = p->report;
    double h = first ? 92 : 46;
    fill_rect(p->cr, 0, 0, PAGE_W, h, C_NAVY);
    const char *title = str(r, "title", NULL);
    char line[512], generated[64];
    short_time(str(r, "generated_at", NULL), generated, sizeof generated);
    if (!first) {
        snprintf(line, sizeof line, "%s \u2014 details", p->month_name);
        text(p, MARGIN, 15, CONTENT_W, AL_LEFT, 14, true, C_WHITE, line);
        return;
    }
    text(p, MARGIN, 16, CONTENT_W, AL_LEFT, 8.5, true, 0xaec6ea, title ? title : "gpuaas");
    snprintf(line, sizeof line, "GPU chargeback report \u2014 %s", p->month_name);
    text(p, MARGIN, 31, CONTENT_W, AL_LEFT, 19, true, C_WHITE, line);
    bool complete = json_is_true(json_object_get(r, "complete"));
    snprintf(line, sizeof line, "%s \u00b7 scope: %s \u00b7 generated %s",
             complete ? "complete month" : "month to date (not closed yet)", str(r, "scope", "platform"), generated);
    text(p, MARGIN, 64, CONTENT_W, AL_LEFT, 8.5, false, 0xd6e0f0, line);
}

static void tiles(struct pdf *p, double y)
{
    const json_t *r = p->report, *total = json_object_get(r, "total"), *change = json_object_get(r, "change");
    const json_t *idle = json_object_get(r, "idle");
    double gap = 10, w = (CONTENT_W - 3 * gap) / 4, h = 66;
    char value[96], sub[160], pct[32];

    double cost;
    char label[48];
    if (number(total, "cost", &cost))
        thousands(cost, fabs(cost) >= 1000 ? 0 : 2, value, sizeof value);
    else
        snprintf(value, sizeof value, "n/a");
    if (!p->currency[0])
        snprintf(value, sizeof value, "no prices");
    snprintf(label, sizeof label, "TOTAL COST%s%s%s", p->currency[0] ? " (" : "", p->currency,
             p->currency[0] ? ")" : "");
    percent_or_na(change, "cost_pct", true, pct, sizeof pct);
    snprintf(sub, sizeof sub, "%s vs %s", pct, p->prev_short);
    tile(p, MARGIN, y, w, h, label, value, sub, C_MUTED);

    hours(number_or_zero(total, "gpu_hours"), value, sizeof value);
    percent_or_na(change, "gpu_hours_pct", true, pct, sizeof pct);
    snprintf(sub, sizeof sub, "%s vs %s", pct, p->prev_short);
    tile(p, MARGIN + (w + gap), y, w, h, "GPU-HOURS", value, sub, C_MUTED);

    double util;
    if (number(total, "util_avg_pct", &util)) {
        snprintf(value, sizeof value, "%.1f %%", util);
        snprintf(sub, sizeof sub, "weighted by GPU time");
    } else {
        snprintf(value, sizeof value, "n/a");
        snprintf(sub, sizeof sub, "no utilisation samples");
    }
    tile(p, MARGIN + 2 * (w + gap), y, w, h, "AVG UTILISATION", value, sub, C_MUTED);

    double idle_h;
    if (number(idle, "idle_gpu_hours", &idle_h)) {
        hours(idle_h, value, sizeof value);
        percent_or_na(idle, "idle_share_pct", false, pct, sizeof pct);
        snprintf(sub, sizeof sub, "%s of GPU time", pct);
    } else {
        snprintf(value, sizeof value, "n/a");
        snprintf(sub, sizeof sub, "no utilisation samples");
    }
    tile(p, MARGIN + 3 * (w + gap), y, w, h, "IDLE GPU-HOURS", value, sub, C_MUTED);
}

/* Up to max rows by value, the rest summed into one "other" bar. */
static size_t top_bars(const struct pdf *p, const json_t *rows, bool by_cost, size_t max, struct bar *bars,
                       unsigned rgb)
{
    size_t n = json_array_size(rows), count = 0;
    bool *used = calloc(n ? n : 1, sizeof *used);
    if (!used)
        return 0;
    double other = 0;
    size_t others = 0;
    const char *key = by_cost ? "cost" : "gpu_hours";
    for (; count < max && count < n; count++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (!used[i] && (best == n || number_or_zero(json_array_get(rows, i), key) >
                                              number_or_zero(json_array_get(rows, best), key)))
                best = i;
        if (count + 1 == max && n > max)
            break; /* the last bar sums the rest */
        used[best] = true;
        const json_t *row = json_array_get(rows, best);
        struct bar *b = &bars[count];
        snprintf(b->label, sizeof b->label, "%s", str(row, "key", ""));
        b->value = number_or_zero(row, key);
        b->rgb = rgb;
        if (by_cost)
            money_or_na(p, row, "cost", b->value_text, sizeof b->value_text);
        else
            hours(b->value, b->value_text, sizeof b->value_text);
    }
    for (size_t i = 0; i < n; i++)
        if (!used[i]) {
            other += number_or_zero(json_array_get(rows, i), key);
            others++;
        }
    if (others) {
        struct bar *b = &bars[count++];
        snprintf(b->label, sizeof b->label, "%zu other%s", others, others == 1 ? "" : "s");
        b->value = other;
        b->rgb = C_GREY;
        if (by_cost)
            money(p, other, b->value_text, sizeof b->value_text);
        else
            hours(other, b->value_text, sizeof b->value_text);
    }
    free(used);
    return count;
}

static bool any_cost(const json_t *rows)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
        if (json_is_number(json_object_get(row, "cost")))
            return true;
    return false;
}

static void donut_capacity(struct pdf *p, double x, double y, double w, double h)
{
    const json_t *rows = json_object_get(p->report, "capacity");
    double total = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) total += number_or_zero(row, "gpu_hours");
    double r = h / 2 - 8, cx = x + r + 6, cy = y + h / 2;
    if (total <= 0) {
        text(p, x, y + 4, w, AL_LEFT, 8.5, false, C_MUTED, "No GPU time this month.");
        return;
    }
    double angle = -M_PI / 2;
    double ly = y + 10;
    json_array_foreach(rows, i, row) {
        const char *key = str(row, "key", "");
        unsigned rgb = strcmp(key, "spot") == 0 ? C_ORANGE : strcmp(key, "on-demand") == 0 ? C_BLUE : C_GREY;
        double part = number_or_zero(row, "gpu_hours") / total;
        set_color(p->cr, rgb);
        cairo_set_line_width(p->cr, r * 0.42);
        cairo_new_path(p->cr);
        cairo_arc(p->cr, cx, cy, r * 0.79, angle, angle + part * 2 * M_PI);
        cairo_stroke(p->cr);
        angle += part * 2 * M_PI;
        /* legend */
        char line[160], value[64], cost[64];
        hours(number_or_zero(row, "gpu_hours"), value, sizeof value);
        money_or_na(p, row, "cost", cost, sizeof cost);
        fill_rect(p->cr, cx + r + 14, ly + 2, 8, 8, rgb);
        snprintf(line, sizeof line, "%s \u00b7 %.1f %%", key, part * 100);
        text(p, cx + r + 26, ly, w - (cx + r + 26 - x), AL_LEFT, 8.5, true, C_TEXT, line);
        snprintf(line, sizeof line, "%s GPU-hours", value);
        text(p, cx + r + 26, ly + 12, w - (cx + r + 26 - x), AL_LEFT, 7.5, false, C_MUTED, line);
        text(p, cx + r + 26, ly + 22, w - (cx + r + 26 - x), AL_LEFT, 7.5, false, C_MUTED, cost);
        ly += 40;
    }
    char center[64];
    hours(total, center, sizeof center);
    text(p, cx - r, cy - 10, 2 * r, AL_CENTER, 9, true, C_TEXT, center);
    text(p, cx - r, cy + 2, 2 * r, AL_CENTER, 7, false, C_MUTED, "GPU-hours");
}

/* Previous and this month side by side, for GPU-hours and for cost. */
static void month_over_month(struct pdf *p, double x, double y, double w, double h)
{
    const json_t *cur = json_object_get(p->report, "total");
    const json_t *prev = json_object_get(json_object_get(p->report, "previous"), "total");
    const json_t *change = json_object_get(p->report, "change");
    struct {
        const char *label, *pct_key, *value_key;
        bool money;
    } groups[] = {{"GPU-hours", "gpu_hours_pct", "gpu_hours", false}, {"Cost", "cost_pct", "cost", true}};
    double gw = w / 2;
    for (int g = 0; g < 2; g++) {
        double gx = x + gw * g, values[2];
        bool have[2] = {number(prev, groups[g].value_key, &values[0]), number(cur, groups[g].value_key, &values[1])};
        char pct[32];
        percent_or_na(change, groups[g].pct_key, true, pct, sizeof pct);
        text(p, gx, y, gw - 8, AL_LEFT, 9, true, C_TEXT, groups[g].label);
        text(p, gx, y + 12, gw - 8, AL_LEFT, 8, false, C_MUTED, pct);
        double max = 0;
        for (int i = 0; i < 2; i++)
            if (have[i] && values[i] > max)
                max = values[i];
        double base = y + h - 14, top = y + 42, bw = 34;
        for (int i = 0; i < 2; i++) {
            double bx = gx + 12 + i * (bw + 20);
            double bh = have[i] && max > 0 ? (base - top) * values[i] / max : 0;
            fill_rect(p->cr, bx, base - bh, bw, bh, i == 0 ? C_GREY : C_BLUE);
            char value[64];
            if (!have[i])
                snprintf(value, sizeof value, "n/a");
            else if (groups[g].money)
                money_compact(p, values[i], value, sizeof value);
            else
                hours(values[i], value, sizeof value);
            text(p, bx - 12, base - bh - 12, bw + 24, AL_CENTER, 7, false, C_TEXT, value);
            text(p, bx - 12, base + 3, bw + 24, AL_CENTER, 7, false, C_MUTED,
                 i == 0 ? p->prev_short : p->month_short);
        }
        hline(p->cr, gx + 6, base, bw * 2 + 32, 0.6, C_MUTED);
    }
}

/* Each organisation's cost (or GPU-hours) last month and this one. */
static void org_change_table(struct pdf *p, double x, double y, double w, double h)
{
    const json_t *orgs = json_object_get(p->report, "orgs");
    const json_t *prev_orgs = json_object_get(json_object_get(p->report, "previous"), "orgs");
    bool by_cost = p->currency[0] && (any_cost(orgs) || any_cost(prev_orgs));
    const char *key = by_cost ? "cost" : "gpu_hours";
    char prev_title[48], cur_title[48];
    snprintf(prev_title, sizeof prev_title, "%s", p->prev_short);
    snprintf(cur_title, sizeof cur_title, "%s", p->month_short);
    struct col cols[] = {{by_cost ? "Organisation (cost)" : "Organisation (GPU-h)", w * 0.36, AL_LEFT},
                         {prev_title, w * 0.23, AL_RIGHT},
                         {cur_title, w * 0.23, AL_RIGHT},
                         {"Change", w * 0.18, AL_RIGHT}};
    y += table_header(p, x, y, cols, 4);
    size_t rows_max = (size_t)((h - 17) / TABLE_ROW_H), n = json_array_size(orgs), m = json_array_size(prev_orgs);
    /* this month's organisations by value, then those only in the month before */
    size_t total = n + m, shown = 0;
    bool *done = calloc(total ? total : 1, sizeof *done);
    if (!done)
        return;
    for (size_t k = 0; k < total && shown < rows_max; k++) {
        size_t best = total;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && (best == total || number_or_zero(json_array_get(orgs, i), key) >
                                                  number_or_zero(json_array_get(orgs, best), key)))
                best = i;
        const json_t *cur = NULL, *before = NULL;
        const char *org;
        if (best < n) {
            cur = json_array_get(orgs, best);
            org = str(cur, "key", "");
        } else {
            size_t j = 0;
            for (; j < m; j++) {
                const char *pk = str(json_array_get(prev_orgs, j), "key", "");
                bool listed = false;
                for (size_t i = 0; i < n; i++)
                    listed |= strcmp(str(json_array_get(orgs, i), "key", ""), pk) == 0;
                if (!done[n + j] && !listed)
                    break;
            }
            if (j == m)
                break;
            best = n + j;
            org = str(json_array_get(prev_orgs, j), "key", "");
        }
        done[best] = true;
        for (size_t j = 0; j < m; j++)
            if (strcmp(str(json_array_get(prev_orgs, j), "key", ""), org) == 0)
                before = json_array_get(prev_orgs, j);
        char a[64], b[64], c[32];
        double pv = number_or_zero(before, key), cv = number_or_zero(cur, key);
        if (by_cost) {
            money_compact(p, pv, a, sizeof a);
            money_compact(p, cv, b, sizeof b);
        } else {
            hours(pv, a, sizeof a);
            hours(cv, b, sizeof b);
        }
        if (pv > 0)
            snprintf(c, sizeof c, "%s%.1f %%", cv >= pv ? "+" : "\u2212", fabs(cv - pv) * 100 / pv);
        else
            snprintf(c, sizeof c, cv > 0 ? "new" : "\u2013");
        const char *cells[] = {org, a, b, c};
        y += table_row(p, x, y, cols, 4, cells, shown++, false, 0);
    }
    free(done);
    if (shown == 0)
        text(p, x + 4, y + 4, w, AL_LEFT, 8, false, C_MUTED, "No GPU time in either month.");
}

static void page_one(struct pdf *p)
{
    const json_t *r = p->report;
    struct bar bars[12];
    header_band(p, true);
    double y = 108;
    tiles(p, y);
    y += 84;

    const json_t *projects = json_object_get(r, "projects");
    bool by_cost = p->currency[0] && any_cost(projects);
    char note[96];
    snprintf(note, sizeof note, "top 9 by %s, the rest summed", by_cost ? "cost" : "GPU-hours");
    y += section_title(p, MARGIN, y, CONTENT_W, by_cost ? "Cost per project" : "GPU-hours per project", note);
    size_t n = top_bars(p, projects, by_cost, 10, bars, C_BLUE);
    hbars(p, MARGIN, y, CONTENT_W, 190, bars, n, "No GPU time this month.");
    y += 200;

    double half = (CONTENT_W - 24) / 2;
    section_title(p, MARGIN, y, half, "GPU-hours by model", NULL);
    section_title(p, MARGIN + half + 24, y, half, "Spot vs on-demand", "share of GPU-hours");
    y += 23;
    n = top_bars(p, json_object_get(r, "models"), false, 6, bars, C_TEAL);
    hbars(p, MARGIN, y, half, 120, bars, n, "No GPU time this month.");
    donut_capacity(p, MARGIN + half + 24, y, half, 120);
    y += 134;

    char title[160];
    snprintf(title, sizeof title, "Month over month: %s vs %s", p->month_name, p->prev_name);
    y += section_title(p, MARGIN, y, CONTENT_W, title, NULL);
    month_over_month(p, MARGIN, y, half, PAGE_H - 52 - y);
    org_change_table(p, MARGIN + half + 24, y, half, PAGE_H - 52 - y);
    footer(p, 1);
}

/* ---- page 2 ----------------------------------------------------------------- */

static void top_consumers_table(struct pdf *p, double y)
{
    const json_t *r = p->report, *total = json_object_get(r, "total");
    double all = number_or_zero(total, "gpu_hours");
    static const struct col cols[] = {{"#", 22, AL_RIGHT},         {"Namespace", 165, AL_LEFT},
                                      {"GPU-hours", 62, AL_RIGHT}, {"Share", 44, AL_RIGHT},
                                      {"Pods", 40, AL_RIGHT},      {"Cost", 78, AL_RIGHT},
                                      {"Avg util", 48, AL_RIGHT},  {"Idle GPU-h", 56, AL_RIGHT}};
    const size_t ncols = sizeof cols / sizeof cols[0];
    y += table_header(p, MARGIN, y, cols, ncols);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "top_consumers"), i, row) {
        char rank[8], h[48], share[24], pods[24], cost[64], util[24], idle[48];
        double v;
        snprintf(rank, sizeof rank, "%zu", i + 1);
        hours(number_or_zero(row, "gpu_hours"), h, sizeof h);
        snprintf(share, sizeof share, "%.1f %%", share_of(number_or_zero(row, "gpu_hours"), all));
        thousands(number_or_zero(row, "pods"), 0, pods, sizeof pods);
        money_or_na(p, row, "cost", cost, sizeof cost);
        percent_or_na(row, "util_avg_pct", false, util, sizeof util);
        if (number(row, "idle_gpu_seconds", &v))
            hours(v / 3600.0, idle, sizeof idle);
        else
            snprintf(idle, sizeof idle, "n/a");
        const char *cells[] = {rank, str(row, "key", ""), h, share, pods, cost, util, idle};
        y += table_row(p, MARGIN, y, cols, ncols, cells, i, false, 0);
    }
    if (i == 0)
        text(p, MARGIN + 4, y + 4, CONTENT_W, AL_LEFT, 8, false, C_MUTED, "No GPU time this month.");
}

static bool within_org(const char *project, const char *org)
{
    size_t n = strlen(org);
    return strncmp(project, org, n) == 0 && (project[n] == '/' || project[n] == '\0');
}

/* Organisations by cost (or GPU time), each followed by its projects,
 * until max_rows; a last line says what did not fit. */
static void org_project_table(struct pdf *p, double y, size_t max_rows)
{
    const json_t *r = p->report, *orgs = json_object_get(r, "orgs"), *projects = json_object_get(r, "projects");
    double all = number_or_zero(json_object_get(r, "total"), "gpu_hours");
    static const struct col cols[] = {{"Organisation / project", 227, AL_LEFT}, {"GPU-hours", 70, AL_RIGHT},
                                      {"Share", 50, AL_RIGHT},                {"Pods", 50, AL_RIGHT},
                                      {"Cost", 118, AL_RIGHT}};
    const size_t ncols = sizeof cols / sizeof cols[0];
    y += table_header(p, MARGIN, y, cols, ncols);
    size_t norgs = json_array_size(orgs), shown = 0, hidden_projects = 0, hidden_orgs = 0;
    bool *done = calloc(norgs ? norgs : 1, sizeof *done);
    if (!done)
        return;
    const char *key = p->currency[0] && any_cost(orgs) ? "cost" : "gpu_hours";
    for (size_t k = 0; k < norgs; k++) {
        size_t best = norgs;
        for (size_t i = 0; i < norgs; i++)
            if (!done[i] && (best == norgs || number_or_zero(json_array_get(orgs, i), key) >
                                                  number_or_zero(json_array_get(orgs, best), key)))
                best = i;
        done[best] = true;
        const json_t *org = json_array_get(orgs, best);
        const char *org_key = str(org, "key", "");
        size_t i;
        json_t *proj;
        size_t org_projects = 0;
        json_array_foreach(projects, i, proj) org_projects += within_org(str(proj, "key", ""), org_key) &&
                                                              strcmp(str(proj, "key", ""), org_key) != 0;
        if (shown + 1 >= max_rows) {
            hidden_orgs++;
            hidden_projects += org_projects;
            continue;
        }
        char h[48], share[24], pods[24], cost[64];
        hours(number_or_zero(org, "gpu_hours"), h, sizeof h);
        snprintf(share, sizeof share, "%.1f %%", share_of(number_or_zero(org, "gpu_hours"), all));
        thousands(number_or_zero(org, "pods"), 0, pods, sizeof pods);
        money_or_na(p, org, "cost", cost, sizeof cost);
        const char *cells[] = {org_key, h, share, pods, cost};
        y += table_row(p, MARGIN, y, cols, ncols, cells, shown++, true, 0);
        json_array_foreach(projects, i, proj) {
            const char *pk = str(proj, "key", "");
            if (!within_org(pk, org_key) || strcmp(pk, org_key) == 0)
                continue;
            if (shown + 1 >= max_rows) {
                hidden_projects++;
                continue;
            }
            hours(number_or_zero(proj, "gpu_hours"), h, sizeof h);
            snprintf(share, sizeof share, "%.1f %%", share_of(number_or_zero(proj, "gpu_hours"), all));
            thousands(number_or_zero(proj, "pods"), 0, pods, sizeof pods);
            money_or_na(p, proj, "cost", cost, sizeof cost);
            const char *pcells[] = {pk + strlen(org_key) + 1, h, share, pods, cost};
            y += table_row(p, MARGIN, y, cols, ncols, pcells, shown++, false, 12);
        }
    }
    free(done);
    if (norgs == 0)
        text(p, MARGIN + 4, y + 4, CONTENT_W, AL_LEFT, 8, false, C_MUTED, "No GPU time this month.");
    if (hidden_orgs || hidden_projects) {
        char line[160];
        char orgs_text[64] = "";
        if (hidden_orgs)
            snprintf(orgs_text, sizeof orgs_text, "%zu more organisation%s and ", hidden_orgs,
                     hidden_orgs == 1 ? "" : "s");
        snprintf(line, sizeof line, "\u2026 %s%zu more project%s (the CSV lists them all)", orgs_text,
                 hidden_projects, hidden_projects == 1 ? "" : "s");
        text(p, MARGIN + 4, y + 3, CONTENT_W, AL_LEFT, 7.5, false, C_MUTED, line);
    }
}

static void utilisation_block(struct pdf *p, double x, double y, double w)
{
    const json_t *util = json_object_get(p->report, "utilisation"), *buckets = json_object_get(util, "buckets");
    static const unsigned colors[] = {0xd1495b, 0xedae49, 0x66a182, 0x2e4057, C_GREY};
    double all = 0;
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b) all += number_or_zero(b, "gpu_hours");
    /* one stacked bar of the whole month */
    double bx = x, bw = w;
    fill_rect(p->cr, bx, y, bw, 12, C_STRIPE);
    json_array_foreach(buckets, i, b) {
        double part = all > 0 ? number_or_zero(b, "gpu_hours") / all : 0;
        fill_rect(p->cr, bx, y, bw * part, 12, colors[i < 5 ? i : 4]);
        bx += bw * part;
    }
    y += 20;
    struct col cols[] = {{"Per-pod utilisation", w * 0.40, AL_LEFT},
                         {"GPU-hours", w * 0.22, AL_RIGHT},
                         {"Share", w * 0.18, AL_RIGHT},
                         {"Pods", w * 0.20, AL_RIGHT}};
    y += table_header(p, x, y, cols, 4);
    json_array_foreach(buckets, i, b) {
        char label[48], h[48], share[24], pods[24];
        const char *key = str(b, "key", "");
        if (strcmp(key, "n/a") == 0)
            snprintf(label, sizeof label, "n/a (no samples)");
        else
            snprintf(label, sizeof label, "%s %%", key);
        hours(number_or_zero(b, "gpu_hours"), h, sizeof h);
        snprintf(share, sizeof share, "%.1f %%", share_of(number_or_zero(b, "gpu_hours"), all));
        thousands(number_or_zero(b, "pods"), 0, pods, sizeof pods);
        const char *cells[] = {label, h, share, pods};
        table_row(p, x, y, cols, 4, cells, i, false, 10);
        fill_rect(p->cr, x + 4, y + 4.5, 6, 6, colors[i < 5 ? i : 4]);
        y += TABLE_ROW_H;
    }
}

static void idle_block(struct pdf *p, double x, double y, double w)
{
    const json_t *idle = json_object_get(p->report, "idle");
    char value[64], line[256], pct[32], cost[64];
    double h;
    set_color(p->cr, C_TILE);
    rounded_rect(p->cr, x, y, w, 112, 6);
    cairo_fill(p->cr);
    if (number(idle, "idle_gpu_hours", &h)) {
        hours(h, value, sizeof value);
        percent_or_na(idle, "idle_share_pct", false, pct, sizeof pct);
        money_or_na(p, idle, "idle_cost", cost, sizeof cost);
        text(p, x + 12, y + 10, w - 24, AL_LEFT, 22, true, C_TEXT, value);
        snprintf(line, sizeof line, "GPU-hours allocated but idle \u00b7 %s of all allocated time \u00b7 idle cost %s",
                 pct, cost);
    } else {
        text(p, x + 12, y + 10, w - 24, AL_LEFT, 22, true, C_MUTED, "n/a");
        snprintf(line, sizeof line, "No GPU utilisation samples cover this month, so idle time cannot be told.");
    }
    double used = paragraph(p, x + 12, y + 42, w - 24, 7.5, C_TEXT, line);
    paragraph(p, x + 12, y + 46 + used, w - 24, 7, C_MUTED,
              "Idle: allocated GPU time whose samples were below 10 % utilisation. Allocated time is charged "
              "whether the GPUs are busy or not.");
}

static void page_two(struct pdf *p)
{
    header_band(p, false);
    double y = 62;
    y += section_title(p, MARGIN, y, CONTENT_W, "Top 10 consumers", "namespaces by GPU time");
    top_consumers_table(p, y);
    y += 17 + 10 * TABLE_ROW_H + 16;
    y += section_title(p, MARGIN, y, CONTENT_W, "Cost per organisation and project", "organisations by cost");
    org_project_table(p, y, 18);
    y += 17 + 18 * TABLE_ROW_H + 18;
    double half = (CONTENT_W - 24) / 2;
    section_title(p, MARGIN, y, half, "Utilisation distribution", NULL);
    section_title(p, MARGIN + half + 24, y, half, "Idle allocated GPU-hours", NULL);
    y += 25;
    utilisation_block(p, MARGIN, y, half);
    idle_block(p, MARGIN + half + 24, y, half);
    y += 124;
    char note[512], from[64], to[64];
    short_time(str(p->report, "from", NULL), from, sizeof from);
    short_time(str(p->report, "to", NULL), to, sizeof to);
    snprintf(note, sizeof note,
             "Period %s to %s. GPU-hours are allocated time, from a pod's placement to its end, exact to the "
             "millisecond; MIG slices and GPU shares count as their part of a GPU. Costs use the configured "
             "price per GPU-hour of each model and capacity type; \"n/a\" means the figure is not available "
             "for this month.",
             from, to);
    paragraph(p, MARGIN, y, CONTENT_W, 7, C_MUTED, note);
    footer(p, 2);
}

/* ---- output ----------------------------------------------------------------- */

struct sink {
    char *data;
    size_t len, cap;
    bool failed;
};

static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int length)
{
    struct sink *s = closure;
    if (s->len + length > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + length)
            cap *= 2;
        char *grown = realloc(s->data, cap);
        if (!grown) {
            s->failed = true;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, length);
    s->len += length;
    return CAIRO_STATUS_SUCCESS;
}

int report_render_pdf(const json_t *report, char **ret_data, size_t *ret_len)
{
    const char *month = json_string_value(json_object_get(report, "month"));
    if (!month || !json_is_object(json_object_get(report, "total")))
        return GPUAAS_EINVAL;
    struct sink sink = {0};
    struct pdf p = {.report = report, .currency = str(report, "currency", "")};
    char prev[16];
    snprintf(prev, sizeof prev, "%s", str(json_object_get(report, "previous"), "month", "?"));
    month_name(month, false, p.month_name, sizeof p.month_name);
    month_name(prev, false, p.prev_name, sizeof p.prev_name);
    month_name(prev, true, p.prev_short, sizeof p.prev_short);
    month_name(month, true, p.month_short, sizeof p.month_short);

    pthread_mutex_lock(&render_lock);
    cairo_surface_t *surface = cairo_pdf_surface_create_for_stream(sink_write, &sink, PAGE_W, PAGE_H);
    char meta[160];
    snprintf(meta, sizeof meta, "GPU usage and chargeback %s", month);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, meta);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "gpuaas");
    /* the document's date is the report's, so a stored report renders the same */
    const char *generated = str(report, "generated_at", NULL);
    if (generated && strlen(generated) >= 19) {
        snprintf(meta, sizeof meta, "%.19s", generated);
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, meta);
    }
    p.cr = cairo_create(surface);
    page_one(&p);
    cairo_show_page(p.cr);
    page_two(&p);
    cairo_show_page(p.cr);
    cairo_status_t status = cairo_status(p.cr);
    cairo_destroy(p.cr);
    cairo_surface_finish(surface);
    if (status == CAIRO_STATUS_SUCCESS)
        status = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    pthread_mutex_unlock(&render_lock);
    if (status != CAIRO_STATUS_SUCCESS || sink.failed) {
        free(sink.data);
        return sink.failed ? GPUAAS_ENOMEM : GPUAAS_EIO;
    }
    *ret_data = sink.data;
    *ret_len = sink.len;
    return 0;
}
