/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays of recorded stop sequences through the stop state machine
 * (src/tracer/stopseq.c): the orders this kernel cannot produce (the
 * seccomp stop before the syscall-entry stop, Linux 3.5 to 4.7), the
 * register path of kernels before 5.3 (rax == -ENOSYS at an entry), and
 * wrong guesses that must mend themselves. Each step is one stop as the
 * tracer sees it, with the action the tracer must take. Also the check of
 * a seccomp stop's RET_TRACE data against the number that stopped.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <check.h>

#include <sys/syscall.h>

#include "stopseq.h"
#include "syscalls.h"
#include "tracee.h"

#define F TRACEE_FILTERED
#define NO SC_OP_NONE
#define EN SC_OP_ENTRY
#define EX SC_OP_EXIT

struct step {
	enum stop_kind kind;
	enum sc_op reported;     /* the kernel's op, NO with registers */
	enum sc_hint hint;
	bool pending;            /* the decoder kept an event (STOP_ENTRY) */
	enum stop_action want;
};

#define SECCOMP(p) { STOP_KIND_SECCOMP, SC_OP_SECCOMP, SC_HINT_NONE, p, STOP_ENTRY }
#define SYSCALL(op, h, p, w) { STOP_KIND_SYSCALL, op, h, p, w }
#define MAX_STEPS 8

struct sequence {
	const char *name;
	uint32_t flags;          /* at the start */
	bool before_entry;       /* what the tracer believes of the kernel */
	struct step steps[MAX_STEPS];
	size_t nsteps;
	uint32_t want_flags;     /* at the end */
};

static const struct sequence sequences[] = {
	{ "4.8+, filter, syscall info: seccomp, exit", F, false,
	  { SECCOMP(true), SYSCALL(EX, SC_HINT_NONE, false, STOP_EXIT) }, 2, F },
	{ "4.8+, filter, registers: seccomp, exit", F, false,
	  { SECCOMP(true), SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT) }, 2, F },
	{ "4.8+, filter, registers: a call failing with ENOSYS", F, false,
	  { SECCOMP(true), SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_EXIT) }, 2, F },
	{ "3.5-4.7, filter, registers: seccomp, entry (-ENOSYS), exit", F, true,
	  { SECCOMP(true), SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_SKIP_ENTRY),
	    SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT) }, 3, F },
	{ "3.5-4.7, filter, registers: the exit itself says -ENOSYS", F, true,
	  { SECCOMP(true), SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_SKIP_ENTRY),
	    SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_EXIT) }, 3, F },
	{ "3.5-4.7, filter, registers: two calls in a row", F, true,
	  { SECCOMP(true), SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_SKIP_ENTRY),
	    SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT),
	    SECCOMP(true), SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_SKIP_ENTRY),
	    SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT) }, 6, F },
	{ "3.5-4.7, filter: a call with nothing to report resumes with CONT", F, true,
	  { SECCOMP(false) }, 1, F },
	{ "3.5-4.7, filter, aarch64 registers (no hint)", F, true,
	  { SECCOMP(true), SYSCALL(NO, SC_HINT_NONE, false, STOP_SKIP_ENTRY),
	    SYSCALL(NO, SC_HINT_NONE, false, STOP_EXIT) }, 3, F },
	{ "old order with syscall info (the kernel's op decides)", F, true,
	  { SECCOMP(true), SYSCALL(EN, SC_HINT_NONE, false, STOP_SKIP_ENTRY),
	    SYSCALL(EX, SC_HINT_NONE, false, STOP_EXIT) }, 3, F },
	{ "guessed the old order on a 4.8+ kernel: the exit mends it", F, true,
	  { SECCOMP(true), SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT),
	    SECCOMP(true), SYSCALL(EX, SC_HINT_NONE, false, STOP_EXIT) }, 4, F },
	{ "no filter, registers: entry, exit failing with ENOSYS, entry", 0, false,
	  { SYSCALL(NO, SC_HINT_ENOSYS, true, STOP_ENTRY),
	    SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_EXIT),
	    SYSCALL(NO, SC_HINT_ENOSYS, true, STOP_ENTRY) }, 3,
	  TRACEE_INSYS_ANY | TRACEE_IN_SYSCALL },
	{ "no filter, registers: a wrong parity mends at the next exit",
	  TRACEE_INSYS_ANY, false,
	  { SYSCALL(NO, SC_HINT_ENOSYS, false, STOP_EXIT),
	    SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT),
	    SYSCALL(NO, SC_HINT_ENOSYS, true, STOP_ENTRY),
	    SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT) }, 4, 0 },
	{ "no filter, a tracee's own RET_TRACE filter (old order): entry decodes",
	  0, true,
	  { { STOP_KIND_SECCOMP, SC_OP_SECCOMP, SC_HINT_NONE, false, STOP_RESUME },
	    SYSCALL(NO, SC_HINT_ENOSYS, true, STOP_ENTRY),
	    SYSCALL(NO, SC_HINT_EXIT, false, STOP_EXIT) }, 3, 0 },
	{ "no filter, a tracee's own RET_TRACE filter (4.8+): entry decodes",
	  0, false,
	  { SYSCALL(EN, SC_HINT_NONE, true, STOP_ENTRY),
	    { STOP_KIND_SECCOMP, SC_OP_SECCOMP, SC_HINT_NONE, false, STOP_RESUME },
	    SYSCALL(EX, SC_HINT_NONE, false, STOP_EXIT) }, 3, 0 },
	{ "filter: an unexpected entry stop is not decoded twice", F, false,
	  { SYSCALL(EN, SC_HINT_NONE, false, STOP_RESUME) }, 1, F },
};

