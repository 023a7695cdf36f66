/* util.h: the small plumbing every chapter needs: errors that name the file
 * and the reason, checked allocation and file I/O, atomic writes, the data
 * directory, a clock, and a progress bar. */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The program name used as the prefix of every error message ("ch02: ..."). */
void set_program_name(const char *argv0);
const char *program_name(void);

/* Print "<program>: <message>" on stderr and exit with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A student edition's stub for a removed exercise (make assignment): print
 * "<program>: not implemented yet: exercise 3c: causal attention mask (book
 * 3.5.1)" and exit with status 3 (NOT_IMPLEMENTED_STATUS), which the
 * autograder reads as "not written yet" rather than as a wrong answer. */
#define NOT_IMPLEMENTED_STATUS 3
void not_implemented(const char *exercise, const char *title, const char *book_section) __attribute__((noreturn));

/* Library code that reads outside input reports errors by returning: the
 * message goes to a caller's buffer (err, err_size bytes) and the function
 * returns false or NULL; the programs' convenience wrappers pass the
 * message to fatal. format_error writes the message; set_error does that
 * and evaluates to false, so a check reads
 * `if (bad) return set_error(err, err_size, "...", ...);` (a macro, so the
 * compiler sees the false and knows what was left unset). */
void format_error(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define set_error(err, err_size, ...) (format_error((err), (err_size), __VA_ARGS__), false)

/* Allocation that never returns NULL: on failure it reports the size and exits. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
/* size_t multiplication that reports overflow instead of wrapping. */
size_t checked_mul(size_t a, size_t b);
/* *out = a * b; false (and *out untouched) when that overflows size_t. */
bool size_mul(size_t a, size_t b, size_t *out);

/* fopen that reports "<path>: <strerror>" and exits on failure. */
FILE *xfopen(const char *path, const char *mode);
/* Read a whole file into a NUL-terminated buffer; *len gets the byte count. */
char *read_file(const char *path, size_t *len);
/* The same, returning NULL with "<path>: <reason>" in err when the file
 * cannot be read. */
char *try_read_file(const char *path, size_t *len, char *err, size_t err_size);
/* Read exactly size bytes or report the file as truncated. */
void xfread(void *dst, size_t size, FILE *f, const char *path);

/* Writing a file atomically: everything goes to "<path>.tmp.<pid>" and only a
 * successful atomic_file_commit renames it over path, so a crash or an error
 * never leaves a half-written file behind. The commit syncs the file to disk
 * before the rename and the directory after it, so even a power cut leaves
 * path either the old file or the new one. */
typedef struct {
    FILE *f;
    char *path;
    char *tmp_path;
} AtomicFile;
AtomicFile atomic_file_open(const char *path);
void atomic_file_commit(AtomicFile *af);
void atomic_file_abort(AtomicFile *af);
void write_file_atomic(const char *path, const void *data, size_t len);
/* A process killed while writing leaves its "<name>.tmp.<pid>" behind:
 * remove those in dir whose writer is no longer running (no process has the
 * pid, or the one that has it started after the file's last write), naming
 * each on stderr. Returns how many. */
int remove_stale_temp_files(const char *dir);

/* "a/b" from a and b (malloc'd). */
char *path_join(const char *dir, const char *name);
/* The directory part of a path, as dirname(1): "a/b/c" -> "a/b", "c" -> "." (malloc'd). */
char *path_dir(const char *path);
/* path as seen from the working directory, made absolute without resolving
 * links, so it stays right after a chdir (malloc'd; the file need not exist). */
char *absolute_path(const char *path);
bool file_exists(const char *path);
/* Create dir and its parents like `mkdir -p`; exits on failure. */
void make_dirs(const char *dir);

/* The checkout's root: the folder above the one holding the executable
 * (every program lives one folder below the root). */
const char *checkout_root(void);

/* The data directory: $DATA_DIR if set, else the checkout's data/ found from
 * the executable's own location (executables live one folder below the
 * checkout's root), so programs work from any working directory. */
const char *data_dir(void);
/* Path of a file inside the data directory (malloc'd). If the file is missing
 * this exits with a message that names it and says how to get it. */
char *data_file(const char *relative_path);

/* Seconds from a monotonic clock. */
double now_seconds(void);

/* A progress bar on stderr with rate and ETA. It draws only when stderr is a
 * terminal, so logs and pipes stay clean. */
typedef struct {
    const char *label;
    const char *unit;
    long total;
    long done;
    long first_done;    /* done at the first update: a resumed task's rate counts from there */
    double start;
    double last_draw;
    bool enabled;
    const char *rate_unit; /* when set, the rate is shown in these: rate_per_unit of them per unit */
    double rate_per_unit;
    char note[48];      /* shown after the ETA (a training run's latest loss) */
} Progress;
void progress_start(Progress *p, const char *label, const char *unit, long total);
/* Show the rate in other units, per_unit of them to each unit ("tokens", B * T per step). */
void progress_rate_in(Progress *p, const char *rate_unit, double per_unit);
void progress_update(Progress *p, long done);
/* Text shown after the ETA from the next draw on. */
void progress_note(Progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_finish(Progress *p);
/* Erase the bar's line, so a result printed now does not run into it. */
void progress_clear(Progress *p);
/* "1:05:09" or "4:02"; "--:--" when unknown or over 100 hours. */
void format_duration(double seconds, char *buf, size_t bufsize);

/* Growable arrays of ints and of bytes (zero-initialise, then push). */
typedef struct {
    int *data;
    size_t len, cap;
} IntVec;
void intvec_push(IntVec *v, int x);
void intvec_free(IntVec *v);

typedef struct {
    char *data;
    size_t len, cap;
} ByteBuf;
void bytebuf_append(ByteBuf *b, const void *bytes, size_t n);
void bytebuf_free(ByteBuf *b);

/* Parse a whole string as an integer/float in [min, max]; false if it is not one. */
bool parse_long(const char *s, long min, long max, long *out);
bool parse_double(const char *s, double min, double max, double *out);

#endif
