/* What a bench reads of a load tool's output: the log in every format, and as the JSON
 * report file. */
#include "fuzz/fuzz.h"
#include "harness/load_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = fuzz_text(data, size);
    struct load_figures f;
    char why[512];
    for (int format = 0; format < LOAD_FORMAT_REGEX; format++) {
        load_report_read((enum load_format)format, NULL, text, NULL, &f, why, sizeof(why));
        load_report_read((enum load_format)format, NULL, NULL, text, &f, why, sizeof(why));
    }
    struct load_patterns p = {"([0-9.]+) req", "p50 ([0-9.]+)", "p99=([0-9.]+)"};
    load_report_read(LOAD_FORMAT_REGEX, &p, text, NULL, &f, why, sizeof(why));
    return 0;
}
