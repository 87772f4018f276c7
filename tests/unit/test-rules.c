/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the rule language library: operators and precedence, globs,
 * regexes, networks, bit flags, durations, arrays, macros and lists, error
 * positions, policies (broken rules, overrides, directories), check-rules,
 * the generated fields doc, and evaluation without allocation. The binary
 * is linked with --wrap=malloc (and friends) to count allocations.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "rules.h"
#include "rules-int.h"

/* ---- Allocation counter (--wrap) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static unsigned long allocs;

void *__wrap_malloc(size_t n)
{
	allocs++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t n)
{
	allocs++;
	return __real_calloc(a, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	allocs++;
	return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	allocs++;
	return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	allocs++;
	return __real_strndup(s, n);
}

/* ---- A mock event: field values by name ---- */

#define MAX_VALS 64

struct mock_val {
	int id;
	struct rules_value v;
};

struct mock {
	struct mock_val vals[MAX_VALS];
	size_t n;
	size_t gets;              /* callback calls */
};

static void mock_set(struct mock *m, const char *name, struct rules_value v)
{
	const struct rules_field *f = rules_field_by_name(name, strlen(name));

	ck_assert_msg(f, "no field %s", name);
	for (size_t i = 0; i < m->n; i++)
		if (m->vals[i].id == f->id) {
			m->vals[i].v = v;
			return;
		}
	ck_assert(m->n < MAX_VALS);
	m->vals[m->n].id = f->id;
	m->vals[m->n++].v = v;
}

static void mock_str(struct mock *m, const char *name, const char *s)
{
	mock_set(m, name, (struct rules_value){ .kind = RULES_V_STR, .s = s,
						.len = strlen(s) });
}

static void mock_int(struct mock *m, const char *name, int64_t i)
{
	mock_set(m, name, (struct rules_value){ .kind = RULES_V_INT, .i = i });
}

static void mock_none(struct mock *m, const char *name)
{
	mock_set(m, name, (struct rules_value){ .kind = RULES_V_NONE });
}

static int mock_get(void *data, int id, struct rules_value *ret)
{
	struct mock *m = data;

	m->gets++;
	for (size_t i = 0; i < m->n; i++)
		if (m->vals[i].id == id) {
			*ret = m->vals[i].v;
			return 0;
		}
	return -ENOENT;
}

/* An iterator over a NULL-terminated string array (ancestor names). */
struct str_iter {
	const char *const *v;
	size_t i;
};

static bool str_iter_next(void *it, struct rules_value *e)
{
	struct str_iter *s = it;

	if (!s->v[s->i])
		return false;
	e->kind = RULES_V_STR;
	e->s = s->v[s->i];
	e->len = strlen(e->s);
	s->i++;
	return true;
}

static const struct rules_str argv_strs[] = {
	{ "python3", 7 }, { "-c", 2 }, { "import pty", 10 },
};
static const int64_t anc_pids[] = { 41, 10, 1 };
static const char *const anc_names[] = { "bash", "sshd", "systemd", NULL };
static const struct rules_str env_strs[] = { { "PATH", 4 }, { "LD_PRELOAD", 10 } };
static struct str_iter anc_iter;

/* The world every table case runs against. */
static void mock_world(struct mock *m)
{
	memset(m, 0, sizeof(*m));
	anc_iter = (struct str_iter){ .v = anc_names };
	mock_str(m, "open.file.path", "/etc/ssh/sshd_config");
	mock_str(m, "open.file.name", "sshd_config");
	mock_int(m, "open.flags", O_WRONLY | O_CREAT);
	mock_int(m, "open.file.mode", 0644);
	mock_int(m, "open.retval", 3);
	mock_int(m, "event.retval", 3);
	mock_str(m, "process.file.path", "/usr/bin/python3");
	mock_str(m, "process.file.name", "python3");
	mock_set(m, "process.argv", (struct rules_value){ .kind = RULES_V_STRS,
		 .strs = argv_strs, .n = 3 });
	mock_set(m, "exec.argv", (struct rules_value){ .kind = RULES_V_STRS,
		 .strs = argv_strs, .n = 3 });
	mock_str(m, "exec.file.path", "/usr/bin/python3");
	mock_str(m, "process.args", "-c import pty /tmp/x");
	mock_str(m, "process.comm", "python3");
	mock_int(m, "process.pid", 42);
	mock_int(m, "process.ppid", 41);
	mock_int(m, "process.uid", 1000);
	mock_int(m, "process.created_at", 2 * NSEC_PER_S);
	mock_set(m, "process.envs", (struct rules_value){ .kind = RULES_V_STRS,
		 .strs = env_strs, .n = 2 });
	mock_str(m, "process.container.id", "abc123");
	mock_set(m, "process.ancestors.file.name", (struct rules_value){
		 .kind = RULES_V_ITER, .next = str_iter_next, .it = &anc_iter });
	mock_set(m, "process.ancestors.pid", (struct rules_value){
		 .kind = RULES_V_INTS, .ints = anc_pids, .n = 3 });
	mock_str(m, "connect.addr.ip", "10.1.2.3");
	mock_int(m, "connect.addr.port", 4444);
	mock_int(m, "connect.addr.family", AF_INET);
	mock_int(m, "load_module.loaded_from_memory", 1);
	mock_str(m, "unlink.file.path", "/usr/bin/python3");
	mock_int(m, "ptrace.request", 4);
	mock_int(m, "bpf.cmd", 5);
	mock_int(m, "capset.cap_effective", 1ll << 21);
	mock_int(m, "socket.family", AF_INET);
	mock_int(m, "socket.type", SOCK_STREAM | SOCK_CLOEXEC);
	mock_int(m, "prctl.option", 15);
	mock_int(m, "mount.flags", 4096 | 16384);
}

/* ---- Loading helpers ---- */

/* A policy with one rule whose expression is a single-quoted scalar. */
static char *one_rule_policy(const char *expr)
{
	size_t n = strlen(expr) * 2 + 64, j = 0;
	char *buf = malloc(n);

	ck_assert(buf);
	j += (size_t)sprintf(buf, "rules:\n  - id: t\n    expression: '");
	for (const char *p = expr; *p; p++) {
		if (*p == '\'')
			buf[j++] = '\'';
		buf[j++] = *p;
	}
	strcpy(buf + j, "'\n");
	return buf;
}

static int load_text(const char *text, struct rules_diag *diag, struct rule_set **ret)
{
	const char *names[] = { "test.policy" };
	const char *texts[] = { text };

	return rule_set_load_buffers(names, texts, 1, diag, ret);
}

static int first_type(const struct rule *r)
{
	uint64_t m = rule_event_mask(r);

	for (int t = 0; t < RULES_EV__COUNT; t++)
		if (m & (1ull << t))
			return t;
	return -1;
}

/* Compiles expr as the only rule; fails the test on any error. */
static struct rule_set *compile_ok(const char *expr)
{
	struct rules_diag diag;
	struct rule_set *rs = NULL;
	char *text = one_rule_policy(expr);
	int r;

	rules_diag_init(&diag);
	r = load_text(text, &diag, &rs);
	if (r != 0)
		rules_diag_print(&diag, stderr);
	ck_assert_msg(r == 0, "'%s' did not compile", expr);
	ck_assert_uint_eq(rule_set_count(rs), 1);
	rules_diag_fini(&diag);
	free(text);
	return rs;
}

/* ---- Evaluation table ---- */

