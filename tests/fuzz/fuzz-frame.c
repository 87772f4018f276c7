/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: frame reassembly (src/common/frame.c). The input is
 *
 *   byte 0      the reader's limit: 1 + 4 * byte (1..1021 bytes)
 *   byte 1      n: how many chunk sizes follow (n & 7)
 *   n bytes     chunk sizes, used in turn (0 counts as 1)
 *   the rest    the byte stream
 *
 * The stream goes to a frame_reader in chunks of those sizes, the way
 * read_cb hands it over, and after each chunk every whole frame is pulled,
 * until the reader reports an error. Each payload is checked against the
 * limit and the stream it came from, and run through wire_validate().
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "frame.h"
#include "sentrace/wire.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader fr;
	const uint8_t *splits, *stream;
	size_t nsplits, len, fed = 0, taken = 0, turn = 0;
	uint32_t max;
	int r = 0;

	if (size < 2)
		return 0;
	max = 1 + 4u * data[0];
	nsplits = data[1] & 7;
	if (size < 2 + nsplits)
		return 0;
	splits = data + 2;
	stream = data + 2 + nsplits;
	len = size - 2 - nsplits;

	frame_reader_init(&fr, max);
	while (fed < len && r >= 0) {
		size_t chunk = nsplits ? splits[turn++ % nsplits] : len;
		size_t room;
		char *p;

		if (chunk == 0)
			chunk = 1;
		if (chunk > len - fed)
			chunk = len - fed;
		fuzz_check(frame_reader_reserve(&fr, &p, &room) == 0);
		fuzz_check(room >= 1);
		if (chunk > room)
			chunk = room;
		memcpy(p, stream + fed, chunk);
		frame_reader_commit(&fr, chunk);
		fed += chunk;

		for (;;) {
			const char *payload;
			uint32_t plen;

			r = frame_reader_next(&fr, &payload, &plen);
			if (r <= 0)
				break;
			/* The payload is the next frame of the stream, whole. */
			fuzz_check(plen >= 1 && plen <= max);
			fuzz_check(taken + WIRE_FRAME_HEADER + plen <= fed);
			fuzz_check(wire_get_len(stream + taken) == plen);
			fuzz_check(memcmp(payload, stream + taken + WIRE_FRAME_HEADER,
					  plen) == 0);
			taken += WIRE_FRAME_HEADER + (size_t)plen;
			(void)wire_validate(payload, plen);
		}
		fuzz_check(r == 0 || r == -EMSGSIZE || r == -EBADMSG);
	}
	/* Without an error, what is left is less than one frame. */
	if (r == 0 && len - taken >= WIRE_FRAME_HEADER) {
		uint32_t plen = wire_get_len(stream + taken);

		fuzz_check(len - taken < WIRE_FRAME_HEADER + (size_t)plen);
	}
	frame_reader_free(&fr);
	return 0;
}
