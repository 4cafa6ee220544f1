#include "lib/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "gpuaas/error.h"

static pthread_once_t offset_once = PTHREAD_ONCE_INIT;
static int64_t offset_ms;
static int offset_err;

static void offset_load(void)
{
    const char *text = getenv(CLOCK_OFFSET_ENV);
    if (!text || !*text)
        return;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v > CLOCK_OFFSET_MAX_MS || v < -CLOCK_OFFSET_MAX_MS) {
        offset_err = GPUAAS_EINVAL;
        return;
    }
    offset_ms = v;
}

int clock_offset_ms(int64_t *ret_offset_ms)
{
    pthread_once(&offset_once, offset_load);
    *ret_offset_ms = offset_ms;
    return offset_err;
}

int64_t clock_now_ms(void)
{
    struct timespec ts;
    pthread_once(&offset_once, offset_load);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + offset_ms;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
