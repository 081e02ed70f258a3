/* msg.c - reference-counted chat messages; see msg.h. */
#include "config.h"
#include "msg.h"

#include <stdlib.h>
#include <string.h>

static char *msg_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

msg_t *msg_new(int64_t id, int64_t group_id, int64_t sender_id, double ts, const char *sender_name,
               const char *group_name, const char *content, const char *client_msg_id)
{
	msg_t *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	atomic_init(&m->acks_owed, 1);
	m->id = id;
	m->group_id = group_id;
	m->sender_id = sender_id;
	m->ts = ts;
	m->sender_name = msg_dup(sender_name);
	m->group_name = msg_dup(group_name);
	m->content = msg_dup(content);
	m->client_msg_id = msg_dup(client_msg_id);
	if (!m->sender_name || !m->group_name || !m->content || (client_msg_id && !m->client_msg_id)) {
		msg_unref(m);
		return NULL;
	}
	return m;
}

msg_t *msg_ref(msg_t *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

void msg_unref(msg_t *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(m->sender_name);
	free(m->group_name);
	free(m->content);
	free(m->client_msg_id);
	free(m);
}
