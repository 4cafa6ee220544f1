/* `gpuaas sim --timeline` / `gpuaas sim --philly`: time-based trace replay
 * through the live scheduler (src/core) on virtual time. */
#ifndef GPUAAS_SIM_REPLAY_H
#define GPUAAS_SIM_REPLAY_H

/* argv[0] is "sim". Returns the exit code (0, 2 on bad usage or input). */
int sim_replay_main(int argc, char **argv);

#endif
