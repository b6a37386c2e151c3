/*
 * pam_idv.so: idv's second factor as a PAM module.
 *
 *   auth required pam_idv.so [socket=PATH] [fail_mode=secure|safe] [timeout=SECONDS] [debug]
 *   auth optional pam_idv.so password_failed=clear|set      (the password gate, see below)
 *
 * It does what idv-pam-helper does under pam_exec (pam-helper/login.ts), inside the PAM
 * application's own process: ask idv-agent on its Unix socket whether this login needs a code
 * (`begin`), ask the person through the PAM conversation, have the agent check it (`verify`).
 * Everything that decides stays in the agent. PAM_SUCCESS only on the agent's explicit `ok` or
 * `skip` (or, with fail_mode=safe, when the agent could not be asked at all, before any code was
 * asked for); every other path is PAM_AUTH_ERR. Nothing is read from the process environment.
 *
 * The password gate (docs/pam.md, RHEL): after `auth substack system-auth` a failed password
 * does not end the calling stack (a substack's die ends only the substack), and no PAM control
 * can test the stack's result. So a small gate file run as a substack after the password step
 * marks a failed password in the PAM environment (`password_failed=set`, reached only when the
 * stack's result is a failure; `password_failed=clear` first, for an application that retries
 * on the same handle), and a login that finds the mark is refused at once, before the agent or
 * the person is asked anything: a stranger's wrong password never reaches the code prompt and
 * never counts a failed code. The mark can only refuse a login, never let one through.
 *
 * The process around us is sshd, sudo or login: no signals (MSG_NOSIGNAL / SO_NOSIGPIPE), no
 * descriptor left open, nothing left allocated, no code in any log.
 */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE
#else
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_AUTH
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#if defined(__LINUX_PAM__)
#include <security/pam_ext.h>
#endif
#if defined(OPENPAM)
#include <security/openpam.h>
#endif
#ifndef PAM_EXTERN
#define PAM_EXTERN
#endif

#include "reply.h"

#define EXPORT __attribute__((visibility("default")))

#define DEFAULT_SOCKET "/run/idv/agent.sock"
#define DEFAULT_TIMEOUT_S 60
/* The password gate's mark in the PAM environment (pam-helper/launcher.c reads it too). */
#define PASSWORD_FAILED "IDV_PASSWORD_FAILED"

/* Longest wait for any one reply of the agent (pam-helper/options.ts REPLY_TIMEOUT_MS). */
#define REPLY_TIMEOUT_MS 5000
/* How long a login waits for an agent that is restarting (pam-helper/options.ts AGENT_START_WAIT_MS). */
#define AGENT_START_WAIT_MS 10000
#define PROTOCOL_VERSION 1
/* pam-helper/code.ts MAX_INPUT: anything longer typed at the prompt is not a code. */
#define MAX_INPUT 64

/* The fixed lines, the same words as pam-helper/text.ts. */
#define TEXT_PROMPT "Verification code (authenticator app): "
#define TEXT_NOT_A_CODE "That is not a 6-digit code"
#define TEXT_UNAVAILABLE "Verification service unavailable"
#define TEXT_WAITING "Waiting for the verification service..."
#define TEXT_NO_PERMISSION \
	"Verification service unavailable: this program may not ask it (permission denied)"
#define TEXT_FAIL_OPEN \
	"Verification service unavailable: login allowed without a code (fail-mode safe)"
#define TEXT_TIMED_OUT "Verification timed out"
#define TEXT_CANCELLED "Verification cancelled"
#define TEXT_BAD_USER "Verification refused: the user name is not valid"

struct options {
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int safe;
	int timeout_s;
	int debug;
	/* password_failed=: 0 not given (a login), 1 clear the mark, 2 set it. */
	int gate;
};

/* One login: the handle, the options, the agent connection and the overall deadline. */
struct login {
	pam_handle_t *pamh;
	const struct options *opt;
	const char *service;
	int fd;
	long long deadline_ms;
	/* Until then an agent that is not there yet (restarting) is waited for. */
	long long start_by_ms;
};

enum link_result { LINK_OK, LINK_DOWN, LINK_DENIED, LINK_FAILED };

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

