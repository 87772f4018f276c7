/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The questions of a DNS query, from bytes a traced process sent: hostile
 * input, so every step is bounded (RFC 1035 limits: labels of 1 to 63
 * bytes, names of at most 255 encoded bytes, compression pointers only
 * backwards and at most a few of them).
 */
#ifndef SENTRACE_DNS_H
#define SENTRACE_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN    12
#define DNS_QUESTIONS_MAX 4     /* more in one query is not a resolver's */
#define DNS_NAME_WIRE_MAX 255   /* encoded, with the root label */
/* Dotted text: a byte outside [!-~], a '.' or '\' in a label becomes
 * "\DDD" (as dig writes it), so 4 bytes per wire byte at most. */
#define DNS_NAME_TEXT_MAX (4 * DNS_NAME_WIRE_MAX + 1)
/* A query read from a tracee: 512 bytes over UDP (RFC 1035), the same
 * over TCP after its 2-byte length. A question is far smaller. */
#define DNS_QUERY_READ_MAX 512

enum dns_qtype {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6,
	DNS_T_NULL = 10, DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16,
	DNS_T_AAAA = 28, DNS_T_SRV = 33, DNS_T_NAPTR = 35, DNS_T_OPT = 41,
	DNS_T_DS = 43, DNS_T_RRSIG = 46, DNS_T_DNSKEY = 48, DNS_T_SVCB = 64,
	DNS_T_HTTPS = 65, DNS_T_ANY = 255, DNS_T_CAA = 257,
};

struct dns_question {
	char name[DNS_NAME_TEXT_MAX];   /* lower-case, dotted, no final dot;
					 * "." for the root */
	uint16_t name_len;              /* strlen(name) */
	uint16_t type;
	uint16_t class;
};

struct dns_query {
	uint16_t id;
	uint16_t qdcount;               /* as the header says */
	unsigned nq;                    /* questions parsed, 1..4 */
	struct dns_question q[DNS_QUESTIONS_MAX];
};

/*
 * Parses a query (QR 0, opcode QUERY, QDCOUNT 1 to 4) from buf. Returns 0,
 * or -EBADMSG when the bytes are not such a query: truncated, a response,
 * a label over 63 bytes, a name over 255 bytes, an extended label type, a
 * pointer forward or into a loop.
 */
int dns_parse_query(const uint8_t *buf, size_t len, struct dns_query *ret);

/* The same for a TCP stream's first message: a 2-byte length, then the
 * query (which may not be all there: what is there must hold the
 * questions). */
int dns_parse_query_tcp(const uint8_t *buf, size_t len, struct dns_query *ret);

/* "A", "AAAA", "TXT"…, or NULL for a type without a name here. */
const char *dns_type_name(uint16_t type);
/* The type a name stands for (case-insensitive), or -1. */
int dns_type_from_name(const char *name);

#endif
