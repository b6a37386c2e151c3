#!/bin/sh
# Builds pam_idv.so for macOS as a Mach-O bundle with the flags of pam-module/build.json.
# Untested on a real Mac (no Mac here); run from the checkout's top folder.
set -eu
mkdir -p dist/pam
cc -std=c11 -Wall -Wextra -Werror -fstack-protector-strong -D_FORTIFY_SOURCE=2 -O2 -fPIC \
  -fvisibility=hidden -bundle -o dist/pam/pam_idv.so \
  pam-module/pam_idv.c pam-module/reply.c -lpam
echo "built dist/pam/pam_idv.so"
