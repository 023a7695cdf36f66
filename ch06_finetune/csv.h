/* csv.h: delimited text as pandas reads and writes it, for 6.2's
 * SMSSpamCollection (read_csv(sep="\t", header=None)) and the
 * train/validation/test.csv files (to_csv and read_csv).
 *
 * Reading follows pandas' parser (and Python's csv module, which agrees on
 * these files): a field that starts with a double quote is quoted, runs
 * across delimiters and line breaks up to the next lone quote, and "" inside
 * it is one quote; whatever follows the closing quote up to the delimiter is
 * appended to the field as it is; a quote anywhere else is an ordinary
 * character. Blank lines are skipped, and a final line break makes no
 * record. This is why the SMS file has 5574 lines but 5572 records: line
 * 5082's text opens a quote that closes two lines further down.
 *
 * Writing quotes a field only when it holds the delimiter, a quote or a line
 * break (QUOTE_MINIMAL), doubling the quotes, and ends each row with "\n",
 * as pandas' to_csv does on Linux. */
#ifndef CH06_CSV_H
#define CH06_CSV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/util.h"

typedef struct {
    int n_rows, n_cols;
    char **cells; /* n_rows * n_cols, row-major, each malloc'd and NUL-terminated */
    int *lines;   /* the line of the file where each row starts (1-based), for messages */
} CsvTable;

/* The longest text csv_parse takes (2 GiB): its counts are ints. */
#define CSV_MAX_BYTES INT_MAX

/* Parse text into rows of n_cols fields (every row must have that many).
 * Returns false with a one-line reason (naming the line) in err, and *out
 * empty, on a quote left open at the end, a row with another number of
 * fields, or a text of CSV_MAX_BYTES or more. */
bool csv_parse(const char *text, size_t len, char delimiter, int n_cols, CsvTable *out, char *err, size_t err_size);
/* Read and parse a file; any problem exits with "path: line N: reason". */
CsvTable csv_read_file(const char *path, char delimiter, int n_cols);
void csv_free(CsvTable *t);
static inline const char *csv_cell(const CsvTable *t, int row, int col) { return t->cells[(size_t)row * t->n_cols + col]; }

/* Append one field to out, quoted when it must be. */
void csv_append_field(ByteBuf *out, const char *field, char delimiter);

#endif
