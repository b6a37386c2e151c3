/*
 * The agent's replies on the local socket, as pam_idv.so reads them: one flat JSON object per
 * line, checked as strictly as pam-helper/reply.ts checks them (protocol/messages.ts
 * localReplySchema for the types a login uses). Anything else is refused.
 */
#ifndef IDV_REPLY_H
#define IDV_REPLY_H

#include <stddef.h>

/* Same as LIMITS.localReply in protocol/messages.ts: the longest line, newline not counted. */
#define IDV_MAX_REPLY_BYTES 8192
/* A user-facing message: at most 512 code points, each at most 4 bytes of UTF-8. */
#define IDV_MAX_MESSAGE_CP 512
#define IDV_MESSAGE_BYTES (IDV_MAX_MESSAGE_CP * 4 + 1)

enum idv_reply_type {
	IDV_SKIP,
	IDV_DENY,
	IDV_PROMPT,
	IDV_OK,
	IDV_INVALID,
	IDV_LOCKED,
	IDV_ERROR
};

struct idv_reply {
	enum idv_reply_type type;
	/* The agent's message with control characters replaced by spaces (the helper's
	 * printable()); "" when there is none. Always NUL-terminated. */
	char message[IDV_MESSAGE_BYTES];
	int prompts;       /* prompt: 1..10 */
	int attempts_left; /* invalid: 0..100 */
	/* error: the code is in protocol/errors.ts and is retryable / is RATE_LIMITED */
	int retryable;
	int rate_limited;
};

/*
 * Parses one line (without its newline; may contain NUL bytes). Returns 0 and fills `out` when
 * the line is a valid reply, -1 otherwise (out is then unspecified). Never reads past len, never
 * allocates. Stricter than JSON.parse in three documented ways: numbers only as plain
 * non-negative integers (no 1.0, 1e2, -0), duplicate keys refused, invalid UTF-8 refused.
 */
int idv_parse_reply(const char *line, size_t len, struct idv_reply *out);

#endif
