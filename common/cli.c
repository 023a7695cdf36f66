/* cli.c: see cli.h. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static void usage(const CliProgram *p, FILE *out) {
    fprintf(out, "usage: %s COMMAND [options]   (%s COMMAND --help for its options)\n%s\n\n", p->name, p->name,
            p->description);
    for (int i = 0; i < p->n_commands; i++) fprintf(out, "  %-17s %s\n", p->commands[i].name, p->commands[i].summary);
    if (p->footer) fprintf(out, "\n%s", p->footer);
}

int cli_main(const CliProgram *p, int argc, char **argv) {
    set_program_name(argv[0]);
    if (argc < 2) {
        usage(p, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(p, stdout);
        return 0;
    }
    for (int i = 0; i < p->n_commands; i++)
        if (strcmp(argv[1], p->commands[i].name) == 0) return p->commands[i].run(argc - 1, argv + 1);
    fatal("unknown command '%s' (try --help)", argv[1]);
}

long cli_long(const char *flag, const char *value, long min, long max) {
    long v;
    if (!parse_long(value, min, max, &v)) fatal("%s: '%s' is not a whole number in %ld..%ld", flag, value, min, max);
    return v;
}

float cli_float(const char *flag, const char *value, double min, double max) {
    double v;
    if (!parse_double(value, min, max, &v)) fatal("%s: '%s' is not a number in %g..%g", flag, value, min, max);
    return (float)v;
}

void cli_no_arguments(const char *command, int argc, char **argv) {
    if (optind < argc) fatal("%s: unexpected argument '%s'", command, argv[optind]);
}

int cli_bad_usage(const char *command) {
    fprintf(stderr, "%s: try '%s %s --help'\n", program_name(), program_name(), command);
    return 2;
}