static const struct eval_case {
	const char *expr;
	int want;
	const char *ovr;          /* a field to change in the world */
	const char *ovr_str;      /* its new string, NULL: absent */
} eval_cases[] = {
	/* Comparisons. */
	{ "open.file.path == \"/etc/ssh/sshd_config\"", 1 },
	{ "open.file.path != \"/etc/ssh/sshd_config\"", 0 },
	{ "open.file.path == '/etc/ssh/sshd_config'", 1 },
	{ "open.file.path == \"/etc/ssh/sshd\\x5fconfig\"", 1 },
	{ "open.file.name == \"sshd_config\"", 1 },
	{ "open.file.mode == 0644", 1 },
	{ "open.file.mode == 420", 1 },
	{ "open.file.mode == 0x1a4", 1 },
	{ "open.retval > 2", 1 },
	{ "open.retval > 3", 0 },
	{ "open.retval >= 3", 1 },
	{ "open.retval < 3", 0 },
	{ "open.retval <= 3", 1 },
	{ "open.retval != 3", 0 },
	{ "3 == open.retval", 1 },
	{ "2 < open.retval", 1 },
	{ "open.retval == -1", 0 },
	{ "event.retval == 3 && event.type == \"open\"", 1 },
	{ "event.type == \"open\" && process.pid == 42", 1 },
	{ "event.type in [\"exec\", \"open\"] && process.uid == 1000", 1 },
	{ "event.type == \"open\" && process.pid == process.ppid", 0 },
	{ "event.type == \"open\" && process.pid > process.ppid", 1 },
	{ "unlink.file.path == process.file.path", 1 },
	{ "open.file.path == process.file.path", 0 },
	/* Lists. */
	{ "open.file.path in [\"/a\", \"/etc/ssh/sshd_config\"]", 1 },
	{ "open.file.path not in [\"/a\", \"/etc/ssh/sshd_config\"]", 0 },
	{ "open.file.path in []", 0 },
	{ "open.retval in [1, 2, 3]", 1 },
	{ "open.retval not in [1, 2]", 1 },
	{ "ptrace.request in [PTRACE_POKETEXT, PTRACE_POKEDATA]", 1 },
	/* Globs: '*' stays in a path component, '**' crosses. */
	{ "open.file.path =~ \"/etc/*\"", 0 },
	{ "open.file.path =~ \"/etc/**\"", 1 },
	{ "open.file.path =~ \"/etc/*/sshd_config\"", 1 },
	{ "open.file.path =~ \"/etc/ssh/*_config\"", 1 },
	{ "open.file.path =~ \"/etc/ssh/sshd_confi?\"", 1 },
	{ "open.file.path =~ \"/etc/**/sshd_config\"", 1 },
	{ "open.file.path =~ \"/etc/ssh/**/sshd_config\"", 1 },
	{ "open.file.path =~ \"/etc/[st]sh/*\"", 1 },
	{ "open.file.path =~ \"/ETC/**\"", 0 },
	{ "open.file.path !~ \"/etc/**\"", 0 },
	{ "open.file.path == ~\"/etc/**\"", 1 },
	{ "open.file.path in [~\"/tmp/*\", ~\"/etc/ssh/*\"]", 1 },
	{ "open.file.path not in [~\"/tmp/*\", ~\"/etc/*\"]", 1 },
	{ "open.flags > 0 && process.args =~ \"*pty*x\"", 1 },
	{ "open.flags > 0 && process.comm =~ \"py*\"", 1 },
	/* Regexes: full match, POSIX extended. */
	{ "open.file.path == r\"/etc/ssh/.*\"", 1 },
	{ "open.file.path == r\"ssh\"", 0 },
	{ "open.file.path =~ r\"/etc/(ssh|ssl)/sshd_.*\"", 1 },
	{ "open.file.path in [r\"/tmp/.*\", r\".*sshd.*\"]", 1 },
	{ "open.flags > 0 && process.comm == r\"py[a-z]+[0-9]\"", 1 },
	{ "open.flags > 0 && process.comm != r\"py.*\"", 0 },
	/* Bit flags and constants. */
	{ "open.flags & O_CREAT > 0", 1 },
	{ "open.flags & O_TRUNC > 0", 0 },
	{ "open.flags & (O_WRONLY|O_RDWR) > 0", 1 },
	{ "open.flags & O_ACCMODE == O_WRONLY", 1 },
	{ "open.flags | O_TRUNC == (O_WRONLY|O_CREAT|O_TRUNC)", 1 },
	{ "open.flags ^ O_CREAT == O_WRONLY", 1 },
	{ "O_CREAT & open.flags != 0", 1 },
	{ "open.file.mode & (S_IWGRP|S_IWOTH) == 0", 1 },
	{ "ptrace.request == PTRACE_POKETEXT", 1 },
	{ "bpf.cmd == BPF_PROG_LOAD", 1 },
	{ "capset.cap_effective & CAP_SYS_ADMIN > 0", 1 },
	{ "capset.cap_effective & CAP_SYS_PTRACE > 0", 0 },
	{ "socket.family == AF_INET && socket.type & SOCK_STREAM > 0", 1 },
	{ "prctl.option == PR_SET_NAME", 1 },
	{ "mount.flags & MS_BIND > 0 && mount.flags & MS_REC != 0", 1 },
	/* Precedence: ! over && over ||; bit operators over comparisons. */
	{ "open.retval == 3 || open.retval == 4 && open.retval == 5", 1 },
	{ "(open.retval == 3 || open.retval == 4) && open.retval == 5", 0 },
	{ "!open.retval == 3", 0 },
	{ "not open.retval == 4 and open.retval == 3", 1 },
	{ "open.retval == 3 and not open.file.path == \"/x\" or false", 1 },
	{ "open.retval == 4 or !(open.retval == 4)", 1 },
	{ "open.retval == 3 && !(open.retval == 3 || false)", 0 },
	{ "open.retval == 3 && true", 1 },
	/* Durations: process.created_at is the process's age. */
	{ "open.retval == 3 && process.created_at < 5s", 1 },
	{ "open.retval == 3 && process.created_at > 1500ms", 1 },
	{ "open.retval == 3 && process.created_at < 1s", 0 },
	{ "open.retval == 3 && process.created_at < 1m", 1 },
	{ "open.retval == 3 && process.created_at >= 1h", 0 },
	/* Arrays: any element. */
	{ "exec.argv in [\"-c\"]", 1 },
	{ "exec.argv == \"-c\"", 1 },
	{ "exec.argv != \"-c\"", 0 },
	{ "exec.argv =~ \"imp*\"", 1 },
	{ "exec.argv == \"-e\"", 0 },
	{ "open.retval == 3 && process.argv in [\"-e\", \"-c\"]", 1 },
	{ "open.retval == 3 && process.ancestors.file.name == \"sshd\"", 1 },
	{ "open.retval == 3 && process.ancestors.file.name in [\"nginx\"]", 0 },
	{ "open.retval == 3 && process.ancestors.file.name not in [\"bash\"]", 0 },
	{ "open.retval == 3 && process.ancestors.pid == 1", 1 },
	{ "open.retval == 3 && process.ancestors.pid > 41", 0 },
	{ "open.retval == 3 && process.envs in [\"LD_PRELOAD\"]", 1 },
	{ "exec.file.path == \"/usr/bin/python3\" && exec.argv == process.argv", 1 },
	/* Addresses and networks. */
	{ "connect.addr.ip in [\"10.0.0.0/8\"]", 1 },
	{ "connect.addr.ip == \"10.1.2.3\"", 1 },
	{ "connect.addr.ip == \"10.1.2.4\"", 0 },
	{ "connect.addr.ip == \"10.1.2.2/31\"", 1 },
	{ "connect.addr.ip == 10.0.0.0/8", 1 },
	{ "connect.addr.ip in [192.168.0.0/16, \"::1/128\"]", 0 },
	{ "connect.addr.ip not in [\"127.0.0.0/8\"]", 1 },
	{ "connect.addr.ip in [\"2001:db8::/32\"]", 1, "connect.addr.ip", "2001:db8::1" },
	{ "connect.addr.ip == \"2001:db8::1\"", 1, "connect.addr.ip", "2001:db8::1" },
	{ "connect.addr.ip in [\"10.0.0.0/8\"]", 0, "connect.addr.ip", "2001:db8::1" },
	{ "connect.addr.ip == ::1/128", 1, "connect.addr.ip", "::1" },
	{ "connect.addr.ip in [\"10.0.0.0/8\"]", 1, "connect.addr.ip", "::ffff:10.1.2.3" },
	{ "connect.addr.ip not in [\"10.0.0.0/8\"]", 0, "connect.addr.ip", NULL },
	{ "connect.addr.ip == \"0.0.0.0/0\"", 0, "connect.addr.ip", "junk" },
	{ "connect.addr.port == 4444 && connect.addr.family == AF_INET", 1 },
	/* Booleans. */
	{ "load_module.loaded_from_memory", 1 },
	{ "load_module.loaded_from_memory == true", 1 },
	{ "load_module.loaded_from_memory == false", 0 },
	{ "!load_module.loaded_from_memory", 0 },
	/* Absent values: "" and 0. */
	{ "open.file.path == \"\"", 1, "open.file.path", NULL },
	{ "open.file.path != \"\"", 1 },
};

