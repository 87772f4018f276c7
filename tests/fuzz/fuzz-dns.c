/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the DNS query parser (src/common/dns.c). The input is
 *
 *   byte 0      bit 0: parse as a TCP stream (2-byte length first)
 *   the rest    the bytes a tracee sent
 *
 * Checked: a query that parses has 1 to 4 questions, as many as its
 * header says; each name is NUL-terminated within its buffer, its length
 * is strlen(), it is lower-case, and it is no longer than 4 bytes per
 * encoded byte allows; a parse is the same twice (no hidden state).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "dns.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query q, again;
	bool tcp;
	int r;

	if (size < 1)
		return 0;
	tcp = data[0] & 1;
	data++;
	size--;
	r = tcp ? dns_parse_query_tcp(data, size, &q) : dns_parse_query(data, size, &q);
	fuzz_check(r == 0 || r == -EBADMSG);
	if (r < 0)
		return 0;
	fuzz_check(q.nq >= 1 && q.nq <= DNS_QUESTIONS_MAX && q.nq == q.qdcount);
	for (unsigned i = 0; i < q.nq; i++) {
		const struct dns_question *dq = &q.q[i];
		size_t len = strnlen(dq->name, sizeof(dq->name));

		fuzz_check(len < sizeof(dq->name));
		fuzz_check(len == dq->name_len && len >= 1);
		fuzz_check(len <= 4 * (DNS_NAME_WIRE_MAX - 1));
		for (size_t k = 0; k < len; k++)
			fuzz_check(!(dq->name[k] >= 'A' && dq->name[k] <= 'Z'));
	}
	r = tcp ? dns_parse_query_tcp(data, size, &again) : dns_parse_query(data, size, &again);
	fuzz_check(r == 0 && again.nq == q.nq && again.id == q.id);
	for (unsigned i = 0; i < q.nq; i++)
		fuzz_check(strcmp(again.q[i].name, q.q[i].name) == 0 &&
			   again.q[i].type == q.q[i].type);
	return 0;
}
