/*
 * main.c - xmppctl, the operator's command line: global options, the
 * config file, then the command's module (ctl_user.c for `user ...`).
 *
 *   xmppctl [-c config] [-v] <command> ...
 *
 * The config is -c, else $XMPP_CONFIG, else ./var/cluster.yaml. Exit
 * status 0 on success, 1 with a message on stderr on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl_user.h"
#include "log.h"

#define CTL_DEFAULT_CONFIG "./var/cluster.yaml"

typedef struct ctl_command {
    const char *name;                                    /* first word */
    int (*run)(const config_t *cfg, int argc, char **argv); /* argv[0] is the verb */
} ctl_command;

static const ctl_command ctl_commands[] = {
    {"user", ctl_user_main},
};

static void main_usage(FILE *f)
{
    fprintf(f,
            "usage: xmppctl [-c config] [-v] <command> ...\n"
            "\n"
            "commands:\n");
    ctl_user_usage(f);
    fprintf(f,
            "\n"
            "options:\n"
            "  -c, --config F   cluster config (default: $XMPP_CONFIG or %s)\n"
            "  -v, --verbose    log what happens on the bus to stderr\n"
            "  -h, --help       this text\n"
            "\n"
            "Passwords are read from --password-file F (first line), from the terminal\n"
            "(asked twice, not echoed) or from one line of standard input; never from\n"
            "the command line.\n",
            CTL_DEFAULT_CONFIG);
}

static const ctl_command *main_find(const char *name)
{
    for (size_t i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++) {
        if (strcmp(ctl_commands[i].name, name) == 0) return &ctl_commands[i];
    }
    return NULL;
}

/* Non-zero if arg asks for help. */
static int main_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "help") == 0;
}

/* Parse the global options before the command. Returns the index of the
 * command word, 0 after --help (usage printed), or -1 after an error. */
static int main_options(int argc, char **argv, const char **path, log_level *level)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (main_is_help(argv[i])) {
            main_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "xmppctl: %s needs a config file\n", argv[i]);
                return -1;
            }
            *path = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            *level = LOG_DEBUG;
        } else {
            fprintf(stderr, "xmppctl: unknown option '%s' (see xmppctl --help)\n", argv[i]);
            return -1;
        }
    }
    return i;
}

int main(int argc, char **argv)
{
    const char *path = getenv("XMPP_CONFIG");
    log_level level = LOG_WARN;
    int i = main_options(argc, argv, &path, &level);
    if (i <= 0) return i == 0 ? 0 : 1;
    const ctl_command *cmd = i < argc ? main_find(argv[i]) : NULL;
    if (!cmd || i + 1 >= argc) {
        if (i < argc && !cmd) fprintf(stderr, "xmppctl: unknown command '%s'\n", argv[i]);
        main_usage(stderr);
        return 1;
    }
    if (main_is_help(argv[i + 1])) {
        main_usage(stdout);
        return 0;
    }
    char err[512];
    config_t *cfg = config_load(path && *path ? path : CTL_DEFAULT_CONFIG, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "xmppctl: cannot load the config: %s\n", err);
        return 1;
    }
    log_init("xmppctl", level);
    int rc = cmd->run(cfg, argc - i - 1, argv + i + 1);
    config_free(&cfg);
    return rc;
}
