/* Wall-clock time for the shell (the core gets time as an argument). */
#ifndef GPUAAS_CLOCK_H
#define GPUAAS_CLOCK_H
#include <stdint.h>

/* For tests only: GPUAAS_CLOCK_OFFSET_MS=N (a decimal, may be negative)
 * shifts the wall clock of every gpuaas process that has it in its
 * environment by N ms, so a test can start a server a few seconds before a
 * month boundary. An offset (not a fixed time) keeps the server and the
 * processes it starts on the same clock. */
#define CLOCK_OFFSET_ENV "GPUAAS_CLOCK_OFFSET_MS"
#define CLOCK_OFFSET_MAX_MS (100LL * 366 * 86400 * 1000)

/* Milliseconds since the Unix epoch (CLOCK_REALTIME, plus the offset). */
int64_t clock_now_ms(void);
/* The offset in force (0 when none). GPUAAS_EINVAL when the variable is set
 * but is not an integer within +-CLOCK_OFFSET_MAX_MS (it is then ignored). */
int clock_offset_ms(int64_t *ret_offset_ms);
/* Monotonic nanoseconds, for measuring durations. */
int64_t clock_mono_ns(void);
#endif
