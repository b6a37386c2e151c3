/** Where the module's tests find what they run: the built module and how it is compiled. */
import path from 'node:path';
import recipe from '../../../pam-module/build.json' with { type: 'json' };
import { REPO } from '../system.js';

export { recipe };
/** dist/pam/pam_idv.so, as npm run build makes it (absolute: PAM service files need that). */
export const MODULE = path.join(REPO, recipe.output);
export const MODULE_REQUIREMENT = {
  path: MODULE,
  hint: 'npm run build with a C compiler and libpam0g-dev',
};
export const SOURCES = recipe.sources.map((s) => path.join(REPO, s));
