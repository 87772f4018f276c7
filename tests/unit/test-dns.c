/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the DNS query parser (src/common/dns.c): the packets real
 * resolvers send, and the hostile shapes it must refuse without reading a
 * byte too far: loops of compression pointers, forward pointers, labels
 * over 63 bytes, names over 255, truncation at every length.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "dns.h"

/* A header with id 0x1234, RD set, qdcount n. */
static size_t header(uint8_t *p, uint16_t flags, uint16_t n)
{
	const uint8_t h[12] = { 0x12, 0x34, flags >> 8, flags & 0xff, 0, (uint8_t)n,
				0, 0, 0, 0, 0, 0 };

	memcpy(p, h, sizeof(h));
	return sizeof(h);
}

/* Encodes a dotted name as labels; returns the bytes written. */
static size_t labels(uint8_t *p, const char *dotted)
{
	size_t o = 0;

	while (*dotted) {
		const char *dot = strchr(dotted, '.');
		size_t l = dot ? (size_t)(dot - dotted) : strlen(dotted);

		p[o++] = (uint8_t)l;
		memcpy(p + o, dotted, l);
		o += l;
		dotted += l + (dot ? 1 : 0);
	}
	p[o++] = 0;
	return o;
}

static size_t question(uint8_t *p, const char *name, uint16_t type)
{
	size_t o = labels(p, name);

	p[o++] = type >> 8;
	p[o++] = type & 0xff;
	p[o++] = 0;
	p[o++] = 1;
	return o;
}

START_TEST(test_glibc_a)
{
	uint8_t pkt[512];
	struct dns_query q;
	size_t n = header(pkt, 0x0100, 1);

	n += question(pkt + n, "XMR.Pool.MinerGate.com", DNS_T_A);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), 0);
	ck_assert_uint_eq(q.id, 0x1234);
	ck_assert_uint_eq(q.qdcount, 1);
	ck_assert_uint_eq(q.nq, 1);
	ck_assert_str_eq(q.q[0].name, "xmr.pool.minergate.com");
	ck_assert_uint_eq(q.q[0].name_len, strlen("xmr.pool.minergate.com"));
	ck_assert_uint_eq(q.q[0].type, DNS_T_A);
	ck_assert_uint_eq(q.q[0].class, 1);
	/* Every shorter packet is cut inside the question. */
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(dns_parse_query(pkt, cut, &q), -EBADMSG);
}
END_TEST

START_TEST(test_tcp_prefix)
{
	uint8_t pkt[514];
	struct dns_query q;
	size_t n = header(pkt + 2, 0x0100, 1);

	n += question(pkt + 2 + n, "example.org", DNS_T_TXT);
	pkt[0] = (uint8_t)(n >> 8);
	pkt[1] = (uint8_t)n;
	ck_assert_int_eq(dns_parse_query_tcp(pkt, n + 2, &q), 0);
	ck_assert_str_eq(q.q[0].name, "example.org");
	ck_assert_uint_eq(q.q[0].type, DNS_T_TXT);
	/* The length prefix bounds the message, not the buffer. */
	pkt[1] = (uint8_t)(n - 1);
	ck_assert_int_eq(dns_parse_query_tcp(pkt, n + 2, &q), -EBADMSG);
	ck_assert_int_eq(dns_parse_query_tcp(pkt, 1, &q), -EBADMSG);
}
END_TEST

START_TEST(test_not_queries)
{
	uint8_t pkt[512];
	struct dns_query q;
	size_t n;

	/* A response. */
	n = header(pkt, 0x8180, 1);
	n += question(pkt + n, "a.example", DNS_T_A);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	/* opcode UPDATE (5). */
	n = header(pkt, 5 << 11, 1);
	n += question(pkt + n, "a.example", DNS_T_SOA);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	/* No question, and too many. */
	n = header(pkt, 0x0100, 0);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	n = header(pkt, 0x0100, 5);
	for (int i = 0; i < 5; i++)
		n += question(pkt + n, "a.example", DNS_T_A);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	ck_assert_int_eq(dns_parse_query(NULL, 0, &q), -EBADMSG);
}
END_TEST

