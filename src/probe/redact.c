/* SPDX-License-Identifier: Apache-2.0 */
/* Environment values out of incoming frames (redact.h). */
#include "config.h"

#include "sentrace/wire.h"
#include "redact.h"

static const struct env_keep keep_none;

static uint64_t redact_strv(const struct env_keep *k, const msgpack_object *arr)
{
	uint64_t n = 0;

	if (!arr || arr->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		/* An array's items are not const: they are the zone's, which
		 * lives as long as the frame's unpacked value. */
		msgpack_object *o = &arr->via.array.ptr[i];
		size_t len;

		if (o->type != MSGPACK_OBJECT_STR)
			continue;
		len = env_keep_cut(k, o->via.str.ptr, o->via.str.size);
		if (len < o->via.str.size) {
			o->via.str.size = (uint32_t)len;
			n++;
		}
	}
	return n;
}

static uint64_t redact_maps(const struct env_keep *k, const msgpack_object *arr)
{
	uint64_t n = 0;

	if (!arr || arr->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	for (uint32_t i = 0; i < arr->via.array.size; i++)
		n += redact_strv(k, wire_map_get(&arr->via.array.ptr[i], "envp"));
	return n;
}

uint64_t redact_frame_env(const struct env_keep *k, const msgpack_object *root,
			  int type)
{
	if (!k)
		k = &keep_none;
	if (type == WIRE_EVENTS)
		return redact_maps(k, wire_map_get(root, "events"));
	if (type == WIRE_PROCESS)
		return redact_maps(k, wire_map_get(root, "processes"));
	return 0;
}
