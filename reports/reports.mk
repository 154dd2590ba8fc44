# Analysis: everything here only reads run files (docs/FORMAT.md). Linked into allocscope.
ALLOCSCOPE_OBJS += $(patsubst %.c,$(OBJ)/%.o,$(wildcard reports/*.c))

# allocscope report: unit tests of the recommendation rule and of the escaping.
REPORT_TEST_SRCS := reports/report_model.c reports/report_recommend.c reports/report_charts.c \
	reports/report_html.c reports/report_md.c reports/format.c reports/csv.c reports/rundata.c \
	reports/symbolize.c reports/leaks.c reports/cmd_leaks.c harness/util.c
TEST_SRCS_test_report_recommend := $(REPORT_TEST_SRCS)
TEST_LIBS_test_report_recommend := -ljansson -ldw -lelf
TEST_SRCS_test_report_escape := $(REPORT_TEST_SRCS)
TEST_LIBS_test_report_escape := -ljansson -ldw -lelf

# allocscope diagnose / baseline / gate: unit tests of the rules on synthetic input.
DIAGNOSE_TEST_SRCS := reports/diagnose.c reports/rundata.c reports/csv.c reports/symbolize.c \
	reports/format.c reports/leaks.c reports/cmd_leaks.c harness/util.c
TEST_SRCS_test_diagnose := $(DIAGNOSE_TEST_SRCS)
TEST_LIBS_test_diagnose := -ljansson -ldw -lelf
TEST_SRCS_test_gate := reports/gate.c reports/gate_baseline.c reports/gate_report.c \
	$(DIAGNOSE_TEST_SRCS)
TEST_LIBS_test_gate := -ljansson -ldw -lelf
