/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The expression lexer: turns an expression into tokens with their byte
 * offsets, decoding string escapes, numbers, durations and unquoted IPs.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

void lexer_init(struct lexer *lx, const char *src, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->src = src;
	lx->len = len;
}

static int lex_error(struct lexer *lx, size_t off, const char *msg)
{
	snprintf(lx->err, sizeof(lx->err), "%s", msg);
	lx->err_off = off;
	return -EINVAL;
}

static bool is_ident_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool is_ident(int c)
{
	return isalnum(c) || c == '_' || c == '.';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A quoted string starting at lx->pos (the quote). raw: only \<quote> is an
 * escape (for regexes, whose backslashes belong to the regex).
 */
static int lex_string(struct lexer *lx, struct token *t, bool raw)
{
	const char *p = lx->src;
	char q = p[lx->pos];
	size_t i = lx->pos + 1, start = lx->pos;
	char *out = malloc(lx->len - lx->pos + 1);
	size_t n = 0;

	if (!out)
		return -ENOMEM;
	for (;;) {
		if (i >= lx->len) {
			free(out);
			return lex_error(lx, start, "unterminated string");
		}
		char c = p[i];

		if (c == q) {
			i++;
			break;
		}
		if (c != '\\' || i + 1 >= lx->len) {
			out[n++] = c;
			i++;
			continue;
		}
		char e = p[i + 1];

		if (raw) {
			if (e != q)
				out[n++] = '\\';
			out[n++] = e;
			i += 2;
			continue;
		}
		i += 2;
		switch (e) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case '0': out[n++] = '\0'; break;
		case '\\': case '"': case '\'': out[n++] = e; break;
		case 'x':
			if (i + 1 < lx->len && hexval(p[i]) >= 0 &&
			    hexval(p[i + 1]) >= 0) {
				out[n++] = (char)(hexval(p[i]) * 16 + hexval(p[i + 1]));
				i += 2;
				break;
			}
			free(out);
			return lex_error(lx, i - 2, "\\x needs two hex digits");
		default:
			/* Keep unknown escapes: "\*" stays a glob escape. */
			out[n++] = '\\';
			out[n++] = e;
			break;
		}
	}
	out[n] = '\0';
	t->s = out;
	t->slen = n;
	lx->pos = i;
	return 0;
}

/* An unquoted address: digits and dots (v4), or hex digits and colons. */
static bool looks_like_ip(const char *s, size_t len)
{
	size_t i = 0, digits = 0;

	if (len && s[0] == ':')
		return len > 1 && s[1] == ':';
	while (i < len && isxdigit((unsigned char)s[i])) {
		if (!isdigit((unsigned char)s[i]))
			digits = 100;  /* hex: only valid before a ':' */
		i++;
		digits++;
	}
	if (i == len || i == 0)
		return false;
	if (s[i] == ':')
		return true;
	return s[i] == '.' && digits < 100 && i + 1 < len &&
	       isdigit((unsigned char)s[i + 1]);
}

static int lex_number(struct lexer *lx, struct token *t)
{
	const char *p = lx->src + lx->pos;
	size_t rest = lx->len - lx->pos, i = 0;
	bool neg = false;
	uint64_t v = 0;
	unsigned base = 10;

	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (looks_like_ip(p + i, rest - i) && !neg) {
		while (i < rest && (isxdigit((unsigned char)p[i]) || p[i] == '.' ||
				    p[i] == ':' || p[i] == '/'))
			i++;
		t->kind = TOK_IP;
		t->text = p;
		lx->pos += i;
		return 0;
	}
	if (p[i] == '0' && i + 1 < rest && (p[i + 1] == 'x' || p[i + 1] == 'X')) {
		base = 16;
		i += 2;
	} else if (p[i] == '0' && i + 1 < rest && isdigit((unsigned char)p[i + 1])) {
		base = 8;
		i++;
	}
	size_t digits_start = i;

	for (; i < rest; i++) {
		int d = hexval(p[i]);

		if (!isxdigit((unsigned char)p[i]) || d >= (int)base)
			break;
		if (v > (UINT64_MAX - (unsigned)d) / base)
			return lex_error(lx, lx->pos, "number too large");
		v = v * base + (unsigned)d;
	}
	if (i == digits_start)
		return lex_error(lx, lx->pos, "malformed number");
	if (v > (uint64_t)INT64_MAX && !(neg && v == (uint64_t)INT64_MAX + 1))
		return lex_error(lx, lx->pos, "number too large");
	t->kind = TOK_INT;
	t->i = neg ? (int64_t)(0 - v) : (int64_t)v;

	/* A duration: a unit right after the digits. */
	size_t u = i;

	while (u < rest && isalpha((unsigned char)p[u]))
		u++;
	if (u > i) {
		static const struct {
			const char *name;
			int64_t ns;
		} units[] = {
			{ "ns", 1 }, { "us", 1000 }, { "ms", NSEC_PER_MS },
			{ "s", NSEC_PER_S }, { "m", 60 * NSEC_PER_S },
			{ "h", 3600 * NSEC_PER_S },
		};
		size_t k;

		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (strlen(units[k].name) == u - i &&
			    !memcmp(units[k].name, p + i, u - i))
				break;
		if (k == sizeof(units) / sizeof(units[0]) || base != 10)
			return lex_error(lx, lx->pos + i,
					 "unknown duration unit (use ms, s, m or h)");
		if (neg || (int64_t)v > INT64_MAX / units[k].ns)
			return lex_error(lx, lx->pos, "duration out of range");
		t->kind = TOK_DURATION;
		t->i = (int64_t)v * units[k].ns;
		i = u;
	}
	lx->pos += i;
	return 0;
}

