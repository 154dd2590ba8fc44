# Analysis: everything here only reads run files (docs/FORMAT.md): diagnosis, the gate,
# charts, HTML and Markdown reports. Part of the core library.
CORE_SRCS += $(wildcard reports/*.c)

# pprof's message definitions (reports/profile.proto) become C at build time: protoc-c
# (Debian protobuf-c-compiler) writes build/gen/reports/profile.pb-c.{c,h}, compiled into the
# core like any source; reports/pprof.c includes "reports/profile.pb-c.h" from there.
GEN := $(BUILD)/gen
PROFILE_PB := $(GEN)/reports/profile.pb-c
CORE_SRCS += $(PROFILE_PB).c
INCLUDES += -I$(GEN)
ALLOCSCOPE_LIBS += -lprotobuf-c -lz

$(PROFILE_PB).c $(PROFILE_PB).h &: reports/profile.proto
	@mkdir -p $(GEN)
	protoc-c --proto_path=. --c_out=$(GEN) $<

# The generated header exists before anything that includes it is compiled.
$(OBJ)/reports/pprof.o $(SAN_OBJ)/reports/pprof.o: $(PROFILE_PB).h
$(SAN_OBJ)/tests/unit/test_stack_export.o: $(PROFILE_PB).h
