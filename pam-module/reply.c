/*
 * A bounded reader for the agent's flat reply objects (see reply.h). Hand-written rather than a
 * JSON library: the module may depend on nothing but libc and libpam, and the replies are flat
 * objects of strings, integers and null. One pass over the bytes, no allocation, no recursion.
 */
#include "reply.h"

#include <stdint.h>
#include <string.h>

/* The keys a reply may carry, one bit each. */
enum {
	K_TYPE = 1 << 0,
	K_MESSAGE = 1 << 1,
	K_PROMPTS = 1 << 2,
	K_ATTEMPTS = 1 << 3,
	K_UNTIL = 1 << 4,
	K_CODE = 1 << 5
};

/* protocol/errors.ts ERRORS: every code and whether it is retryable. Kept equal to the
 * catalog by tests/unit/pam-module-errors.test.ts. */
static const struct {
	const char *code;
	int retryable;
} ERROR_CODES[] = {
	{"MALFORMED_JSON", 0},
	{"TOO_LARGE", 0},
	{"UNKNOWN_TYPE", 0},
	{"INVALID_MESSAGE", 0},
	{"PROTOCOL_VERSION", 0},
	{"OUT_OF_ORDER", 0},
	{"VALIDATION_FAILED", 0},
	{"UNAUTHORIZED", 0},
	{"FORBIDDEN", 0},
	{"RATE_LIMITED", 1},
	{"NOT_FOUND", 0},
	{"USER_NOT_FOUND", 0},
	{"USER_EXISTS", 0},
	{"ADMIN_NOT_FOUND", 0},
	{"ADMIN_EXISTS", 0},
	{"LAST_ADMIN", 0},
	{"DEVICE_NOT_FOUND", 0},
	{"DEVICE_REVOKED", 0},
	{"TOKEN_INVALID", 0},
	{"NOT_ENROLLED", 0},
	{"ENROLLMENT_PENDING", 0},
	{"CODE_INVALID", 0},
	{"USER_LOCKED", 1},
	{"HELPDESK_UNAVAILABLE", 0},
	{"USAGE", 0},
	{"CONFIG_INVALID", 0},
	{"NOT_INITIALIZED", 0},
	{"ALREADY_INITIALIZED", 0},
	{"ALREADY_RUNNING", 0},
	{"NOT_REGISTERED", 0},
	{"PERMISSION", 0},
	{"SERVER_UNREACHABLE", 1},
	{"AGENT_UNAVAILABLE", 1},
	{"TIMEOUT", 1},
	{"SHUTTING_DOWN", 1},
	{"OVERLOADED", 1},
	{"NOT_CONFIGURED", 0},
	{"DIRECTORY_UNAVAILABLE", 1},
	{"DIRECTORY_SUSPICIOUS", 0},
	{"STORE_UNAVAILABLE", 1},
	{"DISK_FULL", 1},
	{"INTERNAL", 1},
};

/* Per type: the keys it must have and the keys it may have (protocol/messages.ts). */
static const struct {
	const char *name;
	enum idv_reply_type type;
	unsigned required;
	unsigned allowed;
} SHAPES[] = {
	{"skip", IDV_SKIP, K_TYPE, K_TYPE | K_MESSAGE},
	{"deny", IDV_DENY, K_TYPE | K_MESSAGE, K_TYPE | K_MESSAGE},
	{"prompt", IDV_PROMPT, K_TYPE | K_PROMPTS, K_TYPE | K_PROMPTS | K_MESSAGE},
	{"ok", IDV_OK, K_TYPE, K_TYPE | K_MESSAGE},
	{"invalid", IDV_INVALID, K_TYPE | K_ATTEMPTS | K_MESSAGE, K_TYPE | K_ATTEMPTS | K_MESSAGE},
	{"locked", IDV_LOCKED, K_TYPE | K_UNTIL | K_MESSAGE, K_TYPE | K_UNTIL | K_MESSAGE},
	{"error", IDV_ERROR, K_TYPE | K_CODE | K_MESSAGE, K_TYPE | K_CODE | K_MESSAGE},
};

