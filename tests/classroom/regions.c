/* regions.c: see regions.h. */
#include "regions.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"

/* The text's lines, pointers into a copy with the newlines cut. */
typedef struct {
    char *copy;
    char **line;
    int count;
} Lines;

static Lines split_lines(const char *text) {
    Lines l = {xstrdup(text), NULL, 0};
    size_t cap = 0;
    for (char *p = l.copy; *p;) {
        if ((size_t)l.count == cap) {
            cap = cap ? 2 * cap : 256;
            l.line = xrealloc(l.line, cap * sizeof *l.line);
        }
        l.line[l.count++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    return l;
}

static const char *skip_blanks(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* "/ * BEGIN EXERCISE <id>: <title> (book <section>) * /" alone on its line. */
static bool parse_begin(const char *line, Region *r) {
    const char *s = skip_blanks(line);
    const char *prefix = "/* BEGIN EXERCISE ";
    if (strncmp(s, prefix, strlen(prefix)) != 0) return false;
    s += strlen(prefix);
    const char *colon = strchr(s, ':');
    const char *book = strstr(s, " (book ");
    const char *end = strstr(s, ") */");
    if (!colon || !book || !end || colon > book || book > end) return false;
    if (*skip_blanks(end + 4) != '\0') return false;
    size_t id_len = (size_t)(colon - s), title_len = (size_t)(book - colon - 2);
    size_t book_len = (size_t)(end - book - 7);
    if (id_len == 0 || id_len >= sizeof r->id || colon[1] != ' ' || title_len == 0 || title_len >= sizeof r->title ||
        book_len == 0 || book_len >= sizeof r->book)
        return false;
    memcpy(r->id, s, id_len);
    r->id[id_len] = '\0';
    memcpy(r->title, colon + 2, title_len);
    r->title[title_len] = '\0';
    memcpy(r->book, book + 7, book_len);
    r->book[book_len] = '\0';
    return true;
}

static bool is_begin_marker(const char *line) { return strncmp(skip_blanks(line), "/* BEGIN EXERCISE", 17) == 0; }
static bool is_end_marker(const char *line) { return strncmp(skip_blanks(line), "/* END EXERCISE", 15) == 0; }

/* The id of "/ * END EXERCISE <id> * /"; false if the line is not one. */
static bool parse_end(const char *line, char *id, size_t id_size) {
    const char *s = skip_blanks(line) + strlen("/* END EXERCISE ");
    const char *end = strstr(s, " */");
    if (!end || end == s || (size_t)(end - s) >= id_size || *skip_blanks(end + 3) != '\0') return false;
    memcpy(id, s, (size_t)(end - s));
    id[end - s] = '\0';
    return true;
}

static bool ends_with_brace(const char *line) {
    size_t n = strlen(line);
    while (n > 0 && isspace((unsigned char)line[n - 1])) n--;
    return n > 0 && line[n - 1] == '{';
}

/* The names of a function's parameters, from its header (the text from the
 * return type to the '{'): the last identifier of each comma-separated
 * parameter, or the name inside "(*name)" of a function pointer. */
static bool parameter_names(const char *header, char *names, size_t size) {
    names[0] = '\0';
    const char *open = strchr(header, '(');
    if (!open) return false;
    int depth = 0;
    const char *start = open + 1;
    for (const char *p = open; *p; p++) {
        if (*p == '(' || *p == '[') depth++;
        if (*p == ')' || *p == ']') depth--;
        bool last = depth == 0;
        if (!((*p == ',' && depth == 1) || last)) continue;
        /* one parameter: start .. p */
        const char *name_end = p;
        const char *fp = NULL;
        for (const char *q = start; q < p; q++)
            if (q[0] == '(' && q[1] == '*') fp = q + 2;
        if (fp) {
            name_end = fp;
            while (isalnum((unsigned char)*name_end) || *name_end == '_') name_end++;
        } else {
            while (name_end > start && (isspace((unsigned char)name_end[-1]) || name_end[-1] == ']')) {
                if (name_end[-1] == ']')
                    while (name_end > start && name_end[-1] != '[') name_end--;
                name_end--;
            }
        }
        const char *name = name_end;
        while (name > start && (isalnum((unsigned char)name[-1]) || name[-1] == '_')) name--;
        size_t len = (size_t)(name_end - name);
        /* "(void)" and "..." name nothing */
        const char *text = skip_blanks(start);
        bool only_void = strncmp(text, "void", 4) == 0 && name == text && len == 4;
        if (len > 0 && !only_void && !isdigit((unsigned char)*name)) {
            if (strlen(names) + len + 2 > size) return false;
            if (names[0]) strcat(names, " ");
            strncat(names, name, len);
        }
        start = p + 1;
        if (last) return true;
    }
    return false;
}

bool find_regions(const char *text, const char *path, Regions *out, char *err, size_t err_size) {
    Lines l = split_lines(text);
    Regions r = {NULL, 0};
    bool ok = true;
    Region *open = NULL;
    for (int i = 0; i < l.count && ok; i++) {
        const char *line = l.line[i];
        if (is_begin_marker(line)) {
            if (open) {
                ok = set_error(err, err_size, "%s:%d: BEGIN EXERCISE inside exercise %s's region (from line %d)", path,
                               i + 1, open->id, open->begin_line);
                break;
            }
            r.regions = xrealloc(r.regions, (size_t)(r.count + 1) * sizeof *r.regions);
            open = &r.regions[r.count++];
            memset(open, 0, sizeof *open);
            if (!parse_begin(line, open)) {
                ok = set_error(err, err_size, "%s:%d: a BEGIN marker reads /* BEGIN EXERCISE 3d: title (book 3.5.1) */",
                               path, i + 1);
                break;
            }
            open->begin_line = i + 1;
            open->in_function = line[0] == ' ' || line[0] == '\t';
            if (!open->in_function) continue;
            /* a body region: the header's last line ends in '{' right above;
             * the header starts at the line above it that starts at column 0 */
            if (i == 0 || !ends_with_brace(l.line[i - 1])) {
                ok = set_error(err, err_size,
                               "%s:%d: an indented BEGIN marker must start a function's body, right after the '{' line",
                               path, i + 1);
                break;
            }
            int first = i - 1;
            while (first > 0 && (l.line[first][0] == ' ' || l.line[first][0] == '\t')) first--;
            ByteBuf header = {0};
            for (int k = first; k < i; k++) {
                bytebuf_append(&header, l.line[k], strlen(l.line[k]));
                bytebuf_append(&header, " ", 1);
            }
            bytebuf_append(&header, "", 1);
            if (!parameter_names(header.data, open->params, sizeof open->params))
                ok = set_error(err, err_size, "%s:%d: cannot read the parameters of the function above", path, i + 1);
            bytebuf_free(&header);
        } else if (is_end_marker(line)) {
            char id[16];
            if (!open) {
                ok = set_error(err, err_size, "%s:%d: END EXERCISE without a BEGIN", path, i + 1);
            } else if (!parse_end(line, id, sizeof id) || strcmp(id, open->id) != 0) {
                ok = set_error(err, err_size, "%s:%d: this region began as exercise %s (line %d): end it with /* END EXERCISE %s */",
                               path, i + 1, open->id, open->begin_line, open->id);
            } else if (open->in_function && (i + 1 >= l.count || strcmp(l.line[i + 1], "}") != 0)) {
                ok = set_error(err, err_size, "%s:%d: the END marker of a body region comes right before the function's '}'",
                               path, i + 1);
            } else if (!open->in_function && (line[0] == ' ' || line[0] == '\t')) {
                ok = set_error(err, err_size, "%s:%d: a file-scope region (BEGIN at column 0) ends at column 0", path, i + 1);
            } else {
                open->end_line = i + 1;
                open = NULL;
            }
        }
    }
    if (ok && open)
        ok = set_error(err, err_size, "%s:%d: exercise %s's region has no END marker", path, open->begin_line, open->id);
    free(l.line);
    free(l.copy);
    if (!ok) {
        free(r.regions);
        return false;
    }
    *out = r;
    return true;
}

void regions_free(Regions *r) {
    free(r->regions);
    r->regions = NULL;
    r->count = 0;
}

const char *exercise_chapter(const char *id) {
    static const char *const chapters[] = {"ch02", "ch03", "ch04", "ch05", "ch06", "ch06"};
    if (id[0] == 'E') return "appE";
    if (id[0] >= '2' && id[0] <= '7') return chapters[id[0] - '2'];
    return "unknown";
}

/* A region's replacement, indented as its BEGIN marker was. */
static void append_stub(ByteBuf *b, const Region *r, const char *begin_line) {
    char buf[1024];
    int indent = (int)(skip_blanks(begin_line) - begin_line);
    if (!r->in_function) {
        snprintf(buf, sizeof buf, "/* EXERCISE %s: %s (book %s): what your solution needs here (helpers, tables) goes here. */\n",
                 r->id, r->title, r->book);
        bytebuf_append(b, buf, strlen(buf));
        return;
    }
    snprintf(buf, sizeof buf, "%*s/* EXERCISE %s: %s (book %s): write this function's body. */\n", indent, "", r->id,
             r->title, r->book);
    bytebuf_append(b, buf, strlen(buf));
    char names[sizeof r->params];
    snprintf(names, sizeof names, "%s", r->params);
    for (char *save = NULL, *name = strtok_r(names, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
        snprintf(buf, sizeof buf, "%*s(void)%s;\n", indent, "", name);
        bytebuf_append(b, buf, strlen(buf));
    }
    snprintf(buf, sizeof buf, "%*snot_implemented(\"%s\", \"%s\", \"%s\");\n", indent, "", r->id, r->title, r->book);
    bytebuf_append(b, buf, strlen(buf));
}

char *remove_regions(const char *text, const Regions *regions, RegionFilter removed, void *context, bool *changed) {
    ByteBuf b = {0};
    *changed = false;
    int line_no = 1, next = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *after = nl ? nl + 1 : p + strlen(p);
        while (next < regions->count && regions->regions[next].begin_line < line_no) next++;
        const Region *r = next < regions->count && regions->regions[next].begin_line == line_no ? &regions->regions[next] : NULL;
        if (r && removed(r, context)) {
            append_stub(&b, r, p);
            *changed = true;
            /* skip to the line after the END marker */
            for (; line_no <= r->end_line && *p; line_no++) {
                nl = strchr(p, '\n');
                p = nl ? nl + 1 : p + strlen(p);
            }
            continue;
        }
        bytebuf_append(&b, p, (size_t)(after - p));
        p = after;
        line_no++;
    }
    bytebuf_append(&b, "", 1);
    return b.data;
}
