/* util.c: see util.h. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *g_program_name = "llm";

void set_program_name(const char *argv0) {
    const char *slash = strrchr(argv0, '/');
    g_program_name = slash ? slash + 1 : argv0;
}

const char *program_name(void) { return g_program_name; }

void fatal(const char *fmt, ...) {
    va_list args;
    fflush(stdout);
    fprintf(stderr, "%s: ", g_program_name);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    exit(1);
}

void not_implemented(const char *exercise, const char *title, const char *book_section) {
    fflush(stdout);
    fprintf(stderr, "%s: not implemented yet: exercise %s: %s (book %s)\n", g_program_name, exercise, title, book_section);
    exit(NOT_IMPLEMENTED_STATUS);
}

void format_error(char *err, size_t err_size, const char *fmt, ...) {
    if (!err || !err_size) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
}

void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) fatal("out of memory allocating %zu bytes", size);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) fatal("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *xrealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) fatal("out of memory allocating %zu bytes", size);
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

size_t checked_mul(size_t a, size_t b) {
    if (a != 0 && b > SIZE_MAX / a) fatal("size overflow: %zu x %zu", a, b);
    return a * b;
}

bool size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

FILE *xfopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) fatal("%s: %s", path, strerror(errno));
    return f;
}

char *try_read_file(const char *path, size_t *len, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        format_error(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        format_error(err, err_size, "%s: read error: %s", path, strerror(errno));
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *read_file(const char *path, size_t *len) {
    char err[512];
    char *buf = try_read_file(path, len, err, sizeof err);
    if (!buf) fatal("%s", err);
    return buf;
}

void xfread(void *dst, size_t size, FILE *f, const char *path) {
    if (size && fread(dst, 1, size, f) != size)
        fatal("%s: %s", path, ferror(f) ? strerror(errno) : "file is truncated");
}

AtomicFile atomic_file_open(const char *path) {
    AtomicFile af;
    af.path = xstrdup(path);
    size_t n = strlen(path) + 32;
    af.tmp_path = xmalloc(n);
    snprintf(af.tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af.f = xfopen(af.tmp_path, "wb");
    return af;
}

/* rename() replaces the file in one step, but only in the page cache: without
 * fsync a power cut can leave the new name pointing at blocks never written,
 * and without syncing the directory the rename itself can be lost. So: data
 * to disk, then the name, then the directory entry. */
static void sync_directory_of(const char *path) {
    char *dir = path_dir(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    /* EINVAL: a file system that cannot sync directories (nothing to do) */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        fatal("%s: in place, but its directory %s could not be synced: %s", path, dir, strerror(errno));
    close(fd);
    free(dir);
}

void atomic_file_commit(AtomicFile *af) {
    bool ok = fflush(af->f) == 0 && !ferror(af->f) && fsync(fileno(af->f)) == 0;
    int saved = errno;
    if (fclose(af->f) != 0 && ok) ok = false, saved = errno;
    af->f = NULL;
    if (!ok) {
        remove(af->tmp_path);
        fatal("%s: write failed: %s", af->path, strerror(saved));
    }
    if (rename(af->tmp_path, af->path) != 0) {
        saved = errno;
        remove(af->tmp_path);
        fatal("%s: cannot rename into place: %s", af->path, strerror(saved));
    }
    sync_directory_of(af->path);
    free(af->path);
    free(af->tmp_path);
}

void atomic_file_abort(AtomicFile *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
}

void write_file_atomic(const char *path, const void *data, size_t len) {
    AtomicFile af = atomic_file_open(path);
    fwrite(data, 1, len, af.f);
    atomic_file_commit(&af);
}

/* The pid in a name "<anything>.tmp.<pid>", or 0 if it is not one. */
static long temp_file_pid(const char *name) {
    const char *dot = strrchr(name, '.');
    long pid;
    if (!dot || dot - name < 4 || strncmp(dot - 4, ".tmp", 4) != 0) return 0;
    return parse_long(dot + 1, 1, INT_MAX, &pid) ? pid : 0;
}

/* When process pid started, in seconds since the epoch (Linux's /proc:
 * field 22 of /proc/PID/stat counts clock ticks from boot, and /proc/stat's
 * btime is the boot); -1 when unknown. */
static double process_start_time(long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ticks = 0;
    /* after ") " come fields 3.. ; starttime is field 22 */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &ticks) != 1)
        return -1;
    f = fopen("/proc/stat", "r");
    if (!f) return -1;
    long long boot = -1;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "btime %lld", &boot) == 1) break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    return boot < 0 || hz <= 0 ? -1 : (double)boot + (double)ticks / (double)hz;
}

/* Whether process pid can be the writer of a temporary file last modified
 * at mtime. ESRCH: no such process. A live pid is not enough: pids are
 * reused (soon, where pid_max is 32768, and always after a reboot), and a
 * process that started after the file's last write did not write it. One
 * we may not signal (EPERM) may be the writer. */
static bool may_be_writer(long pid, time_t mtime) {
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return false;
    double started = process_start_time(pid);
    return started < 0 || started <= (double)mtime + 1; /* btime and mtime are whole seconds */
}

