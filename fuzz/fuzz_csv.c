/* The CSV reader every run file goes through. */
#include "common/csv.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(fuzz_dir(), "input.csv", data, size);
    struct csv c;
    char err[512];
    if (csv_load(&c, path, err, sizeof(err)) == 0) {
        for (size_t r = 0; r < c.nrows; r++)
            for (size_t k = 0; k < c.ncols; k++)
                (void)csv_number(&c, r, (int)k);
        csv_free(&c);
    }
    return 0;
}
