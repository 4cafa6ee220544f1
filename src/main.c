/* gpuaas: one executable. `gpuaas server` runs the control plane; every
 * other verb is the client. */
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return server_main(argc - 1, argv + 1);
    return cli_main(argc, argv);
}
