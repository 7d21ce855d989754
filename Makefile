# graft: build the C core and the Lua module, run the tests.
#   make              build build/graft/core.so (+ build/libgraftcore.a for C tests/bench)
#   make test         install missing Debian packages (with the tests' PyTorch oracle), build,
#                     run the fast tier under prove
#   make test-slow    the slow tier (full-size parity, soak, fault injection)
#   make test SANITIZE=1   the fast tier with AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench        benchmarks against OpenBLAS and PyTorch on this machine
#   make example      run examples/quickstart.lua
#   make demo         transfer the shipped model to new classes (examples/transfer_fmnist.lua);
#                     installs only what graft and the demo need (no PyTorch)
#   make docs         the API reference from the doc comments, with LDoc (build/docs/api/)
#   make examples     examples/embed/host, a C program that embeds Lua and graft
#   make install      PREFIX=/usr/local: Lua modules, graft command, libgraft + graft.h + graft.pc, docs

MULTIARCH  ?= $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LUA_INC    ?= /usr/include/lua5.4
# Where each library is: LuaRocks passes the *_INCDIR/*_LIBDIR it found (OPENBLAS_DIR=...
# and the like on its command line); the defaults are Debian's. OpenBLAS is chosen by path,
# never by Debian's alternatives: the OpenMP build in its subdirectory when there is one, so
# OpenBLAS and graft share libgomp's threads.
OPENBLAS_INCDIR ?= /usr/include
OPENBLAS_LIBDIR ?= /usr/lib/$(MULTIARCH)
OPENBLAS_INC ?= $(firstword $(wildcard $(OPENBLAS_INCDIR)/$(MULTIARCH)/openblas-openmp \
                  $(OPENBLAS_INCDIR)/openblas-openmp) $(OPENBLAS_INCDIR)/$(MULTIARCH) $(OPENBLAS_INCDIR))
OPENBLAS_LIB ?= $(firstword $(wildcard $(OPENBLAS_LIBDIR)/openblas-openmp) $(OPENBLAS_LIBDIR))
DEP_INC = $(foreach d,CJSON PNG JPEG Z,$(if $($(d)_INCDIR),-I$($(d)_INCDIR)))
DEP_LIB = $(foreach d,CJSON PNG JPEG Z,$(if $($(d)_LIBDIR),-L$($(d)_LIBDIR)))

# CFLAGS and LDFLAGS are the user's (LuaRocks sets them); what graft needs is added apart.
CC      ?= gcc
CFLAGS  ?= -O3 -g
WARN     = -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# -fno-trapping-math: graft never reads floating-point exception flags, and without them
# the compiler may turn the selects in activation and clamping loops into vector blends.
# OpenMP: gcc's libgomp, the runtime Debian's OpenMP OpenBLAS uses (clang: -fopenmp=libgomp).
OPENMP  ?= -fopenmp
GRAFT_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC $(OPENMP) -fvisibility=hidden -fno-trapping-math \
           $(WARN) -I$(OPENBLAS_INC) $(DEP_INC) $(CFLAGS)
GRAFT_LIBS = $(LDFLAGS) $(DEP_LIB) -L$(OPENBLAS_LIB) -Wl,-rpath,$(OPENBLAS_LIB) -lopenblas -lcjson -lpng -ljpeg -lz -lm $(OPENMP)

# make install: the Lua and C modules into Lua's usual trees under PREFIX, the command,
# the library and header for C hosts (with a pkg-config file), and the docs.
PREFIX      ?= /usr/local
LUA_LMODDIR ?= $(PREFIX)/share/lua/5.4
LUA_CMODDIR ?= $(PREFIX)/lib/lua/5.4
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
DOCDIR      ?= $(PREFIX)/share/doc/graft
VERSION     := $(shell sed -n 's/.*GRAFT_VERSION "\(.*\)".*/\1/p' csrc/lua/init.c)
# libgraft's ABI version (its SONAME is libgraft.so.$(SOVERSION)): raised when a host built
# against an older graft.h could no longer run against the new library.
SOVERSION   := 0

