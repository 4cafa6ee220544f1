/* Wall-clock time for the shell (the core gets time as an argument). */
#ifndef GPUAAS_CLOCK_H
#define GPUAAS_CLOCK_H
#include <stdint.h>
/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);
/* Monotonic nanoseconds, for measuring durations. */
int64_t clock_mono_ns(void);
#endif
