# What every part of allocscope uses: errors and files (util), CSV, run directories
# (rundata), human formatting, symbolization. Part of the core library.
CORE_SRCS += $(wildcard common/*.c)
# libiberty (static) demangles C++ and Rust names; its demangler calls our xmalloc family.
ALLOCSCOPE_LIBS += -ljansson -ldw -lelf -liberty -lm -lpthread
