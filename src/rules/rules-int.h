/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the rules library: tokens, the compiled expression tree, globs,
 * and the pieces the policy loader shares with the compiler.
 */
#ifndef SENTRACE_RULES_INT_H
#define SENTRACE_RULES_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define NSEC_PER_MS  1000000ll
#define NSEC_PER_S   1000000000ll

bool rules_field_is_path(const struct rules_field *f);

/* ---- Lexer ---- */

enum tok_kind {
	TOK_EOF,
	TOK_IDENT,        /* field, constant, macro or list name, keyword */
	TOK_INT,
	TOK_DURATION,     /* value in ns */
	TOK_STRING,       /* "..." or '...' */
	TOK_GLOB,         /* ~"..." */
	TOK_REGEX,        /* r"..." */
	TOK_IP,           /* unquoted address or CIDR */
	TOK_EQ, TOK_NE, TOK_LT, TOK_LE, TOK_GT, TOK_GE,
	TOK_MATCH,        /* =~ */
	TOK_NMATCH,       /* !~ */
	TOK_AND, TOK_OR, TOK_NOT,   /* && || ! and the words */
	TOK_IN,
	TOK_BAND, TOK_BOR, TOK_BXOR,
	TOK_LPAREN, TOK_RPAREN, TOK_LBRACK, TOK_RBRACK, TOK_COMMA,
	TOK_TRUE, TOK_FALSE,
};

struct token {
	enum tok_kind kind;
	size_t off;       /* byte offset in the expression */
	size_t len;       /* bytes of source */
	const char *text; /* IDENT, IP: the source bytes */
	int64_t i;        /* INT, DURATION */
	char *s;          /* STRING, GLOB, REGEX: decoded, malloc'd */
	size_t slen;
};

struct lexer {
	const char *src;
	size_t len;
	size_t pos;
	char err[160];    /* set on a lexing error */
	size_t err_off;
};

void lexer_init(struct lexer *lx, const char *src, size_t len);
/* 0, or -EINVAL with lx->err set; *tok's string is owned by the caller. */
int lexer_next(struct lexer *lx, struct token *tok);
const char *tok_kind_name(enum tok_kind k);

/* ---- Globs ---- */

struct glob {
	char *pat;
	size_t len;
	bool path;        /* '*' and '?' do not match '/'; '**' does */
};

int glob_init(struct glob *g, const char *pat, size_t len, bool path);
void glob_fini(struct glob *g);
bool glob_match(const struct glob *g, const char *s, size_t len);

/* ---- Compiled expressions ---- */

struct ipnet {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;  /* bits */
};

/* Parses "1.2.3.4", "::1", "10.0.0.0/8"; v4-mapped v6 becomes v4. */
int ipnet_parse(const char *s, size_t len, bool allow_prefix, struct ipnet *ret);

enum cmp_op { OP_EQ, OP_LT, OP_LE, OP_GT, OP_GE };

enum match_kind {
	M_STR,            /* string equality */
	M_GLOB,
	M_REGEX,
	M_INT,            /* op against a constant */
	M_CIDR,           /* address within a network (or equal) */
	M_FIELD,          /* equality with another field's value */
	M_ANY,            /* any of items */
};

struct match {
	enum match_kind kind;
	enum cmp_op op;
	char *s;
	size_t len;
	int64_t i;
	struct glob glob;
	regex_t re;
	bool re_ok;
	struct ipnet net;
	struct node *other;       /* M_FIELD, M_INT against an int expression */
	struct match *items;
	size_t nitems;
};

enum node_kind {
	N_AND, N_OR, N_NOT,
	N_CONST_BOOL,             /* b */
	N_BOOL_FIELD,             /* a bool field as a predicate */
	N_CMP,                    /* operand (a) matched by m, negated if neg */
	/* Operands (typed values, not predicates): */
	N_FIELD,
	N_INT,                    /* also durations */
	N_STR,                    /* a string literal not yet compiled */
	N_LIST,                   /* a list literal not yet compiled */
	N_BITOP,                  /* a op b: '&' '|' '^' */
};

