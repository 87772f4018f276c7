/* SPDX-License-Identifier: Apache-2.0 */
/* Frame reassembly and the writing-side header. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sentrace/wire.h"
#include "frame.h"

/* Read granularity: what one alloc_cb offers when the buffer has room. */
#define FRAME_READ_CHUNK (64u * 1024)

void frame_reader_init(struct frame_reader *r, uint32_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

void frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

int frame_reader_reserve(struct frame_reader *r, char **ret_ptr, size_t *ret_len)
{
	size_t need;

	/* Everything was consumed: a buffer grown for one large frame is
	 * given back instead of being kept for the connection's life. */
	if (r->off == r->len && r->cap > 4 * FRAME_READ_CHUNK) {
		free(r->buf);
		r->buf = NULL;
		r->off = r->len = r->cap = 0;
	}
	/* Move the unread tail to the front before growing. */
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	need = r->len + FRAME_READ_CHUNK;
	if (need > r->cap) {
		/* Double at least: a large frame arriving in small reads must
		 * not cost a reallocation (and a copy) per read. */
		size_t most = (size_t)r->max + WIRE_FRAME_HEADER + FRAME_READ_CHUNK;

		if (need < 2 * r->cap)
			need = 2 * r->cap;
		if (need > most && r->len + FRAME_READ_CHUNK <= most)
			need = most;
		char *nb = realloc(r->buf, need);

		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = need;
	}
	*ret_ptr = r->buf + r->len;
	*ret_len = r->cap - r->len;
	return 0;
}

void frame_reader_commit(struct frame_reader *r, size_t n)
{
	r->len += n;
}

int frame_reader_next(struct frame_reader *r, const char **ret_payload,
		      uint32_t *ret_len)
{
	size_t avail = r->len - r->off;
	uint32_t plen;

	if (avail < WIRE_FRAME_HEADER)
		return 0;
	plen = wire_get_len((const uint8_t *)r->buf + r->off);
	if (plen > r->max)
		return -EMSGSIZE;
	if (plen == 0)
		return -EBADMSG;
	if (avail < WIRE_FRAME_HEADER + (size_t)plen)
		return 0;
	*ret_payload = r->buf + r->off + WIRE_FRAME_HEADER;
	*ret_len = plen;
	r->off += WIRE_FRAME_HEADER + (size_t)plen;
	if (r->off == r->len)
		r->off = r->len = 0;
	return 1;
}

size_t frame_begin(msgpack_sbuffer *sb)
{
	static const char zero[WIRE_FRAME_HEADER];
	size_t start = sb->size;

	msgpack_sbuffer_write(sb, zero, sizeof(zero));
	return start;
}

void frame_end(msgpack_sbuffer *sb, size_t start)
{
	wire_put_len((uint8_t *)sb->data + start,
		     (uint32_t)(sb->size - start - WIRE_FRAME_HEADER));
}