START_TEST(test_eval_table)
{
	const struct eval_case *c = &eval_cases[_i];
	struct rule_set *rs = compile_ok(c->expr);
	const struct rule *r = rule_set_at(rs, 0);
	struct mock m;
	struct rules_ctx ctx = { .get = mock_get, .data = &m };
	int got;

	mock_world(&m);
	if (c->ovr && c->ovr_str)
		mock_str(&m, c->ovr, c->ovr_str);
	else if (c->ovr)
		mock_none(&m, c->ovr);
	got = rule_eval(r, first_type(r), &ctx);
	ck_assert_msg(got == c->want, "'%s': got %d, want %d", c->expr, got, c->want);
	rule_set_free(rs);
}
END_TEST

/* ---- Globs on their own ---- */

static const struct glob_case {
	const char *pat;
	bool path;
	const char *s;
	bool want;
} glob_cases[] = {
	{ "", true, "", true },
	{ "", true, "a", false },
	{ "*", true, "", true },
	{ "*", true, "abc", true },
	{ "*", true, "a/b", false },
	{ "*", false, "a/b", true },
	{ "**", true, "a/b/c", true },
	{ "/a/*", true, "/a/", true },
	{ "/a/*", true, "/a/b/c", false },
	{ "/a/**", true, "/a/b/c", true },
	{ "/a/**", true, "/a", false },
	{ "/a/**/c", true, "/a/c", true },
	{ "/a/**/c", true, "/a/b/x/c", true },
	{ "/a/**/c", true, "/a/b/x/d", false },
	{ "/a/**c", true, "/a/b/xc", true },
	{ "*.so", true, "lib.so", true },
	{ "*.so", true, "dir/lib.so", false },
	{ "**.so", true, "dir/lib.so", true },
	{ "*a*a*a*b", false, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
	{ "*a*b", true, "xaxxb", true },
	{ "*a*b", true, "xa/xb", false },
	{ "?", true, "/", false },
	{ "?", false, "/", true },
	{ "a?c", true, "abc", true },
	{ "[abc]x", true, "bx", true },
	{ "[!abc]x", true, "bx", false },
	{ "[a-c]x", true, "cx", true },
	{ "[a-c]x", true, "dx", false },
	{ "[x", true, "[x", true },
	{ "a\\*", true, "a*", true },
	{ "a\\*", true, "ab", false },
	{ "/proc/*/status", true, "/proc/12/status", true },
	{ "/proc/*/status", true, "/proc/12/task/12/status", false },
	{ "/tmp/**/*.sh", true, "/tmp/x.sh", true },
	{ "/tmp/**/*.sh", true, "/tmp/a/b/x.sh", true },
	{ "*stratum+tcp*", false, "-o stratum+tcp://pool:3333", true },
};

START_TEST(test_glob_table)
{
	const struct glob_case *c = &glob_cases[_i];
	struct glob g;

	ck_assert_int_eq(glob_init(&g, c->pat, strlen(c->pat), c->path), 0);
	ck_assert_msg(glob_match(&g, c->s, strlen(c->s)) == c->want,
		      "'%s' (%s) on '%s': want %d", c->pat, c->path ? "path" : "text",
		      c->s, c->want);
	glob_fini(&g);
}
END_TEST

/* ---- Compile errors: exact line and column ---- */

static const struct err_case {
	const char *expr;
	unsigned col;             /* line 3; the expression starts at col 18 */
	const char *msg;
} err_cases[] = {
	{ "open.file.pth == \"x\"", 18, "unknown field, constant, macro or list 'open.file.pth'" },
	{ "open.file.path == 3", 36, "open.file.path compares with strings, not an integer" },
	{ "open.flags == \"x\"", 32, "expected an integer, got a string" },
	{ "open.file.path == \"x\" &&", 42, "expected a field, a value or '(', got end of expression" },
	{ "open.file.path == \"x", 36, "unterminated string" },
	{ "open.file.path =~ r\"(\"", 36, "invalid regex" },
	{ "connect.addr.ip == \"300.1.1.1\"", 37, "'300.1.1.1' is not an IP address or network" },
	{ "open.flags > 0 && process.created_at < 5", 57, "expected a duration such as 5s, got an integer" },
	{ "process.comm == \"x\"", 18, "cannot tell which events this rule is about" },
	{ "open.flags & \"x\" > 0", 31, "'&' needs integers, got a string" },
	{ "open.file.path == \"a\" && exec.argv0 == \"b\"", 43,
	  "field 'exec.argv0' is about exec events, but this rule already uses open fields" },
	{ "event.type == \"opn\"", 32, "unknown event type 'opn'" },
	{ "open.file.path < \"a\"", 33, "open.file.path compares with ==, !=, =~, !~ or in, not '<'" },
	{ "open.file.path = \"a\"", 33, "unexpected '=' (use '==')" },
	{ "open.flags > 0 && process.created_at < 5d", 58, "unknown duration unit" },
	{ "(open.flags > 0", 33, "expected ')', got end of expression" },
	{ "open.flags > 0 open.flags", 33, "expected an operator or the end, got 'open.flags'" },
	{ "open.file.path in \"x\"", 36, "'in' needs a list on its right, got a string" },
	{ "open.flags", 18, "expected a condition, got an integer" },
	{ "open.flags > 0 && open.flags", 36, "expected a condition, got an integer" },
	{ "\"a\" == \"b\"", 18, "a comparison needs a field on one side" },
	{ "open.flags =~ \"x\"", 29, "=~ and !~ match strings, not an integer" },
	{ "open.flags > 0 @", 33, "unexpected character '@'" },
	{ "event.type == \"exec\" && open.flags > 0", 42, "this rule uses open fields, but event.type excludes open events" },
	{ "open.file.path in [\"a\", process.comm]", 42, "list items are values: 'process.comm' is not a constant" },
	{ "open.flags > 99999999999999999999", 31, "number too large" },
	{ "", 18, "empty expression" },
	{ "open.file.path =~ 5s", 36, "open.file.path compares with strings, not a duration" },
	{ "open.file.path == ~\"/x\" == \"a\"", 42, "expected an operator or the end, got '=='" },
	{ "exec.argv0 == \"a\" && m", 39, "unknown field, constant, macro or list 'm'" },
};

START_TEST(test_error_table)
{
	const struct err_case *c = &err_cases[_i];
	struct rules_diag diag;
	struct rule_set *rs = NULL;
	char *text = one_rule_policy(c->expr);

	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(text, &diag, &rs), 1);
	ck_assert_uint_eq(rule_set_count(rs), 0);
	ck_assert_uint_eq(diag.n, 1);
	ck_assert_str_eq(diag.v[0].file, "test.policy");
	ck_assert_msg(diag.v[0].line == 3 && diag.v[0].col == c->col,
		      "'%s': at %u:%u, want 3:%u (%s)", c->expr, diag.v[0].line,
		      diag.v[0].col, c->col, diag.v[0].msg);
	ck_assert_msg(strstr(diag.v[0].msg, c->msg), "'%s': message '%s'",
		      c->expr, diag.v[0].msg);
	ck_assert_ptr_nonnull(diag.v[0].excerpt);
	rule_set_free(rs);
	rules_diag_fini(&diag);
	free(text);
}
END_TEST

/* Positions inside multi-line scalars of every style. */
static const struct pos_case {
	const char *text;
	unsigned line, col;
} pos_cases[] = {
	{ "rules:\n"
	  "  - id: lit\n"
	  "    expression: |\n"
	  "      open.flags > 0 &&\n"
	  "        open.file.pat == \"x\"\n", 5, 9 },
	{ "rules:\n"
	  "  - id: folded\n"
	  "    expression: >-\n"
	  "      open.flags > 0\n"
	  "      && open.file.path == 3\n", 5, 28 },
	{ "rules:\n"
	  "  - id: plain\n"
	  "    expression: open.flags > 0\n"
	  "      && open.file.path\n"
	  "      == 3\n", 5, 10 },
	{ "rules:\n"
	  "  - id: dq\n"
	  "    expression: \"open.file.path == \\\"a\\\" && open.flags == \\\"b\\\"\"\n",
	  3, 59 },
	{ "rules:\n"
	  "  - id: sq\n"
	  "    expression: 'open.file.path == ''a'' &&\n"
	  "      open.flags == ''b'''\n", 4, 21 },
	{ "# comment\n"
	  "rules:\n"
	  "- id: x\n"
	  "  expression: \"open.flags >\"\n", 4, 28 },
};

/* Deep nesting is an error, not a stack overflow. */
START_TEST(test_deep_nesting)
{
	struct rules_diag diag;
	struct rule_set *rs;
	char *expr = malloc(30000), *text;
	size_t n = 0;

	for (int i = 0; i < 10000; i++)
		expr[n++] = i % 2 ? '(' : '!';
	strcpy(expr + n, "open.flags > 0");
	text = one_rule_policy(expr);
	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(text, &diag, &rs), 1);
	ck_assert_str_eq(diag.v[0].msg, "expression nested too deeply");
	rule_set_free(rs);
	rules_diag_fini(&diag);
	free(text);
	free(expr);
}
END_TEST

