/*
 * idv-pam-helper's launcher: what pam_exec actually runs (./bin/idv-pam-helper in a checkout,
 * /usr/bin/idv-pam-helper from the package).
 *
 * pam_exec hands its child the PAM environment, which an application or pam_env may fill. Node
 * reads NODE_OPTIONS (`--require /tmp/x.cjs` runs any script first, `process.exit(0)` and the
 * login passes), NODE_PATH, OPENSSL_CONF (which can load a shared object), NODE_REDIRECT_WARNINGS
 * (writes a file, as root), NODE_V8_COVERAGE (the same) and more before a line of the helper
 * runs. Node 24's single executable, built with sea-config execArgvExtension "none", ignores
 * NODE_OPTIONS, but it still reads the rest, and the dynamic linker LD_PRELOAD (docs/pam.md,
 * "Why the launcher stays on Node 24"). So the
 * helper is never started with that environment: this program keeps the PAM_* variables the
 * helper reads (the first of each, as getenv would) and nothing else, then execs node or the
 * single executable by an absolute path fixed at build time (no PATH lookup). It is linked
 * statically where the toolchain allows, so that LD_PRELOAD and LD_LIBRARY_PATH do not reach it
 * either. It cannot decide anything: if the exec fails, the login is refused. It can only
 * refuse: when the PAM environment holds IDV_PASSWORD_FAILED (the mark the password gate leaves
 * after a failed password, pam-module/pam_idv.c), it exits 1 before the helper asks anything.
 *
 * Build (scripts/helper-launcher.mjs does it):
 *   script form:  cc -static -DIDV_EXEC='"/usr/bin/node"' -DIDV_SCRIPT='"/path/dist/idv-pam-helper.cjs"'
 *   binary form:  cc -static -DIDV_EXEC='"/usr/lib/idv/idv"'   (argv[0] "idv-pam-helper" picks the program)
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef IDV_EXEC
#error "build with -DIDV_EXEC=\"/absolute/path\" (see scripts/helper-launcher.mjs)"
#endif

extern char **environ;

/* What pam_exec sets (pam_exec(8)); the helper reads all but PAM_RUSER. */
static const char *const KEEP[] = {"PAM_TYPE=", "PAM_USER=",  "PAM_SERVICE=",
                                   "PAM_TTY=",  "PAM_RHOST=", "PAM_RUSER="};
#define NKEEP (sizeof KEEP / sizeof KEEP[0])

int main(int argc, char **argv) {
  char *env[NKEEP + 1];
  int seen[NKEEP] = {0};
  size_t n = 0;
  for (char **e = environ; e != NULL && *e != NULL; e++) {
    if (strncmp(*e, "IDV_PASSWORD_FAILED=", 20) == 0) return 1;
    for (size_t k = 0; k < NKEEP; k++) {
      if (!seen[k] && strncmp(*e, KEEP[k], strlen(KEEP[k])) == 0) {
        seen[k] = 1;
        env[n++] = *e;
        break;
      }
    }
  }
  env[n] = NULL;

#ifdef IDV_SCRIPT
  /* node SCRIPT ARGS...: nothing between node and the script, so no argument becomes a node flag */
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args != NULL) {
    args[0] = IDV_EXEC;
    args[1] = IDV_SCRIPT;
    for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  }
#else
  /* the single executable picks the program by the name it was started under */
  char **args = calloc((size_t)argc + 1, sizeof *args);
  if (args != NULL) {
    args[0] = "idv-pam-helper";
    for (int i = 1; i < argc; i++) args[i] = argv[i];
  }
#endif
  if (args != NULL) execve(IDV_EXEC, args, env);

  /* pam_exec shows stdout to the user (with its `stdout` option); any non-zero exit refuses. */
  static const char msg[] = "Verification service unavailable\n";
  ssize_t ignored = write(STDOUT_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  return 1;
}
