/*
 * test.h - a minimal unit test harness. Each test file is one executable
 * whose main() calls RUN(test_fn) for each case and returns TEST_RESULT().
 * CHECK records a failure with file and line and keeps going.
 */
#ifndef XMPP_TEST_H
#define XMPP_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); test_checks++; \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s\n  got:      %s\n  expected: %s\n", \
        __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); test_checks++; \
    if (a_ != b_) { test_failures++; fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %s (%lld != %lld)\n", \
        __FILE__, __LINE__, #a, #b, a_, b_); } } while (0)
#define RUN(fn) do { int f_ = test_failures; fn(); \
    fprintf(stderr, "%s %s\n", test_failures == f_ ? "ok  " : "FAIL", #fn); } while (0)
#define TEST_RESULT() (fprintf(stderr, "%d checks, %d failures\n", test_checks, test_failures), test_failures ? 1 : 0)

#endif
