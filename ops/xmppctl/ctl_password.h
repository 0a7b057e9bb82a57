/*
 * ctl_password.h - how xmppctl obtains a password: from the first line of
 * a file, from a prompt with echo off when standard input is a terminal,
 * or from one line of standard input. Never from the command line.
 */
#ifndef XMPP_CTL_PASSWORD_H
#define XMPP_CTL_PASSWORD_H

#include <stddef.h>

#define CTL_PASSWORD_MAX 1023   /* bytes, without the NUL */

/* Read a password into out (outsz bytes, at least 2). file != NULL: the
 * first line of that file. Otherwise a terminal on standard input is
 * prompted twice ("Password: ", "Repeat password: ") with echo off and the
 * answers must match; any other standard input gives one line. A trailing
 * "\n" or "\r\n" is removed; an empty password is an error. Returns 0, or
 * -1 with a message in err (out is then wiped). */
int ctl_password_read(const char *file, char *out, size_t outsz, char *err, size_t errsz);

/* Overwrite n bytes of a secret so it does not linger in memory. */
void ctl_password_wipe(void *p, size_t n);

#endif
