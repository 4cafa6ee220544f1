/* The pod shim: a small process, one per pod, that outlives the server.
 * The local exec driver starts it by re-executing the current program as
 * `<exe> __exec-shim <pod_dir>`; main() must route that verb here. */
#ifndef GPUAAS_EXEC_SHIM_H
#define GPUAAS_EXEC_SHIM_H

#define EXEC_SHIM_VERB "__exec-shim"

/* argv[1] is EXEC_SHIM_VERB, argv[2] the pod directory. Runs the pod to its
 * end, writes the exit record and returns the shim's exit status. */
int exec_shim_main(int argc, char **argv);

#endif
