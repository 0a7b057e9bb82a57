/*
 * ctl_password.c - reading a password for xmppctl (see ctl_password.h).
 *
 * Input is read with read(2) one byte at a time, so no stdio buffer keeps a
 * copy of the secret, and nothing past the first line is consumed. While
 * echo is off, SIGINT, SIGTERM, SIGHUP and SIGQUIT restore the terminal
 * before the process dies of them.
 */
#include "ctl_password.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

static const int ctl_password_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define CTL_NSIG (sizeof ctl_password_signals / sizeof ctl_password_signals[0])

static struct termios ctl_password_saved;          /* terminal state to restore */
static volatile sig_atomic_t ctl_password_echo_off; /* 1 while echo is off */

void ctl_password_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

/* Read one line from fd into out, without its "\n" or "\r\n"; end of
 * input also ends the line. 0, or -1 on a read error, a line too long for
 * out, or a NUL byte (err set). */
static int ctl_password_line(int fd, char *out, size_t outsz, char *err, size_t errsz)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errsz, "cannot read the password: %s", strerror(errno));
            return -1;
        }
        if (r == 0 || ch == '\n') break;
        if (ch == '\0') {
            snprintf(err, errsz, "the password contains a NUL byte");
            return -1;
        }
        if (n + 1 >= outsz) {
            snprintf(err, errsz, "the password is too long (at most %zu bytes)", outsz - 1);
            return -1;
        }
        out[n++] = ch;
    }
    if (n > 0 && out[n - 1] == '\r') n--;
    out[n] = '\0';
    return 0;
}

/* Read one line and require it to be non-empty. 0/-1. */
static int ctl_password_nonempty(int fd, const char *from, char *out, size_t outsz, char *err, size_t errsz)
{
    if (ctl_password_line(fd, out, outsz, err, errsz) < 0) return -1;
    if (out[0] == '\0') {
        snprintf(err, errsz, "empty password (%s)", from);
        return -1;
    }
    return 0;
}

static void ctl_password_restore(void)
{
    if (ctl_password_echo_off) tcsetattr(STDIN_FILENO, TCSAFLUSH, &ctl_password_saved);
    ctl_password_echo_off = 0;
}

/* Restore the terminal, then die of the signal as if it were not caught. */
static void ctl_password_on_signal(int signo)
{
    ctl_password_restore();
    signal(signo, SIG_DFL);
    raise(signo);
}

/* Turn echo off on standard input, or on = 1 to restore it. 0/-1. */
static int ctl_password_echo(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? SIG_DFL : ctl_password_on_signal;
    if (on) ctl_password_restore();
    for (size_t i = 0; i < CTL_NSIG; i++) sigaction(ctl_password_signals[i], &sa, NULL);
    if (on) return 0;
    if (tcgetattr(STDIN_FILENO, &ctl_password_saved) < 0) return -1;
    struct termios t = ctl_password_saved;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    t.c_lflag |= ICANON;
    ctl_password_echo_off = 1;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0) return 0;
    ctl_password_echo_off = 0;
    return -1;
}

/* Prompt on the terminal and read one answer with echo off. 0/-1. */
static int ctl_password_prompt(const char *prompt, char *out, size_t outsz, char *err, size_t errsz)
{
    fputs(prompt, stderr);
    fflush(stderr);
    if (ctl_password_echo(0) < 0) {
        snprintf(err, errsz, "cannot turn off terminal echo: %s", strerror(errno));
        return -1;
    }
    int rc = ctl_password_nonempty(STDIN_FILENO, "nothing typed", out, outsz, err, errsz);
    ctl_password_echo(1);
    fputc('\n', stderr);
    return rc;
}

/* Ask twice on the terminal; the answers must match. 0/-1. */
static int ctl_password_tty(char *out, size_t outsz, char *err, size_t errsz)
{
    char again[CTL_PASSWORD_MAX + 1];
    int rc = -1;
    if (ctl_password_prompt("Password: ", out, outsz, err, errsz) == 0 &&
        ctl_password_prompt("Repeat password: ", again, sizeof again, err, errsz) == 0) {
        rc = strcmp(out, again) == 0 ? 0 : -1;
        if (rc < 0) snprintf(err, errsz, "the passwords do not match");
    }
    ctl_password_wipe(again, sizeof again);
    return rc;
}

/* The first line of a file. 0/-1. */
static int ctl_password_file(const char *file, char *out, size_t outsz, char *err, size_t errsz)
{
    char from[256];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "%s: %s", file, strerror(errno));
        return -1;
    }
    snprintf(from, sizeof from, "the first line of %s is empty", file);
    int rc = ctl_password_nonempty(fd, from, out, outsz, err, errsz);
    close(fd);
    return rc;
}

int ctl_password_read(const char *file, char *out, size_t outsz, char *err, size_t errsz)
{
    int rc;
    if (file) {
        rc = ctl_password_file(file, out, outsz, err, errsz);
    } else if (isatty(STDIN_FILENO)) {
        rc = ctl_password_tty(out, outsz, err, errsz);
    } else {
        rc = ctl_password_nonempty(STDIN_FILENO, "no password on standard input", out, outsz, err, errsz);
    }
    if (rc < 0) ctl_password_wipe(out, outsz);
    return rc;
}
