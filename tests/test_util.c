/* Tests for common/util.c. */
#include <stdlib.h>
#include <time.h>
#include <utime.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_helpers.h"

START_TEST(test_read_file_returns_bytes_and_length) {
    char *dir = make_temp_dir();
    char *path = path_join(dir, "a.bin");
    const char data[] = "ab\0cd";
    write_file_atomic(path, data, 5);
    size_t len;
    char *got = read_file(path, &len);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(got, data, 5), 0);
    ck_assert_int_eq(got[5], '\0');
    free(got);
    remove_tree(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(test_atomic_write_leaves_no_temp_file) {
    char *dir = make_temp_dir();
    char *path = path_join(dir, "out.txt");
    AtomicFile af = atomic_file_open(path);
    fputs("half", af.f);
    atomic_file_abort(&af); /* an error midway: nothing may appear */
    ck_assert(!file_exists(path));
    char out[64];
    snprintf(out, sizeof out, "ls %s | wc -l", dir);
    char *listing;
    ck_assert_int_eq(run_command(out, &listing, NULL), 0);
    ck_assert_str_eq(listing, "0\n");
    free(listing);
    write_file_atomic(path, "whole", 5);
    char *got = read_file(path, NULL);
    ck_assert_str_eq(got, "whole");
    free(got);
    remove_tree(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(test_read_missing_file_exits) { read_file("/nonexistent/file.txt", NULL); }
END_TEST

START_TEST(test_path_join) {
    char *p = path_join("a/b", "c.txt");
    ck_assert_str_eq(p, "a/b/c.txt");
    free(p);
    p = path_join("a/", "c");
    ck_assert_str_eq(p, "a/c");
    free(p);
}
END_TEST

START_TEST(test_path_dir) {
    const char *cases[][2] = {{"a/b/c.txt", "a/b"}, {"c.txt", "."}, {"/c", "/"}, {"./x", "."}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = path_dir(cases[i][0]);
        ck_assert_str_eq(d, cases[i][1]);
        free(d);
    }
}
END_TEST

/* Relative paths are taken from the working directory and stay right after
 * a chdir; absolute ones are kept as they are. */
START_TEST(test_absolute_path) {
    char *dir = make_temp_dir(), *from = xstrdup(dir);
    ck_assert_int_eq(chdir(dir), 0);
    char *p = absolute_path("not-yet/there.txt"), *want = path_join(from, "not-yet/there.txt");
    ck_assert_str_eq(p, want);
    ck_assert_int_eq(chdir("/"), 0);
    free(p);
    p = absolute_path("/etc/hostname");
    ck_assert_str_eq(p, "/etc/hostname");
    free(p);
    free(want);
    remove_tree(dir);
    free(from);
    free(dir);
}
END_TEST

static void touch(const char *dir, const char *name) {
    char *path = path_join(dir, name);
    FILE *f = xfopen(path, "w");
    fclose(f);
    free(path);
}

static bool exists_in(const char *dir, const char *name) {
    char *path = path_join(dir, name);
    bool yes = file_exists(path);
    free(path);
    return yes;
}

/* Only "<name>.tmp.<pid>" files whose process is gone go; a live writer's
 * file and names that merely look alike stay. */
START_TEST(test_remove_stale_temp_files) {
    pid_t dead = fork(); /* a pid that surely belongs to no running process: a reaped child's */
    if (dead == 0) _exit(0);
    ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
    char *dir = make_temp_dir(), stale[64], live[64];
    snprintf(stale, sizeof stale, "ckpt.safetensors.tmp.%ld", (long)dead);
    snprintf(live, sizeof live, "log.csv.tmp.%ld", (long)getpid());
    const char *keep[] = {"data.tmp", "notes.tmp.abc", "x.tmp.", "tmp.1", live};
    touch(dir, stale);
    for (int i = 0; i < 5; i++) touch(dir, keep[i]);
    ck_assert_int_eq(remove_stale_temp_files(dir), 1);
    ck_assert(!exists_in(dir, stale));
    for (int i = 0; i < 5; i++) ck_assert_msg(exists_in(dir, keep[i]), "%s was removed", keep[i]);
    ck_assert_int_eq(remove_stale_temp_files(dir), 0);
    /* a pid in use again, by a process that started after the file's last
     * write (here: this one, and a file dated a day back), did not write it */
    char reused[64];
    snprintf(reused, sizeof reused, "ckpt.safetensors.tmp.%ld", (long)getpid());
    touch(dir, reused);
    char *reused_path = path_join(dir, reused);
    struct utimbuf day_ago = {time(NULL) - 86400, time(NULL) - 86400};
    ck_assert_int_eq(utime(reused_path, &day_ago), 0);
    ck_assert_int_eq(remove_stale_temp_files(dir), 1);
    ck_assert(!exists_in(dir, reused));
    ck_assert(exists_in(dir, live));
    free(reused_path);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_make_dirs_creates_parents) {
    char *dir = make_temp_dir();
    char *deep = path_join(dir, "x/y/z");
    make_dirs(deep);
    make_dirs(deep); /* existing is fine */
    char *file = path_join(deep, "f");
    write_file_atomic(file, "1", 1);
    ck_assert(file_exists(file));
    remove_tree(dir);
    free(file);
    free(deep);
    free(dir);
}
END_TEST

START_TEST(test_parse_numbers) {
    long v;
    ck_assert(parse_long("42", 0, 100, &v) && v == 42);
    ck_assert(!parse_long("-1", 0, 100, &v));
    ck_assert(!parse_long("101", 0, 100, &v));
    ck_assert(!parse_long("4x", 0, 100, &v));
    ck_assert(!parse_long("", 0, 100, &v));
    ck_assert(!parse_long("99999999999999999999999", 0, 100, &v));
    double d;
    ck_assert(parse_double("0.25", 0, 1, &d) && d == 0.25);
    ck_assert(!parse_double("nan", 0, 1, &d));
    ck_assert(!parse_double("1.5", 0, 1, &d));
}
END_TEST

START_TEST(test_format_duration) {
    char buf[32];
    format_duration(65, buf, sizeof buf);
    ck_assert_str_eq(buf, "1:05");
    format_duration(3 * 3600 + 62, buf, sizeof buf);
    ck_assert_str_eq(buf, "3:01:02");
    format_duration(-1, buf, sizeof buf);
    ck_assert_str_eq(buf, "--:--");
}
END_TEST

START_TEST(test_data_dir_from_environment) {
    setenv("DATA_DIR", "/some/where", 1);
    ck_assert_str_eq(data_dir(), "/some/where");
}
END_TEST

START_TEST(test_missing_data_file_exits) {
    setenv("DATA_DIR", "/nonexistent", 1);
    data_file("the-verdict.txt");
}
END_TEST

START_TEST(test_growable_arrays) {
    IntVec v = {0};
    for (int i = 0; i < 1000; i++) intvec_push(&v, i * i);
    ck_assert_uint_eq(v.len, 1000);
    ck_assert_int_eq(v.data[999], 999 * 999);
    intvec_free(&v);
    ByteBuf b = {0};
    for (int i = 0; i < 100; i++) bytebuf_append(&b, "abc", 3);
    ck_assert_uint_eq(b.len, 300);
    ck_assert_int_eq(b.data[300], '\0');
    bytebuf_free(&b);
}
END_TEST

Suite *util_suite(void) {
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    add_test(tc, test_read_file_returns_bytes_and_length);
    add_test(tc, test_atomic_write_leaves_no_temp_file);
    add_exit_test(tc, test_read_missing_file_exits, 1);
    add_test(tc, test_path_join);
    add_test(tc, test_path_dir);
    add_test(tc, test_absolute_path);
    add_test(tc, test_make_dirs_creates_parents);
    add_test(tc, test_remove_stale_temp_files);
    add_test(tc, test_parse_numbers);
    add_test(tc, test_format_duration);
    add_test(tc, test_data_dir_from_environment);
    add_exit_test(tc, test_missing_data_file_exits, 1);
    add_test(tc, test_growable_arrays);
    suite_add_tcase(s, tc);
    return s;
}
