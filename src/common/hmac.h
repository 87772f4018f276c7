/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), small enough to read, for
 * the handshake's challenge-response (docs/protocol.md): both programs prove
 * the shared token without sending it. No library: the static tracer would
 * otherwise have to link libcrypto. Also the random bytes of nonces and
 * session secrets, and a comparison whose time does not depend on content.
 */
#ifndef SENTRACE_HMAC_H
#define SENTRACE_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;             /* hashed so far */
	uint8_t block[64];
	size_t used;                /* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);

/* An HMAC computed over several pieces: init, update…, final. */
struct hmac_sha256 {
	struct sha256 inner;
	uint8_t okey[64];           /* key ^ opad */
};

void hmac_sha256_init(struct hmac_sha256 *m, const void *key, size_t key_len);
void hmac_sha256_update(struct hmac_sha256 *m, const void *data, size_t len);
/* Writes the MAC and wipes the key material. */
void hmac_sha256_final(struct hmac_sha256 *m, uint8_t out[SHA256_LEN]);

/* len bytes from getrandom(2); 0 or -errno. */
int random_bytes(void *buf, size_t len);

/* Whether a and b (len bytes each) are equal, in a time independent of them. */
bool mem_equal_ct(const void *a, const void *b, size_t len);

#endif
