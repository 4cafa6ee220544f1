/* Renderers of the monthly report (core/report.h's JSON document): a flat
 * CSV table for spreadsheets and a two-page A4 PDF for executives (cairo
 * and pango, so any UTF-8 text finds a font). Both work from the JSON
 * alone, so a stored report renders the same at any later time. */
#ifndef GPUAAS_REPORT_RENDER_H
#define GPUAAS_REPORT_RENDER_H

#include <jansson.h>
#include <stddef.h>

#define REPORT_PDF_PAGES 2
#define REPORT_CSV_HEADER                                                                                         \
    "month,section,key,gpu_milli_ms,gpu_seconds,gpu_hours,pods,cost,currency,util_avg_pct,idle_gpu_seconds,"    \
    "mem_avg_bytes,list_cost,utilisation_discount,idle_cost"

/* One header line, then one line per row: sections total, previous_total,
 * change, org, project, namespace, model, capacity, top_consumer,
 * utilisation. Numbers the report does not have are "n/a". gpu_milli_ms is
 * exact; gpu_seconds is printed exactly from it. *ret_text is malloc'd. */
int report_render_csv(const json_t *report, char **ret_text, size_t *ret_len);

/* The PDF (REPORT_PDF_PAGES pages, A4 portrait) into a malloc'd buffer.
 * Safe to call from several threads (rendering is serialised). */
int report_render_pdf(const json_t *report, char **ret_data, size_t *ret_len);

#endif
