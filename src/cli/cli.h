#ifndef GPUAAS_CLI_H
#define GPUAAS_CLI_H
/* Client verbs (`gpuaas get jobs`, `gpuaas submit -f x.yaml`, ...).
 * argv[0] is the program name, argv[1] the verb. Returns the exit code:
 * 0 ok, 1 the server refused, 2 usage error, 3 cannot reach the server. */
int cli_main(int argc, char **argv);
#endif
