/* gpuaas: one executable. `gpuaas server` runs the control plane; every
 * other verb is the client. */
#include <string.h>

#include "cli/cli.h"
#include "exec/shim.h"
#include "server/doctor.h"
#include "server/server.h"
#include "sim/sim.h"

int main(int argc, char **argv)
{
    /* the per-pod shim the local executor starts (not a user verb) */
    if (argc >= 2 && strcmp(argv[1], EXEC_SHIM_VERB) == 0)
        return exec_shim_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "doctor") == 0)
        return doctor_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sim") == 0)
        return sim_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return server_main(argc - 1, argv + 1);
    return cli_main(argc, argv);
}
