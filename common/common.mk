# What every part of allocscope uses: errors and files (util), CSV, run directories
# (rundata), human formatting, symbolization. Part of the core library.
CORE_SRCS += $(wildcard common/*.c)
ALLOCSCOPE_LIBS += -ljansson -ldw -lelf -lm -lpthread
