/*
 * A tiny PAM application for the module's tests: pam_start, pam_authenticate, pam_end, with a
 * scripted conversation. Builds against Linux-PAM and OpenPAM alike (the same source).
 *
 *   pam_client [--repeat N] [--tty TTY] SERVICE USER [ANSWER...]
 *
 * With OpenPAM, a SERVICE containing a slash is the policy file itself.
 * Each prompt takes the next ANSWER (from the first again at each login); when they run out the
 * conversation fails. Every message is printed as `prompt: TEXT`, `info: TEXT` or `error: TEXT`,
 * and each login ends with `result I RC NAME` (RC: the pam_authenticate return code, NAME: PAM_SUCCESS,
 * PAM_AUTH_ERR or another). Exit 0 when every login ran; 2 for wrong usage or pam_start failing.
 */
#define _POSIX_C_SOURCE 200809L
#include <security/pam_appl.h>
#if defined(OPENPAM)
#include <security/openpam.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct script {
	int count;
	char **answers;
	int next;
};

static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
			void *data)
{
	struct script *s = data;
	struct pam_response *r;
	if (n <= 0 || n > 32)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof *r);
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		const char *text = msg[i]->msg ? msg[i]->msg : "";
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			printf("prompt: %s\n", text);
			if (s->next >= s->count)
				goto fail;
			r[i].resp = strdup(s->answers[s->next++]);
			if (r[i].resp == NULL)
				goto fail;
			break;
		case PAM_ERROR_MSG:
			printf("error: %s\n", text);
			break;
		case PAM_TEXT_INFO:
			printf("info: %s\n", text);
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
	return PAM_CONV_ERR;
}

static const char *name_of(int rc)
{
	switch (rc) {
	case PAM_SUCCESS: return "PAM_SUCCESS";
	case PAM_AUTH_ERR: return "PAM_AUTH_ERR";
	case PAM_SYSTEM_ERR: return "PAM_SYSTEM_ERR";
	case PAM_CONV_ERR: return "PAM_CONV_ERR";
	case PAM_BUF_ERR: return "PAM_BUF_ERR";
	default: return "other";
	}
}

int main(int argc, char **argv)
{
	int repeat = 1, i = 1;
	const char *tty = NULL;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--repeat") == 0)
			repeat = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--tty") == 0)
			tty = argv[i + 1];
		else
			break;
	}
	if (argc - i < 2 || repeat < 1) {
		fprintf(stderr, "usage: pam_client [--repeat N] [--tty TTY] SERVICE USER [ANSWER...]\n");
		return 2;
	}
	struct script s = {.count = argc - i - 2, .answers = argv + i + 2, .next = 0};
	struct pam_conv conv = {.conv = conversation, .appdata_ptr = &s};
	setvbuf(stdout, NULL, _IOLBF, 0);
#if defined(OPENPAM)
	/* A policy file path as the service name (tests need no file under /etc/pam.d). */
	/* (and no fallback to /etc/pam.d/other, which is Linux-PAM's syntax on this machine). */
	if (strchr(argv[i], '/') != NULL) {
		openpam_set_feature(OPENPAM_RESTRICT_SERVICE_NAME, 0);
		openpam_set_feature(OPENPAM_FALLBACK_TO_OTHER, 0);
	}
#endif
	for (int k = 0; k < repeat; k++) {
		pam_handle_t *pamh = NULL;
		s.next = 0;
		int rc = pam_start(argv[i], argv[i + 1], &conv, &pamh);
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pam_start failed: %d\n", rc);
			return 2;
		}
		if (tty)
			pam_set_item(pamh, PAM_TTY, tty);
		rc = pam_authenticate(pamh, 0);
		printf("result %d %d %s\n", k, rc, name_of(rc));
		pam_end(pamh, rc);
	}
	return 0;
}
