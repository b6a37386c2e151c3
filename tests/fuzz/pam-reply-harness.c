/*
 * The fuzz harness for pam_idv.so's reply parser (pam-module/reply.c), built with ASan and UBSan
 * by tests/fuzz/targets/pam-module.ts. Reads records from stdin — a 4-byte little-endian length,
 * then that many bytes (the line, NULs allowed) — and answers each with one line: `-1` when the
 * parser refused it, else `<type> <prompts> <attempts_left> <retryable> <rate_limited>`. Each
 * record is copied into a buffer of exactly its length, so ASan sees any read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

int main(void) {
  unsigned char hdr[4];
  while (fread(hdr, 1, 4, stdin) == 4) {
    size_t len = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
    if (len > 1 << 20) return 2;
    char *line = malloc(len ? len : 1);
    if (line == NULL || fread(line, 1, len, stdin) != len) return 2;
    struct idv_reply reply;
    memset(&reply, 0xAA, sizeof reply);
    if (idv_parse_reply(line, len, &reply) != 0) {
      puts("-1");
    } else {
      /* The message must be NUL-terminated within its buffer. */
      if (memchr(reply.message, 0, sizeof reply.message) == NULL) abort();
      printf("%d %d %d %d %d\n", (int)reply.type, reply.prompts, reply.attempts_left, reply.retryable,
             reply.rate_limited);
    }
    fflush(stdout);
    free(line);
  }
  return 0;
}