ifeq ($(FUZZ),1)
# make fuzz: graft built by clang with libFuzzer's coverage, ASan and UBSan, in build-fuzz/.
BUILD   ?= build-fuzz
CC      := clang-14
# clang with libgomp ignores the OpenMP pragmas: loops run serially, which fuzzing does not
# mind, and the thread-count variables they read look unused.
OPENMP  := -fopenmp=libgomp
GRAFT_CFLAGS += -Wno-unused-variable -Wno-unused-parameter -Wno-unused-function
GRAFT_CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
GRAFT_LIBS   += -fsanitize=address,undefined
else ifeq ($(SANITIZE),1)
BUILD   ?= build-asan
# GRAFT_ALLOC_FAULTS: the allocation-fault hook (csrc/core/alloc.h) for tests/slow/920-alloc-faults.t.
GRAFT_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                -DGRAFT_ALLOC_FAULTS
GRAFT_LIBS   += -fsanitize=address,undefined
# lua5.4 itself is not instrumented: the ASan runtime must be loaded first.
TEST_ENV = LD_PRELOAD=$(shell $(CC) -print-file-name=libasan.so) \
           ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:allocator_may_return_null=1:fast_unwind_on_malloc=0 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 GRAFT_SANITIZE=1
else
BUILD   ?= build
endif

