/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frame reassembly for a byte stream: owns one growable buffer, hands out
 * space for libuv's alloc_cb, and returns whole payloads. A frame longer than
 * the reader's limit is an error for that stream; nothing else is allocated.
 */
#ifndef SENTRACE_FRAME_H
#define SENTRACE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct frame_reader {
	char *buf;
	size_t off;       /* first byte not yet returned */
	size_t len;       /* bytes held */
	size_t cap;
	uint32_t max;     /* largest payload accepted */
};

void frame_reader_init(struct frame_reader *r, uint32_t max);
void frame_reader_free(struct frame_reader *r);

/* At least one byte of space at the end of the buffer; -ENOMEM on failure. */
int frame_reader_reserve(struct frame_reader *r, char **ret_ptr, size_t *ret_len);
void frame_reader_commit(struct frame_reader *r, size_t n);

/*
 * 1 and the payload (valid until the next reserve or next call) when a whole
 * frame is buffered, 0 when more bytes are needed, -EMSGSIZE when the frame
 * announced is over the limit, -EBADMSG for an empty frame.
 */
int frame_reader_next(struct frame_reader *r, const char **ret_payload,
		      uint32_t *ret_len);

/*
 * Framing on the writing side: begin reserves the 4-byte header in sb and
 * returns its offset, end fills it in with the length packed since.
 */
size_t frame_begin(msgpack_sbuffer *sb);
void frame_end(msgpack_sbuffer *sb, size_t start);

#endif
