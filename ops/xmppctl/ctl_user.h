/*
 * ctl_user.h - `xmppctl user ...`: add, delete, list accounts and change
 * passwords through the storage workers.
 */
#ifndef XMPP_CTL_USER_H
#define XMPP_CTL_USER_H

#include <stdio.h>

#include "config.h"

/* Print the usage lines of the user commands. */
void ctl_user_usage(FILE *f);

/* Run `user <verb> [args]`; argv[0] is the verb. Returns the process exit
 * status: 0 on success, 1 after printing an error on stderr. */
int ctl_user_main(const config_t *cfg, int argc, char **argv);

#endif
