/* The dashboard's static files (web/), embedded into the binary at build
 * time by scripts/embed-web (build/gen/web_assets.c) and served at /ui. */
#ifndef GPUAAS_API_WEB_H
#define GPUAAS_API_WEB_H

#include <stddef.h>

struct web_asset {
    const char *name; /* base name: "index.html" */
    const unsigned char *data;
    size_t len;
};

extern const struct web_asset web_assets[];
extern const unsigned web_asset_count;

/* The file of that base name, or NULL. */
const struct web_asset *web_find(const char *name);
/* By extension; "application/octet-stream" when unknown. */
const char *web_content_type(const char *name);

#endif
