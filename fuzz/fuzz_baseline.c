/* The gate's baseline file (JSON written by allocscope baseline). */
#include <string.h>

#include "fuzz/fuzz.h"
#include "reports/gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(fuzz_dir(), "baseline.json", data, size);
    struct gate_bench b;
    struct gate_options o;
    char err[512];
    memset(&b, 0, sizeof(b));
    gate_options_default(&o);
    if (gate_baseline_load(&b, &o, path, err, sizeof(err)) == 0)
        gate_bench_free(&b);
    return 0;
}
