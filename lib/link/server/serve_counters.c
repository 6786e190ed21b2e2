/* The receiver's labelled counters (a leaf: calls nothing of the
 * receiver; rendered into /metrics by serve_metrics.c). */
#include <stdio.h>
#include <string.h>

#include "link/server/serve_int.h"

void
mtls__serve_counters_init(struct serve_counters *c)
{
	pthread_mutex_init(&c->lock, NULL);
	c->n = 0;
}

void
mtls__serve_counters_add(struct serve_counters *c, const char *labels)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++) {
		if (strcmp(c->c[i].labels, labels) == 0) {
			break;
		}
	}
	if (i == c->n) {
		if (c->n == SERVE_COUNTERS_MAX) {
			/* Label sets are bounded by our own tables; a full
			 * table lumps the rest together rather than grow. */
			i = c->n - 1;
		} else {
			snprintf(c->c[i].labels, sizeof(c->c[i].labels), "%s",
			    labels);
			c->c[i].value = 0;
			c->n++;
		}
	}
	c->c[i].value++;
	pthread_mutex_unlock(&c->lock);
}

void
mtls__serve_counters_render(struct serve_counters *c, const char *name,
    struct evbuffer *out)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++) {
		evbuffer_add_printf(out, "%s{%s} %llu\n", name, c->c[i].labels,
		    (unsigned long long)c->c[i].value);
	}
	pthread_mutex_unlock(&c->lock);
}