int remove_stale_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    /* The names first, the removals after closedir: removing entries while
     * reading the directory may make readdir skip others on some file systems. */
    char **stale = NULL;
    long *pids = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        long pid = temp_file_pid(e->d_name);
        if (pid == 0) continue;
        char *path = path_join(dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || may_be_writer(pid, st.st_mtime)) {
            free(path);
            continue;
        }
        stale = xrealloc(stale, (size_t)(n + 1) * sizeof *stale);
        pids = xrealloc(pids, (size_t)(n + 1) * sizeof *pids);
        stale[n] = path;
        pids[n++] = pid;
    }
    closedir(d);
    int removed = 0;
    for (int i = 0; i < n; i++) {
        if (remove(stale[i]) == 0) {
            fprintf(stderr, "%s: removed %s, left by process %ld, which is no longer running\n", g_program_name,
                    stale[i], pids[i]);
            removed++;
        }
        free(stale[i]);
    }
    free(stale);
    free(pids);
    return removed;
}

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    size_t dl = strlen(dir);
    snprintf(p, n, "%s%s%s", dir, (dl && dir[dl - 1] == '/') ? "" : "/", name);
    return p;
}

char *path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path); /* "/x" is in "/" */
    char *dir = xmalloc(n + 1);
    memcpy(dir, path, n);
    dir[n] = '\0';
    return dir;
}

char *absolute_path(const char *path) {
    if (path[0] == '/') return xstrdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) fatal("cannot read the working directory: %s", strerror(errno));
    return path_join(cwd, path);
}

bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void make_dirs(const char *dir) {
    char *p = xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char saved = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) fatal("%s: cannot create directory: %s", p, strerror(errno));
            *s = saved;
            if (saved == '\0') break;
        }
    }
    free(p);
}

const char *checkout_root(void) {
    static char root[PATH_MAX];
    if (root[0]) return root;
    ssize_t n = readlink("/proc/self/exe", root, sizeof root - 1);
    if (n <= 0) return strcpy(root, ".");
    root[n] = '\0';
    /* strip "/<chapter>/<program>" */
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(root, '/');
        if (slash) *slash = '\0';
    }
    return root;
}

const char *data_dir(void) {
    static char *dir;
    if (dir) return dir;
    const char *env = getenv("DATA_DIR");
    if (env && *env) return dir = xstrdup(env);
    return dir = path_join(checkout_root(), "data");
}

char *data_file(const char *relative_path) {
    char *path = path_join(data_dir(), relative_path);
    if (!file_exists(path))
        fatal("missing data file %s (run `make data` to download it, or set DATA_DIR)", path);
    return path;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void format_duration(double seconds, char *buf, size_t bufsize) {
    if (!(seconds >= 0) || seconds > 360000) {
        snprintf(buf, bufsize, "--:--");
        return;
    }
    int s = (int)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, bufsize, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, bufsize, "%d:%02d", s / 60, s % 60);
}

void progress_start(Progress *p, const char *label, const char *unit, long total) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->start = now_seconds();
    p->last_draw = 0;
    p->enabled = isatty(STDERR_FILENO);
    p->first_done = -1;
    p->rate_unit = NULL;
    p->rate_per_unit = 1;
    p->note[0] = '\0';
}

void progress_rate_in(Progress *p, const char *rate_unit, double per_unit) {
    p->rate_unit = rate_unit;
    p->rate_per_unit = per_unit;
}

void progress_note(Progress *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note, sizeof p->note, fmt, ap);
    va_end(ap);
}

static void progress_draw(Progress *p, double now) {
    const int width = 30;
    double elapsed = now - p->start;
    long counted = p->done - (p->first_done > 0 ? p->first_done : 0);
    double rate = elapsed > 0 ? counted / elapsed : 0;
    double frac = p->total > 0 ? (double)p->done / p->total : 0;
    if (frac > 1) frac = 1;
    int filled = (int)(frac * width);
    char bar[64], eta[32], spent[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    format_duration(rate > 0 ? (p->total - p->done) / rate : -1, eta, sizeof eta);
    format_duration(elapsed, spent, sizeof spent);
    fprintf(stderr, "\r%s [%s] %3.0f%% %ld/%ld %.1f %s/s %s ETA %s %s", p->label, bar, 100 * frac, p->done, p->total,
            rate * p->rate_per_unit, p->rate_unit ? p->rate_unit : p->unit, spent, eta, p->note);
    fflush(stderr);
    p->last_draw = now;
}

void progress_update(Progress *p, long done) {
    if (p->first_done < 0) p->first_done = done, p->start = now_seconds();
    p->done = done;
    if (!p->enabled) return;
    double now = now_seconds();
    if (now - p->last_draw >= 0.1 || done >= p->total) progress_draw(p, now);
}

void progress_clear(Progress *p) {
    if (p->enabled) fputs("\r\033[K", stderr);
}

void progress_finish(Progress *p) {
    if (!p->enabled) return;
    progress_draw(p, now_seconds());
    fputc('\n', stderr);
}

bool parse_long(const char *s, long min, long max, long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

bool parse_double(const char *s, double min, double max, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || isnan(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

void intvec_push(IntVec *v, int x) {
    if (v->len == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->data = xrealloc(v->data, checked_mul(v->cap, sizeof(int)));
    }
    v->data[v->len++] = x;
}

void intvec_free(IntVec *v) {
    free(v->data);
    *v = (IntVec){0};
}

void bytebuf_append(ByteBuf *b, const void *bytes, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 256;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0'; /* always a valid C string too */
}

void bytebuf_free(ByteBuf *b) {
    free(b->data);
    *b = (ByteBuf){0};
}
