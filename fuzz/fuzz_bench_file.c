/* Bench files (and the scenario.ini files they name, from the source tree), read from a file
 * as `allocscope bench FILE` reads them, so NUL bytes reach the reader too. */
#include "fuzz/fuzz.h"
#include "harness/bench_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bench_spec spec;
    char err[512];
    if (bench_spec_init(&spec, "quick", err, sizeof(err)))
        return 0;
    const char *path = fuzz_write(fuzz_dir(), "input.bench", data, size);
    bench_spec_load(&spec, path, FUZZ_SCENARIOS, err, sizeof(err));
    bench_spec_free(&spec);
    return 0;
}