#define MAX_EPOCH_MS 8640000000000000LL

struct cursor {
	const unsigned char *p;
	const unsigned char *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int hex4(struct cursor *c, uint32_t *v)
{
	*v = 0;
	if (c->end - c->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char h = *c->p++;
		uint32_t d;
		if (h >= '0' && h <= '9')
			d = h - '0';
		else if (h >= 'a' && h <= 'f')
			d = h - 'a' + 10;
		else if (h >= 'A' && h <= 'F')
			d = h - 'A' + 10;
		else
			return -1;
		*v = (*v << 4) | d;
	}
	return 0;
}

/* One UTF-8 sequence starting at c->p (first byte >= 0x80), strictly: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static int utf8(struct cursor *c, uint32_t *cp)
{
	unsigned char b = *c->p++;
	int more;
	uint32_t min;
	if (b >= 0xc2 && b <= 0xdf) {
		more = 1;
		min = 0x80;
		*cp = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		more = 2;
		min = 0x800;
		*cp = b & 0x0f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		more = 3;
		min = 0x10000;
		*cp = b & 0x07;
	} else {
		return -1;
	}
	if (c->end - c->p < more)
		return -1;
	for (int i = 0; i < more; i++) {
		unsigned char n = *c->p++;
		if ((n & 0xc0) != 0x80)
			return -1;
		*cp = (*cp << 6) | (n & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return -1;
	return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A JSON string at c->p (the opening quote), decoded into out (cap bytes, NUL-terminated) with at
 * most max_cp code points counted as the protocol's zod schema counts them (a lone surrogate
 * counts once and is shown as U+FFFD). With printable set, control characters become spaces.
 */
static int string(struct cursor *c, char *out, size_t cap, size_t max_cp, int printable,
		  size_t *out_len)
{
	size_t n = 0, count = 0;
	if (c->p >= c->end || *c->p != '"')
		return -1;
	c->p++;
	for (;;) {
		uint32_t cp;
		if (c->p >= c->end)
			return -1;
		unsigned char b = *c->p;
		if (b == '"') {
			c->p++;
			break;
		}
		if (b < 0x20)
			return -1;
		if (b == '\\') {
			c->p++;
			if (c->p >= c->end)
				return -1;
			unsigned char e = *c->p++;
			switch (e) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (hex4(c, &cp) != 0)
					return -1;
				if (cp >= 0xd800 && cp <= 0xdbff && c->end - c->p >= 6 && c->p[0] == '\\' &&
				    c->p[1] == 'u') {
					struct cursor look = {c->p + 2, c->end};
					uint32_t lo;
					if (hex4(&look, &lo) != 0)
						return -1;
					if (lo >= 0xdc00 && lo <= 0xdfff) {
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
						c->p = look.p;
					}
				}
				if (cp >= 0xd800 && cp <= 0xdfff)
					cp = 0xfffd;
				break;
			default:
				return -1;
			}
		} else if (b >= 0x80) {
			if (utf8(c, &cp) != 0)
				return -1;
		} else {
			cp = b;
			c->p++;
		}
		if (++count > max_cp)
			return -1;
		if (printable && (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)))
			cp = ' ';
		if (cap - n < 5)
			return -1;
		n += put_utf8(out + n, cp);
	}
	out[n] = '\0';
	*out_len = n;
	return 0;
}

/* A non-negative integer in the form JSON.stringify writes it, at most `max`. */
static int integer(struct cursor *c, long long max, long long *v)
{
	int digits = 0;
	*v = 0;
	if (c->p < c->end && *c->p == '0') {
		c->p++;
		digits = 1;
	} else {
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			if (++digits > 16)
				return -1;
			*v = *v * 10 + (*c->p++ - '0');
		}
	}
	if (digits == 0 || *v > max)
		return -1;
	/* 1.5, 1e3, 01: not the plain form (the helper would take 1.0; we do not need to). */
	if (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' ||
			      *c->p == 'E'))
		return -1;
	return 0;
}

