/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS query parsing (questions only). The bytes come from a traced
 * process's send buffer: nothing in them is trusted, every read is checked
 * against the length, and names are bounded by RFC 1035's limits so that a
 * crafted packet costs at most a few hundred steps.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "util.h"

/* Compression in a query is legal but rare (a second question naming the
 * first's suffix); a resolver never chains more than a few. */
#define DNS_JUMPS_MAX 8

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Reads the name at *off into q->name and moves *off past it (past the
 * first pointer, if it jumped). A pointer must point before itself, and
 * the jumps and the encoded length are both capped: that ends every loop.
 */
static int read_name(const uint8_t *buf, size_t len, size_t *off,
		     struct dns_question *q)
{
	size_t pos = *off, next = 0, wire = 0, o = 0;
	unsigned jumps = 0;

	for (;;) {
		uint8_t l;

		if (pos >= len)
			return -EBADMSG;
		l = buf[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len || ++jumps > DNS_JUMPS_MAX)
				return -EBADMSG;
			target = (size_t)(l & 0x3f) << 8 | buf[pos + 1];
			if (target >= pos || target < DNS_HEADER_LEN)
				return -EBADMSG;
			if (next == 0)
				next = pos + 2;
			pos = target;
			continue;
		}
		/* 0x40 and 0x80: extended label types, obsolete or unused. */
		if (l & 0xc0)
			return -EBADMSG;
		if (l == 0) {
			if (next == 0)
				next = pos + 1;
			break;
		}
		if (l > len - pos - 1)
			return -EBADMSG;
		/* The root label's byte counts as well: 255 in all. */
		wire += 1u + l;
		if (wire + 1 > DNS_NAME_WIRE_MAX)
			return -EBADMSG;
		if (o)
			q->name[o++] = '.';
		for (size_t i = 1; i <= l; i++) {
			uint8_t c = buf[pos + i];

			if (c >= 'A' && c <= 'Z') {
				q->name[o++] = (char)(c - 'A' + 'a');
			} else if (c > ' ' && c < 0x7f && c != '.' && c != '\\') {
				q->name[o++] = (char)c;
			} else {
				/* A dot inside a label is not a separator. */
				snprintf(q->name + o, 5, "\\%03u", c);
				o += 4;
			}
		}
		pos += 1u + l;
	}
	if (o == 0)
		q->name[o++] = '.';
	q->name[o] = '\0';
	q->name_len = (uint16_t)o;
	*off = next;
	return 0;
}

int dns_parse_query(const uint8_t *buf, size_t len, struct dns_query *ret)
{
	struct dns_query dq;
	size_t off = DNS_HEADER_LEN;
	uint16_t flags;

	if (!buf || len < DNS_HEADER_LEN)
		return -EBADMSG;
	dq.id = get16(buf);
	flags = get16(buf + 2);
	dq.qdcount = get16(buf + 4);
	/* QR 0 (a query), opcode 0 (QUERY): anything else is not a lookup. */
	if ((flags & 0x8000) || ((flags >> 11) & 0xf) != 0)
		return -EBADMSG;
	if (dq.qdcount == 0 || dq.qdcount > DNS_QUESTIONS_MAX)
		return -EBADMSG;
	for (dq.nq = 0; dq.nq < dq.qdcount; dq.nq++) {
		struct dns_question *q = &dq.q[dq.nq];

		if (read_name(buf, len, &off, q) < 0 || len - off < 4)
			return -EBADMSG;
		q->type = get16(buf + off);
		q->class = get16(buf + off + 2);
		off += 4;
	}
	*ret = dq;
	return 0;
}

int dns_parse_query_tcp(const uint8_t *buf, size_t len, struct dns_query *ret)
{
	size_t mlen;

	if (!buf || len < 2)
		return -EBADMSG;
	mlen = get16(buf);
	if (mlen < DNS_HEADER_LEN)
		return -EBADMSG;
	/* Pointers are offsets in the message, not in the stream. */
	return dns_parse_query(buf + 2, mlen < len - 2 ? mlen : len - 2, ret);
}

static const struct {
	uint16_t type;
	const char *name;
} types[] = {
	{ DNS_T_A, "A" }, { DNS_T_NS, "NS" }, { DNS_T_CNAME, "CNAME" },
	{ DNS_T_SOA, "SOA" }, { DNS_T_NULL, "NULL" }, { DNS_T_PTR, "PTR" },
	{ DNS_T_MX, "MX" }, { DNS_T_TXT, "TXT" }, { DNS_T_AAAA, "AAAA" },
	{ DNS_T_SRV, "SRV" }, { DNS_T_NAPTR, "NAPTR" }, { DNS_T_OPT, "OPT" },
	{ DNS_T_DS, "DS" }, { DNS_T_RRSIG, "RRSIG" }, { DNS_T_DNSKEY, "DNSKEY" },
	{ DNS_T_SVCB, "SVCB" }, { DNS_T_HTTPS, "HTTPS" }, { DNS_T_ANY, "ANY" },
	{ DNS_T_CAA, "CAA" },
};

const char *dns_type_name(uint16_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (types[i].type == type)
			return types[i].name;
	return NULL;
}

int dns_type_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (strcasecmp(types[i].name, name) == 0)
			return types[i].type;
	return -1;
}