/* The static type of a node while compiling. */
enum vtype {
	V_PRED,                   /* a boolean expression */
	V_STR, V_INT, V_BOOL, V_IP, V_DUR, V_STRS, V_INTS,
	V_LIT_STR,                /* string literal: string, IP, CIDR */
	V_LIT_GLOB, V_LIT_REGEX,
	V_LIT_LIST,
	V_LIT_BOOL,
};

struct node {
	enum node_kind kind;
	enum vtype type;
	size_t off;               /* where it starts, for messages */
	const char *file;         /* non-NULL when from a macro elsewhere */
	struct node *a, *b;
	char bitop;
	bool neg;
	bool b_val;
	int64_t i;
	char *s;                  /* N_STR: decoded text */
	size_t slen;
	enum tok_kind lit;        /* N_STR: TOK_STRING/GLOB/REGEX/IP */
	bool has_int;             /* N_STR from a named list: also the int i */
	const struct rules_field *field;
	struct node **items;      /* N_LIST */
	size_t nitems;
	struct match m;           /* N_CMP */
};

struct node *node_free(struct node *n);
bool node_eval(const struct node *n, int event_type, const struct rules_ctx *ctx);
/* A field's value for the event; absent fields come back as RULES_V_NONE. */
void rules_get_value(const struct rules_ctx *ctx, int event_type,
		     const struct rules_field *f, struct rules_value *v);

/* ---- The rule index (index.c) ---- */

/* Rule sets of one event type larger than this are evaluated unindexed. */
#define RULES_INDEX_MAX_WORDS 16

struct rules_index;

/*
 * Indexes the rules whose compiled expressions are roots[0..n): 0 with *ret
 * set (NULL when there is nothing worth indexing), or -ENOMEM.
 */
int rules_index_build(struct node *const *roots, size_t n, struct rules_index **ret);
void rules_index_free(struct rules_index *ix);
/*
 * Sets bit i of ret (RULES_INDEX_MAX_WORDS words) for each rule i that may
 * match this event; every other rule is certain not to. Returns the number
 * of words written. Allocates nothing.
 */
size_t rules_index_candidates(const struct rules_index *ix, int event_type,
			      const struct rules_ctx *ctx, uint64_t *ret);
/* For tests: how many rules of the type the index would evaluate. */
size_t rule_set_candidate_count(const struct rule_set *rs, int event_type,
				const struct rules_ctx *ctx);
/* For tests: evaluates every rule of the type, ignoring the index. */
int rule_set_eval_unindexed(const struct rule_set *rs, int event_type,
			    const struct rules_ctx *ctx, rules_match_cb on_match,
			    void *data);

/* ---- Compiling a rule's or a macro's expression ---- */

/* A position in a policy file, for messages. */
struct src_pos {
	const char *file;
	unsigned line, col;
	const char *ltext;        /* the source line, for the excerpt */
	size_t llen;
};

/* Maps an offset inside an expression scalar to its place in the file. */
struct expr_src {
	const char *file;
	const char *text;         /* the expression (the scalar's value) */
	size_t len;
	/* Offset -> line/col; NULL: line 0. */
	void (*locate)(const struct expr_src *e, size_t off, struct src_pos *ret);
	const void *priv;
};

struct compile_env;

/* What the compiler asks the loader about names. */
struct compile_names {
	/* A macro by name: its expression source, or NULL. */
	const struct expr_src *(*macro)(void *data, const char *name, size_t len);
	/* A named list: compiled as a list literal node at off, or NULL. */
	struct node *(*list)(void *data, const char *name, size_t len, size_t off);
	/* Did the macro/list fail on its own (already reported)? */
	bool (*broken)(void *data, const char *name, size_t len);
	void *data;
};

struct compile_result {
	struct node *root;
	uint64_t event_mask;      /* 0: could not be inferred */
};

/*
 * Compiles src. On failure returns -EINVAL and adds one error to diag at the
 * right place. A rule (self == NULL) must be a condition whose event types
 * can be inferred; a macro (self: its name) may be any expression.
 */
int rules_compile(const struct expr_src *src, const struct compile_names *names,
		  const char *self, struct rules_diag *diag, struct compile_result *ret);

/* Diagnostic helpers shared by the loader and the compiler. */
int rules_diag_add(struct rules_diag *d, bool warning, const struct src_pos *pos,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
