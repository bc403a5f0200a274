/* The native pool behind cl_region (region.h): helper threads started on first use, each
 * asleep on a condition variable between regions. A helper that finishes a region watches for
 * the next one before it sleeps, and the caller watches for its helpers' last chunks the same
 * way (spin.h): a 1 us region on two threads took 50-60 us back to back when both slept, a
 * fifth of LeNet's second layer. */
#include "region.h"

#include <pthread.h>
#include <stdatomic.h>

#include "spin.h"

static struct {
    pthread_mutex_t mu;        /* guards everything below but the job's counters */
    pthread_cond_t go, done;
    pthread_mutex_t region;    /* held by the one region running */
    int started;               /* helper threads alive */
    atomic_ulong generation;   /* counts regions: a helper runs each new one it is asked to
                                  (written under mu, watched without it) */
    int wanted;                /* helpers 0 .. wanted-1 take part in the current region */
    atomic_ulong running;      /* of those, how many have not finished it (the same) */
    /* the current region */
    cl_direct_fn fn;
    const struct cl_conv *a;
    ptrdiff_t q1, chunk;
    ptrdiff_t grain, share;    /* guided claims (grain > 0): what is left / share, in grains */
    atomic_ptrdiff_t next;     /* the first item no thread has taken yet */
    atomic_int failed, flagged;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER, .region = PTHREAD_MUTEX_INITIALIZER};

/* the generation each helper has seen, set before it starts (so none misses a region that
 * begins before its thread first takes the lock) */
static unsigned long seen_at_start[CL_MAX_HELPERS];

/* Claim the next items of the current region, s .. *e: a chunk, or a guided share; 0 when
 * none is left. */
static int claim(ptrdiff_t *s, ptrdiff_t *e)
{
    if (!pool.grain) {
        *s = atomic_fetch_add(&pool.next, pool.chunk);
        *e = pool.q1 - *s < pool.chunk ? pool.q1 : *s + pool.chunk;
        return *s < pool.q1;
    }
    ptrdiff_t start = atomic_load(&pool.next), end;
    do {
        if (start >= pool.q1)
            return 0;
        ptrdiff_t take = (pool.q1 - start) / pool.share / pool.grain * pool.grain;
        if (take < pool.grain)
            take = pool.grain;
        end = pool.q1 - start <= take ? pool.q1 : start + take;
    } while (!atomic_compare_exchange_weak(&pool.next, &start, end));
    *s = start;
    *e = end;
    return 1;
}

/* Take the current region's items until none is left. */
static void take_chunks(void)
{
    ptrdiff_t s, e;
    while (claim(&s, &e)) {
        const int rc = pool.fn(pool.a, s, e);
        if (rc < 0)
            atomic_store(&pool.failed, 1);
        else if (rc > 0)
            atomic_store(&pool.flagged, 1);
    }
}

static void *helper(void *arg)
{
    const int index = (int)(ptrdiff_t)arg;
    pthread_mutex_lock(&pool.mu);
    unsigned long seen = seen_at_start[index];
    for (;;) {
        pthread_mutex_unlock(&pool.mu);
        cl_watch(&pool.generation, seen);
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.generation) == seen)
            pthread_cond_wait(&pool.go, &pool.mu);
        seen = atomic_load(&pool.generation);
        if (index >= pool.wanted)
            continue;
        pthread_mutex_unlock(&pool.mu);
        take_chunks();
        pthread_mutex_lock(&pool.mu);
        if (atomic_fetch_sub(&pool.running, 1) == 1)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* A forked child has none of the parent's helpers, and the parent may have held the locks:
 * the child starts with a pool of its own. */
static void after_fork_in_child(void)
{
    pthread_mutex_init(&pool.mu, NULL);
    pthread_mutex_init(&pool.region, NULL);
    pthread_cond_init(&pool.go, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.started = 0;
    pool.wanted = 0;
    atomic_store(&pool.running, 0);
}

/* Start helpers up to `count` (under pool.mu); how many there are then. */
static int start_helpers(int count)
{
    static int registered;
    if (!registered) {
        pthread_atfork(NULL, NULL, after_fork_in_child);
        registered = 1;
    }
    while (pool.started < count) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        seen_at_start[pool.started] = atomic_load(&pool.generation);
        const int rc = pthread_create(&t, &attr, helper, (void *)(ptrdiff_t)pool.started);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;  /* run with the helpers there are */
        ++pool.started;
    }
    return pool.started;
}

int cl_region(cl_direct_fn fn, const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1,
              ptrdiff_t chunk, int workers, ptrdiff_t grain)
{
    if (chunk < 1 || chunk >= q1 - q0)
        chunk = q1 - q0;
    ptrdiff_t chunks = q1 > q0 ? (q1 - q0 + chunk - 1) / chunk : 0;
    int helpers = workers - 1 < chunks - 1 ? workers - 1 : (int)(chunks - 1);
    if (helpers > CL_MAX_HELPERS)
        helpers = CL_MAX_HELPERS;
    if (helpers < 1 || pthread_mutex_trylock(&pool.region) != 0) {
        int failed = 0, flagged = 0;
        for (ptrdiff_t s = q0; s < q1; s += chunk) {
            const int rc = fn(a, s, q1 - s < chunk ? q1 : s + chunk);
            failed |= rc < 0;
            flagged |= rc > 0;
        }
        return failed ? -1 : flagged;
    }
    pthread_mutex_lock(&pool.mu);
    helpers = start_helpers(helpers);
    pool.fn = fn;
    pool.a = a;
    pool.q1 = q1;
    pool.chunk = chunk;
    pool.grain = grain > 0 ? grain : 0;
    pool.share = 2 * (ptrdiff_t)(helpers + 1);
    atomic_store(&pool.next, q0);
    atomic_store(&pool.failed, 0);
    atomic_store(&pool.flagged, 0);
    pool.wanted = helpers;
    atomic_store(&pool.running, (unsigned long)helpers);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);

    take_chunks();

    for (;;) {  /* the helpers' last chunks: watched, then slept on */
        const unsigned long left = atomic_load(&pool.running);
        if (left == 0 || !cl_watch(&pool.running, left))
            break;
    }
    pthread_mutex_lock(&pool.mu);
    while (atomic_load(&pool.running) > 0)
        pthread_cond_wait(&pool.done, &pool.mu);
    const int rc = atomic_load(&pool.failed) ? -1 : atomic_load(&pool.flagged);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.region);
    return rc;
}
