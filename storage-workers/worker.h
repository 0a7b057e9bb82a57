/*
 * worker.h - the storage worker process: serves storage requests from the
 * bus against one database.
 */
#ifndef XMPP_STORAGE_WORKER_H
#define XMPP_STORAGE_WORKER_H

#include <stddef.h>

#include "config.h"
#include "loop.h"

typedef struct worker worker_t;

/* Open the database named by cfg's storage section, apply the migrations,
 * join the bus as node_id on loop l, and log "ready". cfg and l are
 * borrowed and must outlive the worker. Returns the worker, or NULL with a
 * message in err (nothing is left open). */
worker_t *worker_new(loop_t *l, const config_t *cfg, const char *node_id, char *err, size_t errsz);

/* Leave the bus, close the database and set *w to NULL. Accepts NULL. */
void worker_free(worker_t **w);

#endif
