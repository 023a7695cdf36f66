/* printing.c: see printing.h. */
#include "printing.h"

#include <stdio.h>
#include <string.h>

void section(const char *title) { printf("\n== %s ==\n", title); }

void cell(int n, const char *what) { printf("In [%d]: %s\n", n, what); }

const char *with_commas(size_t n, char buf[32]) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

void print_repr(const char *s) {
    const char quote = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    putchar(quote);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)quote) printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p == '\r') fputs("\\r", stdout);
        else if (*p < 0x20 || *p == 0x7f) printf("\\x%02x", *p);
        else putchar(*p);
    }
    putchar(quote);
}

void write_int_list(const int *x, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", x[i]);
    putchar(']');
}

void write_int_tensor(const int *x, int rows, int cols) {
    int width = 1;
    for (int i = 0; i < rows * cols; i++) {
        int w = snprintf(NULL, 0, "%d", x[i]);
        if (w > width) width = w;
    }
    fputs("tensor([", stdout);
    for (int r = 0; r < rows; r++) {
        fputs(r ? ",\n        [" : "[", stdout);
        for (int c = 0; c < cols; c++) printf("%s%*d", c ? ", " : "", width, x[r * cols + c]);
        putchar(']');
    }
    fputs("])", stdout);
}

void print_int_tensor(const int *x, int rows, int cols) {
    write_int_tensor(x, rows, cols);
    putchar('\n');
}
