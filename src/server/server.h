#ifndef GPUAAS_SERVER_H
#define GPUAAS_SERVER_H
/* `gpuaas server [--config FILE] [--listen ADDR:PORT] [--data DIR]`.
 * argv[0] is "server". Returns the process exit code. */
int server_main(int argc, char **argv);
#endif