START_TEST(test_replay)
{
	const struct sequence *q = &sequences[_i];
	uint32_t flags = q->flags;

	for (size_t k = 0; k < q->nsteps; k++) {
		const struct step *s = &q->steps[k];
		enum stop_action act = stopseq_classify(flags, s->kind, s->reported,
							s->hint);

		ck_assert_msg(act == s->want, "%s: step %zu: action %d, want %d",
			      q->name, k, (int)act, (int)s->want);
		flags = stopseq_flags_after(flags, act, s->pending, q->before_entry);
	}
	ck_assert_msg(flags == q->want_flags, "%s: flags %#x, want %#x", q->name,
		      flags, q->want_flags);
}
END_TEST

/* After a seccomp stop with a pending event on an old kernel, the tracee is
 * resumed with PTRACE_SYSCALL (IN_SYSCALL) and waits for its entry stop. */
START_TEST(test_await_entry_flags)
{
	uint32_t f = stopseq_flags_after(F, STOP_ENTRY, true, true);

	ck_assert_uint_eq(f, F | TRACEE_IN_SYSCALL | TRACEE_AWAIT_ENTRY);
	f = stopseq_flags_after(F, STOP_ENTRY, true, false);
	ck_assert_uint_eq(f, F | TRACEE_IN_SYSCALL);
	f = stopseq_flags_after(F, STOP_ENTRY, false, true);
	ck_assert_uint_eq(f, F);
}
END_TEST

/* The probe of this kernel's order answers (0 on 4.8+, 1 before). */
START_TEST(test_probe_order_here)
{
	int r = stopseq_probe_order();

	/* A parent may always trace its own child (PTRACE_TRACEME). */
	ck_assert_msg(r == 0 || r == 1, "stopseq_probe_order: %d", r);
}
END_TEST

#if defined(__x86_64__)
static void init_tables(void)
{
	sc_tables_init();
}

/* A seccomp stop as the register path reads it: a 64-bit regset. */
static struct sc_info regs_stop(int nr, uint32_t data)
{
	struct sc_info s = { .op = SC_OP_SECCOMP, .nr = nr, .ret_data = data,
			     .has_compat_view = true };

	for (int i = 0; i < 6; i++) {
		s.args[i] = 0x1000 + (uint64_t)i;      /* rdi, rsi, … */
		s.compat_args[i] = 0x2000 + (uint64_t)i; /* ebx, ecx, … */
	}
	return s;
}