static const struct {
	const char *word;
	enum tok_kind kind;
} keywords[] = {
	{ "and", TOK_AND }, { "or", TOK_OR }, { "not", TOK_NOT },
	{ "in", TOK_IN }, { "true", TOK_TRUE }, { "false", TOK_FALSE },
};

int lexer_next(struct lexer *lx, struct token *t)
{
	const char *p = lx->src;

	memset(t, 0, sizeof(*t));
	while (lx->pos < lx->len && isspace((unsigned char)p[lx->pos]))
		lx->pos++;
	t->off = lx->pos;
	if (lx->pos >= lx->len) {
		t->kind = TOK_EOF;
		return 0;
	}

	char c = p[lx->pos];
	char d = lx->pos + 1 < lx->len ? p[lx->pos + 1] : '\0';
	int r = 0;

	if ((c == 'r' || c == '~') && (d == '"' || d == '\'')) {
		lx->pos++;
		t->kind = c == 'r' ? TOK_REGEX : TOK_GLOB;
		r = lex_string(lx, t, c == 'r');
	} else if (c == '"' || c == '\'') {
		t->kind = TOK_STRING;
		r = lex_string(lx, t, false);
	} else if (isdigit((unsigned char)c) || (c == '-' && isdigit((unsigned char)d)) ||
		   (c == ':' && d == ':')) {
		r = lex_number(lx, t);
	} else if (is_ident_start((unsigned char)c)) {
		size_t i = lx->pos;

		while (i < lx->len && is_ident((unsigned char)p[i]))
			i++;
		t->kind = TOK_IDENT;
		t->text = p + lx->pos;
		t->len = i - lx->pos;
		lx->pos = i;
		for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
			if (strlen(keywords[k].word) == t->len &&
			    !memcmp(keywords[k].word, t->text, t->len))
				t->kind = keywords[k].kind;
		return 0;
	} else {
		static const struct {
			const char *op;
			enum tok_kind kind;
		} ops[] = {
			{ "==", TOK_EQ }, { "!=", TOK_NE }, { "<=", TOK_LE },
			{ ">=", TOK_GE }, { "=~", TOK_MATCH }, { "!~", TOK_NMATCH },
			{ "&&", TOK_AND }, { "||", TOK_OR }, { "<", TOK_LT },
			{ ">", TOK_GT }, { "!", TOK_NOT }, { "&", TOK_BAND },
			{ "|", TOK_BOR }, { "^", TOK_BXOR }, { "(", TOK_LPAREN },
			{ ")", TOK_RPAREN }, { "[", TOK_LBRACK },
			{ "]", TOK_RBRACK }, { ",", TOK_COMMA },
		};
		size_t k;

		for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
			size_t n = strlen(ops[k].op);

			if (lx->len - lx->pos >= n && !memcmp(p + lx->pos, ops[k].op, n))
				break;
		}
		if (k == sizeof(ops) / sizeof(ops[0])) {
			if (c == '=')
				return lex_error(lx, lx->pos, "unexpected '=' (use '==')");
			char msg[48];

			snprintf(msg, sizeof(msg), isprint((unsigned char)c) ?
				 "unexpected character '%c'" : "unexpected byte 0x%02x",
				 isprint((unsigned char)c) ? c : (unsigned char)c);
			return lex_error(lx, lx->pos, msg);
		}
		t->kind = ops[k].kind;
		lx->pos += strlen(ops[k].op);
	}
	if (r < 0)
		return r;
	t->len = lx->pos - t->off;
	if (t->kind == TOK_IP)
		t->text = p + t->off;
	return 0;
}

const char *tok_kind_name(enum tok_kind k)
{
	switch (k) {
	case TOK_EOF: return "end of expression";
	case TOK_IDENT: return "name";
	case TOK_INT: return "integer";
	case TOK_DURATION: return "duration";
	case TOK_STRING: return "string";
	case TOK_GLOB: return "glob";
	case TOK_REGEX: return "regex";
	case TOK_IP: return "address";
	case TOK_EQ: return "'=='";
	case TOK_NE: return "'!='";
	case TOK_LT: return "'<'";
	case TOK_LE: return "'<='";
	case TOK_GT: return "'>'";
	case TOK_GE: return "'>='";
	case TOK_MATCH: return "'=~'";
	case TOK_NMATCH: return "'!~'";
	case TOK_AND: return "'&&'";
	case TOK_OR: return "'||'";
	case TOK_NOT: return "'!'";
	case TOK_IN: return "'in'";
	case TOK_BAND: return "'&'";
	case TOK_BOR: return "'|'";
	case TOK_BXOR: return "'^'";
	case TOK_LPAREN: return "'('";
	case TOK_RPAREN: return "')'";
	case TOK_LBRACK: return "'['";
	case TOK_RBRACK: return "']'";
	case TOK_COMMA: return "','";
	case TOK_TRUE: return "'true'";
	case TOK_FALSE: return "'false'";
	}
	return "?";
}
