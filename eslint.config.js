import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'bench/results/', 'coverage/'] },
  { files: ['**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  // ferry serve's page script runs in the browser.
  { files: ['assets/**/*.js'], languageOptions: { sourceType: 'script', globals: { window: 'readonly', document: 'readonly', navigator: 'readonly', fetch: 'readonly', setTimeout: 'readonly' } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // Keep the import direction cli → ops → stores/archive/retention → process/errors.
    files: ['src/ops/**/*.ts', 'src/stores/**/*.ts', 'src/archive/**/*.ts', 'src/retention/**/*.ts',
      'src/process/**/*.ts', 'src/errors/**/*.ts', 'src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/cli/**'], message: 'The library never imports the CLI.' }] }],
    },
  },
  {
    files: ['src/stores/**/*.ts', 'src/archive/**/*.ts', 'src/retention/**/*.ts', 'src/process/**/*.ts', 'src/errors/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/cli/**', '**/ops/**'], message: 'Imports point one way: cli → ops → stores/archive/retention → process/errors.' }] }],
    },
  },
);