START_TEST(test_error_positions)
{
	const struct pos_case *c = &pos_cases[_i];
	struct rules_diag diag;
	struct rule_set *rs = NULL;

	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(c->text, &diag, &rs), 1);
	ck_assert_uint_eq(diag.n, 1);
	ck_assert_msg(diag.v[0].line == c->line && diag.v[0].col == c->col,
		      "case %d: at %u:%u, want %u:%u (%s)", _i, diag.v[0].line,
		      diag.v[0].col, c->line, c->col, diag.v[0].msg);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

/* ---- Macros and lists ---- */

static const char macros_policy[] =
	"macros:\n"
	"  - id: shells\n"
	"    expression: '[\"bash\", \"sh\", ~\"python*\"]'\n"
	"  - id: is_shell\n"
	"    expression: exec.file.name in shells\n"
	"  - id: web_parent\n"
	"    expression: process.ancestors.file.name in web_procs\n"
	"  - id: suid_names\n"
	"    values: [sudo, su]\n"
	"  - id: loop_a\n"
	"    expression: loop_b && exec.argv0 == \"a\"\n"
	"  - id: loop_b\n"
	"    expression: loop_a\n"
	"lists:\n"
	"  - id: web_procs\n"
	"    values: [nginx, sshd]\n"
	"  - id: ports\n"
	"    values: [22, 0x1bb, \"4444\"]\n"
	"  - id: nets\n"
	"    values: [\"10.0.0.0/8\", \"fd00::/8\"]\n"
	"rules:\n"
	"  - id: shell_under_web\n"
	"    expression: is_shell && web_parent\n"
	"  - id: suid\n"
	"    expression: exec.file.name in suid_names\n"
	"  - id: port\n"
	"    expression: connect.addr.port in ports && connect.addr.ip in nets\n"
	"  - id: loops\n"
	"    expression: loop_a\n"
	"  - id: not_a_list\n"
	"    expression: exec.file.name in is_shell\n";