CORE_SRC := $(wildcard csrc/core/*.c csrc/ops/*.c csrc/io/*.c csrc/data/*.c)
LUA_SRC  := $(filter-out csrc/lua/embed.c,$(wildcard csrc/lua/*.c))
LUA_MODS := $(shell find lua/graft -name '*.lua' | sort)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
LUA_OBJ  := $(LUA_SRC:%.c=$(BUILD)/obj/%.o)
CTEST_SRC := $(wildcard tests/c/*.c)
CTEST_BIN := $(CTEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/tests/lib/?.lua;$(CURDIR)/bench/?.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;
export GRAFT_BUILD := $(CURDIR)/$(BUILD)

.PHONY: all deps deps-test fuzz fuzz-build fuzz-run install install-rock install-dev install-doc examples docs example demo test test-fast test-slow bench clean
all: $(BUILD)/graft/core.so $(BUILD)/libgraftcore.a $(BUILD)/libgraft.a $(BUILD)/libgraft.so

# What graft needs (scripts/deps); deps-test adds the tests' oracles (PyTorch, torchvision,
# PIL, ...), which only `make test` and `make test-slow` install.
deps:
	@scripts/deps

deps-test:
	@scripts/deps --test

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -I$(LUA_INC) -MMD -MP -c $< -o $@

# The Lua-free static library: core + ops + io, linked by C tests and bench/.
$(BUILD)/libgraftcore.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# -z nodelete: Lua dlclose()s C modules when a state closes, which would unload libgomp
# under its own idle pool threads (they crash when they wake). The module stays mapped.
$(BUILD)/graft/core.so: $(LUA_OBJ) $(BUILD)/libgraftcore.a
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-z,nodelete -o $@ $(LUA_OBJ) $(BUILD)/libgraftcore.a $(GRAFT_LIBS)

# libgraft for hosts: the core, the binding and the Lua modules compiled in (luaopen_graft).
$(BUILD)/gen/lua_sources.c: $(LUA_MODS) scripts/embed-lua.lua
	@mkdir -p $(dir $@)
	lua5.4 scripts/embed-lua.lua $@ $(LUA_MODS)

$(BUILD)/obj/gen/lua_sources.o: $(BUILD)/gen/lua_sources.c csrc/lua/embedded.h
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -c $< -o $@

HOST_OBJ := $(LUA_OBJ) $(BUILD)/obj/csrc/lua/embed.o $(BUILD)/obj/gen/lua_sources.o $(CORE_OBJ)

$(BUILD)/libgraft.a: $(HOST_OBJ)
	$(AR) rcs $@ $^

# The shared library is versioned as usual: libgraft.so.$(VERSION) with the SONAME
# libgraft.so.$(SOVERSION), which hosts record and the loader finds; libgraft.so (for -lgraft
# at link time) and libgraft.so.$(SOVERSION) are symlinks to it.
$(BUILD)/libgraft.so.$(VERSION): $(HOST_OBJ)
	$(CC) -shared -Wl,-z,nodelete -Wl,-soname,libgraft.so.$(SOVERSION) -o $@ $^ $(GRAFT_LIBS)

$(BUILD)/libgraft.so.$(SOVERSION): $(BUILD)/libgraft.so.$(VERSION)
	ln -sf libgraft.so.$(VERSION) $@

$(BUILD)/libgraft.so: $(BUILD)/libgraft.so.$(SOVERSION)
	ln -sf libgraft.so.$(SOVERSION) $@

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libgraftcore.a tests/c/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libgraftcore.a $(GRAFT_LIBS)

# C tests named *-lua.c embed Lua as a host does: they link libgraft.a and liblua.
$(BUILD)/tests/%-lua: tests/c/%-lua.c $(BUILD)/libgraft.a tests/c/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -I$(LUA_INC) -Wno-missing-prototypes -o $@ $< $(BUILD)/libgraft.a \
	    -llua5.4 -lpthread $(GRAFT_LIBS)

$(BUILD)/bench/%: bench/%.c bench/timing.h $(BUILD)/libgraftcore.a
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libgraftcore.a $(GRAFT_LIBS)

# examples/embed/host: a C host that embeds Lua and graft (libgraft.a, no Lua files on disk).
# The tests use the copy in $(BUILD) (built with the sanitizers under SANITIZE=1).
examples: $(BUILD)/examples/embed/host
	cp $< examples/embed/host

$(BUILD)/examples/embed/host: examples/embed/host.c $(BUILD)/libgraft.a csrc/lua/graft.h
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -Icsrc/lua -I$(LUA_INC) -o $@ $< $(BUILD)/libgraft.a -llua5.4 -lpthread $(GRAFT_LIBS)

# What graft does, in one short script (the demo of transfer learning arrives with the zoo).
example: deps
	@$(MAKE) --no-print-directory all
	lua5.4 examples/quickstart.lua

# The demo: the shipped Fashion-MNIST model transferred to five new classes (a table,
# results/transfer_fmnist.json and, with gnuplot, results/transfer_fmnist.png).
demo:
	@scripts/deps --demo
	@scripts/deps --optional
	@$(MAKE) --no-print-directory all
	lua5.4 examples/transfer_fmnist.lua

# The fast tier: C unit tests, then the Lua tests, all under prove.
test: deps-test
	@$(MAKE) --no-print-directory test-fast

test-fast: all $(CTEST_BIN) $(BUILD)/examples/embed/host
	$(TEST_ENV) prove $(PROVE_FLAGS) $(CTEST_BIN) tests/*.t

# The slow tier; SLOW_BUDGET (seconds) time-boxes it, as CI does (unset: a fixed amount).
test-slow: deps-test
	@$(MAKE) --no-print-directory all $(BUILD)/examples/embed/host
	$(TEST_ENV) SLOW_BUDGET=$(SLOW_BUDGET) prove $(PROVE_FLAGS) tests/slow/*.t

# Benchmarks are Lua scripts; bench/*.c are the C-level timings they call.
bench: all $(BENCH_BIN)
	@for b in suite gemm matmul loader; do echo "== bench/$$b.lua"; GRAFT_BUILD=$(BUILD) lua5.4 bench/$$b.lua || exit 1; done

# The API reference from the doc comments (LDoc, Debian's lua-ldoc): build/docs/api/index.html.
# LDoc's own progress lines are dropped; anything else it prints is a warning, and fails.
docs:
	@scripts/deps --docs
	@rm -rf $(BUILD)/docs/api
	@out=$$(ldoc -c docs/config.ld -d ../$(BUILD)/docs/api . 2>&1 | grep -v -e '^reading configuration' \
	    -e '^changing to directory' -e '^found master module' -e 'closing section from master' \
	    -e '^output written to'); \
	if [ -n "$$out" ]; then echo "$$out"; echo "make docs: LDoc warned (above)"; exit 1; fi
	@echo "API reference: $(BUILD)/docs/api/index.html"

# Fuzzing (libFuzzer, clang): one target per parser, and one (shapes) over convolution and
# pooling shapes and options; each runs FUZZ_SECONDS (default 60) from its seed corpus in
# tests/fuzz/corpus/ (copied, so runs do not rewrite it). A finding stops
# the run and leaves its input in build-fuzz/findings/; it then belongs in tests/bad/.
FUZZ_C_TARGETS   := safetensors image idx shapes
FUZZ_LUA_TARGETS := pth config state_dict
FUZZ_SECONDS     ?= 60
# libFuzzer's seed: 0 draws a fresh one per run (exploration); the slow tier fixes it so a CI
# run repeats what was run here (up to machine speed).
FUZZ_SEED        ?= 0
FUZZ_CORPORA     := safetensors png jpeg idx pth config state_dict shapes
fuzz: deps
	@scripts/deps --fuzz
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-run

fuzz-build: $(FUZZ_C_TARGETS:%=$(BUILD)/fuzz/%) $(FUZZ_LUA_TARGETS:%=$(BUILD)/fuzz/%)

$(FUZZ_C_TARGETS:%=$(BUILD)/fuzz/%): $(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(BUILD)/libgraftcore.a
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -fsanitize=fuzzer -Wno-missing-prototypes -o $@ $< $(BUILD)/libgraftcore.a $(GRAFT_LIBS)

$(FUZZ_LUA_TARGETS:%=$(BUILD)/fuzz/%): $(BUILD)/fuzz/%: tests/fuzz/lua.c tests/fuzz/fuzz.h $(BUILD)/libgraft.a
	@mkdir -p $(dir $@)
	$(CC) $(GRAFT_CFLAGS) -fsanitize=fuzzer -Wno-missing-prototypes -DFUZZ_TARGET=$* -I$(LUA_INC) -o $@ $< \
	    $(BUILD)/libgraft.a -llua5.4 -lpthread $(GRAFT_LIBS)

# Each corpus runs under the binary that reads its format (png and jpeg: the image decoder).
# ASan hands freed memory back to the system: millions of decodes of images up to 4M pixels
# otherwise left the png run's resident size climbing past the 2 GB limit (seed 1, about
# 5M inputs) with 24 MB live; with it the same run stays at 317 MB over 14M inputs. One run
# of three with seed 1 still climbed (2174 MB at 5.8M inputs, on a slower pass of the
# machine, while the same command alone stayed at 313 MB over 13.4M): the resident limit is
# 4 GB, and a single allocation is still held to 2 GB (-malloc_limit_mb), the guard against
# size bombs.
fuzz-run:
	@mkdir -p $(BUILD)/findings
	@for c in $(FUZZ_CORPORA); do \
	  t=$$c; case $$c in png|jpeg) t=image;; esac; \
	  rm -rf $(BUILD)/corpus/$$c; mkdir -p $(BUILD)/corpus/$$c; cp tests/fuzz/corpus/$$c/* $(BUILD)/corpus/$$c/; \
	  echo "== fuzz $$c ($(FUZZ_SECONDS) s)"; \
	  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:allocator_release_to_os_interval_ms=200 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(BUILD)/fuzz/$$t $(BUILD)/corpus/$$c -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=2048 \
	    -artifact_prefix=$(BUILD)/findings/$$c- -print_final_stats=1 2>$(BUILD)/findings/$$c.log \
	    || { tail -40 $(BUILD)/findings/$$c.log; echo "make fuzz: a finding in $$c"; exit 1; }; \
	  grep -E "stat::number_of_executed_units|cov:" $(BUILD)/findings/$$c.log | tail -2; \
	done

# install-rock is what LuaRocks runs (it copies docs/ itself); install adds what C hosts
# link against and the docs.
install: install-rock install-dev install-doc

install-rock: all
	install -d $(DESTDIR)$(LUA_CMODDIR)/graft $(DESTDIR)$(BINDIR)
	for f in $(LUA_MODS); do install -D -m 644 $$f $(DESTDIR)$(LUA_LMODDIR)/$${f#lua/}; done
	install -m 755 $(BUILD)/graft/core.so $(DESTDIR)$(LUA_CMODDIR)/graft/core.so
	install -m 755 bin/graft $(DESTDIR)$(BINDIR)/graft

install-dev: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 644 csrc/lua/graft.h $(DESTDIR)$(INCLUDEDIR)/graft.h
	install -m 644 $(BUILD)/libgraft.a $(DESTDIR)$(LIBDIR)/libgraft.a
	install -m 755 $(BUILD)/libgraft.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgraft.so.$(VERSION)
	ln -sf libgraft.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgraft.so.$(SOVERSION)
	ln -sf libgraft.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libgraft.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|; s|@OPENBLAS_LIB@|$(OPENBLAS_LIB)|g' \
	    graft.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/graft.pc

install-doc:
	install -d $(DESTDIR)$(DOCDIR)
	cp -R docs/. README.md $(DESTDIR)$(DOCDIR)/

clean:
	rm -rf build build-asan build-fuzz

-include $(CORE_OBJ:.o=.d) $(LUA_OBJ:.o=.d)
