// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'packaging/out/', 'tests/artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  // The architecture's boundaries (DESIGN.md): the helper speaks only the protocol, agent and
  // server never import each other, and protocol/ depends on none of the programs.
  boundary(
    'pam-helper/**',
    '(^|/)(server|agent|packaging|scripts)/',
    'the helper may import only protocol/ and Node built-ins',
  ),
  boundary(
    'agent/**',
    '(^|/)(server|pam-helper)/',
    'the agent never imports the server or the helper',
  ),
  boundary(
    'server/**',
    '(^|/)(agent|pam-helper)/',
    'the server never imports the agent or the helper',
  ),
  boundary(
    'protocol/**',
    '(^|/)(server|agent|pam-helper)/',
    'protocol/ is shared by every program and imports none of them',
  ),
);

/** One folder's forbidden imports, as a lint error that names the rule it breaks. */
function boundary(files, regex, message) {
  return {
    files: [files],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex, message }] }] },
  };
}
