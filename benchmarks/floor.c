/* The physical floor of reading the job-manager journal: libflux-core alone, nothing decoded.
 *
 * Built by the benchmark suite at run time (benchmarks/broker_bench.py) against the headers
 * and library of the flux-core it found, and only when they are there. It connects to
 * FLUX_URI and sends the journal request as flux-core's consumer does; then
 *
 *   floor live-then  N   full=false; a then-callback under the handle's reactor takes each
 *                        response (flux_rpc_get_raw, flux_future_reset) until N responses
 *                        naming a "clean" event have come;
 *   floor live-wait  N   the same with flux_future_wait_for / get_raw / reset in a loop;
 *   floor history        full=true; the wait/get-raw/reset loop up to the sentinel.
 *
 * It prints one line of JSON: responses taken, payload bytes, and the CPU seconds
 * (user + system, getrusage) and wall seconds from the request to the last response.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <flux/core.h>

#define JOURNAL_TOPIC "job-manager.events-journal"
#define CANCEL_TOPIC "job-manager.events-journal-cancel"
#define CLEAN_NAME "\"name\":\"clean\""
#define SENTINEL_ID "\"id\":-1"

struct tally {
    long responses;
    long bytes;
    long cleans;
    long cleans_wanted;
    int ended;
};

static double cpu_seconds (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
           + (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static double wall_seconds (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static int contains (const void *data, size_t size, const char *text)
{
    return data != NULL && memmem (data, size, text, strlen (text)) != NULL;
}

/* One response: 1 when it was taken, 0 at the end of the stream (or any error). */
static int take (flux_future_t *f, struct tally *t, const char *marker)
{
    const void *data = NULL;
    size_t size = 0;
    if (flux_rpc_get_raw (f, &data, &size) < 0) {
        t->ended = 1;
        return 0;
    }
    t->responses++;
    t->bytes += (long)size;
    if (marker != NULL && contains (data, size, marker))
        t->cleans++;
    flux_future_reset (f);
    return 1;
}

static void on_response (flux_future_t *f, void *arg)
{
    struct tally *t = arg;
    if (!take (f, t, CLEAN_NAME) || t->cleans >= t->cleans_wanted)
        flux_reactor_stop (flux_get_reactor (flux_future_get_flux (f)));
}

static void cancel (flux_t *h, flux_future_t *f)
{
    flux_future_t *c = flux_rpc_pack (h,
                                      CANCEL_TOPIC,
                                      FLUX_NODEID_ANY,
                                      FLUX_RPC_NORESPONSE,
                                      "{s:i}",
                                      "matchtag",
                                      (int)flux_rpc_get_matchtag (f));
    flux_future_destroy (c);
}

int main (int argc, char *argv[])
{
    struct tally t = {0};
    const char *mode = argc > 1 ? argv[1] : "";
    int full = strcmp (mode, "history") == 0;
    double cpu0, wall0;
    flux_t *h;
    flux_future_t *f;

    if (!full && strcmp (mode, "live-then") != 0 && strcmp (mode, "live-wait") != 0) {
        fprintf (stderr, "usage: floor live-then N | live-wait N | history\n");
        return 2;
    }
    if (!full)
        t.cleans_wanted = argc > 2 ? atol (argv[2]) : 1;
    if (!(h = flux_open (NULL, 0))) {
        perror ("flux_open");
        return 1;
    }
    cpu0 = cpu_seconds ();
    wall0 = wall_seconds ();
    if (!(f = flux_rpc_pack (h,
                             JOURNAL_TOPIC,
                             FLUX_NODEID_ANY,
                             FLUX_RPC_STREAMING,
                             "{s:b}",
                             "full",
                             full))) {
        perror ("flux_rpc_pack");
        return 1;
    }
    if (full) {
        const void *data = NULL;
        size_t size = 0;
        while (flux_future_wait_for (f, -1.0) == 0) {
            if (flux_rpc_get_raw (f, &data, &size) < 0)
                break;
            t.responses++;
            t.bytes += (long)size;
            if (contains (data, size, SENTINEL_ID))
                break;
            flux_future_reset (f);
        }
    }
    else {
        /* the backlog of active jobs and the sentinel come first: ready, then count */
        printf ("ready\n");
        fflush (stdout);
        if (strcmp (mode, "live-then") == 0) {
            if (flux_future_then (f, -1.0, on_response, &t) < 0
                || flux_reactor_run (flux_get_reactor (h), 0) < 0) {
                perror ("reactor");
                return 1;
            }
        }
        else {
            while (t.cleans < t.cleans_wanted && flux_future_wait_for (f, -1.0) == 0) {
                if (!take (f, &t, CLEAN_NAME))
                    break;
            }
        }
    }
    printf ("{\"responses\": %ld, \"bytes\": %ld, \"cpu\": %.6f, \"wall\": %.6f}\n",
            t.responses,
            t.bytes,
            cpu_seconds () - cpu0,
            wall_seconds () - wall0);
    fflush (stdout);
    cancel (h, f);
    flux_future_destroy (f);
    flux_close (h);
    return 0;
}