START_TEST(test_macros_lists)
{
	struct rules_diag diag;
	struct rule_set *rs;
	struct mock m;
	struct rules_ctx ctx = { .get = mock_get, .data = &m };
	const struct rule *r;

	rules_diag_init(&diag);
	ck_assert_int_ge(load_text(macros_policy, &diag, &rs), 1);
	ck_assert_ptr_nonnull(rule_set_find(rs, "shell_under_web"));
	ck_assert_ptr_nonnull(rule_set_find(rs, "suid"));
	ck_assert_ptr_nonnull(rule_set_find(rs, "port"));
	ck_assert_ptr_null(rule_set_find(rs, "loops"));
	ck_assert_ptr_null(rule_set_find(rs, "not_a_list"));

	mock_world(&m);
	mock_str(&m, "exec.file.name", "python3");
	r = rule_set_find(rs, "shell_under_web");
	ck_assert_uint_eq(rule_event_mask(r), 1u << RULES_EV_EXEC);
	ck_assert_int_eq(rule_eval(r, RULES_EV_EXEC, &ctx), 1);
	mock_str(&m, "exec.file.name", "ls");
	ck_assert_int_eq(rule_eval(r, RULES_EV_EXEC, &ctx), 0);
	mock_str(&m, "exec.file.name", "su");
	ck_assert_int_eq(rule_eval(rule_set_find(rs, "suid"), RULES_EV_EXEC, &ctx), 1);

	r = rule_set_find(rs, "port");
	ck_assert_int_eq(rule_eval(r, RULES_EV_CONNECT, &ctx), 1);
	mock_int(&m, "connect.addr.port", 443);
	ck_assert_int_eq(rule_eval(r, RULES_EV_CONNECT, &ctx), 1);
	mock_int(&m, "connect.addr.port", 80);
	ck_assert_int_eq(rule_eval(r, RULES_EV_CONNECT, &ctx), 0);
	mock_int(&m, "connect.addr.port", 22);
	mock_str(&m, "connect.addr.ip", "fd12::1");
	ck_assert_int_eq(rule_eval(r, RULES_EV_CONNECT, &ctx), 1);

	/* Errors: the loop, reported inside the macros and at their uses. */
	bool loop_seen = false, list_seen = false;

	for (size_t i = 0; i < diag.n; i++) {
		loop_seen |= strstr(diag.v[i].msg, "used in its own definition") != NULL;
		list_seen |= strstr(diag.v[i].msg, "'in' needs a list") != NULL;
	}
	ck_assert(loop_seen);
	ck_assert(list_seen);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

START_TEST(test_macro_errors)
{
	static const char text[] =
		"macros:\n"
		"  - id: broken\n"
		"    expression: exec.file.name ==\n"
		"  - id: typed\n"
		"    expression: exec.file.name\n"
		"rules:\n"
		"  - id: a\n"
		"    expression: exec.argv0 == \"x\" && broken\n"
		"  - id: b\n"
		"    expression: exec.argv0 == \"x\" && typed == 3\n"
		"  - id: c\n"
		"    expression: typed == \"ls\"\n";
	struct rules_diag diag;
	struct rule_set *rs;

	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(text, &diag, &rs), 3);
	ck_assert_uint_eq(rule_set_count(rs), 1);
	ck_assert_ptr_nonnull(rule_set_find(rs, "c"));
	/* The macro's own error, then each use. */
	ck_assert_uint_eq(diag.v[0].line, 3);
	ck_assert_uint_eq(diag.v[0].col, 34);
	ck_assert_uint_eq(diag.v[1].line, 8);
	ck_assert_uint_eq(diag.v[1].col, 38);
	ck_assert_str_eq(diag.v[1].msg, "'broken' has errors");
	ck_assert_uint_eq(diag.v[2].line, 10);
	ck_assert_uint_eq(diag.v[2].col, 47);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

/* ---- Policies ---- */

START_TEST(test_broken_rule_among_good)
{
	static const char text[] =
		"rules:\n"
		"  - id: good1\n"
		"    expression: open.file.path == \"/etc/shadow\"\n"
		"  - id: broken\n"
		"    expression: open.file.path == \n"
		"  - id: no_expr\n"
		"    description: nothing\n"
		"  - expression: open.flags > 0\n"
		"  - id: good2\n"
		"    expression: exec.file.name == \"nc\"\n";
	struct rules_diag diag;
	struct rule_set *rs;

	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(text, &diag, &rs), 3);
	ck_assert_uint_eq(rule_set_count(rs), 2);
	ck_assert_str_eq(rule_id(rule_set_at(rs, 0)), "good1");
	ck_assert_str_eq(rule_id(rule_set_at(rs, 1)), "good2");
	ck_assert_uint_eq(diag.v[0].line, 8);  /* no id */
	ck_assert_uint_eq(diag.v[1].line, 5);
	ck_assert_uint_eq(diag.v[2].line, 6);  /* no expression */
	ck_assert_str_eq(diag.v[2].msg, "rule 'no_expr' has no expression");
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

START_TEST(test_rule_metadata)
{
	static const char text[] =
		"version: 1.2.3\n"
		"rules:\n"
		"  - id: meta\n"
		"    description: A shell in a container\n"
		"    expression: exec.file.name == \"sh\"\n"
		"    severity: critical\n"
		"    tags: {tactic: TA0002, technique: T1059}\n"
		"    every: 10s\n"
		"    actions:\n"
		"      - kill:\n"
		"          signal: SIGTERM\n"
		"          scope: container\n"
		"      - kill: {}\n"
		"      - hash: {field: exec.file}\n"
		"  - id: defaults\n"
		"    expression: exec.file.name == \"sh\"\n"
		"    severity: Warning\n"
		"    tags: [container, shell]\n"
		"    actions:\n"
		"      - kill: {signal: 15}\n"
		"  - id: plain\n"
		"    expression: exec.file.name == \"sh\"\n"
		"    frobnicate: 1\n";
	struct rules_diag diag;
	struct rule_set *rs;
	const struct rule *r;
	const struct rule_action *a;

	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(text, &diag, &rs), 0);
	ck_assert_uint_eq(diag.warnings, 1);
	ck_assert_str_eq(diag.v[0].msg, "rule 'plain': unknown key 'frobnicate' ignored");
	ck_assert_uint_eq(rule_set_count(rs), 3);
	r = rule_set_find(rs, "meta");
	ck_assert_str_eq(rule_description(r), "A shell in a container");
	ck_assert_int_eq(rule_severity(r), RULES_SEV_CRITICAL);
	ck_assert_uint_eq(rule_tag_count(r), 2);
	ck_assert_str_eq(rule_tag_get(r, "technique"), "T1059");
	ck_assert_str_eq(rule_tag_at(r, 0)->key, "tactic");
	ck_assert_ptr_null(rule_tag_get(r, "nope"));
	ck_assert_uint_eq(rule_every_ns(r), 10 * NSEC_PER_S);
	ck_assert_uint_eq(rule_action_count(r), 3);
	a = rule_action_at(r, 0);
	ck_assert_str_eq(a->kind, "kill");
	ck_assert_int_eq(a->signal, SIGTERM);
	ck_assert_str_eq(a->scope, "container");
	a = rule_action_at(r, 1);
	ck_assert_int_eq(a->signal, SIGKILL);
	ck_assert_str_eq(a->scope, "process");
	a = rule_action_at(r, 2);
	ck_assert_str_eq(a->kind, "hash");
	ck_assert_uint_eq(a->nparams, 1);
	ck_assert_str_eq(a->params[0].key, "field");
	ck_assert_str_eq(a->params[0].value, "exec.file");
	ck_assert_str_eq(rule_file(r), "test.policy");
	ck_assert_uint_eq(rule_line(r), 3);

	r = rule_set_find(rs, "defaults");
	ck_assert_int_eq(rule_severity(r), RULES_SEV_MEDIUM);
	ck_assert_str_eq(rule_tag_get(r, "shell"), "");
	ck_assert_int_eq(rule_action_at(r, 0)->signal, SIGTERM);
	r = rule_set_find(rs, "plain");
	ck_assert_int_eq(rule_severity(r), RULES_SEV_MEDIUM);
	ck_assert_str_eq(rule_description(r), "");
	ck_assert_uint_eq(rule_every_ns(r), 0);
	ck_assert_str_eq(rule_expression(r), "exec.file.name == \"sh\"");
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

static const struct attr_err {
	const char *attr;
	const char *msg;
} attr_errs[] = {
	{ "severity: urgent", "severity must be info, low, medium, high or critical" },
	{ "every: 0s", "every must be a positive duration" },
	{ "every: soon", "every must be a positive duration" },
	{ "disabled: maybe", "disabled must be true or false" },
	{ "tags: 3", "tags must be a mapping (or a list)" },
	{ "actions: {kill: {}}", "actions must be a list" },
	{ "actions: [{kill: {signal: SIGNOPE}}]", "unknown signal 'SIGNOPE'" },
	{ "actions: [{kill: {scope: planet}}]", "kill scope must be process" },
	{ "actions: [{kill: {}, log: {}}]", "an action is a mapping with one key" },
	{ "actions: [{kill: [1]}]", "the parameters of action 'kill' must be a mapping" },
	{ "description: [1]", "the description must be a string" },
};

START_TEST(test_attr_errors)
{
	const struct attr_err *c = &attr_errs[_i];
	struct rules_diag diag;
	struct rule_set *rs;
	char text[512];

	snprintf(text, sizeof(text),
		 "rules:\n  - id: t\n    expression: open.flags > 0\n    %s\n"
		 "  - id: ok\n    expression: open.flags > 0\n", c->attr);
	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(text, &diag, &rs), 1);
	ck_assert_uint_eq(rule_set_count(rs), 1);
	ck_assert_msg(strstr(diag.v[0].msg, c->msg), "'%s': '%s'", c->attr, diag.v[0].msg);
	ck_assert_uint_eq(diag.v[0].line, 4);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

static const char *const yaml_errs[] = {
	"rules: [\n",
	"rules:\n  - id: a\n    expression: \"open.flags > 0\n",
	"- just\n- a list\n",
	"rules: 3\n",
	"rules:\n  - 3\n",
	"rules:\n  - id: \"bad id\"\n    expression: open.flags > 0\n",
	"macros:\n  - id: m\n",
	"macros:\n  - id: 1m\n    expression: open.flags > 0\n",
	"macros:\n  - id: open.flags\n    expression: open.flags > 0\n",
	"lists:\n  - id: l\n    values: 3\n",
	"lists:\n  - id: l\n    values: [[1]]\n",
	"macros:\n  - id: m\n    expression: a\n    values: [1]\n",
};

START_TEST(test_yaml_errors)
{
	struct rules_diag diag;
	struct rule_set *rs;
	const char *names[] = { "bad.policy", "good.policy" };
	const char *texts[] = {
		yaml_errs[_i],
		"rules:\n  - id: ok\n    expression: open.flags > 0\n",
	};

	rules_diag_init(&diag);
	ck_assert_int_ge(rule_set_load_buffers(names, texts, 2, &diag, &rs), 1);
	ck_assert_uint_ge(diag.errors, 1);
	ck_assert_str_eq(diag.v[0].file, "bad.policy");
	ck_assert_uint_ge(diag.v[0].line, 1);
	ck_assert_ptr_nonnull(rule_set_find(rs, "ok"));
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

START_TEST(test_overrides)
{
	static const char first[] =
		"macros:\n"
		"  - id: target\n"
		"    expression: open.file.path == \"/etc/passwd\"\n"
		"lists:\n"
		"  - id: names\n"
		"    values: [a]\n"
		"rules:\n"
		"  - id: replaced\n"
		"    expression: open.file.path == \"/old\"\n"
		"    severity: low\n"
		"    tags: {k: v}\n"
		"  - id: disabled_later\n"
		"    expression: open.flags > 0\n"
		"  - id: patched\n"
		"    expression: open.flags > 0\n"
		"    description: kept\n"
		"  - id: uses_macro\n"
		"    expression: target\n"
		"  - id: uses_list\n"
		"    expression: exec.file.name in names\n"
		"  - id: off\n"
		"    expression: open.flags > 0\n"
		"    disabled: true\n";
	static const char second[] =
		"macros:\n"
		"  - id: target\n"
		"    expression: open.file.path == \"/etc/shadow\"\n"
		"lists:\n"
		"  - id: names\n"
		"    values: [b]\n"
		"rules:\n"
		"  - id: replaced\n"
		"    expression: open.file.path == \"/new\"\n"
		"  - id: disabled_later\n"
		"    disabled: true\n"
		"  - id: patched\n"
		"    severity: critical\n"
		"  - id: brand_new\n"
		"    expression: exec.file.name == \"x\"\n";
	const char *names[] = { "a.policy", "b.policy" };
	const char *texts[] = { first, second };
	struct rules_diag diag;
	struct rule_set *rs;
	struct mock m;
	struct rules_ctx ctx = { .get = mock_get, .data = &m };
	const struct rule *r;

	rules_diag_init(&diag);
	ck_assert_int_eq(rule_set_load_buffers(names, texts, 2, &diag, &rs), 0);
	ck_assert_uint_eq(diag.n, 0);
	ck_assert_uint_eq(rule_set_count(rs), 5);
	ck_assert_ptr_null(rule_set_find(rs, "disabled_later"));
	ck_assert_ptr_null(rule_set_find(rs, "off"));
	/* Definition order is kept: the first definition's place. */
	ck_assert_str_eq(rule_id(rule_set_at(rs, 0)), "replaced");
	ck_assert_str_eq(rule_id(rule_set_at(rs, 4)), "brand_new");

	r = rule_set_find(rs, "replaced");
	ck_assert_str_eq(rule_expression(r), "open.file.path == \"/new\"");
	ck_assert_int_eq(rule_severity(r), RULES_SEV_MEDIUM);  /* replaced whole */
	ck_assert_uint_eq(rule_tag_count(r), 0);
	ck_assert_str_eq(rule_file(r), "b.policy");
	r = rule_set_find(rs, "patched");
	ck_assert_int_eq(rule_severity(r), RULES_SEV_CRITICAL);
	ck_assert_str_eq(rule_description(r), "kept");

	mock_world(&m);
	mock_str(&m, "open.file.path", "/etc/shadow");
	ck_assert_int_eq(rule_eval(rule_set_find(rs, "uses_macro"), RULES_EV_OPEN, &ctx), 1);
	mock_str(&m, "open.file.path", "/etc/passwd");
	ck_assert_int_eq(rule_eval(rule_set_find(rs, "uses_macro"), RULES_EV_OPEN, &ctx), 0);
	mock_str(&m, "exec.file.name", "b");
	ck_assert_int_eq(rule_eval(rule_set_find(rs, "uses_list"), RULES_EV_EXEC, &ctx), 1);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

/* ---- Files and directories ---- */

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/test-rules-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_directory_order)
{
	char sub[128], *paths[1];
	struct rules_diag diag;
	struct rule_set *rs;

	make_tmpdir();
	snprintf(sub, sizeof(sub), "%s/policies", tmpdir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	write_file("policies/20-b.policy",
		   "rules:\n  - id: x\n    expression: open.flags > 0\n"
		   "    severity: high\n  - id: from_b\n"
		   "    expression: open.flags > 1\n");
	write_file("policies/10-a.yaml",
		   "rules:\n  - id: x\n    expression: open.flags > 0\n"
		   "    severity: low\n  - id: from_a\n"
		   "    expression: open.flags > 1\n");
	write_file("policies/30-c.yml", "rules:\n  - id: from_c\n"
		   "    expression: open.flags > 2\n");
	write_file("policies/notes.txt", "not: [yaml");
	write_file("policies/.hidden.policy", "not: [yaml");
	paths[0] = sub;
	rules_diag_init(&diag);
	ck_assert_int_eq(rule_set_load((const char *const *)paths, 1, &diag, &rs), 0);
	ck_assert_uint_eq(diag.n, 0);
	ck_assert_uint_eq(rule_set_count(rs), 4);
	ck_assert_str_eq(rule_id(rule_set_at(rs, 0)), "x");
	ck_assert_str_eq(rule_id(rule_set_at(rs, 1)), "from_a");
	ck_assert_str_eq(rule_id(rule_set_at(rs, 2)), "from_b");
	ck_assert_str_eq(rule_id(rule_set_at(rs, 3)), "from_c");
	ck_assert_int_eq(rule_severity(rule_set_at(rs, 0)), RULES_SEV_HIGH);
	ck_assert(strstr(rule_file(rule_set_at(rs, 0)), "20-b.policy"));
	rule_set_free(rs);
	rules_diag_fini(&diag);

	/* A missing path is an error; the other paths still load. */
	const char *two[] = { "/nonexistent/x.policy", sub };

	rules_diag_init(&diag);
	ck_assert_int_eq(rule_set_load(two, 2, &diag, &rs), 1);
	ck_assert_str_eq(diag.v[0].file, "/nonexistent/x.policy");
	ck_assert_uint_eq(diag.v[0].line, 0);
	ck_assert_uint_eq(rule_set_count(rs), 4);
	rule_set_free(rs);
	rules_diag_fini(&diag);
	remove_tmpdir();
}
END_TEST

/* ---- check-rules ---- */

static int run_check(const char *a1, const char *a2)
{
	const char *exe = getenv("SENTRACE_RULES_CHECK");
	pid_t pid;
	int st;

	ck_assert_ptr_nonnull(exe);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(exe, exe, a1, a2, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

START_TEST(test_check_rules)
{
	char good[128], bad[128];
	char *out = NULL, *err = NULL;
	size_t outlen, errlen;
	FILE *fo, *fe;
	const char *paths[2];

	make_tmpdir();
	write_file("good.policy", "rules:\n  - id: g\n    expression: open.flags > 0\n"
		   "    severity: high\n");
	write_file("bad.policy", "rules:\n  - id: b\n    expression: open.flag > 0\n");
	snprintf(good, sizeof(good), "%s/good.policy", tmpdir);
	snprintf(bad, sizeof(bad), "%s/bad.policy", tmpdir);

	ck_assert_int_eq(run_check(good, NULL), 0);
	ck_assert_int_eq(run_check(good, bad), 1);
	ck_assert_int_eq(run_check(NULL, NULL), 2);
	ck_assert_int_eq(run_check("/nonexistent", NULL), 1);

	fo = open_memstream(&out, &outlen);
	fe = open_memstream(&err, &errlen);
	paths[0] = good;
	paths[1] = bad;
	ck_assert_int_eq(rules_check_run(paths, 2, fo, fe), 1);
	fclose(fo);
	fclose(fe);
	ck_assert_str_eq(out, "g\topen\thigh\n1 rule loaded, 1 error, 0 warnings\n");
	char want[512];

	snprintf(want, sizeof(want),
		 "%s:3:17: error: unknown field, constant, macro or list 'open.flag'\n"
		 "      expression: open.flag > 0\n"
		 "                  ^\n", bad);
	ck_assert_str_eq(err, want);
	free(out);
	free(err);
	remove_tmpdir();
}
END_TEST

/* ---- Evaluating a set ---- */

struct matches {
	const char *ids[8];
	size_t n;
};

static void on_match(const struct rule *r, void *data)
{
	struct matches *m = data;

	if (m->n < 8)
		m->ids[m->n++] = rule_id(r);
}

static const char set_policy[] =
	"rules:\n"
	"  - id: write_etc\n"
	"    expression: open.file.path =~ \"/etc/**\" && open.flags & (O_WRONLY|O_RDWR) > 0\n"
	"  - id: sshd_config\n"
	"    expression: open.file.name == \"sshd_config\" && process.ancestors.file.name in [\"sshd\", \"bash\"]\n"
	"  - id: tmp\n"
	"    expression: open.file.path =~ \"/tmp/*\"\n"
	"  - id: python_exec\n"
	"    expression: exec.file.path == \"/usr/bin/python3\" && exec.argv in [\"-c\"]\n"
	"  - id: any_young\n"
	"    expression: event.type in [\"open\", \"connect\"] && process.created_at < 5s\n"
	"  - id: private\n"
	"    expression: connect.addr.ip in [\"10.0.0.0/8\", \"fd00::/8\"] && connect.addr.port != 53\n";

START_TEST(test_set_eval)
{
	struct rules_diag diag;
	struct rule_set *rs;
	struct mock m;
	struct rules_ctx ctx = { .get = mock_get, .data = &m };
	struct matches got = { 0 };

	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(set_policy, &diag, &rs), 0);
	ck_assert_uint_eq(rule_set_count_for(rs, RULES_EV_OPEN), 4);
	ck_assert_uint_eq(rule_set_count_for(rs, RULES_EV_EXEC), 1);
	ck_assert_uint_eq(rule_set_count_for(rs, RULES_EV_CONNECT), 2);
	ck_assert_uint_eq(rule_set_count_for(rs, RULES_EV_FORK), 0);
	mock_world(&m);
	ck_assert_int_eq(rule_set_eval(rs, RULES_EV_OPEN, &ctx, on_match, &got), 3);
	ck_assert_uint_eq(got.n, 3);
	ck_assert_str_eq(got.ids[0], "write_etc");
	ck_assert_str_eq(got.ids[1], "sshd_config");
	ck_assert_str_eq(got.ids[2], "any_young");
	/* Only the rules of the event's type are touched. */
	m.gets = 0;
	got.n = 0;
	ck_assert_int_eq(rule_set_eval(rs, RULES_EV_FORK, &ctx, on_match, &got), 0);
	ck_assert_uint_eq(m.gets, 0);
	ck_assert_int_eq(rule_set_eval(rs, RULES_EV_CONNECT, &ctx, NULL, NULL), 2);
	ck_assert_int_eq(rule_set_eval(rs, RULES_EV__COUNT, &ctx, NULL, NULL), -EINVAL);
	ck_assert_int_eq(rule_eval(rule_set_find(rs, "tmp"), RULES_EV_EXEC, &ctx), -EINVAL);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

START_TEST(test_eval_no_alloc)
{
	struct rules_diag diag;
	struct rule_set *rs;
	struct mock m;
	struct rules_ctx ctx = { .get = mock_get, .data = &m };
	struct matches got;
	unsigned long before;
	int n = 0;

	rules_diag_init(&diag);
	ck_assert_int_eq(load_text(set_policy, &diag, &rs), 0);
	mock_world(&m);
	before = allocs;
	for (int i = 0; i < 1000; i++) {
		for (int t = 0; t < RULES_EV__COUNT; t++) {
			anc_iter.i = 0;
			got.n = 0;
			n += rule_set_eval(rs, t, &ctx, on_match, &got);
		}
	}
	ck_assert_uint_eq(allocs, before);
	ck_assert_int_eq(n, 1000 * (3 + 1 + 2));
	/* The counter sees the library's allocations. */
	rule_set_free(rs);
	before = allocs;
	ck_assert_int_eq(load_text(set_policy, &diag, &rs), 0);
	ck_assert_uint_gt(allocs, before);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

/* ---- The rule index agrees with evaluating every rule ---- */

/* Words of the default policy: quoted strings and bare list items. */
struct dict {
	char **w;
	size_t n;
};

static void dict_add(struct dict *d, const char *s, size_t len)
{
	if (len == 0 || len > 200)
		return;
	d->w = realloc(d->w, (d->n + 1) * sizeof(*d->w));
	ck_assert_ptr_nonnull(d->w);
	d->w[d->n] = strndup(s, len);
	ck_assert_ptr_nonnull(d->w[d->n]);
	d->n++;
}

static void dict_scan(struct dict *d, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '"') {
			const char *e = strchr(p + 1, '"');

			if (!e)
				break;
			dict_add(d, p + 1, (size_t)(e - p - 1));
			p = e;
		} else if (strchr("/._-", *p) || (*p >= 'a' && *p <= 'z')) {
			const char *e = p;

			while (*e && (strchr("/._-*", *e) || (*e >= 'a' && *e <= 'z') ||
				      (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9')))
				e++;
			dict_add(d, p, (size_t)(e - p));
			p = e - 1;
		}
	}
}

static void dict_load_dir(struct dict *d, const char *dir)
{
	static const char *const files[] = {
		"00-macros.policy", "10-execution.policy", "20-persistence.policy",
		"30-privilege-escalation.policy", "40-defense-evasion.policy",
		"50-credential-access.policy", "60-discovery.policy",
		"70-command-and-control.policy", "80-impact.policy",
		"90-container-escape.policy",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4200], *text;
		FILE *f;
		long len;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		f = fopen(path, "r");
		ck_assert_msg(f, "%s", path);
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		text = calloc(1, (size_t)len + 1);
		ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		dict_scan(d, text);
		free(text);
	}
}

/* One random event: a value (or none) for every field. */
#define WORLD_BUF 256
#define WORLD_ARR 4

struct world {
	struct rules_value *v;    /* by field id */
	bool *set;
	char (*buf)[WORLD_ARR][WORLD_BUF];
	struct rules_str (*arr)[WORLD_ARR];
	size_t nids;
	size_t gets;
};

static int world_get(void *data, int id, struct rules_value *ret)
{
	struct world *w = data;

	w->gets++;
	if (id < 0 || (size_t)id >= w->nids || !w->set[id])
		return -ENOENT;
	*ret = w->v[id];
	return 0;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: the same sequence on every run. */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

/* A string near a policy word: as is, with its wildcards filled in,
 * cut short, extended, or prefixed. */
static size_t rnd_string(const struct dict *d, char *out)
{
	static const char *const fill[] = { "", "x", "abc", "a/b", "root", ".ssh", "id_rsa" };
	static const char *const tail[] = { "", "/x", ".pub", "x", "/", "/.." };
	const char *w = d->w[rnd() % d->n];
	size_t n = 0;

	if (rnd() % 8 == 0)
		out[n++] = '/';
	for (const char *p = w; *p && n < WORLD_BUF - 16; p++) {
		if (*p == '*' || *p == '?') {
			const char *f = fill[rnd() % 7];

			while (*f && n < WORLD_BUF - 16)
				out[n++] = *f++;
			continue;
		}
		if (*p == '~' || *p == '[' || *p == ']')
			continue;
		out[n++] = *p;
	}
	if (n && rnd() % 6 == 0)
		n = rnd() % n;
	if (rnd() % 4 == 0) {
		const char *t = tail[rnd() % 6];

		while (*t && n < WORLD_BUF - 1)
			out[n++] = *t++;
	}
	out[n] = '\0';
	return n;
}

static void world_fill(struct world *w, const struct dict *d)
{
	static const int64_t ints[] = { 0, 1, -1, 2, 13, 64, 0x241, 0x40, 0x1, 0x2,
					0x200, 1000, 65534, 4294967295ll };
	static const char *const ips[] = { "10.1.2.3", "169.254.169.254", "127.0.0.1",
					   "::1", "8.8.8.8", "fd00::1", "" };

	for (size_t i = 0; i < rules_field_count(); i++) {
		const struct rules_field *f = rules_field_at(i);
		struct rules_value *v = &w->v[f->id];
		unsigned pick = (unsigned)(rnd() % 16);

		w->set[f->id] = pick != 0;
		*v = (struct rules_value){ .kind = RULES_V_NONE };
		switch (f->type) {
		case RULES_TYPE_STRING:
			if (pick == 1) {
				/* Not a plain string: the index must admit all. */
				w->arr[f->id][0] = (struct rules_str){ "/etc/shadow", 11 };
				*v = (struct rules_value){ .kind = RULES_V_STRS,
							   .strs = w->arr[f->id], .n = 1 };
				break;
			}
			v->kind = RULES_V_STR;
			v->s = w->buf[f->id][0];
			v->len = rnd_string(d, w->buf[f->id][0]);
			break;
		case RULES_TYPE_IP:
			v->kind = RULES_V_STR;
			v->s = ips[rnd() % 7];
			v->len = strlen(v->s);
			break;
		case RULES_TYPE_STRING_ARRAY: {
			size_t n = rnd() % WORLD_ARR;

			for (size_t k = 0; k < n; k++) {
				size_t len = rnd_string(d, w->buf[f->id][k]);

				w->arr[f->id][k] = (struct rules_str){ w->buf[f->id][k], len };
			}
			*v = (struct rules_value){ .kind = RULES_V_STRS,
						   .strs = w->arr[f->id], .n = n };
			break;
		}
		case RULES_TYPE_INT_ARRAY:
			*v = (struct rules_value){ .kind = RULES_V_INTS, .ints = ints,
						   .n = rnd() % 4 };
			break;
		default:
			v->kind = RULES_V_INT;
			v->i = rnd() % 3 ? ints[rnd() % 14] : (int64_t)(rnd() % 100000);
			break;
		}
	}
}

struct id_list {
	const struct rule *r[256];
	size_t n;
};

static void collect(const struct rule *r, void *data)
{
	struct id_list *l = data;

	if (l->n < 256)
		l->r[l->n++] = r;
}

START_TEST(test_index_agrees)
{
	const char *root = getenv("SENTRACE_SOURCE_ROOT");
	char dir[4096];
	const char *paths[] = { dir };
	struct rules_diag diag;
	struct rule_set *rs;
	struct dict d = { 0 };
	struct world w = { 0 };
	struct rules_ctx ctx = { .get = world_get, .data = &w };
	size_t matches = 0, gets_ix = 0, gets_all = 0;
	bool fired[1024] = { false };
	size_t nfired = 0;

	ck_assert_ptr_nonnull(root);
	snprintf(dir, sizeof(dir), "%s/contrib/policy", root);
	rules_diag_init(&diag);
	ck_assert_int_eq(rule_set_load(paths, 1, &diag, &rs), 0);
	ck_assert_uint_gt(rule_set_count(rs), 100);
	ck_assert_uint_lt(rule_set_count(rs), 1024);
	dict_load_dir(&d, dir);
	ck_assert_uint_gt(d.n, 1000);
	for (size_t i = 0; i < rules_field_count(); i++)
		if ((size_t)rules_field_at(i)->id >= w.nids)
			w.nids = (size_t)rules_field_at(i)->id + 1;
	w.v = calloc(w.nids, sizeof(*w.v));
	w.set = calloc(w.nids, sizeof(*w.set));
	w.buf = calloc(w.nids, sizeof(*w.buf));
	w.arr = calloc(w.nids, sizeof(*w.arr));
	/* Under valgrind (SENTRACE_SLOW) a tenth of the rounds. */
	int rounds = getenv("SENTRACE_SLOW") ? 2000 : 20000;

	for (int round = 0; round < rounds; round++) {
		world_fill(&w, &d);
		for (int t = 0; t < RULES_EV__COUNT; t++) {
			struct id_list a = { .n = 0 }, b = { .n = 0 };
			int ra, rb;

			w.gets = 0;
			ra = rule_set_eval(rs, t, &ctx, collect, &a);
			gets_ix += w.gets;
			w.gets = 0;
			rb = rule_set_eval_unindexed(rs, t, &ctx, collect, &b);
			gets_all += w.gets;
			ck_assert_int_eq(ra, rb);
			ck_assert_uint_eq(a.n, b.n);
			for (size_t k = 0; k < a.n; k++) {
				ck_assert_msg(a.r[k] == b.r[k], "round %d type %d: %s vs %s",
					      round, t, rule_id(a.r[k]), rule_id(b.r[k]));
				for (size_t j = 0; j < rule_set_count(rs); j++)
					if (rule_set_at(rs, j) == a.r[k] && !fired[j]) {
						fired[j] = true;
						nfired++;
					}
			}
			matches += a.n;
		}
	}
	/* The events must make many distinct rules fire, or the comparison
	 * says little; and the index must save work. */
	fprintf(stderr, "index: %zu matches, %zu of %zu rules fired, "
		"%zu vs %zu field reads\n", matches, nfired, rule_set_count(rs),
		gets_ix, gets_all);
	ck_assert_uint_gt(matches, (size_t)rounds / 20);
	ck_assert_uint_gt(nfired, 40);
	ck_assert_uint_lt(gets_ix * 2, gets_all);

	/* What the probe sees most: a PostgreSQL backend opening a relation
	 * file. Only the rules without an approver (and none of the path
	 * rules) are left. */
	memset(w.set, 0, w.nids * sizeof(*w.set));
	{
		static const struct { const char *field, *value; } pg[] = {
			{ "open.file.path", "/var/lib/postgresql/15/main/base/16384/2601" },
			{ "open.file.name", "2601" },
			{ "process.file.name", "postgres" },
			{ "process.file.path", "/usr/lib/postgresql/15/bin/postgres" },
		};
		size_t n_open = rule_set_count_for(rs, RULES_EV_OPEN), n_cand;

		for (size_t i = 0; i < sizeof(pg) / sizeof(pg[0]); i++) {
			const struct rules_field *f =
				rules_field_by_name(pg[i].field, strlen(pg[i].field));

			ck_assert_ptr_nonnull(f);
			w.set[f->id] = true;
			w.v[f->id] = (struct rules_value){ .kind = RULES_V_STR, .s = pg[i].value,
							   .len = strlen(pg[i].value) };
		}
		n_cand = rule_set_candidate_count(rs, RULES_EV_OPEN, &ctx);
		fprintf(stderr, "index: a relation file open is checked against %zu of %zu "
			"open rules\n", n_cand, n_open);
		ck_assert_uint_gt(n_open, 30);
		ck_assert_uint_lt(n_cand * 4, n_open);
		ck_assert_int_eq(rule_set_eval(rs, RULES_EV_OPEN, &ctx, NULL, NULL), 0);
	}
	for (size_t i = 0; i < d.n; i++)
		free(d.w[i]);
	free(d.w);
	free(w.v);
	free(w.set);
	free(w.buf);
	free(w.arr);
	rule_set_free(rs);
	rules_diag_fini(&diag);
}
END_TEST

/* ---- The field table and its document ---- */

START_TEST(test_field_table)
{
	size_t n = rules_field_count();
	bool has_retval[RULES_EV__COUNT] = { 0 };

	ck_assert_uint_gt(n, 100);
	for (size_t i = 0; i < n; i++) {
		const struct rules_field *f = rules_field_at(i);

		ck_assert_ptr_nonnull(f->key);
		ck_assert_ptr_nonnull(f->doc);
		ck_assert_ptr_eq(rules_field_by_id(f->id), f);
		ck_assert_ptr_eq(rules_field_by_name(f->name, strlen(f->name)), f);
		for (size_t j = i + 1; j < n; j++) {
			ck_assert_int_ne(f->id, rules_field_at(j)->id);
			ck_assert_str_ne(f->name, rules_field_at(j)->name);
		}
		if (f->event >= 0) {
			ck_assert_int_eq(f->source, RULES_SRC_EVENT);
			ck_assert_int_lt(f->event, RULES_EV__COUNT);
			/* Event fields start with their event's name, but for
			 * network.*, ECS names that several kinds of event may
			 * carry (each entry still belongs to one). */
			const char *ev = rules_event_type_name(f->event);

			ck_assert_msg((!strncmp(f->name, ev, strlen(ev)) &&
				       f->name[strlen(ev)] == '.') ||
				      !strncmp(f->name, "network.", 8), "%s", f->name);
			if (!strcmp(f->key, "ret"))
				has_retval[f->event] = true;
		}
	}
	for (int t = 0; t < RULES_EV__COUNT; t++) {
		const char *name = rules_event_type_name(t);

		ck_assert_int_eq(rules_event_type_from_name(name, strlen(name)), t);
		/* exit, seccomp_mismatch and dns (sent at the call's
		 * entry) report no call's result. */
		ck_assert_msg(has_retval[t] || t == RULES_EV_EXIT ||
			      t == RULES_EV_SECCOMP_MISMATCH || t == RULES_EV_DNS,
			      "%s.retval", name);
	}
	ck_assert_int_eq(rules_event_type_from_name("nope", 4), -ENOENT);
	/* A few stable ids the probe may hard-code. */
	ck_assert_int_eq(rules_field_by_name("event.type", 10)->id, 1);
	ck_assert_int_eq(rules_field_by_name("process.file.path", 17)->id, 100);
	ck_assert_int_eq(rules_field_by_name("process.parent.file.path", 24)->id, 200);
	ck_assert_int_eq(rules_field_by_name("process.ancestors.file.name", 27)->id, 301);
	ck_assert_int_eq(rules_field_by_name("open.file.path", 14)->id, 1040);
	ck_assert_ptr_null(rules_field_by_name("process.ancestors.created_at", 28));
	ck_assert_int_eq(rules_field_by_name("process.ancestors.pid", 21)->type,
			 RULES_TYPE_INT_ARRAY);
}
END_TEST

START_TEST(test_fields_doc_up_to_date)
{
	const char *root = getenv("SENTRACE_SOURCE_ROOT");
	char path[512], *gen = NULL, *disk = NULL;
	size_t genlen, disklen = 0;
	FILE *f;

	ck_assert_ptr_nonnull(root);
	f = open_memstream(&gen, &genlen);
	ck_assert_int_eq(rules_fields_write_doc(f), 0);
	fclose(f);
	snprintf(path, sizeof(path), "%s/docs/fields.md", root);
	f = fopen(path, "r");
	ck_assert_msg(f, "%s is missing: ninja -C build fields-doc", path);
	disk = malloc(genlen + 2);
	disklen = fread(disk, 1, genlen + 1, f);
	fclose(f);
	ck_assert_msg(disklen == genlen && !memcmp(gen, disk, genlen),
		      "docs/fields.md is out of date: run ninja -C build fields-doc");
	free(gen);
	free(disk);
}
END_TEST

START_TEST(test_constants)
{
	int64_t v;

	ck_assert_int_eq(rules_constant_lookup("O_CREAT", 7, &v), 0);
	ck_assert_int_eq(v, O_CREAT);
	ck_assert_int_eq(rules_constant_lookup("SIGKILL", 7, &v), 0);
	ck_assert_int_eq(v, SIGKILL);
	ck_assert_int_eq(rules_constant_lookup("CAP_SYS_ADMIN", 13, &v), 0);
	ck_assert_int_eq(v, 1ll << 21);
	ck_assert_int_eq(rules_constant_lookup("BPF_PROG_LOAD", 13, &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(rules_constant_lookup("O_NOPE", 6, &v), -ENOENT);
}
END_TEST

static Suite *rules_suite(void)
{
	Suite *s = suite_create("rules");
	TCase *tc;

#define TC(name, fn) \
	tc = tcase_create(name); tcase_add_test(tc, fn); suite_add_tcase(s, tc)
#define TCL(name, fn, table) \
	tc = tcase_create(name); \
	tcase_add_loop_test(tc, fn, 0, (int)(sizeof(table) / sizeof(table[0]))); \
	suite_add_tcase(s, tc)

	TCL("eval", test_eval_table, eval_cases);
	TCL("glob", test_glob_table, glob_cases);
	TCL("errors", test_error_table, err_cases);
	TCL("error-positions", test_error_positions, pos_cases);
	TC("deep-nesting", test_deep_nesting);
	TC("macros-lists", test_macros_lists);
	TC("macro-errors", test_macro_errors);
	TC("broken-rule", test_broken_rule_among_good);
	TC("metadata", test_rule_metadata);
	TCL("attribute-errors", test_attr_errors, attr_errs);
	TCL("yaml-errors", test_yaml_errors, yaml_errs);
	TC("overrides", test_overrides);
	TC("directories", test_directory_order);
	TC("check-rules", test_check_rules);
	TC("set-eval", test_set_eval);
	TC("no-alloc", test_eval_no_alloc);
	TC("index-agrees", test_index_agrees);
	TC("field-table", test_field_table);
	TC("fields-doc", test_fields_doc_up_to_date);
	TC("constants", test_constants);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rules_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
