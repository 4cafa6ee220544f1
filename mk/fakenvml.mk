# The fake NVML (src/fakenvml/, see docs/fake-nvml.md): a shared library
# that tests and `make run` dlopen in place of libnvidia-ml.so.1. Included
# by the Makefile, which must keep src/fakenvml/ out of libgpuaas.a.
#
# No sanitizer flags: the .so is loaded into other processes (instrumented
# or not) and has nothing to free. -fvisibility=hidden: only the NVML entry
# points are exported. The -min variant exports just the entry points
# gpuaas cannot do without, to test how it copes with a partial library.

# Including this file must not change the Makefile's default goal.
fakenvml_saved_goal := $(.DEFAULT_GOAL)

FAKENVML_SRCS := $(wildcard src/fakenvml/*.c)
FAKENVML_DEPS := $(FAKENVML_SRCS) $(wildcard src/fakenvml/*.h) src/gpu/nvml_types.h mk/fakenvml.mk
FAKENVML_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) -Isrc -O2 -g -fPIC -fvisibility=hidden
FAKENVML_LIBS := $(REL)/libnvidia-ml-fake.so $(TST)/libnvidia-ml-fake.so \
	$(TST)/libnvidia-ml-fake-min.so

$(REL)/libnvidia-ml-fake.so $(TST)/libnvidia-ml-fake.so: $(FAKENVML_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(FAKENVML_CFLAGS) -shared -o $@ $(FAKENVML_SRCS) -lpthread

$(TST)/libnvidia-ml-fake-min.so: $(FAKENVML_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(FAKENVML_CFLAGS) -DFAKENVML_CORE_ONLY -shared -o $@ $(FAKENVML_SRCS) -lpthread

.PHONY: fakenvml
fakenvml: $(FAKENVML_LIBS)

.DEFAULT_GOAL := $(fakenvml_saved_goal)