static int literal(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static unsigned key_bit(const char *key, size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keys[] = {{"type", K_TYPE},	      {"message", K_MESSAGE}, {"prompts", K_PROMPTS},
		    {"attemptsLeft", K_ATTEMPTS}, {"until", K_UNTIL},     {"code", K_CODE}};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, key, len) == 0)
			return keys[i].bit;
	return 0;
}

int idv_parse_reply(const char *line, size_t len, struct idv_reply *out)
{
	struct cursor c = {(const unsigned char *)line, (const unsigned char *)line + len};
	char key[32], type[16], code[32];
	size_t key_len = 0, type_len = 0, code_len = 0, msg_len = 0;
	unsigned seen = 0;
	long long prompts = 0, attempts = 0, until = 0;

	if (len > IDV_MAX_REPLY_BYTES)
		return -1;
	memset(out, 0, sizeof *out);
	skip_ws(&c);
	if (c.p >= c.end || *c.p++ != '{')
		return -1;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '}')
		return -1; /* no type */
	for (;;) {
		skip_ws(&c);
		if (string(&c, key, sizeof key, 16, 0, &key_len) != 0)
			return -1;
		unsigned bit = key_bit(key, key_len);
		if (bit == 0 || (seen & bit))
			return -1;
		seen |= bit;
		skip_ws(&c);
		if (c.p >= c.end || *c.p++ != ':')
			return -1;
		skip_ws(&c);
		int bad = 0;
		switch (bit) {
		case K_TYPE:
			bad = string(&c, type, sizeof type, 8, 0, &type_len);
			break;
		case K_MESSAGE:
			bad = string(&c, out->message, sizeof out->message, IDV_MAX_MESSAGE_CP, 1,
				     &msg_len);
			break;
		case K_CODE:
			bad = string(&c, code, sizeof code, 24, 0, &code_len);
			break;
		case K_PROMPTS:
			bad = integer(&c, 10, &prompts) || prompts < 1;
			break;
		case K_ATTEMPTS:
			bad = integer(&c, 100, &attempts);
			break;
		case K_UNTIL:
			if (c.p < c.end && *c.p == 'n')
				bad = literal(&c, "null");
			else
				bad = integer(&c, MAX_EPOCH_MS, &until);
			break;
		}
		if (bad)
			return -1;
		skip_ws(&c);
		if (c.p >= c.end)
			return -1;
		if (*c.p == ',') {
			c.p++;
			continue;
		}
		if (*c.p++ != '}')
			return -1;
		break;
	}
	skip_ws(&c);
	if (c.p != c.end || !(seen & K_TYPE))
		return -1;

	size_t i;
	for (i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
		if (strlen(SHAPES[i].name) == type_len && memcmp(SHAPES[i].name, type, type_len) == 0)
			break;
	if (i == sizeof SHAPES / sizeof SHAPES[0])
		return -1;
	if ((seen & SHAPES[i].required) != SHAPES[i].required || (seen & ~SHAPES[i].allowed) != 0)
		return -1;
	out->type = SHAPES[i].type;
	out->prompts = (int)prompts;
	out->attempts_left = (int)attempts;
	if (out->type == IDV_ERROR) {
		size_t j;
		for (j = 0; j < sizeof ERROR_CODES / sizeof ERROR_CODES[0]; j++)
			if (strlen(ERROR_CODES[j].code) == code_len &&
			    memcmp(ERROR_CODES[j].code, code, code_len) == 0)
				break;
		if (j == sizeof ERROR_CODES / sizeof ERROR_CODES[0])
			return -1;
		out->retryable = ERROR_CODES[j].retryable;
		out->rate_limited = strcmp(ERROR_CODES[j].code, "RATE_LIMITED") == 0;
	}
	return 0;
}
