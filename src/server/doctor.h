#ifndef GPUAAS_SERVER_DOCTOR_H
#define GPUAAS_SERVER_DOCTOR_H
/* `gpuaas doctor`: what this host can enforce and offer (GPUs and how they
 * are found, driver version, cgroup controllers, network namespaces).
 * argv[0] is "doctor". Returns the exit code. */
int doctor_main(int argc, char **argv);
#endif
