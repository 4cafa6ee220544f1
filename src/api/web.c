#include "api/web.h"

#include <string.h>

const struct web_asset *web_find(const char *name)
{
    for (unsigned i = 0; i < web_asset_count; i++)
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    return NULL;
}

const char *web_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},    {".svg", "image/svg+xml"},
        {".png", "image/png"},                        {".json", "application/json"},
        {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}
