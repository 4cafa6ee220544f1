#include "engine/engine.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

struct engine {
    struct core_state *st;
    struct store *store;
    const struct store_ops *ops;
    int64_t (*clock_ms)(void);
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct engine_request *head, *tail; /* FIFO */
    unsigned queued;
    bool stopping;
    struct engine_stats stats;
};

/* A failed write leaves memory ahead of the store; the only safe course is to
 * stop and let the next start rebuild the state from what was committed. */
static void engine_store_failed(struct engine *engine, const char *what)
{
    fprintf(stderr, "gpuaas: fatal: store %s failed; exiting so that the next start rebuilds "
                    "the state from the last committed batch\n", what);
    engine->ops->rollback(engine->store);
    abort();
}

static void engine_run_batch(struct engine *engine, struct engine_request *batch)
{
    struct core_effects fx;
    unsigned commands = 0;
    if (engine->ops->begin(engine->store) < 0)
        engine_store_failed(engine, "begin");
    for (struct engine_request *req = batch; req; req = req->next) {
        if (req->query)
            continue;
        commands++;
        core_apply(engine->st, &req->cmd, engine->clock_ms(), &fx, &req->reply);
        for (unsigned i = 0; i < fx.count; i++)
            if (engine->ops->apply(engine->store, &fx.items[i]) < 0)
                engine_store_failed(engine, "write");
    }
    if (engine->ops->commit(engine->store) < 0)
        engine_store_failed(engine, "commit");
    /* reads run after the commit, so they never show what is not durable */
    for (struct engine_request *req = batch; req; req = req->next)
        if (req->query)
            req->query(engine->st, engine->store, engine->ops, req->query_arg, &req->reply);
    engine->stats.batches++;
    engine->stats.commands += commands;
    if (commands > engine->stats.max_batch)
        engine->stats.max_batch = commands;
    while (batch) {
        struct engine_request *next = batch->next;
        batch->next = NULL;
        batch->done(batch);
        batch = next;
    }
}

static void *engine_main(void *arg)
{
    struct engine *engine = arg;
    for (;;) {
        pthread_mutex_lock(&engine->lock);
        while (!engine->head && !engine->stopping)
            pthread_cond_wait(&engine->wake, &engine->lock);
        struct engine_request *batch = engine->head;
        bool stop = engine->stopping && !batch;
        engine->head = engine->tail = NULL;
        engine->queued = 0;
        pthread_mutex_unlock(&engine->lock);
        if (stop)
            return NULL;
        engine_run_batch(engine, batch);
    }
}

int engine_start(struct core_state *st, struct store *store, const struct store_ops *ops,
                 int64_t (*clock_ms)(void), struct engine **ret_engine)
{
    struct engine *engine = calloc(1, sizeof *engine);
    if (!engine)
        return GPUAAS_ENOMEM;
    engine->st = st;
    engine->store = store;
    engine->ops = ops;
    engine->clock_ms = clock_ms;
    pthread_mutex_init(&engine->lock, NULL);
    pthread_cond_init(&engine->wake, NULL);
    if (pthread_create(&engine->thread, NULL, engine_main, engine) != 0) {
        pthread_mutex_destroy(&engine->lock);
        pthread_cond_destroy(&engine->wake);
        free(engine);
        return GPUAAS_ENOMEM;
    }
    *ret_engine = engine;
    return 0;
}

int engine_submit(struct engine *engine, struct engine_request *req)
{
    req->next = NULL;
    pthread_mutex_lock(&engine->lock);
    int r = 0;
    if (engine->stopping)
        r = GPUAAS_EUNAVAIL;
    else if (engine->queued >= ENGINE_QUEUE_MAX)
        r = GPUAAS_ELIMIT;
    else {
        if (engine->tail)
            engine->tail->next = req;
        else
            engine->head = req;
        engine->tail = req;
        engine->queued++;
        pthread_cond_signal(&engine->wake);
    }
    pthread_mutex_unlock(&engine->lock);
    return r;
}

struct engine_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void engine_waiter_done(struct engine_request *req)
{
    struct engine_waiter *w = req->done_arg;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int engine_call(struct engine *engine, struct engine_request *req)
{
    struct engine_waiter w = {.done = false};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    req->done = engine_waiter_done;
    req->done_arg = &w;
    int r = engine_submit(engine, req);
    if (r == 0) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        r = req->reply.err;
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return r;
}

void engine_stop(struct engine *engine)
{
    if (!engine)
        return;
    pthread_mutex_lock(&engine->lock);
    engine->stopping = true;
    pthread_cond_signal(&engine->wake);
    pthread_mutex_unlock(&engine->lock);
    pthread_join(engine->thread, NULL);
    pthread_mutex_destroy(&engine->lock);
    pthread_cond_destroy(&engine->wake);
    free(engine);
}

void engine_get_stats(struct engine *engine, struct engine_stats *ret_stats)
{
    pthread_mutex_lock(&engine->lock);
    *ret_stats = engine->stats;
    pthread_mutex_unlock(&engine->lock);
}
