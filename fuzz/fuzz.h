/* Shared pieces of the fuzz targets (fuzz/fuzz_*.c). Each target defines
 * LLVMFuzzerTestOneInput: libFuzzer drives it (`make fuzz`), and fuzz/replay.c runs it over
 * the committed corpus and the crashes found so far (`make test`). */
#ifndef ALLOCSCOPE_FUZZ_H
#define ALLOCSCOPE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for this process's scratch files, made on first use. */
const char *fuzz_dir(void);

/* Writes DATA to DIR/NAME (replacing it) and returns the path (static buffer). */
const char *fuzz_write(const char *dir, const char *name, const uint8_t *data, size_t size);

/* DATA as a NUL-terminated string (static, grown as needed): what readers of text get. */
const char *fuzz_text(const uint8_t *data, size_t size);

/* Copies the files of directory FROM into directory TO (made if missing). */
void fuzz_copy_dir(const char *from, const char *to);

/* Reads DIR (a run or a bench) as `allocscope report` does, groups its cells, frees it. */
void fuzz_report_load(const char *dir);

#endif
