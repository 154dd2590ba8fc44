# Analysis: everything here only reads run files (docs/FORMAT.md): diagnosis, the gate,
# charts, HTML and Markdown reports. Part of the core library.
CORE_SRCS += $(wildcard reports/*.c)
