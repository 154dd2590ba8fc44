# Shared code of the reference workloads, as a static library every workload links.
# Other fragments name the library by its literal path: make expands prerequisites when it
# reads a fragment, and this one is read after some of them (workloads/*/build.mk order).
WL_COMMON_LIB := $(OBJ)/workloads/common/libwlcommon.a
WL_CFLAGS := -Iworkloads/common $(shell pkg-config --cflags libevent 2>/dev/null)
WL_LIBS := $(shell pkg-config --libs libevent_pthreads libevent 2>/dev/null || echo -levent_pthreads -levent) -lpthread -lm
EXTRA_CFLAGS_workloads/common/ := $(WL_CFLAGS)

$(WL_COMMON_LIB): $(OBJ)/workloads/common/wl_common.o
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