/* The data is trusted only where it names the number that stopped. */
START_TEST(test_trace_data)
{
	int openat = sc_lookup_nr(false, __NR_openat);
	int prctl = sc_lookup_nr(false, __NR_prctl);
	int open32 = sc_lookup_nr(true, 5);
	int symlink32 = sc_lookup_nr(true, 83);
	int socket32 = sc_lookup_nr(true, 359);
	int claimed;
	bool mismatch;
	struct sc_info s;

	ck_assert(openat >= 0 && prctl >= 0 && open32 >= 0 && symlink32 >= 0 &&
		  socket32 >= 0);
	/* Ours, the right call. */
	s = regs_stop(__NR_openat, sc_trace_data(openat, false));
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), openat);
	ck_assert(!mismatch);
	/* Tagged, another call's id: decoded by number. */
	s = regs_stop(__NR_openat, sc_trace_data(prctl, false));
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), openat);
	ck_assert(mismatch);
	ck_assert_int_eq(claimed, prctl);
	/* Not our tag. */
	s = regs_stop(__NR_openat, 7);
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), openat);
	ck_assert(mismatch);
	ck_assert_int_eq(claimed, -1);
	/* A call outside the catalog with a forged id: no exec. The kernel
	 * said 64-bit: nothing to decode. */
	s = regs_stop(__NR_getpid, sc_trace_data(sc_lookup_nr(false, __NR_execve), false));
	s.abi_sure = true;
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), -1);
	ck_assert(mismatch);
	/* Registers only: getpid's 39 is i386 mkdir, which it may be. */
	s = regs_stop(__NR_getpid, sc_trace_data(sc_lookup_nr(false, __NR_execve), false));
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), sc_lookup_nr(true, 39));
	ck_assert(mismatch);
	ck_assert(s.compat);
	/* int 0x80 from 64-bit code: the i386 rule's data, the i386 view. */
	s = regs_stop(5, sc_trace_data(open32, true));
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), open32);
	ck_assert(!mismatch);
	ck_assert(s.compat);
	ck_assert_uint_eq(s.args[0], 0x2000);
	/* int 0x80 open hidden behind foreign data: still decoded, flagged. */
	s = regs_stop(5, 7);
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), open32);
	ck_assert(mismatch);
	ck_assert(s.compat);
	ck_assert_uint_eq(s.args[0], 0x2000);
	/* 83: 64-bit mkdir and i386 symlink: decoded as claimed, flagged. */
	s = regs_stop(83, sc_trace_data(symlink32, true));
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), symlink32);
	ck_assert(mismatch);
	/* The kernel said 64-bit (syscall info): an i386 claim is false. */
	s = regs_stop(5, sc_trace_data(open32, true));
	s.abi_sure = true;
	s.has_compat_view = false;
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch),
			 sc_lookup_nr(false, 5));
	ck_assert(mismatch);
	ck_assert(!s.compat);
	/* socketcall(2) carries the inner call's id (libseccomp). */
	s = regs_stop(102, sc_trace_data(socket32, true));
	s.compat = true;
	s.abi_sure = true;
	ck_assert_int_eq(sc_seccomp_id(&s, &claimed, &mismatch), socket32);
	ck_assert(!mismatch);
}
END_TEST
#endif

/* 6.18 here has filters; the probe installs nothing. */
START_TEST(test_kernel_has_filters)
{
	ck_assert(stopseq_kernel_has_filters());
	ck_assert(stopseq_kernel_has_filters());
}
END_TEST

static Suite *stopseq_suite(void)
{
	Suite *s = suite_create("stopseq");
	TCase *tc = tcase_create("replay");

	tcase_add_loop_test(tc, test_replay, 0,
			    (int)(sizeof(sequences) / sizeof(sequences[0])));
	tcase_add_test(tc, test_await_entry_flags);
	suite_add_tcase(s, tc);
	tc = tcase_create("probe");
	tcase_add_test(tc, test_probe_order_here);
	tcase_add_test(tc, test_kernel_has_filters);
	suite_add_tcase(s, tc);
#if defined(__x86_64__)
	tc = tcase_create("trace-data");
	tcase_add_unchecked_fixture(tc, init_tables, NULL);
	tcase_add_test(tc, test_trace_data);
	suite_add_tcase(s, tc);
#endif
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stopseq_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