START_TEST(test_label_limits)
{
	uint8_t pkt[1024];
	struct dns_query q;
	char name[400];
	size_t n;

	memset(pkt, 0, sizeof(pkt));

	/* 63 is the longest label. */
	memset(name, 'a', 63);
	name[63] = '\0';
	n = header(pkt, 0x0100, 1);
	n += question(pkt + n, name, DNS_T_A);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), 0);
	ck_assert_uint_eq(q.q[0].name_len, 63);
	memset(name, 'a', 64);
	name[64] = '\0';
	n = header(pkt, 0x0100, 1);
	n += question(pkt + n, name, DNS_T_A);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	/* 0x40 and 0x80 label types. */
	n = header(pkt, 0x0100, 1);
	pkt[n++] = 0x41;
	ck_assert_int_eq(dns_parse_query(pkt, n + 70, &q), -EBADMSG);
	/* Four labels of 63 and one of 1: 4 * 64 + 2 + 1 = 259 > 255. */
	for (int i = 0; i < 4; i++) {
		memset(name + i * 64, 'b', 63);
		name[i * 64 + 63] = '.';
	}
	name[256] = 'c';
	name[257] = '\0';
	n = header(pkt, 0x0100, 1);
	n += question(pkt + n, name, DNS_T_A);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	/* Three of 63 and one of 61: 3 * 64 + 62 + 1 = 255, the longest. */
	name[3 * 64 + 61] = '\0';
	n = header(pkt, 0x0100, 1);
	n += question(pkt + n, name, DNS_T_A);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), 0);
	ck_assert_uint_eq(q.q[0].name_len, 253);
}
END_TEST

START_TEST(test_pointers)
{
	uint8_t pkt[512];
	struct dns_query q;
	size_t n, second;

	memset(pkt, 0, sizeof(pkt));

	/* A second question that names the first's suffix: followed. */
	n = header(pkt, 0x0100, 2);
	n += question(pkt + n, "www.example.com", DNS_T_A);
	second = n;
	pkt[n++] = 3;
	memcpy(pkt + n, "api", 3);
	n += 3;
	pkt[n++] = 0xc0;
	pkt[n++] = 12 + 4;      /* "example.com" in the first name */
	pkt[n++] = 0;
	pkt[n++] = DNS_T_AAAA;
	pkt[n++] = 0;
	pkt[n++] = 1;
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), 0);
	ck_assert_uint_eq(q.nq, 2);
	ck_assert_str_eq(q.q[1].name, "api.example.com");
	ck_assert_uint_eq(q.q[1].type, DNS_T_AAAA);
	/* A pointer to itself, one forward, one into the header. */
	pkt[second + 5] = (uint8_t)(second + 4);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	pkt[second + 5] = (uint8_t)(second + 8);
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	pkt[second + 5] = 4;
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), -EBADMSG);
	/* A loop of two pointers pointing back at each other's labels. */
	n = header(pkt, 0x0100, 1);
	pkt[n++] = 1;
	pkt[n++] = 'x';
	pkt[n++] = 0xc0;
	pkt[n++] = 12;          /* back to "x", then here again */
	ck_assert_int_eq(dns_parse_query(pkt, n + 4, &q), -EBADMSG);
}
END_TEST

START_TEST(test_escapes)
{
	uint8_t pkt[512];
	struct dns_query q;
	size_t n = header(pkt, 0x0100, 1);
	const uint8_t name[] = { 4, 'a', '.', 0, 0xff, 3, 'c', 'o', 'm', 0 };

	memcpy(pkt + n, name, sizeof(name));
	n += sizeof(name);
	memcpy(pkt + n, "\0\x10\0\x01", 4);
	n += 4;
	ck_assert_int_eq(dns_parse_query(pkt, n, &q), 0);
	ck_assert_str_eq(q.q[0].name, "a\\046\\000\\255.com");
	/* The root. */
	n = header(pkt, 0x0100, 1);
	memcpy(pkt + n, "\0\0\x02\0\x01", 5);
	ck_assert_int_eq(dns_parse_query(pkt, n + 5, &q), 0);
	ck_assert_str_eq(q.q[0].name, ".");
	ck_assert_uint_eq(q.q[0].type, DNS_T_NS);
}
END_TEST

START_TEST(test_type_names)
{
	ck_assert_str_eq(dns_type_name(DNS_T_TXT), "TXT");
	ck_assert_ptr_null(dns_type_name(9999));
	ck_assert_int_eq(dns_type_from_name("aaaa"), DNS_T_AAAA);
	ck_assert_int_eq(dns_type_from_name("nope"), -1);
}
END_TEST

static Suite *dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_glibc_a);
	tcase_add_test(tc, test_tcp_prefix);
	tcase_add_test(tc, test_not_queries);
	tcase_add_test(tc, test_label_limits);
	tcase_add_test(tc, test_pointers);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_type_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
