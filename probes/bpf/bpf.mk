# eBPF tools (libbpf CO-RE, libbpf-tools layout: NAME.bpf.c + NAME.c + NAME.h).
#   build/bin/allocscope-kevents      kernel memory events of a process tree (tracepoints)
#   build/bin/allocscope-allocuprobe  allocation tracking by uprobes in a running process
# vmlinux.h is generated from the running kernel's BTF into build/obj/bpf/.
BPF_TOOLS := kevents allocuprobe
BPF_GEN := $(OBJ)/bpf
BPF_CLANG := clang -target bpf -D__TARGET_ARCH_x86 -O2 -g -Wall -Werror
BPF_COMMON_OBJS := $(OBJ)/probes/bpf/probe_util.o
BPF_LIBS := -lbpf -lelf -lz
EXTRA_CFLAGS_probes/bpf/ := -I$(BPF_GEN)
ALL_TARGETS += $(patsubst %,$(BIN)/allocscope-%,$(BPF_TOOLS))
INSTALL_EXTRA_BINS += $(patsubst %,$(BIN)/allocscope-%,$(BPF_TOOLS))

$(BPF_GEN)/vmlinux.h:
	@mkdir -p $(dir $@)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp
	mv $@.tmp $@

$(BPF_GEN)/%.bpf.o: probes/bpf/%.bpf.c probes/bpf/%.h probes/bpf/common.bpf.h \
	$(BPF_GEN)/vmlinux.h
	$(BPF_CLANG) -I$(BPF_GEN) -Iprobes/bpf -c $< -o $@

$(BPF_GEN)/%.skel.h: $(BPF_GEN)/%.bpf.o
	bpftool gen skeleton $< > $@.tmp
	mv $@.tmp $@

$(OBJ)/probes/bpf/kevents.o: $(BPF_GEN)/kevents.skel.h
$(OBJ)/probes/bpf/allocuprobe.o: $(BPF_GEN)/allocuprobe.skel.h

$(BIN)/allocscope-%: $(OBJ)/probes/bpf/%.o $(BPF_COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(BPF_LIBS)

# Keep the intermediates (make would delete them as pattern-rule byproducts).
.SECONDARY: $(BPF_COMMON_OBJS) $(patsubst %,$(OBJ)/probes/bpf/%.o,$(BPF_TOOLS)) \
	$(patsubst %,$(BPF_GEN)/%.bpf.o,$(BPF_TOOLS)) $(patsubst %,$(BPF_GEN)/%.skel.h,$(BPF_TOOLS))

$(BIN)/allocscope-allocuprobe: $(OBJ)/probes/bpf/elf_syms.o $(OBJ)/probes/bpf/site_table.o
$(BIN)/allocscope-allocuprobe: BPF_LIBS += -lm

# The user-side site table is unit-tested on its own (tests/unit/test_bpf_site_table.c).
UNIT_TESTED_PROBE_SRCS += probes/bpf/site_table.c
