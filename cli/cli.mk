# The allocscope command: main.c dispatches to cmd_NAME.c, which parse arguments, call the
# core and print. Linked with the core library in the top Makefile.
CLI_SRCS += $(wildcard cli/*.c)
