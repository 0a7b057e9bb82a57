/*
 * bind.h - the control path between the c2s nodes and this shard:
 * resource binding (BIND_REQ -> BIND_RESP), session end (UNBIND) and
 * closing a connection (KICK). Bodies are JSON:
 *
 *   BIND_REQ   {"jid":"alice@localhost","resource":"<resourceprep'd or empty>"}
 *   BIND_RESP  {"ok":true,"jid":"alice@localhost/res"}
 *              {"ok":false,"condition":"resource-constraint"} (flag ENV_F_ERROR)
 *   UNBIND     {"jid":"alice@localhost/res","reason":"<optional word>"}
 *   KICK       {"condition":"conflict","jid":"alice@localhost/res"}
 */
#ifndef XMPP_SM_BIND_H
#define XMPP_SM_BIND_H

#include "sm.h"

/* Envelope handlers (shard.c's dispatch table). */
void sm_bind_on_req(sm_t *sm, const env_hdr *h, const char *body, size_t len);
void sm_bind_on_unbind(sm_t *sm, const env_hdr *h, const char *body, size_t len);
/* A BIND_RESP we sent came back UNROUTABLE: the c2s is gone, so the
 * session just bound is dropped. */
void sm_bind_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len);
/* Tell the session's c2s to close its connection with the stream error
 * `condition`. 0/-1. The session itself is not touched. */
int sm_bind_kick(sm_t *sm, const sm_session *s, const char *condition);

#endif
