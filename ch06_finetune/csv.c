/* csv.c: see csv.h. */
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parser's states, as pandas' tokenizer names them. */
typedef enum { START_FIELD, IN_FIELD, IN_QUOTED_FIELD, QUOTE_IN_QUOTED_FIELD } CsvState;

typedef struct {
    CsvTable *t;
    int n_cols;
    ByteBuf field;
    char **row;      /* the fields of the row being read */
    int row_fields;
    int row_line;
    size_t cap_rows;
    char *err;
    size_t err_size;
} Parser;

static void end_field(Parser *p) {
    char *cell = xmalloc(p->field.len + 1);
    memcpy(cell, p->field.data ? p->field.data : "", p->field.len);
    cell[p->field.len] = '\0';
    p->field.len = 0;
    if (p->row_fields < p->n_cols) p->row[p->row_fields] = cell;
    else free(cell);
    p->row_fields++;
}

/* Close the row; false (with the reason in err) when it has the wrong
 * number of fields. */
static bool end_row(Parser *p) {
    CsvTable *t = p->t;
    if (p->row_fields != p->n_cols) {
        snprintf(p->err, p->err_size, "line %d: %d field%s, expected %d", p->row_line, p->row_fields,
                 p->row_fields == 1 ? "" : "s", p->n_cols);
        for (int i = 0; i < p->row_fields && i < p->n_cols; i++) free(p->row[i]);
        p->row_fields = 0;
        return false;
    }
    if ((size_t)t->n_rows == p->cap_rows) {
        p->cap_rows = p->cap_rows ? 2 * p->cap_rows : 1024;
        t->cells = xrealloc(t->cells, checked_mul(checked_mul(p->cap_rows, p->n_cols), sizeof(char *)));
        t->lines = xrealloc(t->lines, checked_mul(p->cap_rows, sizeof(int)));
    }
    memcpy(t->cells + (size_t)t->n_rows * p->n_cols, p->row, (size_t)p->n_cols * sizeof(char *));
    t->lines[t->n_rows++] = p->row_line;
    p->row_fields = 0;
    return true;
}

bool csv_parse(const char *text, size_t len, char delimiter, int n_cols, CsvTable *out, char *err, size_t err_size) {
    *out = (CsvTable){.n_cols = n_cols};
    /* rows and lines are counted in ints: fewer bytes than INT_MAX keeps
     * every count in range */
    if (len >= CSV_MAX_BYTES)
        return snprintf(err, err_size, "%zu bytes is too long (the most is %d)", len, CSV_MAX_BYTES - 1), false;
    if (n_cols < 1) return snprintf(err, err_size, "n_cols must be at least 1 (got %d)", n_cols), false;
    Parser p = {.t = out, .n_cols = n_cols, .row = xcalloc(n_cols, sizeof(char *)), .err = err, .err_size = err_size};
    CsvState state = START_FIELD;
    bool row_open = false, ok = true;
    int line = 1;
    for (size_t i = 0; i < len && ok; i++) {
        const char c = text[i];
        /* a row starts with its first character: blank lines make none */
        if (!row_open) {
            if (c == '\n' || (c == '\r' && i + 1 < len && text[i + 1] == '\n')) {
                line += c == '\n';
                continue;
            }
            row_open = true;
            p.row_line = line;
        }
        switch (state) {
        case START_FIELD:
        case IN_FIELD:
            if (state == START_FIELD && c == '"') {
                state = IN_QUOTED_FIELD;
            } else if (c == delimiter) {
                end_field(&p);
                state = START_FIELD;
            } else if (c == '\n' || c == '\r') {
                /* "\r\n" and "\n" end the row; a lone "\r" too */
                if (c == '\r' && i + 1 < len && text[i + 1] == '\n') i++, line++;
                end_field(&p);
                ok = end_row(&p);
                row_open = false;
                state = START_FIELD;
            } else {
                bytebuf_append(&p.field, &c, 1);
                state = IN_FIELD;
            }
            break;
        case IN_QUOTED_FIELD:
            if (c == '"') state = QUOTE_IN_QUOTED_FIELD;
            else bytebuf_append(&p.field, &c, 1);
            break;
        case QUOTE_IN_QUOTED_FIELD:
            if (c == '"') { /* "" is one quote */
                bytebuf_append(&p.field, &c, 1);
                state = IN_QUOTED_FIELD;
            } else if (c == delimiter) {
                end_field(&p);
                state = START_FIELD;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < len && text[i + 1] == '\n') i++, line++;
                end_field(&p);
                ok = end_row(&p);
                row_open = false;
                state = START_FIELD;
            } else { /* text after the closing quote joins the field */
                bytebuf_append(&p.field, &c, 1);
                state = IN_FIELD;
            }
            break;
        }
        if (c == '\n') line++;
    }
    if (ok && state == IN_QUOTED_FIELD) {
        snprintf(err, err_size, "line %d: a quoted field is still open at the end of the file", p.row_line);
        ok = false;
    } else if (ok && row_open) { /* the last row has no line break */
        end_field(&p);
        ok = end_row(&p);
    }
    for (int i = 0; i < p.row_fields && i < n_cols; i++) free(p.row[i]); /* a row left open by an error */
    bytebuf_free(&p.field);
    free(p.row);
    if (!ok) csv_free(out);
    return ok;
}

CsvTable csv_read_file(const char *path, char delimiter, int n_cols) {
    size_t len;
    char *text = read_file(path, &len);
    CsvTable t;
    char err[160];
    if (!csv_parse(text, len, delimiter, n_cols, &t, err, sizeof err)) fatal("%s: %s", path, err);
    free(text);
    return t;
}

void csv_free(CsvTable *t) {
    for (size_t i = 0; i < (size_t)t->n_rows * t->n_cols; i++) free(t->cells[i]);
    free(t->cells);
    free(t->lines);
    *t = (CsvTable){0};
}

void csv_append_field(ByteBuf *out, const char *field, char delimiter) {
    bool quote = false;
    for (const char *s = field; *s && !quote; s++) quote = *s == delimiter || *s == '"' || *s == '\n' || *s == '\r';
    if (!quote) {
        bytebuf_append(out, field, strlen(field));
        return;
    }
    bytebuf_append(out, "\"", 1);
    for (const char *s = field; *s; s++) {
        if (*s == '"') bytebuf_append(out, "\"", 1);
        bytebuf_append(out, s, 1);
    }
    bytebuf_append(out, "\"", 1);
}
