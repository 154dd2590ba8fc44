/* Everything the report's two documents (index.html, summary.md) show, computed once by
 * cmd_report and written by report_html.c and report_md.c. */
#ifndef ALLOCSCOPE_REPORT_DOC_H
#define ALLOCSCOPE_REPORT_DOC_H

#include <stdbool.h>
#include <stdio.h>

#include "reports/report_charts.h"
#include "reports/report_flame.h"
#include "reports/report_model.h"
#include "reports/report_recommend.h"

/* A configuration ranked over every workload (bench with several). */
struct overall_rank {
    const char *label;
    size_t groups;      /* workloads where it was measured */
    size_t fast_enough; /* ... and within the throughput tolerance */
    double rss_ratio;   /* geometric mean of RSS / the workload's lowest RSS */
};

struct cell_diagnosis {
    bool done;
    char verdict[40], confidence[16];
    char reason[512], suggestion[512];
    char error[256];
};

struct report_doc {
    const struct report_input *in;
    const struct report_options *opt;
    const struct chart_set *charts;
    const struct flame_set *flames; /* NULL: made without flame graphs (--no-flames) */
    const struct rec_result *recs;  /* one per group; candidate k = configuration k */
    const struct overall_rank *overall;
    size_t noverall;
    long overall_choice;               /* index into overall, -1 when none */
    const struct cell_diagnosis *diag; /* one per cell */
    bool diagnose_available;
    const char *generated; /* ISO time */
    const char *command_line;
};

/* The matrix in words: lists separated by ", ". */
struct doc_matrix {
    char workloads[1024], configs[1024], versions[512], phases[256], phases_tmp[256];
    size_t repeats;
};
void doc_matrix(const struct report_input *in, struct doc_matrix *m);

int report_write_html(const struct report_doc *doc, const char *path);
int report_write_markdown(const struct report_doc *doc, const char *path);

/* "70.2 MiB", "-" for NAN. */
const char *doc_bytes(char *buf, size_t len, double bytes);
/* Whether a group of IN is a batch target's (ranked by peak RSS and time). */
bool doc_has_batch(const struct report_input *in);
/* Why configuration C did not run: an unsupported cell's reason (the program links its
 * own allocator), or NULL. */
const char *doc_unsupported_reason(const struct report_doc *doc, const struct report_config *c);
/* The sentence that justifies group G's recommendation, plain text. */
void doc_recommendation_text(const struct report_doc *doc, size_t g, char *out, size_t len);

#endif
