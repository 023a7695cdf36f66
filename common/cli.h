/* cli.h: what every chapter's program shares: a table of subcommands with
 * --help, and flags parsed into checked numbers. */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
    const char *summary;
} CliCommand;

typedef struct {
    const char *name;        /* "ch02" */
    const char *description; /* the lines under the usage line */
    const char *footer;      /* printed after the commands, or NULL */
    const CliCommand *commands;
    int n_commands;
} CliProgram;

/* Set the program name for messages, then run the subcommand argv[1]
 * (usage on no subcommand, --help, or an unknown one). Returns the exit status. */
int cli_main(const CliProgram *program, int argc, char **argv);

/* The value of a flag as a whole number / number in [min, max]; anything
 * else exits with "<flag>: '<value>' is not ...". */
long cli_long(const char *flag, const char *value, long min, long max);
float cli_float(const char *flag, const char *value, double min, double max);

/* After getopt: exit with "<command>: unexpected argument 'X'" if any
 * argument is left over. */
void cli_no_arguments(const char *command, int argc, char **argv);

/* After getopt reported a bad flag: point at the subcommand's --help. Returns 2. */
int cli_bad_usage(const char *command);

#endif
