# gpuaas build. `make run` and `make test` install missing Debian packages
# first (scripts/install-deps), so a fresh Debian 12 machine needs nothing else.
CC := gcc
PKGS := libmicrohttpd jansson libfyaml sqlite3 libcurl libsodium libcrypto cairo pangocairo
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# snprintf truncation is the intended, bounded behaviour everywhere, so that
# warning is off; every other warning is an error.
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla -Wno-format-truncation
BASE_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) -Iinclude -Isrc $(PKG_CFLAGS) -MMD -MP
RELEASE_CFLAGS := -O2 -g
TEST_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDLIBS = $(PKG_LIBS) -lpthread -lm -ldl

# Everything under src/ except the program entry point goes into libgpuaas.a.
LIB_SRCS := $(filter-out src/main.c src/fakenvml/%,$(shell find src -name '*.c' | sort))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_SUPPORT := $(filter-out $(INTEG_SRCS),$(wildcard tests/integration/*.c))
BENCH_SRCS := $(wildcard bench/bench_*.c)
# the dashboard (web/) is compiled into the binary: scripts/embed-web
# turns its files into build/gen/web_assets.c, part of libgpuaas.a
WEB_FILES := $(sort $(wildcard web/*))
GEN_SRCS := build/gen/web_assets.c

REL := build/release
TST := build/test

.PHONY: all deps run test test-build bench clean
all: $(REL)/gpuaas

# the fake NVML shared library (tests and GPU-less hosts); defines FAKENVML_LIBS
include mk/fakenvml.mk

deps:
	@scripts/install-deps

build/gen/web_assets.c: web $(WEB_FILES) scripts/embed-web
	@mkdir -p $(dir $@)
	scripts/embed-web $(WEB_FILES) > $@.tmp && mv $@.tmp $@

# ---- release build -------------------------------------------------------
$(REL)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) -c $< -o $@

$(REL)/libgpuaas.a: $(LIB_SRCS:%.c=$(REL)/obj/%.o) $(GEN_SRCS:%.c=$(REL)/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(REL)/gpuaas: $(REL)/obj/src/main.o $(REL)/libgpuaas.a
	$(CC) $(RELEASE_CFLAGS) -o $@ $^ $(LDLIBS)

$(REL)/bench_%: $(REL)/obj/bench/bench_%.o $(REL)/libgpuaas.a
	$(CC) $(RELEASE_CFLAGS) -o $@ $^ $(LDLIBS)

# ---- sanitizer (test) build ----------------------------------------------
$(TST)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) -c $< -o $@

$(TST)/libgpuaas.a: $(LIB_SRCS:%.c=$(TST)/obj/%.o) $(GEN_SRCS:%.c=$(TST)/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(TST)/gpuaas: $(TST)/obj/src/main.o $(TST)/libgpuaas.a
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LDLIBS)

$(TST)/unit/%: $(TST)/obj/tests/unit/%.o $(TST)/libgpuaas.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(TST)/integration/%: $(TST)/obj/tests/integration/%.o $(INTEG_SUPPORT:%.c=$(TST)/obj/%.o) $(TST)/libgpuaas.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

test-build: $(TST)/gpuaas $(REL)/gpuaas $(FAKENVML_LIBS) \
	$(UNIT_SRCS:tests/unit/%.c=$(TST)/unit/%) \
	$(INTEG_SRCS:tests/integration/%.c=$(TST)/integration/%)

# ---- the README's commands -----------------------------------------------
# make run ARGS="--listen 127.0.0.1:9090 --data /tmp/gpuaas"
run: deps
	@$(MAKE) --no-print-directory $(REL)/gpuaas $(REL)/libnvidia-ml-fake.so
	exec $(REL)/gpuaas server $(ARGS)

# the tests also run promtool and a real Prometheus (prometheus) and load
# the dashboard in headless Chromium (chromium)
TEST_PACKAGES := prometheus chromium
test: deps
	@scripts/install-deps $(TEST_PACKAGES)
	@$(MAKE) --no-print-directory -j$$(nproc) test-build
	@tests/run-tests

bench: deps
	@scripts/install-deps wrk
	@$(MAKE) --no-print-directory $(REL)/gpuaas $(REL)/libnvidia-ml-fake.so $(BENCH_SRCS:bench/%.c=$(REL)/%)
	@bench/run-place
	@bench/run
	@bench/run-wrk
	@bench/run-load

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
