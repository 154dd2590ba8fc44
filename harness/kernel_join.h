/* Joins the kernel probes' kernel.csv (allocscope-kevents) into a samples.csv by t_ms. */
#ifndef ALLOCSCOPE_KERNEL_JOIN_H
#define ALLOCSCOPE_KERNEL_JOIN_H

/* Rewrites SAMPLES_PATH (temp + rename) with the columns of KERNEL_PATH appended to every
 * row. A samples row at time t gets the kernel rows with t_ms in (previous row's t, t]:
 * columns named kernel_* are levels (the latest value; carried over when no kernel row
 * fell in the interval), the others are per-interval counts and are summed. Kernel rows
 * after the last samples row are left out. Returns 0, or -1 after printing one line. */
int kernel_join_samples(const char *samples_path, const char *kernel_path);

#endif