static void logmsg(pam_handle_t *pamh, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logmsg(pam_handle_t *pamh, int prio, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
#if defined(__LINUX_PAM__)
	pam_syslog(pamh, prio, "%s", text);
#else
	(void)pamh;
	syslog(LOG_AUTHPRIV | prio, "pam_idv: %s", text);
#endif
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long left_ms(const struct login *l)
{
	long long left = l->deadline_ms - now_ms();
	return left > 0 ? left : 0;
}

/* Wait for one reply: at most REPLY_TIMEOUT_MS, at most what is left, at least 1 ms. */
static int wait_ms(const struct login *l)
{
	long long w = left_ms(l);
	if (w > REPLY_TIMEOUT_MS)
		w = REPLY_TIMEOUT_MS;
	return w < 1 ? 1 : (int)w;
}

/* ------------------------------------------------------------------------------------------ */
/* Options */

static int parse_options(pam_handle_t *pamh, int argc, const char **argv, struct options *o)
{
	unsigned seen = 0;
	snprintf(o->socket, sizeof o->socket, "%s", DEFAULT_SOCKET);
	o->safe = 0;
	o->timeout_s = DEFAULT_TIMEOUT_S;
	o->debug = 0;
	o->gate = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		unsigned bit;
		if (strncmp(a, "socket=", 7) == 0) {
			bit = 1;
			size_t n = strlen(a + 7);
			if (a[7] != '/' || n >= sizeof o->socket) {
				logmsg(pamh, LOG_ERR, "socket= needs an absolute path shorter than %zu bytes",
				       sizeof o->socket);
				return -1;
			}
			memcpy(o->socket, a + 7, n + 1);
		} else if (strncmp(a, "fail_mode=", 10) == 0) {
			bit = 2;
			if (strcmp(a + 10, "secure") == 0) {
				o->safe = 0;
			} else if (strcmp(a + 10, "safe") == 0) {
				o->safe = 1;
			} else {
				logmsg(pamh, LOG_ERR, "fail_mode= must be secure or safe");
				return -1;
			}
		} else if (strncmp(a, "timeout=", 8) == 0) {
			bit = 4;
			const char *d = a + 8;
			long v = 0;
			size_t n = strlen(d);
			if (n == 0 || n > 4 || strspn(d, "0123456789") != n || (v = strtol(d, NULL, 10)) < 1 ||
			    v > 3600) {
				logmsg(pamh, LOG_ERR, "timeout= must be a whole number of seconds, 1 to 3600");
				return -1;
			}
			o->timeout_s = (int)v;
		} else if (strcmp(a, "debug") == 0) {
			bit = 8;
			o->debug = 1;
		} else if (strncmp(a, "password_failed=", 16) == 0) {
			bit = 16;
			if (strcmp(a + 16, "clear") == 0) {
				o->gate = 1;
			} else if (strcmp(a + 16, "set") == 0) {
				o->gate = 2;
			} else {
				logmsg(pamh, LOG_ERR, "password_failed= must be clear or set");
				return -1;
			}
		} else {
			/* Never echo the option: a misplaced line may carry anything. */
			logmsg(pamh, LOG_ERR, "unknown option #%d; the options are socket=PATH "
			       "fail_mode=secure|safe timeout=SECONDS debug password_failed=clear|set", i + 1);
			return -1;
		}
		if (seen & bit) {
			logmsg(pamh, LOG_ERR, "option #%d is given twice", i + 1);
			return -1;
		}
		seen |= bit;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The conversation */

/* One message or prompt. With `answer`, the reply text (malloc'd, the caller wipes and frees). */
static int converse(pam_handle_t *pamh, int style, const char *text, char **answer)
{
	const void *item = NULL;
	const struct pam_conv *conv;
	struct pam_message msg = {.msg_style = style, .msg = (char *)(uintptr_t)text};
	const struct pam_message *msgp = &msg;
	struct pam_response *resp = NULL;
	int rc;

	if (answer)
		*answer = NULL;
	rc = pam_get_item(pamh, PAM_CONV, &item);
	if (rc != PAM_SUCCESS || item == NULL)
		return PAM_CONV_ERR;
	conv = item;
	if (conv->conv == NULL)
		return PAM_CONV_ERR;
	rc = conv->conv(1, &msgp, &resp, conv->appdata_ptr);
	if (resp != NULL) {
		if (resp[0].resp != NULL) {
			if (answer && rc == PAM_SUCCESS) {
				*answer = resp[0].resp;
			} else {
				wipe(resp[0].resp, strlen(resp[0].resp));
				free(resp[0].resp);
			}
		}
		free(resp);
	}
	if (rc == PAM_SUCCESS && answer && *answer == NULL)
		rc = PAM_CONV_ERR;
	return rc;
}

static void say(struct login *l, int style, const char *text)
{
	if (text && text[0])
		(void)converse(l->pamh, style, text, NULL);
}

/*
 * The line of a login idv ends (locked, refused, no agent), marked as idv's: sudo follows it with
 * "Sorry, try again" and "N incorrect password attempts" although the password was right
 * (docs/pam.md).
 */
static void refuse(struct login *l, const char *text)
{
	char line[IDV_MESSAGE_BYTES + 8];
	if (text && text[0]) {
		snprintf(line, sizeof line, "idv: %s", text);
		say(l, PAM_ERROR_MSG, line);
	}
}

/*
 * pam-helper/code.ts normalizeCode: spaces and tabs dropped, letters lower-cased, then 6-8
 * digits, a helpdesk code (12 digits, or 123-456-789-012: sent without the dashes) or a recovery
 * code xxxx-xxxx-xxxx of a-z2-7. Writes the code into out (>= 16 bytes).
 */
static int normalize_code(const char *in, char *out)
{
	size_t n = 0, inlen = strlen(in);
	if (inlen > MAX_INPUT)
		return -1;
	for (size_t i = 0; i < inlen; i++) {
		char ch = in[i];
		if (ch == ' ' || ch == '\t')
			continue;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (n >= 15)
			return -1;
		out[n++] = ch;
	}
	out[n] = '\0';
	size_t digits = strspn(out, "0123456789");
	if (digits == n && ((n >= 6 && n <= 8) || n == 12))
		return 0;
	if (n == 15) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			int dash = i == 3 || i == 7 || i == 11;
			char ch = out[i];
			if (dash ? ch != '-' : !(ch >= '0' && ch <= '9'))
				return -1;
			if (!dash)
				out[k++] = ch;
		}
		out[k] = '\0';
		return 0;
	}
	if (n != 14)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int dash = i == 4 || i == 9;
		char ch = out[i];
		if (dash ? ch != '-' : !((ch >= 'a' && ch <= 'z') || (ch >= '2' && ch <= '7')))
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The agent's socket */

static enum link_result link_connect_once(struct login *l, int *absent)
{
	struct sockaddr_un sa;
	int fd, flags;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, l->opt->socket, strlen(l->opt->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return LINK_DOWN;
	l->fd = fd;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return LINK_DOWN;
#if defined(SO_NOSIGPIPE)
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) != 0)
		return LINK_DOWN;
#endif
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		return LINK_OK;
	/* A socket that exists but refuses us is not an agent that is down (login.ts). */
	if (errno == EACCES || errno == EPERM)
		return LINK_DENIED;
	/* No socket file, or nobody listening on it: an agent restarting (or down). */
	*absent = errno == ENOENT || errno == ECONNREFUSED;
	if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
		return LINK_DOWN;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof err;
	if (poll(&p, 1, wait_ms(l)) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return LINK_DOWN;
	if (err == EACCES || err == EPERM)
		return LINK_DENIED;
	return err == 0 ? LINK_OK : LINK_DOWN;
}

/*
 * Connects; while the agent is not there (a restart, an upgrade, a crash systemd restarts) tries
 * again every 100 ms until start_by_ms, saying once that the login waits (AgentLink.connectWaiting).
 */
static enum link_result link_connect(struct login *l)
{
	int told = 0;
	for (;;) {
		int absent = 0;
		enum link_result rc = link_connect_once(l, &absent);
		long long left = l->start_by_ms - now_ms();
		if (rc != LINK_DOWN || !absent || left <= 0)
			return rc;
		close(l->fd);
		l->fd = -1;
		if (!told)
			say(l, PAM_TEXT_INFO, TEXT_WAITING);
		told = 1;
		(void)poll(NULL, 0, left < 100 ? (int)left : 100);
	}
}

static enum link_result link_send(struct login *l, const char *buf, size_t len)
{
#if defined(MSG_NOSIGNAL)
	const int flags = MSG_NOSIGNAL;
#else
	const int flags = 0;
#endif
	long long until = now_ms() + wait_ms(l);
	while (len > 0) {
		ssize_t n = send(l->fd, buf, len, flags);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			long long w = until - now_ms();
			struct pollfd p = {.fd = l->fd, .events = POLLOUT};
			if (w > 0 && poll(&p, 1, (int)w) >= 0)
				continue;
		}
		return LINK_FAILED;
	}
	return LINK_OK;
}

/*
 * Sends one request line and reads one reply line into `reply`. A line longer than the protocol
 * allows, bytes after the newline, a close, a timeout or a reply that does not parse: failed.
 */
static enum link_result link_request(struct login *l, const char *req, size_t req_len,
				     struct idv_reply *reply, long long wait_until_ms)
{
	char buf[IDV_MAX_REPLY_BYTES + 1];
	size_t used = 0;
	enum link_result rc = link_send(l, req, req_len);
	if (rc != LINK_OK)
		return rc;
	long long until = now_ms() + wait_ms(l);
	if (wait_until_ms > until)
		until = wait_until_ms;
	for (;;) {
		long long w = until - now_ms();
		struct pollfd p = {.fd = l->fd, .events = POLLIN};
		if (w <= 0)
			return LINK_FAILED;
		int ready = poll(&p, 1, (int)w);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready != 1)
			return LINK_FAILED;
		ssize_t n = recv(l->fd, buf + used, sizeof buf - used, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0)
			return LINK_FAILED;
		char *nl = memchr(buf + used, '\n', (size_t)n);
		used += (size_t)n;
		if (nl != NULL) {
			size_t line = (size_t)(nl - buf);
			if (line + 1 != used)
				return LINK_FAILED;
			return idv_parse_reply(buf, line, reply) == 0 ? LINK_OK : LINK_FAILED;
		}
		if (used == sizeof buf)
			return LINK_FAILED;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* What the login tells us */

/* protocol/policy.ts NAME_RE: ^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$ */
static int valid_name(const char *s)
{
	static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
	size_t n = strlen(s);
	if (n < 1 || n > 64 || strchr(first, s[0]) == NULL)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-") == n;
}

/* pam-helper/options.ts SERVICE_RE: ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$ */
static int valid_service(const char *s)
{
	size_t n = strlen(s);
	return valid_name(s) && strchr(s, '@') == NULL && n <= 64;
}

/* PAM_RHOST / PAM_TTY: at most 256 bytes of UTF-8 text without control characters. */
static int valid_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	if (n > 256)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = p[i];
		if (b < 0x20 || b == 0x7f)
			return 0;
		if (b < 0x80)
			continue;
		int more = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
		if (more < 0 || i + (size_t)more >= n)
			return 0;
		unsigned cp = b & (0x3f >> more);
		for (int k = 1; k <= more; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return 0;
		i += (size_t)more;
	}
	return 1;
}

/* Appends "s" as a JSON string; the text has no control characters (checked before). */
static int json_string(char *buf, size_t cap, size_t *n, const char *s)
{
	if (*n + 1 >= cap)
		return -1;
	buf[(*n)++] = '"';
	for (; *s; s++) {
		if (*n + 3 >= cap)
			return -1;
		if (*s == '"' || *s == '\\')
			buf[(*n)++] = '\\';
		buf[(*n)++] = *s;
	}
	buf[(*n)++] = '"';
	buf[*n] = '\0';
	return 0;
}

static int json_field(char *buf, size_t cap, size_t *n, const char *key, const char *value)
{
	int w = snprintf(buf + *n, cap - *n, ",\"%s\":", key);
	if (w < 0 || (size_t)w >= cap - *n)
		return -1;
	*n += (size_t)w;
	return json_string(buf, cap, n, value);
}

/*
 * The account's name as the system spells it (getpwnam's pw_name), so that a case-insensitive
 * name service (SSSD, winbind) cannot turn `C1` into a user the agent does not manage. Not
 * found: the name as given. Returns 0 with name (cap bytes) filled, -1 when the lookup fails.
 */
static int canonical_user(const char *user, char *name, size_t cap)
{
	struct passwd pw, *found = NULL;
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 4096;
	int rc = -1;
	for (;;) {
		char *buf = malloc(size);
		if (buf == NULL)
			return -1;
		int err = getpwnam_r(user, &pw, buf, size, &found);
		if (err == 0 && found != NULL) {
			rc = strlen(found->pw_name) < cap ? 0 : -1;
			if (rc == 0)
				memcpy(name, found->pw_name, strlen(found->pw_name) + 1);
		} else if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM) {
			rc = 0;
			memcpy(name, user, strlen(user) + 1);
		}
		free(buf);
		if (err != ERANGE || size >= (1u << 20))
			return rc;
		size *= 2;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* The login */

/* The agent could not be asked: refused, or let through with fail_mode=safe (login.ts). */
static int unavailable(struct login *l, const char *why)
{
	logmsg(l->pamh, LOG_WARNING, "service %s: the agent could not be asked (%s)%s", l->service,
	       why, l->opt->safe ? "; fail_mode=safe lets the login through" : "");
	if (l->opt->safe) {
		say(l, PAM_ERROR_MSG, TEXT_FAIL_OPEN);
		return PAM_SUCCESS;
	}
	refuse(l, TEXT_UNAVAILABLE);
	return PAM_AUTH_ERR;
}

static int prompt_loop(struct login *l, const struct idv_reply *prompt)
{
	char req[64], code[16];
	struct idv_reply reply;
	int prompts = prompt->prompts;

	say(l, PAM_TEXT_INFO, prompt->message);
	for (int i = 0; i < prompts; i++) {
		int last = i == prompts - 1;
		char *answer = NULL;
		int rc = converse(l->pamh, PAM_PROMPT_ECHO_OFF, TEXT_PROMPT, &answer);
		if (rc != PAM_SUCCESS) {
			refuse(l, TEXT_CANCELLED);
			return PAM_AUTH_ERR;
		}
		int ok = normalize_code(answer, code) == 0;
		wipe(answer, strlen(answer));
		free(answer);
		if (left_ms(l) == 0) {
			wipe(code, sizeof code);
			refuse(l, TEXT_TIMED_OUT);
			return PAM_AUTH_ERR;
		}
		if (!ok) {
			/* Refused here, never sent: a typo must not cost one of the agent's attempts. */
			wipe(code, sizeof code);
			say(l, PAM_ERROR_MSG, TEXT_NOT_A_CODE);
			continue;
		}
		int n = snprintf(req, sizeof req, "{\"type\":\"verify\",\"code\":\"%s\"}\n", code);
		wipe(code, sizeof code);
		enum link_result lr = link_request(l, req, (size_t)n, &reply, 0);
		wipe(req, sizeof req);
		if (lr != LINK_OK) {
			refuse(l, TEXT_UNAVAILABLE);
			return PAM_AUTH_ERR;
		}
		if (l->opt->debug)
			logmsg(l->pamh, LOG_DEBUG, "verify: agent answered type %d", (int)reply.type);
		switch (reply.type) {
		case IDV_OK:
			say(l, PAM_TEXT_INFO, reply.message);
			return PAM_SUCCESS;
		case IDV_INVALID:
			say(l, PAM_ERROR_MSG, reply.message);
			if (last || reply.attempts_left == 0)
				return PAM_AUTH_ERR;
			continue;
		case IDV_LOCKED:
		case IDV_DENY:
			refuse(l, reply.message);
			return PAM_AUTH_ERR;
		default:
			refuse(l, TEXT_UNAVAILABLE);
			return PAM_AUTH_ERR;
		}
	}
	return PAM_AUTH_ERR;
}

static int authenticate(struct login *l)
{
	const void *item;
	const char *user = NULL, *rhost = NULL, *tty = NULL;
	char name[72], req[1024];
	size_t n = 0;
	struct idv_reply first;

	if (pam_get_item(l->pamh, PAM_SERVICE, &item) != PAM_SUCCESS || item == NULL)
		return PAM_AUTH_ERR;
	l->service = item;
	/* OpenPAM reads a service name with a slash as the policy file itself: use its last part. */
	if (strrchr(l->service, '/'))
		l->service = strrchr(l->service, '/') + 1;
	if (!valid_service(l->service)) {
		logmsg(l->pamh, LOG_ERR, "the PAM service name is not valid");
		return PAM_AUTH_ERR;
	}
	if (pam_get_user(l->pamh, &user, NULL) != PAM_SUCCESS || user == NULL || !valid_name(user)) {
		logmsg(l->pamh, LOG_ERR, "service %s: the user name is missing or not valid", l->service);
		refuse(l, TEXT_BAD_USER);
		return PAM_AUTH_ERR;
	}
	if (canonical_user(user, name, sizeof name) != 0 || !valid_name(name)) {
		logmsg(l->pamh, LOG_ERR, "service %s: the account could not be looked up", l->service);
		refuse(l, TEXT_UNAVAILABLE);
		return PAM_AUTH_ERR;
	}
	if (pam_get_item(l->pamh, PAM_RHOST, &item) == PAM_SUCCESS && item && *(const char *)item)
		rhost = item;
	if (pam_get_item(l->pamh, PAM_TTY, &item) == PAM_SUCCESS && item && *(const char *)item)
		tty = item;
	if ((rhost && !valid_text(rhost)) || (tty && !valid_text(tty))) {
		logmsg(l->pamh, LOG_ERR, "service %s: PAM_RHOST or PAM_TTY is not valid", l->service);
		return PAM_AUTH_ERR;
	}

	n = (size_t)snprintf(req, sizeof req, "{\"type\":\"begin\",\"v\":%d", PROTOCOL_VERSION);
	if (json_field(req, sizeof req, &n, "user", name) != 0 ||
	    json_field(req, sizeof req, &n, "service", l->service) != 0 ||
	    (rhost && json_field(req, sizeof req, &n, "rhost", rhost) != 0) ||
	    (tty && json_field(req, sizeof req, &n, "tty", tty) != 0) || n + 3 > sizeof req)
		return PAM_AUTH_ERR;
	req[n++] = '}';
	req[n++] = '\n';

	/* Phase 1: does this login need a code? Only here may fail_mode=safe apply. */
	enum link_result lr = link_connect(l);
	if (lr == LINK_DENIED) {
		logmsg(l->pamh, LOG_ERR, "service %s: permission denied on %s", l->service, l->opt->socket);
		refuse(l, TEXT_NO_PERMISSION);
		return PAM_AUTH_ERR;
	}
	if (lr != LINK_OK)
		return unavailable(l, "cannot connect");
	/* With socket activation the kernel holds the connection while the agent restarts: the first
	 * answer may take the whole start window. */
	if (link_request(l, req, n, &first, l->start_by_ms) != LINK_OK)
		return unavailable(l, "no valid answer");
	if (l->opt->debug)
		logmsg(l->pamh, LOG_DEBUG, "user %s service %s: begin answered type %d", name,
		       l->service, (int)first.type);
	switch (first.type) {
	case IDV_SKIP:
		say(l, PAM_TEXT_INFO, first.message);
		return PAM_SUCCESS;
	case IDV_DENY:
	case IDV_LOCKED:
		refuse(l, first.message);
		return PAM_AUTH_ERR;
	case IDV_PROMPT:
		return prompt_loop(l, &first);
	case IDV_ERROR:
		/* A live agent that cannot decide counts as unavailable; one refusing the request, or
		 * busy (anyone can make it busy), is a plain refusal. */
		if (first.retryable && !first.rate_limited)
			return unavailable(l, "the agent answered a retryable error");
		refuse(l, TEXT_UNAVAILABLE);
		return PAM_AUTH_ERR;
	default:
		/* ok or invalid before any code: not a conversation to trust. */
		return unavailable(l, "unexpected answer");
	}
}

/* The gate's two lines: never a verdict of their own (PAM_IGNORE); a failed mark refuses. */
static int password_gate(pam_handle_t *pamh, int gate)
{
	int rc;
	if (gate == 1)
		rc = pam_getenv(pamh, PASSWORD_FAILED) == NULL ? PAM_SUCCESS
							       : pam_putenv(pamh, PASSWORD_FAILED);
	else
		rc = pam_putenv(pamh, PASSWORD_FAILED "=1");
	if (rc != PAM_SUCCESS) {
		logmsg(pamh, LOG_ERR, "could not %s the password gate's mark",
		       gate == 1 ? "clear" : "set");
		return PAM_AUTH_ERR;
	}
	return PAM_IGNORE;
}

EXPORT PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
					  const char **argv)
{
	struct options opt;
	struct login l = {.pamh = pamh, .opt = &opt, .service = "?", .fd = -1, .deadline_ms = 0};
	int rc = PAM_AUTH_ERR;

	(void)flags;
	if (parse_options(pamh, argc, argv, &opt) == 0) {
		if (opt.gate != 0)
			return password_gate(pamh, opt.gate);
		if (pam_getenv(pamh, PASSWORD_FAILED) != NULL) {
			/* The password step before us failed: refuse without asking anyone anything. */
			logmsg(pamh, LOG_NOTICE, "the password step failed; the code is not asked");
			return PAM_AUTH_ERR;
		}
		l.deadline_ms = now_ms() + (long long)opt.timeout_s * 1000;
		l.start_by_ms = now_ms() + AGENT_START_WAIT_MS;
		if (l.start_by_ms > l.deadline_ms)
			l.start_by_ms = l.deadline_ms;
		rc = authenticate(&l);
	}
	if (l.fd >= 0)
		close(l.fd);
	if (rc != PAM_SUCCESS)
		rc = PAM_AUTH_ERR;
	return rc;
}

EXPORT PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

#if defined(OPENPAM)
PAM_MODULE_ENTRY("pam_idv");
#endif
