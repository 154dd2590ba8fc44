/* Grows its live heap at one site for a while, then frees everything before exit.
 *   grower SECONDS BYTES_PER_TICK
 * Every 50 ms grow_buffer_list() allocates BYTES_PER_TICK (in 4 KiB blocks) and keeps it;
 * after SECONDS it frees all of it and idles 300 ms, so nothing is unfreed at exit but the
 * site's live bytes rose steadily for SECONDS. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct block {
    struct block *next;
    char data[4096 - sizeof(struct block *)];
};

static struct block *head;

__attribute__((noinline)) static void grow_buffer_list(long bytes)
{
    for (long done = 0; done < bytes; done += (long)sizeof(struct block)) {
        struct block *b = malloc(sizeof(*b));
        b->next = head;
        head = b;
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    long per_tick = argc > 2 ? atol(argv[2]) : 256 * 1024;
    for (int tick = 0; tick < (int)(seconds * 20); tick++) {
        grow_buffer_list(per_tick);
        sleep_ms(50);
    }
    while (head) {
        struct block *next = head->next;
        free(head);
        head = next;
    }
    sleep_ms(300);
    return 0;
}
